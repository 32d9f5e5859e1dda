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
source bench/lib.sh

rounds=${PLACEMENT_ROUNDS:-3}
cluster=placement
build_berth --quiet
engine_out=$(PLACEMENT_ROUNDS=$rounds cargo run --release --quiet -p berth-scheduler --example placement_bench)
printf '%s\n' "$engine_out" >&2
engine=$(tail -n 1 <<<"$engine_out")
engine_rate=$(sed -n 's/^placements_per_sec: \([0-9]*\).*/\1/p' <<<"$engine")
[[ -n $engine_rate ]] || die "the pure engine printed no figure: $engine"
log "pure engine: $engine"

workdir=$(mktemp -d)
on_exit cleanup_berth

start_server
create_cluster
start_simulated_agent "$instances" 600 --simulated-start-ms 50

result=$(python3 bench/placement.py "$url" "$cluster" "$tasks" "$clients")
rate=$(sed -n 's/^api_tasks_placed_per_sec: //p' <<<"$result")
running=$(sed -n 's/^all_running_s: //p' <<<"$result")
placed=$(sed -n 's/^tasks_placed: //p' <<<"$result")
used=$(sed -n 's/^instances_used: //p' <<<"$result")
rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status")
echo "placements_per_sec: $engine_rate (median of $rounds engine rounds, memberOf differing per call; end-to-end: $rate tasks/s, all RUNNING in $running s, $placed tasks on $used of $instances simulated instances, every task listed, described and RUNNING, server RSS $((rss_kib / 1024)) MiB)"
