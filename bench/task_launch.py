"""Driver for bench/task_launch.sh: task launch latency and burst throughput of Berth against
plain `docker run -d` on the same Docker Engine. Run it through the shell script, which builds
Berth, starts `berth server` and one `berth agent`, and cleans up behind both.

    python3 bench/task_launch.py --url http://127.0.0.1:PORT --cluster bench

Phase 1, sequential latency: N times (--tasks), interleaved Berth, docker, Berth, docker…
  - Berth: from just before RunTask until the first DescribeTasks (polled every --poll-ms) that
    shows lastStatus RUNNING. Then StopTask and wait for STOPPED (not timed).
  - docker: `docker run -d` until it returns (the container is running by then), then
    `docker rm -f` (not timed).
Phase 2, burst: --burst tasks from --clients concurrent clients, each a sequence of RunTask
  count=1 calls (so both sides make one launch request per container: like for like with one
  `docker run -d` per container), timed until a poller sees every task RUNNING; then the same
  number of `docker run -d` from the same number of threads, timed until all have returned.

Prints a human summary to stderr and the figure line last on stdout. Every container and task it
starts is stopped/removed in a finally block, also on Ctrl-C and SIGTERM; the shell script's trap
removes anything left over by label.
"""

import argparse
import concurrent.futures
import json
import math
import signal
import subprocess
import sys
import threading
import time

import boto3
from botocore.config import Config

DOCKER_LABEL = "berth-bench=1"
IMAGE = "berth-demo:latest"
FAMILY = "launch"
CONTAINER = {"name": "web", "image": IMAGE, "memory": 64, "portMappings": [{"containerPort": 8080}]}


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


