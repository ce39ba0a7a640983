//! Every raw system call of oxinit lives here, the only module allowed `unsafe`
//! (the crate root denies it everywhere else): the rest
//! of the crate calls these small, safe functions.
//!
//! - [`signals`]: all signals are blocked and read from a signalfd, so nothing is
//!   lost between start-up and the event loop, and SIGCHLDs coalesce safely.
//! - [`reap`]: the one reaper (`waitpid(-1, WNOHANG)` until nothing is left).
//! - [`spawn`]: fork/exec of a child in its own session, with a clean signal state;
//!   [`exec`]: the $PATH search and argv/envp it execs with (never via /bin/sh).
//! - [`kill`]: signalling process groups, every process, or a list of pids.
//! - [`listen`]: the listening sockets oxinit holds for a process (`listen`),
//!   bound at boot; [`spawn`] passes them on fds 3, 4, … (`LISTEN_FDS`).
//! - [`pid1`]: the duties of PID 1 / a subreaper (tty hand-over, chdir, /proc scans).
//! - [`stdio`]: fds 0–2 are open before oxinit opens anything of its own.

// The crate root denies unsafe code everywhere else; each block here carries
// a `// SAFETY:` comment (clippy::undocumented_unsafe_blocks).
#![allow(unsafe_code)]

pub(crate) mod exec;
pub(crate) mod kill;
pub mod listen;
pub mod pid1;
pub(crate) mod reap;
pub mod signals;
pub mod spawn;
pub mod stdio;
pub(crate) mod wakeup;
