#!/usr/bin/env bash
# Service benchmark: how fast a release build of Berth (`berth server` + one `berth agent` on the
# local Docker Engine) brings up a 20-replica service and rolls it to a new revision, measured
# beside Docker Swarm mode doing the same on the same Engine. The driver is bench/service.py
# (boto3 for Berth, the docker CLI and the Engine API's socket for swarm).
#
#   bash bench/service.sh                                   # full run: 20 replicas, 3 runs
#   BENCH_REPLICAS=5 BENCH_RUNS=1 bash bench/service.sh     # smoke run
#
# Knobs: BENCH_REPLICAS (20), BENCH_RUNS (3, runs per side and variant; sides alternate which goes
# first, medians are printed), BENCH_POLL (0.2, seconds between polls), BENCH_TIMEOUT (300,
# seconds, the bound on every wait).
#
# Two variants: (1) both sides with the same 5-second health check (the shortest interval ECS
# accepts: a 1-second interval is refused by RegisterTaskDefinition, on ECS and on Berth), and
# (2) both sides with no health check, so that each system's own overhead shows instead of both
# waiting on the first check; there the rolling update is compared when all new tasks run, since
# ECS (and so Berth) keeps the old tasks until a new one without a health check has been RUNNING
# for 40 s, and swarm does not (the time until the old tasks are gone is printed too). No run is timed while the engine still removes the other side's
# containers: the driver waits until they are gone.
#
# (a) CreateService, N replicas of berth-demo:latest with the container health check of
#     tests/e2e (every 5 s, timeout 2 s, 2 retries), dynamic host port for 8080, memory 32, until
#     steady; against `docker service create --replicas N` of the same image with the same health
#     check until all N tasks are running.
# (b) A rolling update of those N to a new revision (maximumPercent 200, minimumHealthyPercent 100)
#     until steady; against `docker service update --image <new tag> --update-parallelism N
#     --update-order start-first` until converged.
# What "steady" and "running" mean on each side, so that both wait for the same thing:
#   - swarm: a task of a service with a health check stays "starting" until its first check
#     passes, and only then is "running". So swarm's "all N running" = all N running and healthy.
#   - Berth: `aws ecs wait services-stable` (exactly one deployment, runningCount == desiredCount,
#     polled through DescribeServices every BENCH_POLL s rather than the waiter's 15 s) AND every
#     task of the service RUNNING, HEALTHY and of the wanted revision, and no older task not yet
#     STOPPED. The waiter's condition alone does not wait for health (runningCount counts RUNNING
#     tasks); the driver prints that time too.
#   - rolling update, swarm: N tasks of the new image running (healthy) and no task of the old
#     image live any more. Swarm's UpdateStatus "completed" comes one --update-monitor (5 s) later;
#     printed, not used in the ratio. start-first is swarm's equivalent of 200% / 100%.
# Details in bench/service.py's docstring.
#
# Swarm's health check comes from the image: `docker service create --health-cmd` only makes
# shell-form checks (CMD-SHELL, run by /bin/sh), and berth-demo is a single static binary with no
# shell. So the script builds berth-demo:bench-swarm = berth-demo:latest plus an exec-form
# HEALTHCHECK with Berth's parameters (legacy builder: nothing to pull, no network needed), and
# tags it berth-demo:bench-swarm2 as the "new image" for the update. `--no-resolve-image` keeps
# swarm from asking a registry for a digest: there is no registry, the images are local.
#
# Swarm mode: enabled for the run (`docker swarm init --advertise-addr 127.0.0.1`) if it is not
# active, and left again (`docker swarm leave --force`) only if this script enabled it. If it is
# already active, this node must be a manager.
#
# The last line of output is the figure:
#   service_steady_s: X (swarm: Y s, ratio X/Y; no health check: X2 vs swarm Y2 s, ratio …); rolling_update_s: A (swarm: B s, ratio A/B; no health check: …); medians of N runs per side, …
# Everything started is removed on exit, failure and Ctrl-C: the driver deletes its service and
# swarm service, then the trap removes the swarm service if still there, stops the agent, removes
# the containers Berth ran for the cluster (label com.amazonaws.ecs.cluster=bench-service), stops
# the server, leaves swarm mode if it enabled it, and removes the two image tags it made.
set -euo pipefail

replicas=${BENCH_REPLICAS:-20}
runs=${BENCH_RUNS:-3}
poll=${BENCH_POLL:-0.2}
timeout=${BENCH_TIMEOUT:-300}
cluster=bench-service
swarm_service=berth-bench-service
swarm_image=berth-demo:bench-swarm
swarm_image_2=berth-demo:bench-swarm2

cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh

prepare_docker_bench
swarm_enabled=""      # set once this script has run `docker swarm init`
gwbridge_existed=""   # docker_gwbridge (made by swarm init, kept by leave) was there before
tags_made=""
# The containers Berth runs for the cluster; the swarm service's are swarm_containers.
container_labels=("com.amazonaws.ecs.cluster=$cluster")

