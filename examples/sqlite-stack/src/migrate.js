// Brings the schema up to date, once, before the app starts (oxinit runs it
// as a oneshot: if it fails, boot stops and the app never sees a half-made
// schema). The schema version lives in the file itself (PRAGMA user_version),
// and each step runs in its own write transaction.
"use strict";

const { open, DB_PATH } = require("./db");

const MIGRATIONS = [
  `CREATE TABLE authors (
     id INTEGER PRIMARY KEY,
     name TEXT NOT NULL UNIQUE
   )`,
  `CREATE TABLE notes (
     id INTEGER PRIMARY KEY,
     author_id INTEGER NOT NULL REFERENCES authors(id) ON DELETE CASCADE,
     body TEXT NOT NULL,
     created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
   )`,
  `CREATE INDEX notes_by_author ON notes(author_id, id)`,
];

function migrate(db) {
  const current = db.pragma("user_version", { simple: true });
  if (current > MIGRATIONS.length) {
    throw new Error(
      `${DB_PATH} is at schema version ${current}, newer than this code (${MIGRATIONS.length}): deploy the newer code or restore an older database`
    );
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    // IMMEDIATE takes the write lock up front: a second writer waits
    // (busy_timeout) instead of failing half-way.
    db.transaction(() => {
      db.exec(MIGRATIONS[version]);
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
    console.log(`migrated ${DB_PATH} to schema version ${version + 1}`);
  }
  return MIGRATIONS.length;
}

if (require.main === module) {
  const db = open();
  const version = migrate(db);
  console.log(`${DB_PATH} is at schema version ${version}`);
  db.close();
}

module.exports = { migrate, MIGRATIONS };
