#!/bin/sh
# Runs examples/nginx/nginx.conf as shipped, in the foreground, until Ctrl-C:
# nginx on 127.0.0.1:8090 with 4 workers. From a checkout, after
# `make LUA=luajit` (the C core for nginx's LuaJIT):
#
#   sim/with-sim.sh examples/nginx/run.sh                       # against the bundled simulator
#   KANDJI_TOKEN=... KANDJI_SUBDOMAIN=acme examples/nginx/run.sh  # against a real tenant
#   curl http://127.0.0.1:8090/users/kandji/69c009ca-1f78-4bdf-bb93-08d6d39041db
#
# nginx needs a prefix of its own (-p: logs/, the pid file); the config finds
# userapi through $prefix, so the prefix links the checkout's lua/, build/
# and examples/. With userapi installed by luarocks, the default paths serve.
set -e
root=$(cd "$(dirname "$0")/../.." && pwd)
prefix=$(mktemp -d /tmp/userapi-nginx.XXXXXX)
pid=
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null; wait; rm -rf "$prefix"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
chmod 755 "$prefix"   # the workers (nobody, when started as root) read through it
mkdir "$prefix/logs"
for d in lua build examples; do ln -s "$root/$d" "$prefix/$d"; done
echo "nginx on http://127.0.0.1:8090 (prefix $prefix); Ctrl-C stops it"
"${NGINX:-nginx}" -p "$prefix" -c "$root/examples/nginx/nginx.conf" -e stderr -g 'daemon off;' &
pid=$!
wait "$pid"
