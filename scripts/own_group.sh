# Sourced by scripts/test_server.sh, for the start scripts of the test servers.
# own_group PID NAME: waits until PID, started under setsid, leads its own
# process group, and writes it to stdout. Until setsid has run, the child is
# still in the starting script's group (and so its caller's): recording that
# one would make stop.sh kill the caller. Fails, having stopped PID, if it
# never gets a group of its own.
own_group() {
  local pid="$1" name="$2"
  for _ in $(seq 1 100); do
    [ "$(ps -o pgid= -p "$pid" | tr -d ' ' || true)" = "$pid" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null && [ "$(ps -o pgid= -p "$pid" | tr -d ' ' || true)" != "$pid" ]; then
    echo "$name server (pid $pid) did not get a process group of its own" >&2
    kill -TERM "$pid" 2>/dev/null || true
    return 1
  fi
  echo "$pid"
}
