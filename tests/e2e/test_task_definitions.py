"""Task definitions through real clients: the full RegisterTaskDefinition input round-trips,
revisions, describe/list/deregister/delete, ECS's validation, concurrency and crash safety."""

import copy
import gzip
import json
import os
import threading
from pathlib import Path

import botocore
import pytest
from botocore.exceptions import ClientError

TD_ARN = "arn:aws:ecs:us-east-1:000000000000:task-definition/"


def error_of(excinfo):
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


def botocore_model():
    path = Path(botocore.__file__).parent / "data" / "ecs" / "2014-11-13" / "service-2.json.gz"
    with gzip.open(path) as f:
        return json.load(f)


def container(name="web", **fields):
    return {"name": name, "image": "berth-demo:latest", "memory": 128, **fields}


# A definition in bridge mode using every ContainerDefinition member bridge mode allows.
BRIDGE_DEFINITION = {
    "family": "everything-bridge",
    "taskRoleArn": "arn:aws:iam::000000000000:role/app",
    "executionRoleArn": "arn:aws:iam::000000000000:role/exec",
    "networkMode": "bridge",
    "containerDefinitions": [
        {
            "name": "web",
            "image": "berth-demo:latest",
            "repositoryCredentials": {"credentialsParameter": "arn:aws:secretsmanager:us-east-1:000000000000:secret:reg"},
            "cpu": 256,
            "memory": 512,
            "memoryReservation": 256,
            "links": ["sidecar:side"],
            "portMappings": [
                {"containerPort": 8080, "hostPort": 0, "protocol": "tcp", "name": "http", "appProtocol": "http"},
                {"containerPortRange": "9000-9010", "protocol": "udp"},
            ],
            "essential": True,
            "restartPolicy": {"enabled": True, "ignoredExitCodes": [0, 3], "restartAttemptPeriod": 60},
            "entryPoint": ["/berth-demo"],
            "command": ["serve", "--port", "8080"],
            "environment": [{"name": "MODE", "value": "prod"}, {"name": "EMPTY", "value": ""}],
            "environmentFiles": [{"value": "arn:aws:s3:::bucket/app.env", "type": "s3"}],
            "mountPoints": [{"sourceVolume": "data", "containerPath": "/data", "readOnly": False}],
            "volumesFrom": [{"sourceContainer": "sidecar", "readOnly": True}],
            "linuxParameters": {
                "capabilities": {"add": ["NET_ADMIN"], "drop": ["MKNOD"]},
                "devices": [{"hostPath": "/dev/null", "containerPath": "/dev/nothing", "permissions": ["read", "write"]}],
                "initProcessEnabled": True,
                "sharedMemorySize": 64,
                "tmpfs": [{"containerPath": "/scratch", "size": 32, "mountOptions": ["rw", "noexec"]}],
                "maxSwap": 0,
                "swappiness": 10,
            },
            "secrets": [
                {"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:us-east-1:000000000000:parameter/db"},
                {"name": "API_KEY", "valueFrom": "arn:aws:secretsmanager:us-east-1:000000000000:secret:api"},
            ],
            "dependsOn": [{"containerName": "sidecar", "condition": "HEALTHY"}],
            "startTimeout": 120,
            "stopTimeout": 30,
            "versionConsistency": "disabled",
            "hostname": "web.local",
            "user": "1000:1000",
            "workingDirectory": "/srv",
            "disableNetworking": False,
            "privileged": False,
            "readonlyRootFilesystem": True,
            "dnsServers": ["10.0.0.2"],
            "dnsSearchDomains": ["corp.example"],
            "extraHosts": [{"hostname": "db", "ipAddress": "10.0.0.10"}],
            "dockerSecurityOptions": ["no-new-privileges"],
            "interactive": False,
            "pseudoTerminal": False,
            "dockerLabels": {"team": "core", "com.example.tier": "web"},
            "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {"awslogs-group": "/berth/web", "awslogs-stream-prefix": "web"},
                "secretOptions": [{"name": "token", "valueFrom": "arn:aws:ssm:us-east-1:000000000000:parameter/t"}],
            },
            "healthCheck": {"command": ["CMD", "/berth-demo", "check", "http://127.0.0.1:8080/health"],
                            "interval": 10, "timeout": 3, "retries": 2, "startPeriod": 5},
            "systemControls": [{"namespace": "net.core.somaxconn", "value": "1024"}],
            "resourceRequirements": [{"value": "1", "type": "GPU"}],
            "credentialSpecs": ["credentialspec:file://spec.json"],
        },
        {
            "name": "sidecar",
            "image": "berth-demo:latest",
            "memory": 64,
            "essential": False,
            "healthCheck": {"command": ["CMD-SHELL", "true"]},
            "firelensConfiguration": {"type": "fluentbit", "options": {"enable-ecs-log-metadata": "true"}},
        },
    ],
    "volumes": [
        {"name": "data", "host": {"sourcePath": "/var/lib/app"}},
        {"name": "scratch", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": True, "driver": "local",
                                                        "driverOpts": {"type": "tmpfs"}, "labels": {"x": "y"}}},
        {"name": "shared", "efsVolumeConfiguration": {"fileSystemId": "fs-1", "rootDirectory": "/", "transitEncryption": "ENABLED",
                                                    "transitEncryptionPort": 2049,
                                                    "authorizationConfig": {"accessPointId": "fsap-1", "iam": "ENABLED"}}},
        {"name": "s3", "s3filesVolumeConfiguration": {"fileSystemArn": "arn:aws:s3files:us-east-1:000000000000:fs/x",
                                                     "rootDirectory": "/", "transitEncryptionPort": 2999,
                                                     "accessPointArn": "arn:aws:s3files:us-east-1:000000000000:ap/y"}},
        {"name": "win", "fsxWindowsFileServerVolumeConfiguration": {
            "fileSystemId": "fs-2", "rootDirectory": "share",
            "authorizationConfig": {"credentialsParameter": "arn:aws:ssm:us-east-1:000000000000:parameter/c", "domain": "corp"}}},
        {"name": "later", "configuredAtLaunch": True},
    ],
    "placementConstraints": [{"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t3.*"}],
    "requiresCompatibilities": ["EC2"],
    "cpu": "1024",
    "memory": "2048",
    "tags": [{"key": "app", "value": "everything"}],
    "pidMode": "task",
    "ipcMode": "task",
    "inferenceAccelerators": [{"deviceName": "dev0", "deviceType": "eia2.medium"}],
    "ephemeralStorage": {"sizeInGiB": 30},
    "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
    "enableFaultInjection": True,
}

