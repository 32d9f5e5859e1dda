#!/usr/bin/env bash
# The load balancer's CPU cost per proxied request, measured so that a busy machine does not
# change it: instructions per request under callgrind, plus CPU time per request (user and
# system, from /proc) of a native run. The setup is bench/lb.sh's: berth-lb's `lb` example
# forwarding an HTTP listener to a target group of two `upstream` example targets, driven by wrk
# over keep-alive connections.
#
#   bash bench/lb_cost.sh                   # 8 connections, 5 s measured per phase
#   BENCH_SECONDS=2 bash bench/lb_cost.sh   # smoke run
#
# Knobs: BENCH_SECONDS (5), BENCH_CONNECTIONS (8), BENCH_WORKERS (2, Berth's worker threads).
#
# How: the proxy runs under `valgrind --tool=callgrind --instr-atstart=no`; after a warm-up
# (connections to the targets pooled, caches and allocator warm) instrumentation is switched on
# with callgrind_control, wrk runs for BENCH_SECONDS, instrumentation goes off and the profile is
# dumped; instructions (Ir) over the requests wrk completed in that window. Then the same proxy
# natively: utime + stime of the process (clock ticks from /proc/PID/stat) over the requests of a
# second wrk run. Instruction counts do not depend on the neighbours; CPU time does somewhat
# (caches), so compare it only between runs on the same machine state. The profile is kept
# (its path is printed) for `callgrind_annotate`.
#
# Last line:
#   lb_cost: I instructions/request (requests: N); cpu_us_per_request: user U, sys S
set -euo pipefail

seconds=${BENCH_SECONDS:-5}
connections=${BENCH_CONNECTIONS:-8}
workers=${BENCH_WORKERS:-2}

cd "$(dirname "${BASH_SOURCE[0]}")/.."
target_dir=${CARGO_TARGET_DIR:-$(pwd)/target}
source bench/lib.sh

[[ $seconds =~ ^[0-9]+$ ]] && (( seconds > 0 && seconds <= 120 )) || die "BENCH_SECONDS must be 1..120"
for tool in wrk valgrind callgrind_control; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (apt-get install -y wrk valgrind)"
done

log "building berth-lb's examples (dist: the deployment profile, LTO, with line tables)"
cargo build --profile dist --quiet -p berth-lb --example lb --example upstream
lb_binary=$target_dir/dist/examples/lb
upstream_binary=$target_dir/dist/examples/upstream

workdir=$(mktemp -d)
profile_dir=$(mktemp -d -t lb-cost-profile.XXXXXX)
pids=()
on_exit cleanup_pids

source bench/lb_targets.sh
start_targets 1

# bench/lb.sh's HTTP listener and target group, on a free numbered port, as in bench/lb.sh (a
# port-0 listener is keyed differently inside the data plane).
python3 bench/lb_config.py "$target_a" "$target_b" 0 >"$workdir/berth.json"

# start_proxy [WRAPPER...]: starts the lb example (under WRAPPER), waits for its listener and
# sets proxy_pid and proxy_url.
start_proxy() {
    : >"$workdir/berth.out"
    "$@" "$lb_binary" "$workdir/berth.json" "$workers" >"$workdir/berth.out" 2>"$workdir/berth.log" & pids+=($!)
    proxy_pid=$!
    for _ in $(seq 600); do grep -q '^ready' "$workdir/berth.out" && break; sleep 0.1; done
    grep -q '^ready' "$workdir/berth.out" || { tail "$workdir/berth.log" >&2; die "the proxy did not start"; }
    proxy_url="http://$(awk '/^ready/ { print $3; exit }' "$workdir/berth.out")/"
}

stop_proxy() {
    kill "$proxy_pid" 2>/dev/null || true
    wait "$proxy_pid" 2>/dev/null || true
}

# drive SECONDS OUTPUT: wrk against the proxy; prints the number of requests completed.
drive() {
    wrk -t1 -c"$connections" -d"$1s" -H "Host: bench.localhost" "$proxy_url" >"$2"
    if grep -Eq '^ *(Socket errors|Non-2xx)' "$2"; then cat "$2" >&2; die "errors through the proxy"; fi
    awk '$2 == "requests" && $3 == "in" { print $1 }' "$2"
}

log "callgrind run"
start_proxy valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$profile_dir/callgrind.out.%p"
drive 2 "$workdir/warmup.txt" >/dev/null
callgrind_control -i on "$proxy_pid" >/dev/null 2>&1
requests=$(drive "$seconds" "$workdir/callgrind.txt")
callgrind_control -i off "$proxy_pid" >/dev/null 2>&1
callgrind_control -d "$proxy_pid" >/dev/null 2>&1
stop_proxy
instructions=$(cat "$profile_dir"/callgrind.out.* | awk '$1 == "totals:" { sum += $2 } END { print sum }')
# Every dump counts what was run since the previous one; the last (at exit) has nothing.
(( requests > 0 )) || die "no requests completed under callgrind"
log "profile: $profile_dir (callgrind_annotate --inclusive=yes FILE)"

log "native run"
start_proxy
drive 2 "$workdir/warmup-native.txt" >/dev/null
read -r -a before < <(cut -d' ' -f14,15 "/proc/$proxy_pid/stat")
native_requests=$(drive "$seconds" "$workdir/native.txt")
read -r -a after < <(cut -d' ' -f14,15 "/proc/$proxy_pid/stat")
stop_proxy
ticks=$(getconf CLK_TCK)

awk -v ir="$instructions" -v n="$requests" -v m="$native_requests" -v t="$ticks" \
    -v u0="${before[0]}" -v s0="${before[1]}" -v u1="${after[0]}" -v s1="${after[1]}" 'BEGIN {
    printf "lb_cost: %.0f instructions/request (requests: %d); cpu_us_per_request: user %.1f, sys %.1f (requests: %d)\n",
        ir / n, n, (u1 - u0) * 1e6 / t / m, (s1 - s0) * 1e6 / t / m, m
}'
