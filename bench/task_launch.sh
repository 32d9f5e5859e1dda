#!/usr/bin/env bash
# Task-launch benchmark: how fast a release build of Berth (`berth server` + one `berth agent` on
# the local Docker Engine) takes a task from RunTask to RUNNING, measured beside the same Engine
# driven directly by a long-lived Engine API client doing what the agent does (create + start),
# with `docker run -d` (a CLI process per sample) printed for reference and the engine's own
# create+start time printed as the floor. The driver is bench/task_launch.py (boto3 and the Engine
# API's unix socket); its docstring says what is timed, from where to where.
#
#   bash bench/task_launch.sh                                          # full run
#   BENCH_TASKS=5 BENCH_BURST=10 BENCH_BURST_ROUNDS=1 bash bench/task_launch.sh   # smoke run
#
# Knobs: BENCH_TASKS (100, sequential samples per side: enough for a p95), BENCH_BURST (100, tasks
# in a burst), BENCH_BURST_ROUNDS (3, burst rounds, sides alternating), BENCH_CLIENTS (10,
# concurrent RunTask clients in Berth's burst), BENCH_POLL_MS (5, DescribeTasks interval).
#
# Like for like: the same container on every side (berth-demo:latest, 64 MiB memory limit, port
# 8080 published on a dynamic host port on the engine's default address, as the agent publishes
# it); both sides driven by long-lived clients; sides rotated sample by sample; no sample starts
# before every earlier container of either side is removed (the agent runs with
# --task-cleanup-wait 0, so it removes a stopped task's container at once, and the engine would
# otherwise still be busy with that); in the burst, both sides have up to BENCH_BURST requests in
# flight at the engine (the agent hands every task it gets to the engine at once; the baseline
# releases BENCH_BURST create+start calls at once), and the measured peak is printed for both.
#
# The last line of output is the figure:
#   task_launch_p50_ms: X (docker API create+start: Y ms, ratio X/Y; docker run CLI: Z ms; engine's own create+start: F ms); p95_ms: A (docker API: B; docker run CLI: C; n=…); burst_tasks_per_sec: R (docker API: D, ratio R/D; …); real containers on the local Docker Engine, nothing simulated
# Everything started is removed on exit, failure and Ctrl-C: the driver stops its tasks and removes
# its containers, then the trap stops the agent and server and removes any container labelled
# berth-bench=1 or com.amazonaws.ecs.cluster=bench.
set -euo pipefail

tasks=${BENCH_TASKS:-100}
burst=${BENCH_BURST:-100}
burst_rounds=${BENCH_BURST_ROUNDS:-3}
clients=${BENCH_CLIENTS:-10}
poll_ms=${BENCH_POLL_MS:-5}
cluster=bench

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '%s\n' "$*" >&2; }
die() { log "bench/task_launch.sh: $*"; exit 1; }

command -v docker >/dev/null 2>&1 || die "needs docker"
docker info >/dev/null 2>&1 || die "cannot reach the Docker Engine (docker info failed)"
python3 -c 'import boto3' 2>/dev/null || die "needs boto3 (pip install boto3)"

cargo build --release -p berth
berth=${CARGO_TARGET_DIR:-target}/release/berth
"$berth" demo image >&2

workdir=$(mktemp -d)
server_pid=""
agent_pid=""
driver_pid=""

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

# Containers of this benchmark: the ones it ran itself, and the ones Berth ran for the cluster.
leftover_containers() {
    docker ps -aq --filter "label=berth-bench=1"
    docker ps -aq --filter "label=com.amazonaws.ecs.cluster=$cluster"
}

remove_containers() {
    local ids
    ids=$(leftover_containers | sort -u)
    [[ -z $ids ]] || docker rm -f $ids >/dev/null 2>&1 || true
}

