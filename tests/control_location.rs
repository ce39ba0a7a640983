//! Where the control socket lives, through the real binary (issue 10):
//! - as a non-root user with `/run` not writable (`docker run --user 1000`),
//!   the socket moves to `/tmp/oxinit-UID/` (0700) or `$XDG_RUNTIME_DIR`, and
//!   `oxinit healthcheck` as that user finds it with no option at all;
//! - a squatted `/tmp/oxinit-UID` (another user's) is refused by both sides;
//! - the clients read `[init] control_socket` from the oxfile `run` reads
//!   (`--config`, `$OXINIT_CONFIG`, `./oxfile.toml`), and a broken oxfile is
//!   said and passed over;
//! - `oxinit --config PATH` (no `run`) is supervisor mode, as --help says.
//!
//! The non-root cases run in a mount namespace of their own (root only):
//! a read-only tmpfs on `/run`, a fresh tmpfs on `/tmp` (so the real
//! `/tmp/oxinit-1000` of the machine is neither used nor disturbed), and
//! uid 1000 through `setpriv`.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(60);

/// A service that only waits, and no metrics: nothing here needs the network.
const OXFILE: &str = r#"
[init]
shutdown_timeout = "5s"
orphan_grace = "200ms"

[metrics]
enabled = false

[processes.app]
command = ["/bin/sleep", "1000"]
"#;

/// The namespace's set-up and the helpers the scenarios use. `$1` is the
/// scratch dir (the oxfile and a copy of oxinit, readable by uid 1000).
const PRELUDE: &str = r#"set -u
dir=$1
# Keep the scratch dir at its path once /tmp is covered: bind it through /run.
mount -t tmpfs -o size=1m tmpfs /run
mkdir /run/scratch && mount --bind "$dir" /run/scratch
mount -t tmpfs -o size=16m,mode=1777 tmpfs /tmp
mkdir -p "$dir" && mount --bind /run/scratch "$dir"
umount /run/scratch && rmdir /run/scratch
mount -o remount,ro /run
cd "$dir"
ox=$dir/oxinit
# uid 1000 with a clean environment; a plain word list, not a function, so
# that `$user oxinit &` forks no subshell and $! is oxinit's own pid.
user="setpriv --reuid 1000 --regid 1000 --clear-groups env -u OXINIT_SOCKET -u OXINIT_CONFIG -u XDG_RUNTIME_DIR"
# Polls `$@` every 50 ms for up to 30 s; 1 if it never succeeds.
until_ok() { i=0; until "$@"; do i=$((i+1)); [ $i -lt 600 ] || return 1; sleep 0.05; done; }
healthy() { (cd / && $user "$ox" healthcheck) 2>"$dir/hc.err"; }
logged() { grep -q "$1" "$dir/oxinit.err"; }
stop() { kill -TERM "$1"; wait "$1"; echo "EXIT $?"; }
"#;

/// Runs `body` after [`PRELUDE`] as PID 1 of new PID and mount namespaces
/// (whatever it leaves running dies with it); its stdout and stderr.
fn in_namespace(test: &str, body: &str) -> Option<(Output, Scratch)> {
    if !require_root(test) {
        return None;
    }
    let s = scratch();
    fs::set_permissions(s.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(s.file("oxfile.toml"), OXFILE).unwrap();
    // The build dir may not be reachable by uid 1000 (a clone under /root).
    fs::copy(bin(), s.file("oxinit")).unwrap();
    let script = s.script("scenario.sh", &format!("#!/bin/sh\n{PRELUDE}\n{body}"));
    let out = run(
        Command::new("unshare")
            .args(["--mount", "--pid", "--fork", "--mount-proc", "--"])
            .arg(&script)
            .arg(s.path()),
        DEADLINE,
    );
    Some((out, s))
}

fn stderr_of(s: &Scratch, name: &str) -> String {
    fs::read_to_string(s.file(name)).unwrap_or_default()
}

#[test]
fn a_non_root_oxinit_without_a_writable_run_serves_healthcheck_from_tmp() {
    let Some((out, s)) = in_namespace(
        "a_non_root_oxinit_without_a_writable_run_serves_healthcheck_from_tmp",
        r#"
$user "$ox" --config ./oxfile.toml 2>"$dir/oxinit.err" &
pid=$!
until_ok healthy || { echo NEVER HEALTHY; exit 1; }
echo HEALTHY
stat -c 'DIR %u %a %F' /tmp/oxinit-1000
stat -c 'SOCK %u %a %F' /tmp/oxinit-1000/oxinit.sock
(cd / && $user "$ox" status) >"$dir/status.out" 2>&1; echo "STATUS $?"
stop $pid
[ -e /tmp/oxinit-1000/oxinit.sock ] || echo "SOCKET REMOVED"
"#,
    ) else {
        return;
    };
    let log = stderr_of(&s, "oxinit.err");
    assert_eq!(
        out.code,
        ExitCode::Code(0),
        "{out:?}\noxinit:\n{log}\nhealthcheck:\n{}",
        stderr_of(&s, "hc.err")
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "HEALTHY",
            "DIR 1000 700 directory",
            "SOCK 1000 600 socket",
            "STATUS 0",
            "EXIT 0",
            "SOCKET REMOVED"
        ],
        "{out:?}\n{log}"
    );
    assert!(
        log.contains("control socket: /tmp/oxinit-1000/oxinit.sock (/run is not writable and $XDG_RUNTIME_DIR is not set)"),
        "{log}"
    );
    let status = stderr_of(&s, "status.out");
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("app ") && l.contains("running")),
        "{status}"
    );
}

