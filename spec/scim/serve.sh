#!/bin/sh
# make scim: the SCIM bridge (nginx, 1 worker, in the foreground) in front of
# the simulator, whose tenants start empty unless SCIM_SEED=1. Runs until
# interrupted; both are stopped by their pids.
set -e
root=$(cd "$(dirname "$0")/../.." && pwd)
port=${SCIM_PORT:-8099}
USERAPI_SCIM_TOKEN=${USERAPI_SCIM_TOKEN:-scim-test-token}
export USERAPI_SCIM_TOKEN
dir=$(mktemp -d /tmp/userapi-scim.XXXXXX)
mkdir -p "$dir/tmp" "$dir/logs"
empty=--empty
[ "${SCIM_SEED:-0}" = 1 ] && empty=
lua5.4 "$root/sim/server.lua" --port 0 --port-file "$dir/sim.port" $empty >"$dir/sim.log" 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null; rm -rf "$dir"' EXIT INT TERM
i=0
while [ ! -s "$dir/sim.port" ]; do
  i=$((i + 1)); if [ $i -gt 200 ]; then cat "$dir/sim.log" >&2; exit 1; fi; sleep 0.05
done
USERAPI_SIM_URL="http://127.0.0.1:$(cat "$dir/sim.port")"
export USERAPI_SIM_URL
sed -e "s|@PREFIX@|$dir|g" -e "s|@ROOT@|$root|g" -e "s|@PORT@|$port|g" -e "s|@WORKERS@|1|g" \
    -e "s|@DAEMON@|off|g" "$root/spec/scim/nginx.conf.in" >"$dir/nginx.conf"
echo "simulator: $USERAPI_SIM_URL ($( [ -n "$empty" ] && echo empty tenants || echo seeded))"
for app in opendatasoft arthur kandji sigfox; do echo "SCIM: http://127.0.0.1:$port/scim/v2/$app/"; done
echo "(and /scim/v2/<vendor>-delete/: the same tenants, deactivation deleting the account)"
echo "token: the value of USERAPI_SCIM_TOKEN; log: $dir/error.log; Ctrl-C stops"
env -u LD_PRELOAD /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" &
nginx=$!
trap 'kill $nginx $sim 2>/dev/null; wait $nginx 2>/dev/null; rm -rf "$dir"' EXIT INT TERM
wait $nginx
