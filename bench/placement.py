"""End-to-end placement driver for bench/placement.sh: CLIENTS boto3 clients call RunTask with
count 10 (spread by zone, binpack on memory) until TASKS tasks are placed, then wait until every
task is RUNNING. Prints `api_tasks_placed_per_sec` and `all_running_s` on its last lines."""

import os
import sys
import threading
import time

import boto3
import botocore.config

endpoint, cluster = sys.argv[1], sys.argv[2]
tasks, clients = int(sys.argv[3]), int(sys.argv[4])
config = botocore.config.Config(retries={"max_attempts": 1}, max_pool_connections=clients)


def client():
    return boto3.client("ecs", endpoint_url=endpoint, region_name="us-east-1", config=config)


ecs = client()
ecs.register_task_definition(family="placed", containerDefinitions=[
    {"name": "app", "image": "berth-demo:latest", "memory": 64}])
strategy = [{"type": "spread", "field": "attribute:ecs.availability-zone"}, {"type": "binpack", "field": "memory"}]
calls = tasks // 10
placed, failures = [], []
lock = threading.Lock()


def worker(share):
    own = client()
    for _ in range(share):
        result = own.run_task(cluster=cluster, taskDefinition="placed", count=10, placementStrategy=strategy)
        with lock:
            placed.extend(t["taskArn"] for t in result["tasks"])
            failures.extend(result["failures"])


started = time.monotonic()
threads = [threading.Thread(target=worker, args=(calls // clients + (1 if i < calls % clients else 0),))
           for i in range(clients)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
placing = time.monotonic() - started
print(f"placed {len(placed)} tasks in {placing:.1f} s ({len(failures)} failures)", file=sys.stderr)

deadline = started + float(os.environ.get("BENCH_RUNNING_TIMEOUT", "600"))
pending = list(placed)
while pending and time.monotonic() < deadline:
    batch = pending[:100]
    described = ecs.describe_tasks(cluster=cluster, tasks=batch)["tasks"]
    done = {t["taskArn"] for t in described if t["lastStatus"] == "RUNNING"}
    pending = [arn for arn in pending if arn not in done]
    if batch and not done.intersection(batch):
        time.sleep(0.2)
running = time.monotonic() - started
if pending:
    sys.exit(f"{len(pending)} tasks were not RUNNING within the timeout")
print(f"api_tasks_placed_per_sec: {len(placed) / placing:.0f}")
print(f"all_running_s: {running:.1f}")
