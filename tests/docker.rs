//! oxinit in a real Docker engine (issue 11), each test a `docker` command a
//! user would type: `docker stop`, `docker run --init`, `docker run -t`, a
//! HEALTHCHECK, `--memory`-style limits, the SQLite volume check, a read-only
//! root with a non-root user, and Litestream replicating and restoring.
//!
//! The images are `FROM scratch` with the static oxinit, busybox-static and
//! the project's SQLite test app (tests/common/docker.rs); nothing is pulled.
//! Without a Docker engine these tests print `SKIP: …`, and fail under CI=true.

mod common;
#[path = "common/docker.rs"]
mod docker;
#[path = "common/prom.rs"]
mod prom;

use std::time::Duration;

use common::ExitCode;
use docker::{available, docker, line_index, Container, Context, Image, Volume};

/// Generous for a loaded 2-core machine: boots take well under a second.
const BOOT: Duration = Duration::from_secs(30);
/// Docker's own stop grace when `docker stop` is given no `-t`.
const DOCKER_GRACE: Duration = Duration::from_secs(10);

/// An image FROM the base with `oxfile` as /etc/oxfile.toml and `extra`
/// Dockerfile lines.
fn image(what: &str, oxfile: &str, extra: &str) -> Image {
    let context = Context::new();
    context.file("oxfile.toml", oxfile, false);
    Image::build(
        what,
        &context,
        &format!("COPY oxfile.toml /etc/oxfile.toml\n{extra}"),
    )
}

/// oxinit's metrics, read inside the container with busybox wget.
fn metrics(container: &Container) -> prom::Exposition {
    let text = container.exec_ok(&["wget", "-qO-", "http://127.0.0.1:9091/metrics"]);
    prom::parse(&text).unwrap_or_else(|e| panic!("metrics do not parse: {e}\n{text}"))
}

/// Wait until `f` holds, polling every 200 ms; panic with `what` past `deadline`.
fn eventually(deadline: Duration, what: &str, mut f: impl FnMut() -> bool) {
    common::wait_until_every(deadline, Duration::from_millis(200), what, || f().then_some(()));
}

const TWO_SERVICES: &str = r#"
[processes.db]
command = ["/bin/sh", "/t/service.sh", "db", "1"]

[processes.app]
command = ["/bin/sh", "/t/service.sh", "app", "1"]
depends_on = ["db"]
"#;

/// The app stopped (and said so) before the service it depends on was asked to.
fn assert_stopped_in_order(logs: &str) {
    let app_stopped = line_index(logs, "app: stopped").expect("app said it stopped");
    let db_stopping = line_index(logs, "db: stopping").expect("db was asked to stop");
    let db_stopped = line_index(logs, "db: stopped").expect("db said it stopped");
    assert!(
        app_stopped < db_stopping && db_stopping < db_stopped,
        "stop order: app first, then db:\n{logs}"
    );
}

#[test]
fn docker_stop_stops_in_order_within_the_default_grace() {
    if !available("docker_stop_stops_in_order_within_the_default_grace") {
        return;
    }
    let image = image("stop", TWO_SERVICES, "");
    let c = Container::start("stop", &["--network", "none", &image.tag]);
    c.wait_log("app: started", BOOT);
    let took = c.stop();
    let logs = c.logs();
    assert!(took < DOCKER_GRACE, "docker stop took {took:?}:\n{logs}");
    assert_eq!(c.exit_code(), 0, "a clean ordered stop exits 0:\n{logs}");
    assert_stopped_in_order(&logs);
}

