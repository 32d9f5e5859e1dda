#!/usr/bin/env bash
# Log-shipping benchmark: a task printing BENCH_LINES lines as fast as it can, its output shipped
# by Berth's awslogs driver (a release `berth server` + `berth agent` on the local Docker Engine)
# to CloudWatch Logs, beside the same container under plain `docker run` with json-file, the
# engine's own log, read with `docker logs`. The driver is bench/logs.py (boto3).
#
#   bash bench/logs.sh                         # full run: 100,000 lines, 3 rounds per side
#   BENCH_LINES=10000 BENCH_ROUNDS=1 bash bench/logs.sh   # smoke run
#
# Per round, sides alternating (docker first in odd rounds, Berth in even ones), one container
# each time, nothing else running:
#   docker: `docker run -d berth-demo:latest log --lines N`; rate = N / (timestamp of line N -
#     timestamp of line 1), both as the engine stamped them when it took them from the container
#     (`docker logs --timestamps`): how fast the engine's own log takes the lines in.
#   Berth: RunTask of the same container with logConfiguration awslogs; rate = N / (ingestion time
#     of line N - timestamp of line 1), read back with GetLogEvents (all N must be there, in
#     order, once): how fast the lines reach CloudWatch Logs and are queryable. Lag per line =
#     its ingestionTime - its timestamp (the engine's stamp, in ms): write to visible.
# Medians over the rounds; lag p99 over every line of every Berth round.
#
# The last line of output is the figure:
#   log_lines_per_sec: N (docker logs baseline: M, ratio N/M); lag_p99_ms: L (...)
set -euo pipefail

lines=${BENCH_LINES:-100000}
rounds=${BENCH_ROUNDS:-3}
cluster=bench-logs

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '%s\n' "$*" >&2; }
die() { log "bench/logs.sh: $*"; exit 1; }

command -v docker >/dev/null 2>&1 || die "needs docker"
docker info >/dev/null 2>&1 || die "cannot reach the Docker Engine (docker info failed)"
python3 -c 'import boto3' 2>/dev/null || die "needs boto3 (pip install boto3)"

cargo build --release -p berth
berth=${CARGO_TARGET_DIR:-target}/release/berth
"$berth" demo image >&2

workdir=$(mktemp -d)
server_pid=""
agent_pid=""

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

remove_containers() {
    local ids
    ids=$( (docker ps -aq --filter "label=berth-bench=1"; docker ps -aq --filter "label=com.amazonaws.ecs.cluster=$cluster") | sort -u)
    [[ -z $ids ]] || docker rm -f $ids >/dev/null 2>&1 || true
}

cleanup() {
    stop_process agent_pid
    remove_containers
    stop_process server_pid
    rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

remove_containers

: >"$workdir/server.out"
setsid "$berth" server --listen 127.0.0.1:0 --data-dir "$workdir/server" \
    >"$workdir/server.out" 2>"$workdir/server.log" &
server_pid=$!
address=""
for _ in $(seq 300); do
    address=$(sed -n 's|^berth ready: http://||p' "$workdir/server.out")
    [[ -n $address ]] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$workdir/server.log" >&2; die "berth server exited before it was ready"; }
    sleep 0.1
done
[[ -n $address ]] || { cat "$workdir/server.log" >&2; die "berth server was not ready within 30 s"; }
url="http://$address"
log "berth server ready at $url"

[[ -s $workdir/server/credentials ]] || die "berth server wrote no $workdir/server/credentials"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE
export AWS_SHARED_CREDENTIALS_FILE=$workdir/server/credentials AWS_CONFIG_FILE=/dev/null AWS_DEFAULT_REGION=us-east-1

python3 bench/logs.py cluster "$url" "$cluster"
setsid "$berth" agent --server "$url" --cluster "$cluster" --data-dir "$workdir/agent" --task-cleanup-wait 0 \
    >"$workdir/agent.out" 2>"$workdir/agent.log" &
agent_pid=$!

python3 bench/logs.py run "$url" "$cluster" "$lines" "$rounds"
