//! The two commands that read an oxfile: `run` (supervisor mode: load,
//! then the event loop on a current-thread runtime, see `crate::wiring`)
//! and `check` (load, print the plan and what this machine offers).

use crate::{config, control, exit};
use std::path::Path;

/// Finds and loads the oxfile; a bad one is printed whole and exits 78.
fn load_config(explicit: Option<&Path>, lookups: config::Lookups) -> Result<config::Config, i32> {
    let ctx = config::LoadContext {
        lookups,
        ..config::LoadContext::from_process()
    };
    let loaded = config::locate(explicit).and_then(|path| config::load_with(&path, &ctx));
    loaded.map_err(|e| {
        crate::say!("{e}");
        exit::CONFIG
    })
}

pub fn supervise(explicit: Option<&Path>) -> i32 {
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
            crate::say!("cannot start the event loop: {e}");
            return exit::INTERNAL;
        }
    };
    rt.block_on(crate::wiring::supervise(config))
}

pub fn check(explicit: Option<&Path>, strict: bool) -> i32 {
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
            // The same check `run` makes at boot, so `check` fails where `run` would.
            let volumes = crate::sqlite::check_volumes(
                &config.sqlite.databases,
                config.sqlite.require_volume,
            );
            let code = match volumes {
                Ok(warnings) => {
                    warnings.iter().for_each(|w| println!("warning: {w}"));
                    0
                }
                Err(refused) => {
                    println!("error: {refused}");
                    exit::CONFIG
                }
            };
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
            let roots = crate::cgroup::Roots::default();
            match crate::cgroup::detect(config.init.memory_enforcement, &roots, std::process::id())
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
