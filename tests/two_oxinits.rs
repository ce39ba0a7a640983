//! Two oxinits in one cgroup (parallel tests on a CI host, a second instance
//! started by hand): a process cgroup is named `oxinit-NAME` beside oxinit's
//! own cgroup, and at boot oxinit removes such cgroups as a previous run's
//! leftovers, killing what is inside. One that holds the processes of another
//! running oxinit is not a leftover: it is left alone, with a line that says
//! why, and a process of the same name runs without its cgroup rather than
//! join the other's. Real cgroup v1 (this machine's hybrid layout), as root.

mod common;
#[path = "common/supervisor.rs"]
mod supervisor;

use common::{is_alive, require_root, As};
use supervisor::*;

#[test]
fn a_second_oxinit_in_the_same_cgroup_leaves_the_first_ones_cgroups_alone() {
    if !require_root("a_second_oxinit_in_the_same_cgroup_leaves_the_first_ones_cgroups_alone") {
        return;
    }
    if !std::path::Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "needs the v1 memory hierarchy, and CI=true forbids skipping"
        );
        println!("SKIP: needs the v1 memory hierarchy at /sys/fs/cgroup/memory");
        return;
    }
    // Names no other test uses: every test of this run shares the cgroup.
    let calm = format!("calm{}", std::process::id());
    let other = format!("other{}", std::process::id());
    let (first, second) = (Rig::new(), Rig::new());
    let service = |rig: &Rig, name: &str| {
        format!(
            "[processes.{name}]\ncommand = \"{}\"\nlimits = {{ memory = \"64M\" }}\n",
            rig.service(name, 0)
        )
    };
    let mut a = first.run(As::Child, &format!("{INIT}\n{}", service(&first, &calm)));
    first.wait_event(&a, &calm, "start");
    let calm_pid = first.pid_of(&calm);
    let calm_cgroup = std::fs::read_to_string(format!("/proc/{calm_pid}/cgroup")).unwrap();
    assert!(
        calm_cgroup.contains(&format!("oxinit-{calm}")),
        "the first oxinit's process is in its cgroup:\n{calm_cgroup}"
    );

    // The second one boots beside it, with a process of another name and
    // one of the same name.
    let mut b = second.run(
        As::Child,
        &format!(
            "{INIT}\n{}\n{}",
            service(&second, &other),
            service(&second, &calm)
        ),
    );
    second.wait_event(&b, &other, "start");
    second.wait_event(&b, &calm, "start");
    assert!(
        is_alive(calm_pid) && first.count(&calm, "start") == 1,
        "the second oxinit killed the first one's process\n{}",
        first.report(&a)
    );
    let said = b.stderr();
    assert!(
        said.contains(&format!("oxinit-{calm} belongs to another running oxinit")),
        "{said}"
    );
    let same_name = second.pid_of(&calm);
    let its_cgroup = std::fs::read_to_string(format!("/proc/{same_name}/cgroup")).unwrap();
    assert!(
        !its_cgroup.contains(&format!("oxinit-{calm}")),
        "the second {calm} joined the first one's cgroup:\n{its_cgroup}"
    );

    // Each stops its own; the first one's cgroup goes with it.
    b.signal(libc::SIGTERM);
    second.expect_exit(&mut b, 0);
    assert!(
        is_alive(calm_pid),
        "the second oxinit's stop killed the first one's process"
    );
    a.signal(libc::SIGTERM);
    first.expect_exit(&mut a, 0);
}
