"""Driver for bench/task_launch.sh: task launch latency and burst throughput of Berth against the
same Docker Engine driven directly, by a long-lived Engine API client doing what Berth's agent
does (create + start). Run it through the shell script, which builds Berth, starts `berth server`
and one `berth agent --task-cleanup-wait 0`, and cleans up behind both.

    python3 bench/task_launch.py --url http://127.0.0.1:PORT --cluster bench

Like for like, on purpose:
  - Both sides are driven by long-lived clients: Berth by one boto3 client (keep-alive), the
    baseline by one Engine API connection over the unix socket (keep-alive), as the agent holds
    its own. `docker run -d` (a CLI process per sample) is measured too, for reference only.
  - The same container on every side: berth-demo:latest, a 64 MiB memory limit, container port
    8080 published on a dynamic host port on the engine's default address (no HostIp: what the
    agent asks for), labelled.
  - No sample overlaps cleanup: the agent removes a stopped task's container at once, and the
    engine is busy while it does. Before every sample of any side, the driver waits until no
    container of this bench exists any more (Berth's removed by the agent, the baseline's removed
    synchronously through the API), bounded.
  - Sides alternate: sample i runs the three sides in an order rotated by i, so each side goes
    first, second and third equally often.

Phase 1, sequential latency, --tasks samples per side (default 100, for a p95 from enough samples):
  - Berth: from just before RunTask until the first DescribeTasks (polled every --poll-ms) that
    shows lastStatus RUNNING. Then StopTask, wait for STOPPED and for the agent to remove the
    container (not timed).
  - docker API: from just before POST /containers/create until POST /containers/{id}/start has
    returned (the container is running by then). Then DELETE ?force=1 (not timed).
  - docker run CLI (reference): `docker run -d` of the same container until it returns.
  - engine: the engine's own create+start time of every container above, State.StartedAt -
    Created from its inspect: what neither client can go below. Printed beside both: the floor.
Phase 2, burst, --burst-rounds rounds alternating which side goes first, medians printed:
  - Berth: --burst tasks from --clients concurrent clients, each a sequence of RunTask count=1
    calls, timed until a poller sees every task RUNNING. The agent hands every task it receives
    to the engine at once, so up to --burst requests are in flight at the engine.
  - docker API: --burst threads, each with its own long-lived Engine API connection, all released
    at once, each create + start of one container (so up to --burst requests in flight at the
    engine, as on Berth's side), timed until every start has returned.
  - Both sides' peak number of containers between Created and StartedAt at once (from the
    engine's own timestamps) is printed, so the in-flight count can be checked, not assumed.

Prints a human summary to stderr and the figure line last on stdout. Every container and task it
starts is stopped/removed in a finally block, also on Ctrl-C and SIGTERM; the shell script's trap
removes anything left over by label.
"""

import argparse
import concurrent.futures
import json
import math
import statistics
import subprocess
import sys
import threading
import time

import benchlib
from benchlib import BenchError, docker_timestamp, log

DOCKER_LABEL = ("berth-bench", "1")
IMAGE = "berth-demo:latest"
FAMILY = "launch"
MEMORY_MIB = 64
CONTAINER = {"name": "web", "image": IMAGE, "memory": MEMORY_MIB, "portMappings": [{"containerPort": 8080}]}
SIDES = ("berth", "api", "cli")
SIDE_NAMES = {"berth": "Berth RunTask → RUNNING seen", "api": "docker API create+start",
              "cli": "docker run -d (CLI, reference)"}


def client(url):
    # Credentials as boto3 finds them (see benchlib.client); room for the burst's threads.
    return benchlib.client("ecs", url, **benchlib.NO_RETRIES, max_pool_connections=32)


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


