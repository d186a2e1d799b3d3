#!/usr/bin/env bash
# `verdict serve` under load: OTLP protobuf requests (512 spans: 64 traces
# of 8 spans, each root span with inputs, outputs and an expected answer)
# from benches/serve_load over keep-alive connections on 127.0.0.1, scored
# by exact match and forwarded to the local store (release build).
#
# Usage: benches/serve_load.sh [SECONDS [RATE]]   (default: 20 s per phase,
#        RATE 100000 spans/s: the second paced phase, the goal)
#        VERDICT_SERVE_BIN=PATH benches/serve_load.sh …   (that server binary)
#
#   sustained  as fast as the server answers (4 connections): spans
#              forwarded to the store per second (wall clock), and per
#              second of the server's CPU time (user + system: what the
#              machine's other load does not change)
#   paced      half the sustained rate, then RATE, offered evenly, each
#              into a new store: the latency the server adds, from a
#              trace's root span received to its spans and feedback
#              stored (the server's histogram: p99 within a bucket), and
#              request → response (the client's)
#   overload   16 connections as fast as answered into a server with the
#              default bounds (20,000 traces, 100,000 spans held), whose
#              store is slowed by a second writer holding it half of the
#              time: the 429s, and the server's peak memory (VmHWM),
#              against the same server idle
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER_PHASE="${1:-20}"
GOAL_RATE="${2:-100000}"

. "$ROOT/benches/setup.sh"
bench_build verdict-bench-serve verdict-bench-serve
LOAD="$BIN"
if [ -n "${VERDICT_SERVE_BIN:-}" ]; then
  VERDICT="$VERDICT_SERVE_BIN" # a server built otherwise, against the same load generator
else
  bench_build verdict-cli verdict
  VERDICT="$BIN"
fi

DIR="$(mktemp -d -t verdict-serve-bench-XXXXXX)"
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  rm -rf "$DIR"
}
trap cleanup EXIT

start() { # start NAME ARGS...: starts a server, sets SERVER and URL
  local name="$1"
  shift
  "$VERDICT" serve --listen 127.0.0.1:0 --scorer exact_match --store "$DIR/$name.db" "$@" \
    2>"$DIR/$name.log" &
  SERVER=$!
  for _ in $(seq 100); do
    URL="$(grep -o 'http://127.0.0.1:[0-9]*' "$DIR/$name.log" | head -n 1 || true)"
    [ -n "$URL" ] && return
    sleep 0.1
  done
  cat "$DIR/$name.log" >&2
  exit 1
}

stop() {
  kill -TERM "$SERVER"
  wait "$SERVER" || true
  SERVER=""
}

metrics() { curl -s "$URL/metrics"; }

# The server's CPU time (user + system) in seconds, and its peak RSS in MiB.
cpu() { awk -v t="$(getconf CLK_TCK)" '{ print ($14 + $15) / t }' "/proc/$SERVER/stat"; }
peak_mib() { awk '/VmHWM/ { print int($2 / 1024) }' "/proc/$SERVER/status"; }

