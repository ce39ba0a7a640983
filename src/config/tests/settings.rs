//! `[init]` control_socket and memory_enforcement, `[metrics]`, `[sqlite]`.

use std::net::SocketAddr;

use super::*;
use crate::cgroup::Requested;

const RUN: &str = "[processes.a]\ncommand = \"x\"\n";

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn defaults() {
    let f = Fixture::new();
    let config = f.ok(RUN);
    assert_eq!(config.init.control_socket, None);
    assert_eq!(config.init.memory_enforcement, Requested::Auto);
    assert_eq!(
        config.metrics,
        MetricsSettings {
            enabled: true,
            listen: addr("0.0.0.0:9091"),
            include: vec![],
            include_timeout: std::time::Duration::from_secs(2),
            include_max_size: 4 * 1024 * 1024,
        }
    );
    assert_eq!(
        config.sqlite,
        SqliteSettings {
            databases: vec![],
            require_volume: false,
            max_replication_lag: None,
        }
    );
    let text = render_check(&config);
    for piece in [
        "control:  $OXINIT_SOCKET, else /run/oxinit.sock, else (/run not writable) $XDG_RUNTIME_DIR/oxinit.sock or /tmp/oxinit-UID/oxinit.sock\n",
        "metrics:  http://0.0.0.0:9091/metrics (also /health and /status)\n",
        "sqlite:   no databases listed\n",
        "memory:   enforcement \"auto\" requested (cgroups where usable, else polling)\n",
    ] {
        assert_contains(&text, piece);
    }
}

#[test]
fn init_control_socket_and_memory_enforcement() {
    let f = Fixture::new();
    let base = std::path::absolute(f.dir.path()).unwrap();
    for (written, expected) in [
        ("/tmp/ox.sock", PathBuf::from("/tmp/ox.sock")),
        ("./run/ox.sock", base.join("run/ox.sock")),
        ("${HOME}/ox.sock", PathBuf::from("/root/ox.sock")),
    ] {
        let config = f.ok(&format!("[init]\ncontrol_socket = \"{written}\"\n{RUN}"));
        assert_eq!(config.init.control_socket, Some(expected), "{written}");
    }
    for (written, expected) in [
        ("cgroup", Requested::Cgroup),
        ("poll", Requested::Poll),
        ("auto", Requested::Auto),
    ] {
        let config = f.ok(&format!(
            "[init]\nmemory_enforcement = \"{written}\"\n{RUN}"
        ));
        assert_eq!(config.init.memory_enforcement, expected);
        assert_contains(
            &render_check(&config),
            &format!("memory:   enforcement \"{written}\" requested"),
        );
    }
    let long = format!("/{}", "d".repeat(120));
    for (body, expected) in [
        (
            "memory_enforcement = \"cgroups\"",
            "[init] memory_enforcement: \"cgroups\" is not a mode; use \"auto\"",
        ),
        (
            "memory_enforcement = true",
            "[init] memory_enforcement: expected \"auto\", \"cgroup\" or \"poll\"",
        ),
        ("control_socket = \"\"", "[init] control_socket: empty path"),
        (
            "control_socket = \"${NOPE}\"",
            "[init] control_socket: ${NOPE} is not set",
        ),
        (
            &format!("control_socket = \"{long}\""),
            "is 121 bytes long, but a Unix socket path holds at most 107",
        ),
    ] {
        let (line, _, message) = f.problem(&format!("[init]\n{body}\n{RUN}"));
        assert_eq!(line, 2, "{body}");
        assert_contains(&message, expected);
    }
}

#[test]
fn metrics_listen_variants() {
    let f = Fixture::new();
    for (written, expected) in [
        ("127.0.0.1:9100", "127.0.0.1:9100"),
        ("[::]:9091", "[::]:9091"),
        ("[::1]:9091", "[::1]:9091"),
        ("localhost:9091", "127.0.0.1:9091"),
        ("0.0.0.0:0", "0.0.0.0:0"),
        ("0.0.0.0:${PORT}", "0.0.0.0:8080"),
    ] {
        let config = f.ok(&format!("[metrics]\nlisten = \"{written}\"\n{RUN}"));
        assert_eq!(config.metrics.listen, addr(expected), "{written}");
        assert!(config.metrics.enabled);
    }
    let config = f.ok(&format!("[metrics]\nenabled = false\n{RUN}"));
    assert!(!config.metrics.enabled);
    assert_contains(&render_check(&config), "metrics:  off\n");
}

