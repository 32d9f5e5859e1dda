#!/usr/bin/env bash
# API fuzz benchmark: the property/fuzz driver of tests/e2e/api_fuzz.py against a release build of
# `berth server` for a fixed number of calls spread over every ECS action of botocore's model
# (those Berth does not implement yet answer UnsupportedFeatureException and are left out after
# one probe each), with random valid and invalid inputs (malformed bodies, wrong member types,
# unknown members, missing required members, ARNs of another region or account, huge strings,
# bad numbers, empty lists, nulls, unknown enum values, odd characters). Seeded: a failure
# replays with the same BENCH_SEED and BENCH_CALLS.
#
#   bash bench/api_fuzz.sh                        # 100,000 calls, seed 1
#   BENCH_CALLS=5000 BENCH_SEED=7 bash bench/api_fuzz.sh
#
# Knobs: BENCH_CALLS (100000), BENCH_SEED (1), BENCH_QUIET_CALLS (2000: the first calls, made
# while no background writer runs, with the store revision read around each failed call),
# BENCH_CHECK_EVERY (100: calls between reads of the server's count of failed calls that
# committed writes, once simulated agents and services run), BENCH_NEW_BINARY (unset: build and
# measure target/release/berth; set: that binary), BENCH_STATS (set: print on stderr how many
# calls of each action answered 200, valid and invalid apart).
#
# The server runs with a fresh data directory under one mktemp dir and generated root keys; the
# driver starts two `berth agent --simulate` processes of its own. Everything is stopped on exit.
# The last line is the figure:
#   api_fuzz_calls: N (5xx: A, failed calls that changed state: B, calls/s: R)
# and the script exits non-zero unless A and B are 0 and every error answer was an ECS error.
set -euo pipefail

calls=${BENCH_CALLS:-100000}
seed=${BENCH_SEED:-1}
quiet=${BENCH_QUIET_CALLS:-2000}
check_every=${BENCH_CHECK_EVERY:-100}

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
source bench/lib.sh
python3 -c 'import botocore' 2>/dev/null || die "needs botocore (pip install botocore)"

if [[ -n ${BENCH_NEW_BINARY:-} ]]; then
    binary=$BENCH_NEW_BINARY
else
    log "building berth (release)"
    cargo build --release --quiet -p berth
    binary=${CARGO_TARGET_DIR:-$root/target}/release/berth
fi
[[ -x $binary ]] || die "no berth binary at $binary"

work=$(mktemp -d)
server_pid=""
cleanup() {
    stop_process server_pid
    rm -rf "$work"
}
on_exit cleanup

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/data"
key=$(python3 -c 'import secrets; print("AKID" + secrets.token_hex(8).upper())')
secret=$(python3 -c 'import secrets; print(secrets.token_urlsafe(30))')
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$key" "$secret" > "$work/data/credentials"
chmod 600 "$work/data/credentials"
: > "$work/server.out"
"$binary" server --listen "127.0.0.1:$port" --data-dir "$work/data" > "$work/server.out" 2> "$work/server.err" &
server_pid=$!
wait_ready "$server_pid" "$work/server.out" "$work/server.err" "berth server"

log "fuzzing $calls calls, seed $seed"
status=0
python3 tests/e2e/api_fuzz.py --url "http://127.0.0.1:$port" --berth "$binary" \
    --credentials "$work/data/credentials" --calls "$calls" --seed "$seed" \
    --quiet-calls "$quiet" --check-every "$check_every" ${BENCH_STATS:+--stats} || status=$?
exit "$status"
