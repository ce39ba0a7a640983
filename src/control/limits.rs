//! The bounds of the control socket, in a leaf: the server holds them, the
//! admission and each connection enforce them.

use std::time::Duration;

/// The bounds that keep one client from hurting oxinit or other clients
/// (see [`super::admission`] for how they keep `healthcheck` served).
#[derive(Debug, Clone)]
pub struct Limits {
    /// A request line longer than this is refused.
    pub max_request: usize,
    /// A client that has not sent its whole request by then is dropped. Our
    /// clients send it right after connecting.
    pub request_timeout: Duration,
    /// A client that does not read its answer by then is dropped.
    pub write_timeout: Duration,
    /// Connections counted at once. At the cap, the oldest connection still
    /// waiting for its request makes room; only when none waits is a new
    /// one answered "busy".
    pub max_connections: usize,
    /// Connections of one uid counted at once, below `max_connections`: a
    /// flood from one uid cannot take the places of another's.
    pub max_per_uid: usize,
    /// `restart`/`stop`/`start`/`reload` running at once (each holds its connection
    /// until done); more are answered "busy".
    pub max_commands: usize,
    /// `logs` and `events` answered at once: they hold their connection
    /// for as long as the client follows (see [`super::admission`]); more
    /// are answered "busy".
    pub max_streams: usize,
    /// How long a connection waits for the supervisor's answer to a command.
    /// The supervisor answers when the action is done (a stop may take a
    /// whole stop_timeout), so this only guards against an answer that never
    /// comes; the connection also ends as soon as its client hangs up.
    pub command_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request: 4096,
            request_timeout: Duration::from_secs(2),
            write_timeout: Duration::from_secs(5),
            max_connections: 64,
            max_per_uid: 32,
            max_commands: 8,
            max_streams: 8,
            command_timeout: Duration::from_secs(15 * 60),
        }
    }
}
