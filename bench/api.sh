#!/usr/bin/env bash
# API benchmark: durable writes (RegisterTaskDefinition), reads (DescribeTaskDefinition) and EC2
# reads (DescribeSubnets), every request SigV4-signed as botocore signs its own, against a release
# build of `berth server`, over loopback, side by side with a baseline server built from the commit
# before the gateway (fdd71b2, which ignores signatures, so the same kind of signed requests drive
# both). Two load generators per kind: wrk closed-loop (the maximum throughput, and its latency)
# and bench/openloop.rs open-loop at a stated constant rate (tail latency corrected for
# coordinated omission, as wrk2 -R: each request's latency counts from when it was due).
#
#   bash bench/api.sh                                       # full run: 16 connections, 20 s per phase, 3 rounds
#   BENCH_SECONDS=5 BENCH_ROUNDS=1 bash bench/api.sh        # smoke run
#
# Knobs: BENCH_SECONDS (20), BENCH_CONNECTIONS (16), BENCH_THREADS (2, wrk threads),
# BENCH_ROUNDS (3), BENCH_READ_RATE (2000, requests/s of the open-loop describe phases),
# BENCH_WRITE_RATE (500, requests/s of the open-loop register phases), BENCH_FSYNC_SECONDS (5, the
# untimed write phase run under strace), BENCH_BASELINE (fdd71b2, the baseline commit),
# BENCH_BASELINE_DIR (target/bench-baseline: holds the baseline's CARGO_TARGET_DIR, target/, and
# its binary, berth-SHA, both kept between runs so only the first run pays for the baseline's
# release build), BENCH_NEW_BINARY (unset: measure a release build of the working tree; set:
# measure that binary, e.g. a copy of target/release/berth, when the working tree does not build
# at the moment).
#
# How: the working tree's berth is built (cargo build --release -p berth) and the baseline in a
# temporary `git worktree` of BENCH_BASELINE (removed again; the worktree in /work/main is never
# touched); bench/openloop.rs is compiled with rustc (std only). Both servers run at once, each
# with its own data directory under one mktemp dir (refused if it is a tmpfs: fsync must cost what
# it costs) and the same root keys seeded in DATA_DIR/credentials. Before the first phase each
# server gets the read set: 10,000 task definitions, 20 revisions in each of 500 families
# (bench/api_sign.py seed). Just before each phase bench/api_sign.py signs a set of distinct
# requests with botocore (SigV4 lets a signed request be replayed for 15 minutes) and the load
# generator replays them, rotating: 512 distinct registers over 64 families; reads over all
# 10,000 seeded task definitions, in a shuffled order. Each round runs, closed loop, register A,
# register B, describe B, describe A; open loop, register B, register A, describe A, describe B;
# then subnets (new server only); A is the new server in odd rounds and the baseline in even
# ones; the figures are medians over rounds.
# Durability, checked where it can be: the data directory must be on a real disk; after the
# rounds, a short untimed register phase runs under `strace -f -c` on each server, counting the
# fsync/fdatasync calls against the writes acknowledged (and, where the server exports it, the
# group commits of berth_store_commit_duration_seconds): a run that acknowledged writes with no
# write barrier fails. Then both servers are SIGKILLed and restarted on their data: the newest
# revisions of the bench families must add up to at least the registers acknowledged (and at most
# that plus one in-flight request per connection per closed-loop register phase), or the run fails.
#
# The last three lines of output are the figures, in this order and format (ratio = new/baseline):
#   api_register_per_sec: N (p99 X ms; baseline M, p99 Y ms, ratio R; open loop at W/s: corrected p99 …; fsync …)
#   api_describe_per_sec: N (p99 X ms; baseline M, p99 Y ms, ratio R; open loop at Q/s: corrected p99 …; 10,000 task definitions)
#   ec2_describe_subnets_per_sec: N (p99 X ms; <what was measured>)
# Exits non-zero if any request got anything but a 200, on socket errors, or if the fsync or the
# revision check fails. A ratio under 0.90 is reported on stderr (the target: no figure falls by
# more than 10 %).
set -euo pipefail

seconds=${BENCH_SECONDS:-20}
connections=${BENCH_CONNECTIONS:-16}
threads=${BENCH_THREADS:-2}
rounds=${BENCH_ROUNDS:-3}
baseline_commit=${BENCH_BASELINE:-fdd71b2}
read_rate=${BENCH_READ_RATE:-2000}
write_rate=${BENCH_WRITE_RATE:-500}
fsync_seconds=${BENCH_FSYNC_SECONDS:-5}
# wrk refuses more threads than connections.
if (( threads > connections )); then threads=$connections; fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
baseline_dir=${BENCH_BASELINE_DIR:-$root/target/bench-baseline}
baseline_target=$baseline_dir/target
source bench/lib.sh

