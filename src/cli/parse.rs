//! The parser: one pass over the arguments, left to right.
//!
//! ```text
//! oxinit [--grace DUR] [--stop-timeout DUR] -- CMD [ARGS...]   single-command mode
//! oxinit [--config PATH]                                       supervisor mode
//! oxinit COMMAND [OPTIONS] [NAME]                              a subcommand
//! ```
//!
//! `--config` before a command is that command's (`oxinit -c F check`), as
//! `oxinit [run] [--config PATH]` in `--help` promises both orders.
//!
//! An option's value is the next argument (`--grace 3s`, `-c PATH`), or follows
//! `=` (`--grace=3s`) or a short name directly (`-cPATH`). A next argument that
//! starts with `-` is not taken as a value, so `--grace -- CMD` is a missing
//! value rather than a grace of "--" (`--socket=-odd` still works). After `--`
//! every argument is a word: CMD's at the top, NAME's after a subcommand
//! (`oxinit restart -- -odd`). An option given twice is a mistake.

use super::help::{self, Opt, Spec};
use super::{Cli, Command, SocketArg, Usage, DEFAULT_GRACE, DEFAULT_LOG_LINES};
use crate::config::suggest::did_you_mean;
use crate::units::parse_duration;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::time::Duration;

impl Cli {
    /// Parses the arguments after the program name.
    pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Cli, Usage> {
        let mut args = Args::new(args);
        let mut grace = None;
        let mut stop_timeout = None;
        let mut config: Option<PathBuf> = None;
        let mut argv = Vec::new();
        while let Some(arg) = args.next() {
            match arg {
                Arg::End => {
                    if config.is_some() {
                        return Err(args.error(
                            "--config is for supervisor mode; single-command mode ('-- CMD') reads no oxfile: drop one of them",
                        ));
                    }
                    argv = args.rest_as_command()?;
                    break;
                }
                Arg::Word(word) => {
                    let spec = args.command_named(&word)?;
                    if let Some(option) = single_mode_option(grace, stop_timeout) {
                        return Err(args.error(format!(
                            "{option} is for single-command mode ('oxinit {option} DUR -- CMD'), \
                             not for 'oxinit {}'",
                            spec.name
                        )));
                    }
                    let command = Some(subcommand(spec, args, config)?);
                    return Ok(Cli {
                        command,
                        grace: DEFAULT_GRACE,
                        stop_timeout: None,
                        argv: Vec::new(),
                    });
                }
                Arg::Opt(written) => {
                    let opt = args.lookup(help::TOP_OPTIONS, &written)?;
                    match opt.long {
                        "--grace" => {
                            let d = args.duration(opt, written)?;
                            args.once(&mut grace, opt, d)?;
                        }
                        "--stop-timeout" => {
                            let d = args.duration(opt, written)?;
                            args.once(&mut stop_timeout, opt, d)?;
                        }
                        "--config" => {
                            let path = args.value(opt, written)?.into();
                            args.once(&mut config, opt, path)?;
                        }
                        "--help" => {
                            args.flag(written)?;
                            return Err(Usage::Print(help::top()));
                        }
                        "--version" => {
                            args.flag(written)?;
                            return Err(Usage::Print(help::version()));
                        }
                        // An option in the table with no arm here; the tests see that.
                        _ => return Err(args.unknown(help::TOP_OPTIONS, &written)),
                    }
                }
            }
        }
        // No command and no `--`: supervisor mode, where --grace would be
        // silently ignored.
        if let Some(option) = single_mode_option(grace, stop_timeout) {
            if argv.is_empty() {
                return Err(args.error(format!(
                    "{option} is for single-command mode: add '-- CMD' (e.g. 'oxinit {option} DUR -- myapp')"
                )));
            }
        }
        // `oxinit --config F`: supervisor mode with that file, the same as
        // `oxinit run --config F`.
        let command = config.map(|path| Command::Run { config: Some(path) });
        Ok(Cli {
            command,
            grace: grace.unwrap_or(DEFAULT_GRACE),
            stop_timeout,
            argv,
        })
    }
}

/// The first single-command option given, if any.
fn single_mode_option(grace: Option<Duration>, stop: Option<Duration>) -> Option<&'static str> {
    match (grace, stop) {
        (Some(_), _) => Some(help::GRACE.long),
        (None, Some(_)) => Some(help::STOP_TIMEOUT.long),
        (None, None) => None,
    }
}

