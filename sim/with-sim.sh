#!/bin/sh
# Runs a command with the vendor simulator up: starts it on a free port,
# exports USERAPI_SIM_URL, runs "$@", then stops the simulator by its pid.
set -e
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/userapi-sim.XXXXXX)
lua5.4 "$here/server.lua" --port 0 --port-file "$dir/port" >"$dir/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT INT TERM
i=0
while [ ! -s "$dir/port" ]; do
  i=$((i + 1))
  if [ $i -gt 200 ]; then cat "$dir/log" >&2; exit 1; fi
  sleep 0.05
done
USERAPI_SIM_URL="http://127.0.0.1:$(cat "$dir/port")"
export USERAPI_SIM_URL
"$@"
