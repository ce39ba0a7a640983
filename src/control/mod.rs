//! The control socket: how `oxinit status`, `restart`, `stop`, `start` and
//! `healthcheck` talk to the oxinit that runs the container.
//!
//! A Unix stream socket (`/run/oxinit.sock` by default, see [`location`];
//! mode 0600) carries one
//! JSON request line and one JSON response line per connection, then closes:
//!
//! ```text
//! → {"cmd":"status"}                  ← {"ok":true,"snapshot":{…}}
//! → {"cmd":"health"}                  ← {"ok":true,"healthy":false,"problems":["api is backoff"]}
//! → {"cmd":"restart","name":"api"}    ← {"ok":true,"message":"api restarted (pid 42)"}
//! → {"cmd":"stop","name":"apx"}       ← {"ok":false,"error":"no process named \"apx\"; processes: api, worker"}
//! ```
//!
//! `logs` and `events` answer `{"ok":true}` and then one line per log line
//! or event, until the client leaves (see [`stream`]).
//!
//! Who may connect: the file mode keeps everyone but its owner out, and the
//! peer's credentials (SO_PEERCRED) are checked again on every connection, so
//! a socket made world-writable by mistake still only obeys root and the user
//! oxinit runs as.
//!
//! The server never makes the supervisor wait: `status` and `health` are
//! answered from the latest [`Snapshot`] (a `watch` channel), and each
//! connection is its own task with its own deadlines, so a stuck or hostile
//! client delays nobody. Many silent clients cannot take every place either:
//! a client has 2 s to send its request, each uid has a cap below the global
//! one, and at a full table the oldest connection without a request makes
//! room for the newcomer ([`admission`]), so `healthcheck` is always served. `restart`/`stop`/`start`/`reload` become a [`Command`] on a
//! channel to the supervisor, which answers through the command's `reply`
//! once the action is done.
//!
//! - [`location`]: where the socket is (`/run`, `$XDG_RUNTIME_DIR`, `/tmp/oxinit-UID`);
//! - [`server`]: binding (stale and live sockets) and the accept loop;
//! - [`admission`]: the caps on connections, and who makes room;
//! - [`limits`]: the bounds the server holds and admission and connections enforce;
//! - [`connection`]: one connection: credentials, bounded read, dispatch;
//! - [`protocol`]: the request and response lines;
//! - [`stream`]: the answers that last, `logs` and `events`;
//! - [`client`]: the `oxinit status|restart|stop|start|healthcheck` side,
//!   and [`watch`], the `oxinit logs|events` side;
//! - [`render`]: the status table.

mod admission;
mod client;
mod connection;
mod error;
mod limits;
pub mod location;
mod protocol;
mod ratelimit;
mod render;
mod server;
mod shared;
mod stream;
mod watch;

#[cfg(test)]
mod tests;

pub use crate::snapshot::Snapshot;
/// The verbs and the request envelope live in `crate::verb`, shared with
/// the supervisor.
pub use crate::verb::{Command, Verb as Action};
// What only the unit tests reach through here.
pub use client::client;
pub use error::ControlError;
pub use protocol::{Request, Response};
pub use render::render_status;
pub use server::Server;
pub use shared::Feeds;
#[cfg(test)]
pub(crate) use {
    client::{run_client, ClientOptions},
    limits::Limits,
};

/// What `main` asks the running oxinit for (the same type as a request line).
pub type ClientRequest = Request;

/// Binds the supervisor's socket where [`location::choose`] says:
/// `configured` (`[init] control_socket`), else `$OXINIT_SOCKET`, else
/// `/run/oxinit.sock`, `$XDG_RUNTIME_DIR/oxinit.sock` or
/// `/tmp/oxinit-UID/oxinit.sock`, whichever is first usable.
pub fn bind_default(configured: Option<&std::path::Path>) -> Result<Server, ControlError> {
    let places = location::Places::from_process();
    let choice = location::choose(configured, &places);
    let path = location::prepare(&choice, places.uid)?;
    let server = Server::bind(&path)?;
    tracing::info!(
        "control socket: {} ({})",
        server.path().display(),
        choice.why
    );
    Ok(server)
}