/// The rest of the line after the subcommand `spec`; `config` is a
/// `--config` given before it.
fn subcommand(
    spec: &'static Spec,
    mut args: Args,
    mut config: Option<PathBuf>,
) -> Result<Command, Usage> {
    args.command = Some(spec.name);
    if config.is_some() && help::find(spec.options, help::CONFIG.long).is_none() {
        return Err(args.error(format!(
            "--config is not an option of 'oxinit {}'",
            spec.name
        )));
    }
    let mut socket: Option<PathBuf> = None;
    let mut json: Option<bool> = None;
    let mut strict: Option<bool> = None;
    let mut lines: Option<usize> = None;
    let mut follow: Option<bool> = None;
    let mut words: Vec<OsString> = Vec::new();
    let many = spec.positional.is_some_and(|p| p.ends_with("..."));
    while let Some(arg) = args.next() {
        match arg {
            // What follows is words only; `Args` sees to that.
            Arg::End => {}
            Arg::Word(word) if spec.positional.is_some() && (words.is_empty() || many) => {
                words.push(word);
            }
            Arg::Word(word) => {
                return Err(args.error(format!("unexpected argument '{}'", word.to_string_lossy())));
            }
            Arg::Opt(written) => {
                let opt = args.lookup(spec.options, &written)?;
                match opt.long {
                    "--config" => {
                        let path = args.value(opt, written)?.into();
                        args.once(&mut config, opt, path)?;
                    }
                    "--socket" => {
                        let path = args.value(opt, written)?.into();
                        args.once(&mut socket, opt, path)?;
                    }
                    "--json" => {
                        args.flag(written)?;
                        args.once(&mut json, opt, true)?;
                    }
                    "--strict" => {
                        args.flag(written)?;
                        args.once(&mut strict, opt, true)?;
                    }
                    "--lines" => {
                        let n = args.count(opt, written)?;
                        args.once(&mut lines, opt, n)?;
                    }
                    "--follow" => {
                        args.flag(written)?;
                        args.once(&mut follow, opt, true)?;
                    }
                    "--help" => {
                        args.flag(written)?;
                        return Err(Usage::Print(help::for_command(spec)));
                    }
                    // An option in the table with no arm here; the tests see that.
                    _ => return Err(args.unknown(spec.options, &written)),
                }
            }
        }
    }

    let positional = words.first().cloned();
    if spec.name == "help" {
        return Err(match positional {
            Some(word) => Usage::Print(help::for_command(args.command_named(&word)?)),
            None => Usage::Print(help::top()),
        });
    }
    let name = || match &positional {
        None => Err(args.error(format!(
            "missing the process NAME: 'oxinit {} NAME'",
            spec.name
        ))),
        Some(word) => word.to_str().map(str::to_string).ok_or_else(|| {
            args.error(format!(
                "process NAME '{}' is not valid UTF-8",
                word.to_string_lossy()
            ))
        }),
    };
    let socket = SocketArg {
        path: socket,
        config: config.clone(),
    };
    Ok(match spec.name {
        "run" => Command::Run { config },
        "check" => Command::Check {
            config,
            strict: strict.unwrap_or(false),
        },
        "status" => Command::Status {
            json: json.unwrap_or(false),
            socket,
        },
        "restart" => Command::Restart {
            name: name()?,
            socket,
        },
        "stop" => Command::Stop {
            name: name()?,
            socket,
        },
        "start" => Command::Start {
            name: name()?,
            socket,
        },
        "reload" => Command::Reload {
            name: name()?,
            socket,
        },
        "healthcheck" => Command::Healthcheck { socket },
        "logs" => Command::Logs {
            names: names(&args, &words)?,
            lines: lines.unwrap_or(DEFAULT_LOG_LINES),
            follow: follow.unwrap_or(false),
            json: json.unwrap_or(false),
            socket,
        },
        "events" => Command::Events {
            json: json.unwrap_or(false),
            socket,
        },
        // A command in the table with no arm here; the tests see that.
        other => return Err(args.error(format!("unknown command '{other}'"))),
    })
}

