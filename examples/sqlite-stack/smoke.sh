#!/usr/bin/env bash
# Smoke test of this stack on a laptop: the real Node app and migration on a
# real SQLite file (better-sqlite3 from npm), under the real oxinit, with a
# stand-in for the litestream binary (restore: nothing to restore; replicate:
# listens on its metrics port until SIGTERM). Checks: boot order, the four
# pragmas in effect, notes written through the API, the ordered stop (app
# closes the database before litestream stops) and exit code 0.
#
#   cargo build && sudo examples/sqlite-stack/smoke.sh [path/to/oxinit]
#
# Needs root (the oxfile runs processes as uid 1000 and chowns the data dir),
# node >= 20, npm and python3. `npm ci` compiles better-sqlite3 when no
# prebuilt binary can be downloaded: minutes on a small machine, which is why
# this is a script and not part of `cargo test`. SMOKE_NODE_MODULES=DIR reuses
# an installed node_modules; KEEP=1 keeps the temp dir.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
oxinit=${1:-$here/../../target/debug/oxinit}
[ -x "$oxinit" ] || { echo "smoke: no oxinit at $oxinit (cargo build first, or pass its path)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "smoke: needs root (processes run as uid 1000)" >&2; exit 2; }
for tool in node npm python3; do
    command -v "$tool" >/dev/null || { echo "smoke: needs $tool" >&2; exit 2; }
done

tmp=$(mktemp -d -t oxinit-stack-smoke.XXXXXX)
ox_pid=""
cleanup() {
    local rc=$?
    [ -n "$ox_pid" ] && kill -KILL "$ox_pid" 2>/dev/null || true
    if [ "$rc" -ne 0 ] && [ -f "$tmp/oxinit.log" ]; then
        echo "--- oxinit's output"; tail -n 40 "$tmp/oxinit.log"; echo "smoke: FAILED" >&2
    fi
    if [ "${KEEP:-}" = 1 ]; then echo "smoke: kept $tmp"; else rm -rf "$tmp"; fi
    exit "$rc"
}
trap cleanup EXIT
step() { echo "smoke: $*"; }
fail() { echo "smoke: FAIL: $*" >&2; exit 1; }
chmod 755 "$tmp" # uid 1000 must reach the app and the data

step "installing the app in $tmp/app"
mkdir -p "$tmp/app" "$tmp/data" "$tmp/bin"
cp -r "$here/package.json" "$here/package-lock.json" "$here/src" "$tmp/app/"
if [ -n "${SMOKE_NODE_MODULES:-}" ]; then
    cp -r "$SMOKE_NODE_MODULES" "$tmp/app/node_modules"
else
    (cd "$tmp/app" && npm ci --omit=dev --no-audit --no-fund >"$tmp/npm.log" 2>&1) || { tail -n 30 "$tmp/npm.log"; fail "npm ci"; }
fi
chmod -R a+rX "$tmp/app"

# The stand-in for litestream: same command line, same stop behaviour.
cat >"$tmp/bin/litestream" <<'PY'
#!/usr/bin/env python3
import os, signal, socket, sys, time
verb = sys.argv[1] if len(sys.argv) > 1 else ""
log = lambda line: print(f"litestream-stub: {line}", flush=True)
if verb == "restore":
    log("no replica: nothing to restore (-if-replica-exists)")
    sys.exit(0)
if verb != "replicate":
    sys.exit(f"litestream-stub: unknown command {verb!r}")
host, port = os.environ.get("LITESTREAM_METRICS", "127.0.0.1:9090").rsplit(":", 1)
server = socket.create_server((host, int(port)))
server.settimeout(0.5)
stopping = []
signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
log(f"replicating, metrics on {host}:{port}")
while not stopping:
    try:
        server.accept()[0].close()
    except (socket.timeout, InterruptedError):
        pass
with open(os.environ["SMOKE_EVENTS"], "a") as f:
    f.write(f"{time.time():.3f} litestream final sync\n")
log("final sync done")
PY
chmod 755 "$tmp/bin/litestream"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port); metrics=$(free_port); ls_port=$(free_port)
export DB_PATH=$tmp/data/app.db DATA_DIR=$tmp/data APP_DIR=$tmp/app PORT=$port
export METRICS_LISTEN=127.0.0.1:$metrics LITESTREAM_METRICS=127.0.0.1:$ls_port
export LITESTREAM_CONFIG=$here/litestream.yml SMOKE_EVENTS=$tmp/events PATH=$tmp/bin:$PATH
touch "$SMOKE_EVENTS"; chmod 666 "$SMOKE_EVENTS"

