"""Services answer exactly as ECS writes them: each case is a request and the full response the
AWS CLI reference's examples (awscli/examples/ecs/create-service.rst, delete-service.rst) show
for it, or ECS's own refusal, word for word."""

import pytest

from fidelity import ACCOUNT, PREFIX, error, outcome
from test_service_lb import target_group_behind_listener
from test_tasks import wait_for

SLEEP = {"name": "sleep", "image": "busybox", "cpu": 10, "command": ["sleep", "360"], "memory": 10, "essential": True}
REVISION = f"{PREFIX}task-definition/sleep360:1"


def service(name, status="ACTIVE", rollout="IN_PROGRESS", events=()):
    """create-service.rst Example 2 ("To create a service using the EC2 launch type"), with the
    members the API has gained since that example was written (the deployment's rollout state
    and failed tasks, the circuit breaker's defaults, the deployment controller, the service
    deployment and revision, createdBy, enableExecuteCommand) as ECS fills them in."""
    deployment = f"{PREFIX}service-deployment/MyCluster/{name}/<id>"
    return {
        "serviceArn": f"{PREFIX}service/MyCluster/{name}",
        "serviceName": name,
        "clusterArn": f"{PREFIX}cluster/MyCluster",
        "loadBalancers": [],
        "serviceRegistries": [],
        "status": status,
        "desiredCount": 0,
        "runningCount": 0,
        "pendingCount": 0,
        "launchType": "EC2",
        "taskDefinition": REVISION,
        "deploymentConfiguration": {
            "deploymentCircuitBreaker": {"enable": False, "rollback": False},
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
        },
        "deployments": [{
            "id": "ecs-svc/<id>", "status": "PRIMARY", "taskDefinition": REVISION,
            "desiredCount": 0, "pendingCount": 0, "runningCount": 0, "failedTasks": 0,
            "createdAt": "<time>", "updatedAt": "<time>", "launchType": "EC2",
            "rolloutState": rollout,
            "rolloutStateReason": f"ECS deployment ecs-svc/<id> {rollout.lower().replace('_', ' ')}.",
        }],
        "events": list(events),
        "createdAt": "<time>",
        "currentServiceDeployment": deployment,
        "currentServiceRevisions": [{
            "arn": deployment.replace("service-deployment", "service-revision"),
            "requestedTaskCount": 0, "runningTaskCount": 0, "pendingTaskCount": 0,
        }],
        "placementConstraints": [],
        "placementStrategy": [],
        "schedulingStrategy": "REPLICA",
        "deploymentController": {"type": "ECS"},
        "createdBy": "arn:aws:iam::000000000000:root",
        "enableECSManagedTags": False,
        "propagateTags": "NONE",
        "enableExecuteCommand": False,
    }


NAMESPACE_ARN = f"arn:aws:servicediscovery:us-east-1:{ACCOUNT}:namespace/ns-hoggwkp7p2lefor5"
REGISTRY = {"registryArn": f"arn:aws:servicediscovery:us-east-1:{ACCOUNT}:service/srv-utcrh6wavdkggqtk"}

CREATE = ("create_service", {"cluster": "MyCluster", "serviceName": "ecs-simple-service",
                             "taskDefinition": "sleep360:1", "desiredCount": 0})

DAEMON = ("create_service", {"cluster": "MyCluster", "serviceName": "daemon", "taskDefinition": "sleep360:1",
                             "schedulingStrategy": "DAEMON"})

