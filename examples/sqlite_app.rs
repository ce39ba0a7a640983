//! A small SQLite app for the Docker tests: the writer that Litestream
//! replicates, built as a static binary so it runs in a `FROM scratch` image.
//!
//! ```sh
//! RUSTFLAGS="-C target-feature=+crt-static" cargo build --release \
//!     --target x86_64-unknown-linux-gnu --example sqlite_app
//! sqlite_app migrate /data/app.db   # create the table; print what is there
//! sqlite_app write /data/app.db     # insert rows until SIGTERM, "ack N" after each commit
//! sqlite_app ids /data/app.db       # print every row's id, one a line
//! ```
//!
//! `write` acknowledges a row only after its transaction committed (WAL mode,
//! `synchronous = FULL`), so every "ack N" line names a write that a correct
//! replication and restore must bring back. It stops between two writes on
//! SIGTERM or SIGINT and exits 0, like a web app that finishes its requests.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::Connection;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let db = Connection::open(path)?;
    // Litestream holds read transactions and checkpoints on its own; wait for
    // its locks instead of failing a write with SQLITE_BUSY.
    db.busy_timeout(Duration::from_secs(10))?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "synchronous", "FULL")?;
    Ok(db)
}

fn migrate(db: &Connection) -> rusqlite::Result<()> {
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS writes (id INTEGER PRIMARY KEY, at TEXT NOT NULL)",
    )?;
    let (rows, max): (i64, i64) = db.query_row(
        "SELECT count(*), coalesce(max(id), 0) FROM writes",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    println!("migrate: {rows} rows, max id {max}");
    Ok(())
}

fn write(db: &Connection, pause: Duration) -> rusqlite::Result<()> {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        let handler = on_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGINT, handler);
    }
    let mut out = std::io::stdout().lock();
    while !STOP.load(Ordering::SeqCst) {
        db.execute(
            "INSERT INTO writes (at) VALUES (strftime('%Y-%m-%dT%H:%M:%f', 'now'))",
            [],
        )?;
        // Autocommit: execute returned, so the row is committed (and synced).
        let _ = writeln!(out, "ack {}", db.last_insert_rowid());
        let _ = out.flush();
        std::thread::sleep(pause);
    }
    let _ = writeln!(out, "writer: stopped cleanly");
    Ok(())
}

fn ids(db: &Connection) -> rusqlite::Result<()> {
    let mut stmt = db.prepare("SELECT id FROM writes ORDER BY id")?;
    let mut out = std::io::stdout().lock();
    for id in stmt.query_map([], |row| row.get::<_, i64>(0))? {
        let _ = writeln!(out, "{}", id?);
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (verb, path) = match args.as_slice() {
        [_, verb, path] => (verb.as_str(), Path::new(path)),
        _ => {
            eprintln!("usage: sqlite_app migrate|write|ids DATABASE");
            std::process::exit(2);
        }
    };
    let pause = std::env::var("WRITE_PAUSE_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_millis(20), Duration::from_millis);
    let result = open(path).and_then(|db| match verb {
        "migrate" => migrate(&db),
        "write" => write(&db, pause),
        "ids" => ids(&db),
        other => {
            eprintln!("sqlite_app: unknown verb {other:?}: use migrate, write or ids");
            std::process::exit(2);
        }
    });
    if let Err(e) = result {
        eprintln!("sqlite_app {verb} {}: {e}", path.display());
        std::process::exit(1);
    }
}