step "booting oxinit with $here/oxfile.toml"
"$oxinit" run --config "$here/oxfile.toml" >"$tmp/oxinit.log" 2>&1 &
ox_pid=$!

http() { python3 - "$@" <<'PY'
import json, sys, urllib.request
method, url = sys.argv[1], sys.argv[2]
data = sys.argv[3].encode() if len(sys.argv) > 3 else None
req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=5) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
except OSError:
    print(0)
PY
}
for _ in $(seq 600); do # 60 s
    case "$(http GET "http://127.0.0.1:$metrics/health")" in 200*) break ;; esac
    kill -0 "$ox_pid" 2>/dev/null || fail "oxinit exited during boot"
    sleep 0.1
done
case "$(http GET "http://127.0.0.1:$metrics/health")" in 200*) ;; *) fail "oxinit's /health never became 200" ;; esac
step "booted; oxinit reports healthy"

grep -q "migrated .* to schema version 3" "$tmp/oxinit.log" || fail "the migration did not run"
order=$(grep -oE '^(volume|restore|migrate|litestream|app) ' "$tmp/oxinit.log" | awk '!seen[$1]++ {print $1}' | paste -sd' ')
[ "$order" = "restore migrate litestream app" ] || [ "$order" = "volume restore migrate litestream app" ] || fail "boot order was: $order"

reply=$(http POST "http://127.0.0.1:$port/notes" '{"author": "ada", "body": "first"}')
case "$reply" in 201*) ;; *) fail "POST /notes: $reply" ;; esac
http POST "http://127.0.0.1:$port/notes" '{"author": "ada", "body": "second"}' >/dev/null
reply=$(http GET "http://127.0.0.1:$port/notes")
case "$reply" in 200*'"body":"second"'*'"body":"first"'*) ;; *) fail "GET /notes: $reply" ;; esac
step "notes written and read back through the API"

# The pragmas as the app's connection sees them (journal_mode is also
# stored in the file; the others are per connection).
pragmas=$(cd "$tmp/app" && node -e '
  const db = require("./src/db").open();
  const p = (n) => db.pragma(n, { simple: true });
  console.log([p("journal_mode"), p("busy_timeout"), p("synchronous"), p("foreign_keys"), p("user_version")].join(" "));
  try { db.prepare("INSERT INTO notes(author_id, body) VALUES (999, ?)").run("orphan"); console.log("fk-not-enforced"); }
  catch (e) { console.log(e.code); }
')
[ "$pragmas" = "$(printf 'wal 5000 1 1 3\nSQLITE_CONSTRAINT_FOREIGNKEY')" ] || fail "pragmas: $pragmas"
step "pragmas: journal_mode=wal busy_timeout=5000 synchronous=NORMAL foreign_keys=ON; schema version 3"
owner=$(stat -c %u "$DB_PATH")
[ "$owner" = 1000 ] || fail "the database belongs to uid $owner, not 1000"

step "stopping (SIGTERM)"
kill -TERM "$ox_pid"
rc=0; wait "$ox_pid" || rc=$?
ox_pid=""
[ "$rc" = 0 ] || fail "oxinit exited with $rc"
closed=$(grep -n "database closed" "$tmp/oxinit.log" | cut -d: -f1 | head -1)
synced=$(grep -n "final sync done" "$tmp/oxinit.log" | cut -d: -f1 | head -1)
[ -n "$closed" ] && [ -n "$synced" ] && [ "$closed" -lt "$synced" ] || fail "the app did not close the database before litestream's final sync"
count=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from notes").fetchone()[0])' "$DB_PATH")
[ "$count" = 2 ] || fail "$count notes in the database after the stop, not 2"
step "ok: app stopped and closed the database, then litestream's final sync; exit 0; 2 notes on disk"