# (name, calls made first, operation, request, expected answer)
CASES = [
    ("create", [], *CREATE, {"service": service("ecs-simple-service")}),
    # DescribeServices refuses an empty list (vend/ecs-cleaner#2) and more than 10 services
    # (structurely/ecs-autoscale#32), in ECS's words.
    ("describe-empty", [], "describe_services", {"cluster": "MyCluster", "services": []},
     error("InvalidParameterException", "Services cannot be empty.")),
    ("describe-eleven", [], "describe_services", {"cluster": "MyCluster", "services": [f"s{i}" for i in range(11)]},
     error("InvalidParameterException", "service names can have at most 10 items.")),
    # `role` goes only with one load balancer, refused otherwise in ECS's words
    # (cloudposse/terraform-aws-ecs-alb-service-task#145, aws/containers-roadmap#461).
    ("role-without-load-balancer", [], "create_service", dict(CREATE[1], role="ecsServiceRole"),
     error("InvalidParameterException", "IAM roles are only valid for services configured to use load balancers.")),
    ("role-with-two-target-groups", [], "create_service",
     dict(CREATE[1], role="ecsServiceRole", loadBalancers=[
         {"targetGroupArn": f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/{name}/0123456789abcdef",
          "containerName": "sleep", "containerPort": 80} for name in ("one", "two")]),
     error("InvalidParameterException", "You cannot specify an IAM role for services that require a service linked role.")),
    # serviceRegistries name Cloud Map services; anything else is refused in ECS's words
    # (hashicorp/terraform-provider-aws#4373, a namespace's ARN).
    ("registry-namespace-arn", [], "create_service",
     dict(CREATE[1], serviceRegistries=[{"registryArn": NAMESPACE_ARN}]),
     error("InvalidParameterException", f"The format of the supplied service registry ARN is invalid: {NAMESPACE_ARN}.")),
    # A service ARN of another cluster than the call's (aws/aws-toolkit-vscode#2915).
    ("describe-other-clusters-arn", [("create_cluster", {"clusterName": "Other"})], "describe_services",
     {"cluster": "Other", "services": [f"{PREFIX}service/MyCluster/ecs-simple-service"]},
     error("InvalidParameterException", "Invalid identifier: Identifier is for cluster MyCluster. Your cluster is Other")),
    # A launch type ECS does not have, in the words moto adopted for it (getmoto/moto#6161; no AWS
    # document words this refusal).
    ("create-unknown-launch-type", [], "create_service", dict(CREATE[1], launchType="EC3"),
     error("InvalidParameterException", "launch type should be one of [EC2,FARGATE,EXTERNAL,MANAGED_INSTANCES]")),
    ("list-unknown-launch-type", [], "list_services", {"cluster": "MyCluster", "launchType": "EC3"},
     error("InvalidParameterException", "launch type should be one of [EC2,FARGATE,EXTERNAL,MANAGED_INSTANCES]")),
    # ListServices' launchType and schedulingStrategy filters each narrow the list, together too
    # (list-services.rst; ListServices: "the results are filtered by…").
    ("list-by-launch-type", [CREATE, DAEMON], "list_services", {"cluster": "MyCluster", "launchType": "EC2"},
     {"serviceArns": [f"{PREFIX}service/MyCluster/daemon", f"{PREFIX}service/MyCluster/ecs-simple-service"]}),
    ("list-by-strategy", [CREATE, DAEMON], "list_services", {"cluster": "MyCluster", "schedulingStrategy": "DAEMON"},
     {"serviceArns": [f"{PREFIX}service/MyCluster/daemon"]}),
    ("list-by-launch-type-and-strategy", [CREATE, DAEMON], "list_services",
     {"cluster": "MyCluster", "launchType": "EC2", "schedulingStrategy": "REPLICA"},
     {"serviceArns": [f"{PREFIX}service/MyCluster/ecs-simple-service"]}),
    ("list-by-other-launch-type-and-strategy", [CREATE, DAEMON], "list_services",
     {"cluster": "MyCluster", "launchType": "EXTERNAL", "schedulingStrategy": "REPLICA"}, {"serviceArns": []}),
    # A service it cannot find is a MISSING failure named by the service's ARN in this region.
    ("describe-missing", [], "describe_services", {"cluster": "MyCluster", "services": ["nope"]},
     {"services": [], "failures": [{"arn": f"{PREFIX}service/MyCluster/nope", "reason": "MISSING"}]}),
]


