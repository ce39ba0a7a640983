//! Where the socket lives: the server's choice among the default places,
//! the private directory in /tmp and its checks, and a client's lookup
//! (`--socket`, the oxfile, `$OXINIT_SOCKET`, the defaults in turn).

use super::*;
use crate::control::location::{self, check_private, choose, lookup, prepare, Oxfile, Places};
use std::os::unix::fs::{MetadataExt, PermissionsExt};

/// A fake root: `run/` and `tmp/` dirs, no environment, our own uid.
struct Root {
    dir: tempfile::TempDir,
    places: Places,
}

fn root() -> Root {
    let dir = tempfile::tempdir().unwrap();
    let (run, tmp) = (dir.path().join("run"), dir.path().join("tmp"));
    fs::create_dir(&run).unwrap();
    fs::create_dir(&tmp).unwrap();
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777)).unwrap();
    let places = Places {
        oxinit_socket: None,
        xdg_runtime_dir: None,
        run_dir: run,
        tmp_dir: tmp,
        uid: nix::unistd::geteuid().as_raw(),
    };
    Root { dir, places }
}

impl Root {
    /// `/run` that cannot be used: a regular file in its place (root may
    /// write any directory, so a mode would not stop it).
    fn unusable_run(&mut self) {
        let run = self.dir.path().join("run-file");
        fs::write(&run, "").unwrap();
        self.places.run_dir = run;
    }

    fn private(&self) -> PathBuf {
        self.places
            .tmp_dir
            .join(format!("oxinit-{}", self.places.uid))
    }
}

use std::fs;

#[test]
fn the_server_takes_the_oxfile_then_the_variable_then_run() {
    let mut r = root();
    let configured = PathBuf::from("/srv/ox.sock");
    r.places.oxinit_socket = Some("/env/ox.sock".into());
    assert_eq!(choose(Some(&configured), &r.places).place.path, configured);
    let env = choose(None, &r.places);
    assert_eq!(env.place.path, PathBuf::from("/env/ox.sock"));
    assert_eq!(env.why, "$OXINIT_SOCKET");
    r.places.oxinit_socket = None;
    let run = choose(None, &r.places);
    assert_eq!(run.place.path, r.places.run_dir.join("oxinit.sock"));
    assert_eq!(run.place.private_dir, None);
    // A missing /run is created if its parent may be written (FROM scratch).
    r.places.run_dir = r.dir.path().join("no-run-yet");
    assert_eq!(
        choose(None, &r.places).place.path,
        r.places.run_dir.join("oxinit.sock")
    );
}

#[test]
fn without_a_writable_run_the_server_takes_xdg_runtime_dir_then_a_private_tmp_dir() {
    let mut r = root();
    r.unusable_run();
    let xdg = r.dir.path().join("xdg");
    fs::create_dir(&xdg).unwrap();
    r.places.xdg_runtime_dir = Some(xdg.clone());
    let chosen = choose(None, &r.places);
    assert_eq!(chosen.place.path, xdg.join("oxinit.sock"));
    assert_eq!(chosen.why, "$XDG_RUNTIME_DIR, as /run is not writable");

    // An XDG_RUNTIME_DIR that does not exist is passed over.
    r.places.xdg_runtime_dir = Some(r.dir.path().join("gone"));
    let chosen = choose(None, &r.places);
    assert_eq!(chosen.place.path, r.private().join("oxinit.sock"));
    assert_eq!(chosen.place.private_dir, Some(r.private()));

    // prepare makes it, 0700 and ours.
    let prepared = prepare(&chosen, r.places.uid);
    assert_eq!(prepared.unwrap(), r.private().join("oxinit.sock"));
    let meta = fs::symlink_metadata(r.private()).unwrap();
    assert!(meta.is_dir());
    assert_eq!(meta.mode() & 0o7777, 0o700);
    assert_eq!(meta.uid(), r.places.uid);
    // Again: the directory it made is accepted.
    assert!(prepare(&chosen, r.places.uid).is_ok());
}

