# Sourced by the bench scripts, once they have cd'ed to the repository's root: the plumbing they
# share, so that starting, waiting for and stopping Berth is written (and fixed) in one place.
# Functions only; each names the caller's variables it reads or sets:
#   workdir            the run's scratch directory (made by the caller or prepare_docker_bench,
#                      removed by cleanup_berth or cleanup_pids)
#   berth              the berth binary (build_berth sets it)
#   cluster            the ECS cluster of the bench
#   server_pid, agent_pid, driver_pid, url    set by start_server, start_agent and run_driver
#                      (stop_process and the cleanups take a pid variable that was never set as
#                      one that is empty)
#   container_labels   the labels that mark this bench's containers (its own, and those Berth runs
#                      for its cluster): remove_containers removes these and no others (none if
#                      unset: simulated instances run no containers)
#   pids               lb.sh and lb_cost.sh: every process they started, for cleanup_pids

# Progress and diagnostics go to stderr: stdout carries only the figure.
log() { printf '%s\n' "$*" >&2; }
die() { log "bench/${0##*/}: $*"; exit 1; }

# on_exit FUNCTION: runs FUNCTION at every exit, failures included. INT and TERM are turned into
# exits (130, 143), so that it runs for them too.
on_exit() {
    trap "$1" EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

need_boto3() { python3 -c 'import boto3' 2>/dev/null || die "needs boto3 (pip install boto3)"; }

# install_package COMMAND PACKAGE: installs PACKAGE from Debian unless COMMAND is already there.
install_package() {
    local command=$1 package=$2
    command -v "$command" >/dev/null 2>&1 && return 0
    log "installing $package"
    # A fresh image may have no package lists yet; only pay for an update when the install fails.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null; } \
        || die "cannot install $package (apt-get install -y $package)"
}

# build_berth [CARGO_FLAGS...]: a release build of berth, honouring CARGO_TARGET_DIR; sets berth.
build_berth() {
    cargo build --release "$@" -p berth
    berth=${CARGO_TARGET_DIR:-target}/release/berth
}

# prepare_docker_bench: what a bench of Berth on the local Docker Engine needs before it starts
# anything: docker and boto3, a release berth with its demo image (built, never pulled), and
# workdir.
prepare_docker_bench() {
    command -v docker >/dev/null 2>&1 || die "needs docker"
    docker info >/dev/null 2>&1 || die "cannot reach the Docker Engine (docker info failed)"
    need_boto3
    build_berth
    "$berth" demo image >&2
    workdir=$(mktemp -d)
}

# stop_process PID_VARIABLE [SIGNAL]: SIGNAL (TERM), then SIGKILL after 10 s; clears the variable
# (which may be an array element, "pid[new]": so no local here may be named like a caller's).
stop_process() {
    local variable=$1 process=${!1:-} signal=${2:-TERM}
    [[ -n $process ]] || return 0
    kill "-$signal" "$process" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$process" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$process" 2>/dev/null || true
    wait "$process" 2>/dev/null || true
    printf -v "$variable" '%s' ""
}

# cleanup_pids: SIGTERM to every process in `pids`, waits for each, then removes workdir.
cleanup_pids() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$workdir"
}

labelled_containers() {
    local label
    for label in "${container_labels[@]}"; do docker ps -aq --filter "label=$label"; done | sort -u
}

remove_containers() {
    local ids
    ids=$(labelled_containers)
    [[ -z $ids ]] || docker rm -f $ids >/dev/null 2>&1 || true
}

# wait_ready PID OUT ERRORS NAME: waits (30 s at most) for the ready line of the berth server PID
# in OUT and sets `address` to the host:port it names; if the server exits first or is not ready
# in time, shows the tail of ERRORS and dies. Port 0 lets the kernel pick a free port with no
# race; the ready line names it.
wait_ready() {
    local pid=$1 out=$2 errors=$3 name=$4
    address=""
    for _ in $(seq 300); do
        address=$(sed -n 's|^berth ready: http://||p' "$out")
        [[ -n $address ]] && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -50 "$errors" >&2
            die "$name exited before it was ready"
        fi
        sleep 0.1
    done
    tail -50 "$errors" >&2
    die "$name was not ready within 30 s"
}

