"""Task sets end to end: services with the EXTERNAL and CODE_DEPLOY deployment controllers,
their task sets through boto3 and aws-cli, the tasks each task set's computed count runs on real
Docker containers, and ECS's errors for what such services refuse."""

import re

import pytest
from botocore.exceptions import ClientError

from test_tasks import cluster, demo_image, wait_for  # noqa: F401 (fixtures)

TASK_SET_ID = re.compile(r"^ecs-svc/\d{19}$")


def register(ecs, family="ts"):
    container = {"name": "web", "image": "berth-demo:latest", "memory": 16}
    return ecs.register_task_definition(family=family, containerDefinitions=[container])["taskDefinition"]


def service_of(ecs, cluster_name, name):
    return ecs.describe_services(cluster=cluster_name, services=[name])["services"][0]


def task_set_of(ecs, cluster_name, service, task_set_id):
    [found] = ecs.describe_task_sets(cluster=cluster_name, service=service, taskSets=[task_set_id])["taskSets"]
    return found


def live_tasks(ecs, cluster_name, started_by):
    """The tasks a task set started that nobody asked to stop, as (lastStatus, task)."""
    arns = ecs.list_tasks(cluster=cluster_name, startedBy=started_by)["taskArns"]
    if not arns:
        return []
    tasks = ecs.describe_tasks(cluster=cluster_name, tasks=arns)["tasks"]
    return [t for t in tasks if t["desiredStatus"] == "RUNNING" and t["startedBy"] == started_by]


def wait_running(ecs, cluster_name, service, task_set_id, count, timeout=60):
    """Waits until the task set runs exactly `count` tasks and says it is steady."""
    def settled():
        tasks = live_tasks(ecs, cluster_name, task_set_id)
        described = task_set_of(ecs, cluster_name, service, task_set_id)
        return (len(tasks) == count and all(t["lastStatus"] == "RUNNING" for t in tasks)
                and described["runningCount"] == count and described["pendingCount"] == 0
                and described["stabilityStatus"] == "STEADY_STATE" and described)
    return wait_for(settled, f"{count} running tasks of {task_set_id}", timeout)


def error_of(call):
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_a_task_set_service_scaled_0_50_100_percent_with_real_tasks(cluster, berth):
    name, ecs, _, _ = cluster
    definition = register(ecs)
    created = ecs.create_service(cluster=name, serviceName="ext", desiredCount=4,
                                 deploymentController={"type": "EXTERNAL"})["service"]
    # ECS rolls out nothing itself for an EXTERNAL service: its deployments are its task sets.
    assert created["deploymentController"] == {"type": "EXTERNAL"}
    assert created["deployments"] == [] and created["taskSets"] == []
    assert "taskDefinition" not in created

    made = ecs.create_task_set(cluster=name, service="ext", taskDefinition="ts", externalId="blue",
                               tags=[{"key": "color", "value": "blue"}])["taskSet"]
    blue = made["id"]
    assert TASK_SET_ID.match(blue), blue
    assert made["taskSetArn"] == f"arn:aws:ecs:us-east-1:000000000000:task-set/{name}/ext/{blue}"
    assert made["serviceArn"] == created["serviceArn"] and made["clusterArn"] == created["clusterArn"]
    assert made["status"] == "ACTIVE" and made["externalId"] == "blue"
    assert made["taskDefinition"] == definition["taskDefinitionArn"]
    assert made["scale"] == {"value": 0.0, "unit": "PERCENT"} and made["computedDesiredCount"] == 0
    assert made["launchType"] == "EC2" and made["stabilityStatus"] == "STABILIZING"
    assert made["tags"] == [{"key": "color", "value": "blue"}]
    # A task set is a taggable resource of its own.
    ecs.tag_resource(resourceArn=made["taskSetArn"], tags=[{"key": "team", "value": "web"}])
    assert ecs.list_tags_for_resource(resourceArn=made["taskSetArn"])["tags"] == [
        {"key": "color", "value": "blue"}, {"key": "team", "value": "web"}]
    ecs.untag_resource(resourceArn=made["taskSetArn"], tagKeys=["team"])

    primary = ecs.update_service_primary_task_set(cluster=name, service="ext", primaryTaskSet=blue)["taskSet"]
    assert primary["status"] == "PRIMARY"
    # What the primary task set runs becomes the service's.
    assert service_of(ecs, name, "ext")["taskDefinition"] == definition["taskDefinitionArn"]

    # 0 % runs nothing and is steady at once.
    steady = wait_running(ecs, name, "ext", blue, 0)
    assert steady["stabilityStatusAt"] >= made["stabilityStatusAt"]

    half = ecs.update_task_set(cluster=name, service="ext", taskSet=blue,
                               scale={"value": 50.0, "unit": "PERCENT"})["taskSet"]
    assert half["computedDesiredCount"] == 2 and half["stabilityStatus"] == "STABILIZING"
    wait_running(ecs, name, "ext", blue, 2)

    ecs.update_task_set(cluster=name, service="ext", taskSet=made["taskSetArn"],
                        scale={"value": 100.0, "unit": "PERCENT"})
    full = wait_running(ecs, name, "ext", blue, 4)
    assert full["computedDesiredCount"] == 4
    described = service_of(ecs, name, "ext")
    assert described["runningCount"] == 4 and described["deployments"] == []
    [listed] = described["taskSets"]
    assert listed["id"] == blue and listed["status"] == "PRIMARY" and listed["runningCount"] == 4

    # The service's desired count moves every task set's computed count: 3 × 50 % rounds up to 2.
    ecs.update_service(cluster=name, service="ext", desiredCount=3)
    ecs.update_task_set(cluster=name, service="ext", taskSet=blue, scale={"value": 50.0, "unit": "PERCENT"})
    assert task_set_of(ecs, name, "ext", blue)["computedDesiredCount"] == 2
    wait_running(ecs, name, "ext", blue, 2)

    # A second task set runs its own tasks beside the first, through aws-cli.
    green = berth.aws("ecs", "create-task-set", "--cluster", name, "--service", "ext",
                      "--task-definition", "ts", "--scale", "value=40,unit=PERCENT")["taskSet"]
    assert green["computedDesiredCount"] == 2
    wait_running(ecs, name, "ext", green["id"], 2)
    listed = berth.aws("ecs", "describe-task-sets", "--cluster", name, "--service", "ext",
                       "--task-sets", green["id"], blue, "--include", "TAGS")["taskSets"]
    assert [s["id"] for s in listed] == [green["id"], blue]
    assert [s.get("tags") for s in listed] == [[], [{"key": "color", "value": "blue"}]]

    # Deleting it (forced: it is scaled above 0) stops its tasks, then it is gone.
    deleted = ecs.delete_task_set(cluster=name, service="ext", taskSet=green["id"], force=True)["taskSet"]
    assert deleted["status"] == "DRAINING"
    wait_for(lambda: live_tasks(ecs, name, green["id"]) == [], "the deleted task set's tasks to stop")
    wait_for(lambda: [s["id"] for s in service_of(ecs, name, "ext")["taskSets"]] == [blue],
             "the deleted task set to leave taskSets[]")
    gone = ecs.describe_task_sets(cluster=name, service="ext", taskSets=[green["id"]])
    assert gone["taskSets"] == []
    assert gone["failures"] == [{"arn": green["taskSetArn"], "reason": "MISSING"}]
    assert len(live_tasks(ecs, name, blue)) == 2

    # Deleting the service stops the rest.
    ecs.delete_service(cluster=name, service="ext", force=True)
    wait_for(lambda: live_tasks(ecs, name, blue) == [], "the service's tasks to stop")
    wait_for(lambda: service_of(ecs, name, "ext")["status"] == "INACTIVE", "the service to become INACTIVE")


