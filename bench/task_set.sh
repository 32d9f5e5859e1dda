#!/usr/bin/env bash
# Task set benchmark: how long a release build of Berth (`berth server` + `berth agent --simulate
# N`) takes to bring an EXTERNAL service's task set from 0 to 100 % of TASKS tasks, all RUNNING,
# measured beside the same TASKS tasks through a plain service scaled from 0 (UpdateService) in
# the same run. The goal is a ratio of at most 1.2: a task set is the scheduler's same work.
#
#   bash bench/task_set.sh                                   # 50 tasks, 10 instances, 5 rounds
#   BENCH_ROUNDS=1 BENCH_TASKS=10 bash bench/task_set.sh     # smoke run
#
# Knobs: BENCH_TASKS (50), BENCH_INSTANCES (10, simulated, over 3 zones), BENCH_ROUNDS (5; the
# side that goes first alternates per round; medians are printed), BENCH_POLL (0.05 s between
# polls), BENCH_TIMEOUT (120 s, the bound on every wait). The driver is bench/task_set.py.
#
# Simulated instances run no containers (a simulated container "starts" in 100 ms), so the
# figure is the control plane's: scheduler passes, placement, the agent channel, durable writes.
#
# Last line: task_set_s: X (service: Y s, ratio X/Y; simulated instances)
set -euo pipefail

tasks=${BENCH_TASKS:-50}
instances=${BENCH_INSTANCES:-10}
rounds=${BENCH_ROUNDS:-5}
poll=${BENCH_POLL:-0.05}
timeout=${BENCH_TIMEOUT:-120}
cluster=bench-task-set

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '%s\n' "$*" >&2; }
die() { log "bench/task_set.sh: $*"; exit 1; }

python3 -c 'import boto3' 2>/dev/null || die "needs boto3 (pip install boto3)"
cargo build --release --quiet -p berth
berth=${CARGO_TARGET_DIR:-target}/release/berth

workdir=$(mktemp -d)
server_pid="" agent_pid="" driver_pid=""

# stop_process PID_VARIABLE: SIGTERM, then SIGKILL after 10 s; clears the variable.
stop_process() {
    local name=$1 pid=${!1}
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    printf -v "$name" '%s' ""
}

cleanup() {
    stop_process driver_pid
    stop_process agent_pid
    stop_process server_pid
    rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

: >"$workdir/server.out"
"$berth" server --listen 127.0.0.1:0 --data-dir "$workdir/server" \
    >"$workdir/server.out" 2>"$workdir/server.log" &
server_pid=$!
url=""
for _ in $(seq 300); do
    url=$(sed -n 's|^berth ready: ||p' "$workdir/server.out")
    [[ -n $url ]] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$workdir/server.log" >&2; die "berth server exited"; }
    sleep 0.1
done
[[ -n $url ]] || { cat "$workdir/server.log" >&2; die "berth server was not ready within 30 s"; }
log "berth server ready at $url"

# Clients sign with the account's root credentials, found as aws-cli finds them.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE
export AWS_SHARED_CREDENTIALS_FILE=$workdir/server/credentials AWS_CONFIG_FILE=/dev/null
python3 - "$url" "$cluster" <<'PY' || die "CreateCluster $cluster failed"
import sys
import boto3
boto3.client("ecs", endpoint_url=sys.argv[1], region_name="us-east-1").create_cluster(clusterName=sys.argv[2])
PY

"$berth" agent --server "$url" --cluster "$cluster" --data-dir "$workdir/agent" \
    --simulate "$instances" --az us-east-1a,us-east-1b,us-east-1c --cpu 4096 --memory 16384 \
    >/dev/null 2>"$workdir/agent.log" &
agent_pid=$!
registered=0
for _ in $(seq 300); do
    registered=$(python3 - "$url" "$cluster" <<'PY'
import sys
import boto3
ecs = boto3.client("ecs", endpoint_url=sys.argv[1], region_name="us-east-1")
pages = ecs.get_paginator("list_container_instances").paginate(cluster=sys.argv[2])
print(sum(len(p["containerInstanceArns"]) for p in pages))
PY
)
    (( registered >= instances )) && break
    kill -0 "$agent_pid" 2>/dev/null || { tail -20 "$workdir/agent.log" >&2; die "berth agent exited"; }
    sleep 0.2
done
(( registered >= instances )) || die "only $registered of $instances simulated instances registered"
log "$instances simulated instances registered"

# The driver runs in the background so that a TERM to this script is handled at once.
status=0
python3 bench/task_set.py "$url" "$cluster" "$tasks" "$rounds" "$poll" "$timeout" >"$workdir/figure.txt" &
driver_pid=$!
wait "$driver_pid" || status=$?
driver_pid=""
if (( status != 0 )); then
    log "server log tail:"; tail -20 "$workdir/server.log" >&2 || true
    die "the driver failed (exit $status)"
fi
stop_process agent_pid
stop_process server_pid
tail -n 1 "$workdir/figure.txt"