#[test]
fn a_private_dir_that_is_a_symlink_open_or_a_file_is_refused() {
    let mut r = root();
    r.unusable_run();
    let chosen = choose(None, &r.places);
    let private = r.private();

    // A symlink to a directory that is fine in itself.
    let target = r.dir.path().join("elsewhere");
    fs::create_dir(&target).unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&target, &private).unwrap();
    let message = prepare(&chosen, r.places.uid).unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "{} is not safe for the control socket: it is a symbolic link; another user may have made it to read or replace the socket (the /tmp squatting attack): remove it and oxinit makes it anew, or set [init] control_socket or OXINIT_SOCKET to another path",
            private.display()
        )
    );
    assert!(!target.join("oxinit.sock").exists());
    fs::remove_file(&private).unwrap();

    fs::create_dir(&private).unwrap();
    fs::set_permissions(&private, fs::Permissions::from_mode(0o755)).unwrap();
    let message = prepare(&chosen, r.places.uid).unwrap_err().to_string();
    assert!(
        message.contains("is not safe for the control socket: its mode is 0755, not 0700"),
        "{message}"
    );
    // Not fixed behind the operator's back.
    assert_eq!(fs::metadata(&private).unwrap().mode() & 0o777, 0o755);
    fs::remove_dir(&private).unwrap();

    fs::write(&private, "").unwrap();
    let message = prepare(&chosen, r.places.uid).unwrap_err().to_string();
    assert!(message.contains(": it is not a directory;"), "{message}");
}

#[test]
fn a_private_dir_made_by_another_user_is_refused() {
    let mut r = root();
    r.unusable_run();
    let private = r.private();
    fs::create_dir(&private).unwrap();
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
    // Seen by another uid, the directory is someone else's: what a
    // squatter's directory looks like to oxinit.
    let other = r.places.uid + 1;
    let message = check_private(&private, other).unwrap_err().to_string();
    assert!(
        message.contains(&format!(
            "it belongs to uid {}, not to uid {other}",
            r.places.uid
        )),
        "{message}"
    );
    assert!(!check_private(&r.dir.path().join("none"), other).unwrap());
}

#[test]
fn a_client_with_socket_uses_it_alone_then_the_oxfile_then_the_variable() {
    let mut r = root();
    r.places.oxinit_socket = Some("/env/ox.sock".into());
    let flag = Path::new("/flag.sock");
    let found = lookup(
        Some(flag),
        Oxfile::Socket(Some("/oxfile.sock".into())),
        &r.places,
    );
    assert_eq!(paths(&found), ["/flag.sock"]);
    let found = lookup(None, Oxfile::Socket(Some("/oxfile.sock".into())), &r.places);
    assert_eq!(paths(&found), ["/oxfile.sock"]);
    assert!(found.notes.is_empty());
    let found = lookup(None, Oxfile::Socket(None), &r.places);
    assert_eq!(paths(&found), ["/env/ox.sock"]);
    r.places.oxinit_socket = None;
    r.places.xdg_runtime_dir = Some("/xdg".into());
    let found = lookup(None, Oxfile::Absent, &r.places);
    let run = r.places.run_dir.join("oxinit.sock");
    let tmp = r.private().join("oxinit.sock");
    assert_eq!(
        paths(&found),
        [
            run.to_str().unwrap(),
            "/xdg/oxinit.sock",
            tmp.to_str().unwrap()
        ]
    );
    assert!(found.notes.is_empty());
}

