//! Listening sockets that oxinit binds once at boot and holds for the life
//! of the container (a process's `listen`), so connections wait in the
//! kernel's backlog while the process that accepts them restarts.
//!
//! Bound by oxinit itself, before any child drops its privileges: a process
//! with `user = "node"` can serve port 80. Every socket is close-on-exec in
//! oxinit (socket2 opens them with SOCK_CLOEXEC): only the process they are
//! passed to gets them, on fds 3, 4, … ([`super::spawn`]).
//!
//! - TCP: SO_REUSEADDR, so a port whose last connections linger in
//!   TIME_WAIT (the previous container) binds at once. An IPv6 socket is
//!   made v6-only only when asked (the caller asks when the same port is
//!   also held on IPv4, which a dual-stack `[::]` would collide with);
//!   else it follows the system's `net.ipv6.bindv6only` (0, dual-stack, by
//!   default: `[::]:3000` also takes IPv4, as Docker's published ports do).
//! - Unix: missing parent directories are made (0755); a file already at
//!   the path is removed only when it is a socket (left by a previous run:
//!   nothing can be listening on it, since oxinit binds before anything
//!   starts); anything else there is an error. The socket is owned by the
//!   process's user and mode 0666, as systemd's `SocketMode=` default: any
//!   process in the container may connect, as to a TCP port on 127.0.0.1.

use socket2::{Domain, SockAddr, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Where a held socket listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Tcp(SocketAddr),
    /// An absolute path.
    Unix(PathBuf),
}

impl std::fmt::Display for Endpoint {
    /// As the oxfile writes it: `0.0.0.0:3000`, `[::]:3000`, `unix:/run/app.sock`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp(addr) => write!(f, "{addr}"),
            Endpoint::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl Endpoint {
    /// Its name in `LISTEN_FDNAMES`: the address as written, with `%` and
    /// `:` (systemd's separator, which no name may hold) and every byte that
    /// is not printable ASCII percent-encoded, so a URL decoder gives the
    /// address back: `0.0.0.0%3A3000`, `[%3A%3A]%3A3000`,
    /// `unix%3A/run/app.sock`.
    pub fn fd_name(&self) -> String {
        let text = match self {
            Endpoint::Tcp(_) => self.to_string().into_bytes(),
            Endpoint::Unix(path) => {
                use std::os::unix::ffi::OsStrExt;
                let mut bytes = b"unix:".to_vec();
                bytes.extend_from_slice(path.as_os_str().as_bytes());
                bytes
            }
        };
        let mut name = String::with_capacity(text.len());
        for b in text {
            match b {
                b':' | b'%' => name.push_str(&format!("%{b:02X}")),
                0x20..=0x7e => name.push(char::from(b)),
                _ => name.push_str(&format!("%{b:02X}")),
            }
        }
        name
    }
}

/// How a socket is bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindOptions {
    /// listen(2)'s backlog; the kernel caps it at `net.core.somaxconn`.
    pub backlog: i32,
    /// IPV6_V6ONLY on an IPv6 socket (see the module docs).
    pub v6_only: bool,
    /// Who owns a Unix socket's file: the process's uid and gid.
    pub owner: Option<(u32, u32)>,
}

/// The backlog when the oxfile sets none: Linux's SOMAXCONN since 5.4,
/// what systemd's `Backlog=` defaults to. The kernel caps it at
/// `net.core.somaxconn`.
pub const DEFAULT_BACKLOG: u32 = 4096;

/// The mode of a Unix socket's file (see the module docs).
pub const UNIX_MODE: u32 = 0o666;

/// Binds and listens on `endpoint`; the socket is close-on-exec.
pub fn bind(endpoint: &Endpoint, options: &BindOptions) -> io::Result<OwnedFd> {
    let socket = match endpoint {
        Endpoint::Tcp(addr) => {
            let socket = Socket::new(Domain::for_address(*addr), Type::STREAM, None)?;
            socket.set_reuse_address(true)?;
            if addr.is_ipv6() && options.v6_only {
                socket.set_only_v6(true)?;
            }
            socket.bind(&SockAddr::from(*addr))?;
            socket
        }
        Endpoint::Unix(path) => bind_unix(path, options)?,
    };
    socket.listen(options.backlog)?;
    Ok(socket.into())
}

