//! The held sockets: every process's `listen`, bound once at boot (before
//! anything starts, so before any child drops its privileges) and kept open
//! by oxinit until it exits. While a process is down (crashed, `kill -9`ed,
//! restarting, in backoff) its clients' connections wait in the kernel's
//! backlog instead of being refused, and each start of it, or a second
//! instance beside it, gets the same sockets on fds 3, 4, …
//!
//! A socket that cannot be bound stops the boot (exit 78) with the process,
//! the address, the key and what to do.

use crate::config::{Config, ProcessSpec};
use crate::sys::listen::{self, BindOptions, Endpoint};
use crate::sys::spawn::Listen;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

/// The sockets of one process, in `listen`'s order.
#[derive(Debug, Default)]
pub struct Held {
    /// Owned here: open, and close-on-exec, for the life of oxinit.
    sockets: Vec<OwnedFd>,
    fds: Vec<RawFd>,
    names: Vec<String>,
    backlog: i32,
}

impl Held {
    /// What a start of the process gets: these sockets on fds 3, 4, … (none:
    /// no `LISTEN_*` variables either).
    pub fn listen(&self) -> Listen<'_> {
        Listen::Pass {
            fds: &self.fds,
            names: &self.names,
        }
    }

    /// After the process ended: the backlog is oxinit's again (see
    /// [`listen::relisten`]), for as long as nothing accepts.
    pub fn restore_backlog(&self) {
        for fd in &self.sockets {
            if let Err(e) = listen::relisten(fd.as_fd(), self.backlog) {
                tracing::debug!("cannot reset the backlog of a held socket: {e}");
            }
        }
    }

    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }
}

/// Every process's held sockets, by its place in the oxfile.
#[derive(Debug, Default)]
pub struct HeldSockets {
    by_process: Vec<Held>,
}

impl HeldSockets {
    /// Closes process `idx`'s sockets: in the shutdown, once it has
    /// stopped, so new connections are refused at once (a load balancer
    /// tries elsewhere) instead of waiting out the rest of the stop chain
    /// and being reset when oxinit exits.
    pub fn close(&mut self, idx: usize) {
        if let Some(held) = self.by_process.get_mut(idx) {
            if !held.is_empty() {
                *held = Held::default();
            }
        }
    }

    /// Process `idx`'s sockets (none if it has no `listen`).
    pub fn of(&self, idx: usize) -> &Held {
        const NONE: &Held = &Held {
            sockets: Vec::new(),
            fds: Vec::new(),
            names: Vec::new(),
            backlog: 0,
        };
        self.by_process.get(idx).unwrap_or(NONE)
    }
}

/// Binds every process's `listen`; Err is the boot error to print.
pub fn bind_all(config: &Config) -> Result<HeldSockets, String> {
    let all: Vec<&Endpoint> = config.processes.iter().flat_map(|p| &p.listen).collect();
    let mut by_process = Vec::with_capacity(config.processes.len());
    for spec in &config.processes {
        let mut held = Held {
            backlog: backlog(spec),
            ..Held::default()
        };
        for endpoint in &spec.listen {
            let fd = bind_one(spec, endpoint, &all)?;
            held.fds.push(fd.as_raw_fd());
            held.names.push(endpoint.fd_name());
            held.sockets.push(fd);
        }
        if !held.is_empty() {
            log_held(spec, &held);
        }
        by_process.push(held);
    }
    Ok(HeldSockets { by_process })
}

fn bind_one(spec: &ProcessSpec, endpoint: &Endpoint, all: &[&Endpoint]) -> Result<OwnedFd, String> {
    let options = BindOptions {
        backlog: backlog(spec),
        v6_only: v6_only(endpoint, all),
        owner: spec.user.as_ref().map(|u| (u.uid, u.gid)),
    };
    listen::bind(endpoint, &options).map_err(|e| {
        format!(
            "[processes.{}] listen: cannot hold {endpoint}: {e}{}",
            spec.name,
            hint(endpoint, &e)
        )
    })
}

