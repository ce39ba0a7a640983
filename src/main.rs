//! The binary: block signals, parse the command line, run the mode, exit.
//!
//! `main` is a plain C entry point (`#![no_main]`), not std's `fn main`: std's
//! runtime set-up reads /proc/self/maps to place a stack guard, and that is the
//! slowest step of a PID 1's start in a fresh /proc (every container's). Std's
//! other start-up work that matters here is done below: fds 0–2 are made sure
//! to be open, and SIGPIPE is blocked with every other signal (std ignores it).
//! `std::env::args` works without std's runtime on glibc.
#![no_main]
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

use oxinit::api::cli::{Cli, Command};
use oxinit::api::{commands, control, exit, single, sys};

// The one exception to the crate's unsafe_code rule: `no_mangle` exports
// the C symbol `main`, which nothing else in the binary defines (no_main).
#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    if let Err(e) = sys::stdio::ensure_open() {
        // Nothing to print to, maybe; the exit code still tells.
        oxinit::say!("{e}");
        std::process::exit(exit::INTERNAL);
    }
    // First of all: from here on no signal can kill us by its default action or
    // get lost; they wait in the kernel until the event loop reads them.
    if let Err(e) = sys::signals::block_all() {
        oxinit::say!("cannot block signals: {e}");
        std::process::exit(exit::INTERNAL);
    }
    let cli = Cli::from_env();
    if let Some(invocation) = cli.command.as_ref().and_then(Command::control) {
        sys::signals::unblock_all();
        let lookup = invocation.lookup();
        std::process::exit(control::client(
            invocation.request,
            &lookup,
            invocation.json,
        ));
    }
    if let Some(Command::Check { config, strict }) = &cli.command {
        sys::signals::unblock_all();
        oxinit::api::diag::init("warn", oxinit::api::diag::Output::Direct);
        std::process::exit(commands::check(config.as_deref(), *strict));
    }
    let single_mode = cli.command.is_none() && !cli.argv.is_empty();
    // From here on oxinit is (or stands in for) PID 1: its own lines never
    // wait on stderr (a reader that stops must not stop supervision).
    oxinit::api::diag::init(
        if single_mode { "warn" } else { "info" },
        oxinit::api::diag::Output::Queued,
    );

    let code = std::panic::catch_unwind(|| run(cli)).unwrap_or_else(|_| {
        // A bug in oxinit must not turn into the kernel SIGKILLing every process
        // (what happens when PID 1 dies): give them TERM and a grace first.
        oxinit::say!("internal error (panic); stopping every process");
        sys::pid1::emergency_stop(std::time::Duration::from_secs(5));
        exit::INTERNAL
    });
    // What is still queued gets about a second, not longer: a stalled log
    // reader must not keep the container from stopping.
    oxinit::api::diag::flush();
    std::process::exit(code);
}

fn run(cli: Cli) -> i32 {
    match cli.command {
        // Single-command mode needs no event loop (see single.rs).
        None if !cli.argv.is_empty() => {
            let code = single::run(single::Options {
                argv: cli.argv,
                grace: cli.grace,
                stop_timeout: cli.stop_timeout,
            });
            oxinit::api::diag::flush();
            sys::pid1::exit_now(code)
        }
        None => commands::supervise(None),
        Some(Command::Run { config }) => commands::supervise(config.as_deref()),
        // `check` and the control commands are handled in main, without a runtime.
        Some(_) => exit::INTERNAL,
    }
}
