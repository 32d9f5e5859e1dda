"""Services end to end: the API through boto3 and aws-cli, the service scheduler keeping tasks
running on real Docker containers, rolling deployments and the circuit breaker."""

import subprocess

import pytest
from botocore.exceptions import ClientError

from test_tasks import cluster, demo_image, describe, wait_for  # noqa: F401 (fixtures)

HEALTH_CHECK = {"command": ["CMD", "/berth-demo", "check", "http://127.0.0.1:8080/health"],
                "interval": 5, "timeout": 2, "retries": 2, "startPeriod": 0}


def register_web(ecs, family="svc", image="berth-demo:latest", health=True):
    container = {"name": "web", "image": image, "memory": 32, "portMappings": [{"containerPort": 8080}]}
    if health:
        container["healthCheck"] = HEALTH_CHECK
    return ecs.register_task_definition(family=family, containerDefinitions=[container])["taskDefinition"]


def service(ecs, cluster_name, name):
    return ecs.describe_services(cluster=cluster_name, services=[name])["services"][0]


def running_tasks(ecs, cluster_name, name):
    arns = ecs.list_tasks(cluster=cluster_name, serviceName=name)["taskArns"]
    if not arns:
        return []
    return [t for t in ecs.describe_tasks(cluster=cluster_name, tasks=arns)["tasks"] if t["lastStatus"] == "RUNNING"]


def wait_stable(ecs, cluster_name, name, timeout=90):
    ecs.get_waiter("services_stable").wait(cluster=cluster_name, services=[name],
                                          WaiterConfig={"Delay": 1, "MaxAttempts": timeout})


def test_service_api_validation(cluster):
    name, ecs, _, _ = cluster
    register_web(ecs)
    with pytest.raises(ClientError) as missing:
        ecs.create_service(cluster=name, serviceName="s", taskDefinition="nope:1", desiredCount=1)
    assert missing.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as unknown:
        ecs.update_service(cluster=name, service="ghost", desiredCount=1)
    assert unknown.value.response["Error"]["Code"] == "ServiceNotFoundException"
    created = ecs.create_service(cluster=name, serviceName="s", taskDefinition="svc", desiredCount=0)["service"]
    assert created["status"] == "ACTIVE" and created["schedulingStrategy"] == "REPLICA"
    assert created["deploymentConfiguration"]["maximumPercent"] == 200
    assert created["deploymentConfiguration"]["minimumHealthyPercent"] == 100
    [deployment] = created["deployments"]
    assert deployment["status"] == "PRIMARY" and deployment["id"].startswith("ecs-svc/")
    assert len(deployment["id"]) == len("ecs-svc/") + 19
    with pytest.raises(ClientError) as twice:
        ecs.create_service(cluster=name, serviceName="s", taskDefinition="svc", desiredCount=2)
    assert twice.value.response["Error"]["Code"] == "InvalidParameterException"
    assert ecs.list_services(cluster=name)["serviceArns"] == [created["serviceArn"]]
    # ListServices pages default to 10 and go up to 100.
    assert ecs.list_services(cluster=name, maxResults=100)["serviceArns"] == [created["serviceArn"]]
    described = ecs.describe_services(cluster=name, services=["s", "ghost"])
    assert described["failures"][0]["reason"] == "MISSING"
    cluster_info = ecs.describe_clusters(clusters=[name])["clusters"][0]
    assert cluster_info["activeServicesCount"] == 1
    with pytest.raises(ClientError) as busy:
        ecs.delete_cluster(cluster=name)
    assert busy.value.response["Error"]["Code"] == "ClusterContainsServicesException"
    deleted = ecs.delete_service(cluster=name, service="s")["service"]
    assert deleted["status"] == "DRAINING"
    assert ecs.list_services(cluster=name)["serviceArns"] == []
    wait_for(lambda: service(ecs, name, "s")["status"] == "INACTIVE", "the service to become INACTIVE")


