//! Oxmgr's keys, declared once: which ones oxinit maps onto its own model,
//! and which it cannot honour (each with the reason and what to do
//! instead). A key in neither list is not Oxmgr's either, and gets the
//! usual "unknown key" error with the valid list.

/// Top-level keys of Oxmgr's format that oxinit reads.
pub(crate) const TOP_KEYS: &[&str] = &["version", "defaults", "apps"];

/// Keys of an `[[apps]]` entry (and, but for `name`, `command` and
/// `disabled`, of `[defaults]`) that oxinit honours, with the native key
/// each becomes.
pub(crate) const MAPPED: &[(&str, &str)] = &[
    ("name", "[processes.NAME]"),
    ("command", "command"),
    ("cwd", "cwd"),
    ("env", "env"),
    ("restart_policy", "restart"),
    ("max_restarts", "max_restarts"),
    ("restart_delay_secs", "restart_delay and restart_delay_max"),
    ("stop_signal", "stop_signal"),
    ("stop_timeout_secs", "stop_timeout"),
    ("depends_on", "depends_on"),
    ("health_cmd", "health.type = \"exec\", health.command"),
    ("health_interval_secs", "health.interval"),
    ("health_timeout_secs", "health.timeout"),
    ("health_max_failures", "health.retries"),
    ("max_memory_mb", "limits.memory"),
    ("disabled", "(the entry is left out)"),
];

/// Keys only an `[[apps]]` entry may hold.
pub(crate) const APP_ONLY: &[&str] = &["name", "command", "disabled"];

/// Oxmgr's keys oxinit cannot honour, with why and what to do instead. They
/// are errors, not warnings: running the file while silently dropping
/// `cluster_mode` or `instances` would run something else than was asked.
pub(crate) const CANNOT_HONOUR: &[(&str, &str)] = &[
    ("crash_restart_limit", "oxinit's crash-loop cutoff is max_restarts within restart_window (10 in 5m by default): remove it and set max_restarts, or set both in the native file that `oxinit check` prints"),
    ("pre_reload_cmd", "oxinit has no reload; build before the image is made (a RUN step)"),
    ("start_delay_secs", "oxinit starts a process once its depends_on are ready: give the dependency a health check instead of a delay"),
    ("cluster_mode", "oxinit runs one process per entry; use your app's own cluster module, or one entry per worker"),
    ("cluster_instances", "oxinit runs one process per entry; use your app's own cluster module, or one entry per worker"),
    ("namespace", "a container is the namespace: remove it"),
    ("start_order", "oxinit orders by depends_on alone: express the order as a dependency"),
    ("instances", "oxinit runs one process per entry: write one entry per instance"),
    ("instance_var", "oxinit runs one process per entry: write one entry per instance, each with its own env"),
    ("watch", "restarting on file changes is for development; an image does not change while it runs"),
    ("ignore_watch", "restarting on file changes is for development; an image does not change while it runs"),
    ("watch_delay_secs", "restarting on file changes is for development; an image does not change while it runs"),
    ("wait_ready", "oxinit has no reload; readiness for depends_on comes from the health check (health_cmd)"),
    ("ready_timeout_secs", "oxinit has no reload; readiness for depends_on comes from the health check (health_cmd)"),
    ("max_cpu_percent", "oxinit limits memory and pids, not CPU: use the container's CPU limit (docker --cpus, Fly's vm size)"),
    ("cgroup_enforce", "oxinit enforces max_memory_mb with cgroups where it can and by polling elsewhere, chosen by [init] memory_enforcement in the native file"),
    ("deny_gpu", "oxinit does not hide GPUs: do not give the container any"),
    ("reuse_port", "oxinit holds the listening socket itself instead, so none is refused across restarts: write listen = [\"0.0.0.0:PORT\"] in the native file and have the app serve fd 3 (README: Held sockets)"),
    ("git_repo", "oxinit does not pull code: the image holds it"),
    ("git_ref", "oxinit does not pull code: the image holds it"),
    ("pull_secret", "oxinit does not pull code: the image holds it"),
    ("profiles", "oxinit has no --env profiles: write the profile's values into the entry, or keep one file per environment"),
];

/// Oxmgr's top-level tables oxinit cannot honour.
pub(crate) const CANNOT_HONOUR_TOP: &[(&str, &str)] = &[(
    "deploy",
    "oxinit does not deploy: the image is the deployment; remove [deploy]",
)];

/// Every key an `[[apps]]` entry may hold, honoured or not (for the
/// unknown-key message and "did you mean").
pub(crate) fn app_keys() -> Vec<&'static str> {
    MAPPED
        .iter()
        .map(|(k, _)| *k)
        .chain(CANNOT_HONOUR.iter().map(|(k, _)| *k))
        .collect()
}

/// The keys `[defaults]` may hold.
pub(crate) fn default_keys() -> Vec<&'static str> {
    app_keys()
        .into_iter()
        .filter(|k| !APP_ONLY.contains(k))
        .collect()
}

/// Why oxinit cannot honour `key`, if it is one of those.
pub(crate) fn cannot_honour(key: &str) -> Option<&'static str> {
    CANNOT_HONOUR
        .iter()
        .chain(CANNOT_HONOUR_TOP)
        .find(|(k, _)| *k == key)
        .map(|(_, why)| *why)
}
