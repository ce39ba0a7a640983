//! Exit codes shared by every mode (documented as a table in README.md).

/// A bad oxfile.toml or command line value (sysexits' EX_CONFIG).
pub const CONFIG: i32 = 78;
/// oxinit itself could not work (sysexits' EX_SOFTWARE).
pub const INTERNAL: i32 = 70;
/// Bad command-line usage (as clap and most tools).
pub const USAGE: i32 = 2;
/// A requested shutdown in which something had to be SIGKILLed: 128 + SIGKILL,
/// the code operators already read as "killed".
pub const KILLED: i32 = 128 + 9;