fn bind_unix(path: &Path, options: &BindOptions) -> io::Result<Socket> {
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() && !parent.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)?;
        }
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a socket (oxinit removes only a stale socket there); remove it or choose another path",
                    path.display()
                ),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.bind(&SockAddr::unix(path)?)?;
    // After bind, before anyone can be told the path: the process's user
    // must be able to hand it on (and remove it), and clients to connect.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(UNIX_MODE))?;
    if let Some((uid, gid)) = options.owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
    }
    Ok(socket)
}

/// listen(2) again on a socket that already listens: sets its backlog
/// anew. The process it is passed to may call listen itself with its own
/// backlog (Node 511, uvicorn 2048), which the socket keeps
/// after it ends; oxinit puts its own back once the process is gone, so the
/// queue that holds connections while it is down is `backlog` long.
pub fn relisten(fd: std::os::fd::BorrowedFd<'_>, backlog: i32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: listen(2) on a descriptor the caller keeps open; no memory
    // is passed.
    match unsafe { libc::listen(fd.as_raw_fd(), backlog) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// `net.core.somaxconn` of this network namespace: the cap on any backlog.
pub fn somaxconn() -> Option<i32> {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    /// Whether `fd` is a listening socket (SO_ACCEPTCONN).
    fn is_listening(fd: std::os::fd::BorrowedFd<'_>) -> bool {
        use std::os::fd::AsRawFd;
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt(2) writes at most `len` bytes into `value`, a live
        // c_int, and `len` says how large it is.
        let ok = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ACCEPTCONN,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        } == 0;
        ok && value != 0
    }

    fn options() -> BindOptions {
        BindOptions {
            backlog: 16,
            v6_only: false,
            owner: None,
        }
    }

    #[test]
    fn fd_names_encode_the_separator_and_decode_to_the_address() {
        let tcp = Endpoint::Tcp("0.0.0.0:3000".parse().unwrap());
        assert_eq!(tcp.fd_name(), "0.0.0.0%3A3000");
        let v6 = Endpoint::Tcp("[::]:3000".parse().unwrap());
        assert_eq!(v6.fd_name(), "[%3A%3A]%3A3000");
        let unix = Endpoint::Unix("/run/a%b:c d/é.sock".into());
        assert_eq!(unix.fd_name(), "unix%3A/run/a%25b%3Ac d/%C3%A9.sock");
        for e in [tcp, v6, unix] {
            assert!(!e.fd_name().contains(':'));
        }
    }

    #[test]
    fn a_tcp_socket_listens_and_is_close_on_exec() {
        let fd = bind(&Endpoint::Tcp("127.0.0.1:0".parse().unwrap()), &options()).unwrap();
        assert!(is_listening(fd.as_fd()));
        let flags = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFD).unwrap();
        assert_ne!(flags & libc::FD_CLOEXEC, 0);
        assert!(Socket::from(fd).reuse_address().unwrap());
    }

    #[test]
    fn a_port_in_use_is_an_error() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = held.local_addr().unwrap();
        let e = bind(&Endpoint::Tcp(addr), &options()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn a_unix_socket_replaces_a_stale_one_and_makes_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/app.sock");
        let first = bind(&Endpoint::Unix(path.clone()), &options()).unwrap();
        drop(first); // a previous run's socket file stays behind
        let fd = bind(&Endpoint::Unix(path.clone()), &options()).unwrap();
        assert!(is_listening(fd.as_fd()));
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, UNIX_MODE);
        std::os::unix::net::UnixStream::connect(&path).unwrap();
    }

    #[test]
    fn a_file_that_is_not_a_socket_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.sock");
        std::fs::write(&path, "data").unwrap();
        let e = bind(&Endpoint::Unix(path.clone()), &options()).unwrap_err();
        assert!(e.to_string().contains("is not a socket"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "data");
    }
}
