"""End-to-end placement driver for bench/placement.sh, against `berth server` and one
`berth agent --simulate N` (simulated instances: they register, take tasks and report them
RUNNING after --simulated-start-ms, but run no containers).

    python3 bench/placement.py ENDPOINT CLUSTER TASKS CLIENTS

1. Every instance gets a custom attribute that varies between instances, `bench.rack` = rack-0 ..
   rack-99 (PutAttributes), besides the three zones the agent assigns round-robin.
2. CLIENTS client processes call RunTask (count 10, spread by zone then binpack on memory) until
   TASKS tasks are placed. Every call carries its own memberOf constraint,
   `attribute:bench.rack not_in [rack-A, rack-B]` with a pair no other call uses, so that the
   constraint is evaluated for each call rather than served from a cache. A call that places
   fewer than it asked for is retried for the rest (bounded: 20 attempts in a row that place
   nothing); tasks still unplaced then are reported with the failures' reasons and the run fails.
   Timed: from the first call to the last answer → api_tasks_placed_per_sec.
3. Then the cluster's runningTasksCount is polled until it covers every placed task (timed from
   the first call → all_running_s), and every task is checked: ListTasks (all pages) must name
   exactly the tasks RunTask returned, and DescribeTasks of all of them must show each RUNNING on
   an instance its call's constraint allowed.
4. Outcomes asserted: spread(zone): the zones' task counts differ by at most one call's worth (10);
   binpack(memory): the instances used are about as few as the tasks need (at most twice as many
   plus 30 — spread alone would use every instance).

The clients are separate processes speaking the AWS JSON protocol over keep-alive connections,
signed with SigV4 by botocore: boto3's response parsing costs milliseconds per call in Python,
which on this two-core machine would measure the client instead of the server."""

import collections
import http.client
import json
import math
import multiprocessing
import os
import sys
import time
import urllib.parse

import botocore.auth
import botocore.awsrequest
import botocore.session

import benchlib
from benchlib import REGION, log

endpoint, cluster = sys.argv[1], sys.argv[2]
tasks, clients = int(sys.argv[3]), int(sys.argv[4])
TARGET = "AmazonEC2ContainerServiceV20141113."
PER_CALL = 10
RACKS = 100
TASK_MEMORY = 64
RETRIES = 20


def excluded(call):
    """The two racks call number `call` leaves out: a different pair for every call up to 10,000
    (and varied beyond)."""
    return call % RACKS, (call // RACKS + call % RACKS + 1) % RACKS


class Api:
    """Signed AWS JSON calls over one keep-alive connection."""

    def __init__(self):
        credentials = botocore.session.get_session().get_credentials()
        self.signer = botocore.auth.SigV4Auth(credentials, "ecs", REGION)
        parsed = urllib.parse.urlparse(endpoint)
        self.connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=120)

    def call(self, operation, payload):
        body = json.dumps(payload)
        request = botocore.awsrequest.AWSRequest(method="POST", url=endpoint, data=body, headers={
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET + operation})
        self.signer.add_auth(request)
        self.connection.request("POST", "/", body=body, headers=dict(request.headers))
        response = self.connection.getresponse()
        answer = json.loads(response.read())
        if response.status != 200:
            raise SystemExit(f"{operation} failed: {response.status} {answer}")
        return answer


def run_tasks(job):
    """One client: places `want` tasks, call numbers first_call, first_call + clients, …
    Returns ([(task arn, call number)], unplaced, failure reasons counted)."""
    want, first_call = job
    api = Api()
    placed, reasons = [], collections.Counter()
    call = first_call
    empty_in_a_row = 0
    while len(placed) < want:
        a, b = excluded(call)
        answer = api.call("RunTask", {
            "cluster": cluster, "taskDefinition": "placed", "count": min(PER_CALL, want - len(placed)),
            "placementConstraints": [{"type": "memberOf",
                                      "expression": f"attribute:bench.rack not_in [rack-{a}, rack-{b}]"}],
            "placementStrategy": [{"type": "spread", "field": "attribute:ecs.availability-zone"},
                                  {"type": "binpack", "field": "memory"}],
        })
        placed.extend((t["taskArn"], call) for t in answer["tasks"])
        for failure in answer["failures"]:
            reasons[failure.get("reason", "?")] += 1
        call += clients
        empty_in_a_row = 0 if answer["tasks"] else empty_in_a_row + 1
        if empty_in_a_row >= RETRIES:
            break
        if answer["failures"] and not answer["tasks"]:
            time.sleep(0.05)
    return placed, want - len(placed), reasons