class Engine(benchlib.Engine):
    """What the agent does at the engine, and what the bench reads back."""

    def ping(self):
        self.conn.request("GET", "/_ping")
        self.conn.getresponse().read()

    def create_start(self):
        """What the agent does for a container: create, then start. Returns the id."""
        created = self.call("POST", "/containers/create", {
            "Image": IMAGE,
            "Labels": {DOCKER_LABEL[0]: DOCKER_LABEL[1]},
            "ExposedPorts": {"8080/tcp": {}},
            "HostConfig": {
                "Memory": MEMORY_MIB * 1024 * 1024,
                "NetworkMode": "bridge",
                # No HostIp, no HostPort: the engine's default address and a port it picks, as the
                # agent asks for a portMapping without hostPort.
                "PortBindings": {"8080/tcp": [{"HostPort": ""}]},
            },
        }, expect=(201,))
        self.call("POST", f"/containers/{created['Id']}/start", expect=(204,))
        return created["Id"]

    def inspect(self, cid):
        return self.call("GET", f"/containers/{cid}/json")

    def remove(self, cid):
        # Synchronous: the answer comes once the container is gone.
        self.call("DELETE", f"/containers/{cid}", query={"force": "1", "v": "1"}, expect=(204, 404))

    def bench_containers(self, cluster):
        return self.containers("=".join(DOCKER_LABEL)) | self.containers(f"com.amazonaws.ecs.cluster={cluster}")


def engine_window(inspected):
    """(Created, StartedAt) of an inspected container, seconds since the epoch."""
    return docker_timestamp(inspected.get("Created")), docker_timestamp(inspected["State"].get("StartedAt"))


def peak_in_flight(windows):
    """The most containers between Created and StartedAt at once."""
    events = []
    for created, started in windows:
        if created is None or started is None:
            continue
        events.append((created, 1))
        events.append((started, -1))
    peak = current = 0
    for _, delta in sorted(events):
        current += delta
        peak = max(peak, current)
    return peak