#[test]
fn metrics_problems_name_the_key() {
    let f = Fixture::new();
    for (value, expected) in [
        (
            "\"prometheus:9091\"",
            "\"prometheus\" is a host name, and oxinit does no DNS lookups",
        ),
        ("\"9091\"", "has no host: write e.g. \"0.0.0.0:9091\""),
        ("\":9091\"", "has no host: write e.g. \"0.0.0.0:9091\""),
        ("\"0.0.0.0\"", "has no port"),
        ("\"::9091\"", "write an IPv6 address in brackets"),
        ("\"0.0.0.0:99999\"", "is not a port number"),
        (
            "9091",
            "write the address and the port as a string: listen = \"0.0.0.0:9091\"",
        ),
    ] {
        let (line, col, message) = f.problem(&format!("[metrics]\nlisten = {value}\n{RUN}"));
        assert_eq!((line, col), (2, 10), "{value}");
        assert_contains(&message, "[metrics] listen: ");
        assert_contains(&message, expected);
    }
    let (_, _, message) = f.problem(&format!("[metrics]\nenabled = \"no\"\n{RUN}"));
    assert_contains(&message, "[metrics] enabled: expected true or false");
    let (line, col, message) = f.problem(&format!("[metrics]\nenable = false\n{RUN}"));
    assert_eq!((line, col), (2, 1));
    assert_contains(
        &message,
        "unknown key \"enable\" in [metrics]; did you mean \"enabled\"? valid keys: enabled, listen",
    );
    let (_, _, message) = f.problem(&format!("metrics = true\n{RUN}"));
    assert_contains(&message, "[metrics]: expected a table, found boolean true");
}

#[test]
fn sqlite_databases_resolve_and_expand() {
    let f = Fixture::new();
    let base = std::path::absolute(f.dir.path()).unwrap();
    let config = f.ok(&format!(
        "[sqlite]\ndatabases = [\"/data/app.db\", \"./local.db\", \"${{HOME}}/x.db\", \"${{DB_DIR:-data}}/y.db\"]\nrequire_volume = true\n{RUN}"
    ));
    assert_eq!(
        config.sqlite,
        SqliteSettings {
            databases: vec![
                PathBuf::from("/data/app.db"),
                base.join("local.db"),
                PathBuf::from("/root/x.db"),
                base.join("data/y.db"),
            ],
            require_volume: true,
            max_replication_lag: None,
        }
    );
    assert_contains(
        &render_check(&config),
        &format!(
            "sqlite:   /data/app.db, {}, /root/x.db, {} (size and WAL metrics; refuses to boot if one is not on a volume)\n",
            base.join("local.db").display(),
            base.join("data/y.db").display()
        ),
    );
    let config = f.ok(&format!("[sqlite]\ndatabases = []\n{RUN}"));
    assert!(config.sqlite.databases.is_empty());
    let config = f.ok(&format!("[sqlite]\ndatabases = [\"/data/a.db\"]\n{RUN}"));
    assert_contains(
        &render_check(&config),
        "sqlite:   /data/a.db (size and WAL metrics; warns at boot if one is not on a volume)\n",
    );
}

#[test]
fn sqlite_problems() {
    let f = Fixture::new();
    let problems = f.problems(&format!(
        "[sqlite]\ndatabases = [\"/data/a.db\", \"\", \"${{NOPE}}\", 3, \"/data/./a.db\"]\nrequire_volume = \"yes\"\npath = \"/data\"\n{RUN}"
    ));
    let found: Vec<(usize, usize, &str)> = problems
        .iter()
        .map(|(l, c, m)| (*l, *c, m.as_str()))
        .collect();
    assert_eq!(found.len(), 6, "{found:#?}");
    assert_eq!((found[0].0, found[0].1), (2, 28));
    assert_contains(found[0].2, "[sqlite] databases: empty path");
    assert_contains(found[1].2, "[sqlite] databases: ${NOPE} is not set");
    assert_contains(
        found[2].2,
        "[sqlite] databases: expected a string, found integer 3",
    );
    assert_contains(found[3].2, "[sqlite] databases: /data/a.db is listed twice");
    assert_contains(
        found[4].2,
        "[sqlite] require_volume: expected true or false",
    );
    assert_contains(
        found[5].2,
        "unknown key \"path\" in [sqlite]; valid keys: databases, require_volume",
    );
    let (_, _, message) = f.problem(&format!("[sqlite]\ndatabases = \"/data/app.db\"\n{RUN}"));
    assert_contains(&message, "write databases = [\"/data/app.db\"]");
}

