//! The answers that last: `logs` (the last lines of some processes, then,
//! with `follow`, every new one) and `events` (every event from now on).
//! After `{"ok":true}`, one [`Item`] a line, until the client leaves.
//!
//! Neither ever makes oxinit wait for the client. Lines are read from the
//! processes' rings when the relays say there is something new; events
//! come from a bounded broadcast. A client that reads slower than they come
//! falls behind the ring's oldest line, or the broadcast's oldest event,
//! and gets `{"lost":N}` before what follows: the relays and the supervisor
//! never wait for it. Writes to a follower have no deadline (a stalled one
//! only stalls its own task); its leaving ends the task, even while nothing
//! new comes.

use super::admission::Ticket;
use super::protocol::{to_line, Item, LogItem};
use super::shared::Shared;
use super::{Request, Response, Snapshot};
use crate::logs::LogLine;
use crate::snapshot::Event;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::unix::ReadHalf;
use tokio::net::UnixStream;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

/// `logs` and `events`, in a place of their own (see `super::admission`);
/// Err: why not, for the client.
pub(super) async fn follow(
    stream: &mut UnixStream,
    shared: &Shared,
    peer: &str,
    ticket: &Ticket,
    request: Request,
) -> Result<(), String> {
    let Some(_slot) = ticket.stream() else {
        let max = shared.limits.max_streams;
        shared.warn(format_args!(
            "control: refused a logs/events stream from {peer}: {max} are running"
        ));
        return Err(format!(
            "oxinit is busy: {max} `oxinit logs -f`/`oxinit events` clients are following; try again when one leaves"
        ));
    };
    let names = match &request {
        Request::Logs { names, .. } => names.as_slice(),
        _ => &[],
    };
    if let Some(refusal) = refusal(shared, names) {
        return Err(refusal);
    }
    tracing::debug!("control: {peer} follows {request:?}");
    match request {
        Request::Logs {
            names,
            lines,
            follow,
        } => logs(stream, shared, names, lines, follow).await,
        _ => events(stream, shared).await,
    }
    Ok(())
}

/// The snapshot, with the last stderr lines of each process that failed or
/// waits to be restarted.
pub(super) fn with_last_stderr(snapshot: &Snapshot, shared: &Shared) -> Snapshot {
    use crate::snapshot::ProcessState;
    let mut snapshot = snapshot.clone();
    let Some(feeds) = &shared.feeds else {
        return snapshot;
    };
    for p in &mut snapshot.processes {
        if matches!(p.state, ProcessState::Failed | ProcessState::Backoff) {
            p.last_stderr = feeds.logs.last_stderr(&p.name, crate::logs::SHOWN_LINES);
        }
    }
    snapshot
}

/// Why a stream cannot start, as the client is told.
fn refusal(shared: &Shared, names: &[String]) -> Option<String> {
    let Some(feeds) = &shared.feeds else {
        return Some("this oxinit keeps no logs or events".to_string());
    };
    let book = &feeds.logs;
    if !book.relayed() {
        return Some(
            "log_format = \"raw\": the processes write straight to oxinit's stdout and stderr, \
             so oxinit keeps none of their lines; set [init] log_format = \"prefixed\" (or \
             \"json\") for `oxinit logs`"
                .to_string(),
        );
    }
    let unknown: Vec<&str> = names
        .iter()
        .filter(|n| !book.names().contains(n))
        .map(String::as_str)
        .collect();
    (!unknown.is_empty()).then(|| {
        format!(
            "no process named {}; processes: {}",
            unknown.join(", "),
            book.names().join(", ")
        )
    })
}

