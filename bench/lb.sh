#!/usr/bin/env bash
# Load balancer benchmark: requests per second and p99 latency through Berth's data plane
# (crates/berth-lb, run by its `lb` example from a JSON configuration), through nginx and through
# HAProxy, each proxying to the same two upstream targets over keep-alive connections, driven by
# wrk over loopback with the same connections and duration; then the same over HTTPS.
#
#   bash bench/lb.sh                        # full run: 64 connections, 10 s per phase, 4 rounds
#   BENCH_SECONDS=2 BENCH_ROUNDS=1 bash bench/lb.sh   # smoke run
#
# Knobs: BENCH_SECONDS (10), BENCH_CONNECTIONS (64), BENCH_THREADS (2, wrk threads),
# BENCH_ROUNDS (4), BENCH_WORKERS (2: Berth's worker threads = nginx worker_processes = HAProxy
# nbthread), BENCH_UPSTREAM_THREADS (1 per target).
#
# How: Berth's side is built with the `dist` profile (LTO, one codegen unit), as a deployment
# would be (`cargo build --profile dist`); nginx and HAProxy are Debian's optimised builds. The
# targets are berth-lb's `upstream` example (a minimal hyper server; the direct rate to
# one target is printed first, so that a target that would be the bottleneck shows). wrk, nginx
# and haproxy are installed from Debian when missing. Each round measures the three proxies in
# turn, the order reversed every other round (an even number of rounds puts Berth and HAProxy
# first equally often: the machine can slow down over a round); the figures are medians over
# rounds. All traffic
# stays on 127.0.0.1 and every process started here is stopped on exit.
#
# Then the rolling deployment (bench/lb_rolling_deploy.py, on a release `berth server` and one
# `berth agent` on the local Docker Engine): a service of BENCH_DEPLOY_TASKS (2) berth-demo tasks
# behind a Berth listener is rolled to a new deployment under a steady load of
# BENCH_DEPLOY_CLIENTS (4) local clients, each sending a request every 10 ms over keep-alive;
# every non-2xx answer and every connection error counts. Its line comes just before the last:
#   rolling_deploy_5xx: F of N requests
#
# Last line (ratio = Berth / the better of nginx and HAProxy; lower p99 is better):
#   lb_rps: X (nginx: Y, haproxy: Z, ratio R); p99_ms: P (nginx: PN, haproxy: PH); https_ratio: RS (berth: XS, nginx: YS, haproxy: ZS)
# Exits non-zero on any non-2xx answer or socket error.
set -euo pipefail

seconds=${BENCH_SECONDS:-10}
connections=${BENCH_CONNECTIONS:-64}
threads=${BENCH_THREADS:-2}
rounds=${BENCH_ROUNDS:-4}
workers=${BENCH_WORKERS:-2}
upstream_threads=${BENCH_UPSTREAM_THREADS:-1}
if (( threads > connections )); then threads=$connections; fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
source bench/lib.sh

[[ $seconds =~ ^[0-9]+$ ]] && (( seconds > 0 && seconds <= 600 )) || die "BENCH_SECONDS must be 1..600"
[[ $rounds =~ ^[0-9]+$ ]] && (( rounds > 0 && rounds <= 20 )) || die "BENCH_ROUNDS must be 1..20"

install_package wrk wrk
install_package openssl openssl
# Debian installs the daemons under /usr/sbin, which a non-login shell may not have on PATH.
PATH=$PATH:/usr/sbin
install_package nginx nginx
install_package haproxy haproxy
command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 \
    || die "the rolling-deployment phase needs the Docker Engine (docker info failed)"
python3 -c 'import boto3' 2>/dev/null || die "the rolling-deployment phase needs boto3 (pip install boto3)"

log "building berth-lb's examples (dist: the deployment profile, with LTO) and berth (release)"
cargo build --profile dist --quiet -p berth-lb --example lb --example upstream
cargo build --release --quiet -p berth
lb_binary=$target_dir/dist/examples/lb
upstream_binary=$target_dir/dist/examples/upstream

workdir=$(mktemp -d)
pids=()
on_exit cleanup_pids

