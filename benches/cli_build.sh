#!/usr/bin/env bash
# What the `parquet` feature costs the `verdict` binary's cold build: the
# default build and the build with `--features parquet`, alternated, each
# repeated, in release and in debug.
#
# Usage: benches/cli_build.sh [REPEATS] [PROFILE...]   (defaults: 3, release debug)
#
# Each build is `cargo build --locked [--release] -p verdict-cli
# [--features parquet] -j 2` in a fresh, empty CARGO_TARGET_DIR (sources
# fetched before), under /usr/bin/time -v: wall time, and CPU time (user +
# sys), the figure to compare on a shared machine, where the wall time
# follows the load. The two builds of a pair run one after the other, so
# that a change of load hits both; one line a build as it ends (with the
# load average before and after), then min/median/max of each.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPEATS="${1:-3}"
shift || true
PROFILES=("$@")
[ ${#PROFILES[@]} -gt 0 ] || PROFILES=(release debug)
DIR="$(mktemp -d -t verdict-cli-build-XXXXXX)"
trap 'rm -rf "$DIR"' EXIT
cd "$ROOT"
cargo fetch --locked >/dev/null

for features in "" parquet; do
  linked="$(cargo tree --locked -p verdict-cli ${features:+--features "$features"} -e normal --prefix none |
    sed 's/ (\*)$//' | sort -u | wc -l)"
  echo "crates linked, features '${features:-default}': $linked"
done

printf '%-8s %-8s %3s %9s %8s %8s  %s\n' profile features run compiled "wall s" "CPU s" "load before → after"
for profile in "${PROFILES[@]}"; do
  for run in $(seq 1 "$REPEATS"); do
    for features in default parquet; do
      target="$DIR/target"
      args=(build --locked -p verdict-cli -j 2)
      [ "$profile" = release ] && args+=(--release)
      [ "$features" = parquet ] && args+=(--features parquet)
      load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
      CARGO_TARGET_DIR="$target" /usr/bin/time -v -o "$DIR/time.txt" cargo "${args[@]}" 2>"$DIR/build.txt"
      load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
      compiled="$(grep -c '^ *Compiling ' "$DIR/build.txt")"
      wall="$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$DIR/time.txt" |
        awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.0f", s }')"
      cpu="$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.0f", s }' "$DIR/time.txt")"
      printf '%-8s %-8s %3s %9s %8s %8s  %s → %s\n' "$profile" "$features" "$run" "$compiled" "$wall" "$cpu" \
        "$load_before" "$load_after" | tee -a "$DIR/rows.txt"
      rm -rf "$target"
    done
  done
done

echo
echo "min / median / max"
for profile in "${PROFILES[@]}"; do
  for features in default parquet; do
    for col in 5 6; do
      awk -v p="$profile" -v f="$features" -v c="$col" '$1 == p && $2 == f { print $c }' "$DIR/rows.txt" |
        sort -n | awk -v p="$profile" -v f="$features" -v what="$([ "$col" = 5 ] && echo wall || echo CPU)" \
          '{ v[NR] = $1 } END { printf "%-8s %-8s %-4s %s / %s / %s s\n", p, f, what, v[1], v[int((NR + 1) / 2)], v[NR] }'
    done
  done
done
