//! What users copy must work: every oxfile under examples/ and every oxfile
//! snippet in README.md passes the real `oxinit check`; every file a
//! Dockerfile copies exists; the sqlite-stack's stop chain fits inside
//! Docker's, Fly's and Kubernetes' grace before SIGKILL.
//!
//! How a README snippet is chosen: every fenced block opened with ```toml is
//! an oxfile, unless the nearest non-blank line above the fence is exactly
//! `<!-- not an oxfile -->` (for deliberately partial snippets, such as one
//! `[processes.api.health]` table). Each is checked on its own, as a file.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use oxinit::api::config::{self, Kind, LoadContext};

const NOT_AN_OXFILE: &str = "<!-- not an oxfile -->";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir` whose name satisfies `wanted`, sorted.
fn files_under(dir: &Path, wanted: &dyn Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                if name != "node_modules" {
                    stack.push(path);
                }
            } else if wanted(&name) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Runs the real `oxinit check` on `file`; panics with its output unless it
/// exits 0.
fn check_passes(file: &Path, what: &str) -> String {
    let out = run(
        Command::new(bin())
            .args(["check", "--config"])
            .arg(file)
            // The examples' ${VAR:-default}s must hold without help.
            .env_remove("PORT")
            .env_remove("DB_PATH")
            .env_remove("OXINIT_CONFIG"),
        Duration::from_secs(60),
    );
    assert_eq!(
        out.code,
        ExitCode::Code(0),
        "`oxinit check` fails on {what}:\n{}{}",
        out.stdout,
        out.stderr
    );
    out.stdout
}

#[test]
fn every_example_oxfile_passes_check() {
    let oxfiles = files_under(&root().join("examples"), &|n| {
        n == "oxfile.toml" || n.ends_with(".oxfile.toml")
    });
    let names: Vec<String> = oxfiles
        .iter()
        .map(|p| p.strip_prefix(root()).unwrap().display().to_string())
        .collect();
    for expected in [
        "examples/oxfile.toml",
        "examples/demo/oxfile.toml",
        "examples/sqlite-stack/oxfile.toml",
        "examples/python-gunicorn/oxfile.toml",
        "examples/rails/oxfile.toml",
        "examples/litefs/oxfile.toml",
        "examples/oxmgr/oxfile.toml",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} is missing: {names:?}"
        );
    }
    for file in &oxfiles {
        let stdout = check_passes(file, &file.display().to_string());
        assert!(stdout.contains("\nok: "), "{stdout}");
    }
}

/// Each example directory says in its README when to use it.
#[test]
fn every_example_directory_says_when_to_use_it() {
    for oxfile in files_under(&root().join("examples"), &|n| n == "oxfile.toml") {
        let dir = oxfile.parent().unwrap();
        if dir == root().join("examples") {
            continue; // the commented reference file, described by the README
        }
        let readme = dir.join("README.md");
        let text =
            fs::read_to_string(&readme).unwrap_or_else(|e| panic!("{}: {e}", readme.display()));
        assert!(
            text.to_lowercase().contains("use it when"),
            "{} has no \"Use it when …\" line",
            readme.display()
        );
    }
}

/// The ```toml blocks of `markdown` that are oxfiles, with their line.
fn toml_snippets(markdown: &str) -> (Vec<(usize, String)>, usize) {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut snippets = Vec::new();
    let mut skipped = 0;
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_end() != "```toml" {
            i += 1;
            continue;
        }
        let marked = lines[..i]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .is_some_and(|l| l.trim() == NOT_AN_OXFILE);
        let start = i + 1;
        let mut end = start;
        while end < lines.len() && lines[end].trim_end() != "```" {
            end += 1;
        }
        assert!(
            end < lines.len(),
            "README.md:{start}: unclosed ```toml block"
        );
        if marked {
            skipped += 1;
        } else {
            snippets.push((start, lines[start..end].join("\n") + "\n"));
        }
        i = end + 1;
    }
    (snippets, skipped)
}

