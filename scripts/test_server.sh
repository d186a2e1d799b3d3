# Sourced by the install, start and stop scripts of the test servers
# (scripts/mlflow, scripts/phoenix): what they do alike, done once.

# install_venv VENV PACKAGE VERSION COMMAND: installs PACKAGE==VERSION into the
# virtualenv VENV unless it already holds that version and bin/COMMAND
# (idempotent), then prints VENV. Exits the calling script if that fails.
install_venv() {
  local venv="$1" package="$2" version="$3" command="$4"
  if ! venv_has "$venv" "$package" "$version" "$command"; then
    echo "installing $package==$version into $venv" >&2
    mkdir -p "$(dirname "$venv")"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$package==$version" >&2
    venv_has "$venv" "$package" "$version" "$command" ||
      { echo "$package $version not usable in $venv after install" >&2; exit 1; }
  fi
  echo "$venv"
}

venv_has() {
  local venv="$1" package="$2" version="$3" command="$4"
  [ -x "$venv/bin/python" ] && [ -x "$venv/bin/$command" ] &&
    [ "$("$venv/bin/python" -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "$package" 2>/dev/null || true)" = "$version" ]
}

# shellcheck source=own_group.sh
. "$(dirname "${BASH_SOURCE[0]}")/own_group.sh"

# record_server PID NAME DIR URL: once server PID (NAME), started under
# setsid, leads its own process group, writes that group to DIR/server.pgid
# (for stop.sh) and URL to DIR/url. Exits the calling script if it never does.
record_server() {
  local pid="$1" name="$2" dir="$3" url="$4" pgid
  pgid="$(own_group "$pid" "$name")" || exit 1
  echo "$pgid" >"$dir/server.pgid"
  echo "$url" >"$dir/url"
}

# http_get VENV URL: GET URL with a 2 s limit, printing the body; fails on no
# answer or an HTTP error. Uses curl, else the Python of VENV.
http_get() {
  local venv="$1" url="$2"
  if command -v curl >/dev/null 2>&1; then
    curl -fsS --max-time 2 "$url" 2>/dev/null
  else
    "$venv/bin/python" -c 'import sys,urllib.request as u; sys.stdout.buffer.write(u.urlopen(sys.argv[1],timeout=2).read())' "$url" 2>/dev/null
  fi
}

# refuse_if_running DIR: fails if a server started for DIR still runs.
refuse_if_running() {
  local dir="$1"
  if [ -f "$dir/server.pgid" ] && kill -0 -- "-$(cat "$dir/server.pgid")" 2>/dev/null; then
    echo "a server already runs for $dir (pgid $(cat "$dir/server.pgid")); run stop.sh first" >&2
    exit 1
  fi
}

# state_dir ARGS: the state directory of start.sh DIR (made, absolute), or the
# usage (exit 2) unless ARGS is one DIR.
state_dir() {
  if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
  fi
  mkdir -p "$1"
  (cd "$1" && pwd)
}

# wait_until_up CHECK PID DIR NAME STATE TIMEOUT: polls the function CHECK until
# it succeeds. Fails, with the end of DIR/server.log, if server PID (NAME) exits
# first, or if TIMEOUT seconds pass (stopping it then). STATE names what CHECK
# waits for, for the messages.
wait_until_up() {
  local check="$1" pid="$2" dir="$3" name="$4" state="$5" timeout="$6"
  local deadline=$((SECONDS + timeout))
  until "$check"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name server exited before becoming $state; last log lines:" >&2
      tail -n 40 "$dir/server.log" >&2 || true
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "$name server not $state after ${timeout}s; last log lines:" >&2
      tail -n 40 "$dir/server.log" >&2 || true
      stop_server "$dir" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
}

# stop_server DIR: stops the server that a start.sh DIR started: TERM its whole
# process group (recorded in DIR/server.pgid), then KILL whatever is left after
# a few seconds. Idempotent.
stop_server() {
  local pgid_file="$1/server.pgid" pgid
  [ -f "$pgid_file" ] || return 0
  pgid="$(tr -d ' \n' <"$pgid_file")"
  case "$pgid" in
    ''|*[!0-9]*|0|1) echo "bad pgid '$pgid' in $pgid_file" >&2; rm -f "$pgid_file"; return 1 ;;
  esac
  # TERM, up to 5 s for it to work, then KILL, up to 2 s.
  local step
  for step in TERM:50 KILL:20; do
    group_alive "$pgid" || break
    kill -"${step%:*}" -- "-$pgid" 2>/dev/null || true
    for _ in $(seq 1 "${step#*:}"); do
      group_alive "$pgid" || break
      sleep 0.1
    done
  done
  rm -f "$pgid_file"
}

group_alive() { kill -0 -- "-$1" 2>/dev/null; }