#[test]
fn xdg_runtime_dir_is_taken_before_tmp() {
    let Some((out, s)) = in_namespace(
        "xdg_runtime_dir_is_taken_before_tmp",
        r#"
mkdir -m 700 /tmp/xdg && chown 1000:1000 /tmp/xdg
xdg="$user XDG_RUNTIME_DIR=/tmp/xdg"
$xdg "$ox" run --config ./oxfile.toml 2>"$dir/oxinit.err" &
pid=$!
xdg_healthy() { (cd / && $xdg "$ox" healthcheck) 2>"$dir/hc.err"; }
until_ok xdg_healthy || { echo NEVER HEALTHY; exit 1; }
echo HEALTHY
[ -S /tmp/xdg/oxinit.sock ] && echo "IN XDG"
[ -e /tmp/oxinit-1000 ] || echo "NOTHING IN TMP"
stop $pid
"#,
    ) else {
        return;
    };
    let log = stderr_of(&s, "oxinit.err");
    assert_eq!(out.code, ExitCode::Code(0), "{out:?}\n{log}");
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        ["HEALTHY", "IN XDG", "NOTHING IN TMP", "EXIT 0"],
        "{out:?}\n{log}"
    );
    assert!(
        log.contains(
            "control socket: /tmp/xdg/oxinit.sock ($XDG_RUNTIME_DIR, as /run is not writable)"
        ),
        "{log}"
    );
}

#[test]
fn a_squatted_tmp_dir_is_refused_by_server_and_client() {
    let Some((out, s)) = in_namespace(
        "a_squatted_tmp_dir_is_refused_by_server_and_client",
        r#"
# Another user got there first, with a directory that looks right.
mkdir -m 700 /tmp/oxinit-1000 && chown 1001:1001 /tmp/oxinit-1000
$user "$ox" --config ./oxfile.toml 2>"$dir/oxinit.err" &
pid=$!
until_ok logged "is not safe for the control socket" || { echo NEVER REFUSED; exit 1; }
[ -e /tmp/oxinit-1000/oxinit.sock ] || echo "NO SOCKET THERE"
healthy; echo "HEALTHCHECK $?"
stop $pid
"#,
    ) else {
        return;
    };
    let log = stderr_of(&s, "oxinit.err");
    let hc = stderr_of(&s, "hc.err");
    assert_eq!(out.code, ExitCode::Code(0), "{out:?}\n{log}");
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        ["NO SOCKET THERE", "HEALTHCHECK 1", "EXIT 0"],
        "{out:?}\n{log}\n{hc}"
    );
    let refusal = "/tmp/oxinit-1000 is not safe for the control socket: it belongs to uid 1001, not to uid 1000; another user may have made it";
    assert!(log.contains(refusal), "{log}");
    // The processes still run: a missing socket is not worth the container.
    assert!(
        log.contains("`oxinit status`, `restart`, `stop`, `start` and `healthcheck` will not work"),
        "{log}"
    );
    assert!(hc.starts_with(&format!("oxinit: {refusal}")), "{hc}");
}

