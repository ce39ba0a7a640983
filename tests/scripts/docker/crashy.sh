#!/bin/sh
# A service that runs until /tmp/crash appears, then removes it and fails:
# `docker exec C touch /tmp/crash` makes it crash once.
trap 'exit 0' TERM
echo "crashy: started"
while [ ! -e /tmp/crash ]; do
  sleep 0.2 &
  wait $!
done
rm -f /tmp/crash
echo "crashy: crashing"
exit 1
