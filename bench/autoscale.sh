#!/usr/bin/env bash
# Service Auto Scaling benchmark: load onset → scale-out decision → new task serving traffic,
# for a one-task service behind a Berth listener with target tracking on
# ALBRequestCountPerTarget and `--metric-period 1` (bench/autoscale.py does the work; see there).
#
#   bash bench/autoscale.sh                     # release build, 60 requests/s, target 10
#   BENCH_RATE=100 BENCH_TARGET=20 bash bench/autoscale.sh
#
# Knobs: BENCH_RATE (60 requests per second, the step load), BENCH_TARGET (10 requests per target
# per second), BENCH_DURATION (60 s, the most the load lasts), BERTH_PROFILE (release).
# Goal: the new task serving within 15 s of the load's onset (ECS's best published is about
# 109 s with 20-second metrics; Kubernetes' HPA evaluates every 15 s).
#
# Last line:
#   scale_out_s: X (decision: Y s)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
profile=${BERTH_PROFILE:-release}

if [[ $profile == release ]]; then
    cargo build --quiet --release -p berth
else
    cargo build --quiet -p berth
fi
exec python3 bench/autoscale.py --berth "$target_dir/$profile/berth" \
    --rate "${BENCH_RATE:-60}" --target "${BENCH_TARGET:-10}" --duration "${BENCH_DURATION:-60}"
