#!/usr/bin/env bash
# API benchmark: durable writes (RegisterTaskDefinition) and reads (DescribeTaskDefinition)
# against a release build of `berth server`, driven by wrk over loopback.
#
#   bash bench/api.sh                       # full run: 16 connections, 20 s per phase
#   BENCH_SECONDS=3 bash bench/api.sh       # smoke run
#
# Knobs: BENCH_SECONDS (20), BENCH_CONNECTIONS (16), BENCH_THREADS (2, wrk threads).
# The last two lines of output are the figures, in this order and format:
#   api_register_per_sec: N (p99 X ms)
#   api_describe_per_sec: N (p99 X ms)
# Exits non-zero if any request failed or the revision check after the write phase fails.
set -euo pipefail

seconds=${BENCH_SECONDS:-20}
connections=${BENCH_CONNECTIONS:-16}
threads=${BENCH_THREADS:-2}
# wrk refuses more threads than connections.
if (( threads > connections )); then threads=$connections; fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '%s\n' "$*" >&2; }
die() { log "bench/api.sh: $*"; exit 1; }

cargo build --release -p berth
berth=target/release/berth

if ! command -v wrk >/dev/null 2>&1; then
    log "installing wrk"
    # A fresh image may have no package lists yet; only pay for an update when the install fails.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } \
        || die "cannot install wrk (apt-get install -y wrk)"
fi

# mktemp honours $TMPDIR; it must not be a tmpfs, or fsync is free and the write figure lies.
workdir=$(mktemp -d)
server_pid=""

stop_server() {
    local signal=$1
    [[ -n $server_pid ]] || return 0
    kill "-$signal" "$server_pid" 2>/dev/null || true
    # Bounded: a server that ignores SIGTERM for 10 s gets SIGKILL.
    for _ in $(seq 100); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

cleanup() {
    stop_server TERM
    rm -rf "$workdir"
}
trap cleanup EXIT
# Turn signals into a normal exit so the EXIT trap still stops the server.
trap 'exit 130' INT
trap 'exit 143' TERM

# Sets $url. Port 0 lets the kernel pick a free port with no race; the ready line names it.
start_server() {
    : >"$workdir/server.out"
    "$berth" server --listen 127.0.0.1:0 --data-dir "$workdir/data" \
        >"$workdir/server.out" 2>>"$workdir/server.log" &
    server_pid=$!
    local address=""
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
    url="http://$address/"
}

target_prefix=AmazonEC2ContainerServiceV20141113

# One request per call, for the checks between phases; prints the response body.
call() {
    local operation=$1 body=$2
    curl -sS --fail-with-body --max-time 10 -X POST \
        -H 'Content-Type: application/x-amz-json-1.1' \
        -H "X-Amz-Target: $target_prefix.$operation" \
        --data "$body" "$url"
}

# The request comes from the environment so one script serves both phases. Each wrk thread
# counts its own 200s and failures; done() sums them, since wrk's own summary only counts
# non-2xx/3xx and we want to know exactly how many writes the server acknowledged.
cat >"$workdir/request.lua" <<'LUA'
wrk.method = "POST"
wrk.path = "/"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/x-amz-json-1.1"
wrk.headers["X-Amz-Target"] = os.getenv("BENCH_TARGET")

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    ok = 0
    failed = 0
    first_failure = ""
end

function response(status, headers, body)
    if status == 200 then
        ok = ok + 1
    else
        failed = failed + 1
        if first_failure == "" then
            first_failure = status .. " " .. string.sub(body or "", 1, 300)
        end
    end
end

function done(summary, latency, requests)
    local total_ok, total_failed, first = 0, 0, ""
    for _, thread in ipairs(threads) do
        total_ok = total_ok + thread:get("ok")
        total_failed = total_failed + thread:get("failed")
        if first == "" then first = thread:get("first_failure") end
    end
    io.write(string.format("bench_ok: %d\nbench_failed: %d\n", total_ok, total_failed))
    if first ~= "" then io.write("bench_first_failure: " .. first .. "\n") end
end
LUA

# run_phase NAME OPERATION BODY: runs wrk, prints its output, fails on any failed request.
run_phase() {
    local name=$1 operation=$2 body=$3
    log ""
    log "== $name: $operation, $connections connections, $threads threads, ${seconds}s"
    BENCH_TARGET="$target_prefix.$operation" BENCH_BODY="$body" \
        wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency \
            -s "$workdir/request.lua" "$url" >"$workdir/$name.txt"
    cat "$workdir/$name.txt" >&2
    local failed
    failed=$(awk '$1 == "bench_failed:" { print $2 }' "$workdir/$name.txt")
    [[ -n $failed ]] || die "$name: wrk printed no result (see above)"
    (( failed == 0 )) || die "$name: $failed requests failed"
    # wrk prints this line only when a connect/read/write/timeout error happened.
    if grep -q '^ *Socket errors:' "$workdir/$name.txt"; then
        die "$name: socket errors (see above)"
    fi
}

# field NAME KEY: the value after KEY in a phase's wrk output.
field() { awk -v key="$2" '$1 == key { print $2; exit }' "$workdir/$1.txt"; }

# figures NAME LABEL: one summary line. wrk prints latency as e.g. 870.00us, 1.23ms, 1.05s, 2.00m.
figures() {
    local name=$1 label=$2 rate p99
    rate=$(field "$name" "Requests/sec:")
    p99=$(field "$name" "99%")
    [[ $rate =~ ^[0-9.]+$ ]] || die "$name: cannot parse Requests/sec from wrk output: '$rate'"
    [[ $p99 =~ ^([0-9.]+)(us|ms|s|m|h)$ ]] || die "$name: cannot parse the 99% latency: '$p99'"
    awk -v label="$label" -v rate="$rate" -v value="${BASH_REMATCH[1]}" -v unit="${BASH_REMATCH[2]}" 'BEGIN {
        scale["us"] = 0.001; scale["ms"] = 1; scale["s"] = 1000; scale["m"] = 60000; scale["h"] = 3600000
        printf "%s: %.0f (p99 %.2f ms)\n", label, rate, value * scale[unit]
    }'
}

