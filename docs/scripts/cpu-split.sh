#!/usr/bin/env bash
# Every 2 s: CPU of the load tool, the server under test and PostgreSQL (all its processes),
# in % of one core, and the machine's idle share.
set -u
hz=$(getconf CLK_TCK)
snap() {
  for name in gymgate-load gymgate-server-under-test postgres; do
    t=0
    for pid in $(if [ "$name" = postgres ]; then pgrep -x postgres; else pgrep -f "release/$name"; fi); do
      read -r -a f < /proc/$pid/stat 2>/dev/null || continue
      t=$((t + f[13] + f[14]))
    done
    printf '%s ' "$t"
  done
  awk '/^cpu /{print $5}' /proc/stat
}
prev=$(snap)
for i in $(seq 1 "$1"); do
  sleep 2
  now=$(snap)
  echo "$prev $now" | awk -v hz="$hz" '{printf "load %3.0f%%  server %3.0f%%  postgres %3.0f%%  idle %3.0f%%\n", ($5-$1)/hz/2*100, ($6-$2)/hz/2*100, ($7-$3)/hz/2*100, ($8-$4)/hz/2/2*100}'
  prev=$now
done
