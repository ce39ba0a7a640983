//! Addresses written as `host:port` and `http://` URLs, resolved without DNS.
//!
//! oxinit is a static binary meant for `FROM scratch` and distroless images:
//! there is no resolver to ask, and a PID 1 that blocks on DNS at boot is a
//! PID 1 that hangs. So a host is an IP literal (IPv6 in brackets, as in
//! URLs) or `localhost`, which means 127.0.0.1. Anything else is refused at
//! load, with a message saying why and what to write instead.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Whether a port may be left out or be 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// Written and not 0 (a probe target).
    Required,
    /// Written; 0 is allowed (a listening socket: the kernel picks one).
    Listen,
    /// Written and not 0: a socket oxinit holds for a process, whose
    /// clients must know the port.
    Held,
    /// May be left out, then this (an URL's default port).
    Default(u16),
}

/// `127.0.0.1:5432`, `localhost:5432`, `[::1]:5432`.
pub fn parse_host_port(text: &str, port: Port) -> Result<SocketAddr, String> {
    let (host, port_text, in_brackets) = split_host_port(text)?;
    let ip = parse_host(host, in_brackets, text, port)?;
    let port = match (port_text, port) {
        (Some(p), _) => parse_port(p, text, port)?,
        (None, Port::Default(default)) => default,
        (None, _) => {
            return Err(format!(
                "\"{text}\" has no port: write it as \"{}:PORT\"",
                bracketed(host)
            ))
        }
    };
    Ok(SocketAddr::new(ip, port))
}

/// A parsed `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub addr: SocketAddr,
    /// The authority as written (`localhost:3000`), for the Host header.
    pub host: String,
    /// Path and query; `/` when there is none. The fragment is dropped: it
    /// is never sent to a server.
    pub path: String,
}

/// `http://127.0.0.1:3000/health?full=1` → address, Host header and path.
pub fn parse_http_url(url: &str) -> Result<HttpUrl, String> {
    let scheme_end = url.find("://").ok_or_else(|| {
        format!("\"{url}\" is not a URL: write it as \"http://127.0.0.1:PORT/path\"")
    })?;
    let scheme = url[..scheme_end].to_ascii_lowercase();
    match scheme.as_str() {
        "http" => {}
        "https" => {
            return Err(format!(
                "\"{url}\": https is not supported by health checks (oxinit carries no TLS stack, and a certificate for a public name does not match 127.0.0.1); probe the app's plain-HTTP port on 127.0.0.1 instead, e.g. \"http://127.0.0.1:3000/health\""
            ))
        }
        other => {
            return Err(format!(
                "\"{url}\": the {other}:// scheme is not supported; health check URLs start with http://"
            ))
        }
    }
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let after = &rest[authority_end..];
    if authority.contains('@') {
        return Err(format!(
            "\"{url}\": user names and passwords in the URL are not supported; probe an endpoint that needs no credentials"
        ));
    }
    if authority.is_empty() {
        return Err(format!(
            "\"{url}\" has no host: write e.g. \"http://127.0.0.1:3000/health\""
        ));
    }
    let addr = parse_host_port(authority, Port::Default(80))?;
    let without_fragment = after.split('#').next().unwrap_or_default();
    let path = if without_fragment.is_empty() {
        "/".to_string()
    } else if without_fragment.starts_with('?') {
        format!("/{without_fragment}")
    } else {
        without_fragment.to_string()
    };
    if let Some(bad) = path.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "\"{url}\": the path holds {bad:?}; percent-encode it (a space is %20)"
        ));
    }
    Ok(HttpUrl {
        addr,
        host: authority.to_string(),
        path,
    })
}