# start_server [ARGS...]: `$berth server ARGS` on a loopback port the kernel picks, its data in
# $workdir/server; sets server_pid and, once it is ready, url. Then points every AWS client
# started from here on (the agent, the drivers) at the account's root credentials, which the
# server wrote to its data directory, found as aws-cli finds them: the caller's own must not take
# precedence.
# The server and the agent run in sessions of their own (setsid), so that a Ctrl-C in the terminal
# reaches only the script and its driver: the driver then cleans up through the API while both are
# still up, and the trap stops them afterwards, agent first. (setsid execs in place here, as a
# background job is no process group leader, so $! is berth's own pid.)
start_server() {
    # Made before the job starts, so that the first read cannot find it missing.
    : >"$workdir/server.out"
    setsid "$berth" server --listen 127.0.0.1:0 --data-dir "$workdir/server" "$@" \
        >"$workdir/server.out" 2>"$workdir/server.log" &
    server_pid=$!
    wait_ready "$server_pid" "$workdir/server.out" "$workdir/server.log" "berth server"
    url="http://$address"
    log "berth server ready at $url"
    [[ -s $workdir/server/credentials ]] || die "berth server wrote no $workdir/server/credentials"
    unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE
    export AWS_SHARED_CREDENTIALS_FILE=$workdir/server/credentials AWS_CONFIG_FILE=/dev/null \
        AWS_DEFAULT_REGION=us-east-1
}

# create_cluster: CreateCluster $cluster, signed as every request must be (an unsigned one is
# refused).
create_cluster() {
    python3 - "$url" "$cluster" <<'PY' || die "CreateCluster $cluster failed"
import sys
import boto3
boto3.client("ecs", endpoint_url=sys.argv[1], region_name="us-east-1").create_cluster(clusterName=sys.argv[2])
PY
}

# start_agent [ARGS...]: `$berth agent ARGS` for $cluster, its data in $workdir/agent, in a session
# of its own (see start_server); sets agent_pid.
start_agent() {
    setsid "$berth" agent --server "$url" --cluster "$cluster" --data-dir "$workdir/agent" "$@" \
        >"$workdir/agent.out" 2>"$workdir/agent.log" &
    agent_pid=$!
}

# start_simulated_agent COUNT SECONDS [ARGS...]: `berth agent --simulate COUNT` (ARGS added), the
# instances over three zones with 4 vCPU and 16 GiB each, and waits until all COUNT are registered
# in $cluster; dies if the agent exits or SECONDS pass first.
start_simulated_agent() {
    local want=$1 deadline=$((SECONDS + $2)) registered
    start_agent --simulate "$want" --az us-east-1a,us-east-1b,us-east-1c --cpu 4096 --memory 16384 "${@:3}"
    while :; do
        registered=$(python3 - "$url" "$cluster" <<'PY'
import sys
import boto3
ecs = boto3.client("ecs", endpoint_url=sys.argv[1], region_name="us-east-1")
pages = ecs.get_paginator("list_container_instances").paginate(cluster=sys.argv[2])
print(sum(len(p["containerInstanceArns"]) for p in pages))
PY
)
        (( registered >= want )) && break
        kill -0 "$agent_pid" 2>/dev/null || { tail -20 "$workdir/agent.log" >&2; die "berth agent exited"; }
        (( SECONDS < deadline )) || die "only $registered of $want simulated instances registered"
        sleep 0.5
    done
    log "$want simulated instances registered"
}

# run_driver COMMAND...: runs the bench's driver, its stdout (the figure last) to
# $workdir/figure.txt. In the background, so that a TERM to the script is handled at once (bash
# runs traps only between foreground commands) and the trap can stop it (driver_pid). An
# interrupted driver ends the script with 130; a failed one shows the agent's and the server's
# state and log tails, and the script dies.
run_driver() {
    local status=0 name pid
    "$@" >"$workdir/figure.txt" &
    driver_pid=$!
    wait "$driver_pid" || status=$?
    driver_pid=""
    if (( status == 130 )); then
        log "bench/${0##*/}: interrupted"
        exit 130
    elif (( status != 0 )); then
        for name in agent server; do
            pid=${name}_pid
            kill -0 "${!pid:-}" 2>/dev/null || log "the $name has exited"
            log "$name log tail:"; tail -20 "$workdir/$name.log" >&2 || true
        done
        die "the driver failed (exit $status)"
    fi
}

# stop_berth: the agent first, so that it starts nothing more, then whatever containers are left,
# then the server.
stop_berth() {
    stop_process agent_pid
    remove_containers
    stop_process server_pid
}

# cleanup_berth: the driver first (its own cleanup goes through the API while Berth is still up),
# then stop_berth, then workdir.
cleanup_berth() {
    stop_process driver_pid
    stop_berth
    rm -rf "$workdir"
}