#[test]
fn readme_oxfile_snippets_pass_check() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let (snippets, skipped) = toml_snippets(&readme);
    assert!(
        snippets.len() >= 3,
        "only {} oxfile snippets found",
        snippets.len()
    );
    let dir = tempfile::tempdir().unwrap();
    for (line, text) in &snippets {
        let file = dir.path().join(format!("readme-line-{line}.oxfile.toml"));
        fs::write(&file, text).unwrap();
        check_passes(&file, &format!("the ```toml block at README.md:{line}"));
    }
    eprintln!(
        "checked {} README snippets, skipped {skipped} marked {NOT_AN_OXFILE}",
        snippets.len()
    );
}

/// The marker is honoured, and an unmarked partial snippet is caught.
#[test]
fn snippet_selection_follows_the_marker() {
    let text = "a\n```toml\n[processes.a]\ncommand = \"x\"\n```\n<!-- not an oxfile -->\n\n```toml\n[processes.a.health]\n```\n```sh\nls\n```\n";
    let (snippets, skipped) = toml_snippets(text);
    assert_eq!(skipped, 1);
    assert_eq!(
        snippets,
        [(2, "[processes.a]\ncommand = \"x\"\n".to_string())]
    );
}

/// Sources of the COPY/ADD instructions of a Dockerfile that come from the
/// build context (not `--from=`, not URLs), with their line.
fn copied_sources(dockerfile: &str) -> Vec<(usize, String)> {
    let mut sources = Vec::new();
    for (index, line) in dockerfile.lines().enumerate() {
        let line = line.trim();
        let Some(rest) = line
            .strip_prefix("COPY ")
            .or_else(|| line.strip_prefix("ADD "))
        else {
            continue;
        };
        let words: Vec<String> = if let Some(json) = rest.trim().strip_prefix('[') {
            serde_json::from_str::<Vec<String>>(&format!("[{json}")).unwrap()
        } else {
            rest.split_whitespace().map(String::from).collect()
        };
        if words.iter().any(|w| w.starts_with("--from=")) {
            continue;
        }
        let words: Vec<&String> = words.iter().filter(|w| !w.starts_with("--")).collect();
        for source in &words[..words.len() - 1] {
            if !source.contains("://") {
                sources.push((index + 1, source.to_string()));
            }
        }
    }
    sources
}

#[test]
fn every_file_a_dockerfile_copies_exists() {
    let mut dockerfiles = files_under(&root().join("examples"), &|n| n.starts_with("Dockerfile"));
    assert!(!dockerfiles.is_empty());
    // docker/ is built from the repository root (`docker build -f docker/Dockerfile .`).
    let docker = files_under(&root().join("docker"), &|n| n.starts_with("Dockerfile"));
    dockerfiles.extend(docker.iter().cloned());
    for dockerfile in &dockerfiles {
        let context = if docker.contains(dockerfile) {
            root()
        } else {
            dockerfile.parent().unwrap().to_path_buf()
        };
        let text = fs::read_to_string(dockerfile).unwrap();
        for (line, source) in copied_sources(&text) {
            assert!(
                context.join(&source).exists(),
                "{}:{line}: COPY {source}: no such file in the build context {}",
                dockerfile.display(),
                context.display()
            );
        }
    }
}

#[test]
fn dockerfile_sources_are_read_from_both_forms() {
    let text = "COPY --from=oxinit /oxinit /usr/local/bin/oxinit\nCOPY a b ./\nCOPY [\"c d\", \"/x\"]\nADD https://e/f.tgz /tmp/\nCOPY --chown=1:1 g /g\n";
    let got: Vec<String> = copied_sources(text).into_iter().map(|(_, s)| s).collect();
    assert_eq!(got, ["a", "b", "c d", "g"]);
}

/// The longest a SIGTERM'd oxinit runs with this config: each stop level
/// takes up to its slowest stop_timeout (services and jobs: oneshots are
/// done), the whole capped by shutdown_timeout, then orphan_grace.
fn stop_chain(config: &config::Config) -> Duration {
    let plan = config::plan(config);
    let levels: Duration = plan
        .stop_levels
        .iter()
        .map(|level| {
            level
                .iter()
                .filter_map(|name| config.process(name))
                .filter(|p| p.kind() != Kind::Oneshot)
                .map(|p| p.stop_timeout)
                .max()
                .unwrap_or_default()
        })
        .sum();
    levels.min(config.init.shutdown_timeout) + config.init.orphan_grace
}