swarm_state() { docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo unknown; }

swarm_containers() { docker ps -aq --filter "label=com.docker.swarm.service.name=$swarm_service"; }

# Removes the swarm service (if swarm mode is active and it exists) and waits, bounded, for its
# containers to go; whatever is left after 60 s is removed by force.
remove_swarm_service() {
    local ids
    if [[ $(swarm_state) == active ]] && docker service inspect "$swarm_service" >/dev/null 2>&1; then
        docker service rm "$swarm_service" >/dev/null 2>&1 || true
        for _ in $(seq 120); do
            [[ -z $(swarm_containers) ]] && break
            sleep 0.5
        done
    fi
    ids=$(swarm_containers)
    [[ -z $ids ]] || docker rm -f $ids >/dev/null 2>&1 || true
}

leave_swarm() {
    [[ -n $swarm_enabled ]] || return 0
    docker swarm leave --force >/dev/null 2>&1 || log "bench/service.sh: docker swarm leave --force failed"
    swarm_enabled=""
    # swarm init made docker_gwbridge and leaving keeps it; remove it unless it was there before.
    if [[ -z $gwbridge_existed ]]; then
        docker network rm docker_gwbridge >/dev/null 2>&1 || true
    fi
}

remove_tags() {
    [[ -n $tags_made ]] || return 0
    docker rmi "$swarm_image_2" "$swarm_image" >/dev/null 2>&1 || true
    tags_made=""
}

cleanup() {
    # The driver first (its finally block deletes the service and the swarm service), then the
    # swarm service if still there, then the agent, so it cannot start anything more, then
    # whatever containers are left, then the server; swarm mode last.
    stop_process driver_pid
    remove_swarm_service
    stop_berth
    leave_swarm
    remove_tags
    rm -rf "$workdir"
}
on_exit cleanup

# Swarm mode, before anything is timed.
case $(swarm_state) in
    inactive)
        docker network inspect docker_gwbridge >/dev/null 2>&1 && gwbridge_existed=1
        # Set before init, so that a half-done init is still left by the trap.
        swarm_enabled=1
        docker swarm init --advertise-addr 127.0.0.1 >/dev/null || die "docker swarm init failed"
        log "swarm mode enabled for the run (left again at exit)"
        ;;
    active)
        [[ $(docker info --format '{{.Swarm.ControlAvailable}}') == true ]] \
            || die "swarm mode is active but this node is not a manager: cannot create services"
        log "swarm mode already active (left active at exit)"
        ;;
    *) die "swarm mode is in state '$(swarm_state)'; needs inactive or active" ;;
esac

# A previous run killed hard (SIGKILL) may have left these behind; they would skew the run.
remove_swarm_service
remove_containers

# The swarm images: berth-demo:latest with an exec-form HEALTHCHECK (see the header).
tags_made=1
dockerfile="FROM berth-demo:latest
HEALTHCHECK --interval=5s --timeout=2s --retries=2 CMD [\"/berth-demo\", \"check\", \"http://127.0.0.1:8080/health\"]
"
if ! DOCKER_BUILDKIT=0 docker build -q -t "$swarm_image" - <<<"$dockerfile" >"$workdir/build.log" 2>&1; then
    # An Engine without the legacy builder: BuildKit, which also uses the local base image.
    docker build -q -t "$swarm_image" - <<<"$dockerfile" >>"$workdir/build.log" 2>&1 \
        || { cat "$workdir/build.log" >&2; die "cannot build $swarm_image"; }
fi
docker tag "$swarm_image" "$swarm_image_2"
[[ $(docker image inspect "$swarm_image" --format '{{json .Config.Healthcheck.Test}}') == *'"CMD","/berth-demo"'* ]] \
    || die "$swarm_image has no exec-form health check"

start_server
create_cluster
start_agent --task-cleanup-wait 0
log "berth agent started (pid $agent_pid); the driver waits for it to register"

run_driver python3 bench/service.py --url "$url" --cluster "$cluster" --replicas "$replicas" --runs "$runs" \
    --poll "$poll" --timeout "$timeout" --swarm-service "$swarm_service" --swarm-image "$swarm_image" \
    --swarm-image-2 "$swarm_image_2"

# Clean up now, rather than only in the trap, to check that nothing was left behind and so that
# the figure is the last line.
remove_swarm_service
stop_berth
left=$(labelled_containers; swarm_containers)
[[ -z $left ]] || die "containers left behind after cleanup: $left"
if [[ -n $swarm_enabled ]]; then
    leave_swarm
    [[ $(swarm_state) == inactive ]] || die "swarm mode is '$(swarm_state)' after docker swarm leave --force"
elif docker service inspect "$swarm_service" >/dev/null 2>&1; then
    die "swarm service $swarm_service still exists"
fi
remove_tags

log ""
tail -n 1 "$workdir/figure.txt"