#[test]
fn a_broken_or_missing_oxfile_is_said_and_the_defaults_tried() {
    let r = root();
    let oxfile = r.dir.path().join("oxfile.toml");
    fs::write(&oxfile, "[init\ncontrol_socket = 1\n").unwrap();
    let broken = crate::config::load_control_socket(&oxfile).unwrap_err();
    let found = lookup(None, Oxfile::Broken(oxfile.clone(), broken), &r.places);
    assert_eq!(found.candidates, r.places.defaults());
    let note = &found.notes[0];
    assert!(
        note.starts_with(&format!(
            "warning: cannot take [init] control_socket from {}: {}:1:",
            oxfile.display(),
            oxfile.display()
        )),
        "{note}"
    );
    assert!(
        note.ends_with(&format!(
            "\nwarning: looking for the control socket in the default places instead: {}, {}",
            r.places.run_dir.join("oxinit.sock").display(),
            r.private().join("oxinit.sock").display()
        )),
        "{note}"
    );

    let found = lookup(None, Oxfile::Missing("/nope/oxfile.toml".into()), &r.places);
    assert!(found.notes[0].starts_with("warning: no oxfile at /nope/oxfile.toml\n"));
}

#[test]
fn the_oxfile_socket_is_read_as_run_reads_it_and_the_rest_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let oxfile = dir.path().join("oxfile.toml");
    let env: std::collections::BTreeMap<String, String> =
        [("SOCK".to_string(), "/s/ox.sock".to_string())].into();
    let read = |text: &str| crate::config::control_socket_in(text, &oxfile, &env);
    // Only [init] control_socket matters: an unknown key elsewhere, or no
    // process at all, is run's business.
    assert_eq!(
        read("[init]\ncontrol_socket = \"${SOCK}\"\n[processes.a]\nbogus = 1\n").unwrap(),
        Some(PathBuf::from("/s/ox.sock"))
    );
    let base = std::path::absolute(dir.path()).unwrap();
    assert_eq!(
        read("[init]\ncontrol_socket = \"run/ox.sock\"\n").unwrap(),
        Some(base.join("run/ox.sock"))
    );
    assert_eq!(read("[init]\nlog_format = \"raw\"\n").unwrap(), None);
    assert_eq!(read("").unwrap(), None);
    let e = read("[init]\ncontrol_socket = \"${NOPE}\"\n").unwrap_err();
    assert!(e.to_string().contains("${NOPE} is not set"), "{e}");
    assert!(read("init = 3\n").is_err());
}

#[test]
fn a_client_passes_over_missing_and_stale_sockets_and_refuses_an_unsafe_dir() {
    let h = Harness::start();
    let mut r = root();
    // A stale socket at /run (a previous run's), the live one later.
    let stale = r.places.run_dir.join("oxinit.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    r.places.xdg_runtime_dir = Some(h.socket.parent().unwrap().to_path_buf());
    let candidates = r.places.defaults();
    let (code, _, err) = client_in(&candidates, r.places.uid);
    assert_eq!((code, err.as_str()), (0, ""));

    // Nothing anywhere: every place is named.
    let empty = root();
    let candidates = empty.places.defaults();
    let (code, _, err) = client_in(&candidates, empty.places.uid);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        format!(
            "oxinit: oxinit is not running here (no control socket at {}, {}); pass --socket PATH or --config OXFILE, or set OXINIT_SOCKET\n",
            candidates[0].path.display(),
            candidates[1].path.display()
        )
    );

    // Only the stale one: said so.
    r.places.xdg_runtime_dir = None;
    let (code, _, err) = client_in(&r.places.defaults(), r.places.uid);
    assert_eq!(code, 1);
    assert!(
        err.contains("nobody answers on the control socket"),
        "{err}"
    );

    // A private dir that is not ours is not even connected to.
    let private = empty.private();
    fs::create_dir(&private).unwrap();
    fs::set_permissions(&private, fs::Permissions::from_mode(0o777)).unwrap();
    let (code, _, err) = client_in(&empty.places.defaults(), empty.places.uid);
    assert_eq!(code, 1);
    assert!(err.contains("its mode is 0777, not 0700"), "{err}");
}

fn client_in(candidates: &[location::Candidate], uid: u32) -> (i32, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = crate::control::client::run_client_in(
        &Request::Health {},
        candidates,
        uid,
        false,
        &ClientOptions::default(),
        &mut out,
        &mut err,
    );
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn paths(found: &location::Lookup) -> Vec<&str> {
    found
        .candidates
        .iter()
        .map(|c| c.path.to_str().unwrap())
        .collect()
}
