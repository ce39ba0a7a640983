//! What supervisor mode sets up before the first process starts: memory-limit
//! enforcement, the SQLite volume check and the held sockets. Problems that
//! make the oxfile unusable here (`memory_enforcement = "cgroup"` without
//! writable cgroups, `require_volume` on the container's own layer, a
//! `listen` address that cannot be bound) stop the boot with exit code 78. The metrics server and the control socket are the wiring's
//! (`crate::wiring`).

use crate::cgroup::{self, Enforcement, Roots};
use crate::config::Config;
use crate::snapshot::MemoryEnforcement;

/// What the boot found.
pub struct Boot {
    /// Some when processes with limits get cgroups (v1/v2); None for polling
    /// or when no process has limits.
    pub cgroups: Option<Enforcement>,
    pub memory_mode: MemoryEnforcement,
    /// Every process's `listen`, bound and held.
    pub sockets: super::sockets::HeldSockets,
}

/// Sets memory enforcement up and checks the volumes; Err(exit code) when
/// the boot must not go on.
pub fn prepare(config: &Config) -> Result<Boot, i32> {
    let plan = crate::config::plan(config);
    let budget = crate::config::budget::stop_budget(&config.processes, &config.init, &plan);
    tracing::info!("stop budget: {}", budget.describe());
    let (cgroups, memory_mode) = memory(config)?;
    match crate::sqlite::check_volumes(&config.sqlite.databases, config.sqlite.require_volume) {
        Ok(warnings) => warnings.iter().for_each(|w| tracing::warn!("{w}")),
        Err(refused) => {
            tracing::error!("{refused}");
            return Err(crate::exit::CONFIG);
        }
    }
    let sockets = super::sockets::bind_all(config).map_err(|e| {
        tracing::error!("{e}");
        crate::exit::CONFIG
    })?;
    Ok(Boot {
        cgroups,
        memory_mode,
        sockets,
    })
}

/// The snapshot's and metrics' word for a cgroup mode.
fn mode_word(mode: cgroup::Mode) -> MemoryEnforcement {
    match mode {
        cgroup::Mode::V2 => MemoryEnforcement::Cgroup2,
        cgroup::Mode::V1 => MemoryEnforcement::Cgroup1,
        cgroup::Mode::Poll => MemoryEnforcement::Poll,
    }
}

/// Chooses how memory limits are enforced. Cgroups are touched only when some
/// process has limits: an oxfile without limits changes nothing on the host.
fn memory(config: &Config) -> Result<(Option<Enforcement>, MemoryEnforcement), i32> {
    let roots = Roots::default();
    let requested = config.init.memory_enforcement;
    let limited = config
        .processes
        .iter()
        .any(|p| p.limits != Default::default());
    if !limited {
        let mode = cgroup::detect(requested, &roots, std::process::id())
            .map(|e| e.mode())
            .unwrap_or(cgroup::Mode::Poll);
        return Ok((None, mode_word(mode)));
    }
    match cgroup::setup(requested, &roots, std::process::id()) {
        Ok((enforcement, prepared)) => {
            let mode = enforcement.mode();
            tracing::info!(
                "memory limits: {} ({})",
                mode.as_str(),
                enforcement.reason()
            );
            if !prepared.leftovers.removed.is_empty() {
                tracing::info!(
                    "removed {} cgroups left by a previous run",
                    prepared.leftovers.removed.len()
                );
            }
            let cgroups = (mode != cgroup::Mode::Poll).then_some(enforcement);
            Ok((cgroups, mode_word(mode)))
        }
        Err(e) => {
            tracing::error!("{e}");
            Err(crate::exit::CONFIG)
        }
    }
}