/// The oxfile names its socket; the clients find it with no `--socket`:
/// through `--config`, `$OXINIT_CONFIG` and `./oxfile.toml`; a broken oxfile
/// is said, and `$OXINIT_SOCKET` tried instead. `oxinit --config=F` starts it.
#[test]
fn clients_take_the_socket_from_the_oxfile_run_reads() {
    let s = scratch();
    let socket = s.file("named.sock");
    let oxfile = s.file("oxfile.toml");
    fs::write(
        &oxfile,
        format!(
            "[init]\ncontrol_socket = \"${{TEST_SOCK_DIR}}/named.sock\"\n{}",
            OXFILE.trim_start().trim_start_matches("[init]\n")
        ),
    )
    .unwrap();
    let dir = s.path().to_str().unwrap();
    let config_arg = format!("--config={}", oxfile.display());
    let mut ox = Oxinit::start_with(As::Child, &[&config_arg], &[("TEST_SOCK_DIR", dir)], None);

    let client = |args: &[&str], cwd: &Path, env: &[(&str, &str)]| {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .current_dir(cwd)
            .env_remove("OXINIT_SOCKET")
            .env_remove("OXINIT_CONFIG")
            .env("TEST_SOCK_DIR", dir);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run(&mut cmd, Duration::from_secs(15))
    };
    let elsewhere = tempfile::tempdir().unwrap();
    wait_until(Duration::from_secs(20), "the named socket answers", || {
        if let Some(code) = ox.try_wait() {
            panic!("oxinit exited ({code:?})\n{}", ox.output());
        }
        let out = client(&["healthcheck"], s.path(), &[]);
        (out.code == ExitCode::Code(0)).then_some(())
    });
    assert!(socket.exists());

    // ./oxfile.toml, next to it (as next to the demo).
    let status = client(&["status"], s.path(), &[]);
    assert_eq!(status.code, ExitCode::Code(0), "{status:?}");
    assert!(
        status.stdout.lines().any(|l| l.starts_with("app ")),
        "{status:?}"
    );
    assert_eq!(status.stderr, "");
    // --config from elsewhere, before or after the command; $OXINIT_CONFIG.
    let config = oxfile.to_str().unwrap();
    for out in [
        client(&["status", "--config", config], elsewhere.path(), &[]),
        client(&["-c", config, "healthcheck"], elsewhere.path(), &[]),
        client(
            &["healthcheck"],
            elsewhere.path(),
            &[("OXINIT_CONFIG", config)],
        ),
    ] {
        assert_eq!(out.code, ExitCode::Code(0), "{out:?}");
        assert_eq!(out.stderr, "");
    }
    // Elsewhere without any of them: not found, and told where to point it.
    let lost = client(&["healthcheck"], elsewhere.path(), &[]);
    assert_eq!(lost.code, ExitCode::Code(1), "{lost:?}");
    assert!(
        lost.stderr
            .contains("pass --socket PATH or --config OXFILE, or set OXINIT_SOCKET"),
        "{lost:?}"
    );

    // A broken oxfile: said, then $OXINIT_SOCKET is tried, and works.
    let broken = elsewhere.path().join("oxfile.toml");
    fs::write(&broken, "[init\ncontrol_socket = 3\n").unwrap();
    let out = client(
        &["healthcheck"],
        elsewhere.path(),
        &[("OXINIT_SOCKET", socket.to_str().unwrap())],
    );
    assert_eq!(out.code, ExitCode::Code(0), "{out:?}");
    let said = format!(
        "oxinit: warning: cannot take [init] control_socket from {}: ",
        broken.display()
    );
    assert!(out.stderr.starts_with(&said), "{out:?}");
    assert!(
        out.stderr.ends_with(&format!(
            "oxinit: warning: looking for the control socket in $OXINIT_SOCKET instead: {}\n",
            socket.display()
        )),
        "{out:?}"
    );
    // A --config that does not exist: said, and the defaults tried.
    let out = client(
        &["status", "--config", "/nonexistent/ox.toml"],
        elsewhere.path(),
        &[],
    );
    assert_eq!(out.code, ExitCode::Code(1));
    assert!(
        out.stderr.starts_with("oxinit: warning: no oxfile at /nonexistent/ox.toml\noxinit: warning: looking for the control socket in the default places instead: /run/oxinit.sock, "),
        "{out:?}"
    );

    ox.signal(libc::SIGTERM);
    assert_eq!(
        ox.wait(Duration::from_secs(15)),
        ExitCode::Code(0),
        "{}",
        ox.output()
    );
    assert!(!socket.exists(), "the socket is removed at exit");
}
