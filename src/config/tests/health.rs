//! `[processes.NAME.health]`.

use std::net::SocketAddr;
use std::time::Duration;

use super::*;

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn health_of(config: &Config, name: &str) -> HealthSpec {
    config.process(name).unwrap().health.clone().unwrap()
}

#[test]
fn defaults_and_http() {
    let f = Fixture::new();
    let config = f.ok(
        "[processes.api]\ncommand = \"x\"\n[processes.api.health]\ntype = \"http\"\nurl = \"http://127.0.0.1:3000/health\"\n",
    );
    assert_eq!(
        health_of(&config, "api"),
        HealthSpec {
            check: HealthCheck::Http {
                url: "http://127.0.0.1:3000/health".into(),
                addr: addr("127.0.0.1:3000"),
                host: "127.0.0.1:3000".into(),
                path: "/health".into(),
            },
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            retries: 3,
            start_period: Duration::ZERO,
        }
    );
}

#[test]
fn every_type_with_its_fields() {
    let f = Fixture::new();
    let config = f.ok(r#"
[processes.web]
command = "x"
health = { type = "http", url = "http://localhost:${PORT}?ready", interval = "5s", timeout = "1s", retries = 1, start_period = "30s" }

[processes.db]
command = "x"
[processes.db.health]
address = "[::1]:5432"
type = "tcp"

[processes.tcp2]
command = "x"
health = { type = "tcp", address = "localhost:6379" }

[processes.worker]
command = "x"
health = { type = "exec", command = "check --home ${HOME} 'a b'" }

[processes.arr]
command = "x"
health = { type = "exec", command = ["/bin/check", "${GREETING}"] }

[processes.sd]
command = "x"
health = { type = "notify", watchdog = "30s" }

[processes.sd2]
command = "x"
health = { type = "notify" }
"#);
    let web = health_of(&config, "web");
    assert_eq!(
        web.check,
        HealthCheck::Http {
            url: "http://localhost:8080?ready".into(),
            addr: addr("127.0.0.1:8080"),
            host: "localhost:8080".into(),
            path: "/?ready".into(),
        }
    );
    assert_eq!(
        (web.interval, web.timeout, web.retries, web.start_period),
        (
            Duration::from_secs(5),
            Duration::from_secs(1),
            1,
            Duration::from_secs(30)
        )
    );
    assert_eq!(
        health_of(&config, "db").check,
        HealthCheck::Tcp {
            addr: addr("[::1]:5432")
        }
    );
    assert_eq!(
        health_of(&config, "tcp2").check,
        HealthCheck::Tcp {
            addr: addr("127.0.0.1:6379")
        }
    );
    assert_eq!(
        health_of(&config, "worker").check,
        HealthCheck::Exec {
            argv: strings(&["check", "--home", "/root", "a b"])
        }
    );
    assert_eq!(
        health_of(&config, "arr").check,
        HealthCheck::Exec {
            argv: strings(&["/bin/check", "hello world"])
        }
    );
    assert_eq!(
        health_of(&config, "sd").check,
        HealthCheck::Notify {
            watchdog: Some(Duration::from_secs(30))
        }
    );
    assert_eq!(
        health_of(&config, "sd2").check,
        HealthCheck::Notify { watchdog: None }
    );
    assert_eq!(health_of(&config, "sd2").check.type_name(), "notify");
}

#[test]
fn http_url_problems() {
    let f = Fixture::new();
    let base = "[processes.api]\ncommand = \"x\"\n[processes.api.health]\ntype = \"http\"\n";
    for (url, expected) in [
        (
            "https://127.0.0.1:3000/health",
            "https is not supported by health checks",
        ),
        (
            "https://127.0.0.1:3000/health",
            "probe the app's plain-HTTP port on 127.0.0.1",
        ),
        (
            "http://api:3000/health",
            "\"api\" is a host name, and oxinit does no DNS lookups",
        ),
        ("http://[::1:3000/", "is not closed"),
        ("http://127.0.0.1:99999/", "is not a port number"),
        ("127.0.0.1:3000", "is not a URL"),
    ] {
        let (line, col, message) = f.problem(&format!("{base}url = \"{url}\"\n"));
        assert_eq!((line, col), (5, 7), "{url}: {message}");
        assert_contains(&message, "[processes.api.health] url: ");
        assert_contains(&message, expected);
    }
    let config = f.ok(&format!("{base}url = \"http://[::1]/\"\n"));
    assert_eq!(
        health_of(&config, "api").check,
        HealthCheck::Http {
            url: "http://[::1]/".into(),
            addr: addr("[::1]:80"),
            host: "[::1]".into(),
            path: "/".into(),
        }
    );
}

#[test]
fn tcp_address_problems() {
    let f = Fixture::new();
    for (address, expected) in [
        ("db:5432", "\"db\" is a host name, and oxinit does no DNS"),
        ("127.0.0.1", "has no port"),
        ("::1:5432", "write an IPv6 address in brackets"),
        ("127.0.0.1:0", "port 0 cannot be connected to"),
    ] {
        let (line, col, message) = f.problem(&format!(
            "[processes.db]\ncommand = \"x\"\nhealth = {{ type = \"tcp\", address = \"{address}\" }}\n"
        ));
        assert_eq!((line, col), (3, 36), "{address}: {message}");
        assert_contains(&message, "[processes.db.health] address: ");
        assert_contains(&message, expected);
    }
}

#[test]
fn type_is_required_and_checked() {
    let f = Fixture::new();
    let (line, col, message) = f.problem(
        "[processes.api]\ncommand = \"x\"\n[processes.api.health]\nurl = \"http://127.0.0.1/\"\n",
    );
    assert_eq!((line, col), (3, 16));
    assert_contains(
        &message,
        "[processes.api.health]: missing type; add type = \"http\", \"tcp\", \"exec\", \"notify\" or \"mount\"",
    );
    let (line, col, message) =
        f.problem("[processes.api]\ncommand = \"x\"\nhealth = { type = \"grpc\" }\n");
    assert_eq!((line, col), (3, 19));
    assert_contains(&message, "\"grpc\" is not a check type");
    let (_, _, message) = f.problem(
        "[processes.api]\ncommand = \"x\"\nhealth = { type = \"https\", url = \"https://x\" }\n",
    );
    assert_contains(&message, "probe the app's plain-HTTP port on 127.0.0.1");
    // The required key of each type.
    for (kind, needs) in [
        ("http", "a \"http\" check needs url"),
        ("tcp", "a \"tcp\" check needs address"),
        ("exec", "a \"exec\" check needs command"),
    ] {
        let (line, _, message) = f.problem(&format!(
            "[processes.api]\ncommand = \"x\"\nhealth = {{ type = \"{kind}\" }}\n"
        ));
        assert_eq!(line, 3);
        assert_contains(&message, needs);
    }
    let (_, _, message) = f.problem("[processes.api]\ncommand = \"x\"\nhealth = \"http\"\n");
    assert_contains(
        &message,
        "[processes.api] health: expected a [processes.api.health] table, found string",
    );
}

#[test]
fn keys_of_another_type_name_the_valid_ones() {
    let f = Fixture::new();
    let problems = f.problems(
        r#"[processes.db]
command = "x"
[processes.db.health]
url = "http://127.0.0.1/"
type = "tcp"
address = "127.0.0.1:5432"
command = "pg_isready"
watchdog = "5s"
"#,
    );
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert_eq!((problems[0].0, problems[0].1), (4, 1));
    assert_contains(
        &problems[0].2,
        "[processes.db.health] url: url belongs to type = \"http\", not to a \"tcp\" check; valid keys for type = \"tcp\": type, address, interval, timeout, retries, start_period",
    );
    assert_eq!(problems[1].0, 7);
    assert_contains(&problems[1].2, "command belongs to type = \"exec\"");
    assert_eq!(problems[2].0, 8);
    assert_contains(&problems[2].2, "watchdog belongs to type = \"notify\"");
}

#[test]
fn unknown_health_keys_suggest() {
    let f = Fixture::new();
    let base = "[processes.api]\ncommand = \"x\"\n[processes.api.health]\ntype = \"http\"\nurl = \"http://127.0.0.1/\"\n";
    for (key, suggestion) in [
        ("start-period", "start_period"),
        ("start_interval", "interval"),
        ("intervall", "interval"),
        ("test", "command"),
        ("retry", "retries"),
    ] {
        let text = format!("{base}{key} = \"5s\"\n");
        if key == "test" {
            // `command` belongs to exec: with type = "http" it is not suggested.
            let (_, _, message) = f.problem(&text);
            assert!(!message.contains("did you mean"), "{message}");
            let (_, _, message) = f.problem(
                "[processes.api]\ncommand = \"x\"\n[processes.api.health]\ntype = \"exec\"\ncommand = \"x\"\ntest = \"y\"\n",
            );
            assert_contains(&message, "did you mean \"command\"?");
            continue;
        }
        let (line, col, message) = f.problem(&text);
        assert_eq!((line, col), (6, 1), "{key}");
        assert_contains(
            &message,
            &format!(
                "unknown key \"{key}\" in [processes.api.health]; did you mean \"{suggestion}\"?"
            ),
        );
        assert_contains(
            &message,
            "valid keys: type, url, interval, timeout, retries, start_period",
        );
    }
}

#[test]
fn timing_rules() {
    let f = Fixture::new();
    // A timeout longer than interval is accepted (as Docker and Kubernetes
    // do): probes never overlap. So is interval = "1s" against the default
    // timeout (2s).
    let config = f.ok(
        "[processes.api]\ncommand = \"x\"\nhealth = { type = \"tcp\", address = \"127.0.0.1:1\", interval = \"5s\", timeout = \"6s\" }\n",
    );
    let health = config.processes[0].health.as_ref().unwrap();
    assert_eq!(
        (health.interval, health.timeout),
        (Duration::from_secs(5), Duration::from_secs(6))
    );
    let config = f.ok(
        "[processes.api]\ncommand = \"x\"\nhealth = { type = \"http\", url = \"http://127.0.0.1:3000/\", interval = \"1s\" }\n",
    );
    let health = config.processes[0].health.as_ref().unwrap();
    assert_eq!(
        (health.interval, health.timeout),
        (Duration::from_secs(1), Duration::from_secs(2))
    );
    f.ok("[processes.api]\ncommand = \"x\"\nhealth = { type = \"notify\", interval = \"2s\", timeout = \"2s\" }\n");
    for (key, value, expected) in [
        ("retries", "0", "must be a whole number from 1 to"),
        (
            "retries",
            "\"3\"",
            "expected a whole number such as 3, found string",
        ),
        ("interval", "\"0s\"", "must be longer than 0s"),
        ("timeout", "\"0s\"", "must be longer than 0s"),
        ("watchdog", "\"0s\"", "must be longer than 0s"),
        ("start_period", "30", "a duration needs a unit and quotes"),
    ] {
        let (_, _, message) = f.problem(&format!(
            "[processes.api]\ncommand = \"x\"\nhealth = {{ type = \"notify\", {key} = {value} }}\n"
        ));
        assert_contains(
            &message,
            &format!("[processes.api.health] {key}: {expected}"),
        );
    }
}

#[test]
fn health_only_on_services() {
    let f = Fixture::new();
    let (line, col, message) = f.problem(
        "[processes.m]\ncommand = \"x\"\noneshot = true\n[processes.m.health]\ntype = \"tcp\"\naddress = \"127.0.0.1:1\"\n",
    );
    assert_eq!((line, col), (4, 1));
    assert_contains(
        &message,
        "[processes.m] health: a oneshot runs once to completion, so there is nothing to keep checking",
    );
    assert_contains(&message, "remove [processes.m.health]");
    let (line, _, message) = f.problem(
        "[processes.j]\ncommand = \"x\"\nschedule = \"@daily\"\nhealth = { type = \"notify\" }\n",
    );
    assert_eq!(line, 4);
    assert_contains(
        &message,
        "[processes.j] health: a scheduled job runs to completion",
    );
}

#[test]
fn dependants_of_a_checked_service_wait_until_healthy() {
    let f = Fixture::new();
    let config = f.ok(
        "[processes.db]\ncommand = \"x\"\nhealth = { type = \"tcp\", address = \"127.0.0.1:5432\", start_period = \"1m\" }\n[processes.api]\ncommand = \"x\"\ndepends_on = [\"db\"]\n",
    );
    let text = render_check(&config);
    assert_contains(
        &text,
        "  health:    tcp connect to 127.0.0.1:5432; at start, then every 100ms (after 5s doubling to 1s) until ready, then every 10s; timeout 2s, unhealthy after 3 failures in a row (before ready, at most one counted per 10s), none counted in the first 1m\n",
    );
    assert_contains(&text, "  after:     db (waits until it is healthy)\n");
}
