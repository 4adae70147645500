#!/usr/bin/env bash
# Runs Schemathesis (a client nobody here wrote) against `heed serve`'s own /openapi.json: every
# check and every phase (examples, coverage, fuzzing, stateful), bounded and reproducible (fixed
# seed, no example database, a case budget per operation, a time limit). Traffic stays on 127.0.0.1.
# Installs the pinned Schemathesis into build/schemathesis-venv when missing.
# Usage: scripts/check-openapi.sh HEED MODEL...
set -euo pipefail
VERSION=4.32.5
CASES=${CASES:-40}        # per operation and phase
SECONDS_LIMIT=${SECONDS_LIMIT:-600}
root="$(cd "$(dirname "$0")/.." && pwd)"
heed="$1"
shift
venv="$root/build/schemathesis-venv"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$VERSION"; then
    echo "check-openapi: installing schemathesis $VERSION into $venv" >&2
    # Debian's own python3 makes venvs only with python3-venv installed.
    python3 -m venv "$venv" 2>/dev/null || { "$root/scripts/ensure-deps.sh" python3-venv && rm -rf "$venv" && python3 -m venv "$venv"; }
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION"
fi

work="$(mktemp -d)"
log="$work/serve.log"
"$heed" serve "$@" --host 127.0.0.1 --port 0 --quiet 2>"$log" &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
port=""
for _ in $(seq 300); do
    port=$(sed -n 's|.* on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$log")
    [ -n "$port" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$log" >&2; echo "check-openapi: heed serve exited" >&2; exit 1; }
    sleep 0.1
done
[ -n "$port" ] || { echo "check-openapi: heed serve did not announce its port" >&2; exit 1; }

cd "$work"
status=0
timeout --signal=INT "$SECONDS_LIMIT" "$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
    --checks all --phases examples,coverage,fuzzing,stateful --max-examples "$CASES" --seed 1 \
    --generation-database none --workers 1 --request-timeout 20 --no-color || status=$?
kill -TERM "$server"
wait "$server" || { echo "check-openapi: heed serve did not exit 0 on SIGTERM" >&2; status=1; }
trap 'rm -rf "$work"' EXIT
[ "$status" -eq 0 ] || { echo "check-openapi: FAIL (schemathesis exit $status)" >&2; exit 1; }
echo "check-openapi: schemathesis $VERSION finds nothing against GET /openapi.json (all checks, all phases, seed 1)"
