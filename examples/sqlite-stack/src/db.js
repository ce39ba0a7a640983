// One place opens the database, so every connection gets the same four
// pragmas. They are per connection (journal_mode=WAL is also stored in the
// file), so the app, the migration and any worker must all go through here.
"use strict";

const Database = require("better-sqlite3");

const DB_PATH = process.env.DB_PATH || "/data/app.db";

function open(path = DB_PATH) {
  const db = new Database(path);
  // Readers never block the writer, and Litestream replicates from the WAL.
  db.pragma("journal_mode = WAL");
  // Wait up to 5 s for a lock (Litestream's checkpoints, a second writer)
  // instead of failing at once with SQLITE_BUSY.
  db.pragma("busy_timeout = 5000");
  // Durable in WAL mode at a fraction of FULL's fsyncs: a power cut can lose
  // the last transactions, never corrupt the file.
  db.pragma("synchronous = NORMAL");
  // Off by default in SQLite, for compatibility; REFERENCES mean nothing
  // without it.
  db.pragma("foreign_keys = ON");
  return db;
}

module.exports = { open, DB_PATH };