def client(url):
    # Credentials as boto3 finds them: the shell script points AWS_SHARED_CREDENTIALS_FILE at the
    # server's root credentials. No retries, so a failure shows up as a failure instead of as a
    # slow launch.
    return boto3.client(
        "ecs", endpoint_url=url, region_name="us-east-1",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=10,
                      read_timeout=30, max_pool_connections=32),
    )


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def docker(*args, timeout=60):
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise BenchError(f"docker {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def docker_run():
    return docker("run", "-d", "--label", DOCKER_LABEL, "-p", "127.0.0.1::8080", IMAGE)


def remove_docker_containers(ids):
    ids = list(ids)
    for start in range(0, len(ids), 50):
        subprocess.run(["docker", "rm", "-f", *ids[start:start + 50]], capture_output=True, timeout=120)


def epoch(value):
    """boto3 parses ECS timestamps to datetimes; None stays None."""
    return value.timestamp() if value is not None else None


class Bench:
    def __init__(self, args):
        self.args = args
        self.ecs = client(args.url)
        self.cluster = args.cluster
        self.task_arns = set()        # every Berth task started, for the finally block
        self.docker_ids = set()       # every container `docker run` started
        self.lock = threading.Lock()
        self.task_definition = None

    # ----- setup -----

    def wait_for_instance(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            arns = self.ecs.list_container_instances(cluster=self.cluster)["containerInstanceArns"]
            if len(arns) == 1:
                described = self.ecs.describe_container_instances(
                    cluster=self.cluster, containerInstances=arns)["containerInstances"]
                if described and described[0].get("agentConnected"):
                    return described[0]
            elif len(arns) > 1:
                raise BenchError(f"expected one container instance in {self.cluster}, found {len(arns)}")
            time.sleep(0.2)
        raise BenchError("the agent did not register within 60 s")

    def register(self):
        definition = self.ecs.register_task_definition(
            family=FAMILY, containerDefinitions=[CONTAINER])["taskDefinition"]
        self.task_definition = definition["taskDefinitionArn"]

    # ----- Berth -----

    def run_task(self, ecs):
        response = ecs.run_task(cluster=self.cluster, taskDefinition=self.task_definition, count=1)
        if response.get("failures"):
            raise BenchError(f"RunTask failures: {response['failures']}")
        arns = [t["taskArn"] for t in response["tasks"]]
        with self.lock:
            self.task_arns.update(arns)
        if len(arns) != 1:
            raise BenchError(f"RunTask count=1 returned {len(arns)} tasks")
        return arns[0]

    def describe(self, arns, ecs=None):
        ecs = ecs or self.ecs
        tasks = []
        for start in range(0, len(arns), 100):
            response = ecs.describe_tasks(cluster=self.cluster, tasks=arns[start:start + 100])
            if response.get("failures"):
                raise BenchError(f"DescribeTasks failures: {response['failures'][:3]}")
            tasks.extend(response["tasks"])
        return tasks

    def launch_one(self):
        """One timed Berth launch. Returns (latency_s, runtask_s, the RUNNING task, t0 epoch)."""
        poll = self.args.poll_ms / 1000
        t0_wall = time.time()
        t0 = time.perf_counter()
        arn = self.run_task(self.ecs)
        run_returned = time.perf_counter()
        deadline = t0 + 30
        while True:
            task = self.describe([arn])[0]
            now = time.perf_counter()
            if task["lastStatus"] == "RUNNING":
                return now - t0, run_returned - t0, task, t0_wall
            if task["lastStatus"] in ("DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"):
                raise BenchError(f"task {arn} went {task['lastStatus']} before RUNNING: "
                                 f"{task.get('stoppedReason')} {task.get('containers')}")
            if now > deadline:
                raise BenchError(f"task {arn} not RUNNING within 30 s (lastStatus {task['lastStatus']})")
            time.sleep(poll)

    def stop_tasks(self, arns, timeout=60):
        """StopTask every task, then wait (bounded) until all are STOPPED. Returns those not STOPPED."""
        for arn in arns:
            try:
                self.ecs.stop_task(cluster=self.cluster, task=arn, reason="bench")
            except Exception as e:  # noqa: BLE001 - keep stopping the rest
                log(f"StopTask {arn}: {e}")
        pending = list(arns)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            try:
                pending = [t["taskArn"] for t in self.describe(pending) if t["lastStatus"] != "STOPPED"]
            except Exception as e:  # noqa: BLE001
                log(f"DescribeTasks while stopping: {e}")
            if pending:
                time.sleep(0.05)
        return pending

    # ----- phases -----

    def phase_latency(self):
        n = self.args.tasks
        log(f"\n== phase 1: sequential launch latency, {n} x (Berth RunTask → RUNNING, docker run -d), interleaved")
        berth, docker_times, breakdown = [], [], []
        for i in range(n):
            latency, runtask, task, t0 = self.launch_one()
            berth.append(latency)
            breakdown.append(self.timeline(task, t0, latency, runtask))
            left = self.stop_tasks([task["taskArn"]], timeout=30)
            if left:
                raise BenchError(f"task {left[0]} not STOPPED within 30 s of StopTask")

            start = time.perf_counter()
            cid = docker_run()
            docker_times.append(time.perf_counter() - start)
            self.docker_ids.add(cid)
            remove_docker_containers([cid])
            self.docker_ids.discard(cid)
            log(f"  {i + 1:3d}/{n}: berth {latency * 1000:7.1f} ms (RunTask returned after "
                f"{runtask * 1000:.1f} ms)   docker run {docker_times[-1] * 1000:7.1f} ms")
        return berth, docker_times, breakdown

    @staticmethod
    def timeline(task, t0, latency, runtask):
        """Where a launch's time went, from the task's own timestamps (ms precision, same host
        clock as ours): RunTask → createdAt, → pullStartedAt (the agent got it), → pullStoppedAt
        (image check), → startedAt (container created and started, as the agent reported it),
        → our first DescribeTasks that showed RUNNING."""
        created = epoch(task.get("createdAt"))
        pull_started = epoch(task.get("pullStartedAt"))
        pull_stopped = epoch(task.get("pullStoppedAt"))
        started = epoch(task.get("startedAt"))
        seen = t0 + latency
        if None in (created, pull_started, pull_stopped, started):
            return None
        return {
            "runtask_call": runtask,
            "to_created": created - t0,
            "created_to_pull_started": pull_started - created,
            "pull": pull_stopped - pull_started,
            "pull_stopped_to_started": started - pull_stopped,
            "started_to_seen_running": seen - started,
        }

    def phase_burst(self):
        total, clients = self.args.burst, self.args.clients
        per_client = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
        log(f"\n== phase 2: burst, {total} tasks from {clients} concurrent clients "
            f"(RunTask count=1 each) vs {total} docker run -d at concurrency {clients}")

        # Berth. Clients are created up front: building a boto3 client costs tens of ms.
        ecs_clients = [client(self.args.url) for _ in range(clients)]
        launched, errors = [], []
        barrier = threading.Barrier(clients + 1)

        def launcher(index):
            barrier.wait(timeout=30)
            try:
                for _ in range(per_client[index]):
                    arn = self.run_task(ecs_clients[index])
                    with self.lock:
                        launched.append(arn)
            except Exception as e:  # noqa: BLE001 - reported by the poller
                errors.append(e)

        threads = [threading.Thread(target=launcher, args=(i,), daemon=True) for i in range(clients)]
        for thread in threads:
            thread.start()
        barrier.wait(timeout=30)
        t0 = time.perf_counter()
        deadline = t0 + 300
        running = set()
        last_report = t0
        while True:
            if errors:
                raise BenchError(f"burst RunTask failed: {errors[0]}")
            with self.lock:
                pending = [arn for arn in launched if arn not in running]
            if pending:
                for task in self.describe(pending):
                    if task["lastStatus"] == "RUNNING":
                        running.add(task["taskArn"])
                    elif task["lastStatus"] == "STOPPED":
                        raise BenchError(f"burst task {task['taskArn']} STOPPED before RUNNING: "
                                         f"{task.get('stoppedReason')}")
            now = time.perf_counter()
            if len(running) == total:
                berth_elapsed = now - t0
                break
            if now > deadline:
                raise BenchError(f"burst: only {len(running)}/{total} tasks RUNNING after 300 s")
            if now - last_report > 5:
                log(f"  berth: {len(launched)} launched, {len(running)} RUNNING after {now - t0:.1f} s")
                last_report = now
            time.sleep(0.02)
        for thread in threads:
            thread.join(timeout=30)
        log(f"  berth: {total} tasks RUNNING after {berth_elapsed:.2f} s")

        # Where the burst's time went: when the last task was created vs when the last started.
        tasks = self.describe(sorted(running))
        created = [epoch(t["createdAt"]) for t in tasks]
        started = [epoch(t["startedAt"]) for t in tasks if t.get("startedAt")]
        if created and started:
            log(f"  berth: createdAt spread {max(created) - min(created):.2f} s, "
                f"startedAt spread {max(started) - min(started):.2f} s, first created → last started "
                f"{max(started) - min(created):.2f} s")

        log("  berth: stopping the burst's tasks")
        left = self.stop_tasks(sorted(running), timeout=120)
        if left:
            raise BenchError(f"{len(left)} burst tasks not STOPPED within 120 s of StopTask")

        # docker
        def one_docker(_):
            cid = docker_run()
            with self.lock:
                self.docker_ids.add(cid)
            return cid

        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(max_workers=clients) as pool:
            ids = list(pool.map(one_docker, range(total)))
        docker_elapsed = time.perf_counter() - start
        log(f"  docker: {total} containers running after {docker_elapsed:.2f} s")
        remove_docker_containers(ids)
        with self.lock:
            self.docker_ids.difference_update(ids)
        return total / berth_elapsed, total / docker_elapsed, berth_elapsed, docker_elapsed

    # ----- cleanup -----

    def cleanup(self):
        with self.lock:
            tasks = sorted(self.task_arns)
            ids = sorted(self.docker_ids)
        if ids:
            remove_docker_containers(ids)
        if tasks:
            # Only the ones not already STOPPED need a StopTask.
            try:
                live = [t["taskArn"] for t in self.describe(tasks) if t["lastStatus"] != "STOPPED"]
            except Exception as e:  # noqa: BLE001 - the server may be gone; the shell trap cleans up
                log(f"cleanup: DescribeTasks failed ({e}); leaving containers to the shell trap")
                return
            if live:
                log(f"cleanup: stopping {len(live)} tasks")
                left = self.stop_tasks(live, timeout=60)
                if left:
                    log(f"cleanup: {len(left)} tasks not STOPPED; the shell trap removes their containers")


def summarize(args, berth, docker_times, breakdown, burst):
    b50, b95 = percentile(berth, 50) * 1000, percentile(berth, 95) * 1000
    d50, d95 = percentile(docker_times, 50) * 1000, percentile(docker_times, 95) * 1000
    berth_rate, docker_rate, berth_elapsed, docker_elapsed = burst

    log("\n== summary")
    log(f"sequential launch, n={len(berth)} each (p50 / p95 / min / max, ms):")
    log(f"  Berth RunTask → RUNNING seen : {b50:7.1f} / {b95:7.1f} / {min(berth) * 1000:7.1f} / {max(berth) * 1000:7.1f}")
    log(f"  docker run -d                : {d50:7.1f} / {d95:7.1f} / {min(docker_times) * 1000:7.1f} / {max(docker_times) * 1000:7.1f}")
    rows = [b for b in breakdown if b]
    if rows:
        log(f"  Berth launch breakdown, median over {len(rows)} launches (from task timestamps, ms):")
        labels = {
            "runtask_call": "RunTask call (returned)",
            "to_created": "RunTask sent → createdAt",
            "created_to_pull_started": "createdAt → pullStartedAt (to the agent)",
            "pull": "pullStartedAt → pullStoppedAt (image)",
            "pull_stopped_to_started": "pullStoppedAt → startedAt (create+start)",
            "started_to_seen_running": "startedAt → RUNNING seen by DescribeTasks",
        }
        for key, label in labels.items():
            log(f"    {label:45s} {percentile([r[key] for r in rows], 50) * 1000:7.1f}")
        log("    (timestamps have ms precision; our poll interval adds up to "
            f"{args.poll_ms} ms plus one DescribeTasks round trip to the last row)")
    log(f"burst of {args.burst} from {args.clients} concurrent clients:")
    log(f"  Berth : all RUNNING after {berth_elapsed:.2f} s → {berth_rate:.1f} tasks/s")
    log(f"  docker: all returned after {docker_elapsed:.2f} s → {docker_rate:.1f} containers/s")

    def ms(value):
        return f"{value:.0f}" if value >= 100 else f"{value:.1f}"

    print(f"task_launch_p50_ms: {ms(b50)} (docker run: {ms(d50)} ms, ratio {b50 / d50:.2f}); "
          f"p95_ms: {ms(b95)} (docker run: {ms(d95)}); "
          f"burst_tasks_per_sec: {berth_rate:.1f} (docker run: {docker_rate:.1f}, ratio {berth_rate / docker_rate:.2f})",
          flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--cluster", default="bench")
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--poll-ms", type=float, default=5)
    parser.add_argument("--raw-out", help="write the raw samples here as JSON")
    args = parser.parse_args()
    if args.tasks < 1 or args.burst < 1 or args.clients < 1:
        parser.error("--tasks, --burst and --clients must be at least 1")

    # SIGTERM (the shell script's trap) unwinds like Ctrl-C, so the finally block runs. SIGINT is
    # installed explicitly: bash starts background jobs with it ignored, and Python keeps that.
    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    bench = Bench(args)
    try:
        instance = bench.wait_for_instance()
        memory = next((r.get("integerValue") for r in instance.get("remainingResources", [])
                       if r.get("name") == "MEMORY"), "?")
        log(f"container instance {instance['containerInstanceArn']} registered ({memory} MiB free)")
        bench.register()
        log(f"task definition {bench.task_definition}")
        berth, docker_times, breakdown = bench.phase_latency()
        burst = bench.phase_burst()
        if args.raw_out:
            with open(args.raw_out, "w") as f:
                json.dump({"berth_s": berth, "docker_s": docker_times, "breakdown_s": breakdown,
                           "burst": burst}, f, indent=1)
        summarize(args, berth, docker_times, breakdown, burst)
        return 0
    except BenchError as e:
        log(f"bench/task_launch.py: {e}")
        return 1
    except KeyboardInterrupt:
        log("bench/task_launch.py: interrupted")
        return 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        bench.cleanup()


if __name__ == "__main__":
    sys.exit(main())