[[ $seconds =~ ^[0-9]+$ ]] && (( seconds > 0 && seconds <= 600 )) \
    || die "BENCH_SECONDS must be 1..600 (signed requests are replayed; SigV4 allows 15 minutes)"
[[ $rounds =~ ^[0-9]+$ ]] && (( rounds > 0 && rounds <= 20 )) || die "BENCH_ROUNDS must be 1..20"
python3 -c 'import botocore' 2>/dev/null || die "needs botocore (pip install botocore) to sign requests"
[[ $read_rate =~ ^[0-9]+$ && $write_rate =~ ^[0-9]+$ ]] && (( read_rate > 0 && write_rate > 0 )) \
    || die "BENCH_READ_RATE and BENCH_WRITE_RATE must be positive integers (requests/s)"
command -v rustc >/dev/null 2>&1 || die "needs rustc to build bench/openloop.rs"

install_package wrk wrk
install_package strace strace

# mktemp honours $TMPDIR; it must not be a tmpfs, or fsync is free and the write figure lies.
workdir=$(mktemp -d)
baseline_src=""
declare -A pid=() url=() binary=()

remove_worktree() {
    [[ -n $baseline_src ]] || return 0
    if ! git worktree remove --force "$baseline_src" >/dev/null 2>&1; then
        # Half-created or already gone: drop the directory, then its stale registration.
        rm -rf "$baseline_src"
        git worktree prune >/dev/null 2>&1 || true
    fi
    baseline_src=""
}

cleanup() {
    stop_process "pid[new]"
    stop_process "pid[old]"
    remove_worktree
    rm -rf "$workdir"
}
on_exit cleanup

fstype=$(stat -f -c %T "$workdir")
case $fstype in
    tmpfs|ramfs) die "$workdir is on $fstype: fsync would be free; set TMPDIR to a directory on a real disk" ;;
esac

# --- the two binaries ---------------------------------------------------------------------------

if [[ -n ${BENCH_NEW_BINARY:-} ]]; then
    [[ -x $BENCH_NEW_BINARY ]] || die "BENCH_NEW_BINARY=$BENCH_NEW_BINARY is not an executable"
    log "== new server: $BENCH_NEW_BINARY (BENCH_NEW_BINARY; not built)"
    cp "$BENCH_NEW_BINARY" "$workdir/berth-new"
else
    log "== building the new server (working tree, $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- 2>/dev/null || echo ', with uncommitted changes'))"
    cargo build --release -p berth
    # A copy, so another build of target/release during the run cannot swap the binary under us.
    cp "${CARGO_TARGET_DIR:-target}/release/berth" "$workdir/berth-new"
fi
binary[new]=$workdir/berth-new

baseline_sha=$(git rev-parse --verify "$baseline_commit^{commit}") || die "unknown baseline commit $baseline_commit"
baseline_binary=$baseline_dir/berth-$baseline_sha
if [[ ! -x $baseline_binary ]]; then
    log "== building the baseline server ($baseline_commit) in a git worktree, CARGO_TARGET_DIR=$baseline_target"
    mkdir -p "$baseline_target"
    baseline_src=$workdir/baseline-src
    git worktree add --detach "$baseline_src" "$baseline_sha" >&2
    (cd "$baseline_src" && CARGO_TARGET_DIR=$baseline_target cargo build --release -p berth)
    cp "$baseline_target/release/berth" "$baseline_binary.tmp"
    mv "$baseline_binary.tmp" "$baseline_binary"
    remove_worktree
else
    log "== baseline server ($baseline_commit): cached $baseline_binary"
fi
binary[old]=$baseline_binary

log "== building bench/openloop.rs (the open-loop load generator)"
rustc -O --edition 2021 bench/openloop.rs -o "$workdir/openloop" || die "cannot build bench/openloop.rs"

# --- servers ------------------------------------------------------------------------------------

# The root keys both servers are seeded with and every request is signed with.
export BENCH_ACCESS_KEY_ID=AKIDBERTHBENCH
export BENCH_SECRET_ACCESS_KEY=berth-bench-secret-access-key
label() { [[ $1 == new ]] && echo "new" || echo "baseline"; }