#[test]
fn many_problems_across_the_new_tables_are_reported_together() {
    let f = Fixture::new();
    let text = r#"[init]
memory_enforcement = "v2"

[metrics]
listen = "metrics:9091"

[sqlite]
databases = ["${NOPE}"]

[processes.api]
command = "x"
depends_on = ["nightly"]

[processes.api.health]
type = "http"
url = "https://127.0.0.1/health"
interval = "1s"
timeout = "5s"
start-period = "10s"

[processes.api.limits]
memory = "256M"
memory_high = "512M"

[processes.nightly]
command = "x"
schedule = "0 3 * * *"
restart = "always"
"#;
    let problems = f.problems(text);
    let positions: Vec<(usize, usize)> = problems.iter().map(|(l, c, _)| (*l, *c)).collect();
    assert_eq!(
        positions,
        vec![
            (2, 22),
            (5, 10),
            (8, 14),
            (12, 15),
            (16, 7),
            (19, 1),
            (23, 15),
            (28, 11),
        ],
        "{problems:#?}"
    );
    for (problem, expected) in problems.iter().zip([
        "[init] memory_enforcement: \"v2\" is not a mode",
        "[metrics] listen: \"metrics\" is a host name",
        "[sqlite] databases: ${NOPE} is not set",
        "[processes.api] depends_on: \"nightly\" is a scheduled job",
        "[processes.api.health] url: \"https://127.0.0.1/health\": https is not supported",
        "unknown key \"start-period\" in [processes.api.health]; did you mean \"start_period\"?",
        "[processes.api.limits] memory_high: memory_high (512M) must be below memory (256M)",
        "[processes.nightly] restart: a scheduled job is not restarted",
    ]) {
        assert_contains(&problem.2, expected);
    }
    let rendered = f.parse(text).unwrap_err().to_string();
    let path = f.oxfile().display().to_string();
    assert_contains(
        &rendered,
        &format!("{path}:16:7: [processes.api.health] url: "),
    );
    assert!(
        rendered.ends_with(&format!("\n8 problems in {path}")),
        "{rendered}"
    );
}

#[test]
fn log_buffers_have_an_init_default_and_a_per_process_override() {
    let f = Fixture::new();
    let config = f.ok(
        "[init]\nlog_buffer_lines = 50\nlog_buffer_bytes = \"64KiB\"\n\n\
         [processes.a]\ncommand = \"x\"\n\n\
         [processes.b]\ncommand = \"x\"\nlog_buffer_lines = 7\nlog_buffer_bytes = 2048\n",
    );
    assert_eq!(
        (config.init.log_buffer_lines, config.init.log_buffer_bytes),
        (50, 64 * 1024)
    );
    let (a, b) = (config.process("a").unwrap(), config.process("b").unwrap());
    assert_eq!((a.log_buffer_lines, a.log_buffer_bytes), (None, None));
    assert_eq!(
        (b.log_buffer_lines, b.log_buffer_bytes),
        (Some(7), Some(2048))
    );

    let problems = f.problems(
        "[init]\nlog_buffer_lines = 0\nlog_buffer_bytes = \"100\"\n\n[processes.a]\ncommand = \"x\"\nlog_buffer_bytes = true\n",
    );
    let messages: Vec<&str> = problems.iter().map(|(_, _, m)| m.as_str()).collect();
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert!(
        messages[0].contains("must be a whole number from 1 to 1000000"),
        "{messages:#?}"
    );
    assert!(
        messages[1].contains("is out of range: keep from 1K to 1G of each process's output"),
        "{messages:#?}"
    );
    assert!(
        messages[2].contains("a size such as \"1MiB\""),
        "{messages:#?}"
    );
}

