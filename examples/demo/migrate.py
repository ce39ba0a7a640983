#!/usr/bin/env python3
"""Oneshot: bring the database schema up to date, then exit.

Versioned with PRAGMA user_version (a number SQLite keeps in the file header):
migration N runs only when the database is at N-1, inside one transaction
together with the version bump, so a crash leaves the database either before or
after a migration, never half-way. Running it again is a no-op.

What it shows under oxinit: a oneshot that must succeed (within `timeout`)
before the replicator and the app start; a failure aborts the boot.
"""
import os, sqlite3, sys

DATABASE_PATH = os.environ.get("DATABASE_PATH", "/tmp/oxinit-demo/data/app.db")

# Append only: never edit a migration that has shipped, add the next one.
MIGRATIONS = [
    (1, "create notes", [
        """CREATE TABLE notes (
               id INTEGER PRIMARY KEY,
               body TEXT NOT NULL,
               created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
           )""",
    ]),
    (2, "index notes by creation time", [
        "CREATE INDEX notes_created_at ON notes (created_at)",
    ]),
]
LATEST = MIGRATIONS[-1][0]


def migrate(conn):
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > LATEST:
        # A newer release migrated this database; running old code on it is unsafe.
        raise SystemExit(
            f"migrate: {DATABASE_PATH} is at version {current} but this migrate.py only knows "
            f"up to {LATEST}: deploy the newer release (or restore an older database)"
        )
    if current == LATEST:
        print(f"migrate: database at version {current}, nothing to do", flush=True)
        return
    for version, name, statements in MIGRATIONS:
        if version <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")  # take the write lock up front
        try:
            for sql in statements:
                conn.execute(sql)
            # PRAGMA takes no bound parameters; version is our own integer.
            conn.execute(f"PRAGMA user_version = {int(version)}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled back already
                conn.execute("ROLLBACK")
            raise
        print(f"migrate: applied v{version} ({name})", flush=True)
    print(f"migrate: database at version {LATEST}", flush=True)


def main():
    directory = os.path.dirname(os.path.abspath(DATABASE_PATH))
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        sys.exit(f"migrate: cannot create data directory {directory}: {e}")
    try:
        # isolation_level=None: we write BEGIN/COMMIT ourselves (the sqlite3
        # module would otherwise commit behind our back on DDL in older Pythons).
        conn = sqlite3.connect(DATABASE_PATH, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=5000")
        # WAL is a property of the file: set it once here, before anyone reads.
        conn.execute("PRAGMA journal_mode=WAL")
        migrate(conn)
        conn.close()
    except sqlite3.Error as e:
        sys.exit(f"migrate: failed on {DATABASE_PATH}: {e}")


if __name__ == "__main__":
    main()