# start_named_server NAME: sets url[NAME].
start_named_server() {
    local name=$1 data=$workdir/data-$1 out=$workdir/server-$1.out errors=$workdir/server-$1.log
    mkdir -p "$data"
    if [[ ! -e $data/credentials ]]; then
        (umask 077; printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
            "$BENCH_ACCESS_KEY_ID" "$BENCH_SECRET_ACCESS_KEY" >"$data/credentials")
    fi
    : >"$out"
    "${binary[$name]}" server --listen 127.0.0.1:0 --data-dir "$data" >"$out" 2>>"$errors" &
    pid[$name]=$!
    wait_ready "${pid[$name]}" "$out" "$errors" "$(label "$name") berth server"
    url[$name]="http://$address/"
}

# --- phases -------------------------------------------------------------------------------------

# run_phase NAME SERVER KIND: signs KIND's requests for SERVER, runs wrk, fails on any non-200.
run_phase() {
    local name=$1 server=$2 kind=$3 signed
    signed=$(python3 bench/api_sign.py requests "$kind" "${url[$server]}" "$workdir/$name.requests.lua")
    log ""
    log "== $name: $(label "$server") server, $kind ($signed distinct signed requests), $connections connections, $threads threads, ${seconds}s"
    BENCH_REQUESTS="$workdir/$name.requests.lua" BENCH_THREADS=$threads \
        wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency \
            -s bench/api.lua "${url[$server]}" >"$workdir/$name.txt"
    cat "$workdir/$name.txt" >&2
    local failed
    failed=$(field "$name" "bench_failed:")
    [[ -n $failed ]] || die "$name: wrk printed no result (see above)"
    (( failed == 0 )) || die "$name: $failed requests failed ($(sed -n 's/^bench_first_failure: //p' "$workdir/$name.txt"))"
    # wrk prints this line only when a connect/read/write/timeout error happened.
    if grep -q '^ *Socket errors:' "$workdir/$name.txt"; then
        die "$name: socket errors (see above)"
    fi
    record "$name" "$server" "${kind%%:*}"
}

# run_open NAME SERVER KIND RATE: signs KIND's requests for SERVER, runs the open-loop generator at
# RATE requests/s, fails on any non-200; appends "KIND-open SERVER ACHIEVED P99 ACKNOWLEDGED P50
# P999" to results.
run_open() {
    local name=$1 server=$2 kind=$3 rate=$4 signed address
    signed=$(python3 bench/api_sign.py requests "$kind" "${url[$server]}" "$workdir/$name.raw")
    address=${url[$server]#http://}; address=${address%/}
    log ""
    log "== $name: $(label "$server") server, $kind ($signed distinct signed requests), open loop at a constant $rate/s, $connections connections, ${seconds}s"
    "$workdir/openloop" "$workdir/$name.raw" "$address" "$rate" "$seconds" "$connections" >"$workdir/$name.txt"
    cat "$workdir/$name.txt" >&2
    local failed
    failed=$(field "$name" "openloop_failed:")
    [[ -n $failed ]] || die "$name: the open-loop generator printed no result (see above)"
    (( failed == 0 )) || die "$name: $failed requests failed ($(sed -n 's/^openloop_first_failure: //p' "$workdir/$name.txt"))"
    printf '%s-open %s %s %s %s %s %s\n' "$kind" "$server" "$(field "$name" openloop_achieved_rate:)" \
        "$(field "$name" openloop_corrected_p99_ms:)" "$(field "$name" openloop_ok:)" \
        "$(field "$name" openloop_corrected_p50_ms:)" "$(field "$name" openloop_corrected_p999_ms:)" >>"$workdir/results"
}

# field NAME KEY: the value after KEY in a phase's wrk or openloop output.
field() { awk -v key="$2" '$1 == key { print $2; exit }' "$workdir/$1.txt"; }

# record NAME SERVER KIND: appends "KIND SERVER RATE P99_MS ACKNOWLEDGED" to results.
# wrk prints latency as e.g. 870.00us, 1.23ms, 1.05s, 2.00m.
record() {
    local name=$1 server=$2 kind=$3 rate p99 acknowledged
    rate=$(field "$name" "Requests/sec:")
    p99=$(field "$name" "99%")
    acknowledged=$(field "$name" "bench_ok:")
    [[ $rate =~ ^[0-9.]+$ ]] || die "$name: cannot parse Requests/sec from wrk output: '$rate'"
    [[ $p99 =~ ^([0-9.]+)(us|ms|s|m|h)$ ]] || die "$name: cannot parse the 99% latency: '$p99'"
    awk -v kind="$kind" -v server="$server" -v rate="$rate" -v value="${BASH_REMATCH[1]}" \
        -v unit="${BASH_REMATCH[2]}" -v ok="$acknowledged" 'BEGIN {
        scale["us"] = 0.001; scale["ms"] = 1; scale["s"] = 1000; scale["m"] = 60000; scale["h"] = 3600000
        printf "%s %s %s %.3f %d\n", kind, server, rate, value * scale[unit], ok
    }' >>"$workdir/results"
}