def test_a_service_keeps_its_tasks_running_and_rolls_out_a_new_revision(cluster):
    name, ecs, _, _ = cluster
    first = register_web(ecs)
    ecs.create_service(cluster=name, serviceName="web", taskDefinition="svc", desiredCount=3)
    wait_stable(ecs, name, "web")
    current = service(ecs, name, "web")
    assert current["runningCount"] == 3 and current["pendingCount"] == 0
    deployment_id = current["deployments"][0]["id"]
    # Stable (what the waiter checks) comes first; the rollout completes once the tasks pass
    # their health checks.
    current = wait_for(lambda: (s := service(ecs, name, "web"))["deployments"][0]["rolloutState"] == "COMPLETED"
                       and s, "the deployment to complete")
    tasks = running_tasks(ecs, name, "web")
    assert len(tasks) == 3
    assert {t["group"] for t in tasks} == {"service:web"}
    assert {t["startedBy"] for t in tasks} == {deployment_id}
    messages = [e["message"] for e in current["events"]]
    assert "(service web) has reached a steady state." in messages
    assert any(m.startswith("(service web) has started 3 tasks: (task ") for m in messages)

    # A container killed outside Berth is replaced.
    victim = tasks[0]
    subprocess.run(["docker", "kill", victim["containers"][0]["runtimeId"]], check=True, capture_output=True)
    wait_for(lambda: describe(ecs, name, victim["taskArn"])["lastStatus"] == "STOPPED", "the killed task to stop")
    wait_for(lambda: len(running_tasks(ecs, name, "web")) == 3, "a replacement", timeout=60)
    wait_stable(ecs, name, "web")

    # A new revision rolls out: old tasks stop only as new ones turn healthy.
    second = register_web(ecs)
    assert second["revision"] == first["revision"] + 1
    updated = ecs.update_service(cluster=name, service="web", taskDefinition=second["taskDefinitionArn"])["service"]
    assert [d["status"] for d in updated["deployments"]] == ["PRIMARY", "ACTIVE"]
    wait_stable(ecs, name, "web", timeout=120)
    current = service(ecs, name, "web")
    assert current["taskDefinition"] == second["taskDefinitionArn"]
    assert len(current["deployments"]) == 1
    assert {t["taskDefinitionArn"] for t in running_tasks(ecs, name, "web")} == {second["taskDefinitionArn"]}
    assert any(m.endswith("deployment completed.") for m in (e["message"] for e in current["events"]))

    # Scale in, then delete with force.
    ecs.update_service(cluster=name, service="web", desiredCount=1)
    wait_for(lambda: len(running_tasks(ecs, name, "web")) == 1, "scale in to 1")
    stopped_arns = ecs.list_tasks(cluster=name, serviceName="web", desiredStatus="STOPPED")["taskArns"]
    stopped = ecs.describe_tasks(cluster=name, tasks=stopped_arns)["tasks"]
    scaled_in = [t for t in stopped if t["stopCode"] == "ServiceSchedulerInitiated"]
    assert len(scaled_in) >= 2
    assert all(t["stoppedReason"].startswith("Scaling activity initiated by (deployment ecs-svc/") for t in scaled_in)
    ecs.delete_service(cluster=name, service="web", force=True)
    wait_for(lambda: service(ecs, name, "web")["status"] == "INACTIVE", "the deleted service to drain", timeout=60)


