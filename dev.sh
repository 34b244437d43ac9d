#!/usr/bin/env bash
# ./dev.sh serve   create .venv, install, run the IdP on :5000 and the API on :5001 until Ctrl-C
# ./dev.sh test    create .venv, install, run the whole test suite (extra arguments go to pytest)
set -euo pipefail
cd "$(dirname "$0")"

setup() {
  if [ ! -x .venv/bin/python ]; then
    "${PYTHON:-python3}" -m venv .venv
  fi
  # Reinstall only when the declared dependencies changed since the last install.
  if [ ! -f .venv/.installed ] || [ setup.cfg -nt .venv/.installed ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
    touch .venv/.installed
  fi
}

serve() {
  .venv/bin/python -m idp --port 5000 &
  local idp=$!
  # The API fetches the IdP's keys as it starts: let the IdP listen first.
  for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/5000) 2>/dev/null && break
    kill -0 "$idp" 2>/dev/null || exit 1
    sleep 0.1
  done
  .venv/bin/python -m resource_api --port 5001 --authority http://localhost:5000 &
  local api=$!
  # Background jobs of a script ignore SIGINT, so Ctrl-C reaches them as SIGTERM from here.
  trap 'kill -TERM "$idp" "$api" 2>/dev/null; wait; exit 0' INT TERM
  local status=0
  wait -n "$idp" "$api" || status=$?
  kill -TERM "$idp" "$api" 2>/dev/null || true
  wait || true
  exit "$status"
}

case "${1:-}" in
  serve) setup; serve ;;
  test) shift; setup; exec .venv/bin/python -m pytest "$@" ;;
  *) echo "usage: ./dev.sh serve | test [pytest arguments]" >&2; exit 2 ;;
esac
