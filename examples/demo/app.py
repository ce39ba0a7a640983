#!/usr/bin/env python3
"""The demo web app: a tiny notes board backed by SQLite (Python stdlib only).

GET / (HTML + form), POST /notes (form or JSON), GET /api/notes (JSON),
GET /health (200 "ok" once the database answers SELECT 1).

What it shows under oxinit: it opens the database like a production SQLite app
(WAL, busy_timeout), and on SIGTERM/SIGINT it stops accepting, lets in-flight
requests finish and closes the database cleanly, so the WAL is checkpointed and
the replicator, stopped after it, ships every write.
"""
import html, json, os, signal, socket, sqlite3, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

HOST = os.environ.get("HOST", "127.0.0.1")
PORT = os.environ.get("PORT", "8080")
DATABASE_PATH = os.environ.get("DATABASE_PATH", "/tmp/oxinit-demo/data/app.db")
MAX_BODY = 64 * 1024  # bytes of request body we accept
MAX_NOTE = 1000  # characters in one note

# One connection shared by the request threads, serialised by a lock: simple,
# and SQLite allows one writer at a time anyway.
db_lock = threading.Lock()
db = None


def open_db(path):
    if not os.path.exists(path):
        # sqlite3.connect would silently create an empty database: the migrate
        # step owns the schema, so a missing file means the boot order is wrong.
        raise SystemExit(f"app: database {path} does not exist: run migrate.py first")
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    conn.execute("PRAGMA synchronous=NORMAL")  # with WAL: never corrupt, fewer fsyncs
    conn.execute("PRAGMA busy_timeout=5000")  # wait for the replicator instead of failing
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def query(sql, args=()):
    with db_lock:
        return db.execute(sql, args).fetchall()


class Handler(BaseHTTPRequestHandler):
    server_version = "oxinit-demo/1"
    timeout = 5  # seconds: a stalled client cannot hold up the shutdown forever

    def respond(self, status, body, ctype="text/plain; charset=utf-8", headers=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        ms = (time.monotonic() - self.started) * 1000
        print(f"{self.client_address[0]} {self.command} {self.path} {status} {ms:.1f}ms", flush=True)

    def log_request(self, code="-", size="-"):
        pass  # respond() logs one line per request, with its duration

    def log_message(self, fmt, *args):  # protocol errors, timeouts
        print(f"app: {self.client_address[0]}: {fmt % args}", file=sys.stderr, flush=True)

    def dispatch(self, routes):
        self.started = time.monotonic()
        route = routes.get(self.path.split("?", 1)[0])
        if route is None:
            return self.respond(404, "not found\n")
        try:
            route()
        except sqlite3.Error as e:
            print(f"app: {self.command} {self.path}: database error: {e}", file=sys.stderr, flush=True)
            self.respond(503 if self.path == "/health" else 500, f"database error: {e}\n")
        except Exception as e:  # a bug: say so on stderr, keep serving
            print(f"app: {self.command} {self.path}: {e!r}", file=sys.stderr, flush=True)
            self.respond(500, "internal error\n")

    def do_GET(self):
        self.dispatch({"/": self.index, "/api/notes": self.list_json, "/health": self.health})

    def do_POST(self):
        self.dispatch({"/notes": self.add_note})

    def health(self):
        query("SELECT 1")
        self.respond(200, "ok\n")

    def notes(self):
        rows = query("SELECT id, body, created_at FROM notes ORDER BY id DESC LIMIT 100")
        return [{"id": i, "body": b, "created_at": c} for i, b, c in rows]

    def list_json(self):
        self.respond(200, json.dumps(self.notes()) + "\n", "application/json")

    def index(self):
        items = "".join(
            f"<li>{html.escape(n['body'])} <small>{n['created_at']}</small></li>" for n in self.notes()
        )
        page = (
            "<!doctype html><meta charset=utf-8><title>oxinit demo</title>"
            "<h1>Notes</h1><form method=post action=/notes>"
            "<input name=body maxlength=1000 autofocus required> <button>Add</button></form>"
            f"<ul>{items}</ul>"
        )
        self.respond(200, page, "text/html; charset=utf-8")

    def add_note(self):
        length = self.headers.get("Content-Length", "")
        length = int(length) if length.isdigit() else -1
        if not 0 <= length <= MAX_BODY:
            return self.respond(413 if length > MAX_BODY else 411, "need a Content-Length of at most 64 KiB\n")
        raw = self.rfile.read(length).decode("utf-8", "replace")
        is_json = self.headers.get("Content-Type", "").startswith("application/json")
        try:
            body = json.loads(raw).get("body") if is_json else parse_qs(raw).get("body", [""])[0]
        except (ValueError, AttributeError):
            return self.respond(400, 'expected JSON like {"body": "hello"}\n')
        if not isinstance(body, str) or not body.strip() or len(body) > MAX_NOTE:
            return self.respond(400, f"body must be a non-empty string of at most {MAX_NOTE} characters\n")
        with db_lock:  # insert and read back under one lock (no RETURNING: SQLite < 3.35)
            note_id = db.execute("INSERT INTO notes (body) VALUES (?)", (body.strip(),)).lastrowid
            row = db.execute("SELECT id, body, created_at FROM notes WHERE id = ?", (note_id,)).fetchone()
        if is_json:
            note = {"id": row[0], "body": row[1], "created_at": row[2]}
            self.respond(201, json.dumps(note) + "\n", "application/json")
        else:
            self.respond(303, "", headers=[("Location", "/")])  # back to the list


class Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the request threads: in-flight requests finish

    def server_bind(self):
        # `oxinit reload app` starts the new app beside the old one, on the same
        # port: both must say SO_REUSEPORT (oxinit stops the old one once the
        # new one answers /health).
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


def main():
    global db
    if not PORT.isdigit() or not 0 < int(PORT) < 65536:
        sys.exit(f"app: PORT={PORT!r} is not a TCP port number (1-65535)")
    try:
        db = open_db(DATABASE_PATH)
        query("SELECT count(*) FROM notes")  # fail now, not at the first request
    except sqlite3.Error as e:
        sys.exit(f"app: cannot use database {DATABASE_PATH}: {e} (did migrate.py run?)")
    # Block TERM/INT in every thread (threads inherit the mask) and wait for them
    # in the main thread with sigwait: no handler can interrupt a request midway.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    try:
        server = Server((HOST, int(PORT)), Handler)
    except OSError as e:
        sys.exit(f"app: cannot listen on {HOST}:{PORT}: {e} (set PORT to a free port)")
    threading.Thread(target=server.serve_forever, name="http").start()
    print(f"app: listening on http://{HOST}:{PORT}/ (pid {os.getpid()}, database {DATABASE_PATH})", flush=True)

    sig = signal.sigwait({signal.SIGTERM, signal.SIGINT})
    print(f"app: got {signal.Signals(sig).name}, finishing in-flight requests", flush=True)
    server.shutdown()  # stop accepting: serve_forever returns
    server.server_close()  # close the socket, join the request threads
    with db_lock:
        try:
            # Fold the WAL back into app.db. Not required for safety (the WAL is
            # durable), but it leaves a tidy file; close() removes the WAL when
            # no other connection (the replicator) still has the database open.
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as e:
            print(f"app: checkpoint skipped ({e}); the WAL keeps the data", file=sys.stderr, flush=True)
        db.close()
    print("app: stopped cleanly", flush=True)


if __name__ == "__main__":
    main()
