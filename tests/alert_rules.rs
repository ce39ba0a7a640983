//! The alert rules users copy (examples/prometheus/alerts.yml) are valid
//! and fire when they should: `promtool check rules` and `promtool test
//! rules` on their unit tests. Skipped without promtool, except under CI.

use std::path::Path;
use std::process::Command;

fn promtool(args: &[&str]) -> Option<(bool, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/prometheus");
    match Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
    {
        Ok(out) => {
            let mut said = String::from_utf8_lossy(&out.stdout).into_owned();
            said.push_str(&String::from_utf8_lossy(&out.stderr));
            Some((out.status.success(), said))
        }
        Err(e) => {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "promtool is required under CI: {e}"
            );
            eprintln!("SKIP: promtool not available ({e}); apt-get install prometheus");
            None
        }
    }
}

#[test]
fn alert_rules_are_valid() {
    if let Some((ok, said)) = promtool(&["check", "rules", "alerts.yml"]) {
        assert!(ok, "{said}");
        assert!(said.contains("SUCCESS"), "{said}");
    }
}

#[test]
fn alert_rules_fire_as_their_tests_expect() {
    if let Some((ok, said)) =
        promtool(&["test", "rules", "alerts_test.yml", "alerts_jobs_test.yml"])
    {
        assert!(ok, "{said}");
    }
}
