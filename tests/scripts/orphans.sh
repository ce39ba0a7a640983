#!/bin/sh
# Make COUNT orphans for the init under test to adopt and reap.
#
# usage: orphans.sh LOG COUNT GATE
#
# 20 short-lived subshells each start COUNT/20 background processes and exit at
# once, so every one of those processes is orphaned and reparented to the nearest
# subreaper: oxinit. They all block reading a FIFO; when the test opens GATE the
# first time, this script closes the FIFO's only writer and they all exit together
# (a burst of SIGCHLDs that coalesce). The second opening of GATE ends the script.
# Events in LOG: "spawned", "released", "exit".
set -eu
LOG=$1 COUNT=$2 GATE=$3
log() { echo "$(date +%s%3N) orphans $*" >> "$LOG"; }
# Wait for the test to open GATE. A read that gets EOF without a line met the
# test's previous writer still closing: open again.
gate() { until read _ < "$GATE"; do :; done; }

pipe=$(dirname "$GATE")/orphans.fifo
mkfifo "$pipe"
exec 4<>"$pipe"   # the only writer; read-write so the open does not block
exec 3<"$pipe"    # what the orphans read

per=$((COUNT / 20))
j=0
while [ $j -lt 20 ]; do
  (
    i=0
    while [ $i -lt $per ]; do
      # exec 4>&-, not `read 4>&-`: dash would keep a saved copy of fd 4, and an
      # orphan holding the writer never sees EOF.
      { exec 4>&-; read _ <&3; } &
      i=$((i + 1))
    done
  ) &
  j=$((j + 1))
done
wait   # for the 20 subshells only: the orphans are not our children
log spawned

gate
exec 4>&-   # EOF for every orphan
log released

gate
log exit
