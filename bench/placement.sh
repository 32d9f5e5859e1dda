#!/usr/bin/env bash
# Placement benchmark, two figures in one run:
#  1. the pure engine (berth-scheduler's placement_bench example, one core, in memory): 100,000
#     tasks onto 10,000 instances with spread(attribute:ecs.availability-zone), binpack(memory)
#     and a memberOf constraint that differs from call to call (over a rack attribute that varies
#     between instances, so its cost is measured, not cached); the median of PLACEMENT_ROUNDS (3)
#     rounds, each round's spread and binpack outcome asserted;
#  2. end to end: `berth server` + `berth agent --simulate N` (simulated instances in 3 zones,
#     which run no containers), a varying rack attribute put on each instance, CLIENTS client
#     processes calling RunTask with count 10 and a per-call memberOf constraint until TASKS tasks
#     are placed (each durably recorded; shortfalls retried, or reported and the run fails), the
#     time until all are RUNNING, then every task listed and described (RUNNING, each within its
#     call's constraint) and spread/binpack asserted; with the server's peak RSS. See
#     bench/placement.py.
#
#   bash bench/placement.sh                                         # 10,000 instances, 100,000 tasks
#   BENCH_INSTANCES=300 BENCH_TASKS=1000 PLACEMENT_ROUNDS=1 bash bench/placement.sh    # smoke run
#
# Last line: placements_per_sec: N (median of R engine rounds; end-to-end: M tasks/s, all RUNNING in S s, T tasks on I simulated instances, every task listed, described and RUNNING, server RSS R MiB)
set -euo pipefail

instances=${BENCH_INSTANCES:-10000}
tasks=${BENCH_TASKS:-100000}
clients=${BENCH_CLIENTS:-16}

cd "$(dirname "${BASH_SOURCE[0]}")/.."
log() { printf '%s\n' "$*" >&2; }

rounds=${PLACEMENT_ROUNDS:-3}
berth=${CARGO_TARGET_DIR:-target}/release/berth
cargo build --release --quiet -p berth
engine_out=$(PLACEMENT_ROUNDS=$rounds cargo run --release --quiet -p berth-scheduler --example placement_bench)
printf '%s\n' "$engine_out" >&2
engine=$(tail -n 1 <<<"$engine_out")
engine_rate=$(sed -n 's/^placements_per_sec: \([0-9]*\).*/\1/p' <<<"$engine")
[[ -n $engine_rate ]] || { log "the pure engine printed no figure: $engine"; exit 1; }
log "pure engine: $engine"

workdir=$(mktemp -d)
server_pid="" agent_pid=""
cleanup() {
    [[ -n $agent_pid ]] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$workdir"
}
trap cleanup EXIT

"$berth" server --listen 127.0.0.1:0 --data-dir "$workdir/server" >"$workdir/server.out" 2>"$workdir/server.log" &
server_pid=$!
for _ in $(seq 300); do grep -q '^berth ready: ' "$workdir/server.out" 2>/dev/null && break; sleep 0.1; done
endpoint=$(sed -n 's/^berth ready: //p' "$workdir/server.out")
[[ -n $endpoint ]] || { cat "$workdir/server.log" >&2; exit 1; }

# Clients sign with the account's credentials, found as aws-cli finds them.
export AWS_SHARED_CREDENTIALS_FILE="$workdir/server/credentials"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE
python3 -c "import boto3; boto3.client('ecs', endpoint_url='$endpoint', region_name='us-east-1').create_cluster(clusterName='placement')"

"$berth" agent --server "$endpoint" --cluster placement --data-dir "$workdir/agent" \
    --simulate "$instances" --az us-east-1a,us-east-1b,us-east-1c --cpu 4096 --memory 16384 \
    --simulated-start-ms 50 >/dev/null 2>"$workdir/agent.log" &
agent_pid=$!
registered=0
for _ in $(seq 600); do
    registered=$(python3 - "$endpoint" <<'PY'
import sys, boto3
ecs = boto3.client("ecs", endpoint_url=sys.argv[1], region_name="us-east-1")
pages = ecs.get_paginator("list_container_instances").paginate(cluster="placement")
print(sum(len(p["containerInstanceArns"]) for p in pages))
PY
)
    (( registered >= instances )) && break
    sleep 1
done
(( registered >= instances )) || { log "only $registered of $instances instances registered"; exit 1; }
log "$instances simulated instances registered"

result=$(python3 bench/placement.py "$endpoint" placement "$tasks" "$clients")
rate=$(sed -n 's/^api_tasks_placed_per_sec: //p' <<<"$result")
running=$(sed -n 's/^all_running_s: //p' <<<"$result")
placed=$(sed -n 's/^tasks_placed: //p' <<<"$result")
used=$(sed -n 's/^instances_used: //p' <<<"$result")
rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status")
echo "placements_per_sec: $engine_rate (median of $rounds engine rounds, memberOf differing per call; end-to-end: $rate tasks/s, all RUNNING in $running s, $placed tasks on $used of $instances simulated instances, every task listed, described and RUNNING, server RSS $((rss_kib / 1024)) MiB)"
