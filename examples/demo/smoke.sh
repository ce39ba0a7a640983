#!/usr/bin/env bash
# Smoke test of the demo's four pieces, run by hand in oxinit's order, without
# oxinit: restore, migrate, replicate &, app &; add notes; stop the app, then
# the replicator (final sync); check the replica; delete the database; restore;
# check the notes are back. Needs only bash and python3. Exit 0 = all good.
#
#   examples/demo/smoke.sh            (KEEP=1 keeps the temp dir for a look)
set -euo pipefail
cd "$(dirname "$0")"

DEMO_DATA="" # set below, once the traps can clean it up
pids=()
exec 3>&1 4>&2 # the real stdout/stderr, for cleanup: a signal can land mid-redirection

cleanup() {
    local rc=$?
    exec 1>&3 2>&4
    for pid in "${pids[@]}"; do
        { kill -KILL "$pid" && wait "$pid"; } 2>/dev/null || true
    done
    [ -n "$DEMO_DATA" ] || exit "$rc"
    if [ "$rc" -ne 0 ]; then
        for f in "$DEMO_DATA"/*.log; do [ -e "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done
        echo "smoke: FAILED (logs above)" >&2
    fi
    if [ "${KEEP:-}" = 1 ]; then echo "smoke: kept $DEMO_DATA"; else rm -rf "$DEMO_DATA"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "smoke: interrupted" >&4; exit 130' INT TERM

DEMO_DATA=$(mktemp -d -t oxinit-demo-smoke.XXXXXX)
export DATABASE_PATH=$DEMO_DATA/data/app.db REPLICA_DIR=$DEMO_DATA/replica REPLICATE_INTERVAL=0.2
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export PORT
URL=http://127.0.0.1:$PORT

step() { echo "smoke: $*"; }
fail() { echo "smoke: FAIL: $*" >&2; exit 1; }

# wait_for SECONDS WHAT COMMAND...: poll COMMAND until it succeeds or time runs out.
wait_for() {
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || fail "timed out waiting for $what"
        sleep 0.1
    done
}

# stopped PID SECONDS: wait (bounded) for a background process to exit; sets $status.
stopped() {
    local pid=$1
    wait_for "$2" "process $pid to exit" eval "! kill -0 $pid"
    status=0
    wait "$pid" || status=$?
}

# Python helpers: HTTP with urllib, and reading note bodies straight from a SQLite file.
post_note() { # post_note json|form BODY
    python3 - "$URL/notes" "$@" <<'PY'
import json, sys, urllib.parse, urllib.request
url, kind, body = sys.argv[1:]
if kind == "json":
    data, ctype = json.dumps({"body": body}).encode(), "application/json"
else:
    data, ctype = urllib.parse.urlencode({"body": body}).encode(), "application/x-www-form-urlencoded"
urllib.request.urlopen(urllib.request.Request(url, data, {"Content-Type": ctype}), timeout=5)
PY
}
api_notes() { # bodies from GET /api/notes, oldest first
    python3 -c 'import json, sys, urllib.request as u
for n in reversed(json.load(u.urlopen(sys.argv[1], timeout=5))): print(n["body"])' "$URL/api/notes"
}
db_notes() { # db_notes FILE: bodies stored in that database, oldest first
    python3 -c 'import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
for (body,) in db.execute("SELECT body FROM notes ORDER BY id"): print(body)' "$1"
}
healthy() { python3 -c 'import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=1)' "$URL/health"; }
has_notes() { [ "$(db_notes "$1" | wc -l)" -eq "$2" ]; }
expect_log() { grep -qF -- "$2" "$DEMO_DATA/$1.log" || fail "$1.log lacks: $2"; }
start() { # start NAME: run NAME.py in the background, output to NAME.log
    python3 "$1.py" >"$DEMO_DATA/$1.log" 2>&1 &
    pids+=($!)
    eval "${1}_pid=$!"
}

NOTES=("first note" "second: JSON" "third, from a <form> & ünïcode" "fourth" "fifth, just before the stop")

step "data in $DEMO_DATA, port $PORT"
python3 restore.py >"$DEMO_DATA/restore.log" 2>&1
expect_log restore "no replica"
python3 migrate.py >"$DEMO_DATA/migrate.log" 2>&1
python3 migrate.py >>"$DEMO_DATA/migrate.log" 2>&1
expect_log migrate "applied v2"
expect_log migrate "nothing to do"
step "restore (fresh) and migrate (twice: idempotent) ok"

start replicate
start app
wait_for 15 "app /health" healthy
step "app is healthy at $URL"

post_note json "${NOTES[0]}"
post_note json "${NOTES[1]}"
post_note form "${NOTES[2]}"
[ "$(api_notes)" = "$(printf '%s\n' "${NOTES[@]:0:3}")" ] || fail "GET /api/notes: $(api_notes)"
wait_for 15 "the replica to hold 3 notes" has_notes "$REPLICA_DIR/app.db" 3
step "3 notes added and replicated while running"

# Freeze the replicator: notes 4 and 5 can then reach the replica only through
# the final sync it makes when it is stopped after the app.
kill -STOP "$replicate_pid"
post_note json "${NOTES[3]}"
post_note form "${NOTES[4]}"
kill -TERM "$app_pid"
stopped "$app_pid" 15
[ "$status" -eq 0 ] || fail "app exited with $status after SIGTERM"
expect_log app "app: stopped cleanly"
step "app stopped cleanly on SIGTERM"

# Two stop signals at once, like an impatient operator: the second must not cut
# the final sync short. Both are pending (it is still frozen) when it wakes up.
kill -INT "$replicate_pid"
kill -TERM "$replicate_pid"
kill -CONT "$replicate_pid"
stopped "$replicate_pid" 15
[ "$status" -eq 0 ] || fail "replicate exited with $status"
expect_log replicate "final sync done (5 notes)"
expect_log replicate "during the final sync: finished it anyway"
[ "$(db_notes "$REPLICA_DIR/app.db")" = "$(printf '%s\n' "${NOTES[@]}")" ] || fail "replica: $(db_notes "$REPLICA_DIR/app.db")"
[ ! -e "$DATABASE_PATH-wal" ] || fail "$DATABASE_PATH-wal left behind: the database was not closed cleanly"
step "replicator made its final sync despite a second signal; replica holds all 5 notes"

rm -f "$DATABASE_PATH"
echo "stale" >"$DATABASE_PATH-wal" # what a crash can leave next to a deleted database
python3 restore.py >"$DEMO_DATA/restore.log" 2>&1
expect_log restore "its database is gone"
expect_log restore "restored from replica"
[ "$(db_notes "$DATABASE_PATH")" = "$(printf '%s\n' "${NOTES[@]}")" ] || fail "restored: $(db_notes "$DATABASE_PATH")"
python3 restore.py >"$DEMO_DATA/restore.log" 2>&1
expect_log restore "nothing to do"
python3 migrate.py >"$DEMO_DATA/migrate.log" 2>&1
expect_log migrate "nothing to do"
step "database deleted, restored from the replica with all 5 notes"

start app
wait_for 15 "restarted app /health" healthy
[ "$(api_notes)" = "$(printf '%s\n' "${NOTES[@]}")" ] || fail "GET /api/notes after restore: $(api_notes)"
kill -TERM "$app_pid"
stopped "$app_pid" 15
[ "$status" -eq 0 ] || fail "app exited with $status after SIGTERM"
step "app serves the restored notes"

mkdir -p "$DEMO_DATA/bad"
echo "not a database" >"$DEMO_DATA/bad/app.db"
status=0
DATABASE_PATH=$DEMO_DATA/other/app.db REPLICA_DIR=$DEMO_DATA/bad python3 restore.py >"$DEMO_DATA/restore.log" 2>&1 || status=$?
[ "$status" -ne 0 ] || fail "restore from a garbage replica exited 0"
expect_log restore "cannot restore"
[ ! -e "$DEMO_DATA/other/app.db" ] || fail "restore from a garbage replica left a database behind"
step "restore refuses an unreadable replica (exit $status)"

step "PASS"
