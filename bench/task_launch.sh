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
source bench/lib.sh

prepare_docker_bench
# Containers of this benchmark: the ones it ran itself, and the ones Berth ran for the cluster.
container_labels=(berth-bench=1 "com.amazonaws.ecs.cluster=$cluster")
# The driver first (its finally block stops the tasks through the API), then Berth.
on_exit cleanup_berth

# A previous run killed hard (SIGKILL) may have left containers behind; they would skew the run.
remove_containers

start_server
create_cluster
start_agent --task-cleanup-wait 0
log "berth agent started (pid $agent_pid); the driver waits for it to register"

run_driver python3 bench/task_launch.py --url "$url" --cluster "$cluster" --tasks "$tasks" --burst "$burst" \
    --burst-rounds "$burst_rounds" --clients "$clients" --poll-ms "$poll_ms"

# Clean up now, rather than only in the trap, to check that nothing was left behind.
stop_berth
left=$(labelled_containers)
[[ -z $left ]] || die "containers left behind after cleanup: $left"

log ""
tail -n 1 "$workdir/figure.txt"