start_server
log "berth server ready at $url (data in $workdir/data)"

run_phase register RegisterTaskDefinition \
    '{"family":"bench","containerDefinitions":[{"name":"web","image":"berth-demo:latest","memory":128,"portMappings":[{"containerPort":8080}],"essential":true}]}'

# Every acknowledged register must survive a crash and revisions must be dense, so: SIGKILL the
# server (no graceful shutdown), restart it on the same data, and read the newest revision. It
# must be at least the number of 200s wrk saw, and at most that plus one request in flight per
# connection when wrk stopped (committed but never counted); more than that means a gap.
acknowledged=$(field register "bench_ok:")
# Quiet: bash reports a SIGKILLed job on stderr, and that kill is the point here.
{ stop_server KILL; } 2>/dev/null
start_server
newest=$(call ListTaskDefinitions '{"familyPrefix":"bench","sort":"DESC","maxResults":1}' \
    | sed -n 's|.*task-definition/bench:\([0-9][0-9]*\)".*|\1|p')
[[ -n $newest ]] || die "ListTaskDefinitions after restart returned no bench revision"
upper=$(( acknowledged + connections ))
if (( newest < acknowledged || newest > upper )); then
    die "revision check FAILED: newest revision bench:$newest after SIGKILL and restart, expected between $acknowledged (acknowledged registers) and $upper"
fi
log ""
log "revision check ok: newest revision bench:$newest after SIGKILL and restart; $acknowledged registers acknowledged"

run_phase describe DescribeTaskDefinition '{"taskDefinition":"bench:1"}'

stop_server TERM
log ""
figures register api_register_per_sec
figures describe api_describe_per_sec
