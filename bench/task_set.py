"""Driver of bench/task_set.sh: the seconds from a scale-up request until TASKS tasks are RUNNING,
for an EXTERNAL service's task set scaled 0 → 100 % (UpdateTaskSet) and for a plain (ECS
controller) service scaled 0 → TASKS (UpdateService), on the simulated instances the script
registered. Each round measures both, the side that goes first alternating; the figure is the
median of each side. Everything a side made is deleted and its tasks stopped before the next
side starts, so each starts on an empty cluster.

Both sides are polled the same way: ListTasks (the task set's by startedBy, the service's by
serviceName; desiredStatus RUNNING) and DescribeTasks, every POLL seconds, until TASKS tasks
report lastStatus RUNNING; every wait is bounded by TIMEOUT.

Usage: task_set.py URL CLUSTER TASKS ROUNDS POLL TIMEOUT"""

import statistics
import sys
import time

import benchlib
from benchlib import log

url, cluster = sys.argv[1], sys.argv[2]
tasks, rounds = int(sys.argv[3]), int(sys.argv[4])
poll, timeout = float(sys.argv[5]), float(sys.argv[6])
ecs = benchlib.client("ecs", url)


def wait_for(condition, what):
    benchlib.wait_for(condition, what, timeout, poll)


def running(**filters):
    """How many of the tasks ListTasks finds with `filters` are RUNNING."""
    arns = benchlib.list_tasks(ecs, cluster, desiredStatus="RUNNING", **filters)
    return sum(1 for t in benchlib.describe_tasks(ecs, cluster, arns) if t["lastStatus"] == "RUNNING")


def cluster_empty():
    return not ecs.list_tasks(cluster=cluster, desiredStatus="RUNNING")["taskArns"]


def finish(service):
    ecs.delete_service(cluster=cluster, service=service, force=True)
    wait_for(cluster_empty, f"the tasks of {service} to stop")
    wait_for(lambda: ecs.describe_services(cluster=cluster, services=[service])["services"][0]["status"]
             == "INACTIVE", f"{service} to become INACTIVE")


def task_set_side(round_number):
    name = f"ext-{round_number}"
    ecs.create_service(cluster=cluster, serviceName=name, desiredCount=tasks,
                       deploymentController={"type": "EXTERNAL"})
    task_set = ecs.create_task_set(cluster=cluster, service=name, taskDefinition="bench",
                                   scale={"value": 0.0, "unit": "PERCENT"})["taskSet"]["id"]
    ecs.update_service_primary_task_set(cluster=cluster, service=name, primaryTaskSet=task_set)
    started = time.monotonic()
    ecs.update_task_set(cluster=cluster, service=name, taskSet=task_set, scale={"value": 100.0, "unit": "PERCENT"})
    wait_for(lambda: running(startedBy=task_set) >= tasks, f"{tasks} RUNNING tasks of {task_set}")
    elapsed = time.monotonic() - started
    finish(name)
    return elapsed


def service_side(round_number):
    name = f"svc-{round_number}"
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition="bench", desiredCount=0)
    started = time.monotonic()
    ecs.update_service(cluster=cluster, service=name, desiredCount=tasks)
    wait_for(lambda: running(serviceName=name) >= tasks, f"{tasks} RUNNING tasks of {name}")
    elapsed = time.monotonic() - started
    finish(name)
    return elapsed


def main():
    ecs.register_task_definition(family="bench", containerDefinitions=[
        {"name": "app", "image": "berth-demo:latest", "memory": 16}])
    measured = {"task_set": [], "service": []}
    sides = {"task_set": task_set_side, "service": service_side}
    for round_number in range(rounds):
        order = ["task_set", "service"] if round_number % 2 == 0 else ["service", "task_set"]
        for side in order:
            measured[side].append(sides[side](round_number))
        log(f"round {round_number + 1}: task set {measured['task_set'][-1]:.2f} s, "
            f"service {measured['service'][-1]:.2f} s")
    task_set_s = statistics.median(measured["task_set"])
    service_s = statistics.median(measured["service"])
    print(f"task_set_s: {task_set_s:.2f} (service: {service_s:.2f} s, ratio {task_set_s / service_s:.2f}; "
          f"simulated instances)")


sys.exit(benchlib.run(main))
