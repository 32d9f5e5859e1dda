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


RESOURCES = [{"name": "CPU", "type": "INTEGER", "integerValue": 1024},
             {"name": "MEMORY", "type": "INTEGER", "integerValue": 1024}]


def test_list_container_instances_combines_status_and_filter(ecs):
    """ListContainerInstances: `status` and a cluster query language `filter` both narrow the
    list, and together an instance must match both; without `status`, every instance that is
    not INACTIVE is listed (the API reference: "If you do not specify this parameter, the
    default is to include container instances set to all states other than INACTIVE")."""
    ecs.create_cluster()

    def register(stack):
        return ecs.register_container_instance(totalResources=RESOURCES, attributes=[
            {"name": "stack", "value": stack}])["containerInstance"]["containerInstanceArn"]

    blue_active, blue_draining, green_active = register("blue"), register("blue"), register("green")
    ecs.update_container_instances_state(containerInstances=[blue_draining], status="DRAINING")

    def listed(**arguments):
        return set(ecs.list_container_instances(**arguments)["containerInstanceArns"])

    blue = "attribute:stack == blue"
    assert listed(filter=blue) == {blue_active, blue_draining}
    assert listed(status="ACTIVE") == {blue_active, green_active}
    assert listed(status="ACTIVE", filter=blue) == {blue_active}
    assert listed(status="DRAINING", filter=blue) == {blue_draining}
    assert listed(status="DRAINING", filter="attribute:stack == green") == set()