fn backlog(spec: &ProcessSpec) -> i32 {
    i32::try_from(spec.backlog).unwrap_or(i32::MAX)
}

/// An IPv6 socket on a port that is also held on IPv4 must be v6-only, or
/// the two would collide (a dual-stack `[::]:P` also takes IPv4's `P`).
fn v6_only(endpoint: &Endpoint, all: &[&Endpoint]) -> bool {
    let Endpoint::Tcp(addr) = endpoint else {
        return false;
    };
    addr.is_ipv6()
        && all.iter().any(
            |e| matches!(e, Endpoint::Tcp(other) if other.is_ipv4() && other.port() == addr.port()),
        )
}

/// What to do about a bind error.
fn hint(endpoint: &Endpoint, e: &io::Error) -> String {
    let tcp = matches!(endpoint, Endpoint::Tcp(_));
    let low_port = matches!(endpoint, Endpoint::Tcp(a) if a.port() < 1024);
    let text = match e.kind() {
        io::ErrorKind::AddrInUse if tcp => "; another program (or container on the host's network) holds this port: stop it, or change the address in listen",
        io::ErrorKind::AddrNotAvailable => "; no interface here has that address: listen on 0.0.0.0 (every interface) or on one of this machine's addresses",
        io::ErrorKind::PermissionDenied if low_port => "; ports below 1024 need root or CAP_NET_BIND_SERVICE: run oxinit as root (it binds before the process drops to its user), or lower net.ipv4.ip_unprivileged_port_start",
        io::ErrorKind::PermissionDenied if !tcp => "; oxinit cannot create the socket there: choose a directory oxinit's user may write, such as /run or /tmp",
        _ if e.raw_os_error() == Some(libc::EAFNOSUPPORT) => "; IPv6 is disabled here: listen on 0.0.0.0 instead",
        _ => "",
    };
    text.to_string()
}

fn log_held(spec: &ProcessSpec, held: &Held) {
    let addresses: Vec<String> = spec.listen.iter().map(Endpoint::to_string).collect();
    let last = 2 + held.len();
    let fds = if held.len() == 1 {
        "fd 3".to_string()
    } else {
        format!("fds 3-{last}")
    };
    tracing::info!(
        "{}: holding {} (passed as {fds}, LISTEN_FDS={}; backlog {})",
        spec.name,
        addresses.join(", "),
        held.len(),
        spec.backlog
    );
    if let Some(max) = listen::somaxconn().filter(|&max| i64::from(max) < i64::from(spec.backlog)) {
        tracing::warn!(
            "{}: backlog {} is cut to {max} by the kernel (net.core.somaxconn); raise it (docker run --sysctl net.core.somaxconn={}) or lower backlog",
            spec.name,
            spec.backlog,
            spec.backlog
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(text: &str) -> Endpoint {
        Endpoint::Tcp(text.parse().unwrap())
    }

    #[test]
    fn ipv6_is_v6_only_only_beside_ipv4_on_its_port() {
        let (v4, v6, other) = (tcp("0.0.0.0:3000"), tcp("[::]:3000"), tcp("[::]:4000"));
        let all = [&v4, &v6, &other];
        assert!(v6_only(&v6, &all));
        assert!(!v6_only(&other, &all));
        assert!(!v6_only(&v4, &all));
        assert!(!v6_only(&v6, &[&v6]));
    }

    #[test]
    fn a_port_in_use_names_the_process_the_address_and_what_to_do() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let mut spec = ProcessSpec::new("api", vec!["app".into()]);
        spec.listen = vec![Endpoint::Tcp(addr)];
        let config = Config {
            path: "oxfile.toml".into(),
            init: Default::default(),
            metrics: Default::default(),
            sqlite: Default::default(),
            processes: vec![spec],
            warnings: Vec::new(),
            translation: None,
        };
        let e = bind_all(&config).unwrap_err();
        assert!(
            e.starts_with(&format!("[processes.api] listen: cannot hold {addr}: ")),
            "{e}"
        );
        assert!(
            e.contains("holds this port: stop it, or change the address in listen"),
            "{e}"
        );
    }
}