def main():
    ecs = benchlib.client("ecs", endpoint)
    ecs.register_task_definition(family="placed", containerDefinitions=[
        {"name": "app", "image": "berth-demo:latest", "memory": TASK_MEMORY}])
    api = Api()

    # The instances, and a rack attribute on each (10 attributes per PutAttributes call).
    instance_arns = []
    for page in ecs.get_paginator("list_container_instances").paginate(cluster=cluster):
        instance_arns.extend(page["containerInstanceArns"])
    instance_arns.sort()
    rack_of = {arn: i % RACKS for i, arn in enumerate(instance_arns)}
    started = time.monotonic()
    for start in range(0, len(instance_arns), 10):
        api.call("PutAttributes", {"cluster": cluster, "attributes": [
            {"name": "bench.rack", "value": f"rack-{rack_of[arn]}", "targetType": "container-instance",
             "targetId": arn} for arn in instance_arns[start:start + 10]]})
    log(f"bench.rack set on {len(instance_arns)} simulated instances in {time.monotonic() - started:.1f} s")
    zone_of, memory_of = {}, {}
    for start in range(0, len(instance_arns), 100):
        answer = api.call("DescribeContainerInstances",
                          {"cluster": cluster, "containerInstances": instance_arns[start:start + 100]})
        for instance in answer["containerInstances"]:
            attributes = {a["name"]: a.get("value") for a in instance["attributes"]}
            if attributes.get("bench.rack") != f"rack-{rack_of[instance['containerInstanceArn']]}":
                raise SystemExit(f"instance {instance['containerInstanceArn']}: bench.rack is "
                                 f"{attributes.get('bench.rack')!r} after PutAttributes")
            zone_of[instance["containerInstanceArn"]] = attributes["ecs.availability-zone"]
            memory_of[instance["containerInstanceArn"]] = next(
                r["integerValue"] for r in instance["registeredResources"] if r["name"] == "MEMORY")

    shares = [tasks // clients + (1 if i < tasks % clients else 0) for i in range(clients)]
    started = time.monotonic()
    with multiprocessing.Pool(clients) as pool:
        results = pool.map(run_tasks, [(shares[i], i) for i in range(clients)], chunksize=1)
    placing = time.monotonic() - started
    call_of = {arn: call for placed, _, _ in results for arn, call in placed}
    placed = len(call_of)
    unplaced = sum(u for _, u, _ in results)
    reasons = collections.Counter()
    for _, _, r in results:
        reasons.update(r)
    log(f"placed {placed} tasks in {placing:.1f} s ({sum(reasons.values())} failures on the way, retried)")
    if unplaced:
        raise SystemExit(f"{unplaced} of {tasks} tasks could not be placed after retries; "
                         f"failure reasons: {dict(reasons.most_common(5))}")

    deadline = started + float(os.environ.get("BENCH_RUNNING_TIMEOUT", "600"))
    running = 0
    while time.monotonic() < deadline:
        running = ecs.describe_clusters(clusters=[cluster])["clusters"][0]["runningTasksCount"]
        if running >= placed:
            break
        time.sleep(0.1)
    all_running = time.monotonic() - started
    if running < placed:
        raise SystemExit(f"only {running} of {placed} tasks were RUNNING within the timeout")

    # Every task, listed and described: the set ListTasks names is the set RunTask returned, each
    # RUNNING, each on an instance its call's constraint allowed. A new connection: the setup's
    # sat idle through the placing, longer than the server keeps an idle connection
    # (--header-timeout, 10 s).
    api = Api()
    listed, token = [], None
    while True:
        page = api.call("ListTasks", {"cluster": cluster, "maxResults": 100,
                                      **({"nextToken": token} if token else {})})
        listed.extend(page["taskArns"])
        token = page.get("nextToken")
        if not token:
            break
    if set(listed) != set(call_of) or len(listed) != placed:
        raise SystemExit(f"ListTasks names {len(listed)} tasks ({len(set(listed) - set(call_of))} unknown), "
                         f"RunTask placed {placed}")
    per_zone, per_instance, not_running = collections.Counter(), collections.Counter(), []
    for start in range(0, len(listed), 100):
        answer = api.call("DescribeTasks", {"cluster": cluster, "tasks": listed[start:start + 100]})
        if answer.get("failures"):
            raise SystemExit(f"DescribeTasks failures: {answer['failures'][:3]}")
        for task in answer["tasks"]:
            if task["lastStatus"] != "RUNNING":
                not_running.append((task["taskArn"], task["lastStatus"]))
            instance = task["containerInstanceArn"]
            a, b = excluded(call_of[task["taskArn"]])
            if rack_of[instance] in (a, b):
                raise SystemExit(f"task {task['taskArn']} is on rack-{rack_of[instance]}, which its "
                                 f"call's memberOf constraint left out")
            per_zone[zone_of[instance]] += 1
            per_instance[instance] += 1
    if not_running:
        raise SystemExit(f"{len(not_running)} tasks not RUNNING when described, e.g. {not_running[:3]}")
    log(f"all {placed} tasks listed and described: RUNNING, each within its call's constraint")

    counts = sorted(per_zone.values())
    log(f"spread(zone): tasks per zone {dict(sorted(per_zone.items()))}")
    if len(per_zone) != len(set(zone_of.values())) or counts[-1] - counts[0] > PER_CALL:
        raise SystemExit(f"spread(zone) not honoured: tasks per zone {dict(per_zone)}")
    per_instance_capacity = min(memory_of.values()) // TASK_MEMORY
    needed = sum(math.ceil(n / per_instance_capacity) for n in per_zone.values())
    used = len(per_instance)
    log(f"binpack(memory): {used} of {len(instance_arns)} instances used, {needed} needed at "
        f"{per_instance_capacity} tasks each")
    if used > 2 * needed + 30:
        raise SystemExit(f"binpack(memory) not honoured: {used} instances used for {placed} tasks "
                         f"({needed} would do)")

    print(f"tasks_placed: {placed}")
    print(f"instances_used: {used}")
    print(f"api_tasks_placed_per_sec: {placed / placing:.0f}")
    print(f"all_running_s: {all_running:.1f}")


if __name__ == "__main__":
    main()