# awsvpc mode brings what bridge mode cannot have: an App Mesh proxy configuration.
AWSVPC_DEFINITION = {
    "family": "everything-awsvpc",
    "networkMode": "awsvpc",
    "containerDefinitions": [container("app", portMappings=[{"containerPort": 8080}]), container("envoy", essential=False)],
    "proxyConfiguration": {"type": "APPMESH", "containerName": "envoy",
                           "properties": [{"name": "AppPorts", "value": "8080"}, {"name": "ProxyIngressPort", "value": "15000"}]},
    "requiresCompatibilities": ["EC2", "FARGATE"],
    "cpu": "0.5 vCPU",
    "memory": "1GB",
}


def assert_contains(given, returned, path="taskDefinition"):
    """Everything the caller gave comes back unchanged (ECS may add defaults beside it)."""
    if isinstance(given, dict):
        assert isinstance(returned, dict), path
        for key, value in given.items():
            assert key in returned, f"{path}.{key} was dropped"
            assert_contains(value, returned[key], f"{path}.{key}")
    elif isinstance(given, list):
        assert isinstance(returned, list) and len(given) == len(returned), path
        for index, (g, r) in enumerate(zip(given, returned)):
            assert_contains(g, r, f"{path}[{index}]")
    else:
        assert given == returned, f"{path}: sent {given!r}, got {returned!r}"


def test_the_round_trip_definitions_use_every_member_of_the_model():
    shapes = botocore_model()["shapes"]
    definitions = [BRIDGE_DEFINITION, AWSVPC_DEFINITION]
    used_top = set().union(*(d.keys() for d in definitions))
    assert set(shapes["RegisterTaskDefinitionRequest"]["members"]) == used_top
    used_container = set().union(*(c.keys() for d in definitions for c in d["containerDefinitions"]))
    assert set(shapes["ContainerDefinition"]["members"]) == used_container
    used_volume = set().union(*(v.keys() for v in BRIDGE_DEFINITION["volumes"]))
    assert set(shapes["Volume"]["members"]) == used_volume


