#!/usr/bin/env bash
# `verdict eval` end to end with the local store: records per second and
# peak memory (max RSS), on generated records scored by exact match, regex
# and edit distance (release build).
#
# Usage: benches/eval_throughput.sh [N...]   (default: 10000 100000)
#
# Each size runs on a fresh store in a temporary directory; peak memory
# comes from /usr/bin/time -v. Compare the sizes: memory must not grow with
# the number of records (it stays at SQLite's page cache, 64 MiB, plus a
# few chunks of records in flight).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10000 100000)

. "$ROOT/benches/setup.sh"
bench_build verdict-cli verdict

DIR="$(mktemp -d -t verdict-eval-bench-XXXXXX)"
trap 'rm -rf "$DIR"' EXIT

# Rates are over the whole process (start-up, reading, scoring, storing,
# closing the store), from /usr/bin/time's wall clock; the run's own figure
# (from the first record to the run stored) is printed beside it.
printf '%10s  %9s  %10s  %14s  %12s\n' records "wall s" records/s "run's own r/s" "max RSS MiB"
for n in "${SIZES[@]}"; do
  python3 "$ROOT/benches/eval_data.py" "$n" "$DIR/data-$n.jsonl"
  /usr/bin/time -v -o "$DIR/time-$n.txt" "$BIN" eval "$DIR/data-$n.jsonl" \
    --scorer exact_match --scorer 'regex:pattern=\d+' --scorer edit_distance:max_distance=10 \
    --store "$DIR/store-$n.db" >"$DIR/out-$n.txt"
  line="$(head -n 1 "$DIR/out-$n.txt")"
  own="$(sed -n 's/.*(\([0-9]*\) records\/s).*/\1/p' <<<"$line")"
  wall="$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$DIR/time-$n.txt" |
    awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')"
  rss_kib="$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$DIR/time-$n.txt")"
  rate="$(awk -v n="$n" -v s="$wall" 'BEGIN { printf "%.0f", n / s }')"
  printf '%10s  %9s  %10s  %14s  %12s\n' "$n" "$wall" "$rate" "$own" "$((rss_kib / 1024))"
done
