#!/usr/bin/env bash
# What `verdict sql` adds to the build: cold builds of the `verdict`
# binary, default features and with `--features sql`, debug and release,
# each in a fresh, empty CARGO_TARGET_DIR (sources fetched before),
# repeated, under /usr/bin/time -v.
#
# Usage: benches/sql_build.sh [REPEATS] [CASE...]
#   CASE is PROFILE:FEATURES, PROFILE `debug` or `release`, FEATURES
#   `default` or `sql` (default cases: debug:default release:default
#   debug:sql release:sql; 3 repeats).
#
# Per build it prints the crates compiled (the `Compiling` lines), wall
# time, CPU time (user + sys: what a loaded, shared machine changes much
# less than wall time) and the load average before and after; per case,
# the min, median and max of each. The target directories are removed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPEATS="${1:-3}"
shift || true
CASES=("$@")
[ ${#CASES[@]} -gt 0 ] || CASES=(debug:default release:default debug:sql release:sql)
DIR="$(mktemp -d -t verdict-sql-build-XXXXXX)"
trap 'rm -rf "$DIR"' EXIT
cd "$ROOT"
cargo fetch --locked >/dev/null

printf '%-16s %3s %9s %8s %8s  %s\n' case run compiled "wall s" "CPU s" "load before → after"
for case in "${CASES[@]}"; do
  profile="${case%%:*}"
  features="${case#*:}"
  args=(build --locked -p verdict-cli -j 2)
  [ "$profile" = release ] && args+=(--release)
  [ "$features" = sql ] && args+=(--features sql)
  : >"$DIR/$case.cpu"
  : >"$DIR/$case.wall"
  for run in $(seq 1 "$REPEATS"); do
    target="$DIR/target"
    rm -rf "$target"
    load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
    CARGO_TARGET_DIR="$target" /usr/bin/time -v -o "$DIR/time.txt" cargo "${args[@]}" 2>"$DIR/build.txt"
    load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
    compiled="$(grep -c '^ *Compiling ' "$DIR/build.txt")"
    wall="$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$DIR/time.txt" |
      awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.0f", s }')"
    cpu="$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.0f", s }' "$DIR/time.txt")"
    echo "$cpu" >>"$DIR/$case.cpu"
    echo "$wall" >>"$DIR/$case.wall"
    printf '%-16s %3s %9s %8s %8s  %s → %s\n' "$case" "$run" "$compiled" "$wall" "$cpu" "$load_before" "$load_after"
    rm -rf "$target"
  done
done

stats() { sort -n "$1" | awk '{ v[NR] = $1 } END { printf "%s / %s / %s", v[1], v[int((NR + 1) / 2)], v[NR] }'; }
echo
printf '%-16s %-22s %-22s\n' case "CPU s min/median/max" "wall s min/median/max"
for case in "${CASES[@]}"; do
  printf '%-16s %-22s %-22s\n' "$case" "$(stats "$DIR/$case.cpu")" "$(stats "$DIR/$case.wall")"
done
