"""Container instances: ECS's own answers and refusals, word for word, for the requests that
need no agent (each case names where ECS's words were seen)."""

import pytest

from fidelity import error, outcome

# (name, operation, request, expected answer)
CASES = [
    # getmoto/moto#2473 and gchq/sleeper#3387 quote ECS's refusal of an empty list.
    ("describe-empty", "describe_container_instances", {"containerInstances": []},
     error("InvalidParameterException", "Container instance cannot be empty.")),
    ("describe-missing", "describe_container_instances", {"containerInstances": ["0" * 32]},
     {"containerInstances": [], "failures": [
         {"arn": "arn:aws:ecs:us-east-1:000000000000:container-instance/default/<id>", "reason": "MISSING"}]}),
    # The model documents "a list of up to 10"; minamijoyo/myaws#25 quotes ECS's words.
    ("update-state-eleven", "update_container_instances_state",
     {"containerInstances": [f"{i:032x}" for i in range(11)], "status": "DRAINING"},
     error("InvalidParameterException", "instanceIds can have at most 10 items.")),
    # list-container-instances.rst: an empty cluster lists nothing.
    ("list-empty", "list_container_instances", {}, {"containerInstanceArns": []}),
]


@pytest.mark.parametrize("name,operation,request_,expected", CASES, ids=[c[0] for c in CASES])
def test_container_instance_answers_as_ecs_writes_them(ecs, name, operation, request_, expected):
    ecs.create_cluster()
    assert outcome(ecs, operation, request_) == expected
