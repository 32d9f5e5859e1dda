#!/usr/bin/env bash
# Log-shipping benchmark: a task printing BENCH_LINES lines as fast as it can, its output shipped
# by Berth's awslogs driver (a release `berth server` + `berth agent` on the local Docker Engine)
# to CloudWatch Logs, beside the same container under plain `docker run` with json-file, the
# engine's own log, read with `docker logs`. The driver is bench/logs.py (boto3).
#
#   bash bench/logs.sh                         # full run: 100,000 lines, 3 rounds per side
#   BENCH_LINES=10000 BENCH_ROUNDS=1 bash bench/logs.sh   # smoke run
#
# Per round, sides rotating (a different one first each round), one container
# each time, nothing else running:
#   docker: `docker run -d berth-demo:latest log --lines N`; rate = N / (timestamp of line N -
#     timestamp of line 1), both as the engine stamped them when it took them from the container
#     (`docker logs --timestamps`): how fast the engine's own log takes the lines in.
#   docker local: the same with `--log-driver local`, the engine's cheaper file format, which
#     Berth's awslogs containers log to (the agent reads and ships it): a reference, not the
#     baseline, so the ratio against json-file (Docker's default) is not mistaken for more.
#   Berth: RunTask of the same container with logConfiguration awslogs and cpu 1024 (the CPU
#     weight `docker run` gives the others; ECS gives a container without cpu 2 shares); rate =
#     N / (ingestion time of line N - timestamp of line 1), read back with GetLogEvents (all N
#     must be there, in order, once): how fast the lines reach CloudWatch Logs and are
#     queryable. Lag per line =
#     its ingestionTime - its timestamp (the engine's stamp, in ms): write to visible.
# Medians over the rounds; lag p99 over every line of every Berth round.
#
# The last line of output is the figure:
#   log_lines_per_sec: N (docker logs baseline: M, ratio N/M); lag_p99_ms: L (...; docker with
#   the local driver: K lines/s, ratio N/K; ...)
set -euo pipefail

lines=${BENCH_LINES:-100000}
rounds=${BENCH_ROUNDS:-3}
cluster=bench-logs

cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh

prepare_docker_bench
container_labels=(berth-bench=1 "com.amazonaws.ecs.cluster=$cluster")
on_exit cleanup_berth

remove_containers

start_server
python3 bench/logs.py cluster "$url" "$cluster"
start_agent --task-cleanup-wait 0

python3 bench/logs.py run "$url" "$cluster" "$lines" "$rounds"
