//! A signal to oxinit is classified once, where it is read, into what it
//! means for the supervisor (after nextest's `SignalEvent`/`ShutdownEvent`):
//! reap children, stop everything, or pass it on. The core never sees a raw
//! signal number.

use nix::sys::signal::Signal;

/// What a signal sent to oxinit means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalEvent {
    /// SIGCHLD: children (or adopted orphans) are waiting to be reaped.
    Child,
    /// TERM, INT or QUIT: stop every process, in order.
    Shutdown(ShutdownEvent),
    /// Any other catchable signal: passed on to every running process.
    Forward(Signal),
    /// Nothing to do (SIGKILL/SIGSTOP cannot arrive; real-time signals are
    /// not forwarded).
    Ignore,
}

/// Which stop request arrived. A second TERM or INT during the shutdown
/// kills everything at once; a second QUIT does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownEvent {
    Term,
    Interrupt,
    Quit,
}

impl SignalEvent {
    /// Classifies signal number `sig`, as the signalfd gives it.
    pub fn classify(sig: i32) -> SignalEvent {
        let Ok(signal) = Signal::try_from(sig) else {
            return SignalEvent::Ignore;
        };
        match signal {
            Signal::SIGCHLD => SignalEvent::Child,
            Signal::SIGTERM => SignalEvent::Shutdown(ShutdownEvent::Term),
            Signal::SIGINT => SignalEvent::Shutdown(ShutdownEvent::Interrupt),
            Signal::SIGQUIT => SignalEvent::Shutdown(ShutdownEvent::Quit),
            _ if crate::sys::signals::is_forwardable(sig) => SignalEvent::Forward(signal),
            _ => SignalEvent::Ignore,
        }
    }
}

impl ShutdownEvent {
    pub fn signal(self) -> Signal {
        match self {
            ShutdownEvent::Term => Signal::SIGTERM,
            ShutdownEvent::Interrupt => Signal::SIGINT,
            ShutdownEvent::Quit => Signal::SIGQUIT,
        }
    }

    /// Whether a second one during the shutdown kills everything now.
    pub fn escalates(self) -> bool {
        self != ShutdownEvent::Quit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_signal_means_one_thing() {
        assert_eq!(SignalEvent::classify(libc::SIGCHLD), SignalEvent::Child);
        assert_eq!(
            SignalEvent::classify(libc::SIGTERM),
            SignalEvent::Shutdown(ShutdownEvent::Term)
        );
        assert_eq!(
            SignalEvent::classify(libc::SIGINT),
            SignalEvent::Shutdown(ShutdownEvent::Interrupt)
        );
        assert_eq!(
            SignalEvent::classify(libc::SIGQUIT),
            SignalEvent::Shutdown(ShutdownEvent::Quit)
        );
        assert_eq!(
            SignalEvent::classify(libc::SIGHUP),
            SignalEvent::Forward(Signal::SIGHUP)
        );
        assert_eq!(SignalEvent::classify(libc::SIGKILL), SignalEvent::Ignore);
        assert_eq!(
            SignalEvent::classify(libc::SIGRTMIN() + 1),
            SignalEvent::Ignore
        );
        assert!(ShutdownEvent::Term.escalates() && !ShutdownEvent::Quit.escalates());
    }
}
