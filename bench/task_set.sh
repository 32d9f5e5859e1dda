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
source bench/lib.sh

need_boto3
build_berth --quiet

workdir=$(mktemp -d)
on_exit cleanup_berth

start_server
create_cluster
start_simulated_agent "$instances" 60

run_driver python3 bench/task_set.py "$url" "$cluster" "$tasks" "$rounds" "$poll" "$timeout"
stop_berth
tail -n 1 "$workdir/figure.txt"