def test_a_code_deploy_service_starts_with_a_primary_task_set(cluster):
    name, ecs, _, _ = cluster
    definition = register(ecs, family="cd")
    created = ecs.create_service(cluster=name, serviceName="cd", taskDefinition="cd", desiredCount=2,
                                 deploymentController={"type": "CODE_DEPLOY"})["service"]
    assert created["deployments"] == []
    [first] = created["taskSets"]
    assert TASK_SET_ID.match(first["id"]) and first["status"] == "PRIMARY"
    assert first["scale"] == {"value": 100.0, "unit": "PERCENT"} and first["computedDesiredCount"] == 2
    assert first["taskDefinition"] == definition["taskDefinitionArn"]
    wait_running(ecs, name, "cd", first["id"], 2)
    assert service_of(ecs, name, "cd")["runningCount"] == 2
    # CodeDeploy deploys a new task definition, not UpdateService.
    assert error_of(lambda: ecs.update_service(cluster=name, service="cd", taskDefinition="cd")) == (
        "InvalidParameterException",
        "Unable to update task definition on services with a CODE_DEPLOY deployment controller. "
        "Use AWS CodeDeploy to trigger a new deployment.")
    ecs.update_service(cluster=name, service="cd", desiredCount=1)
    wait_running(ecs, name, "cd", first["id"], 1)
    ecs.delete_service(cluster=name, service="cd", force=True)
    wait_for(lambda: live_tasks(ecs, name, first["id"]) == [], "the service's tasks to stop")


