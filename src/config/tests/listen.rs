//! A service's `listen` and `backlog`, and the rule that one address is
//! held once across the file.

use super::*;
use crate::sys::listen::Endpoint;

fn tcp(text: &str) -> Endpoint {
    Endpoint::Tcp(text.parse().unwrap())
}

#[test]
fn every_form_of_address_is_read_and_the_backlog_has_a_default() {
    let f = Fixture::new();
    let config = f.ok(r#"
[processes.api]
command = "node server.js"
listen = ["0.0.0.0:3000", "[::]:3000", "localhost:${PORT}", "unix:/run/app.sock", "unix:rel/app.sock"]
"#);
    let api = config.process("api").unwrap();
    let base = f.dir.path();
    assert_eq!(
        api.listen,
        vec![
            tcp("0.0.0.0:3000"),
            tcp("[::]:3000"),
            tcp("127.0.0.1:8080"),
            Endpoint::Unix("/run/app.sock".into()),
            Endpoint::Unix(base.join("rel/app.sock")),
        ]
    );
    assert_eq!(api.backlog, 4096);
    let config =
        f.ok("[processes.api]\ncommand = \"x\"\nlisten = [\"127.0.0.1:80\"]\nbacklog = 128\n");
    assert_eq!(config.process("api").unwrap().backlog, 128);
}

#[test]
fn bad_addresses_are_reported_each_at_its_place() {
    let f = Fixture::new();
    let problems = f.problems(
        r#"[processes.api]
command = "x"
listen = ["app:80", "127.0.0.1:0", "unix:", "unix:@abstract", "127.0.0.1:81", "localhost:81", "9000"]
"#,
    );
    let messages: Vec<(usize, usize, &str)> = problems
        .iter()
        .map(|(l, c, m)| (*l, *c, m.as_str()))
        .collect();
    assert_eq!(messages.len(), 6, "{messages:#?}");
    assert!(messages[0]
        .2
        .contains("\"app\" is a host name, and oxinit does no DNS"));
    assert!(messages[1].2.contains("port 0"));
    assert!(messages[2].2.contains("write a socket path after unix:"));
    assert!(messages[3].2.contains("abstract sockets are not supported"));
    assert_eq!((messages[4].0, messages[4].1), (3, 79));
    assert!(
        messages[4].2.contains("127.0.0.1:81 is listed twice"),
        "{}",
        messages[4].2
    );
    assert!(
        messages[5]
            .2
            .contains("has no host: write e.g. \"0.0.0.0:9000\""),
        "{}",
        messages[5].2
    );
}

#[test]
fn a_string_an_empty_list_and_a_long_path_say_what_to_write() {
    let f = Fixture::new();
    let (_, _, m) = f.problem("[processes.api]\ncommand = \"x\"\nlisten = \"0.0.0.0:3000\"\n");
    assert_contains(&m, "write listen = [\"0.0.0.0:3000\"]");
    let (_, _, m) = f.problem("[processes.api]\ncommand = \"x\"\nlisten = []\n");
    assert_contains(&m, "empty: list the addresses to hold");
    let long = format!("/run/{}.sock", "a".repeat(120));
    let (_, _, m) = f.problem(&format!(
        "[processes.api]\ncommand = \"x\"\nlisten = [\"unix:{long}\"]\n"
    ));
    assert_contains(&m, "a Unix socket path holds at most 107");
}

#[test]
fn oneshots_and_jobs_cannot_hold_sockets_and_backlog_needs_listen() {
    let f = Fixture::new();
    let (line, _, m) = f.problem(
        "[processes.migrate]\ncommand = \"x\"\noneshot = true\nlisten = [\"0.0.0.0:3000\"]\n",
    );
    assert_eq!(line, 4);
    assert_contains(
        &m,
        "[processes.migrate] listen: a oneshot runs to completion",
    );
    assert_contains(&m, "hold sockets for a service");
    let (_, _, m) = f.problem(
        "[processes.nightly]\ncommand = \"x\"\nschedule = \"@every 1h\"\nlisten = [\"0.0.0.0:3000\"]\n",
    );
    assert_contains(
        &m,
        "[processes.nightly] listen: a scheduled job runs to completion",
    );
    let (_, _, m) = f.problem("[processes.api]\ncommand = \"x\"\nbacklog = 64\n");
    assert_contains(
        &m,
        "backlog: sizes the queue of the sockets of listen, which is not set",
    );
    let (_, _, m) =
        f.problem("[processes.api]\ncommand = \"x\"\nlisten = [\"0.0.0.0:1\"]\nbacklog = 0\n");
    assert_contains(&m, "must be a whole number from 1 to 65535");
}

#[test]
fn an_address_is_held_once_across_the_file() {
    let f = Fixture::new();
    let problems = f.problems(
        r#"[metrics]
listen = "0.0.0.0:9091"

[processes.api]
command = "x"
listen = ["0.0.0.0:3000", "[::]:3000", "unix:/run/app.sock"]

[processes.web]
command = "x"
listen = ["127.0.0.1:3000", "unix:/run/app.sock", "127.0.0.1:9091", "[::1]:4000", "[::]:4000"]
"#,
    );
    let messages: Vec<&str> = problems.iter().map(|(_, _, m)| m.as_str()).collect();
    assert_eq!(messages.len(), 4, "{messages:#?}");
    assert_contains(messages[0], "[processes.web] listen: 127.0.0.1:3000 cannot be bound beside 0.0.0.0:3000 of [processes.api]");
    assert_contains(
        messages[1],
        "unix:/run/app.sock is already held for [processes.api]",
    );
    assert_contains(
        messages[2],
        "127.0.0.1:9091 collides with [metrics] listen = \"0.0.0.0:9091\"",
    );
    assert_contains(
        messages[3],
        "[::]:4000 cannot be bound beside [::1]:4000 of [processes.web]",
    );
    // IPv4 and IPv6 on one port are fine: the IPv6 one is made v6-only.
    f.ok("[processes.api]\ncommand = \"x\"\nlisten = [\"0.0.0.0:3000\", \"[::]:3000\"]\n");
    // With the metrics off, its port is free.
    f.ok("[metrics]\nenabled = false\n[processes.api]\ncommand = \"x\"\nlisten = [\"0.0.0.0:9091\"]\n");
}

#[test]
fn check_shows_the_held_sockets() {
    let f = Fixture::new();
    let config = f.ok(
        "[processes.api]\ncommand = \"x\"\nlisten = [\"0.0.0.0:3000\", \"unix:/run/app.sock\"]\nbacklog = 512\n",
    );
    let text = render_check(&config);
    assert_contains(
        &text,
        "  listen:    0.0.0.0:3000, unix:/run/app.sock: bound by oxinit at boot and held",
    );
    assert_contains(
        &text,
        "each start gets fds 3-4 with LISTEN_FDS=2, LISTEN_PID and LISTEN_FDNAMES=0.0.0.0%3A3000:unix%3A/run/app.sock; backlog 512",
    );
}
