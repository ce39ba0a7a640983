//! oxinit's own log lines: `tracing` to stderr, human-readable by default,
//! `OXINIT_LOG=json` for JSON, `OXINIT_LOG_LEVEL` (error, warn, info, debug,
//! trace) for the level.

use tracing::level_filters::LevelFilter;

/// Installs the subscriber. `default_level` applies when OXINIT_LOG_LEVEL is unset.
pub fn init(default_level: &str) {
    let level = std::env::var("OXINIT_LOG_LEVEL").unwrap_or_else(|_| default_level.to_string());
    let level: LevelFilter = level.parse().unwrap_or_else(|_| {
        eprintln!("oxinit: OXINIT_LOG_LEVEL={level:?} is not a level (error, warn, info, debug, trace); using {default_level}");
        default_level.parse().unwrap_or(LevelFilter::INFO)
    });
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false);
    let result = if std::env::var("OXINIT_LOG").as_deref() == Ok("json") {
        builder.json().with_current_span(false).try_init()
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init()
    };
    if let Err(e) = result {
        eprintln!("oxinit: cannot set up logging: {e}");
    }
}
