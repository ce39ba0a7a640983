//! Who gets a connection when many clients knock at once.
//!
//! The threat: anyone who may connect (root, or a process running as
//! oxinit's own user, e.g. a compromised app) opens many connections and
//! sends nothing, so that `oxinit healthcheck` finds no room and the
//! container is marked unhealthy and restarted. A plain cap ("16 open, the
//! rest are answered busy") hands the socket to whoever opens connections
//! fastest. So:
//!
//! - a client has [`Limits::request_timeout`] (2 s) to send its request
//!   line; ours send it right after connecting;
//! - the connections of one uid are capped ([`Limits::max_per_uid`]) below
//!   the global cap ([`Limits::max_connections`]), so root's healthcheck
//!   always has room beside a flood from the app's uid;
//! - when a cap is reached, the newcomer is not refused: the oldest
//!   connection still waiting for its request (of that uid, or of the uid
//!   holding the most connections) makes room. Before it is dropped, it gets
//!   one last non-blocking read: a client whose request has arrived is still
//!   served. A flood of silent connections therefore only ever pushes out
//!   silent connections, and a client that sends at once (healthcheck,
//!   status) is served however many wait;
//! - `restart`/`stop`/`start`/`reload` hold their connection until the action is done
//!   (a whole stop_timeout): at most [`Limits::max_commands`] run at once,
//!   far below the caps, so waiting commands cannot fill the table either.
//!
//! - `logs` and `events` (streams) hold their connection for as long as
//!   the client follows, which may be days: at most [`Limits::max_streams`]
//!   (8) run at once, on a count of their own, so followers cannot keep a
//!   `restart` out, nor commands a follower. A stream is a connection past
//!   its request: it counts toward the 64 and the 32 of its uid and is
//!   never pushed out, so 8 streams and 8 commands leave at least 16 of a
//!   uid's 32 places (and 48 of the 64) for `healthcheck` and `status`. The
//!   2 s deadline is for reading the request, as for every connection; the
//!   stream itself has none (a follower that stops reading loses lines, and
//!   is told how many, but keeps its place until it leaves).
//!
//! Only when every counted connection is past its request (answers being
//! written, commands running, streams followed) is a newcomer answered
//! "busy".

use super::limits::Limits;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// The table of counted connections, shared by the accept loop and every
/// connection's task.
#[derive(Debug)]
pub(super) struct Admission {
    limits: Limits,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    next_id: u64,
    /// Counted connections: id → (uid, still waiting for its request).
    open: HashMap<u64, Entry>,
    /// Counted connections per uid.
    per_uid: HashMap<u32, usize>,
    /// Ids in order of arrival; entries no longer waiting are skipped.
    arrivals: VecDeque<u64>,
    commands: usize,
    streams: usize,
}

#[derive(Debug)]
struct Entry {
    uid: u32,
    /// Set while the connection has not sent its request: told to make room.
    waiting: Option<oneshot::Sender<()>>,
}

/// The outcome of [`Admission::admit`].
#[derive(Debug)]
pub(super) enum Admit {
    /// Counted; `made_room` is true when a waiting connection was told to
    /// make room for it.
    In { ticket: Ticket, made_room: bool },
    /// Every counted connection is past its request: nobody can make room.
    Busy,
}

/// A counted connection; dropping it frees its place.
#[derive(Debug)]
pub(super) struct Ticket {
    id: u64,
    admission: Arc<Admission>,
    /// Resolves when the connection is told to make room (before it has
    /// sent its request).
    pub(super) make_room: Option<oneshot::Receiver<()>>,
}

/// A running command's or stream's place; dropping it frees the place.
#[derive(Debug)]
pub(super) struct Slot {
    admission: Arc<Admission>,
    stream: bool,
}