/// Splits `host:port`, `[v6]:port`, `host` or `[v6]` into the host, the
/// port and whether the host was in brackets; refuses a bare IPv6 address,
/// whose colons would be ambiguous with the port's.
fn split_host_port(text: &str) -> Result<(&str, Option<&str>, bool), String> {
    if text.is_empty() {
        return Err("empty address: write e.g. \"127.0.0.1:5432\"".to_string());
    }
    if let Some(inner) = text.strip_prefix('[') {
        let close = inner
            .find(']')
            .ok_or_else(|| format!("\"{text}\": \"[\" is not closed by \"]\""))?;
        let host = &inner[..close];
        return match &inner[close + 1..] {
            "" => Ok((host, None, true)),
            rest => match rest.strip_prefix(':') {
                Some(port) => Ok((host, Some(port), true)),
                None => Err(format!(
                    "\"{text}\": expected \":PORT\" after \"]\", found \"{rest}\""
                )),
            },
        };
    }
    match text.matches(':').count() {
        0 => Ok((text, None, false)),
        1 => {
            let (host, port) = text.split_once(':').unwrap_or((text, ""));
            Ok((host, Some(port), false))
        }
        _ => Err(format!(
            "\"{text}\": write an IPv6 address in brackets, with its port after them: \"[::1]:5432\""
        )),
    }
}

fn parse_host(host: &str, bracketed: bool, text: &str, rule: Port) -> Result<IpAddr, String> {
    // A listening socket usually means every interface; a probe, this machine.
    let example_ip = if matches!(rule, Port::Listen | Port::Held) {
        "0.0.0.0"
    } else {
        "127.0.0.1"
    };
    let ip = if host.eq_ignore_ascii_case("localhost") {
        Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
    } else {
        host.parse::<IpAddr>().ok()
    };
    match ip {
        Some(ip) if bracketed && !ip.is_ipv6() => Err(format!(
            "\"{text}\": brackets are for IPv6 addresses only; write \"{host}\" without them"
        )),
        Some(ip) => Ok(ip),
        None if host.is_empty() => Err(format!(
            "\"{text}\" has no host: write e.g. \"{example_ip}{text}\""
        )),
        // `listen = "9091"`: a port alone, not a host called 9091.
        None if !bracketed && host.bytes().all(|b| b.is_ascii_digit()) => Err(format!(
            "\"{text}\" has no host: write e.g. \"{example_ip}:{text}\""
        )),
        None => Err(format!(
            "\"{host}\" is a host name, and oxinit does no DNS lookups (it runs in scratch images without a resolver): use an IP address such as 127.0.0.1, or localhost"
        )),
    }
}

fn parse_port(port: &str, text: &str, rule: Port) -> Result<u16, String> {
    let number: Option<u16> = if port.bytes().all(|b| b.is_ascii_digit()) {
        port.parse().ok()
    } else {
        None
    };
    match number {
        Some(0) if rule == Port::Held => Err(format!(
            "\"{text}\": port 0 would let the kernel pick a port no client knows; write the port to serve"
        )),
        Some(0) if rule != Port::Listen => Err(format!(
            "\"{text}\": port 0 cannot be connected to; write the port the app listens on"
        )),
        Some(n) => Ok(n),
        None => Err(format!(
            "\"{text}\": \"{port}\" is not a port number (1 to 65535)"
        )),
    }
}