@pytest.fixture
def cluster(ecs):
    ecs.create_cluster(clusterName="MyCluster")
    ecs.register_task_definition(family="sleep360", containerDefinitions=[SLEEP])
    return ecs


@pytest.mark.parametrize("name,setup,operation,request_,expected", CASES, ids=[c[0] for c in CASES])
def test_service_answers_as_ecs_writes_them(cluster, name, setup, operation, request_, expected):
    for step, arguments in setup:
        getattr(cluster, step)(**arguments)
    assert outcome(cluster, operation, request_) == expected


def test_a_deleted_service_drains_then_stays_describable_as_inactive(cluster):
    """delete-service.rst: the service goes DRAINING, and INACTIVE as soon as no task of it
    remains; DescribeServices still shows it then."""
    getattr(cluster, CREATE[0])(**CREATE[1])
    deleted = outcome(cluster, "delete_service", {"cluster": "MyCluster", "service": "ecs-simple-service"})
    assert deleted["service"]["status"] == "DRAINING"

    def inactive():
        described = outcome(cluster, "describe_services", {"cluster": "MyCluster", "services": ["ecs-simple-service"]})
        return described if described["services"][0]["status"] == "INACTIVE" else None

    described = wait_for(inactive, "the deleted service to be INACTIVE", timeout=10)
    steady = {"id": "<id>", "createdAt": "<time>", "message": "(service ecs-simple-service) has reached a steady state."}
    completed = {"id": "<id>", "createdAt": "<time>",
                 "message": "(service ecs-simple-service) (deployment ecs-svc/<id>) deployment completed."}
    assert described == {
        "services": [service("ecs-simple-service", "INACTIVE", "COMPLETED", [steady, completed])],
        "failures": [],
    }
    assert outcome(cluster, "list_services", {"cluster": "MyCluster"}) == {"serviceArns": []}


def test_a_service_role_with_a_load_balancer_is_kept_as_its_arn(berth, cluster):
    """create-service.rst Example 4: `"role": "ecsServiceRole"` with a load balancer comes back as
    `"roleArn": "arn:aws:iam::ACCOUNT:role/ecsServiceRole"`."""
    target_group, _, _ = target_group_behind_listener(berth, "roled")
    cluster.register_task_definition(family="web", containerDefinitions=[
        dict(SLEEP, name="web", portMappings=[{"containerPort": 80}])])
    created = cluster.create_service(
        cluster="MyCluster", serviceName="behind", taskDefinition="web", desiredCount=0, role="ecsServiceRole",
        loadBalancers=[{"targetGroupArn": target_group, "containerName": "web", "containerPort": 80}])["service"]
    assert created["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/ecsServiceRole"
    described = cluster.describe_services(cluster="MyCluster", services=["behind"])["services"][0]
    assert described["roleArn"] == created["roleArn"]


def test_service_registries_and_execute_command_are_kept_not_dropped(cluster):
    """CreateService shows the serviceRegistries it was given, and UpdateService changes them
    (with a new deployment, as the API reference says) and enableExecuteCommand."""
    created = cluster.create_service(**dict(CREATE[1], serviceRegistries=[REGISTRY]))["service"]
    assert created["serviceRegistries"] == [REGISTRY]
    other = {"registryArn": REGISTRY["registryArn"].replace("srv-utcrh6wavdkggqtk", "srv-other"), "port": 80}
    updated = cluster.update_service(cluster="MyCluster", service="ecs-simple-service",
                                     serviceRegistries=[other], enableExecuteCommand=True)["service"]
    assert updated["serviceRegistries"] == [other]
    assert updated["enableExecuteCommand"] is True
    assert updated["deployments"][0]["id"] != created["deployments"][0]["id"]
    described = cluster.describe_services(cluster="MyCluster", services=["ecs-simple-service"])["services"][0]
    assert described["serviceRegistries"] == [other] and described["enableExecuteCommand"] is True