cleanup() {
    # The driver first (its finally block stops the tasks through the API), then the agent, so it
    # cannot start anything more, then whatever containers are left, then the server.
    stop_process driver_pid
    stop_process agent_pid
    remove_containers
    stop_process server_pid
    rm -rf "$workdir"
}
trap cleanup EXIT
# Turn signals into a normal exit so the EXIT trap still runs.
trap 'exit 130' INT
trap 'exit 143' TERM

# A previous run killed hard (SIGKILL) may have left containers behind; they would skew the run.
remove_containers

# The server and the agent run in sessions of their own (setsid), so a Ctrl-C in the terminal
# reaches only this script and the driver: the driver then stops its tasks through the API while
# both are still up, and the trap stops them afterwards, agent first. (setsid execs in place here,
# as a background job is no process group leader, so $! is berth's own pid.)
# Port 0 lets the kernel pick a free port with no race; the ready line names it. The output file
# exists before the job starts, so the first read below cannot find it missing.
: >"$workdir/server.out"
setsid "$berth" server --listen 127.0.0.1:0 --data-dir "$workdir/server" \
    >"$workdir/server.out" 2>"$workdir/server.log" &
server_pid=$!
address=""
for _ in $(seq 300); do
    address=$(sed -n 's|^berth ready: http://||p' "$workdir/server.out")
    [[ -n $address ]] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        cat "$workdir/server.log" >&2
        die "berth server exited before it was ready"
    fi
    sleep 0.1
done
if [[ -z $address ]]; then
    cat "$workdir/server.log" >&2
    die "berth server was not ready within 30 s"
fi
url="http://$address"
log "berth server ready at $url"

# The agent signs its channel with the account's root credentials, which the server wrote to its
# data directory; the driver signs its API calls with them too. Found as aws-cli finds them, so
# credentials from the caller's environment must not take precedence.
[[ -s $workdir/server/credentials ]] || die "berth server wrote no $workdir/server/credentials"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE
export AWS_SHARED_CREDENTIALS_FILE=$workdir/server/credentials AWS_CONFIG_FILE=/dev/null

# Signed as every request must be (an unsigned one is refused).
python3 - "$url" "$cluster" <<'PY' || die "CreateCluster $cluster failed"
import sys
import boto3
boto3.client("ecs", endpoint_url=sys.argv[1], region_name="us-east-1").create_cluster(clusterName=sys.argv[2])
PY

setsid "$berth" agent --server "$url" --cluster "$cluster" --data-dir "$workdir/agent" --task-cleanup-wait 0 \
    >"$workdir/agent.out" 2>"$workdir/agent.log" &
agent_pid=$!
log "berth agent started (pid $agent_pid); the driver waits for it to register"

# The driver runs in the background so that a TERM to this script is handled at once (bash runs
# traps only between foreground commands), and the trap can stop it.
status=0
python3 bench/task_launch.py --url "$url" --cluster "$cluster" --tasks "$tasks" --burst "$burst" \
    --burst-rounds "$burst_rounds" --clients "$clients" --poll-ms "$poll_ms" >"$workdir/figure.txt" &
driver_pid=$!
wait "$driver_pid" || status=$?
driver_pid=""
if (( status == 130 )); then
    log "bench/task_launch.sh: interrupted"
    exit 130
elif (( status != 0 )); then
    if ! kill -0 "$agent_pid" 2>/dev/null; then log "the agent has exited; its log:"; tail -50 "$workdir/agent.log" >&2; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then log "the server has exited; its log:"; tail -50 "$workdir/server.log" >&2; fi
    log "agent log tail:"; tail -20 "$workdir/agent.log" >&2 || true
    die "the driver failed (exit $status)"
fi

# Clean up now, rather than only in the trap, to check that nothing was left behind.
stop_process agent_pid
remove_containers
left=$(leftover_containers)
[[ -z $left ]] || die "containers left behind after cleanup: $left"
stop_process server_pid

log ""
tail -n 1 "$workdir/figure.txt"