# The targets take any free port and say which; the proxies get free loopback ports chosen by the
# kernel just before they start.
source bench/lb_targets.sh
start_targets "$upstream_threads"
read -r berth_http berth_https nginx_http nginx_https haproxy_http haproxy_https < <(python3 - <<'PY'
import socket
sockets = [socket.socket() for _ in range(6)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))
PY
)

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=bench.localhost" \
    -addext "subjectAltName=DNS:bench.localhost" \
    -keyout "$workdir/key.pem" -out "$workdir/cert.pem" 2>/dev/null
cat "$workdir/cert.pem" "$workdir/key.pem" >"$workdir/haproxy.pem"

# Berth: one load balancer with an HTTP and an HTTPS listener forwarding to one target group.
python3 bench/lb_config.py "$target_a" "$target_b" "$berth_http" "$berth_https" \
    "$workdir/cert.pem" "$workdir/key.pem" >"$workdir/berth.json"
"$lb_binary" "$workdir/berth.json" "$workers" >"$workdir/berth.out" 2>"$workdir/berth.log" & pids+=($!)

cat >"$workdir/nginx.conf" <<EOF
daemon off;
worker_processes $workers;
pid $workdir/nginx.pid;
error_log $workdir/nginx.error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    upstream targets {
        server 127.0.0.1:$target_a;
        server 127.0.0.1:$target_b;
        keepalive 128;
    }
    server {
        listen 127.0.0.1:$nginx_http;
        # Debian 12's nginx (1.22) spells HTTP/2 on the listen line.
        listen 127.0.0.1:$nginx_https ssl http2;
        ssl_certificate $workdir/cert.pem;
        ssl_certificate_key $workdir/key.pem;
        location / {
            proxy_pass http://targets;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
    }
}
EOF
nginx -c "$workdir/nginx.conf" -p "$workdir" 2>"$workdir/nginx.log" & pids+=($!)

cat >"$workdir/haproxy.cfg" <<EOF
global
    nbthread $workers
    # Within the default open-file limit (HAProxy needs about two descriptors per connection).
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    option http-keep-alive
    option forwardfor
    http-reuse always
frontend bench
    bind 127.0.0.1:$haproxy_http
    bind 127.0.0.1:$haproxy_https ssl crt $workdir/haproxy.pem alpn h2,http/1.1
    http-request set-header X-Forwarded-Proto https if { ssl_fc }
    default_backend targets
backend targets
    balance roundrobin
    server a 127.0.0.1:$target_a
    server b 127.0.0.1:$target_b
EOF
haproxy -f "$workdir/haproxy.cfg" -db 2>"$workdir/haproxy.log" & pids+=($!)

declare -A url=(
    [direct]="http://127.0.0.1:$target_a/"
    [berth]="http://bench.localhost:$berth_http/"
    [nginx]="http://127.0.0.1:$nginx_http/"
    [haproxy]="http://127.0.0.1:$haproxy_http/"
    [berth-tls]="https://bench.localhost:$berth_https/"
    [nginx-tls]="https://127.0.0.1:$nginx_https/"
    [haproxy-tls]="https://127.0.0.1:$haproxy_https/"
)
# bench.localhost is not in /etc/hosts everywhere: curl and wrk reach it through --resolve / Host.
resolve="bench.localhost:0:127.0.0.1"

