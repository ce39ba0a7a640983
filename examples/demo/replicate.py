#!/usr/bin/env python3
"""The replicator: a stand-in for `litestream replicate` (Python stdlib only).

Every REPLICATE_INTERVAL seconds, if the database changed, it copies a
consistent snapshot to $REPLICA_DIR/app.db with SQLite's online backup API:
into a temp file, fsync, atomic rename. A reader of the replica sees the old
copy or the new one, never half of one.

On SIGTERM/SIGINT it makes a final sync and exits 0. oxinit stops the app
before the replicator, so the final sync carries the app's last writes. A
second signal during the final sync is only logged: the sync still completes
(Litestream skips its final sync when signalled twice; oxinit sends one).
"""
import os, signal, sqlite3, sys, time
from urllib.parse import quote

DATABASE_PATH = os.environ.get("DATABASE_PATH", "/tmp/oxinit-demo/data/app.db")
REPLICA_DIR = os.environ.get("REPLICA_DIR", "/tmp/oxinit-demo/replica")
REPLICA = os.path.join(REPLICA_DIR, "app.db")
INTERVAL_SETTING = os.environ.get("REPLICATE_INTERVAL", "1")
try:
    INTERVAL = float(INTERVAL_SETTING)
except ValueError:
    INTERVAL = 0.0
if not 0 < INTERVAL <= 3600:
    sys.exit(f"replicate: REPLICATE_INTERVAL={INTERVAL_SETTING!r}: need seconds between 0 and 3600, like 1 or 0.5")
STOP = {signal.SIGTERM, signal.SIGINT}


def log(msg, err=False):
    print(f"replicate: {msg}", file=sys.stderr if err else sys.stdout, flush=True)


def fsync_path(path, flags=os.O_RDONLY):
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_source():
    """A long-lived connection to the database, or None while it does not exist."""
    try:
        inode = os.stat(DATABASE_PATH).st_ino
    except FileNotFoundError:
        return None, None
    # mode=rw: never create an empty database if the path is wrong.
    conn = sqlite3.connect(f"file:{quote(DATABASE_PATH)}?mode=rw", uri=True, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=5000")
    return conn, inode


def sync(src):
    """Copy a snapshot of src to the replica; return (notes, bytes, milliseconds)."""
    started = time.monotonic()
    os.makedirs(REPLICA_DIR, exist_ok=True)
    tmp = f"{REPLICA}.tmp-{os.getpid()}"
    try:
        dst = sqlite3.connect(tmp, isolation_level=None)
        src.backup(dst)  # one step: a consistent snapshot; the app keeps writing meanwhile
        # The copy inherits the WAL flag; a rollback journal makes the replica one
        # self-contained file that opens read-only anywhere (restore.py, sqlite3 CLI).
        dst.execute("PRAGMA journal_mode=DELETE")
        try:
            notes = dst.execute("SELECT count(*) FROM notes").fetchone()[0]
        except sqlite3.OperationalError:
            notes = 0  # not migrated yet
        dst.close()
        fsync_path(tmp)
        size = os.path.getsize(tmp)
        os.replace(tmp, REPLICA)
        fsync_path(REPLICA_DIR, os.O_RDONLY | os.O_DIRECTORY)
    finally:
        for leftover in (tmp, tmp + "-journal", tmp + "-wal", tmp + "-shm"):
            if os.path.exists(leftover):
                os.remove(leftover)
    return notes, size, (time.monotonic() - started) * 1000


def wait_for_stop(timeout):
    """Sleep up to timeout seconds; return the stop signal taken, or None."""
    for wait in (timeout, 0):
        info = signal.sigtimedwait(STOP, wait)
        # Check the number, not just None: CPython 3.11 returns an uninitialised
        # siginfo when the wait is interrupted (SIGSTOP/SIGCONT) past its deadline.
        # The second, non-blocking look takes a signal that arrived meanwhile.
        if info is not None and info.si_signo in STOP:
            return info.si_signo
    return None


def main():
    # Block TERM/INT and take them with sigtimedwait, which doubles as the sleep
    # between syncs: no handler can interrupt a sync halfway.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP)
    log(f"replicating {DATABASE_PATH} to {REPLICA} every {INTERVAL:g}s when it changes")
    src, inode, synced, waiting = None, None, None, False
    while True:
        try:
            try:
                current = os.stat(DATABASE_PATH).st_ino
            except FileNotFoundError:
                current = None
            if src is not None and current != inode:
                # Deleted or replaced (restored): our connection reads a ghost file.
                log(f"{DATABASE_PATH} was removed or replaced, reopening")
                src.close()
                src, synced = None, None
            if src is None:
                src, inode = open_source()
                if src is None and not waiting:
                    log(f"waiting for {DATABASE_PATH} to exist (the replica is left as it is)")
                waiting = src is None
            # data_version changes whenever another connection commits: exact and
            # cheap, unlike file mtimes (coarse clock ticks, WAL files reused in place).
            if src is not None:
                version = src.execute("PRAGMA data_version").fetchone()[0]
                if version != synced:
                    notes, size, ms = sync(src)
                    synced = version
                    log(f"synced {notes} notes ({size // 1024} KiB in {ms:.0f} ms)")
        except (sqlite3.Error, OSError) as e:
            log(f"sync failed, retrying in {INTERVAL:g}s: {e}", err=True)
        stop = wait_for_stop(INTERVAL)
        if stop is not None:
            break

    log(f"got {signal.Signals(stop).name}, final sync")
    try:
        if src is None:
            src, inode = open_source()
        if src is None:
            log(f"final sync skipped: no database at {DATABASE_PATH}")
            return
        notes, _, _ = sync(src)  # unconditional: the last word must be on the replica
        src.close()  # our close may be the last one: it checkpoints and removes the WAL
    except (sqlite3.Error, OSError) as e:
        sys.exit(f"replicate: final sync FAILED, the replica may miss the last writes: {e}")
    for sig in signal.sigpending() & STOP:
        log(f"got another stop signal ({signal.Signals(sig).name}) during the final sync: finished it anyway")
    log(f"final sync done ({notes} notes)")


if __name__ == "__main__":
    main()