@pytest.mark.parametrize("definition", [BRIDGE_DEFINITION, AWSVPC_DEFINITION], ids=["bridge", "awsvpc"])
def test_every_field_round_trips_exactly(ecs, definition):
    registered = ecs.register_task_definition(**copy.deepcopy(definition))
    described = ecs.describe_task_definition(taskDefinition=definition["family"], include=["TAGS"])
    given = {k: v for k, v in definition.items() if k not in ("tags", "cpu", "memory")}
    for response in (registered, described):
        assert_contains(given, response["taskDefinition"])
        assert response["tags"] == definition.get("tags", [])
    td = described["taskDefinition"]
    assert td["taskDefinitionArn"] == f"{TD_ARN}{definition['family']}:1"
    assert td["revision"] == 1 and td["status"] == "ACTIVE"
    assert td["registeredBy"] == "arn:aws:iam::000000000000:root"
    assert td["registeredAt"].year >= 2026


def test_task_size_and_defaults_are_normalised_as_ecs_shows_them(ecs):
    td = ecs.register_task_definition(**copy.deepcopy(AWSVPC_DEFINITION))["taskDefinition"]
    assert (td["cpu"], td["memory"]) == ("512", "1024")
    assert td["compatibilities"] == ["EC2", "FARGATE"]
    assert td["requiresAttributes"] == [{"name": "ecs.capability.task-eni"}]
    app = td["containerDefinitions"][0]
    assert app["portMappings"] == [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}]
    assert (app["cpu"], app["essential"], app["environment"], app["mountPoints"], app["volumesFrom"]) == (0, True, [], [], [])

    bridge = ecs.register_task_definition(family="plain", containerDefinitions=[
        container(healthCheck={"command": ["CMD-SHELL", "true"]}, dockerLabels={"a": "b"})])["taskDefinition"]
    assert bridge["compatibilities"] == ["EXTERNAL", "EC2"]
    assert bridge["containerDefinitions"][0]["healthCheck"] == {
        "command": ["CMD-SHELL", "true"], "interval": 30, "timeout": 5, "retries": 3}
    assert {a["name"] for a in bridge["requiresAttributes"]} == {
        "ecs.capability.container-health-check", "com.amazonaws.ecs.capability.docker-remote-api.1.18"}
    full = ecs.register_task_definition(**copy.deepcopy(BRIDGE_DEFINITION))["taskDefinition"]
    names = {a["name"] for a in full["requiresAttributes"]}
    for expected in ["com.amazonaws.ecs.capability.logging-driver.awslogs", "ecs.capability.execution-role-awslogs",
                     "com.amazonaws.ecs.capability.task-iam-role", "ecs.capability.secrets.ssm.environment-variables",
                     "ecs.capability.secrets.asm.environment-variables", "ecs.capability.container-ordering",
                     "com.amazonaws.ecs.capability.private-registry-authentication.secretsmanager",
                     "ecs.capability.efs", "ecs.capability.efsAuth"]:
        assert expected in names


def test_revisions_count_up_per_family_and_are_never_reused(ecs):
    for expected in (1, 2, 3):
        td = ecs.register_task_definition(family="app", containerDefinitions=[container()])["taskDefinition"]
        assert td["revision"] == expected
    assert ecs.register_task_definition(family="other", containerDefinitions=[container()])["taskDefinition"]["revision"] == 1
    ecs.deregister_task_definition(taskDefinition="app:3")
    deleted = ecs.delete_task_definitions(taskDefinitions=["app:3"])
    assert deleted["failures"] == []
    assert deleted["taskDefinitions"][0]["status"] == "DELETE_IN_PROGRESS"
    assert ecs.register_task_definition(family="app", containerDefinitions=[container()])["taskDefinition"]["revision"] == 4


def test_describe_by_family_revision_and_arn(ecs):
    for _ in range(3):
        ecs.register_task_definition(family="d", containerDefinitions=[container()])
    assert ecs.describe_task_definition(taskDefinition="d")["taskDefinition"]["revision"] == 3
    assert ecs.describe_task_definition(taskDefinition="d:2")["taskDefinition"]["revision"] == 2
    assert ecs.describe_task_definition(taskDefinition=TD_ARN + "d:1")["taskDefinition"]["revision"] == 1
    assert "tags" not in ecs.describe_task_definition(taskDefinition="d")

    deregistered = ecs.deregister_task_definition(taskDefinition="d:3")["taskDefinition"]
    assert deregistered["status"] == "INACTIVE" and "deregisteredAt" in deregistered
    # A bare family means its latest ACTIVE revision; an INACTIVE one stays describable by number.
    assert ecs.describe_task_definition(taskDefinition="d")["taskDefinition"]["revision"] == 2
    assert ecs.describe_task_definition(taskDefinition="d:3")["taskDefinition"]["status"] == "INACTIVE"
    ecs.deregister_task_definition(taskDefinition="d:2")
    ecs.deregister_task_definition(taskDefinition="d:1")
    for reference in ["d", "d:9", "nope", "d:0"]:
        with pytest.raises(ClientError) as excinfo:
            ecs.describe_task_definition(taskDefinition=reference)
        assert error_of(excinfo) == ("ClientException", "Unable to describe task definition."), reference


