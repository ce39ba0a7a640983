#!/bin/sh
# Leaves an orphan behind every half second: the subshell exits at once and
# its `sleep` is reparented to the nearest subreaper (or PID 1).
trap 'exit 0' TERM
echo "orphans: started"
while :; do
  (sleep 0.2 &)
  sleep 0.5 &
  wait $!
done
