//! Before the loop: oxinit settles in as PID 1 (or as a child subreaper),
//! leaves the directory it was started in and opens the signalfd, once,
//! before anything is spawned.

use crate::sys::signals::Signals;
use std::path::PathBuf;

/// oxinit settled in as PID 1 (or a subreaper): its signals, and the
/// directory it was started in (processes without a `cwd` run there).
pub struct Settled {
    pub signals: Signals,
    pub launch_dir: PathBuf,
}

/// Becomes the reaper of orphans, leaves the launch directory (so oxinit
/// pins no mount) and opens the signalfd. Err(exit code) when signals
/// cannot be read.
pub fn settle() -> Result<Settled, i32> {
    use crate::sys::pid1;
    if !pid1::is_pid1() {
        if let Err(e) = pid1::become_subreaper() {
            tracing::warn!(
                "cannot become a child subreaper ({e}): orphans will go to the real init"
            );
        }
    }
    let launch_dir = pid1::launch_dir();
    pid1::chdir_root();
    match Signals::open() {
        Ok(signals) => Ok(Settled {
            signals,
            launch_dir,
        }),
        Err(e) => {
            tracing::error!("cannot read signals (signalfd): {e}");
            Err(crate::exit::INTERNAL)
        }
    }
}