def docker_cli_run():
    result = subprocess.run(
        ["docker", "run", "-d", "--label", "=".join(DOCKER_LABEL), "--memory", f"{MEMORY_MIB}m",
         "-p", "8080", IMAGE], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise BenchError(f"docker run failed: {result.stderr.strip()}")
    return result.stdout.strip()


def epoch(value):
    """boto3 parses ECS timestamps to datetimes; None stays None."""
    return value.timestamp() if value is not None else None


class Bench:
    def __init__(self, args):
        self.args = args
        self.ecs = client(args.url)
        self.engine = Engine()
        self.cluster = args.cluster
        self.task_arns = set()        # every Berth task started, for the finally block
        self.docker_ids = set()       # every container the baseline started
        self.lock = threading.Lock()
        self.task_definition = None

    # ----- setup -----

    def register(self):
        definition = self.ecs.register_task_definition(
            family=FAMILY, containerDefinitions=[CONTAINER])["taskDefinition"]
        self.task_definition = definition["taskDefinitionArn"]

    def wait_engine_idle(self, timeout=120):
        """Waits until no container of this bench exists: nobody's cleanup may overlap a sample."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.engine.bench_containers(self.cluster)
            if not left:
                return
            if time.monotonic() > deadline:
                raise BenchError(f"{len(left)} bench containers still exist {timeout} s after their "
                                 f"stop/removal (e.g. {sorted(left)[0][:12]})")
            time.sleep(0.02)

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

    def describe(self, arns):
        return benchlib.describe_tasks(self.ecs, self.cluster, arns)

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

    def engine_windows_of_tasks(self, tasks):
        windows = []
        for task in tasks:
            runtime_id = task["containers"][0].get("runtimeId")
            if not runtime_id:
                raise BenchError(f"task {task['taskArn']} RUNNING without a runtimeId")
            windows.append(engine_window(self.engine.inspect(runtime_id)))
        return windows

    # ----- samples: each returns (client latency s, engine create+start s) -----

    def sample_berth(self, breakdown):
        latency, runtask, task, t0 = self.launch_one()
        breakdown.append(self.timeline(task, t0, latency, runtask))
        (created, started), = self.engine_windows_of_tasks([task])
        left = self.stop_tasks([task["taskArn"]], timeout=30)
        if left:
            raise BenchError(f"task {left[0]} not STOPPED within 30 s of StopTask")
        return latency, started - created

    def sample_docker(self, create_start):
        """One baseline sample: `create_start` (the Engine API's or the CLI's) timed, then the
        container inspected and removed."""
        start = time.perf_counter()
        cid = create_start()
        elapsed = time.perf_counter() - start
        self.docker_ids.add(cid)
        created, started = engine_window(self.engine.inspect(cid))
        self.engine.remove(cid)
        self.docker_ids.discard(cid)
        return elapsed, started - created

    # ----- phases -----

    def phase_latency(self):
        n = self.args.tasks
        log(f"\n== phase 1: sequential launch latency, {n} samples per side "
            f"(Berth, docker API, docker run CLI), order rotated every sample, "
            f"each after every earlier container is gone")
        client_s = {side: [] for side in SIDES}
        engine_s = {side: [] for side in SIDES}
        breakdown = []
        for i in range(n):
            order = SIDES[i % 3:] + SIDES[:i % 3]
            for side in order:
                self.wait_engine_idle()
                if side == "berth":
                    latency, engine = self.sample_berth(breakdown)
                elif side == "api":
                    latency, engine = self.sample_docker(self.engine.create_start)
                else:
                    latency, engine = self.sample_docker(docker_cli_run)
                client_s[side].append(latency)
                engine_s[side].append(engine)
            if (i + 1) % 10 == 0 or i == 0 or i + 1 == n:
                log(f"  {i + 1:3d}/{n}: " + "   ".join(
                    f"{side} {client_s[side][-1] * 1000:6.1f} ms (engine {engine_s[side][-1] * 1000:5.1f})"
                    for side in SIDES))
        self.wait_engine_idle()
        return client_s, engine_s, breakdown

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

    def burst_berth(self):
        total, clients = self.args.burst, self.args.clients
        per_client = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
        # Clients are created up front: building a boto3 client costs tens of ms.
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
                elapsed = now - t0
                break
            if now > deadline:
                raise BenchError(f"burst: only {len(running)}/{total} tasks RUNNING after 300 s")
            if now - last_report > 5:
                log(f"    berth: {len(launched)} launched, {len(running)} RUNNING after {now - t0:.1f} s")
                last_report = now
            time.sleep(0.02)
        for thread in threads:
            thread.join(timeout=30)

        tasks = self.describe(sorted(running))
        peak = peak_in_flight(self.engine_windows_of_tasks(tasks))
        left = self.stop_tasks(sorted(running), timeout=120)
        if left:
            raise BenchError(f"{len(left)} burst tasks not STOPPED within 120 s of StopTask")
        self.wait_engine_idle()
        return elapsed, peak

    def burst_api(self):
        total = self.args.burst
        # One long-lived connection per thread, connected before the clock starts.
        engines = [Engine() for _ in range(total)]
        for engine in engines:
            engine.ping()
        barrier = threading.Barrier(total + 1)

        def one(engine):
            barrier.wait(timeout=30)
            cid = engine.create_start()
            with self.lock:
                self.docker_ids.add(cid)
            return cid

        with concurrent.futures.ThreadPoolExecutor(max_workers=total) as pool:
            futures = [pool.submit(one, engine) for engine in engines]
            barrier.wait(timeout=30)
            start = time.perf_counter()
            ids = [f.result() for f in futures]
            elapsed = time.perf_counter() - start
        peak = peak_in_flight([engine_window(self.engine.inspect(cid)) for cid in ids])
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(total, 16)) as pool:
            list(pool.map(lambda pair: pair[0].remove(pair[1]), zip(engines, ids)))
        with self.lock:
            self.docker_ids.difference_update(ids)
        for engine in engines:
            engine.conn.close()
        self.wait_engine_idle()
        return elapsed, peak

    def phase_burst(self):
        total, rounds = self.args.burst, self.args.burst_rounds
        log(f"\n== phase 2: burst, {rounds} rounds, sides alternating: {total} tasks from "
            f"{self.args.clients} concurrent clients (RunTask count=1 each) vs {total} docker API "
            f"create+start released at once")
        results = {"berth": [], "api": []}
        peaks = {"berth": [], "api": []}
        for r in range(rounds):
            order = ("berth", "api") if r % 2 == 0 else ("api", "berth")
            for side in order:
                self.wait_engine_idle()
                elapsed, peak = self.burst_berth() if side == "berth" else self.burst_api()
                results[side].append(elapsed)
                peaks[side].append(peak)
                log(f"  round {r + 1}/{rounds} {side:5s}: {total} running after {elapsed:.2f} s "
                    f"→ {total / elapsed:.1f}/s (peak {peak} in create/start at the engine)")
        return results, peaks

    # ----- cleanup -----

    def cleanup(self):
        with self.lock:
            tasks = sorted(self.task_arns)
            ids = sorted(self.docker_ids)
        for cid in ids:
            try:
                self.engine.remove(cid)
            except Exception as e:  # noqa: BLE001 - the shell trap removes what is left
                log(f"cleanup: removing {cid[:12]}: {e}")
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


def ms(value):
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def summarize(args, client_s, engine_s, breakdown, burst):
    p50 = {side: percentile(client_s[side], 50) * 1000 for side in SIDES}
    p95 = {side: percentile(client_s[side], 95) * 1000 for side in SIDES}
    all_engine = [e for side in SIDES for e in engine_s[side]]
    floor = percentile(all_engine, 50) * 1000
    n = len(client_s["berth"])

    log("\n== summary")
    log(f"sequential launch, n={n} per side, sides rotated (p50 / p95 / min / max, ms; "
        f"engine = its own create+start, StartedAt - Created, p50):")
    for side in SIDES:
        values = client_s[side]
        log(f"  {SIDE_NAMES[side]:32s}: {p50[side]:7.1f} / {p95[side]:7.1f} / "
            f"{min(values) * 1000:7.1f} / {max(values) * 1000:7.1f}   "
            f"engine {percentile(engine_s[side], 50) * 1000:6.1f}")
    log(f"  engine's own create+start, all {len(all_engine)} containers: p50 {floor:.1f} ms, "
        f"p95 {percentile(all_engine, 95) * 1000:.1f} ms (the floor)")
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

    results, peaks = burst
    rate = {side: args.burst / statistics.median(results[side]) for side in results}
    log(f"burst of {args.burst}, {args.burst_rounds} rounds (median; per round s):")
    log(f"  Berth     : {rate['berth']:6.1f} tasks/s   {[round(v, 2) for v in results['berth']]}  "
        f"peak in flight at the engine {peaks['berth']}")
    log(f"  docker API: {rate['api']:6.1f} containers/s {[round(v, 2) for v in results['api']]}  "
        f"peak in flight at the engine {peaks['api']}")

    print(f"task_launch_p50_ms: {ms(p50['berth'])} (docker API create+start: {ms(p50['api'])} ms, "
          f"ratio {p50['berth'] / p50['api']:.2f}; docker run CLI: {ms(p50['cli'])} ms; "
          f"engine's own create+start: {ms(floor)} ms); "
          f"p95_ms: {ms(p95['berth'])} (docker API: {ms(p95['api'])}; docker run CLI: {ms(p95['cli'])}; "
          f"n={n} per side, sides rotated, no sample overlapping a removal); "
          f"burst_tasks_per_sec: {rate['berth']:.1f} (docker API: {rate['api']:.1f}, "
          f"ratio {rate['berth'] / rate['api']:.2f}; {args.burst} tasks, median of {args.burst_rounds} "
          f"alternating rounds, peak in flight at the engine {max(peaks['berth'])} vs {max(peaks['api'])}); "
          f"real containers on the local Docker Engine, nothing simulated",
          flush=True)


def measure(bench):
    """Both phases; prints the figure."""
    args = bench.args
    instance = benchlib.wait_for_instance(bench.ecs, bench.cluster)
    memory = next((r.get("integerValue") for r in instance.get("remainingResources", [])
                   if r.get("name") == "MEMORY"), "?")
    log(f"container instance {instance['containerInstanceArn']} registered ({memory} MiB free)")
    bench.register()
    log(f"task definition {bench.task_definition}")
    client_s, engine_s, breakdown = bench.phase_latency()
    burst = bench.phase_burst()
    if args.raw_out:
        with open(args.raw_out, "w") as f:
            json.dump({"client_s": client_s, "engine_s": engine_s, "breakdown_s": breakdown,
                       "burst_s": burst[0], "burst_peaks": burst[1]}, f, indent=1)
    summarize(args, client_s, engine_s, breakdown, burst)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--cluster", default="bench")
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--burst-rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--poll-ms", type=float, default=5)
    parser.add_argument("--raw-out", help="write the raw samples here as JSON")
    args = parser.parse_args()
    if args.tasks < 1 or args.burst < 1 or args.clients < 1 or args.burst_rounds < 1:
        parser.error("--tasks, --burst, --burst-rounds and --clients must be at least 1")
    if args.tasks < 100:
        log(f"note: --tasks {args.tasks} < 100: the p95 comes from too few samples to quote")

    bench = Bench(args)
    return benchlib.run(lambda: measure(bench), bench.cleanup)


if __name__ == "__main__":
    sys.exit(main())
