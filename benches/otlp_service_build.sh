#!/usr/bin/env bash
# What an OTLP-only service builds: for each package (by default the
# plain-OpenTelemetry baseline, then examples/otlp-service), the crates it
# depends on, a cold release build, and the stripped binary's size.
#
# Usage: benches/otlp_service_build.sh [PACKAGE...]
#
# - crates linked: `cargo tree -p PKG -e normal --prefix none`, duplicates
#   and the `(*)` marks removed, PKG itself included;
# - crates compiled: the `Compiling` lines of the cold build (build
#   dependencies and proc-macros included);
# - cold build: `cargo build --release -p PKG -j 2` in a fresh, empty
#   CARGO_TARGET_DIR, under /usr/bin/time -v: wall time, and CPU time
#   (user + sys), which a loaded machine changes much less than wall time;
#   the load average is printed before and after;
# - size: the release binary after `strip`.
#
# Each package is built with only its own features (cargo resolves the
# features of the packages named with -p), so the baseline's build does
# not turn on Verdict's, nor the reverse. The target directories are
# removed at the end.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PACKAGES=("$@")
[ ${#PACKAGES[@]} -gt 0 ] || PACKAGES=(verdict-bench-otlp-baseline otlp-service)
DIR="$(mktemp -d -t verdict-otlp-build-XXXXXX)"
trap 'rm -rf "$DIR"' EXIT
cd "$ROOT"

# Sources downloaded first, so that the builds time compiling only.
cargo fetch --locked >/dev/null

printf '%-30s %7s %9s %8s %8s %10s  %s\n' package linked compiled "wall s" "CPU s" "size MiB" "load before → after"
for pkg in "${PACKAGES[@]}"; do
  linked="$(cargo tree --locked -p "$pkg" -e normal --prefix none | sed 's/ (\*)$//' | sort -u | wc -l)"
  load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
  CARGO_TARGET_DIR="$DIR/target-$pkg" /usr/bin/time -v -o "$DIR/time-$pkg.txt" \
    cargo build --locked --release -p "$pkg" -j 2 2>"$DIR/build-$pkg.txt"
  load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
  compiled="$(grep -c '^ *Compiling ' "$DIR/build-$pkg.txt")"
  wall="$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$DIR/time-$pkg.txt" |
    awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.0f", s }')"
  cpu="$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.0f", s }' "$DIR/time-$pkg.txt")"
  bin="$(cargo metadata --locked --format-version 1 --no-deps |
    python3 -c "import json,sys; m=json.load(sys.stdin); print(next(t['name'] for p in m['packages'] if p['name']=='$pkg' for t in p['targets'] if 'bin' in t['kind']))")"
  cp "$DIR/target-$pkg/release/$bin" "$DIR/$bin.stripped"
  strip "$DIR/$bin.stripped"
  size="$(stat -c %s "$DIR/$bin.stripped")"
  printf '%-30s %7s %9s %8s %8s %10s  %s → %s\n' "$pkg" "$linked" "$compiled" "$wall" "$cpu" \
    "$(awk -v b="$size" 'BEGIN { printf "%.2f", b / 1048576 }')" "$load_before" "$load_after"
  rm -rf "$DIR/target-$pkg"
done
