"""Driver for bench/service.sh: a 20-replica service brought up and then rolled to a new revision,
on Berth (`berth server` + one `berth agent` on the local Docker Engine) and on Docker Swarm mode
on the same Engine. Run it through the shell script, which builds Berth, starts the server and the
agent, enables swarm mode, builds the swarm images and cleans up behind all of it.

    python3 bench/service.py --url http://127.0.0.1:PORT --cluster bench-service \
        --swarm-image berth-demo:bench-swarm --swarm-image-2 berth-demo:bench-swarm2

Two variants, --runs runs per side each (default 3), the side that goes first alternating from
run to run; medians printed, every run listed. Before every run of either side, the driver waits
until no container of the other side's previous run exists (Berth's agent runs with
--task-cleanup-wait 0 and removes containers at once; swarm removes a service's containers
asynchronously): no run is timed while the engine is busy removing the other's.
  - health-checked: both sides run the same container health check (every 5 s, timeout 2 s, 2
    retries, no start period), so both wait for the first check, about 5 s after each container
    starts. 5 s is the shortest interval ECS accepts (RegisterTaskDefinition refuses 'interval'
    below 5 with a ClientException, and Berth follows ECS), so a 1-second variant cannot be
    expressed through the ECS API;
  - no health check: the same on both sides with no check at all (swarm: --no-healthcheck), so
    that each system's own overhead shows instead of the wait for the first check. For the
    rolling update, the ratio here is taken at the moment all new tasks run: ECS counts a task
    with neither a health check nor a load balancer as healthy only 40 s after it is RUNNING
    (so minimumHealthyPercent 100 keeps the old tasks that long), and Berth keeps that rule,
    while swarm stops an old task as soon as its replacement runs. The time until the old
    tasks are gone is printed beside it.

What is timed, each from just before the request (the API call, or the `docker service` command)
to the first poll (every --poll seconds) that sees the condition:

  Berth, create: CreateService of --replicas tasks (dynamic host port) until `aws ecs wait
    services-stable` holds (exactly one deployment, runningCount == desiredCount) AND, when
    health-checked, every one of the service's RUNNING tasks is HEALTHY. The health part is
    there because swarm's figure includes it: a swarm task whose container has a health check
    stays in state "starting" until the check passes, and only then turns "running". The
    waiter-only time is printed too.
  Berth, rolling update: UpdateService to a new revision of the family (only an environment
    variable differs), maximumPercent 200 / minimumHealthyPercent 100, until exactly one
    deployment is left, it is the new revision's, runningCount == desiredCount, and the only
    tasks not STOPPED are --replicas RUNNING (HEALTHY, when checked) tasks of the new revision.
  Swarm, create: `docker service create --replicas N` of the same image with the same health
    check (or --no-healthcheck), until N tasks have desired state running and are in state
    "running" (healthy, when checked).
  Swarm, rolling update: `docker service update --image <new tag> --update-parallelism N
    --update-order start-first` (start-first is what maximumPercent 200 / minimumHealthyPercent
    100 means: new tasks first, old ones stop as new ones are up) until N tasks of the new image
    are "running" and no task of the old image is still live: the same end state as Berth's.
    Swarm's own UpdateStatus "completed" comes one --update-monitor period (5 s by default) after
    the last task is updated; that time is printed as well, not used in the ratio.

Prints a human summary to stderr and the figure line last on stdout. Everything started is removed
in a finally block, also on Ctrl-C and SIGTERM; the shell script's trap removes what is left.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

import benchlib
from benchlib import BenchError, log

FAMILY = "bench-service"
SERVICE = "bench"
IMAGE = "berth-demo:latest"
HEALTH_CHECK = {"command": ["CMD", "/berth-demo", "check", "http://127.0.0.1:8080/health"],
                "interval": 5, "timeout": 2, "retries": 2, "startPeriod": 0}
DEPLOYMENT_CONFIGURATION = {"maximumPercent": 200, "minimumHealthyPercent": 100}
# Swarm task states in which the task's container may still exist and run.
SWARM_LIVE = {"new", "allocated", "pending", "assigned", "accepted", "preparing", "ready",
              "starting", "running"}


def docker(*args, timeout=120):
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise BenchError(f"docker {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


class Engine(benchlib.Engine):
    """The swarm side's polls, read-only over the Engine API (the CLI would cost a process start
    per poll; the changes themselves go through the docker CLI)."""

    def tasks(self, service):
        return self.call("GET", "/tasks", query={"filters": json.dumps({"service": [service]})})

    def service(self, service):
        return self.call("GET", f"/services/{service}")


def swarm_counts(tasks):
    """{(image, desired state, state): count}, for progress lines."""
    counts = {}
    for task in tasks:
        key = (task["Spec"]["ContainerSpec"]["Image"], task.get("DesiredState"), task["Status"]["State"])
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{n} {image} {desired}/{state}" for (image, desired, state), n in sorted(counts.items()))


class Bench:
    def __init__(self, args):
        self.args = args
        self.ecs = benchlib.client("ecs", args.url, **benchlib.NO_RETRIES)
        self.cluster = args.cluster
        self.service_created = False
        self.service = SERVICE
        self.swarm_created = False
        self.engine = Engine(timeout=30)

    def wait_engine_idle(self, timeout=120):
        """Waits until no container of either side exists any more (bounded)."""
        deadline = time.monotonic() + timeout
        labels = [f"com.amazonaws.ecs.cluster={self.cluster}",
                  f"com.docker.swarm.service.name={self.args.swarm_service}"]
        while True:
            left = [c for label in labels for c in self.engine.containers(label)]
            if not left:
                return
            if time.monotonic() > deadline:
                raise BenchError(f"{len(left)} containers still exist {timeout} s after their service was removed")
            time.sleep(0.1)

    # ----- Berth -----

    def register(self, revision_tag, health):
        container = {"name": "web", "image": IMAGE, "memory": 32,
                     "portMappings": [{"containerPort": 8080}],
                     "environment": [{"name": "BENCH_REVISION", "value": revision_tag}]}
        if health:
            container["healthCheck"] = HEALTH_CHECK
        return self.ecs.register_task_definition(
            family=FAMILY, containerDefinitions=[container])["taskDefinition"]["taskDefinitionArn"]

    def describe_service(self):
        response = self.ecs.describe_services(cluster=self.cluster, services=[self.service])
        if response.get("failures") or not response.get("services"):
            raise BenchError(f"DescribeServices: {response.get('failures')}")
        return response["services"][0]

    def service_tasks(self, desired_status):
        arns = benchlib.list_tasks(self.ecs, self.cluster, serviceName=self.service, desiredStatus=desired_status)
        return benchlib.describe_tasks(self.ecs, self.cluster, arns)

    def berth_wait(self, what, t0, definition, health):
        """Polls until the service is steady on `definition` (see the module docstring). Returns
        (seconds to steady, seconds to the waiter's condition, seconds to rolloutState COMPLETED
        or None if not seen by then, seconds until `--replicas` tasks of `definition` were
        RUNNING (and HEALTHY when checked) whatever else was still live)."""
        n = self.args.replicas
        deadline = t0 + self.args.timeout
        waiter_at = completed_at = fresh_at = None
        last_report = t0
        service = None
        while True:
            service = self.describe_service()
            now = time.perf_counter()
            deployments = service["deployments"]
            if fresh_at is None:
                fresh = [t for t in self.service_tasks("RUNNING")
                         if t["lastStatus"] == "RUNNING" and t["taskDefinitionArn"] == definition
                         and (not health or t.get("healthStatus") == "HEALTHY")]
                if len(fresh) >= n:
                    fresh_at = time.perf_counter() - t0
            waiter = len(deployments) == 1 and service["runningCount"] == service["desiredCount"] == n
            if waiter and waiter_at is None:
                waiter_at = now - t0
            if (completed_at is None and deployments and deployments[0].get("rolloutState") == "COMPLETED"
                    and deployments[0]["taskDefinition"] == definition):
                completed_at = now - t0
            steady = False
            if waiter and deployments[0]["taskDefinition"] == definition:
                running = self.service_tasks("RUNNING")
                # Tasks told to stop keep running until they have stopped: they count too.
                stopping = [t for t in self.service_tasks("STOPPED") if t["lastStatus"] != "STOPPED"]
                live = running + stopping
                now = time.perf_counter()
                steady = (len(live) == n
                          and all(t["lastStatus"] == "RUNNING" and t["taskDefinitionArn"] == definition
                                  and (not health or t.get("healthStatus") == "HEALTHY")
                                  for t in live))
            if steady:
                return now - t0, waiter_at, completed_at, fresh_at
            if now > deadline:
                events = [e["message"] for e in service.get("events", [])[:15]]
                raise BenchError(
                    f"Berth {what}: not steady within {self.args.timeout:.0f} s: "
                    f"{len(deployments)} deployments "
                    f"{[(d['status'], d['taskDefinition'].rsplit('/', 1)[-1], d.get('rolloutState'), d['runningCount'], d['pendingCount']) for d in deployments]}, "
                    f"runningCount {service['runningCount']}/{service['desiredCount']}; latest events: {events}")
            if now - last_report > 5:
                log(f"  berth {what}: {now - t0:5.1f} s: "
                    + "; ".join(f"{d['status']} {d['taskDefinition'].rsplit('/', 1)[-1]} "
                                f"{d.get('rolloutState')} running {d['runningCount']} pending {d['pendingCount']}"
                                for d in deployments))
                last_report = now
            time.sleep(self.args.poll)

    def berth(self, health, run):
        n = self.args.replicas
        self.service = f"{SERVICE}-{'health' if health else 'plain'}-{run}"
        checked = "health-checked" if health else "no health check"
        first = self.register("1", health)
        log(f"\n== Berth: CreateService {self.service}, {n} x {first.rsplit('/', 1)[-1]} ({IMAGE}, {checked})")
        t0 = time.perf_counter()
        self.ecs.create_service(cluster=self.cluster, serviceName=self.service, taskDefinition=first,
                                desiredCount=n, deploymentConfiguration=DEPLOYMENT_CONFIGURATION)
        self.service_created = True
        create = self.berth_wait("create", t0, first, health)
        log(f"  berth create: steady{' and all HEALTHY' if health else ''} after {create[0]:.2f} s "
            f"(services-stable condition alone after {create[1]:.2f} s"
            + (f", rolloutState COMPLETED seen after {create[2]:.2f} s)" if create[2] is not None else ")"))

        second = self.register("2", health)
        log(f"\n== Berth: UpdateService {self.service} to {second.rsplit('/', 1)[-1]} "
            f"(maximumPercent 200, minimumHealthyPercent 100)")
        t0 = time.perf_counter()
        self.ecs.update_service(cluster=self.cluster, service=self.service, taskDefinition=second,
                                deploymentConfiguration=DEPLOYMENT_CONFIGURATION)
        update = self.berth_wait("update", t0, second, health)
        log(f"  berth update: {n} new tasks RUNNING{' and HEALTHY' if health else ''} after {update[3]:.2f} s; "
            f"steady on the new revision, old tasks STOPPED after "
            f"{update[0]:.2f} s (services-stable condition alone after {update[1]:.2f} s"
            + (f", rolloutState COMPLETED seen after {update[2]:.2f} s)" if update[2] is not None else ")"))
        messages = [e["message"] for e in self.describe_service().get("events", [])]
        log(f"  berth service events (newest first): {messages[:6]}")
        self.delete_berth_service()
        return create, update

    def delete_berth_service(self, timeout=120):
        if not self.service_created:
            return
        self.ecs.delete_service(cluster=self.cluster, service=self.service, force=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            service = self.describe_service()
            live = [t for t in self.service_tasks("RUNNING") + self.service_tasks("STOPPED")
                    if t["lastStatus"] != "STOPPED"]
            if service["status"] == "INACTIVE" and not live:
                self.service_created = False
                # The agent removes stopped containers at once (--task-cleanup-wait 0): wait for
                # that too, so that the next run is not timed while the engine is busy removing.
                self.wait_engine_idle()
                return
            time.sleep(0.5)
        raise BenchError(f"Berth: service {self.service} not INACTIVE with all tasks STOPPED within {timeout} s")

    # ----- Swarm -----

    def swarm_wait(self, what, t0, condition, describe, milestone=lambda tasks: True):
        """Polls until `condition` holds; returns (seconds to it, seconds to the first poll where
        `milestone` held)."""
        deadline = t0 + self.args.timeout
        last_report = t0
        milestone_at = None
        while True:
            tasks = self.engine.tasks(self.args.swarm_service)
            now = time.perf_counter()
            if milestone_at is None and milestone(tasks):
                milestone_at = now - t0
            if condition(tasks):
                return now - t0, milestone_at
            if now > deadline:
                raise BenchError(f"swarm {what}: not converged within {self.args.timeout:.0f} s: "
                                 f"{swarm_counts(tasks)}; {describe()}")
            if now - last_report > 5:
                log(f"  swarm {what}: {now - t0:5.1f} s: {swarm_counts(tasks)}")
                last_report = now
            time.sleep(self.args.poll)

    def swarm(self, health):
        n = self.args.replicas
        name, old, new = self.args.swarm_service, self.args.swarm_image, self.args.swarm_image_2

        def image(task):
            return task["Spec"]["ContainerSpec"]["Image"]

        def update_state():
            return (self.engine.service(name).get("UpdateStatus") or {}).get("State")

        def created(tasks):
            up = [t for t in tasks if t.get("DesiredState") == "running"]
            return len(up) == n and all(t["Status"]["State"] == "running" for t in up)

        def fresh_running(tasks):
            fresh = [t for t in tasks if image(t) == new and t.get("DesiredState") == "running"
                     and t["Status"]["State"] == "running"]
            return len(fresh) == n

        def updated(tasks):
            stale = [t for t in tasks if image(t) != new and t["Status"]["State"] in SWARM_LIVE]
            return fresh_running(tasks) and not stale

        log(f"\n== Swarm: docker service create --replicas {n} {old} "
            f"({'health check from the image' if health else '--no-healthcheck'})")
        # The image's check, with its parameters restated (the same as Berth's); or none at all.
        health_flags = (["--health-interval", f"{HEALTH_CHECK['interval']}s",
                         "--health-timeout", f"{HEALTH_CHECK['timeout']}s",
                         "--health-retries", str(HEALTH_CHECK["retries"])]
                        if health else ["--no-healthcheck"])
        t0 = time.perf_counter()
        # --no-resolve-image: no registry to ask for a digest; the image is local.
        # --publish mode=host with no published port: a dynamic host port per task, as Berth's
        # portMappings without hostPort. --limit-memory 32M: Berth's "memory": 32.
        docker("service", "create", "--detach", "--quiet", "--name", name, "--replicas", str(n),
               "--no-resolve-image", "--limit-memory", "32M",
               "--publish", "mode=host,target=8080,protocol=tcp",
               "--update-parallelism", str(n), "--update-order", "start-first", "--update-delay", "0s",
               *health_flags, old)
        self.swarm_created = True
        create, _ = self.swarm_wait("create", t0, created, lambda: f"UpdateStatus {update_state()}")
        log(f"  swarm create: {n}/{n} tasks running{' (healthy)' if health else ''} after {create:.2f} s")

        log(f"\n== Swarm: docker service update --image {new} --update-parallelism {n} --update-order start-first")
        t0 = time.perf_counter()
        docker("service", "update", "--detach", "--quiet", "--image", new, "--no-resolve-image",
               "--update-parallelism", str(n), "--update-order", "start-first", name)
        update, fresh = self.swarm_wait("update", t0, updated, lambda: f"UpdateStatus {update_state()}",
                                        fresh_running)
        deadline = t0 + self.args.timeout
        while (state := update_state()) != "completed":
            if state in ("paused", "rollback_started", "rollback_paused", "rollback_completed"):
                raise BenchError(f"swarm update: UpdateStatus {state}: "
                                 f"{self.engine.service(name).get('UpdateStatus')}")
            if time.perf_counter() > deadline:
                raise BenchError(f"swarm update: UpdateStatus {state}, not completed within {self.args.timeout:.0f} s")
            time.sleep(self.args.poll)
        completed = time.perf_counter() - t0
        log(f"  swarm update: {n} new tasks running{' (healthy)' if health else ''} after {fresh:.2f} s, "
            f"old ones shut down after {update:.2f} s "
            f"(UpdateStatus completed after {completed:.2f} s, one --update-monitor period later)")
        self.remove_swarm_service()
        return create, update, completed, fresh

    def remove_swarm_service(self, timeout=120):
        if not self.swarm_created:
            return
        subprocess.run(["docker", "service", "rm", self.args.swarm_service], capture_output=True, timeout=60)
        # The service's containers go asynchronously; wait so they neither skew nor outlive us.
        deadline = time.monotonic() + timeout
        label = f"label=com.docker.swarm.service.name={self.args.swarm_service}"
        while time.monotonic() < deadline:
            if not docker("ps", "-aq", "--filter", label):
                self.swarm_created = False
                return
            time.sleep(0.5)
        raise BenchError(f"swarm service {self.args.swarm_service}: containers still present {timeout} s after docker service rm")

    # ----- cleanup -----

    def cleanup(self):
        for step in (self.delete_berth_service, self.remove_swarm_service):
            try:
                step()
            except Exception as e:  # noqa: BLE001 - the shell trap removes what is left
                log(f"cleanup: {step.__name__}: {e}")


def measure(bench):
    """Both variants, every run of both sides; prints the figure."""
    args = bench.args
    instance = benchlib.wait_for_instance(bench.ecs, bench.cluster)
    log(f"container instance {instance['containerInstanceArn']} registered")
    n, runs = args.replicas, args.runs
    # results[variant][side] = [(create, update, new tasks running), ...]; variant True =
    # health-checked.
    results = {True: {"berth": [], "swarm": []}, False: {"berth": [], "swarm": []}}
    extra = {"berth_waiter": [], "swarm_completed": []}
    for health in (True, False):
        for run in range(runs):
            # Alternate which side goes first, and start the second variant the other way round.
            berth_first = (run % 2 == 0) == health
            for side in (("berth", "swarm") if berth_first else ("swarm", "berth")):
                log(f"\n#### {'5 s health check' if health else 'no health check'}, run {run + 1}/{runs}, {side}")
                bench.wait_engine_idle()
                if side == "berth":
                    (create, waiter, _, _), (update, _, _, fresh) = bench.berth(health, run)
                    results[health]["berth"].append((create, update, fresh))
                    if health:
                        extra["berth_waiter"].append(waiter)
                else:
                    create, update, completed, fresh = bench.swarm(health)
                    results[health]["swarm"].append((create, update, fresh))
                    if health:
                        extra["swarm_completed"].append(completed)

    def med(health, side, index):
        return statistics.median([r[index] for r in results[health][side]])

    log("\n== summary (medians; every run in brackets, seconds)")
    for health in (True, False):
        label = "health check every 5 s (ECS's minimum interval)" if health else "no health check"
        for index, what in ((0, f"create {n} replicas until all running{' and healthy' if health else ''}"),
                            (1, f"rolling update of {n} (start-first / 200%-100%), until only new tasks are left"),
                            (2, f"rolling update of {n}, until the {n} new tasks are running"
                                f"{' and healthy' if health else ''}")):
            log(f"{label}: {what}:")
            for side in ("berth", "swarm"):
                runs_list = [round(r[index], 2) for r in results[health][side]]
                log(f"  {side:6s}: {med(health, side, index):6.2f} s   {runs_list}")
    log(f"Berth services-stable condition alone (health-checked create, median): "
        f"{statistics.median(extra['berth_waiter']):.2f} s; swarm UpdateStatus completed (median): "
        f"{statistics.median(extra['swarm_completed']):.2f} s")

    bc, sc, bu, su = med(True, "berth", 0), med(True, "swarm", 0), med(True, "berth", 1), med(True, "swarm", 1)
    pbc, psc, pbf, psf, pbu, psu = (med(False, "berth", 0), med(False, "swarm", 0),
                                    med(False, "berth", 2), med(False, "swarm", 2),
                                    med(False, "berth", 1), med(False, "swarm", 1))
    print(f"service_steady_s: {bc:.1f} (swarm: {sc:.1f} s, ratio {bc / sc:.2f}; "
          f"no health check: {pbc:.1f} vs swarm {psc:.1f} s, ratio {pbc / psc:.2f}); "
          f"rolling_update_s: {bu:.1f} (swarm: {su:.1f} s, ratio {bu / su:.2f}; "
          f"no health check: new tasks running after {pbf:.1f} vs swarm {psf:.1f} s, ratio {pbf / psf:.2f}, "
          f"old ones gone after {pbu:.1f} vs {psu:.1f} s as ECS counts a task with no health check "
          f"healthy only 40 s after RUNNING); "
          f"medians of {runs} runs per side, sides alternated, {n} replicas, "
          f"real containers on the local Docker Engine, nothing simulated",
          flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--cluster", default="bench-service")
    parser.add_argument("--replicas", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3, help="runs per side and variant")
    parser.add_argument("--poll", type=float, default=0.2, help="seconds between polls")
    parser.add_argument("--timeout", type=float, default=300, help="bound on each wait, seconds")
    parser.add_argument("--swarm-service", default="berth-bench-service")
    parser.add_argument("--swarm-image", required=True)
    parser.add_argument("--swarm-image-2", required=True)
    args = parser.parse_args()
    if args.replicas < 1 or args.runs < 1:
        parser.error("--replicas and --runs must be at least 1")

    bench = Bench(args)
    return benchlib.run(lambda: measure(bench), bench.cleanup)


if __name__ == "__main__":
    sys.exit(main())