/// `key = 15` or `key = "15s"` in fly.toml, as a duration.
fn fly_duration(fly: &toml::Table, key: &str) -> Duration {
    match fly.get(key) {
        Some(toml::Value::Integer(secs)) => Duration::from_secs(*secs as u64),
        Some(toml::Value::String(text)) => oxinit::api::units::parse_duration(text).unwrap(),
        other => panic!("fly.toml {key}: {other:?}"),
    }
}

#[test]
fn sqlite_stack_stop_chain_fits_docker_fly_and_kubernetes() {
    let dir = root().join("examples/sqlite-stack");
    let ctx = LoadContext::from_process();
    let config = config::load_with(&dir.join("oxfile.toml"), &ctx).unwrap();
    let chain = stop_chain(&config);
    assert_eq!(
        chain,
        Duration::from_secs(9),
        "the README and comments say 9s"
    );

    let fly: toml::Table =
        toml::from_str(&fs::read_to_string(dir.join("fly.toml")).unwrap()).unwrap();
    assert_eq!(fly["kill_signal"].as_str(), Some("SIGTERM"));
    let kill_timeout = fly_duration(&fly, "kill_timeout");
    assert!(
        kill_timeout > chain,
        "fly.toml kill_timeout {kill_timeout:?} <= stop chain {chain:?}"
    );
    assert!(
        kill_timeout <= Duration::from_secs(300),
        "Fly allows at most 300s"
    );
    assert_eq!(fly["mounts"]["destination"].as_str(), Some("/data"));
    assert_eq!(fly["metrics"]["port"].as_integer(), Some(9091));

    let k8s = fs::read_to_string(dir.join("k8s.yaml")).unwrap();
    let grace: Vec<u64> = k8s
        .lines()
        .filter_map(|l| l.trim().strip_prefix("terminationGracePeriodSeconds:"))
        .map(|v| v.trim().parse().unwrap())
        .collect();
    assert_eq!(
        grace.len(),
        1,
        "one terminationGracePeriodSeconds in k8s.yaml"
    );
    let grace = Duration::from_secs(grace[0]);
    assert!(
        grace > chain,
        "k8s.yaml grace {grace:?} <= stop chain {chain:?}"
    );
    for probe in ["livenessProbe:", "readinessProbe:"] {
        let at = k8s
            .find(probe)
            .unwrap_or_else(|| panic!("no {probe} in k8s.yaml"));
        assert!(
            k8s[at..].contains("path: /health"),
            "{probe} is not on /health"
        );
    }
    assert!(k8s.contains("mountPath: /data"));

    // `docker stop` waits 10s by default, and the Dockerfile does not ask
    // for more (there is no such instruction: it is a run-time flag).
    assert!(
        chain < Duration::from_secs(10),
        "stop chain {chain:?} >= docker stop's 10s"
    );
}

#[test]
fn stop_chain_counts_levels_and_caps() {
    let ctx = LoadContext::from_process();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("oxfile.toml");
    let text = "[init]\nshutdown_timeout = \"20s\"\norphan_grace = \"1s\"\n[processes.m]\ncommand = \"true\"\noneshot = true\nstop_timeout = \"1m\"\n[processes.a]\ncommand = \"a\"\nstop_timeout = \"4s\"\ndepends_on = [\"m\"]\n[processes.b]\ncommand = \"b\"\nstop_timeout = \"6s\"\ndepends_on = [\"m\"]\n[processes.c]\ncommand = \"c\"\nstop_timeout = \"5s\"\ndepends_on = [\"a\"]\n";
    fs::write(&file, text).unwrap();
    let config = config::load_with(&file, &ctx).unwrap();
    // Levels: c (5s), then a and b together (6s), then m (a oneshot: 0).
    assert_eq!(stop_chain(&config), Duration::from_secs(12));
    fs::write(&file, text.replace("\"20s\"", "\"8s\"")).unwrap();
    let config = config::load_with(&file, &ctx).unwrap();
    assert_eq!(stop_chain(&config), Duration::from_secs(9));
}
