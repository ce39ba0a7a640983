//! Only root and oxinit's own user may use the socket. As root, these tests
//! run a client as `nobody` (uid 65534): the test binary itself, re-executed
//! to run [`helper_client_as_another_user`] only.

use super::*;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;

const NOBODY: u32 = 65534;
const HELPER_SOCKET: &str = "OXINIT_TEST_HELPER_SOCKET";

/// True when the test can run (as root); otherwise says why it is skipped,
/// and fails under CI=true, where skipping would hide a regression.
fn as_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: needs root to run a client as another user, and CI=true forbids skipping"
    );
    println!("SKIP: {test}: needs root to run a client as another user");
    false
}

/// Runs `oxinit status` against `socket` as uid/gid 65534; (exit code, stderr).
fn status_as_nobody(socket: &Path) -> (i32, String) {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "control::tests::users::helper_client_as_another_user",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_SOCKET, socket)
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let field = |key: &str| {
        stdout
            .lines()
            // libtest prints "test NAME ... " before our first line.
            .find_map(|l| l.find(key).map(|i| &l[i + key.len()..]))
            .unwrap_or_else(|| panic!("helper printed no {key}: {stdout}"))
            .to_string()
    };
    (field("EXIT=").parse().unwrap(), field("STDERR="))
}

#[test]
#[ignore = "helper: run as another user by the tests in this module"]
fn helper_client_as_another_user() {
    let socket = PathBuf::from(std::env::var_os(HELPER_SOCKET).expect(HELPER_SOCKET));
    let (code, _, err) = run(
        &Request::Status {},
        &socket,
        false,
        &ClientOptions::default(),
    );
    println!("EXIT={code}");
    println!("STDERR={}", err.trim_end());
}

/// A harness whose directory `nobody` may enter (temp dirs are 0700).
fn reachable_harness() -> Harness {
    let h = Harness::start();
    let dir = h.socket.parent().unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    h
}

#[test]
fn another_user_is_kept_out_by_the_socket_mode() {
    if !as_root("another_user_is_kept_out_by_the_socket_mode") {
        return;
    }
    let h = reachable_harness();
    let (code, err) = status_as_nobody(&h.socket);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        format!(
            "oxinit: permission denied on the control socket {}: run this as the socket's owner (root)",
            h.socket.display()
        )
    );
}

#[test]
fn another_user_is_refused_by_its_credentials_when_the_mode_lets_it_in() {
    if !as_root("another_user_is_refused_by_its_credentials_when_the_mode_lets_it_in") {
        return;
    }
    let h = reachable_harness();
    // Someone loosened the mode: the SO_PEERCRED check still refuses.
    std::fs::set_permissions(&h.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (code, err) = status_as_nobody(&h.socket);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "oxinit: permission denied: uid 65534 may not control this oxinit (only root may); run as the socket's owner"
    );
    h.logs.wait_for("refused a client (uid 65534, pid ");
    assert_eq!(h.received(), 0);
}
