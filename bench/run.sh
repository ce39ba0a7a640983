#!/usr/bin/env bash
# Run the PID 1 benchmark (bench/pid1.py), the supervisor benchmark
# (bench/supervisor.py), the storm bench (bench/storm.py) or the handover
# bench (bench/handover.py) with everything it needs in place:
#   - tini, dumb-init (and supervisor for supervisor.py) from Debian, installed
#     with apt-get when missing;
#   - oxinit built static (glibc, +crt-static) in release mode, unless
#     --oxinit PATH names a binary already built.
# Usage: sudo bench/run.sh [pid1|supervisor|storm|handover] [--oxinit PATH] [options of the script…]
#   e.g. bench/run.sh --quick          bench/run.sh supervisor --rounds 5
# Needs root (every init runs as PID 1 of a new PID namespace, unshare --pid),
# except handover, where oxinit runs as a child subreaper.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
target=x86_64-unknown-linux-gnu

script=pid1
case "${1:-}" in
  pid1|supervisor|storm|handover) script="$1"; shift ;;
esac

if [[ $EUID -ne 0 && $script != handover ]]; then
  echo "run.sh: needs root (PID namespaces); try: sudo $0 $*" >&2
  exit 1
fi

missing=()
if [[ $script == pid1 || $script == supervisor ]]; then
  command -v tini >/dev/null || missing+=(tini)
  command -v dumb-init >/dev/null || missing+=(dumb-init)
fi
if [[ $script == supervisor ]]; then
  command -v supervisord >/dev/null || missing+=(supervisor)
fi
if ((${#missing[@]})); then
  echo "run.sh: installing ${missing[*]} from Debian" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# Build oxinit unless the caller passed --oxinit (a path to an existing binary).
have_oxinit=no
for arg in "$@"; do
  [[ $arg == --oxinit || $arg == --oxinit=* ]] && have_oxinit=yes
done
if [[ $have_oxinit == no ]]; then
  echo "run.sh: building oxinit (static, release) in $repo" >&2
  # crt-static: one self-contained binary like the one shipped in images,
  # so its spawn cost has no dynamic loader in it.
  (cd "$repo" && RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --target "$target")
  target_dir="${CARGO_TARGET_DIR:-target}"
  [[ $target_dir == /* ]] || target_dir="$repo/$target_dir"
  set -- --oxinit "$target_dir/$target/release/oxinit" "$@"
fi

exec python3 "$here/$script.py" "$@"
