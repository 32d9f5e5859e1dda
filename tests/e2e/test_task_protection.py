"""Task scale-in protection through boto3: UpdateTaskProtection and GetTaskProtection with ECS's
failures[], and the service scheduler scaling in around protected tasks on real Docker."""

import json
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from test_services import register_web, running_tasks, service
from test_tasks import cluster, container_env, demo_image, register, wait_for, wait_status  # noqa: F401 (fixtures)


def protection(ecs, cluster_name, arn):
    [entry] = ecs.get_task_protection(cluster=cluster_name, tasks=[arn])["protectedTasks"]
    return entry


def test_protected_tasks_survive_scale_in_until_their_protection_is_removed(cluster):
    name, ecs, _, _ = cluster
    register_web(ecs, health=False)
    ecs.create_service(cluster=name, serviceName="workers", taskDefinition="svc", desiredCount=3)
    tasks = wait_for(lambda: len(t := running_tasks(ecs, name, "workers")) == 3 and t, "3 running tasks", 60)
    arns = sorted(t["taskArn"] for t in tasks)
    keep, release, spare = arns

    assert protection(ecs, name, keep) == {"taskArn": keep, "protectionEnabled": False}
    before = time.time()
    updated = ecs.update_task_protection(cluster=name, tasks=[keep, release], protectionEnabled=True,
                                         expiresInMinutes=60)
    assert updated["failures"] == []
    assert sorted(t["taskArn"] for t in updated["protectedTasks"]) == [keep, release]
    for entry in updated["protectedTasks"]:
        assert entry["protectionEnabled"] is True
        expires = entry["expirationDate"].timestamp()
        assert before + 3600 - 2 <= expires <= time.time() + 3600
    # The default period is 2 hours.
    default = ecs.update_task_protection(cluster=name, tasks=[release], protectionEnabled=True)
    assert default["protectedTasks"][0]["expirationDate"].timestamp() >= before + 7200 - 2

    # Scaling in to one task stops only the unprotected one; the protected two keep running.
    ecs.update_service(cluster=name, service="workers", desiredCount=1)
    stopped = wait_status(ecs, name, spare, "STOPPED", 60)
    assert stopped["stopCode"] == "ServiceSchedulerInitiated"
    current = service(ecs, name, "workers")
    assert current["desiredCount"] == 1
    assert sorted(t["taskArn"] for t in running_tasks(ecs, name, "workers")) == [keep, release]

    # Protection off: the scheduler finishes the scale-in with that task, not the protected one.
    off = ecs.update_task_protection(cluster=name, tasks=[release], protectionEnabled=False)
    assert off["protectedTasks"] == [{"taskArn": release, "protectionEnabled": False}]
    wait_status(ecs, name, release, "STOPPED", 60)
    wait_for(lambda: service(ecs, name, "workers")["runningCount"] == 1, "runningCount 1")
    assert [t["taskArn"] for t in running_tasks(ecs, name, "workers")] == [keep]
    assert protection(ecs, name, keep)["protectionEnabled"] is True


def test_task_protection_failures_and_validation(cluster):
    name, ecs, _, _ = cluster
    register(ecs, family="lone")
    standalone = ecs.run_task(cluster=name, taskDefinition="lone")["tasks"][0]["taskArn"]
    missing_id = "0" * 32
    answer = ecs.update_task_protection(cluster=name, tasks=[standalone, missing_id], protectionEnabled=True)
    assert answer["protectedTasks"] == []
    region_prefix = standalone.rsplit("/", 1)[0]
    assert answer["failures"] == [
        {"arn": standalone, "reason": "TASK_NOT_VALID"},
        {"arn": f"{region_prefix}/{missing_id}", "reason": "MISSING"},
    ]
    read = ecs.get_task_protection(cluster=name, tasks=[missing_id])
    assert read["protectedTasks"] == [] and read["failures"][0]["reason"] == "MISSING"

    for minutes in (0, 2881):
        with pytest.raises(ClientError) as bad:
            ecs.update_task_protection(cluster=name, tasks=[standalone], protectionEnabled=True,
                                       expiresInMinutes=minutes)
        assert bad.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as too_many:
        ecs.update_task_protection(cluster=name, tasks=[missing_id] * 11, protectionEnabled=True)
    assert too_many.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as no_cluster:
        ecs.get_task_protection(cluster="no-such-cluster", tasks=[standalone])
    assert no_cluster.value.response["Error"]["Code"] == "ClusterNotFoundException"


