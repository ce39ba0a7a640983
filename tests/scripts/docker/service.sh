#!/bin/sh
# A service for the Docker tests: service.sh NAME [LINGER_SECONDS]
# Says when it starts; on SIGTERM says "stopping", takes LINGER seconds (a
# database flush, a replicator's last sync), says "stopped" and exits 0.
name=$1
linger=${2:-0}
trap 'echo "$name: stopping"; sleep "$linger"; echo "$name: stopped"; exit 0' TERM
echo "$name: started"
# `wait` returns at once when a trapped signal arrives; a plain `sleep`
# would delay the trap until it ends.
while :; do
  sleep 1 &
  wait $!
done
