#!/usr/bin/env bash
# Smoke test for the vendor simulator: start it on a free port, hit one list
# and one get per vendor with the right credentials, check 401 without them,
# then stop the server by pid.  Needs lua5.4, lua-socket, lua-cjson, curl.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TMP="$(mktemp -d)"
PID=""
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

lua5.4 "$HERE/server.lua" --port 0 --port-file "$TMP/port" >"$TMP/out" 2>"$TMP/err" &
PID=$!
for _ in $(seq 1 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
[ -s "$TMP/port" ] || { echo "server did not start"; cat "$TMP/err"; exit 1; }
PORT="$(cat "$TMP/port")"
S="http://127.0.0.1:$PORT"

FAIL=0
# check NAME EXPECTED_STATUS EXPECTED_SUBSTRING curl-args...
check() {
  local name="$1" want="$2" needle="$3"; shift 3
  local out status body
  out="$(curl -s -w '\n%{http_code}' "$@")" || true
  status="${out##*$'\n'}"; body="${out%$'\n'*}"
  if [ "$status" = "$want" ] && [[ "$body" == *"$needle"* ]]; then
    echo "ok   $name ($status)"
  else
    echo "FAIL $name: want $want containing '$needle', got $status: ${body:0:300}"; FAIL=1
  fi
}

ODS="$S/ods/api/automation/v1.0"; OH="Authorization: Apikey ods-test-key"
AR="$S/arthur/api/v1"; AH="Authorization: Bearer arthur-test-token"
KJ="$S/kandji/api/v1"; KH="Authorization: Bearer kandji-test-token"
SF="$S/sigfox/v2"; SU="sigfox-login:sigfox-secret"

check "health" 200 '"ok":true' "$S/_sim/health"

check "ods list" 200 '"total_count":5' "$ODS/users/" -H "$OH"
check "ods list (query key)" 200 '"username":"ada.lovelace"' "$ODS/users/?apikey=ods-test-key&search=ada"
check "ods get" 200 '"email":"ada@example.com"' "$ODS/users/ada.lovelace/" -H "$OH"
check "ods 401" 401 '"error_code"' "$ODS/users/"
check "ods no trailing slash" 404 '"not_found"' "$ODS/users/ada.lovelace" -H "$OH"

check "arthur list" 200 '"total_records":5' "$AR/organization/users" -H "$AH"
check "arthur get me" 200 '"user_type":"user"' "$AR/users/me" -H "$AH"
check "arthur 401" 401 '"detail":"Not authenticated"' "$AR/organization/users"
check "arthur discovery" 200 "\"token_endpoint\":\"$S/arthur/oidc/token\"" "$AR/auth/oidc/.well-known/openid-configuration"
TOKEN="$(curl -s -u arthur-client:arthur-secret -d grant_type=client_credentials "$S/arthur/oidc/token" \
  | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')"
check "arthur issued token" 200 '"user_type":"service_account"' "$AR/users/me" -H "Authorization: Bearer $TOKEN"

check "kandji list" 200 '"results":[' "$KJ/users" -H "$KH"
check "kandji get" 200 '"name":"Ada Lovelace"' "$KJ/users/69c009ca-1f78-4bdf-bb93-08d6d39041db" -H "$KH"
check "kandji 401" 401 '"detail"' "$KJ/users"

check "sigfox list" 200 '"name":"ada@example.com automation"' "$SF/api-users/" -u "$SU"
check "sigfox get" 200 '"timezone":"Europe/London"' "$SF/api-users/5f3a9c1e2b4d6f8a0c1e2b4d" -u "$SU"
check "sigfox 401" 401 '"message"' "$SF/api-users/"

# control API: a queued fault, applied counts, recorded requests
curl -s -XPOST "$S/_sim/faults" -d '{"match":{"vendor":"kandji","method":"DELETE"},"status":429,"headers":{"Retry-After":"1"}}' >/dev/null
check "fault 429" 429 '' -XDELETE "$KJ/users/ad4e5f6a-7b8c-4d9e-9f0a-2b3c4d5e6f70" -H "$KH"
check "delete after fault" 204 '' -XDELETE "$KJ/users/ad4e5f6a-7b8c-4d9e-9f0a-2b3c4d5e6f70" -H "$KH"
check "state applied once" 200 '"applied":{"delete_user":1}' "$S/_sim/state/kandji?limit=0"
check "requests recorded" 200 '"vendor":"kandji"' "$S/_sim/requests?vendor=kandji"
check "reset" 200 '"ok":true' -XPOST "$S/_sim/reset"

kill "$PID"
wait "$PID" 2>/dev/null || true
if kill -0 "$PID" 2>/dev/null; then echo "FAIL server still running"; FAIL=1; else echo "ok   server stopped"; fi
PID=""

if [ "$FAIL" = 0 ]; then echo "selftest: PASS"; else echo "selftest: FAIL"; exit 1; fi
