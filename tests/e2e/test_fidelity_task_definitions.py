"""Task definitions answer exactly as ECS writes them: each case is a request and the full
response the AWS CLI reference's examples (awscli/examples/ecs/register-task-definition.rst,
deregister-task-definition.rst) show for it, or ECS's own error, word for word, for a bad one."""

import pytest

from fidelity import PREFIX, error, outcome

SLEEP = {"name": "sleep", "image": "busybox", "cpu": 10, "command": ["sleep", "360"], "memory": 10, "essential": True}


def sleep360(status="ACTIVE", **members):
    """register-task-definition.rst Example 1's answer, with the members the API has gained since
    that example was written (`requiresAttributes`, `compatibilities` with EXTERNAL,
    `registeredAt`/`registeredBy`, `systemControls`) as ECS fills them in."""
    shown = {
        "taskDefinitionArn": f"{PREFIX}task-definition/sleep360:1",
        "containerDefinitions": [{
            "name": "sleep", "image": "busybox", "cpu": 10, "memory": 10, "portMappings": [],
            "essential": True, "command": ["sleep", "360"], "environment": [], "mountPoints": [],
            "volumesFrom": [], "systemControls": [],
        }],
        "family": "sleep360",
        "revision": 1,
        "volumes": [],
        "status": status,
        "requiresAttributes": [],
        "placementConstraints": [],
        "compatibilities": ["EXTERNAL", "EC2"],
        "registeredAt": "<time>",
        "registeredBy": "arn:aws:iam::000000000000:root",
    }
    shown.update(members)
    return shown


def fargate(**members):
    definition = {"family": "f", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
                  "cpu": "256", "memory": "512", "containerDefinitions": [dict(SLEEP, memory=64)]}
    definition.update(members)
    return definition


REGISTER = ("register_task_definition", {"family": "sleep360", "containerDefinitions": [SLEEP]})

# (name, calls made first, operation, request, expected answer)
CASES = [
    # register-task-definition.rst Example 1: "To register a task definition with a JSON file".
    ("register", [], *REGISTER, {"taskDefinition": sleep360(), "tags": []}),
    # deregister-task-definition.rst: the revision comes back INACTIVE.
    ("deregister", [REGISTER], "deregister_task_definition", {"taskDefinition": "sleep360:1"},
     {"taskDefinition": sleep360("INACTIVE", deregisteredAt="<time>")}),
    # ECS fills in an EFS volume's root directory and transit encryption (API reference,
    # EFSVolumeConfiguration: "If this parameter is omitted, the root of the Amazon EFS volume
    # will be used"; "If this parameter is omitted, the default value of DISABLED is used").
    ("efs-defaults", [], "register_task_definition",
     {"family": "sleep360", "containerDefinitions": [SLEEP],
      "volumes": [{"name": "shared", "efsVolumeConfiguration": {"fileSystemId": "fs-1234"}}]},
     {"taskDefinition": sleep360(
         volumes=[{"name": "shared", "efsVolumeConfiguration": {
             "fileSystemId": "fs-1234", "rootDirectory": "/", "transitEncryption": "DISABLED"}}],
         requiresAttributes=[{"name": "ecs.capability.efs"}]),
      "tags": []}),
    # The Fargate refusals, word for word as ECS writes them (aws/aws-cdk#29619 for pidMode,
    # cn-terraform/terraform-aws-ecs-fargate#2 for ipcMode, aws/amazon-ecs-cli#1145 for the
    # network mode, with its typographic quotes).
    ("fargate-pid-mode-host", [], "register_task_definition", fargate(pidMode="host"),
     error("ClientException",
           "Tasks using the Fargate launch type do not support pidMode 'host'. The supported value for pidMode is 'task'.")),
    ("fargate-ipc-mode", [], "register_task_definition", fargate(ipcMode="task"),
     error("ClientException", "Tasks using the Fargate launch type do not support ipcMode.")),
    ("fargate-bridge", [], "register_task_definition", fargate(networkMode="bridge"),
     error("ClientException", "Fargate only supports network mode \u2018awsvpc\u2019.")),
    # An empty container list (awsdocs/aws-cloudformation-user-guide#454).
    ("no-containers", [], "register_task_definition", {"family": "f", "containerDefinitions": []},
     error("ClientException", "Container list cannot be empty.")),
    # DeleteTaskDefinitions answers per item: an ACTIVE revision, a missing one and an identifier
    # naming no revision are failures beside what it deleted (delete-task-definitions.rst shows
    # "failures": []).
    ("delete-per-item", [REGISTER, REGISTER, ("deregister_task_definition", {"taskDefinition": "sleep360:1"})],
     "delete_task_definitions", {"taskDefinitions": ["sleep360:1", "sleep360:2", "sleep360:9", "sleep360"]},
     {"taskDefinitions": [sleep360("DELETE_IN_PROGRESS", deregisteredAt="<time>", deleteRequestedAt="<time>")],
      "failures": [
          {"arn": "sleep360", "reason": "Invalid revision number. Number: sleep360. You must specify a task "
                                        "definition as family:revision or a full ARN."},
          {"arn": f"{PREFIX}task-definition/sleep360:2",
           "reason": "The specified task definition is still in ACTIVE status. Please deregister the target and try again."},
          {"arn": f"{PREFIX}task-definition/sleep360:9", "reason": "The specified task definition does not exist."},
      ]}),
    ("describe-missing", [], "describe_task_definition", {"taskDefinition": "nothing:1"},
     error("ClientException", "Unable to describe task definition.")),
]


@pytest.mark.parametrize("name,setup,operation,request_,expected", CASES, ids=[c[0] for c in CASES])
def test_task_definition_answers_as_ecs_writes_them(ecs, name, setup, operation, request_, expected):
    for step, arguments in setup:
        getattr(ecs, step)(**arguments)
    assert outcome(ecs, operation, request_) == expected