impl Admission {
    pub(super) fn new(limits: Limits) -> Arc<Admission> {
        Arc::new(Admission {
            limits,
            table: Mutex::new(Table::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // A panic elsewhere mid-update leaves counts that are still usable.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a new connection from `uid`, making room if a cap is reached.
    pub(super) fn admit(self: &Arc<Self>, uid: u32) -> Admit {
        let mut t = self.lock();
        let mut made_room = false;
        let uid_full = t.per_uid.get(&uid).copied().unwrap_or(0) >= self.limits.max_per_uid;
        if uid_full {
            // Only one of its own: a uid never pushes out another's.
            if !t.make_room(Some(uid)) {
                return Admit::Busy;
            }
            made_room = true;
        }
        if t.open.len() >= self.limits.max_connections {
            // The uid holding the most connections gives one up first.
            let heaviest = t
                .per_uid
                .iter()
                .filter(|(_, n)| **n > 0)
                .max_by_key(|(_, n)| **n)
                .map(|(uid, _)| *uid);
            if !(t.make_room(heaviest) || t.make_room(None)) {
                return Admit::Busy;
            }
            made_room = true;
        }
        let id = t.next_id;
        t.next_id += 1;
        let (tell, told) = oneshot::channel();
        t.open.insert(
            id,
            Entry {
                uid,
                waiting: Some(tell),
            },
        );
        *t.per_uid.entry(uid).or_default() += 1;
        t.arrivals.push_back(id);
        Admit::In {
            ticket: Ticket {
                id,
                admission: self.clone(),
                make_room: Some(told),
            },
            made_room,
        }
    }

    /// (connections counted, connections of `uid`, commands running).
    #[cfg(test)]
    pub(super) fn counts(&self, uid: u32) -> (usize, usize, usize) {
        let t = self.lock();
        (
            t.open.len(),
            t.per_uid.get(&uid).copied().unwrap_or(0),
            t.commands,
        )
    }
}

impl Table {
    /// Tells the oldest waiting connection (of `uid`, if given) to make
    /// room and stops counting it. False if there is none.
    fn make_room(&mut self, uid: Option<u32>) -> bool {
        let found = self.arrivals.iter().position(|id| {
            self.open
                .get(id)
                .is_some_and(|e| e.waiting.is_some() && uid.is_none_or(|u| e.uid == u))
        });
        let Some(index) = found else {
            return false;
        };
        let id = self.arrivals.remove(index).expect("found above");
        if let Some(entry) = self.forget(id) {
            if let Some(tell) = entry.waiting {
                // The connection may have ended already; then it is gone anyway.
                let _ = tell.send(());
            }
        }
        true
    }

    fn forget(&mut self, id: u64) -> Option<Entry> {
        let entry = self.open.remove(&id)?;
        if let Some(n) = self.per_uid.get_mut(&entry.uid) {
            *n -= 1;
            if *n == 0 {
                self.per_uid.remove(&entry.uid);
            }
        }
        Some(entry)
    }
}

impl Ticket {
    /// The request has been read: this connection no longer makes room.
    pub(super) fn received(&mut self) {
        let mut t = self.admission.lock();
        if let Some(entry) = t.open.get_mut(&self.id) {
            entry.waiting = None;
        }
        t.arrivals.retain(|id| *id != self.id);
        self.make_room = None;
    }

    /// A place for a command, if fewer than `max_commands` run.
    pub(super) fn command(&self) -> Option<Slot> {
        self.slot(false)
    }

    /// A place for a stream (`logs`, `events`), if fewer than
    /// `max_streams` run.
    pub(super) fn stream(&self) -> Option<Slot> {
        self.slot(true)
    }

    fn slot(&self, stream: bool) -> Option<Slot> {
        let mut t = self.admission.lock();
        let limits = &self.admission.limits;
        let (running, max) = match stream {
            true => (&mut t.streams, limits.max_streams),
            false => (&mut t.commands, limits.max_commands),
        };
        if *running >= max {
            return None;
        }
        *running += 1;
        Some(Slot {
            admission: self.admission.clone(),
            stream,
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut t = self.admission.lock();
        // Already forgotten if it was told to make room.
        if t.forget(self.id).is_some() {
            t.arrivals.retain(|id| *id != self.id);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut t = self.admission.lock();
        let running = match self.stream {
            true => &mut t.streams,
            false => &mut t.commands,
        };
        *running = running.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(max_connections: usize, max_per_uid: usize) -> Arc<Admission> {
        Admission::new(Limits {
            max_connections,
            max_per_uid,
            max_commands: 1,
            max_streams: 2,
            ..Limits::default()
        })
    }

    fn ticket(admit: Admit) -> (Ticket, bool) {
        match admit {
            Admit::In { ticket, made_room } => (ticket, made_room),
            Admit::Busy => panic!("busy"),
        }
    }

    fn told(ticket: &mut Ticket) -> bool {
        ticket.make_room.as_mut().unwrap().try_recv().is_ok()
    }

    #[test]
    fn a_full_uid_pushes_out_its_own_oldest_waiting_connection_only() {
        let a = admission(10, 2);
        let (mut root1, _) = ticket(a.admit(0));
        let (mut app1, _) = ticket(a.admit(1000));
        let (mut app2, _) = ticket(a.admit(1000));
        let (_app3, made_room) = ticket(a.admit(1000));
        assert!(made_room);
        assert!(told(&mut app1), "the app's oldest makes room");
        assert!(!told(&mut app2));
        assert!(
            !told(&mut root1),
            "root's connection is not the app's to take"
        );
        assert_eq!(a.counts(1000), (3, 2, 0));
    }

    #[test]
    fn at_the_global_cap_the_heaviest_uid_gives_way() {
        let a = admission(4, 3);
        let (mut root1, _) = ticket(a.admit(0));
        let (mut app1, _) = ticket(a.admit(1000));
        let (mut app2, _) = ticket(a.admit(1000));
        let (_app3, _) = ticket(a.admit(1000));
        // Full: root's newcomer gets the place of the app's oldest.
        let (_root2, made_room) = ticket(a.admit(0));
        assert!(made_room);
        assert!(!told(&mut root1));
        assert!(told(&mut app1));
        assert!(!told(&mut app2));
        assert_eq!(a.counts(0), (4, 2, 0));
    }

    #[test]
    fn connections_past_their_request_are_never_pushed_out() {
        let a = admission(2, 2);
        let (mut first, _) = ticket(a.admit(0));
        let (mut second, _) = ticket(a.admit(0));
        first.received();
        second.received();
        assert!(matches!(a.admit(0), Admit::Busy));
        // One leaves: room again, without pushing anyone.
        drop(first);
        let (_third, made_room) = ticket(a.admit(0));
        assert!(!made_room);
        assert_eq!(a.counts(0), (2, 2, 0));
    }

    #[test]
    fn a_pushed_out_ticket_is_not_counted_twice_and_commands_are_capped() {
        let a = admission(1, 1);
        let (mut old, _) = ticket(a.admit(0));
        let (new, _) = ticket(a.admit(0));
        assert!(told(&mut old));
        drop(old);
        assert_eq!(a.counts(0), (1, 1, 0));
        let slot = new.command().expect("the first command runs");
        assert!(new.command().is_none(), "max_commands = 1");
        assert_eq!(a.counts(0).2, 1);
        drop(slot);
        assert!(new.command().is_some());
        drop(new);
        assert_eq!(a.counts(0), (0, 0, 0));
    }

    #[test]
    fn streams_have_places_of_their_own_and_are_never_pushed_out() {
        let a = admission(4, 4);
        let (mut follower1, _) = ticket(a.admit(0));
        let (mut follower2, _) = ticket(a.admit(0));
        follower1.received();
        follower2.received();
        let one = follower1.stream().expect("the first stream runs");
        let _two = follower2.stream().expect("max_streams = 2");
        assert!(follower1.stream().is_none(), "a third is busy");
        let command = follower1.command();
        assert!(command.is_some(), "streams do not take commands' places");
        // Two streams past their request: newcomers fill the table, then
        // push out only each other, never a stream.
        let (mut waiting1, _) = ticket(a.admit(0));
        let (_waiting2, _) = ticket(a.admit(0));
        let (_newcomer, made_room) = ticket(a.admit(0));
        assert!(made_room);
        assert!(told(&mut waiting1));
        assert_eq!(a.counts(0), (4, 4, 1), "both followers still counted");
        drop(one);
        assert!(follower1.stream().is_some(), "a place again once one ends");
    }
}
