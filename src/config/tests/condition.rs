//! `when` and `[processes.NAME.health] type = "mount"`.

use std::path::PathBuf;

use super::*;

const MIGRATE: &str = "[processes.migrate]\ncommand = \"x\"\noneshot = true\n";

#[test]
fn when_takes_paths_that_exist_or_are_missing_all_of_which_must_hold() {
    let f = Fixture::new();
    let config = f.ok(&format!(
        "{MIGRATE}when = {{ missing = \"/litefs/.primary\" }}\n\
         [processes.backup]\ncommand = \"x\"\nschedule = \"@every 1h\"\n\
         [processes.backup.when]\nexists = [\"/data/./app.db\", \"/${{GREETING}}\"]\nmissing = \"/litefs/.primary\"\n"
    ));
    assert_eq!(
        config.process("migrate").unwrap().when,
        [Condition::Missing(PathBuf::from("/litefs/.primary"))]
    );
    assert_eq!(
        config.process("backup").unwrap().when,
        [
            Condition::Exists(PathBuf::from("/data/app.db")),
            Condition::Exists(PathBuf::from("/hello world")),
            Condition::Missing(PathBuf::from("/litefs/.primary")),
        ]
    );
    let plan = render_check(&config);
    assert_contains(&plan, "  when:      missing = \"/litefs/.primary\", checked when it would start; else it is skipped, and what depends on it starts as if it had succeeded");
    assert_contains(&plan, "exists = \"/data/app.db\" and exists = \"/hello world\" and missing = \"/litefs/.primary\", checked when it would start; else that run is skipped");
}

#[test]
fn a_dependent_of_a_conditional_oneshot_waits_for_its_success_or_its_skip() {
    let f = Fixture::new();
    let config = f.ok(&format!(
        "{MIGRATE}when = {{ missing = \"/litefs/.primary\" }}\n[processes.app]\ncommand = \"x\"\ndepends_on = [\"migrate\"]\n"
    ));
    assert_contains(
        &render_check(&config),
        "after:     migrate (waits for its success, or its skip)",
    );
}

#[test]
fn bad_conditions_say_what_to_write() {
    let f = Fixture::new();
    let cases: &[(&str, (usize, usize), &str)] = &[
        (
            "when = { missing = \"\" }",
            (4, 20),
            "[processes.migrate.when] missing: empty path; write an absolute path such as \"/litefs/.primary\"",
        ),
        (
            "when = { exists = \"litefs/.primary\" }",
            (4, 19),
            "[processes.migrate.when] exists: \"litefs/.primary\" is relative; write it absolute, such as \"/litefs/.primary\" (it is checked where the process runs, not next to the oxfile)",
        ),
        (
            "when = { exist = \"/a\" }",
            (4, 10),
            "unknown key \"exist\" in [processes.migrate.when]; did you mean \"exists\"? valid keys: exists, missing",
        ),
        (
            "when = {}",
            (4, 8),
            "[processes.migrate] when: no condition; write when = { missing = \"/litefs/.primary\" }",
        ),
        (
            "when = { exists = [] }",
            (4, 19),
            "[processes.migrate.when] exists: empty list;",
        ),
        (
            "when = { exists = 3 }",
            (4, 19),
            "[processes.migrate.when] exists: expected a path such as \"/litefs/.primary\", or a list of paths",
        ),
        (
            "when = \"/litefs/.primary\"",
            (4, 8),
            "[processes.migrate] when: expected a table such as when = { missing = \"/litefs/.primary\" }",
        ),
    ];
    for (line, (l, c), message) in cases {
        let (line_no, col, text) = f.problem(&format!("{MIGRATE}{line}\n"));
        assert_eq!((line_no, col), (*l, *c), "{line}: {text}");
        assert_contains(&text, message);
    }
}

#[test]
fn a_service_cannot_have_a_condition() {
    let f = Fixture::new();
    let (line, col, message) =
        f.problem("[processes.app]\ncommand = \"x\"\nwhen = { exists = \"/a\" }\n");
    assert_eq!((line, col), (3, 8));
    assert_contains(&message, "[processes.app] when: only a oneshot or a scheduled job can have a condition, checked each time a run starts; a service runs as long as the container does");
    assert_contains(&message, "set oneshot = true");
}

#[test]
fn a_mount_check_needs_an_absolute_path() {
    let f = Fixture::new();
    let head = "[processes.litefs]\ncommand = \"litefs mount\"\n[processes.litefs.health]\ntype = \"mount\"\n";
    let config = f.ok(&format!("{head}path = \"/litefs/\"\ntimeout = \"1s\"\n"));
    let health = config.process("litefs").unwrap().health.clone().unwrap();
    assert_eq!(
        health.check,
        HealthCheck::Mount {
            path: PathBuf::from("/litefs")
        }
    );
    assert_eq!(health.check.type_name(), "mount");
    assert_contains(
        &render_check(&config),
        "health:    mount at /litefs, healthy when it is mounted and a stat and a directory read answer",
    );
    let (line, col, message) = f.problem(head);
    assert_eq!((line, col), (3, 19));
    assert_eq!(
        message,
        "[processes.litefs.health]: a \"mount\" check needs path; add path = \"/litefs\""
    );
    let (line, col, message) = f.problem(&format!("{head}path = \"litefs\"\n"));
    assert_eq!((line, col), (5, 8));
    assert_contains(
        &message,
        "[processes.litefs.health] path: \"litefs\" is relative",
    );
    let (_, _, message) = f.problem(&format!(
        "{head}path = \"/litefs\"\nurl = \"http://127.0.0.1:1/\"\n"
    ));
    assert_contains(
        &message,
        "url belongs to type = \"http\", not to a \"mount\" check; valid keys for type = \"mount\": type, path, interval",
    );
}