/// Process names, which must be UTF-8 (as the oxfile's are), each once.
fn names(args: &Args, words: &[OsString]) -> Result<Vec<String>, Usage> {
    let mut names: Vec<String> = Vec::new();
    for word in words {
        let Some(name) = word.to_str() else {
            return Err(args.error(format!(
                "process NAME '{}' is not valid UTF-8",
                word.to_string_lossy()
            )));
        };
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

/// One argument, classified.
enum Arg {
    /// `--`: the end of options.
    End,
    /// Something that starts with `-`.
    Opt(Written),
    /// Anything else (and `-`): a subcommand, a NAME, a CMD word.
    Word(OsString),
}

/// An option as written: `--name`, `--name=value`, `-x` or `-xvalue`.
struct Written {
    /// `--name` or `-x`.
    name: String,
    /// What followed `=` or the short name.
    attached: Option<OsString>,
    /// The whole argument, for messages.
    text: String,
}

impl Written {
    fn split(arg: &[u8]) -> Written {
        let (name, attached) = if arg.starts_with(b"--") {
            match arg.iter().position(|&b| b == b'=') {
                Some(eq) => (&arg[..eq], Some(&arg[eq + 1..])),
                None => (arg, None),
            }
        } else if arg.len() > 2 && arg[1].is_ascii() {
            (&arg[..2], Some(&arg[2..]))
        } else {
            (arg, None)
        };
        Written {
            // A name that is not UTF-8 matches no option; lossy is for the message.
            name: String::from_utf8_lossy(name).into_owned(),
            attached: attached.map(|v| OsString::from_vec(v.to_vec())),
            text: String::from_utf8_lossy(arg).into_owned(),
        }
    }
}

/// The arguments not read yet, and where we are, for messages.
struct Args {
    rest: std::iter::Peekable<std::vec::IntoIter<OsString>>,
    /// After `--`, every argument is a word.
    ended: bool,
    /// The subcommand being read, so that an error points at its `--help`.
    command: Option<&'static str>,
}

impl Args {
    fn new(args: impl IntoIterator<Item = OsString>) -> Args {
        let args: Vec<OsString> = args.into_iter().collect();
        Args {
            rest: args.into_iter().peekable(),
            ended: false,
            command: None,
        }
    }

    fn next(&mut self) -> Option<Arg> {
        let arg = self.rest.next()?;
        let bytes = arg.as_bytes();
        Some(if self.ended || bytes == b"-" || !bytes.starts_with(b"-") {
            Arg::Word(arg)
        } else if bytes == b"--" {
            self.ended = true;
            Arg::End
        } else {
            Arg::Opt(Written::split(bytes))
        })
    }

    /// Everything after the top-level `--`: CMD and its arguments, verbatim.
    fn rest_as_command(&mut self) -> Result<Vec<OsString>, Usage> {
        let rest: Vec<OsString> = self.rest.by_ref().collect();
        if rest.is_empty() {
            return Err(
                self.error("nothing after '--': name the command to run, e.g. 'oxinit -- myapp'")
            );
        }
        // Byte for byte, as tini passes them: a file name need not be UTF-8.
        Ok(rest)
    }

    /// The subcommand called `word`, or an error with a likely meaning.
    fn command_named(&self, word: &OsString) -> Result<&'static Spec, Usage> {
        let word = word.to_string_lossy();
        help::command(&word).ok_or_else(|| {
            let names = help::COMMANDS.iter().map(|c| c.name);
            let hint = match (did_you_mean(&word, names.clone()), self.command) {
                (Some(near), _) => format!("did you mean '{near}'?"),
                // `oxinit myapp`, as with tini but without its `--`.
                (None, None) => format!("to run a program, write 'oxinit -- {word}'"),
                (None, Some(_)) => {
                    format!("the commands are {}", names.collect::<Vec<_>>().join(", "))
                }
            };
            self.error(format!("unknown command '{word}'; {hint}"))
        })
    }

    fn lookup(&self, options: &'static [Opt], written: &Written) -> Result<&'static Opt, Usage> {
        help::find(options, &written.name).ok_or_else(|| self.unknown(options, written))
    }

    fn unknown(&self, options: &[Opt], written: &Written) -> Usage {
        let mut message = format!("unknown option '{}'", written.text);
        if let Some(command) = self.command {
            message += &format!(" for 'oxinit {command}'");
        }
        if let Some(near) = did_you_mean(&written.name, options.iter().map(|o| o.long)) {
            message += &format!("; did you mean '{near}'?");
        }
        self.error(message)
    }

    /// A flag's check: nothing may be attached (`--json=yes`).
    fn flag(&self, written: Written) -> Result<(), Usage> {
        match written.attached {
            None => Ok(()),
            Some(_) => Err(self.error(format!(
                "{} takes no value: '{}'",
                written.name, written.text
            ))),
        }
    }

    /// The value of an option that takes one: attached, else the next argument.
    fn value(&mut self, opt: &Opt, written: Written) -> Result<OsString, Usage> {
        let value = match written.attached {
            Some(value) => Some(value),
            None => self.rest.next_if(|next| !next.as_bytes().starts_with(b"-")),
        };
        match value {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(self.error(format!(
                "missing {} after {}",
                opt.value.unwrap_or("value"),
                written.name
            ))),
        }
    }

    /// A duration value, in oxfile.toml's units.
    fn duration(&mut self, opt: &Opt, written: Written) -> Result<Duration, Usage> {
        let name = written.name.clone();
        let value = self.value(opt, written)?;
        let parsed = match value.to_str() {
            Some(text) => parse_duration(text),
            None => Err(format!("'{}' is not a duration", value.to_string_lossy())),
        };
        parsed.map_err(|e| self.error(format!("{name}: {e}")))
    }

    /// A count value: a whole number, 0 included.
    fn count(&mut self, opt: &Opt, written: Written) -> Result<usize, Usage> {
        let name = written.name.clone();
        let value = self.value(opt, written)?;
        let text = value.to_string_lossy();
        text.parse::<usize>().map_err(|_| {
            self.error(format!(
                "{name}: '{text}' is not a number of lines; write a whole number such as 20"
            ))
        })
    }

    /// Sets an option's slot, refusing a second time.
    fn once<T>(&self, slot: &mut Option<T>, opt: &Opt, value: T) -> Result<(), Usage> {
        if slot.is_some() {
            return Err(self.error(format!("{} given twice", opt.long)));
        }
        *slot = Some(value);
        Ok(())
    }

    fn error(&self, message: impl Into<String>) -> Usage {
        Usage::Error {
            message: message.into(),
            command: self.command,
        }
    }
}