# median KIND SERVER COLUMN: the median of a column (3 rate, 4 p99) over the rounds.
median() {
    awk -v kind="$1" -v server="$2" -v column="$3" '$1 == kind && $2 == server { print $column }' \
        "$workdir/results" | sort -g | awk '{ v[NR] = $1 } END {
            if (NR == 0) exit 1
            if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2
        }'
}

# revisions SERVER: "SUM MIN" of the newest revision of each bench family.
revisions() { python3 bench/api_sign.py revisions "${url[$1]}"; }

: >"$workdir/results"
start_named_server new
start_named_server old
log "new server ready at ${url[new]}, baseline at ${url[old]} (data in $workdir, $fstype)"

# The new server must verify signatures, or the comparison measures nothing: an unsigned request is
# refused there. (The baseline predates signatures and serves it.)
unsigned=$(curl -sS --max-time 10 -X POST -H 'Content-Type: application/x-amz-json-1.1' \
    -H 'X-Amz-Target: AmazonEC2ContainerServiceV20141113.ListClusters' --data '{}' "${url[new]}")
[[ $unsigned == *MissingAuthenticationToken* ]] \
    || die "the new server did not refuse an unsigned request (got: ${unsigned:0:300})"

# The read set, on both servers, before anything is timed.
for server in new old; do
    started=$SECONDS
    seeded=$(python3 bench/api_sign.py seed "${url[$server]}") || die "seeding the $(label "$server") server failed"
    log "$(label "$server") server: $seeded task definitions registered as the read set in $(( SECONDS - started )) s"
done

for round in $(seq "$rounds"); do
    if (( round % 2 )); then first=new second=old; else first=old second=new; fi
    run_phase "register-$round-$first" "$first" register
    run_phase "register-$round-$second" "$second" register
    run_phase "describe-$round-$second" "$second" describe
    run_phase "describe-$round-$first" "$first" describe
    run_open "register-open-$round-$second" "$second" register "$write_rate"
    run_open "register-open-$round-$first" "$first" register "$write_rate"
    run_open "describe-open-$round-$first" "$first" describe "$read_rate"
    run_open "describe-open-$round-$second" "$second" describe "$read_rate"
    run_phase "subnets-$round-new" new subnets
done

# The write barrier, observed: a short register phase (untimed, not in the figures) with strace
# counting the server's fsync-family calls, beside the writes acknowledged and, where the server
# exports it, its group commits. SQLite in WAL mode with synchronous=FULL syncs the WAL at every
# commit; a server that acknowledged writes without one would not be durable.
commits() {
    { curl -sS --max-time 10 "${url[$1]}metrics" 2>/dev/null || true; } \
        | awk '$1 == "berth_store_commit_duration_seconds_count" { print $2; found = 1 } END { if (!found) print "" }'
}
declare -A fsync_note=()
for server in new old; do
    before=$(commits "$server")
    strace -f -c -e trace=fsync,fdatasync,sync_file_range,syncfs -o "$workdir/strace-$server.txt" \
        -p "${pid[$server]}" 2>"$workdir/strace-$server.log" &
    strace_pid=$!
    sleep 1  # strace attaches to every thread before the writes start
    kill -0 "$strace_pid" 2>/dev/null \
        || die "strace could not attach to the $(label "$server") server: $(cat "$workdir/strace-$server.log")"
    signed=$(python3 bench/api_sign.py requests register "${url[$server]}" "$workdir/fsync-$server.requests.lua")
    BENCH_REQUESTS="$workdir/fsync-$server.requests.lua" BENCH_THREADS=$threads \
        wrk -t"$threads" -c"$connections" -d"${fsync_seconds}s" -s bench/api.lua "${url[$server]}" >"$workdir/fsync-$server.txt"
    kill -INT "$strace_pid" 2>/dev/null || true
    wait "$strace_pid" 2>/dev/null || true
    after=$(commits "$server")
    acknowledged=$(field "fsync-$server" "bench_ok:")
    failed=$(field "fsync-$server" "bench_failed:")
    [[ -n $acknowledged && $failed == 0 ]] || die "the fsync phase on the $(label "$server") server failed (see $workdir/fsync-$server.txt)"
    # The registers of this phase count towards the crash check below.
    printf 'register-fsync %s 0 0 %d\n' "$server" "$acknowledged" >>"$workdir/results"
    syncs=$(awk '$NF ~ /^(fsync|fdatasync|sync_file_range|syncfs)$/ { n += $4 } END { print n + 0 }' "$workdir/strace-$server.txt")
    cat "$workdir/strace-$server.txt" >&2
    if [[ -n $before && -n $after ]]; then
        batches=$(( after - before ))
        note="$syncs fsyncs for $acknowledged writes in $batches group commits"
        (( syncs >= batches )) || die "fsync check FAILED ($(label "$server") server): $syncs fsync calls for $batches group commits"
    else
        note="$syncs fsyncs for $acknowledged writes"
    fi
    (( acknowledged == 0 || syncs > 0 )) \
        || die "fsync check FAILED ($(label "$server") server): $acknowledged writes acknowledged and no fsync observed"
    fsync_note[$server]=$note
    log "fsync check ok ($(label "$server") server, under strace, untimed): $note"
