//! The options and subcommands, as tables the parser looks names up in and
//! `--help` prints: one source for both.

/// One option, e.g. `-c, --config PATH`.
#[derive(Debug, PartialEq, Eq)]
pub struct Opt {
    pub short: Option<&'static str>,
    pub long: &'static str,
    /// The value's placeholder; None for a flag.
    pub value: Option<&'static str>,
    pub about: &'static str,
}

impl Opt {
    fn is(&self, name: &str) -> bool {
        self.long == name || self.short == Some(name)
    }
}

/// The option called `name` (`-c` or `--config`) among `options`.
pub fn find<'a>(options: &'a [Opt], name: &str) -> Option<&'a Opt> {
    options.iter().find(|o| o.is(name))
}

pub const HELP: Opt = Opt {
    short: Some("-h"),
    long: "--help",
    value: None,
    about: "Print help",
};
pub const GRACE: Opt = Opt {
    short: None,
    long: "--grace",
    value: Some("DUR"),
    about: "Single-command mode: after CMD exits, how long leftover processes get \
            between SIGTERM and SIGKILL [default: 2s]",
};
pub const STOP_TIMEOUT: Opt = Opt {
    short: None,
    long: "--stop-timeout",
    value: Some("DUR"),
    about: "Single-command mode: SIGKILL CMD's process group this long after the \
            first SIGTERM/SIGINT if it has not exited (default: wait)",
};
pub const VERSION: Opt = Opt {
    short: Some("-V"),
    long: "--version",
    value: None,
    about: "Print version",
};
pub const CONFIG: Opt = Opt {
    short: Some("-c"),
    long: "--config",
    value: Some("PATH"),
    about: "The oxfile (else $OXINIT_CONFIG, ./oxfile.toml, /etc/oxfile.toml)",
};
/// What `oxinit [OPTIONS]` accepts before `--` or a command: the options of
/// single-command mode, and `--config` for supervisor mode.
pub const TOP_OPTIONS: &[Opt] = &[GRACE, STOP_TIMEOUT, CONFIG, HELP, VERSION];

const STRICT: Opt = Opt {
    short: None,
    long: "--strict",
    value: None,
    about: "Users, commands and cwds that do not resolve on this machine are errors, \
            not warnings: for `RUN [\"oxinit\", \"check\", \"--strict\"]` inside the image",
};
const JSON: Opt = Opt {
    short: None,
    long: "--json",
    value: None,
    about: "Print the whole snapshot as JSON, for scripts",
};
const LINES: Opt = Opt {
    short: Some("-n"),
    long: "--lines",
    value: Some("N"),
    about: "The last N lines of each process (0: none, only new ones with --follow) \
            [default: 100; oxinit keeps log_buffer_lines]",
};
const FOLLOW: Opt = Opt {
    short: Some("-f"),
    long: "--follow",
    value: None,
    about: "Then print each new line as it comes, until interrupted (Ctrl-C); a client \
            too slow to keep up is told how many lines it lost",
};
const LOGS_JSON: Opt = Opt {
    short: None,
    long: "--json",
    value: None,
    about: "One JSON object a line ({\"process\",\"at_ms\",\"stream\",\"line\"} or \
            {\"lost\":N}), for scripts",
};
const EVENTS_JSON: Opt = Opt {
    short: None,
    long: "--json",
    value: None,
    about: "One JSON object a line ({\"at\",\"event\",\"process\",…} or {\"lost\":N}), \
            for scripts",
};
const SOCKET: Opt = Opt {
    short: None,
    long: "--socket",
    value: Some("PATH"),
    about: "The control socket of the running oxinit (else the oxfile's [init] \
            control_socket, else $OXINIT_SOCKET, else the first of /run/oxinit.sock, \
            $XDG_RUNTIME_DIR/oxinit.sock, /tmp/oxinit-UID/oxinit.sock that exists)",
};
/// `--config` of the clients: the same file, read for its socket only.
const CLIENT_CONFIG: Opt = Opt {
    about: "The oxfile whose [init] control_socket to use (else $OXINIT_CONFIG, \
            ./oxfile.toml, /etc/oxfile.toml, as for run)",
    ..CONFIG
};

/// One subcommand.
#[derive(Debug, PartialEq, Eq)]
pub struct Spec {
    pub name: &'static str,
    pub about: &'static str,
    /// The positional argument it takes, e.g. "NAME"; `help` alone takes it
    /// optionally, and one that ends in "..." ("NAME...") takes any number,
    /// none included.
    pub positional: Option<&'static str>,
    /// Its options, `--help` last.
    pub options: &'static [Opt],
}

