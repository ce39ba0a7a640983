//! Which process accepted a probe's connection, as `ss -p` finds it.
//!
//! During `oxinit reload` two instances of a service accept on the same
//! address (a held socket, or SO_REUSEPORT), so a probe's answer says
//! nothing about the instance it is meant for unless we know who answered.
//! The kernel knows: the accepted end of the probe's connection is the line
//! of `/proc/net/tcp` (or `tcp6`) whose local address is the probe's peer
//! and whose remote address is the probe's own local address; its inode is
//! the socket's, and the process holding it has a `/proc/PID/fd/N` link to
//! `socket:[inode]`. Until the app has called accept() the line's inode is
//! 0: nobody holds it yet, and the probe counts for no one.
//!
//! The parsing is pure ([`parse_table`], [`accepted_inode`],
//! [`socket_inode`]); [`answered_by`] reads /proc.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

/// One line of /proc/net/tcp{,6}.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// 0 while the connection waits in the listener's queue.
    pub inode: u64,
}

/// Who holds the accepted end of a probe's connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answered {
    /// A process of the instance the probe is for.
    Instance,
    /// Some other process (the other instance): the pid, for the log.
    Other(Option<i32>),
    /// Not accepted yet, or the connection is gone.
    NotYet,
}

/// The entries of a /proc/net/tcp or /proc/net/tcp6 text (the header line
/// and lines that do not parse are skipped).
pub fn parse_table(text: &str) -> Vec<Entry> {
    text.lines().filter_map(parse_line).collect()
}

/// `  1: 0100007F:0BB8 0100007F:D2A4 01 00000000:00000000 … 1000 0 12345 …`
fn parse_line(line: &str) -> Option<Entry> {
    let mut fields = line.split_ascii_whitespace();
    fields.next()?.strip_suffix(':')?;
    let local = parse_address(fields.next()?)?;
    let remote = parse_address(fields.next()?)?;
    // st, tx:rx queue, tr:when, retrnsmt, uid, timeout, then the inode.
    let inode = fields.nth(6)?.parse().ok()?;
    Some(Entry {
        local,
        remote,
        inode,
    })
}

/// `0100007F:0BB8` (IPv4) or 32 hex digits and a port (IPv6). The kernel
/// prints each 32-bit word of the address as a number in its own byte
/// order, so the word's native bytes are the address's bytes.
fn parse_address(field: &str) -> Option<SocketAddr> {
    let (addr, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let hex = addr.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
    };
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, as a dual-stack
/// listener sees an IPv4 client) as the IPv4 address it is.
fn plain(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), addr.port()),
            None => addr,
        },
        IpAddr::V4(_) => addr,
    }
}

/// The inode of the accepted end of the probe's connection from
/// `probe_local` to `probe_peer`, once some process has accepted it.
pub fn accepted_inode(
    entries: &[Entry],
    probe_local: SocketAddr,
    probe_peer: SocketAddr,
) -> Option<u64> {
    let (want_local, want_remote) = (plain(probe_peer), plain(probe_local));
    entries
        .iter()
        .find(|e| plain(e.local) == want_local && plain(e.remote) == want_remote && e.inode != 0)
        .map(|e| e.inode)
}

/// The inode of a `/proc/PID/fd/N` link target `socket:[12345]`.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Who holds the accepted end of the connection `probe_local` →
/// `probe_peer`: a process of the instance running as `instance` (itself or
/// a descendant), another process, or nobody yet. Reads `proc_root`.
pub fn answered_by(
    proc_root: &Path,
    probe_local: SocketAddr,
    probe_peer: SocketAddr,
    instance: i32,
) -> Answered {
    let mut entries = Vec::new();
    for table in ["net/tcp", "net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(proc_root.join("self").join(table)) {
            entries.extend(parse_table(&text));
        }
    }
    let Some(inode) = accepted_inode(&entries, probe_local, probe_peer) else {
        return Answered::NotYet;
    };
    let members = crate::proc_stat::scan_descendants(proc_root, instance).unwrap_or_default();
    if members.iter().any(|p| holds(proc_root, p.pid, inode)) {
        return Answered::Instance;
    }
    let other = crate::proc_stat::scan(proc_root)
        .into_iter()
        .map(|p| p.pid)
        .find(|&pid| holds(proc_root, pid, inode));
    Answered::Other(other)
}