#[test]
fn docker_stop_cuts_a_stop_chain_longer_than_its_grace() {
    if !available("docker_stop_cuts_a_stop_chain_longer_than_its_grace") {
        return;
    }
    // 6 s + 6 s of stopping, each within its stop_timeout, is more than
    // Docker's 10 s: Docker SIGKILLs oxinit (and with it the container) while
    // db is still flushing.
    let oxfile = r#"
[init]
shutdown_timeout = "60s"

[processes.db]
command = ["/bin/sh", "/t/service.sh", "db", "6"]
stop_timeout = "20s"

[processes.app]
command = ["/bin/sh", "/t/service.sh", "app", "6"]
stop_timeout = "20s"
depends_on = ["db"]
"#;
    let image = image("longstop", oxfile, "");
    let c = Container::start("longstop", &["--network", "none", &image.tag]);
    c.wait_log("app: started", BOOT);
    let took = c.stop();
    let logs = c.logs();
    assert!(
        took >= DOCKER_GRACE,
        "docker stop returned after {took:?}, before its grace:\n{logs}"
    );
    assert_eq!(c.exit_code(), 137, "Docker's SIGKILL ends the container:\n{logs}");
    assert!(logs.contains("app: stopped"), "app had 6 s of 10:\n{logs}");
    assert!(logs.contains("db: stopping"), "db was asked to stop:\n{logs}");
    assert!(
        !logs.contains("db: stopped"),
        "db cannot finish: the grace ended first:\n{logs}"
    );
}

#[test]
fn docker_run_init_leaves_oxinit_a_subreaper_that_reaps_and_stops_in_order() {
    if !available("docker_run_init_leaves_oxinit_a_subreaper_that_reaps_and_stops_in_order") {
        return;
    }
    let oxfile = format!(
        "[metrics]\nlisten = \"127.0.0.1:9091\"\n\n[processes.orphans]\ncommand = [\"/bin/sh\", \"/t/orphans.sh\"]\n{TWO_SERVICES}"
    );
    let image = image("init", &oxfile, "");
    let c = Container::start("init", &["--init", "--network", "none", &image.tag]);
    c.wait_log("app: started", BOOT);
    // Docker's tini is PID 1; oxinit is its child.
    let pid1 = c.exec_ok(&["cat", "/proc/1/comm"]);
    assert_eq!(pid1.trim(), "docker-init", "PID 1 under --init");
    let parent = c.exec_ok(&["sh", "-c", "for p in $(pidof oxinit); do awk '{print $4}' /proc/$p/stat; done"]);
    assert_eq!(parent.trim(), "1", "oxinit runs as the child of docker-init");
    // Orphans come to oxinit, not to tini: oxinit counts them as it reaps.
    eventually(Duration::from_secs(30), "oxinit to reap 3 orphans", || {
        metrics(&c).value("oxinit_zombies_reaped_total", &[]).unwrap_or(0.0) >= 3.0
    });
    let took = c.stop();
    let logs = c.logs();
    assert!(took < DOCKER_GRACE, "docker stop took {took:?}:\n{logs}");
    assert_eq!(c.exit_code(), 0, "tini passes on oxinit's 0:\n{logs}");
    assert_stopped_in_order(&logs);
}

#[test]
fn docker_run_t_hands_the_terminal_to_the_command() {
    if !available("docker_run_t_hands_the_terminal_to_the_command") {
        return;
    }
    let image = image("tty", "", "");
    // The command's process group must be the terminal's foreground group
    // (field 8 of /proc/PID/stat, tpgid, equals field 5, pgrp), or a shell's
    // job control and ^C would not work.
    let script = r#"set -- $(cat /proc/$$/stat); echo "tty=$(tty) pgrp=$5 tpgid=$8"; exit 3"#;
    let name = docker::unique("tty");
    let out = docker(
        &[
            "run", "-t", "--name", &name, "--network", "none", &image.tag, "--", "sh", "-c",
            script,
        ],
        Duration::from_secs(60),
    );
    let _cleanup = Container { name };
    let text = out.stdout.replace('\r', "");
    let line = text
        .lines()
        .find(|l| l.starts_with("tty="))
        .unwrap_or_else(|| panic!("no tty line:\n{text}{}", out.stderr));
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {line:?}"))
            .to_owned()
    };
    assert!(field("tty=").starts_with("/dev/pts/"), "a terminal: {line}");
    assert_eq!(field("pgrp="), field("tpgid="), "the command is in the foreground: {line}");
    assert_eq!(out.code, ExitCode::Code(3), "its exit code passes through: {text}");
}
