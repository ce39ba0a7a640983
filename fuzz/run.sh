#!/usr/bin/env bash
# Fuzz the oxfile parser with libFuzzer on stable Rust (no sanitizer: Rust's
# own checks and the target's assertions find the bugs; ASan needs nightly).
# Usage: fuzz/run.sh [SECONDS]   (default 60; CI runs it briefly)
# Installs cargo-fuzz when missing. A failure leaves the input that broke a
# rule in fuzz/artifacts/oxfile/; replay it with
#   cargo fuzz run --sanitizer none oxfile fuzz/artifacts/oxfile/crash-…
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
mkdir -p corpus/oxfile
exec cargo fuzz run --sanitizer none oxfile corpus/oxfile seeds -- \
  -max_total_time="$seconds" -max_len=16384 -timeout=10