/// Whether process `pid` has a descriptor on socket `inode`.
fn holds(proc_root: &Path, pid: i32, inode: u64) -> bool {
    let Ok(fds) = std::fs::read_dir(proc_root.join(pid.to_string()).join("fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .ok()
            .and_then(|target| socket_inode(&target.to_string_lossy()))
            == Some(inode)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0BB8 0100007F:D2A4 01 00000000:00000000 00:00000000 00000000  1000        0 5151 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:0BB8 0100007F:D2A6 01 00000000:00000000 00:00000000 00000000     0        0 0 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:D2A4 0100007F:0BB8 01 00000000:00000000 00:00000000 00000000     0        0 6161 1 0000000000000000 20 4 30 10 -1
";

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_lines_parse_to_addresses_and_inodes() {
        let entries = parse_table(TCP);
        assert_eq!(entries.len(), 4, "the header is skipped");
        assert_eq!(
            entries[1],
            Entry {
                local: addr("127.0.0.1:3000"),
                remote: addr("127.0.0.1:53924"),
                inode: 5151
            }
        );
    }

    #[test]
    fn the_accepted_end_is_the_mirror_of_the_probes_own_end() {
        let entries = parse_table(TCP);
        // The probe is 127.0.0.1:53924 → 127.0.0.1:3000: line 1, not its own
        // end (line 3) and not the listener (line 0).
        assert_eq!(
            accepted_inode(&entries, addr("127.0.0.1:53924"), addr("127.0.0.1:3000")),
            Some(5151)
        );
        // Line 2 waits in the accept queue: nobody holds it yet.
        assert_eq!(
            accepted_inode(&entries, addr("127.0.0.1:53926"), addr("127.0.0.1:3000")),
            None
        );
        assert_eq!(
            accepted_inode(&entries, addr("127.0.0.1:1"), addr("127.0.0.1:3000")),
            None
        );
    }

    #[test]
    fn ipv6_lines_and_mapped_ipv4_clients() {
        // A dual-stack listener on [::]:3000 that accepted 127.0.0.1:40000
        // (::ffff:127.0.0.1), and one that accepted [::1]:40001.
        let tcp6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0000000000000000FFFF00000100007F:0BB8 0000000000000000FFFF00000100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 7171 1 0000000000000000 20 4 30 10 -1
   1: 00000000000000000000000001000000:0BB8 00000000000000000000000001000000:9C41 01 00000000:00000000 00:00000000 00000000  1000        0 7272 1 0000000000000000 20 4 30 10 -1
";
        let entries = parse_table(tcp6);
        assert_eq!(entries[1].local, addr("[::1]:3000"));
        assert_eq!(
            accepted_inode(&entries, addr("127.0.0.1:40000"), addr("127.0.0.1:3000")),
            Some(7171)
        );
        assert_eq!(
            accepted_inode(&entries, addr("[::1]:40001"), addr("[::1]:3000")),
            Some(7272)
        );
    }

    #[test]
    fn socket_links_give_their_inode() {
        assert_eq!(socket_inode("socket:[5151]"), Some(5151));
        assert_eq!(socket_inode("pipe:[5151]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
        assert_eq!(socket_inode("socket:[x]"), None);
    }

    /// Against this machine's own /proc: a connection this test accepted is
    /// held by this process, and one still in the queue by nobody.
    #[test]
    fn a_connection_accepted_here_is_found_here() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = listener.local_addr().unwrap();
        let probe = std::net::TcpStream::connect(server).unwrap();
        let local = probe.local_addr().unwrap();
        let me = std::process::id() as i32;
        let proc_root = Path::new("/proc");
        assert_eq!(answered_by(proc_root, local, server, me), Answered::NotYet);
        let (_accepted, _) = listener.accept().unwrap();
        assert_eq!(
            answered_by(proc_root, local, server, me),
            Answered::Instance
        );
        // Another instance (a child of ours, not an ancestor) did not.
        let mut other = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let answered = answered_by(proc_root, local, server, other.id() as i32);
        let _ = other.kill();
        let _ = other.wait();
        assert_eq!(answered, Answered::Other(Some(me)));
    }
}
