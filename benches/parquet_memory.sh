#!/usr/bin/env bash
# Memory against rows: the most memory (max RSS) `verdict eval` and
# `verdict sql` hold over Parquet datasets of growing size, with the same
# scorers; memory bounded by the batch size stays flat as the rows grow.
#
# Usage: benches/parquet_memory.sh [ROWS...]
#   ROWS: the sizes (default 1000000 10000000). VERDICT: the binary
#   (default target/release/verdict, built with --features distributed
#   when missing).
#
# Each dataset is written by `verdict sql` itself (outputs of 40 to 80
# characters near their expected answers, in row groups of 131,072 rows).
# Per size it prints, for `verdict eval DATA --scorer exact_match --scorer
# edit_distance` (with its store) and for `verdict sql "SELECT count(*),
# sum(edit_distance(output, expected)) …"`, the wall time, the CPU time
# and the max RSS (/usr/bin/time), with the dataset's and the store's
# sizes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000000 10000000)
VERDICT="${VERDICT:-$ROOT/target/release/verdict}"
if [ ! -x "$VERDICT" ]; then
  (cd "$ROOT" && cargo build --release -p verdict-cli --features distributed)
fi
DIR="$(mktemp -d -t verdict-memory-XXXXXX)"
trap 'rm -rf "$DIR"' EXIT

printf '%-6s %10s %9s %8s %8s %10s %s\n' what rows "data MB" "wall s" "CPU s" "max RSS MB" "store MB"
for rows in "${SIZES[@]}"; do
  data="$DIR/qa-$rows.parquet"
  "$VERDICT" sql --store "$DIR/none.db" --output "$data" \
    "SELECT value AS id, 'question ' || value AS input,
            'the capital of country number ' || value || ' is ' || (value * 7919 % 1000) || ' city' AS output,
            'the capital of country ' || value || ' is city ' || (value * 7919 % 997) AS expected
     FROM range($rows)"
  data_mb="$(du -m "$data" | cut -f1)"
  store="$DIR/run-$rows.db"
  /usr/bin/time -f '%e %U %S %M' -o "$DIR/time.txt" \
    "$VERDICT" eval "$data" --scorer exact_match --scorer edit_distance --store "$store" >/dev/null
  read -r wall user sys rss <"$DIR/time.txt"
  printf '%-6s %10s %9s %8s %8s %10s %s\n' eval "$rows" "$data_mb" "$wall" \
    "$(echo "$user + $sys" | bc)" "$((rss / 1024))" "$(du -m "$store" | cut -f1)"
  rm -f "$store"*
  /usr/bin/time -f '%e %U %S %M' -o "$DIR/time.txt" \
    "$VERDICT" sql --store "$DIR/none.db" --table "qa=$data" \
    "SELECT count(*), sum(edit_distance(output, expected)) FROM qa" >/dev/null
  read -r wall user sys rss <"$DIR/time.txt"
  printf '%-6s %10s %9s %8s %8s %10s %s\n' sql "$rows" "$data_mb" "$wall" \
    "$(echo "$user + $sys" | bc)" "$((rss / 1024))" -
  rm -f "$data"
done
