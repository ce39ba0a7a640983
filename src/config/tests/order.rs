//! Replicators start first and stop last without `depends_on` (issue 10).

use super::*;

/// The oxfile of the blog post, exactly as written.
const POST: &str = r#"[processes.api]
command = "node dist/server.js"
[processes.litestream]
command = "litestream replicate -config /etc/litestream.yml"
"#;

#[test]
fn the_posts_oxfile_starts_litestream_first_and_stops_it_last() {
    let f = Fixture::new();
    let config = f.ok(POST);
    let plan = plan(&config);
    assert_eq!(
        plan.start_levels,
        vec![strings(&["litestream"]), strings(&["api"])]
    );
    assert_eq!(
        plan.stop_levels,
        vec![strings(&["api"]), strings(&["litestream"])]
    );
    let text = render_check(&config);
    assert_contains(
        &text,
        "stop order (reverse of boot):\n  1. api\n  2. litestream\n  litestream is a replicator (its command is litestream replicate), so it starts before and stops after api; set replicator = false to opt out\n",
    );
    assert_contains(
        &text,
        "  after:     litestream (implied by a replicator: waits until it is started)\n",
    );
}

#[test]
fn replicator_key_turns_detection_off_and_on() {
    let f = Fixture::new();
    let off = f.ok(&format!("{POST}replicator = false\n"));
    assert_eq!(
        plan(&off).start_levels,
        vec![strings(&["api", "litestream"])]
    );
    assert!(!render_check(&off).contains("is a replicator"));
    let sidecar = f.ok(
        "[processes.api]\ncommand = \"api\"\n[processes.backup]\ncommand = \"backup-loop\"\nreplicator = true\n",
    );
    assert_eq!(
        plan(&sidecar).stop_levels,
        vec![strings(&["api"]), strings(&["backup"])]
    );
    assert_contains(
        &render_check(&sidecar),
        "  backup is a replicator (replicator = true), so it starts before and stops after api; remove replicator = true to opt out\n",
    );
}

#[test]
fn a_replicator_without_depends_on_waits_for_the_boot_oneshots() {
    let f = Fixture::new();
    let config = f.ok(&format!(
        "[processes.restore]\ncommand = \"litestream restore -if-replica-exists /data/app.db\"\noneshot = true\n{POST}"
    ));
    assert_eq!(
        plan(&config).start_levels,
        vec![
            strings(&["restore"]),
            strings(&["litestream"]),
            strings(&["api"])
        ]
    );
    assert_contains(
        &render_check(&config),
        ", and starts once restore succeeded;",
    );
}

#[test]
fn only_a_service_can_be_a_replicator() {
    let f = Fixture::new();
    for (extra, what) in [
        ("oneshot = true\nreplicator = true\n", "a oneshot"),
        (
            "schedule = \"@daily\"\nreplicator = true\n",
            "a scheduled job",
        ),
    ] {
        let (line, _, message) =
            f.problem(&format!("[processes.backup]\ncommand = \"x\"\n{extra}"));
        assert_eq!(line, 4, "{what}");
        assert_contains(
            &message,
            &format!("[processes.backup] replicator: {what} runs to completion"),
        );
    }
    let (_, _, message) = f.problem("[processes.x]\ncommand = \"x\"\nreplicator = \"yes\"\n");
    assert_contains(&message, "expected true or false");
}