pub const COMMANDS: &[Spec] = &[
    Spec {
        name: "run",
        about: "Run what oxfile.toml describes (the default without `-- CMD`)",
        positional: None,
        options: &[CONFIG, HELP],
    },
    Spec {
        name: "check",
        about:
            "Validate oxfile.toml and print the plan: boot order, stop order, stop budget, settings",
        positional: None,
        options: &[CONFIG, STRICT, HELP],
    },
    Spec {
        name: "status",
        about: "Show each process of the running oxinit: state, pid, uptime, restarts, \
                last exit",
        positional: None,
        options: &[JSON, SOCKET, CLIENT_CONFIG, HELP],
    },
    Spec {
        name: "restart",
        about: "Restart one process (a service goes through its stop signal and \
                stop_timeout); answers when done",
        positional: Some("NAME"),
        options: &[SOCKET, CLIENT_CONFIG, HELP],
    },
    Spec {
        name: "stop",
        about: "Stop one process; it stays stopped, whatever its restart policy, until \
                `oxinit start NAME`",
        positional: Some("NAME"),
        options: &[SOCKET, CLIENT_CONFIG, HELP],
    },
    Spec {
        name: "start",
        about: "Start one stopped process; a oneshot is run again and the client waits for \
                it and exits with its code (`oxinit start migrate && oxinit reload api`)",
        positional: Some("NAME"),
        options: &[SOCKET, CLIENT_CONFIG, HELP],
    },
    Spec {
        name: "reload",
        about: "Replace a running service without downtime: start a new instance beside the \
                old one, wait until it is ready (its health check, READY=1, else started), \
                then stop the old one. Exit 0 once the new one serves and the old is gone; \
                1 with the reason if it is not ready within ready_timeout (the old keeps \
                serving)",
        positional: Some("NAME"),
        options: &[SOCKET, CLIENT_CONFIG, HELP],
    },
    Spec {
        name: "healthcheck",
        about: "Exit 0 when the running oxinit has finished booting and every service is \
                up (and healthy where checked), else 1 with the reasons. For \
                `HEALTHCHECK CMD [\"oxinit\", \"healthcheck\"]`",
        positional: None,
        options: &[SOCKET, CLIENT_CONFIG, HELP],
    },
    Spec {
        name: "logs",
        about: "Print the last lines each process wrote (stdout and stderr, with time and \
                stream), of the NAMEd ones or of all, and with --follow the new ones",
        positional: Some("NAME..."),
        options: &[LINES, FOLLOW, LOGS_JSON, SOCKET, CLIENT_CONFIG, HELP],
    },
    Spec {
        name: "events",
        about: "Print what happens, a line each, as it happens, until interrupted: started, \
                ready, unhealthy, exited, restarting, failed, stopped, oom, job, shutdown",
        positional: None,
        options: &[EVENTS_JSON, SOCKET, CLIENT_CONFIG, HELP],
    },
    Spec {
        name: "help",
        about: "Print this help, or a command's (`oxinit help status`)",
        positional: Some("COMMAND"),
        options: &[HELP],
    },
];

/// The subcommand called `name`.
pub fn command(name: &str) -> Option<&'static Spec> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// `oxinit --version`.
pub fn version() -> String {
    format!("oxinit {}\n", env!("CARGO_PKG_VERSION"))
}

/// `oxinit --help`.
pub fn top() -> String {
    let mut text = format!(
        "oxinit {}: a tiny PID 1 for single-box SQLite apps in containers.\n\
         \n\
         Usage:\n\
         \x20 oxinit [--grace DUR] [--stop-timeout DUR] -- CMD [ARGS...]\n\
         \x20     Single-command mode, a drop-in for tini/dumb-init: CMD is the only child.\n\
         \x20 oxinit [run] [--config PATH]\n\
         \x20     Supervisor mode: run what oxfile.toml describes.\n\
         \x20 oxinit COMMAND [OPTIONS]\n\
         \x20     One of the commands below ('oxinit COMMAND --help' for its options).\n\
         \n\
         Commands:\n",
        env!("CARGO_PKG_VERSION")
    );
    let width = COMMANDS.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in COMMANDS {
        text += &format!("  {:width$}  {}\n", c.name, c.about);
    }
    text += "\nOptions:\n";
    text += &options(TOP_OPTIONS);
    text += "\nCMD and its arguments are passed as they are, even those that look like \
             options.\nDUR: whole numbers with the units h, m, s, ms, e.g. 500ms, 15s, 1m30s.\n\
             The control socket (status, restart, stop, start, healthcheck, logs, events):\n\
             [init] control_socket, else $OXINIT_SOCKET, else /run/oxinit.sock; when /run is not\n\
             writable (not root) $XDG_RUNTIME_DIR/oxinit.sock, else /tmp/oxinit-UID/oxinit.sock.\n";
    text
}

/// `oxinit COMMAND --help`.
pub fn for_command(spec: &Spec) -> String {
    let mut usage = format!("oxinit {}", spec.name);
    match spec.positional {
        Some(p) if spec.name == "help" || p.ends_with("...") => usage += &format!(" [{p}]"),
        Some(p) => usage += &format!(" {p}"),
        None => {}
    }
    for o in spec.options.iter().filter(|o| **o != HELP) {
        match o.value {
            Some(value) => usage += &format!(" [{} {value}]", o.long),
            None => usage += &format!(" [{}]", o.long),
        }
    }
    format!(
        "{}\n\nUsage: {usage}\n\nOptions:\n{}",
        spec.about,
        options(spec.options)
    )
}

/// The two-column option list: `  -c, --config PATH  The oxfile (…)`.
fn options(options: &[Opt]) -> String {
    let left: Vec<String> = options
        .iter()
        .map(|o| {
            let short = o.short.map_or("    ".to_string(), |s| format!("{s}, "));
            let value = o.value.map_or(String::new(), |v| format!(" {v}"));
            format!("  {short}{}{value}", o.long)
        })
        .collect();
    let width = left.iter().map(String::len).max().unwrap_or(0);
    left.iter()
        .zip(options)
        .map(|(left, o)| format!("{left:width$}  {}\n", o.about))
        .collect()
}
