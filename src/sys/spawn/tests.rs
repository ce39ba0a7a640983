//! Spawning real children: exec errors, the $PATH search, cwd, stdio.

use super::*;
use std::path::PathBuf;

#[test]
fn the_parent_reads_the_ignored_signals_before_forking() {
    let argv = ["true".to_string()];
    let spec = SpawnSpec {
        argv: &argv,
        env: &[],
        cwd: Path::new("/"),
        user: None,
        inherit_stdin: false,
        output: Output::Null,
        tty: TtyHandover::None,
        cgroup_procs: &[],
        listen: Listen::Untouched,
    };
    let child = spawn(&spec).expect("true starts");
    // Had only the child computed the set (allocating after fork), the
    // parent's copy would still be empty.
    assert!(IGNORED.get().is_some());
    // Another test's reaper may have taken it first: either way it is gone.
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child.pid), None);
}

fn spec<'a>(argv: &'a [String], env: &'a [(String, String)], cwd: &'a Path) -> SpawnSpec<'a> {
    SpawnSpec {
        argv,
        env,
        cwd,
        user: None,
        inherit_stdin: false,
        output: Output::Pipes,
        tty: TtyHandover::None,
        cgroup_procs: &[],
        listen: Listen::Untouched,
    }
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn script(dir: &Path, name: &str, body: &str, mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// What the child wrote to stdout, until it closed it.
fn stdout_of(child: Spawned) -> String {
    let mut out = String::new();
    std::fs::File::from(child.stdout.unwrap())
        .read_to_string(&mut out)
        .unwrap();
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child.pid), None);
    out
}

#[test]
fn a_file_the_kernel_refuses_is_126_exec_format_error_and_never_run_by_sh() {
    let dir = tempfile::tempdir().unwrap();
    let ran = dir.path().join("ran");
    let file = script(
        dir.path(),
        "no-shebang",
        &format!("touch {}\n", ran.display()),
        0o755,
    );
    let argv = words(&[file.to_str().unwrap()]);
    let e = spawn(&spec(&argv, &[], Path::new("/"))).unwrap_err();
    assert_eq!((e.stage, e.exit_code), (Stage::Exec, 126), "{e}");
    assert!(
        e.to_string()
            .contains("(exec): not an executable (exec format error)"),
        "{e}"
    );
    assert!(e.is_permanent());
    assert!(!ran.exists());
}

#[test]
fn the_childs_path_is_searched_and_a_refused_entry_does_not_stop_the_search() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    script(&a, "tool", "#!/bin/sh\necho from a\n", 0o644); // EACCES: skipped
    script(&b, "tool", "#!/bin/sh\necho \"from b $X\"\n", 0o755);
    let path = format!("{}:{}", a.display(), b.display());
    let env = [
        ("PATH".to_string(), path),
        ("X".to_string(), "y".to_string()),
    ];
    let argv = words(&["tool"]);
    let child = spawn(&spec(&argv, &env, Path::new("/"))).unwrap();
    assert_eq!(stdout_of(child), "from b y\n");
    // Only the refused one: EACCES wins over "not found", as with execvp.
    std::fs::remove_file(b.join("tool")).unwrap();
    let e = spawn(&spec(&argv, &env, Path::new("/"))).unwrap_err();
    assert_eq!(e.exit_code, 126, "{e}");
    assert!(
        e.reason
            .contains(&format!("{}: permission denied", a.join("tool").display())),
        "{e}"
    );
    // Nothing at all: 127.
    std::fs::remove_file(a.join("tool")).unwrap();
    let e = spawn(&spec(&argv, &env, Path::new("/"))).unwrap_err();
    assert_eq!(e.exit_code, 127, "{e}");
    assert!(e.reason.contains("not found in $PATH"), "{e}");
}