def test_deregister_and_delete_report_what_they_cannot_do(ecs):
    ecs.register_task_definition(family="x", containerDefinitions=[container()])
    ecs.register_task_definition(family="x", containerDefinitions=[container()])
    ecs.deregister_task_definition(taskDefinition="x:1")
    result = ecs.delete_task_definitions(taskDefinitions=["x:1", "x:2", "x:7"])
    assert [td["revision"] for td in result["taskDefinitions"]] == [1]
    failures = {f["arn"]: f["reason"] for f in result["failures"]}
    assert "ACTIVE status" in failures[TD_ARN + "x:2"]
    assert "does not exist" in failures[TD_ARN + "x:7"]
    assert ecs.describe_task_definition(taskDefinition="x:1")["taskDefinition"]["status"] == "DELETE_IN_PROGRESS"
    # An identifier naming no revision is that item's failure; the others are still deleted.
    ecs.deregister_task_definition(taskDefinition="x:2")
    result = ecs.delete_task_definitions(taskDefinitions=["x", "x:2"])
    assert [td["revision"] for td in result["taskDefinitions"]] == [2]
    assert [f["arn"] for f in result["failures"]] == ["x"]
    for call, kwargs in [
        (ecs.deregister_task_definition, {"taskDefinition": "x"}),
        (ecs.delete_task_definitions, {"taskDefinitions": [f"x:{i}" for i in range(1, 12)]}),
    ]:
        with pytest.raises(ClientError) as excinfo:
            call(**kwargs)
        assert error_of(excinfo)[0] == "InvalidParameterException", kwargs
    with pytest.raises(ClientError) as excinfo:
        ecs.deregister_task_definition(taskDefinition="x:40")
    assert error_of(excinfo)[0] == "ClientException"


def test_listing_filters_sorts_and_pages_exactly_once(berth, ecs):
    for family, count in [("alpha", 5), ("beta", 12), ("beta-2", 2), ("gamma", 1)]:
        for _ in range(count):
            ecs.register_task_definition(family=family, containerDefinitions=[container()])
    for revision in (2, 4):
        ecs.deregister_task_definition(taskDefinition=f"beta:{revision}")
    active_beta = [f"{TD_ARN}beta:{r}" for r in range(1, 13) if r not in (2, 4)]

    everything = berth.aws("ecs", "list-task-definitions", "--page-size", "3")["taskDefinitionArns"]
    families_in_order = [arn.split("/")[1].split(":")[0] for arn in everything]
    assert families_in_order == sorted(families_in_order) and len(everything) == 5 + 10 + 2 + 1
    assert berth.aws("ecs", "list-task-definitions", "--family-prefix", "beta", "--page-size", "4")["taskDefinitionArns"] == active_beta
    newest_first = berth.aws("ecs", "list-task-definitions", "--family-prefix", "beta", "--sort", "DESC", "--page-size", "4")
    assert newest_first["taskDefinitionArns"] == active_beta[::-1]
    inactive = ecs.list_task_definitions(familyPrefix="beta", status="INACTIVE")["taskDefinitionArns"]
    assert inactive == [f"{TD_ARN}beta:2", f"{TD_ARN}beta:4"]
    paginator = ecs.get_paginator("list_task_definitions")
    pages = list(paginator.paginate(sort="DESC", PaginationConfig={"PageSize": 5}))
    assert [a for p in pages for a in p["taskDefinitionArns"]] == everything[::-1]

    assert berth.aws("ecs", "list-task-definition-families", "--page-size", "1")["families"] == ["alpha", "beta", "beta-2", "gamma"]
    assert ecs.list_task_definition_families(familyPrefix="beta")["families"] == ["beta", "beta-2"]
    for revision in range(1, 3):
        ecs.deregister_task_definition(taskDefinition=f"beta-2:{revision}")
    assert ecs.list_task_definition_families(status="ACTIVE")["families"] == ["alpha", "beta", "gamma"]
    assert ecs.list_task_definition_families(status="INACTIVE")["families"] == ["beta-2"]
    with pytest.raises(ClientError) as excinfo:
        ecs.list_task_definitions(status="GONE")
    assert error_of(excinfo)[0] == "InvalidParameterException"


