//! Binding: stale and live sockets, other files, modes, clean-up.

use super::*;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn bind_in_runtime(path: &Path) -> Result<Server, ControlError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _in_runtime = rt.enter();
    Server::bind(path)
}

#[test]
fn the_socket_is_private_and_a_missing_directory_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("run/oxinit/control.sock");
    let h = Harness::at(&socket, healthy_snapshot(), Limits::default()).unwrap();
    assert_eq!(mode(&socket), 0o600);
    assert_eq!(mode(socket.parent().unwrap()), 0o755);
    assert_eq!(h.client(Request::Health {}, false).0, 0);
    // Nothing else is left in the directory (the temporary bind name).
    let entries: Vec<_> = std::fs::read_dir(socket.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, ["control.sock"]);
}

#[test]
fn the_socket_is_removed_when_the_server_stops() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("oxinit.sock");
    let h = Harness::at(&socket, healthy_snapshot(), Limits::default()).unwrap();
    assert!(std::fs::symlink_metadata(&socket)
        .unwrap()
        .file_type()
        .is_socket());
    drop(h);
    assert!(!socket.exists(), "the socket outlived its server");
}

#[test]
fn a_socket_file_that_is_no_longer_ours_is_not_removed() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("oxinit.sock");
    let server = bind_in_runtime(&socket).unwrap();
    std::fs::remove_file(&socket).unwrap();
    std::fs::write(&socket, "someone else's").unwrap();
    drop(server);
    assert_eq!(std::fs::read_to_string(&socket).unwrap(), "someone else's");
}

#[test]
fn a_stale_socket_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("oxinit.sock");
    // A crashed oxinit leaves its socket file; nobody listens on it.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let (code, _, err) = run(
        &Request::Status {},
        &socket,
        false,
        &ClientOptions::default(),
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("nobody answers on the control socket"),
        "{err}"
    );

    let h = Harness::at(&socket, healthy_snapshot(), Limits::default()).unwrap();
    assert_eq!(h.client(Request::Health {}, false).0, 0);
    h.logs.wait_for("replacing the stale control socket");
}

#[test]
fn a_live_socket_is_an_error_and_keeps_serving() {
    let h = Harness::start();
    let error = bind_in_runtime(&h.socket).unwrap_err();
    assert!(matches!(error, ControlError::InUse { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "another oxinit is already answering on the control socket {}; stop it, or set [init] control_socket or OXINIT_SOCKET to give this one its own",
            h.socket.display()
        )
    );
    // The failed bind neither removed nor replaced the live socket.
    assert_eq!(h.client(Request::Health {}, false).0, 0);
    // The probe was a connection without a request: not worth a warning.
    assert!(!h.logs.text().contains("WARN"), "{}", h.logs.text());
}

#[test]
fn a_file_that_is_not_a_socket_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("oxinit.sock");
    std::fs::write(&socket, "precious").unwrap();
    let error = bind_in_runtime(&socket).unwrap_err();
    assert!(
        matches!(error, ControlError::NotASocket { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("exists and is not a socket"));
    assert_eq!(std::fs::read_to_string(&socket).unwrap(), "precious");
}

#[test]
fn an_unwritable_directory_is_an_error_that_says_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the directory should be: fails even as root.
    let blocker = dir.path().join("run");
    std::fs::write(&blocker, "").unwrap();
    let error = bind_in_runtime(&blocker.join("oxinit.sock")).unwrap_err();
    let text = error.to_string();
    assert!(text.contains(&blocker.display().to_string()), "{text}");
    assert!(
        text.contains("set [init] control_socket or OXINIT_SOCKET"),
        "{text}"
    );
}

#[test]
fn a_relative_path_is_made_absolute_at_bind() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("oxinit.sock");
    let relative = pathdiff(&socket);
    let server = bind_in_runtime(&relative).unwrap();
    // oxinit chdirs to / later: the path it removes on exit must not depend
    // on the current directory.
    assert!(server.path().is_absolute(), "{}", server.path().display());
    assert_eq!(
        std::fs::canonicalize(server.path()).unwrap(),
        std::fs::canonicalize(&socket).unwrap()
    );
}

/// `socket` relative to the current directory (tests run in the crate root).
fn pathdiff(socket: &Path) -> PathBuf {
    let cwd = std::env::current_dir().unwrap();
    let ups = cwd.components().count() - 1;
    let mut relative = PathBuf::new();
    for _ in 0..ups {
        relative.push("..");
    }
    relative.join(socket.strip_prefix("/").unwrap())
}