/// `::1` → `[::1]`, anything else as is (for messages).
fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(
            parse_host_port("127.0.0.1:5432", Port::Required),
            Ok(addr("127.0.0.1:5432"))
        );
        assert_eq!(
            parse_host_port("localhost:5432", Port::Required),
            Ok(addr("127.0.0.1:5432"))
        );
        assert_eq!(
            parse_host_port("LocalHost:1", Port::Required),
            Ok(addr("127.0.0.1:1"))
        );
        assert_eq!(
            parse_host_port("[::1]:5432", Port::Required),
            Ok(addr("[::1]:5432"))
        );
        assert_eq!(
            parse_host_port("[::]:9091", Port::Listen),
            Ok(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 9091))
        );
        assert_eq!(
            parse_host_port("0.0.0.0:0", Port::Listen),
            Ok(addr("0.0.0.0:0"))
        );
        assert_eq!(
            parse_host_port("[fe80::1]", Port::Default(80)),
            Ok(addr("[fe80::1]:80"))
        );
    }

    #[test]
    fn bad_host_ports_say_what_to_write() {
        for (text, rule, expected) in [
            (
                "db:5432",
                Port::Required,
                "\"db\" is a host name, and oxinit does no DNS",
            ),
            (
                "db.internal:5432",
                Port::Required,
                "use an IP address such as 127.0.0.1, or localhost",
            ),
            (
                "127.0.0.1",
                Port::Required,
                "has no port: write it as \"127.0.0.1:PORT\"",
            ),
            (
                "[::1]",
                Port::Required,
                "has no port: write it as \"[::1]:PORT\"",
            ),
            (
                "::1:5432",
                Port::Required,
                "write an IPv6 address in brackets",
            ),
            ("[::1:5432", Port::Required, "is not closed"),
            (
                "[::1]5432",
                Port::Required,
                "expected \":PORT\" after \"]\"",
            ),
            (
                "127.0.0.1:http",
                Port::Required,
                "\"http\" is not a port number",
            ),
            (
                "127.0.0.1:70000",
                Port::Required,
                "\"70000\" is not a port number",
            ),
            ("127.0.0.1:", Port::Required, "\"\" is not a port number"),
            (
                "127.0.0.1:0",
                Port::Required,
                "port 0 cannot be connected to",
            ),
            (
                "0.0.0.0:0",
                Port::Held,
                "port 0 would let the kernel pick a port no client knows",
            ),
            (
                ":3000",
                Port::Held,
                "has no host: write e.g. \"0.0.0.0:3000\"",
            ),
            (
                ":5432",
                Port::Required,
                "has no host: write e.g. \"127.0.0.1:5432\"",
            ),
            (
                ":9091",
                Port::Listen,
                "has no host: write e.g. \"0.0.0.0:9091\"",
            ),
            (
                "9091",
                Port::Listen,
                "has no host: write e.g. \"0.0.0.0:9091\"",
            ),
            ("", Port::Required, "empty address"),
            ("[db]:1", Port::Required, "\"db\" is a host name"),
            (
                "[127.0.0.1]:1",
                Port::Required,
                "brackets are for IPv6 addresses only",
            ),
        ] {
            let err = parse_host_port(text, rule).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn http_urls() {
        let url = parse_http_url("http://127.0.0.1:3000/health").unwrap();
        assert_eq!(
            url,
            HttpUrl {
                addr: addr("127.0.0.1:3000"),
                host: "127.0.0.1:3000".into(),
                path: "/health".into()
            }
        );
        let url = parse_http_url("http://localhost/").unwrap();
        assert_eq!(
            (url.addr, url.host.as_str(), url.path.as_str()),
            (addr("127.0.0.1:80"), "localhost", "/")
        );
        let url = parse_http_url("HTTP://[::1]:8080?x=1#frag").unwrap();
        assert_eq!(
            (url.addr, url.host.as_str(), url.path.as_str()),
            (addr("[::1]:8080"), "[::1]:8080", "/?x=1")
        );
        let url = parse_http_url("http://10.0.0.2:81/a/b?c=d#e").unwrap();
        assert_eq!(url.path, "/a/b?c=d");
        assert_eq!(parse_http_url("http://127.0.0.1").unwrap().path, "/");
    }

    #[test]
    fn bad_urls_say_what_to_write() {
        for (url, expected) in [
            (
                "https://127.0.0.1:3000/health",
                "probe the app's plain-HTTP port on 127.0.0.1",
            ),
            ("ftp://127.0.0.1/", "the ftp:// scheme is not supported"),
            ("127.0.0.1:3000/health", "is not a URL"),
            (
                "http://app:3000/health",
                "\"app\" is a host name, and oxinit does no DNS",
            ),
            ("http://example.com/", "does no DNS"),
            ("http:///health", "has no host"),
            ("http://u:p@127.0.0.1/", "user names and passwords"),
            ("http://127.0.0.1:0/", "port 0"),
            ("http://127.0.0.1/a b", "percent-encode"),
        ] {
            let err = parse_http_url(url).unwrap_err();
            assert!(err.contains(expected), "{url}: {err}");
        }
    }
}