def test_task_set_errors(cluster):
    name, ecs, _, _ = cluster
    register(ecs)
    ecs.create_service(cluster=name, serviceName="rolling", taskDefinition="ts", desiredCount=0)
    ecs.create_service(cluster=name, serviceName="ext", desiredCount=2, deploymentController={"type": "EXTERNAL"})

    # Task sets belong to services an external controller deploys.
    assert error_of(lambda: ecs.create_task_set(cluster=name, service="rolling", taskDefinition="ts")) == (
        "InvalidParameterException",
        "Amazon ECS only supports task set management on services configured to use external deployment "
        "controllers.")
    assert error_of(lambda: ecs.describe_task_sets(cluster=name, service="rolling"))[0] == \
        "InvalidParameterException"
    assert error_of(lambda: ecs.create_task_set(cluster=name, service="ghost", taskDefinition="ts"))[0] == \
        "ServiceNotFoundException"
    assert error_of(lambda: ecs.create_task_set(cluster="no-such-cluster", service="ext",
                                                taskDefinition="ts"))[0] == "ClusterNotFoundException"
    assert error_of(lambda: ecs.create_task_set(cluster=name, service="ext", taskDefinition="nope:1")) == (
        "InvalidParameterException", "TaskDefinition not found.")

    # The scale is a percentage of the service's desired count.
    for value in (-1.0, 100.5):
        assert error_of(lambda: ecs.create_task_set(cluster=name, service="ext", taskDefinition="ts",
                                                    scale={"value": value, "unit": "PERCENT"}))[0] == \
            "InvalidParameterException"
    assert error_of(lambda: ecs.create_task_set(cluster=name, service="ext", taskDefinition="ts",
                                                scale={"value": 10.0, "unit": "COUNT"}))[0] == \
        "InvalidParameterException"

    made = ecs.create_task_set(cluster=name, service="ext", taskDefinition="ts", clientToken="once",
                               scale={"value": 50.0, "unit": "PERCENT"})["taskSet"]
    # A retried call with its clientToken gets the same task set.
    again = ecs.create_task_set(cluster=name, service="ext", taskDefinition="ts", clientToken="once",
                                scale={"value": 50.0, "unit": "PERCENT"})["taskSet"]
    assert again["id"] == made["id"]
    assert error_of(lambda: ecs.update_task_set(cluster=name, service="ext", taskSet=made["id"],
                                                scale={"value": 101.0, "unit": "PERCENT"}))[0] == \
        "InvalidParameterException"

    # Unknown and malformed task sets.
    unknown = "ecs-svc/1234567890123456789"
    for call in (
        lambda: ecs.update_task_set(cluster=name, service="ext", taskSet=unknown,
                                    scale={"value": 1.0, "unit": "PERCENT"}),
        lambda: ecs.delete_task_set(cluster=name, service="ext", taskSet=unknown),
        lambda: ecs.update_service_primary_task_set(cluster=name, service="ext", primaryTaskSet=unknown),
    ):
        assert error_of(call) == ("TaskSetNotFoundException", "The specified task set does not exist.")
    task_arn = f"arn:aws:ecs:us-east-1:000000000000:task/{name}/0123456789abcdef0123456789abcdef"
    assert error_of(lambda: ecs.describe_task_sets(cluster=name, service="ext", taskSets=[task_arn])) == (
        "InvalidParameterException", "Task Set Identifier is invalid")
    missing = ecs.describe_task_sets(cluster=name, service="ext", taskSets=[unknown])
    assert missing["failures"] == [{
        "arn": f"arn:aws:ecs:us-east-1:000000000000:task-set/{name}/ext/{unknown}", "reason": "MISSING"}]

    # A task set scaled above 0, or the primary one, is deleted only with force.
    assert error_of(lambda: ecs.delete_task_set(cluster=name, service="ext", taskSet=made["id"]))[0] == \
        "InvalidParameterException"
    ecs.update_task_set(cluster=name, service="ext", taskSet=made["id"], scale={"value": 0.0, "unit": "PERCENT"})
    ecs.update_service_primary_task_set(cluster=name, service="ext", primaryTaskSet=made["id"])
    assert error_of(lambda: ecs.delete_task_set(cluster=name, service="ext", taskSet=made["id"]))[0] == \
        "InvalidParameterException"
    assert task_set_of(ecs, name, "ext", made["id"])["status"] == "PRIMARY"

    # At most 5 task sets.
    for _ in range(4):
        ecs.create_task_set(cluster=name, service="ext", taskDefinition="ts")
    assert error_of(lambda: ecs.create_task_set(cluster=name, service="ext", taskDefinition="ts")) == (
        "InvalidParameterException",
        "5 deployments exist on the service. Unable to create new TaskSet since this exceeds the maximum limit.")

    # UpdateService changes only what the task sets leave to the service.
    for refused in ({"taskDefinition": "ts"}, {"forceNewDeployment": True},
                    {"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}}):
        code, message = error_of(lambda: ecs.update_service(cluster=name, service="ext", **refused))
        assert code == "InvalidParameterException" and "EXTERNAL deployment controller" in message, message
    updated = ecs.update_service(cluster=name, service="ext", desiredCount=4, healthCheckGracePeriodSeconds=5,
                                 deploymentConfiguration={"maximumPercent": 150, "minimumHealthyPercent": 50})
    assert updated["service"]["desiredCount"] == 4
    assert updated["service"]["deploymentConfiguration"]["maximumPercent"] == 150
    assert updated["service"]["deployments"] == []

    # CreateService leaves the task definition of an EXTERNAL service to its task sets.
    code, message = error_of(lambda: ecs.create_service(cluster=name, serviceName="ext2", taskDefinition="ts",
                                                        desiredCount=1, deploymentController={"type": "EXTERNAL"}))
    assert code == "InvalidParameterException" and "taskDefinition" in message
    assert error_of(lambda: ecs.create_service(cluster=name, serviceName="d", schedulingStrategy="DAEMON",
                                               deploymentController={"type": "EXTERNAL"}))[0] == \
        "InvalidParameterException"
