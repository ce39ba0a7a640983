//! The stop budget (issue 10): the worst-case shutdown, stop timeouts that
//! do not fit in shutdown_timeout, and the platforms' grace.

use super::*;
use crate::config::budget::{platform_warning, read_fly_toml, stop_budget};

/// The README's essentials example as it was: api 15s then litestream 30s
/// against the default shutdown_timeout of 30s.
const SQLITE_STACK: &str = r#"[processes.litestream]
command = "litestream replicate -config /etc/litestream.yml"
stop_timeout = "30s"

[processes.api]
command = ["node", "dist/server.js"]
depends_on = ["litestream"]
stop_timeout = "15s"
"#;

#[test]
fn a_stop_timeout_that_cannot_fit_in_shutdown_timeout_is_a_warning_with_the_numbers() {
    let f = Fixture::new();
    let config = f.ok(SQLITE_STACK);
    assert_eq!(config.warnings.len(), 1, "{:#?}", config.warnings);
    let warning = &config.warnings[0];
    assert_eq!((warning.line, warning.col), (3, 16));
    assert_eq!(
        warning.message,
        "[processes.litestream] stop_timeout: 30s cannot be honoured: it stops after api (15s): up to 15s, so it may need until 45s of the shutdown, but [init] shutdown_timeout is 30s: it would get SIGKILL after 15s; raise shutdown_timeout to at least 47s or lower the stop timeouts"
    );
    let budget = stop_budget(&config.processes, &config.init, &plan(&config));
    assert_eq!(
        budget.describe(),
        "api 15s + litestream 30s = 45s, cut at shutdown_timeout 30s by a SIGKILL for all = 30s at most"
    );
    // Enough room: no warning, and the sum plus orphan_grace is the total.
    let config = f.ok(&format!(
        "[init]\nshutdown_timeout = \"50s\"\n{SQLITE_STACK}"
    ));
    assert!(config.warnings.is_empty(), "{:#?}", config.warnings);
    let budget = stop_budget(&config.processes, &config.init, &plan(&config));
    assert_eq!(
        budget.describe(),
        "api 15s + litestream 30s + orphan_grace 2s = 47s at most"
    );
    // A level is as long as its slowest process; oneshots are not counted.
    let config = f.ok(
        "[processes.m]\ncommand = \"m\"\noneshot = true\nstop_timeout = \"20s\"\n[processes.a]\ncommand = \"a\"\nstop_timeout = \"3s\"\n[processes.b]\ncommand = \"b\"\nstop_timeout = \"4s\"\n",
    );
    let budget = stop_budget(&config.processes, &config.init, &plan(&config));
    assert_eq!(budget.describe(), "a/b 4s + orphan_grace 2s = 6s at most");
}

#[test]
fn the_readme_example_fits_its_shutdown_timeout() {
    let f = Fixture::new();
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find("the essentials:\n\n```toml\n")
        .expect("the essentials block")
        + 25;
    let block = &readme[start..start + readme[start..].find("```").unwrap()];
    let config = f.ok(block);
    assert!(config.warnings.is_empty(), "{:#?}", config.warnings);
    assert!(block.contains("shutdown_timeout"), "{block}");
}

fn budget_of(f: &Fixture, text: &str) -> crate::config::budget::StopBudget {
    let config = f.ok(text);
    stop_budget(&config.processes, &config.init, &plan(&config))
}

#[test]
fn the_total_is_checked_against_docker_fly_and_kubernetes() {
    let f = Fixture::new();
    let budget = budget_of(
        &f,
        &format!("[init]\nshutdown_timeout = \"50s\"\n{SQLITE_STACK}"),
    );
    let warning = platform_warning(&budget, None).expect("47s is over all three");
    assert_contains(
        &warning.message,
        "stop budget: a shutdown can take 47s (api 15s + litestream 30s + orphan_grace 2s), longer than Docker's 10s (docker stop -t 48, compose stop_grace_period: 48s), Fly's default kill_timeout of 5s (kill_timeout = 48 in fly.toml), Kubernetes' 30s (terminationGracePeriodSeconds: 48), after which",
    );
    // 12s: Kubernetes' 30s is enough, not Docker's nor Fly's.
    let budget = budget_of(&f, "[processes.api]\ncommand = \"x\"\n");
    let message = platform_warning(&budget, None).unwrap().message;
    assert!(!message.contains("Kubernetes"), "{message}");
    assert_contains(&message, "Docker's 10s (docker stop -t 13");
    // Within 5s: nothing to say.
    let budget = budget_of(
        &f,
        "[init]\norphan_grace = \"1s\"\n[processes.api]\ncommand = \"x\"\nstop_timeout = \"3s\"\n",
    );
    assert_eq!(platform_warning(&budget, None), None);
}

#[test]
fn a_fly_toml_next_to_the_oxfile_gives_flys_kill_timeout_alone() {
    let f = Fixture::new();
    let budget = budget_of(&f, "[processes.api]\ncommand = \"x\"\n");
    let mut problems = Vec::new();
    assert_eq!(read_fly_toml(f.dir.path(), &mut problems), None);
    for (text, seconds) in [
        (
            "app = \"x\"\nkill_signal = \"SIGINT\"\nkill_timeout = 20\n",
            20,
        ),
        (
            "kill_timeout = \"20s\"\n[http_service]\ninternal_port = 8080\n",
            20,
        ),
        ("kill_timeout = \"1m30s\"\n", 90),
    ] {
        f.write("fly.toml", text);
        let fly = read_fly_toml(f.dir.path(), &mut problems).unwrap();
        assert!(problems.is_empty(), "{problems:#?}");
        assert_eq!(
            fly.kill_timeout,
            Some(Duration::from_secs(seconds)),
            "{text}"
        );
        // 12s fits in Fly's 20s; Docker and Kubernetes are not the platform.
        assert_eq!(platform_warning(&budget, Some(&fly)), None, "{text}");
    }
    f.write("fly.toml", "app = \"x\"\n");
    let fly = read_fly_toml(f.dir.path(), &mut problems).unwrap();
    let message = platform_warning(&budget, Some(&fly)).unwrap().message;
    assert_contains(&message, "longer than Fly's default kill_timeout of 5s (");
    assert_contains(
        &message,
        "fly.toml sets none) (set kill_timeout = 13 in fly.toml)",
    );
    assert!(!message.contains("Docker"), "{message}");

    // A kill_signal oxinit does not stop on, and a kill_timeout it cannot read.
    f.write(
        "fly.toml",
        "kill_signal = \"SIGUSR1\"\nkill_timeout = \"soon\"\n",
    );
    read_fly_toml(f.dir.path(), &mut problems).unwrap();
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert_contains(
        &problems[0].message,
        "kill_timeout = \"soon\": invalid duration",
    );
    assert_contains(
        &problems[1].message,
        "kill_signal = \"SIGUSR1\" does not make oxinit shut down",
    );
}

#[test]
fn check_prints_the_budget_and_the_platform_warning() {
    let f = Fixture::new();
    f.write("fly.toml", "kill_timeout = 5\n");
    let config = f.ok(&format!(
        "[init]\nshutdown_timeout = \"50s\"\n{SQLITE_STACK}"
    ));
    let text = render_check(&config);
    assert_contains(
        &text,
        "\nstop budget: api 15s + litestream 30s + orphan_grace 2s = 47s at most\n",
    );
    assert_contains(&text, "longer than Fly's kill_timeout of 5s in ");
    assert_contains(&text, "(2 services, 0 oneshots, 0 jobs), 1 warning\n");
}