/// `oxinit logs`: the last `lines` of each of `names` (all when empty),
/// oldest first across them, then with `follow` each new line.
async fn logs(
    stream: &mut UnixStream,
    shared: &Shared,
    names: Vec<String>,
    lines: usize,
    follow: bool,
) {
    let Some(feeds) = &shared.feeds else { return };
    let book = &feeds.logs;
    let names = match names.is_empty() {
        true => book.names().to_vec(),
        false => names,
    };
    // Subscribed before the backlog is taken: a line that comes in between
    // wakes us, and the cursors make sure it is sent once.
    let mut woken = book.woken();
    let mut cursors = Vec::with_capacity(names.len());
    let mut backlog = Vec::new();
    for name in &names {
        let (last, cursor) = book.last(name, lines, |_| true);
        backlog.extend(last);
        cursors.push(cursor);
    }
    backlog.sort_by_key(|l| l.seq);
    let mut out = Response::<()> {
        names: names.clone(),
        ..Response::done(None)
    }
    .to_line();
    push_lines(&mut out, &backlog);
    let (mut read, mut write) = stream.split();
    if !follow {
        let limit = shared.limits.write_timeout;
        let _ = tokio::time::timeout(limit, async {
            write.write_all(&out).await?;
            write.shutdown().await
        })
        .await;
        return;
    }
    let left = left(&mut read);
    tokio::pin!(left);
    loop {
        if !out.is_empty() && write.write_all(&out).await.is_err() {
            return;
        }
        out.clear();
        tokio::select! {
            () = &mut left => return,
            changed = woken.changed() => if changed.is_err() { return },
        }
        let mut lost = 0;
        let mut new = Vec::new();
        for (name, cursor) in names.iter().zip(cursors.iter_mut()) {
            let since = book.since(name, *cursor);
            lost += since.lost;
            *cursor = since.cursor;
            new.extend(since.lines);
        }
        if lost > 0 {
            out.extend(to_line(&Item::<LogItem>::Lost { lost }));
        }
        new.sort_by_key(|l| l.seq);
        push_lines(&mut out, &new);
    }
}

/// `oxinit events`: every event from now on.
async fn events(stream: &mut UnixStream, shared: &Shared) {
    let Some(feeds) = &shared.feeds else { return };
    let mut events = feeds.events.subscribe();
    let (mut read, mut write) = stream.split();
    let mut out = Response::<()>::done(None).to_line();
    let left = left(&mut read);
    tokio::pin!(left);
    loop {
        if !out.is_empty() && write.write_all(&out).await.is_err() {
            return;
        }
        out.clear();
        let first = tokio::select! {
            () = &mut left => return,
            first = events.recv() => first,
        };
        // Then whatever else is waiting, in one write.
        let mut got = first;
        loop {
            match got {
                Ok(event) => out.extend(to_line(&Item::One(&*event))),
                Err(RecvError::Lagged(lost)) => out.extend(to_line(&Item::<Event>::Lost { lost })),
                Err(RecvError::Closed) => {
                    let _ = write.write_all(&out).await;
                    return;
                }
            }
            got = match events.try_recv() {
                Ok(event) => Ok(event),
                Err(TryRecvError::Lagged(lost)) => Err(RecvError::Lagged(lost)),
                Err(TryRecvError::Closed) => Err(RecvError::Closed),
                Err(TryRecvError::Empty) => break,
            };
        }
    }
}

fn push_lines(out: &mut Vec<u8>, lines: &[LogLine]) {
    for line in lines {
        out.extend(to_line(&Item::One(LogItem {
            process: line.process.to_string(),
            at_ms: line.at_ms,
            stream: line.stream.to_string(),
            line: String::from_utf8_lossy(&line.text).into_owned(),
            cut: line.cut,
        })));
    }
}

/// Resolves when the client has gone. Bytes it sends are read and ignored;
/// after a half-close (it only shut down its sending side) it is gone once
/// our side cannot be written either.
async fn left(read: &mut ReadHalf<'_>) {
    let mut sink = [0u8; 256];
    loop {
        match read.read(&mut sink).await {
            Ok(0) => break,
            Ok(_) => continue,
            Err(_) => return,
        }
    }
    loop {
        match read.ready(Interest::WRITABLE).await {
            Ok(ready) if !ready.is_write_closed() => {}
            _ => return,
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