def agent_api(url, method="GET", body=None):
    """A call to the task's agent API as its container makes it (from the host, at the address
    the container is given in ECS_AGENT_URI): (status, JSON body)."""
    request = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_agent_api_serves_task_protection(cluster):
    name, ecs, _, _ = cluster
    register_web(ecs, health=False)
    ecs.create_service(cluster=name, serviceName="guarded", taskDefinition="svc", desiredCount=1)
    [task] = wait_for(lambda: running_tasks(ecs, name, "guarded"), "a running task", 60)
    arn = task["taskArn"]
    env = container_env(task["containers"][0]["runtimeId"])
    state = env["ECS_AGENT_URI"] + "/task-protection/v1/state"

    assert agent_api(state) == (200, {"protection": {"ExpirationDate": None, "ProtectionEnabled": False,
                                                     "TaskArn": arn}})
    before = time.time()
    status, body = agent_api(state, "PUT", {"ProtectionEnabled": True, "ExpiresInMinutes": 60})
    assert status == 200 and body["protection"]["ProtectionEnabled"] is True, body
    assert body["protection"]["TaskArn"] == arn
    assert body["protection"]["ExpirationDate"].endswith("Z")
    # The same protection through the API, and back through the agent.
    [entry] = ecs.get_task_protection(cluster=name, tasks=[arn])["protectedTasks"]
    assert entry["protectionEnabled"] is True
    assert before + 3600 - 2 <= entry["expirationDate"].timestamp() <= time.time() + 3600
    assert agent_api(state)[1]["protection"]["ProtectionEnabled"] is True

    assert agent_api(state, "PUT", {"ProtectionEnabled": True, "Forever": True}) == (400, {"error": {
        "Code": "InvalidParameterException", "Message": "UpdateTaskProtection: failed to decode request"}})
    assert agent_api(state, "PUT", {"ExpiresInMinutes": 5}) == (400, {"error": {
        "Arn": arn, "Code": "InvalidParameterException",
        "Message": "Invalid request: does not contain 'ProtectionEnabled' field"}})
    # ECS's own refusal comes back as its error, with its status.
    status, body = agent_api(state, "PUT", {"ProtectionEnabled": True, "ExpiresInMinutes": 5000})
    assert status == 400 and body["error"]["Code"] == "InvalidParameterException" and body["error"]["Arn"] == arn
    unknown = env["ECS_AGENT_URI"].rsplit("/", 1)[0] + "/0123-web/task-protection/v1/state"
    assert agent_api(unknown) == (404, {"error": {"Code": "ResourceNotFoundException",
                                                  "Message": "Failed to find a task for the request"}})
    status, body = agent_api(state, "PUT", {"ProtectionEnabled": False})
    assert status == 200 and body["protection"]["ProtectionEnabled"] is False

    # A task no service started: ECS's failure, in the agent's shape.
    register(ecs, family="lone")
    lone = ecs.run_task(cluster=name, taskDefinition="lone")["tasks"][0]["taskArn"]
    running = wait_status(ecs, name, lone, "RUNNING", 60)
    lone_env = container_env(running["containers"][0]["runtimeId"])
    assert agent_api(lone_env["ECS_AGENT_URI"] + "/task-protection/v1/state") == (200, {"failure": {
        "Arn": lone, "Detail": None, "Reason": "TASK_NOT_VALID"}})
