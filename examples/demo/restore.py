#!/usr/bin/env python3
"""Oneshot: bring the database back from the replica when it is missing.

The stand-in for `litestream restore -if-db-not-exists -if-replica-exists`:
  database present            -> nothing to do
  no database, replica there  -> copy the replica in (checked, then atomic rename)
  neither                     -> start fresh (migrate.py creates the database)
It exits non-zero only on a real error (an unreadable or corrupt replica), which
makes oxinit abort the boot rather than start the app on an empty database.
"""
import os, sqlite3, sys
from urllib.parse import quote

DATABASE_PATH = os.environ.get("DATABASE_PATH", "/tmp/oxinit-demo/data/app.db")
REPLICA_DIR = os.environ.get("REPLICA_DIR", "/tmp/oxinit-demo/replica")
REPLICA = os.path.join(REPLICA_DIR, "app.db")


def fsync_path(path, flags=os.O_RDONLY):
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def count_notes(conn):
    try:
        return conn.execute("SELECT count(*) FROM notes").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # replica taken before the first migration: no table yet


def remove_stale_wal():
    # A -wal file without its database belongs to a database that is gone; SQLite
    # would replay it onto the next file of that name (restored or fresh).
    for stale in (DATABASE_PATH + "-wal", DATABASE_PATH + "-shm"):
        if os.path.exists(stale):
            os.remove(stale)
            print(f"restore: removed {stale} (its database is gone)", flush=True)


def restore():
    directory = os.path.dirname(os.path.abspath(DATABASE_PATH))
    os.makedirs(directory, exist_ok=True)
    # mode=ro: never create or modify the replica, even by accident.
    src = sqlite3.connect(f"file:{quote(REPLICA)}?mode=ro", uri=True)
    tmp = f"{DATABASE_PATH}.restore-{os.getpid()}"
    try:
        verdict = src.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise sqlite3.DatabaseError(f"quick_check says: {verdict}")
        dst = sqlite3.connect(tmp)
        # The online backup API copies a consistent snapshot page by page.
        src.backup(dst)
        notes = count_notes(dst)
        dst.close()
        fsync_path(tmp)  # the data is on disk before the name points at it
        os.replace(tmp, DATABASE_PATH)  # atomic: the app never sees half a file
        fsync_path(directory, os.O_RDONLY | os.O_DIRECTORY)  # and the rename too
    finally:
        src.close()
        if os.path.exists(tmp):
            os.remove(tmp)
    print(f"restore: restored from replica {REPLICA} ({notes} notes)", flush=True)


def main():
    if os.path.exists(DATABASE_PATH):
        print(f"restore: database present at {DATABASE_PATH}, nothing to do", flush=True)
        return
    try:
        remove_stale_wal()
        if not os.path.exists(REPLICA):
            print(f"restore: no replica at {REPLICA}, starting fresh", flush=True)
        else:
            restore()
    except (sqlite3.Error, OSError) as e:
        sys.exit(
            f"restore: cannot restore {DATABASE_PATH} from replica {REPLICA}: {e}\n"
            f"restore: fix or remove the replica (to start with an empty database) and boot again"
        )


if __name__ == "__main__":
    main()