for name in direct berth nginx haproxy berth-tls nginx-tls haproxy-tls; do
    ready=""
    for _ in $(seq 150); do
        if curl -sfk --max-time 1 --resolve "bench.localhost:$berth_http:127.0.0.1" \
            --resolve "bench.localhost:$berth_https:127.0.0.1" -o /dev/null "${url[$name]}"; then
            ready=yes; break
        fi
        sleep 0.2
    done
    [[ -n $ready ]] || { tail -n 20 "$workdir"/*.log >&2; die "$name (${url[$name]}) did not answer within 30 s"; }
done
log "all up: targets :$target_a :$target_b; berth :$berth_http/:$berth_https; nginx :$nginx_http/:$nginx_https; haproxy :$haproxy_http/:$haproxy_https"

: >"$workdir/results"
# run NAME SIDE: one wrk phase against SIDE's URL, recorded as "SIDE RATE P99_MS".
run() {
    local name=$1 side=$2 target=${url[$2]} output="$workdir/$1.txt"
    # wrk connects to the URL's host: aim the berth URLs at loopback and send the Host header.
    local host_header=()
    if [[ $target == *bench.localhost* ]]; then
        host_header=(-H "Host: bench.localhost")
        target=${target/bench.localhost/127.0.0.1}
    fi
    wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency "${host_header[@]}" "$target" >"$output"
    log "== $name ($side): $(awk '/Requests\/sec:/ { print $2 " req/s" } $1 == "99%" { print "p99 " $2 }' "$output" | paste -sd' ')"
    if grep -q '^ *Socket errors:' "$output"; then cat "$output" >&2; die "$name: socket errors"; fi
    if grep -q 'Non-2xx or 3xx responses' "$output"; then cat "$output" >&2; die "$name: non-2xx answers"; fi
    local rate p99
    rate=$(awk '$1 == "Requests/sec:" { print $2 }' "$output")
    p99=$(awk '$1 == "99%" { print $2 }' "$output")
    [[ $rate =~ ^[0-9.]+$ ]] || die "$name: cannot parse Requests/sec: '$rate'"
    [[ $p99 =~ ^([0-9.]+)(us|ms|s|m)$ ]] || die "$name: cannot parse the 99% latency: '$p99'"
    awk -v side="$side" -v rate="$rate" -v value="${BASH_REMATCH[1]}" -v unit="${BASH_REMATCH[2]}" 'BEGIN {
        scale["us"] = 0.001; scale["ms"] = 1; scale["s"] = 1000; scale["m"] = 60000
        printf "%s %s %.3f\n", side, rate, value * scale[unit]
    }' >>"$workdir/results"
}

# median SIDE COLUMN: the median of a column (2 rate, 3 p99) over the rounds.
median() {
    awk -v side="$1" -v column="$2" '$1 == side { print $column }' "$workdir/results" | sort -g | awk '
        { v[NR] = $1 }
        END { if (NR == 0) exit 1; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

run "direct-to-one-target" direct
for round in $(seq "$rounds"); do
    if (( round % 2 )); then order=(berth nginx haproxy); else order=(haproxy nginx berth); fi
    for side in "${order[@]}"; do run "http-$round" "$side"; done
    for side in "${order[@]}"; do run "https-$round" "$side-tls"; done
done

read -r direct_rps < <(median direct 2)
read -r berth_rps < <(median berth 2); read -r nginx_rps < <(median nginx 2); read -r haproxy_rps < <(median haproxy 2)
read -r berth_p99 < <(median berth 3); read -r nginx_p99 < <(median nginx 3); read -r haproxy_p99 < <(median haproxy 3)
read -r berth_tls < <(median berth-tls 2); read -r nginx_tls < <(median nginx-tls 2); read -r haproxy_tls < <(median haproxy-tls 2)
log "direct to one target: $direct_rps req/s (a proxy in front of two such targets cannot be measured beyond ~2x this)"

# The rolling deployment, after the throughput phases so that it does not disturb them. It runs
# in the background so that a TERM to this script reaches the trap at once (which stops it; its
# own finally block stops its server and agent and removes its containers).
python3 bench/lb_rolling_deploy.py --berth "$target_dir/release/berth" \
    --tasks "${BENCH_DEPLOY_TASKS:-2}" --clients "${BENCH_DEPLOY_CLIENTS:-4}" >"$workdir/rolling.txt" & pids+=($!)
wait "${pids[-1]}" || die "the rolling-deployment phase failed"
rolling=$(tail -n 1 "$workdir/rolling.txt")
[[ $rolling =~ ^rolling_deploy_5xx:\ [0-9]+\ of\ [0-9]+\ requests$ ]] || die "rolling-deployment phase: unexpected line '$rolling'"
printf '%s\n' "$rolling"
awk -v x="$berth_rps" -v y="$nginx_rps" -v z="$haproxy_rps" -v p="$berth_p99" -v pn="$nginx_p99" -v ph="$haproxy_p99" \
    -v xs="$berth_tls" -v ys="$nginx_tls" -v zs="$haproxy_tls" 'BEGIN {
    best = (y > z) ? y : z; best_tls = (ys > zs) ? ys : zs
    printf "lb_rps: %.0f (nginx: %.0f, haproxy: %.0f, ratio %.2f); p99_ms: %.2f (nginx: %.2f, haproxy: %.2f); https_ratio: %.2f (berth: %.0f, nginx: %.0f, haproxy: %.0f)\n",
        x, y, z, x / best, p, pn, ph, xs / best_tls, xs, ys, zs
}'