done

# Every acknowledged register must survive a crash and revisions must be dense, so: SIGKILL each
# server (no graceful shutdown), restart it on the same data, and add up the newest revisions. The
# sum must be at least the number of 200s wrk saw, and at most that plus one request in flight per
# connection per register phase (committed but never counted); more than that means a gap.
for server in new old; do
    acknowledged=$(awk -v server="$server" '$1 ~ /^register/ && $2 == server { n += $5 } END { print n + 0 }' "$workdir/results")
    # Quiet: bash reports a SIGKILLed job on stderr, and that kill is the point here.
    { stop_process "pid[$server]" KILL; } 2>/dev/null
    start_named_server "$server"
    counts=$(revisions "$server"); read -r newest _ <<<"$counts"
    # One request in flight per connection at the end of each wrk register phase (the rounds' and
    # the fsync phase's); the open-loop generator waits for every answer.
    upper=$(( acknowledged + connections * (rounds + 1) ))
    if (( newest < acknowledged || newest > upper )); then
        die "revision check FAILED ($(label "$server") server): the bench families' newest revisions add up to $newest after SIGKILL and restart, expected between $acknowledged (acknowledged registers) and $upper"
    fi
    log ""
    log "revision check ok ($(label "$server") server): newest revisions add up to $newest after SIGKILL and restart; $acknowledged registers acknowledged"
    stop_process "pid[$server]"
done

log ""
log "per phase (kind server requests/s p99_ms acknowledged [p50_ms p999_ms, open loop: corrected]):"
cat "$workdir/results" >&2
log ""

# summary KIND LABEL RATE NOTE: one figure line with the baseline and the ratio new/baseline, then
# the open-loop tail at RATE (medians over rounds), then NOTE.
summary() {
    local kind=$1 figure=$2 rate=$3 note=$4 new_rate new_p99 old_rate old_p99
    new_rate=$(median "$kind" new 3); new_p99=$(median "$kind" new 4)
    old_rate=$(median "$kind" old 3); old_p99=$(median "$kind" old 4)
    awk -v figure="$figure" -v n="$new_rate" -v np="$new_p99" -v o="$old_rate" -v op="$old_p99" \
        -v rate="$rate" -v oa="$(median "$kind-open" new 3)" -v o50="$(median "$kind-open" new 6)" \
        -v o99="$(median "$kind-open" new 4)" -v o999="$(median "$kind-open" new 7)" \
        -v ba="$(median "$kind-open" old 3)" -v b99="$(median "$kind-open" old 4)" \
        -v b999="$(median "$kind-open" old 7)" -v note="$note" 'BEGIN {
        ratio = n / o
        if (ratio < 0.90) printf "bench/api.sh: %s fell by more than 10 %% against the baseline (ratio %.2f)\n", figure, ratio > "/dev/stderr"
        printf "%s: %.0f (p99 %.2f ms; baseline %.0f, p99 %.2f ms, ratio %.2f; open loop at a constant %d/s, latency from the due time: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, achieved %.0f/s; baseline p99 %.2f ms, p99.9 %.2f ms, achieved %.0f/s; %s)\n", figure, n, np, o, op, ratio, rate, o50, o99, o999, oa, b99, b999, ba, note
    }'
}

summary register api_register_per_sec "$write_rate" "fsync under strace: ${fsync_note[new]}; baseline ${fsync_note[old]}"
summary describe api_describe_per_sec "$read_rate" "reads over 10,000 task definitions in 500 families"
awk -v n="$(median subnets new 3)" -v p="$(median subnets new 4)" -v c="$connections" -v t="$threads" \
    -v s="$seconds" -v r="$rounds" 'BEGIN {
    printf "ec2_describe_subnets_per_sec: %.0f (p99 %.2f ms; new server only; median of %d rounds of %d s, %d connections, %d wrk threads, loopback, every request SigV4-signed and verified)\n", n, p, r, s, c, t
}'