def test_a_revision_that_cannot_start_trips_the_circuit_breaker_and_rolls_back(cluster):
    name, ecs, _, _ = cluster
    good = register_web(ecs, health=False)
    ecs.create_service(cluster=name, serviceName="cb", taskDefinition=good["taskDefinitionArn"], desiredCount=1,
                       deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True},
                                                "maximumPercent": 200, "minimumHealthyPercent": 100})
    wait_stable(ecs, name, "cb")
    wait_for(lambda: service(ecs, name, "cb")["deployments"][0]["rolloutState"] == "COMPLETED",
             "the first deployment to complete", timeout=60)
    bad = register_web(ecs, image="berth-missing-image:latest", health=False)
    ecs.update_service(cluster=name, service="cb", taskDefinition=bad["taskDefinitionArn"])

    def rolled_back():
        current = service(ecs, name, "cb")
        messages = [e["message"] for e in current["events"]]
        failed = any(m.endswith("deployment failed: tasks failed to start.") for m in messages)
        return failed and current["deployments"][0]["taskDefinition"] == good["taskDefinitionArn"] and current

    current = wait_for(rolled_back, "the circuit breaker to roll back", timeout=90)
    assert current["taskDefinition"] == good["taskDefinitionArn"]
    failed_tasks = ecs.list_tasks(cluster=name, serviceName="cb", desiredStatus="STOPPED")["taskArns"]
    failed = [t for t in ecs.describe_tasks(cluster=name, tasks=failed_tasks)["tasks"]
              if t["taskDefinitionArn"] == bad["taskDefinitionArn"]]
    assert len(failed) >= 3 and all(t["stopCode"] == "TaskFailedToStart" for t in failed)
    wait_stable(ecs, name, "cb", timeout=90)
    assert {t["taskDefinitionArn"] for t in running_tasks(ecs, name, "cb")} == {good["taskDefinitionArn"]}

    # The service deployments tell the same story: the first succeeded, the second rolled back.
    def history():
        return ecs.list_service_deployments(cluster=name, service="cb")["serviceDeployments"]

    wait_for(lambda: [d["status"] for d in history()] == ["ROLLBACK_SUCCESSFUL", "SUCCESSFUL"],
             "the rollback to finish", timeout=90)
    latest, first = history()
    [described] = ecs.describe_service_deployments(
        serviceDeploymentArns=[latest["serviceDeploymentArn"]])["serviceDeployments"]
    assert described["rollback"]["serviceRevisionArn"] == first["targetServiceRevisionArn"]
    assert described["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    assert described["deploymentCircuitBreaker"]["failureCount"] >= 3
    revisions = ecs.describe_service_revisions(serviceRevisionArns=[
        first["targetServiceRevisionArn"], latest["targetServiceRevisionArn"]])["serviceRevisions"]
    assert [r["taskDefinition"] for r in revisions] == [good["taskDefinitionArn"], bad["taskDefinitionArn"]]
    with pytest.raises(ClientError) as finished:
        ecs.stop_service_deployment(serviceDeploymentArn=first["serviceDeploymentArn"])
    assert finished.value.response["Error"] == {
        "Code": "ConflictException", "Message": "The service deployment has already finished."}
    ecs.delete_service(cluster=name, service="cb", force=True)
    wait_for(lambda: service(ecs, name, "cb")["status"] == "INACTIVE", "the deleted service to drain", timeout=60)


def test_service_tasks_move_off_draining_and_lost_instances(cluster):
    name, ecs, add_agent, agents = cluster
    add_agent()
    register_web(ecs, health=False)
    ecs.create_service(cluster=name, serviceName="mover", taskDefinition="svc", desiredCount=2)
    wait_stable(ecs, name, "mover")
    instances = ecs.list_container_instances(cluster=name)["containerInstanceArns"]
    placed = {t["containerInstanceArn"] for t in running_tasks(ecs, name, "mover")}
    assert placed == set(instances), "the default strategy spreads the tasks over the instances"

    # Draining: the task there is replaced on the other instance, then stopped.
    # The instance of the agent killed below; the listing's order says nothing about which.
    second = agents[1].instance_arn()
    first = next(i for i in instances if i != second)
    ecs.update_container_instances_state(cluster=name, containerInstances=[second], status="DRAINING")
    wait_for(lambda: {t["containerInstanceArn"] for t in running_tasks(ecs, name, "mover")} == {first}
             and len(running_tasks(ecs, name, "mover")) == 2, "the tasks to leave the draining instance", timeout=90)
    ecs.update_container_instances_state(cluster=name, containerInstances=[second], status="ACTIVE")

    # Lost: an agent killed for good has its tasks replaced once the control plane gives up on it.
    ecs.update_service(cluster=name, service="mover", desiredCount=3)
    wait_for(lambda: len(running_tasks(ecs, name, "mover")) == 3, "three tasks", timeout=60)
    on_second = [t["taskArn"] for t in running_tasks(ecs, name, "mover") if t["containerInstanceArn"] == second]
    assert on_second, "spread puts one of the three on the reactivated instance"
    agents[1].kill9()
    for arn in on_second:
        gone = wait_for(lambda: (t := describe(ecs, name, arn))["lastStatus"] == "STOPPED" and t,
                        "the lost task to be recorded stopped", timeout=60)
        assert "disconnected" in gone["stoppedReason"]
    wait_for(lambda: len(running_tasks(ecs, name, "mover")) == 3
             and {t["containerInstanceArn"] for t in running_tasks(ecs, name, "mover")} == {first},
             "replacements on the remaining instance", timeout=60)


def test_a_service_whose_tasks_never_pass_their_health_check_never_becomes_steady(cluster):
    name, ecs, _, _ = cluster
    failing = dict(HEALTH_CHECK, command=["CMD", "/berth-demo", "check", "http://127.0.0.1:9/nothing"],
                   interval=5, retries=1)
    ecs.register_task_definition(family="sick", containerDefinitions=[
        {"name": "web", "image": "berth-demo:latest", "memory": 32, "healthCheck": failing}])
    ecs.create_service(cluster=name, serviceName="sick", taskDefinition="sick", desiredCount=1)

    def reported():
        messages = [e["message"] for e in service(ecs, name, "sick")["events"]]
        return any(m.endswith("failed container health checks.") for m in messages) and messages

    messages = wait_for(reported, "the health check failure to be reported", timeout=90)
    current = service(ecs, name, "sick")
    assert current["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    assert "(service sick) has reached a steady state." not in messages
    stopped = ecs.list_tasks(cluster=name, serviceName="sick", desiredStatus="STOPPED")["taskArns"]
    reasons = {t["stoppedReason"] for t in ecs.describe_tasks(cluster=name, tasks=stopped)["tasks"]}
    assert "Task failed container health checks" in reasons
    ecs.delete_service(cluster=name, service="sick", force=True)


def test_a_daemon_service_runs_one_task_on_every_eligible_instance(cluster):
    name, ecs, add_agent, _ = cluster
    register_web(ecs, family="daemon", health=False)
    with pytest.raises(ClientError) as strategies:
        ecs.create_service(cluster=name, serviceName="d", taskDefinition="daemon", schedulingStrategy="DAEMON",
                           placementStrategy=[{"type": "random"}])
    assert strategies.value.response["Error"]["Code"] == "InvalidParameterException"
    created = ecs.create_service(cluster=name, serviceName="d", taskDefinition="daemon",
                                 schedulingStrategy="DAEMON")["service"]
    assert created["deploymentConfiguration"]["maximumPercent"] == 100
    assert created["deploymentConfiguration"]["minimumHealthyPercent"] == 0
    wait_for(lambda: len(running_tasks(ecs, name, "d")) == 1, "the daemon task on the first instance")
    add_agent()
    wait_for(lambda: len({t["containerInstanceArn"] for t in running_tasks(ecs, name, "d")}) == 2,
             "a daemon task on the new instance", timeout=60)
    assert service(ecs, name, "d")["desiredCount"] == 2
    instances = ecs.list_container_instances(cluster=name)["containerInstanceArns"]
    ecs.update_container_instances_state(cluster=name, containerInstances=[instances[1]], status="DRAINING")
    wait_for(lambda: {t["containerInstanceArn"] for t in running_tasks(ecs, name, "d")} == {instances[0]},
             "the drained instance's daemon task to stop", timeout=60)
    wait_for(lambda: service(ecs, name, "d")["desiredCount"] == 1, "the desired count to follow")
    ecs.delete_service(cluster=name, service="d", force=True)
    wait_for(lambda: service(ecs, name, "d")["status"] == "INACTIVE", "the daemon to drain", timeout=60)


def test_a_rolling_deployment_survives_a_control_plane_restart(berth, cluster):
    name, ecs, _, _ = cluster
    register_web(ecs)
    ecs.create_service(cluster=name, serviceName="roll", taskDefinition="svc", desiredCount=3)
    wait_stable(ecs, name, "roll")
    second = register_web(ecs)
    updated = ecs.update_service(cluster=name, service="roll", taskDefinition=second["taskDefinitionArn"])["service"]
    new_deployment = updated["deployments"][0]["id"]
    # Mid-rollout: the new tasks are started, not yet healthy (their checks run every 5 s).
    wait_for(lambda: any(t["startedBy"] == new_deployment for t in running_tasks(ecs, name, "roll")),
             "the first new task", timeout=60)
    berth.kill9()
    berth.start()
    ecs = berth.client()
    wait_stable(ecs, name, "roll", timeout=120)
    started = []
    for status in ("RUNNING", "STOPPED"):
        started += ecs.list_tasks(cluster=name, serviceName="roll", desiredStatus=status)["taskArns"]
    by_new = [t for t in ecs.describe_tasks(cluster=name, tasks=started)["tasks"] if t["startedBy"] == new_deployment]
    assert len(by_new) == 3, "the restarted scheduler starts no extra tasks"
    assert {t["taskDefinitionArn"] for t in running_tasks(ecs, name, "roll")} == {second["taskDefinitionArn"]}


def test_stop_service_deployment_rolls_back_to_the_previous_revision(cluster):
    name, ecs, _, _ = cluster
    good = register_web(ecs, health=False)
    ecs.create_service(cluster=name, serviceName="undo", taskDefinition=good["taskDefinitionArn"], desiredCount=1)
    wait_for(lambda: [d["status"] for d in ecs.list_service_deployments(
        cluster=name, service="undo")["serviceDeployments"]] == ["SUCCESSFUL"], "the first deployment", timeout=90)
    second = register_web(ecs, health=False)
    ecs.update_service(cluster=name, service="undo", taskDefinition=second["taskDefinitionArn"])
    ongoing = ecs.list_service_deployments(cluster=name, service="undo", status=["IN_PROGRESS"])["serviceDeployments"]
    assert len(ongoing) == 1
    stopped = ecs.stop_service_deployment(serviceDeploymentArn=ongoing[0]["serviceDeploymentArn"])
    assert stopped["serviceDeploymentArn"] == ongoing[0]["serviceDeploymentArn"]
    current = service(ecs, name, "undo")
    assert current["taskDefinition"] == good["taskDefinitionArn"]
    wait_stable(ecs, name, "undo", timeout=120)
    assert {t["taskDefinitionArn"] for t in running_tasks(ecs, name, "undo")} == {good["taskDefinitionArn"]}
    ecs.delete_service(cluster=name, service="undo", force=True)
    wait_for(lambda: service(ecs, name, "undo")["status"] == "INACTIVE", "the service to drain", timeout=60)
    assert ecs.list_service_deployments(cluster=name, service="undo")["serviceDeployments"] == []


def test_service_tasks_get_propagated_and_managed_tags(cluster):
    name, ecs, _, _ = cluster
    register_web(ecs, family="tagged", health=False)
    ecs.create_service(cluster=name, serviceName="tagged", taskDefinition="tagged", desiredCount=1,
                       tags=[{"key": "team", "value": "core"}], propagateTags="SERVICE", enableECSManagedTags=True)
    arn = wait_for(lambda: ecs.list_tasks(cluster=name, serviceName="tagged")["taskArns"], "the task")[0]
    tags = {t["key"]: t["value"] for t in ecs.list_tags_for_resource(resourceArn=arn)["tags"]}
    assert tags == {"team": "core", "aws:ecs:clusterName": name, "aws:ecs:serviceName": "tagged"}
    ecs.delete_service(cluster=name, service="tagged", force=True)