#[test]
fn metrics_include_urls_and_bounds() {
    let f = Fixture::new();
    let config = f.ok(&format!(
        "[metrics]\ninclude = [\"http://127.0.0.1:9090/metrics\", \"http://localhost:${{PORT}}\"]\n\
         include_timeout = \"500ms\"\ninclude_max_size = \"16MiB\"\n{RUN}"
    ));
    let urls: Vec<(&str, String, &str)> = config
        .metrics
        .include
        .iter()
        .map(|u| (u.url.as_str(), u.addr.to_string(), u.path.as_str()))
        .collect();
    assert_eq!(
        urls,
        [
            (
                "http://127.0.0.1:9090/metrics",
                "127.0.0.1:9090".to_string(),
                "/metrics"
            ),
            ("http://localhost:8080", "127.0.0.1:8080".to_string(), "/"),
        ]
    );
    assert_eq!(
        config.metrics.include_timeout,
        std::time::Duration::from_millis(500)
    );
    assert_eq!(config.metrics.include_max_size, 16 << 20);
    assert_contains(
        &render_check(&config),
        "include:  http://127.0.0.1:9090/metrics, http://localhost:8080 (appended to /metrics; at most 500ms and 16M each)\n",
    );
}

#[test]
fn metrics_include_problems_are_at_their_line() {
    let f = Fixture::new();
    for (body, expected) in [
        (
            "include = \"http://127.0.0.1:9090/metrics\"",
            "write include = [\"http://127.0.0.1:9090/metrics\"]",
        ),
        (
            "include = [\"127.0.0.1:9090\"]",
            "is not an http:// URL: write e.g. \"http://127.0.0.1:9090/metrics\"",
        ),
        (
            "include = [\"https://127.0.0.1:9090/metrics\"]",
            "https is not supported (oxinit carries no TLS stack)",
        ),
        (
            "include = [\"http://litestream:9090/metrics\"]",
            "oxinit does no DNS lookups",
        ),
        (
            "include = [\"http://127.0.0.1/a\", \"http://127.0.0.1/a\"]",
            "is listed twice",
        ),
        (
            "include = [\"http://127.0.0.1:9091/metrics\"]",
            "is oxinit's own /metrics ([metrics] listen = \"0.0.0.0:9091\")",
        ),
        ("include_timeout = \"20s\"", "at most \"8s\""),
        ("include_timeout = \"0s\"", "must be more than 0s"),
        ("include_max_size = \"0\"", "must be more than 0"),
        (
            "include_max_size = 4096",
            "expected a size such as \"4MiB\"",
        ),
    ] {
        let (line, _, message) = f.problem(&format!("[metrics]\n{body}\n{RUN}"));
        assert_eq!(line, 2, "{body}");
        assert_contains(&message, expected);
    }
    // Not its own address once it listens elsewhere.
    f.ok(&format!("[metrics]\nlisten = \"127.0.0.1:9092\"\ninclude = [\"http://127.0.0.1:9091/metrics\"]\n{RUN}"));
}

#[test]
fn max_replication_lag_needs_a_database_and_an_include() {
    let f = Fixture::new();
    let include = "[metrics]\ninclude = [\"http://127.0.0.1:9090/metrics\"]\n";
    let config = f.ok(&format!(
        "{include}[sqlite]\ndatabases = [\"/data/app.db\"]\nmax_replication_lag = \"1m\"\n{RUN}"
    ));
    assert_eq!(
        config.sqlite.max_replication_lag,
        Some(std::time::Duration::from_secs(60))
    );
    assert_contains(
        &render_check(&config),
        "lag:      /health fails while Litestream is more than 1m behind\n",
    );
    let (line, _, message) = f.problem(&format!(
        "[sqlite]\ndatabases = [\"/data/app.db\"]\nmax_replication_lag = \"1m\"\n{RUN}"
    ));
    assert_eq!(line, 3);
    assert_contains(
        &message,
        "[sqlite] max_replication_lag: [metrics] include has no URL",
    );
    let (line, _, message) = f.problem(&format!(
        "{include}[sqlite]\nmax_replication_lag = \"1m\"\n{RUN}"
    ));
    assert_eq!(line, 4);
    assert_contains(&message, "[sqlite] databases lists no database to watch");
    let (_, _, message) = f.problem(&format!(
        "{include}[sqlite]\ndatabases = [\"/data/app.db\"]\nmax_replication_lag = \"0s\"\n{RUN}"
    ));
    assert_contains(&message, "would fail /health at every write");
}