# The server's CPU seconds per thread (serve-http: the HTTP runtime's,
# serve-score: sampling, scoring and laying out rows, serve-deliver: the
# store's writes and the destinations, other).
threads_cpu() {
  local t
  t="$(getconf CLK_TCK)"
  for task in /proc/"$SERVER"/task/*; do
    printf '%s %s\n' "$(cat "$task/comm")" "$(awk '{ print $14 + $15 }' "$task/stat")"
  done | awk -v t="$t" '{ k = $1; sub(/serve-/, "", k); if (k !~ /^(http|score|deliver)$/) k = "other";
    s[k] += $2 } END { for (k in s) printf "%s %.2f\n", k, s[k] / t }' | sort
}

# metric NAME FILE: the value of a series in a /metrics dump.
metric() { awk -v n="$1" '$1 == n { print $2 }' "$2"; }

# p99 of the forward-latency histogram between two dumps: the upper bound
# of the first bucket holding 99 % of the traces, in ms.
p99_bucket() {
  python3 - "$1" "$2" <<'PY'
import sys
def buckets(path):
    out = {}
    for line in open(path):
        if line.startswith("verdict_serve_forward_latency_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            out[le] = float(line.split()[-1])
    return out
a, b = buckets(sys.argv[1]), buckets(sys.argv[2])
total = b["+Inf"] - a["+Inf"]
for le in b:
    if b[le] - a[le] >= 0.99 * total:
        print("<= " + ("inf" if le == "+Inf" else f"{float(le) * 1000:g}") + " ms")
        break
PY
}

STORE_SPANS='verdict_serve_forwarded_spans_total{destination="store"}'
echo "== load: $(uptime | sed 's/.*load average/load average/'), $(nproc) cores" >&2

echo "== sustained ($SECONDS_PER_PHASE s, 4 connections, as fast as answered)" >&2
start sustained
metrics >"$DIR/m0"
c0="$(cpu)"
"$LOAD" "$URL" "$SECONDS_PER_PHASE" 4 0 >"$DIR/sustained.json"
sleep 1
metrics >"$DIR/m1"
c1="$(cpu)"
forwarded=$(($(metric "$STORE_SPANS" "$DIR/m1") - $(metric "$STORE_SPANS" "$DIR/m0")))
wall="$(python3 -c "import json; print(json.load(open('$DIR/sustained.json'))['seconds'])")"
rate="$(awk -v n="$forwarded" -v s="$wall" 'BEGIN { printf "%.0f", n / s }')"
per_cpu="$(awk -v n="$forwarded" -v a="$c0" -v b="$c1" 'BEGIN { printf "%.0f", n / (b - a) }')"
sustained_peak="$(peak_mib)"
threads_cpu >"$DIR/threads"
deliver_cpu="$(awk '$1 == "deliver" { print $2 }' "$DIR/threads")"
echo "sustained, server CPU seconds by thread: $(tr '\n' ' ' <"$DIR/threads")(the delivery thread: $(awk -v n="$forwarded" -v c="$deliver_cpu" 'BEGIN { printf "%.0f", n / c }') spans per CPU-second)"
echo "sustained: $forwarded spans stored in ${wall}s: $rate spans/s; $per_cpu spans per server CPU-second; peak RSS $sustained_peak MiB; client $(cat "$DIR/sustained.json")"
stop

# paced RATE: RATE spans/s offered evenly; the latency the server adds.
paced() {
  echo "== paced ($SECONDS_PER_PHASE s at $1 spans/s, 4 connections)" >&2
  start "paced-$1"
  metrics >"$DIR/p0"
  "$LOAD" "$URL" "$SECONDS_PER_PHASE" 4 "$1" >"$DIR/paced.json"
  sleep 1
  metrics >"$DIR/p1"
  echo "paced at $1 spans/s: root received -> stored p99 $(p99_bucket "$DIR/p0" "$DIR/p1"); client $(cat "$DIR/paced.json")"
  stop
}
paced $((rate / 2))
paced "$GOAL_RATE"

echo "== overload ($SECONDS_PER_PHASE s, 16 connections, the default bounds)" >&2
start overload
idle="$(peak_mib)"
# A second writer holding the store's write lock half of the time, so
# that the pipeline falls behind the receiver.
python3 - "$DIR/overload.db" "$SECONDS_PER_PHASE" <<'PY' &
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
end = time.time() + float(sys.argv[2])
while time.time() < end:
    db.execute("BEGIN IMMEDIATE"); time.sleep(0.2); db.execute("COMMIT"); time.sleep(0.2)
PY
HOG=$!
"$LOAD" "$URL" "$SECONDS_PER_PHASE" 16 0 >"$DIR/overload.json"
wait "$HOG" || true
metrics >"$DIR/o1"
echo "overload: peak RSS $(peak_mib) MiB (idle $idle MiB); 429 answers $(metric 'verdict_serve_requests_total{result="full"}' "$DIR/o1"); client $(cat "$DIR/overload.json")"
stop
grep -h 'received\|delivered' "$DIR/overload.log" >&2
