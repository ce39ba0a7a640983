//! The blog post's oxfile (app + Litestream, no `depends_on`) as PID 1: the
//! replicator starts first, and at shutdown `api` is stopped and waited for
//! before Litestream gets its single SIGTERM, so its final sync ships the
//! app's last writes. Stand-in scripts named `node` and `litestream` keep
//! the shape of the commands (detection is by argv[0]'s basename).

mod common;
#[path = "common/supervisor.rs"]
mod supervisor;

use common::{require_root, As};
use std::os::unix::fs::symlink;
use supervisor::*;

#[test]
fn the_posts_oxfile_stops_api_before_litestream_as_pid1() {
    if !require_root("the_posts_oxfile_stops_api_before_litestream_as_pid1") {
        return;
    }
    let rig = Rig::new();
    let bin = rig.file("bin");
    std::fs::create_dir(&bin).unwrap();
    // api takes 300 ms to flush after its SIGTERM; Litestream logs its
    // arguments so the test sees it ran `replicate`.
    let node = rig.script("api", &graceful("log args $*\n", "", 300));
    let litestream = rig.script("litestream", &graceful("log args $*\n", "", 0));
    symlink(&node, bin.join("node")).unwrap();
    symlink(&litestream, bin.join("litestream")).unwrap();
    let bin = bin.display();
    let mut ox = rig.run(
        As::Pid1,
        &format!(
            r#"[processes.api]
command = "{bin}/node dist/server.js"
[processes.litestream]
command = "{bin}/litestream replicate -config /etc/litestream.yml"
"#
        ),
    );
    rig.wait_event(&ox, "api", "start");
    rig.wait_event(&ox, "litestream", "start");
    assert_eq!(
        rig.matching("litestream", "args replicate -config /etc/litestream.yml")
            .len(),
        1,
        "{}",
        rig.report(&ox)
    );
    // oxinit spawned the replicator first (its own log is in order), after
    // logging the stop budget in one line.
    let err = ox.stderr();
    assert!(
        err.contains("stop budget: api 10s + litestream 10s + orphan_grace 2s = 22s at most"),
        "{}",
        rig.report(&ox)
    );
    let (l, a) = (err.find("started litestream"), err.find("started api"));
    assert!(
        matches!((l, a), (Some(l), Some(a)) if l < a),
        "{}",
        rig.report(&ox)
    );

    ox.signal(libc::SIGTERM);
    rig.expect_exit(&mut ox, 0);
    assert_eq!(rig.signals_seen("api"), ["TERM"], "{}", rig.report(&ox));
    assert_eq!(
        rig.signals_seen("litestream"),
        ["TERM"],
        "Litestream skips its final sync when signalled twice\n{}",
        rig.report(&ox)
    );
    assert_not_after(&rig, ("api", "exit"), ("litestream", "got TERM"));
}
