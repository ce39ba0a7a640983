//! Where a probe goes, parsed once from oxfile.toml: `url` for HTTP probes,
//! `address` for TCP probes.
//!
//! No DNS, ever: PID 1 in a static binary has no resolver (no NSS), and a
//! `FROM scratch` image has no /etc/resolv.conf. A host is an IP address or
//! `localhost`, which means 127.0.0.1 (the address every stack answers on;
//! write `[::1]` for IPv6).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// An HTTP probe's target: `http://127.0.0.1:3000/health`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    /// The resolved address to connect to.
    pub addr: SocketAddr,
    /// The `Host` header: the URL's authority as written (`localhost:3000`).
    pub host: String,
    /// The request target: path and query (`/health?full=1`), at least `/`.
    pub path: String,
}

impl HttpTarget {
    /// Parses an `http://HOST[:PORT][/PATH]` URL. The error says what to write.
    pub fn parse(url: &str) -> Result<HttpTarget, String> {
        let Some(scheme_end) = url.find("://") else {
            return Err(format!(
                "health url \"{url}\" has no scheme: write e.g. \"http://127.0.0.1:3000/health\""
            ));
        };
        let scheme = &url[..scheme_end];
        if scheme.eq_ignore_ascii_case("https") {
            return Err(format!(
                "health url \"{url}\": https is not supported; probe the app's plain HTTP port \
                 inside the container, e.g. \"http://127.0.0.1:3000/health\""
            ));
        }
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(format!(
                "health url \"{url}\": only http:// URLs can be probed (use type = \"tcp\" \
                 with an address for other protocols)"
            ));
        }
        let rest = &url[scheme_end + 3..];
        // The fragment never goes on the wire.
        let rest = rest.split('#').next().unwrap_or_default();
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(format!(
                "health url \"{url}\": user names and passwords in the URL are not supported"
            ));
        }
        let addr = parse_host_port(authority, Some(80))
            .map_err(|why| format!("health url \"{url}\": {why}"))?;
        if let Some(bad) = path.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "health url \"{url}\": the path holds {bad:?}; percent-encode it (a space is %20)"
            ));
        }
        let path = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        Ok(HttpTarget {
            addr,
            host: authority.to_string(),
            path,
        })
    }
}

/// Parses a TCP probe's `address`: `127.0.0.1:5432`, `localhost:5432`,
/// `[::1]:5432`. The port is required.
pub fn parse_address(text: &str) -> Result<SocketAddr, String> {
    parse_host_port(text, None).map_err(|why| format!("health address \"{text}\": {why}"))
}

fn parse_host_port(text: &str, default_port: Option<u16>) -> Result<SocketAddr, String> {
    let (host, port) = if let Some(bracketed) = text.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err("an IPv6 address needs a closing ']'".into());
        };
        let port = match after.strip_prefix(':') {
            Some(port) => Some(port),
            None if after.is_empty() => None,
            None => return Err(format!("unexpected \"{after}\" after the IPv6 address")),
        };
        (host, port)
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let port = match (port, default_port) {
        (Some(port), _) => port
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("\"{port}\" is not a port number (1–65535)"))?,
        (None, Some(default)) => default,
        (None, None) => return Err("a port is required, e.g. \"127.0.0.1:5432\"".into()),
    };
    let ip = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.parse::<IpAddr>().map_err(|_| {
            if host.is_empty() {
                "the host is missing: write e.g. 127.0.0.1".to_string()
            } else {
                format!(
                    "\"{host}\" is not an IP address or localhost; oxinit does no DNS lookups \
                     (PID 1 in a static binary has no resolver): write the container's \
                     address, e.g. 127.0.0.1"
                )
            }
        })?
    };
    Ok(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> (String, String, String) {
        let t = HttpTarget::parse(url).unwrap();
        (t.addr.to_string(), t.host, t.path)
    }

    #[test]
    fn urls_resolve_without_dns() {
        let s = |x: &str| x.to_string();
        assert_eq!(
            target("http://127.0.0.1:3000/health"),
            (s("127.0.0.1:3000"), s("127.0.0.1:3000"), s("/health"))
        );
        assert_eq!(
            target("http://localhost/"),
            (s("127.0.0.1:80"), s("localhost"), s("/"))
        );
        assert_eq!(
            target("HTTP://LocalHost:8080"),
            (s("127.0.0.1:8080"), s("LocalHost:8080"), s("/"))
        );
        assert_eq!(
            target("http://[::1]:9000/a/b?x=1#frag"),
            (s("[::1]:9000"), s("[::1]:9000"), s("/a/b?x=1"))
        );
        assert_eq!(target("http://10.0.0.2?q").2, "/?q");
    }

    #[test]
    fn bad_urls_say_what_to_write() {
        for (url, needle) in [
            ("127.0.0.1:3000/health", "has no scheme"),
            ("https://127.0.0.1/", "https is not supported"),
            ("ftp://127.0.0.1/", "only http:// URLs"),
            ("http://api.internal:3000/", "no DNS lookups"),
            ("http://user:pw@127.0.0.1/", "passwords"),
            ("http://127.0.0.1:0/", "not a port number"),
            ("http://127.0.0.1:99999/", "not a port number"),
            ("http://[::1/", "closing ']'"),
            ("http://:3000/", "the host is missing"),
            ("http://127.0.0.1/a b", "percent-encode"),
        ] {
            let err = HttpTarget::parse(url).unwrap_err();
            assert!(err.contains(needle), "{url}: {err}");
        }
    }

    #[test]
    fn tcp_addresses_need_a_port() {
        assert_eq!(
            parse_address("localhost:5432").unwrap().to_string(),
            "127.0.0.1:5432"
        );
        assert_eq!(
            parse_address("[::1]:6379").unwrap().to_string(),
            "[::1]:6379"
        );
        assert!(parse_address("127.0.0.1")
            .unwrap_err()
            .contains("a port is required"));
        assert!(parse_address("db:5432")
            .unwrap_err()
            .contains("no DNS lookups"));
    }
}
