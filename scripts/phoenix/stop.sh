#!/usr/bin/env bash
# Stop the Phoenix server started by start.sh DIR: TERM its whole process group,
# then KILL whatever is left after a few seconds. Idempotent.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
PGID_FILE="$1/server.pgid"
[ -f "$PGID_FILE" ] || exit 0
PGID="$(tr -d ' \n' <"$PGID_FILE")"
case "$PGID" in
  ''|*[!0-9]*|0|1) echo "bad pgid '$PGID' in $PGID_FILE" >&2; rm -f "$PGID_FILE"; exit 1 ;;
esac

alive() { kill -0 -- "-$PGID" 2>/dev/null; }

if alive; then
  kill -TERM -- "-$PGID" 2>/dev/null || true
  for _ in $(seq 1 50); do
    alive || break
    sleep 0.1
  done
  if alive; then
    kill -KILL -- "-$PGID" 2>/dev/null || true
    for _ in $(seq 1 20); do
      alive || break
      sleep 0.1
    done
  fi
fi
rm -f "$PGID_FILE"
