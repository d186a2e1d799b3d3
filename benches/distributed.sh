#!/usr/bin/env bash
# `verdict sql --workers`: one worker against two on the same data and the
# same machine, with a CPU-bound scorer (edit_distance), and the query in
# one process as the baseline.
#
# Usage: benches/distributed.sh [ROWS] [REPEATS] [sql|eval]
#   ROWS: rows of the generated dataset (default 1500000), written as 4
#   Parquet files by `verdict sql` itself; REPEATS: runs per case
#   (default 3). VERDICT: the binary (default target/release/verdict,
#   built with --features distributed when missing).
#   eval: the same with `verdict eval` (the rows as one Parquet file, in
#   row groups of 131,072 rows, scored with edit_distance into a store
#   per run) in place of the query; its summaries are compared, the run's
#   id aside. REPEAT (default 1): each output and expected text repeated
#   that many times, for a scorer that costs more than storing a record.
#
# Each worker is pinned to a core of its own (taskset), so that "two
# workers" means twice the cores of one, as two machines would be; the
# coordinator is not pinned. The cases: `one-core`, the command in one
# process pinned to one core; `two-cores`, the same process on both
# cores; `one-worker` and `two-workers`, `--workers` with one and with two
# workers. Per run it prints the wall time, the CPU time of the
# coordinator and of the workers (from /proc), and the coordinator's
# share of the CPU; per case the min, median and max wall time, and the
# speed-up over one core and over one worker (medians). The load
# average before and after each run says how shared the machine was.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROWS="${1:-1500000}"
REPEATS="${2:-3}"
MODE="${3:-sql}"
REPEAT="${REPEAT:-1}"
case "$MODE" in sql | eval) ;; *) echo "MODE is sql or eval, not $MODE" >&2; exit 2 ;; esac
VERDICT="${VERDICT:-$ROOT/target/release/verdict}"
if [ ! -x "$VERDICT" ]; then
  (cd "$ROOT" && cargo build --release -p verdict-cli --features distributed)
fi
CORES="$(nproc)"
[ "$CORES" -ge 2 ] || { echo "needs 2 cores" >&2; exit 2; }
DIR="$(mktemp -d -t verdict-distributed-XXXXXX)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT

# The dataset: outputs near their expected answers, of 40 to 80
# characters, in 4 files.
mkdir "$DIR/qa"
for part in 0 1 2 3; do
  "$VERDICT" sql --store "$DIR/none.db" --output "$DIR/qa/part-$part.parquet" \
    "SELECT value AS id,
            'the capital of country number ' || value || ' is ' || (value * 7919 % 1000) || ' city' AS output,
            'the capital of country ' || value || ' is city ' || (value * 7919 % 997) AS expected
     FROM range($ROWS) WHERE value % 4 = $part"
done
QUERY="SELECT count(*) AS n, round(sum(edit_distance(output, expected)), 6) AS distance FROM qa"
if [ "$MODE" = eval ]; then
  "$VERDICT" sql --store "$DIR/none.db" --table "qa=$DIR/qa:parquet" --output "$DIR/qa.parquet" \
    "SELECT id, 'question ' || id AS input, repeat(output, $REPEAT) AS output,
            repeat(expected, $REPEAT) AS expected FROM qa ORDER BY id"
fi

# Starts a worker pinned to core $1; prints its URL and records its pid.
start_worker() {
  taskset -c "$1" "$VERDICT" worker --listen 127.0.0.1:0 >"$DIR/worker-$1.addr" 2>/dev/null &
  PIDS+=("$!")
  echo "$!" >"$DIR/worker-$1.pid"
  while [ ! -s "$DIR/worker-$1.addr" ]; do sleep 0.05; done
}
cpu_of() { awk '{ printf "%.2f", ($14 + $15) / '"$(getconf CLK_TCK)"' }' "/proc/$1/stat"; }

start_worker 0
start_worker 1
W0="http://$(cat "$DIR/worker-0.addr")"
W1="http://$(cat "$DIR/worker-1.addr")"

printf '%-12s %3s %8s %8s %9s %7s  %s\n' case run "wall s" "coord s" "workers s" "coord%" "load before → after"
for case in one-core two-cores one-worker two-workers; do
  case "$case" in
    one-core) cmd=(taskset -c 0 "$VERDICT" "$MODE") ;;
    two-cores) cmd=("$VERDICT" "$MODE") ;;
    one-worker) cmd=("$VERDICT" "$MODE" --workers "$W0") ;;
    two-workers) cmd=("$VERDICT" "$MODE" --workers "$W0,$W1") ;;
  esac
  if [ "$MODE" = eval ]; then
    args=("$DIR/qa.parquet" --scorer edit_distance --store "$DIR/$case-$RANDOM.db")
  else
    args=(--store "$DIR/none.db" --table "qa=$DIR/qa:parquet" "$QUERY")
  fi
  : >"$DIR/$case.wall"
  for run in $(seq 1 "$REPEATS"); do
    before0="$(cpu_of "$(cat "$DIR/worker-0.pid")")"
    before1="$(cpu_of "$(cat "$DIR/worker-1.pid")")"
    load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
    /usr/bin/time -f '%e %U %S' -o "$DIR/time.txt" \
      "${cmd[@]}" "${args[@]}" | grep -v 'run-' >"$DIR/$case.out"
    load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
    after0="$(cpu_of "$(cat "$DIR/worker-0.pid")")"
    after1="$(cpu_of "$(cat "$DIR/worker-1.pid")")"
    read -r wall user sys <"$DIR/time.txt"
    coord="$(echo "$user + $sys" | bc)"
    work="$(echo "$after0 - $before0 + $after1 - $before1" | bc)"
    share="$(echo "scale=1; 100 * $coord / ($coord + $work)" | bc)"
    echo "$wall" >>"$DIR/$case.wall"
    printf '%-12s %3s %8s %8s %9s %6s%%  %s → %s\n' "$case" "$run" "$wall" "$coord" "$work" "$share" "$load_before" "$load_after"
  done
  cmp -s "$DIR/one-core.out" "$DIR/$case.out" || { echo "$case: the result differs from one process's" >&2; exit 1; }
done

stats() { sort -n "$1" | awk '{ v[NR] = $1 } END { printf "%s / %s / %s", v[1], v[int((NR + 1) / 2)], v[NR] }'; }
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo
echo "$ROWS rows, $CORES cores; result: $(tr -s ' \n' ' ' <"$DIR/one-core.out")"
printf '%-12s %-24s %-14s %s\n' case "wall s min/median/max" "over one core" "over one worker"
for case in one-core two-cores one-worker two-workers; do
  printf '%-12s %-24s %-14s %.2fx\n' "$case" "$(stats "$DIR/$case.wall")" \
    "$(printf '%.2fx' "$(echo "$(median "$DIR/one-core.wall") / $(median "$DIR/$case.wall")" | bc -l)")" \
    "$(echo "$(median "$DIR/one-worker.wall") / $(median "$DIR/$case.wall")" | bc -l)"
done
