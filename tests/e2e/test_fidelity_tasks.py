"""Tasks: ECS's own refusals, word for word, for requests its API turns away (each case names
where ECS's words were seen), and how ListTasks combines its filters."""

import pytest

from fidelity import error, outcome

LAUNCH_TYPES = "launch type should be one of [EC2,FARGATE,EXTERNAL,MANAGED_INSTANCES]"

# (name, calls made first, operation, request, expected answer)
CASES = [
    # ECS refuses an empty list rather than describing nothing (convox/rack#1908's log).
    ("describe-empty", [], "describe_tasks", {"tasks": []},
     error("InvalidParameterException", "Tasks cannot be empty.")),
    ("describe-missing", [], "describe_tasks", {"tasks": ["0" * 32]},
     {"tasks": [], "failures": [
         {"arn": "arn:aws:ecs:us-east-1:000000000000:task/default/<id>", "reason": "MISSING"}]}),
    # A task ARN of another cluster than the call's, in ECS's words for identifiers
    # (aws/aws-toolkit-vscode#2915, docker/compose-cli#2086).
    ("describe-other-clusters-arn", [], "describe_tasks",
     {"cluster": "default", "tasks": [f"arn:aws:ecs:us-east-1:000000000000:task/elsewhere/{'0' * 32}"]},
     error("InvalidParameterException", "Invalid identifier: Identifier is for cluster elsewhere. Your cluster is default")),
    # startedBy stands alone (aws/aws-sdk-go-v2#1893) and so does serviceName (boto/boto3#874).
    ("list-started-by-and-family", [], "list_tasks", {"startedBy": "me", "family": "web"},
     error("InvalidParameterException", "cannot specify startedBy with other arguments")),
    ("list-started-by-and-launch-type", [], "list_tasks", {"startedBy": "me", "launchType": "EC2"},
     error("InvalidParameterException", "cannot specify startedBy with other arguments")),
    ("list-service-and-instance", [], "list_tasks", {"serviceName": "web", "containerInstance": "0" * 32},
     error("InvalidParameterException", "cannot specify serviceName with other arguments")),
    ("list-service-and-family", [], "list_tasks", {"serviceName": "web", "family": "web"},
     error("InvalidParameterException", "cannot specify serviceName with other arguments")),
    # desiredStatus goes with either of them; nothing matches in an empty cluster.
    ("list-service-stopped", [], "list_tasks", {"serviceName": "web", "desiredStatus": "STOPPED"}, {"taskArns": []}),
    ("list-started-by-stopped", [], "list_tasks", {"startedBy": "me", "desiredStatus": "STOPPED"}, {"taskArns": []}),
    ("list-family-and-launch-type", [], "list_tasks", {"family": "web", "launchType": "EC2"}, {"taskArns": []}),
    # A launch type ECS does not have, in the words moto adopted for it (getmoto/moto#6161; no AWS
    # document words this refusal), listing the launch types of the model.
    ("run-unknown-launch-type", [], "run_task", {"taskDefinition": "web", "launchType": "EC3"},
     error("InvalidParameterException", LAUNCH_TYPES)),
    ("list-unknown-launch-type", [], "list_tasks", {"launchType": "EC3"},
     error("InvalidParameterException", LAUNCH_TYPES)),
    # A task ARN of another region or account names no task here: task protection refuses it
    # as DescribeTasks does, rather than acting on this region's task of that id.
    ("protect-other-regions-arn", [], "update_task_protection",
     {"cluster": "default", "tasks": [f"arn:aws:ecs:us-west-2:000000000000:task/default/{'0' * 32}"],
      "protectionEnabled": True},
     error("InvalidParameterException", "Invalid Region in ARN")),
    ("get-protection-other-regions-arn", [], "get_task_protection",
     {"cluster": "default", "tasks": [f"arn:aws:ecs:us-west-2:000000000000:task/default/{'0' * 32}"]},
     error("InvalidParameterException", "Invalid Region in ARN")),
    ("get-protection-other-accounts-arn", [], "get_task_protection",
     {"cluster": "default", "tasks": [f"arn:aws:ecs:us-east-1:111111111111:task/default/{'0' * 32}"]},
     error("InvalidParameterException", f"Invalid ARN: arn:aws:ecs:us-east-1:111111111111:task/default/{'0' * 32}")),
    ("get-protection-other-clusters-arn", [], "get_task_protection",
     {"cluster": "default", "tasks": [f"arn:aws:ecs:us-east-1:000000000000:task/elsewhere/{'0' * 32}"]},
     error("InvalidParameterException", "Invalid identifier: Identifier is for cluster elsewhere. Your cluster is default")),
]


@pytest.mark.parametrize("name,setup,operation,request_,expected", CASES, ids=[c[0] for c in CASES])
def test_task_answers_as_ecs_writes_them(ecs, name, setup, operation, request_, expected):
    ecs.create_cluster()
    for step, arguments in setup:
        getattr(ecs, step)(**arguments)
    assert outcome(ecs, operation, request_) == expected
