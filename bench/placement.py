"""End-to-end placement driver for bench/placement.sh: CLIENTS client processes call RunTask with
count 10 (spread by zone, then binpack on memory) until TASKS tasks are placed, then the cluster's
runningTasksCount is polled until every placed task is RUNNING. Prints `api_tasks_placed_per_sec`
and `all_running_s` on its last lines.

The clients are separate processes speaking the AWS JSON protocol over keep-alive connections,
signed with SigV4 by botocore: boto3's response parsing costs milliseconds per call in Python,
which on this two-core machine would measure the client instead of the server."""

import http.client
import json
import multiprocessing
import os
import sys
import time
import urllib.parse

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.session

endpoint, cluster = sys.argv[1], sys.argv[2]
tasks, clients = int(sys.argv[3]), int(sys.argv[4])
REGION = "us-east-1"
TARGET = "AmazonEC2ContainerServiceV20141113.RunTask"
BODY = json.dumps({
    "cluster": cluster, "taskDefinition": "placed", "count": 10,
    "placementStrategy": [{"type": "spread", "field": "attribute:ecs.availability-zone"},
                          {"type": "binpack", "field": "memory"}],
})


def run_tasks(calls):
    """One client: `calls` RunTask calls in a row; returns (tasks placed, failures)."""
    credentials = botocore.session.get_session().get_credentials()
    signer = botocore.auth.SigV4Auth(credentials, "ecs", REGION)
    parsed = urllib.parse.urlparse(endpoint)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    placed = failures = 0
    for _ in range(calls):
        request = botocore.awsrequest.AWSRequest(method="POST", url=endpoint, data=BODY, headers={
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET})
        signer.add_auth(request)
        connection.request("POST", "/", body=BODY, headers=dict(request.headers))
        response = connection.getresponse()
        answer = json.loads(response.read())
        if response.status != 200:
            raise SystemExit(f"RunTask failed: {response.status} {answer}")
        placed += len(answer["tasks"])
        failures += len(answer["failures"])
    return placed, failures


def main():
    ecs = boto3.client("ecs", endpoint_url=endpoint, region_name=REGION)
    ecs.register_task_definition(family="placed", containerDefinitions=[
        {"name": "app", "image": "berth-demo:latest", "memory": 64}])
    calls = tasks // 10
    shares = [calls // clients + (1 if i < calls % clients else 0) for i in range(clients)]
    started = time.monotonic()
    with multiprocessing.Pool(clients) as pool:
        results = pool.map(run_tasks, shares, chunksize=1)
    placing = time.monotonic() - started
    placed = sum(p for p, _ in results)
    failures = sum(f for _, f in results)
    print(f"placed {placed} tasks in {placing:.1f} s ({failures} failures)", file=sys.stderr)

    deadline = started + float(os.environ.get("BENCH_RUNNING_TIMEOUT", "600"))
    running = 0
    while time.monotonic() < deadline:
        running = ecs.describe_clusters(clusters=[cluster])["clusters"][0]["runningTasksCount"]
        if running >= placed:
            break
        time.sleep(0.1)
    all_running = time.monotonic() - started
    if running < placed:
        sys.exit(f"only {running} of {placed} tasks were RUNNING within the timeout")
    print(f"api_tasks_placed_per_sec: {placed / placing:.0f}")
    print(f"all_running_s: {all_running:.1f}")


if __name__ == "__main__":
    main()
