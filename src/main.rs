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

use oxinit::cli::{Cli, Command};
use oxinit::{config, control, exit, single, supervisor, sys};
use std::path::Path;

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
        oxinit::diag::init("warn", oxinit::diag::Output::Direct);
        std::process::exit(check(config.as_deref(), *strict));
    }
    let single_mode = cli.command.is_none() && !cli.argv.is_empty();
    // From here on oxinit is (or stands in for) PID 1: its own lines never
    // wait on stderr (a reader that stops must not stop supervision).
    oxinit::diag::init(
        if single_mode { "warn" } else { "info" },
        oxinit::diag::Output::Queued,
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
    oxinit::diag::flush();
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
            oxinit::diag::flush();
            sys::pid1::exit_now(code)
        }
        None => supervise(None),
        Some(Command::Run { config }) => supervise(config.as_deref()),
        // `check` and the control commands are handled in main, without a runtime.
        Some(_) => exit::INTERNAL,
    }
}

/// Finds and loads the oxfile; a bad one is printed whole and exits 78.
fn load_config(explicit: Option<&Path>, lookups: config::Lookups) -> Result<config::Config, i32> {
    let ctx = config::LoadContext {
        lookups,
        ..config::LoadContext::from_process()
    };
    let loaded = config::locate(explicit).and_then(|path| config::load_with(&path, &ctx));
    loaded.map_err(|e| {
        oxinit::say!("{e}");
        exit::CONFIG
    })
}

fn supervise(explicit: Option<&Path>) -> i32 {
    let config = match load_config(explicit, config::Lookups::Run) {
        Ok(c) => c,
        Err(code) => return code,
    };
    for w in &config.warnings {
        tracing::warn!(
            "{}:{}:{}: {}",
            config.path.display(),
            w.line,
            w.col,
            w.message
        );
    }
    let count = config.processes.len();
    tracing::info!(
        "oxinit {} supervising {count} process{} from {}",
        env!("CARGO_PKG_VERSION"),
        if count == 1 { "" } else { "es" },
        config.path.display()
    );
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            oxinit::say!("cannot start the event loop: {e}");
            return exit::INTERNAL;
        }
    };
    rt.block_on(supervisor::run(config))
}

fn check(explicit: Option<&Path>, strict: bool) -> i32 {
    let lookups = match strict {
        true => config::Lookups::Strict,
        false => config::Lookups::Check,
    };
    match load_config(explicit, lookups) {
        Ok(config) => {
            if let Some(native) = &config.translation {
                // An Oxmgr-format file: the same file in oxinit's own
                // format, for the user to keep (it parses to the same plan).
                println!(
                    "{}\n{native}{}\n",
                    config::TRANSLATION_BEGIN,
                    config::TRANSLATION_END
                );
            }
            print!("{}", config::render_check(&config));
            let mut code = 0;
            for db in &config.sqlite.databases {
                if let Some(warning) = oxinit::sqlite::volume_check(db) {
                    if config.sqlite.require_volume {
                        println!("error: {warning}; [sqlite] require_volume = true: `run` would not start");
                        code = exit::CONFIG;
                    } else {
                        println!("warning: {warning}");
                    }
                }
            }
            let places = control::location::Places::from_process();
            let socket = control::location::choose(config.init.control_socket.as_deref(), &places);
            println!(
                "control socket here: {} ({})",
                socket.place.path.display(),
                socket.why
            );
            if let Some(dir) = &socket.place.private_dir {
                if let Err(e) = control::location::check_private(dir, places.uid) {
                    println!("warning: {e}");
                }
            }
            let roots = oxinit::cgroup::Roots::default();
            match oxinit::cgroup::detect(config.init.memory_enforcement, &roots, std::process::id())
            {
                Ok(e) => println!("memory limits here: {} ({})", e.mode().as_str(), e.reason()),
                Err(e) => {
                    println!("memory limits here: unusable: {e}");
                    return exit::CONFIG;
                }
            }
            code
        }
        Err(code) => code,
    }
}