#[test]
fn a_missing_working_directory_is_126_at_the_chdir_stage() {
    let argv = words(&["/bin/sh", "-c", "true"]);
    let e = spawn(&spec(&argv, &[], Path::new("/nonexistent/dir"))).unwrap_err();
    assert_eq!((e.stage, e.exit_code), (Stage::Cwd, 126), "{e}");
    assert!(
        e.to_string()
            .contains("(chdir): its working directory /nonexistent/dir does not exist"),
        "{e}"
    );
    assert!(e.is_permanent());
}

#[test]
fn the_child_runs_in_its_cwd_with_its_stdin_on_dev_null() {
    let dir = tempfile::tempdir().unwrap();
    let argv = words(&["/bin/sh", "-c", "pwd; cat; echo end"]);
    let child = spawn(&spec(&argv, &[], dir.path())).unwrap();
    let here = std::fs::canonicalize(dir.path()).unwrap();
    assert_eq!(stdout_of(child), format!("{}\nend\n", here.display()));
}

#[test]
fn a_nul_byte_in_an_argument_is_refused_before_forking() {
    let argv = words(&["/bin/echo", "a\0b"]);
    let e = spawn(&spec(&argv, &[], Path::new("/"))).unwrap_err();
    assert_eq!((e.stage, e.exit_code), (Stage::Prepare, 126), "{e}");
    assert!(e.reason.contains("NUL"), "{e}");
}

#[test]
fn join_from_child_writes_zero_to_every_fd() {
    use std::os::fd::AsRawFd;
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let open = |path: &Path| {
        std::fs::write(path, "").unwrap();
        std::fs::OpenOptions::new().write(true).open(path).unwrap()
    };
    let files = [open(&a), open(&b)];
    let raw: Vec<RawFd> = files.iter().map(AsRawFd::as_raw_fd).collect();
    join_from_child(&raw).unwrap();
    assert_eq!(std::fs::read_to_string(&a).unwrap(), "0");
    assert_eq!(std::fs::read_to_string(&b).unwrap(), "0");
}

/// Twelve listening sockets, passed in the reverse order of their fd
/// numbers: in a test process with few files open, many of them (and the
/// report pipe) sit on the very fds 3, 4, … the others must go to, so they
/// must be moved out of the way first.
fn twelve_listeners() -> (Vec<std::net::TcpListener>, Vec<RawFd>, Vec<String>) {
    let listeners: Vec<_> = (0..12)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let fds: Vec<RawFd> = listeners.iter().rev().map(|l| l.as_raw_fd()).collect();
    let names: Vec<String> = listeners
        .iter()
        .rev()
        .map(|l| l.local_addr().unwrap().port().to_string())
        .collect();
    (listeners, fds, names)
}

#[test]
fn sockets_land_on_3_and_up_in_order_with_listen_pid_the_childs_own() {
    let (_listeners, fds, names) = twelve_listeners();
    let script = "import os, socket\n\
        n = int(os.environ['LISTEN_FDS'])\n\
        ports = [str(socket.socket(fileno=3 + i).getsockname()[1]) for i in range(n)]\n\
        print(os.environ['LISTEN_PID'], os.getpid(), ':'.join(ports), os.environ['LISTEN_FDNAMES'])\n";
    let argv = words(&["python3", "-c", script]);
    let mut request = spec(&argv, &[], Path::new("/"));
    request.listen = Listen::Pass {
        fds: &fds,
        names: &names,
    };
    let child = spawn(&request).expect("python3 starts");
    let pid = child.pid;
    let out = stdout_of(child);
    let words: Vec<&str> = out.split_whitespace().collect();
    let joined = names.join(":");
    assert_eq!(
        words,
        [pid.to_string().as_str(), &pid.to_string(), &joined, &joined],
        "{out}"
    );
}

#[test]
fn with_sockets_an_exec_failure_is_still_reported() {
    let (_listeners, fds, names) = twelve_listeners();
    let argv = words(&["/nonexistent/program"]);
    let mut request = spec(&argv, &[], Path::new("/"));
    request.listen = Listen::Pass {
        fds: &fds,
        names: &names,
    };
    let e = spawn(&request).unwrap_err();
    assert_eq!((e.stage, e.exit_code), (Stage::Exec, 127), "{e}");
}