@pytest.mark.parametrize("definition, code, message", [
    ({"family": "bad name", "containerDefinitions": [container()]}, "ClientException", "Family contains invalid characters"),
    ({"family": "f", "containerDefinitions": []}, "ClientException", "Container list cannot be empty."),
    ({"family": "f", "containerDefinitions": [container(), container()]}, "ClientException", "Duplicate container name found: web."),
    ({"family": "f", "containerDefinitions": [container(essential=False)]}, "ClientException", "at least one essential container"),
    ({"family": "f", "containerDefinitions": [{"name": "web", "image": "i"}]}, "ClientException",
     "Invalid setting for container 'web'. At least one of 'memory' or 'memoryReservation' must be specified."),
    ({"family": "f", "networkMode": "awsvpc", "containerDefinitions": [container(portMappings=[{"containerPort": 80, "hostPort": 81}])]},
     "InvalidParameterException", "When networkMode=awsvpc, the host ports and container ports in port mappings must match."),
    ({"family": "f", "networkMode": "none", "containerDefinitions": [container(portMappings=[{"containerPort": 80}])]},
     "ClientException", "Port mappings are not supported when networkMode=none"),
    ({"family": "f", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256", "memory": "4096",
      "containerDefinitions": [container()]}, "ClientException",
     "No Fargate configuration exists for given values: 256 CPU, 4096 memory. See the Amazon ECS documentation for the valid values."),
    ({"family": "f", "requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "512", "containerDefinitions": [container()]},
     "ClientException", "Fargate only supports network mode \u2018awsvpc\u2019."),
    ({"family": "f", "containerDefinitions": [container(dependsOn=[{"containerName": "db", "condition": "START"}])]},
     "ClientException", "Container 'db' does not exist in the task definition."),
    ({"family": "f", "containerDefinitions": [container(healthCheck={"command": ["CMD", "true"], "timeout": 61})]},
     "ClientException", "'timeout' must be between 2 and 60"),
    ({"family": "f", "containerDefinitions": [container(ulimits=[{"name": "files", "softLimit": 1, "hardLimit": 1}])]},
     "InvalidParameterException", "Member must satisfy enum value set"),
    ({"family": "f", "networkMode": "overlay", "containerDefinitions": [container()]},
     "InvalidParameterException", "Value 'overlay' at 'networkMode' failed to satisfy constraint"),
    ({"family": "f", "containerDefinitions": [container()], "tags": [{"key": "k" * 129, "value": "v"}]},
     "InvalidParameterException", "Member must have length less than or equal to 128"),
])
def test_invalid_definitions_get_ecs_errors_and_register_nothing(ecs, definition, code, message):
    with pytest.raises(ClientError) as excinfo:
        ecs.register_task_definition(**definition)
    got_code, got_message = error_of(excinfo)
    assert got_code == code and message in got_message, (got_code, got_message)
    assert ecs.list_task_definitions()["taskDefinitionArns"] == []
    assert ecs.list_task_definition_families()["families"] == []


def test_the_cli_prints_ecs_errors(berth):
    done = berth.aws("ecs", "register-task-definition", "--family", "f", "--container-definitions",
                     json.dumps([{"name": "web", "image": "i"}]), check=False)
    assert done.returncode != 0
    assert "An error occurred (ClientException) when calling the RegisterTaskDefinition operation" in done.stderr


def test_concurrent_registrations_get_distinct_gapless_revisions(berth):
    revisions = []
    errors = []

    def register():
        try:
            client = berth.client()
            td = client.register_task_definition(family="race", containerDefinitions=[container()])
            revisions.append(td["taskDefinition"]["revision"])
        except Exception as err:  # surfaced through the assertion below
            errors.append(err)

    threads = [threading.Thread(target=register) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(revisions) == list(range(1, 51))


def test_an_acknowledged_registration_survives_kill_9(berth):
    ecs = berth.client()
    for _ in range(6):
        ecs.register_task_definition(family="durable", containerDefinitions=[container()])
    acknowledged = ecs.register_task_definition(family="durable", containerDefinitions=[container()],
                                                tags=[{"key": "k", "value": "v"}])["taskDefinition"]["revision"]
    berth.kill9()
    berth.start()
    ecs = berth.client()
    described = ecs.describe_task_definition(taskDefinition="durable", include=["TAGS"])
    assert described["taskDefinition"]["revision"] == acknowledged == 7
    assert described["tags"] == [{"key": "k", "value": "v"}]
    nxt = ecs.register_task_definition(family="durable", containerDefinitions=[container()])["taskDefinition"]
    assert nxt["revision"] == acknowledged + 1
