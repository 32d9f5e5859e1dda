"""Tasks on real Docker: `berth server` plus `berth agent` processes, driven through boto3 and
aws-cli with the berth-demo image. Every container a test starts is removed afterwards (each
test uses its own cluster, and its containers carry the cluster's name as a label)."""

import datetime
import http.client
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY, sign, stop_process


@pytest.fixture(scope="session")
def demo_image(berth_binary, docker_engine):
    subprocess.run([str(berth_binary), "demo", "image"], check=True, capture_output=True)
    return "berth-demo:latest"


def remove_cluster_containers(cluster):
    """Removes the cluster's containers until none has appeared for a second: a create the agent
    sent just before it stopped can still complete in the Engine afterwards."""
    quiet = 0
    for _ in range(40):
        ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.amazonaws.ecs.cluster={cluster}"],
                             capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
            quiet = 0
        else:
            quiet += 1
            if quiet >= 4:
                break
        time.sleep(0.25)
    volumes = subprocess.run(["docker", "volume", "ls", "-q", "--filter", f"label=com.amazonaws.ecs.cluster={cluster}"],
                             capture_output=True, text=True).stdout.split()
    if volumes:
        subprocess.run(["docker", "volume", "rm", "-f", *volumes], capture_output=True)


class Agent:
    """One `berth agent` process with its own data directory (so its own container instance)."""

    def __init__(self, binary, server, cluster, data_dir, extra=(), credentials_file=None, log_file=None):
        self.command = [str(binary), "agent", "--server", server.url, "--cluster", cluster,
                        "--data-dir", str(data_dir), "--task-cleanup-wait", "0", *extra]
        # Agents sign their channel with the account's credentials, found as aws-cli finds them.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.env["AWS_SHARED_CREDENTIALS_FILE"] = str(credentials_file or server.data_dir / "credentials")
        self.data_dir = Path(data_dir)
        self.log_file = log_file
        self.process = None

    def instance_arn(self):
        """The container instance this agent registered as, from its journal."""
        return json.loads((self.data_dir / "agent-state.json").read_text())["containerInstanceArn"]

    def start(self):
        log = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=log, env=self.env)
        finally:
            if self.log_file:
                log.close()

    def kill9(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self):
        stop_process(self.process)


@pytest.fixture
def cluster(berth, berth_binary, demo_image):
    """A fresh cluster with one connected agent; yields (name, ecs client, agent factory)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    ecs = berth.client()
    ecs.create_cluster(clusterName=name)
    agents = []
    workdir = tempfile.TemporaryDirectory(prefix="berth-agent-")

    def add_agent(*extra):
        agent = Agent(berth_binary, berth, name, Path(workdir.name) / f"agent{len(agents)}", extra)
        agent.start()
        agents.append(agent)
        wait_for(lambda: len(connected_instances(ecs, name)) == len(agents), "agent registration")
        return agent

    add_agent()
    try:
        yield name, ecs, add_agent, agents
    finally:
        for agent in agents:
            agent.stop()
        remove_cluster_containers(name)
        workdir.cleanup()


def connected_instances(ecs, cluster):
    arns = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
    if not arns:
        return []
    described = ecs.describe_container_instances(cluster=cluster, containerInstances=arns)["containerInstances"]
    return [i for i in described if i["agentConnected"]]


def wait_for(condition, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def register(ecs, family="web", **container):
    definition = {"name": "web", "image": "berth-demo:latest", "memory": 64,
                  "portMappings": [{"containerPort": 8080}], **container}
    return ecs.register_task_definition(family=family, containerDefinitions=[definition])["taskDefinition"]


def describe(ecs, cluster, arn):
    return ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]


def wait_status(ecs, cluster, arn, status, timeout=30):
    return wait_for(lambda: (t := describe(ecs, cluster, arn))["lastStatus"] == status and t, f"task {status}", timeout)


def http_get(port, path="/"):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body


def docker_inspect(runtime_id):
    done = subprocess.run(["docker", "inspect", runtime_id], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)[0]


def engine_time(stamp):
    """A Docker timestamp (RFC 3339 with up to nanoseconds, `Z` or an offset) in nanoseconds
    since the epoch."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)", stamp)
    assert match, stamp
    whole, fraction, zone = match.groups()
    seconds = datetime.datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone)).timestamp()
    return int(seconds) * 1_000_000_000 + int((fraction or "").ljust(9, "0"))


def container_state(runtime_id):
    return subprocess.run(["docker", "inspect", "-f", "{{.State.Status}}", runtime_id],
                          capture_output=True, text=True).stdout.strip()


def test_a_task_runs_serves_and_stops(berth, cluster):
    name, ecs, _, _ = cluster
    register(ecs)
    run = ecs.run_task(cluster=name, taskDefinition="web", startedBy="e2e", group="g1",
                       tags=[{"key": "k", "value": "v"}])
    assert run["failures"] == []
    [task] = run["tasks"]
    assert task["lastStatus"] == "PROVISIONING" and task["desiredStatus"] == "RUNNING"
    assert task["launchType"] == "EC2" and task["group"] == "g1" and task["startedBy"] == "e2e"
    arn = task["taskArn"]
    assert arn.startswith(f"arn:aws:ecs:us-east-1:000000000000:task/{name}/") and len(arn.rsplit("/", 1)[1]) == 32

    berth.aws("ecs", "wait", "tasks-running", "--cluster", name, "--tasks", arn)
    running = describe(ecs, name, arn)
    container = running["containers"][0]
    assert container["lastStatus"] == "RUNNING" and container["runtimeId"]
    for stamp in ("createdAt", "pullStartedAt", "pullStoppedAt", "startedAt"):
        assert stamp in running, stamp
    assert running["version"] > task["version"]
    [binding] = container["networkBindings"]
    assert binding["containerPort"] == 8080 and binding["protocol"] == "tcp"
    status, body = http_get(binding["hostPort"])
    assert status == 200 and b"berth-demo" in body

    labels = subprocess.run(["docker", "inspect", "-f", "{{json .Config.Labels}}", container["runtimeId"]],
                            capture_output=True, text=True).stdout
    for label in ["com.amazonaws.ecs.cluster", "com.amazonaws.ecs.task-arn", "com.amazonaws.ecs.container-name",
                  "com.amazonaws.ecs.task-definition-family", "com.amazonaws.ecs.task-definition-version"]:
        assert label in labels

    assert ecs.list_tasks(cluster=name)["taskArns"] == [arn]
    assert ecs.list_tasks(cluster=name, startedBy="e2e")["taskArns"] == [arn]
    assert ecs.list_tasks(cluster=name, family="web")["taskArns"] == [arn]
    assert ecs.list_tasks(cluster=name, family="other")["taskArns"] == []
    assert ecs.describe_tasks(cluster=name, tasks=[arn], include=["TAGS"])["tasks"][0]["tags"] == [{"key": "k", "value": "v"}]
    cluster_view = ecs.describe_clusters(clusters=[name])["clusters"][0]
    assert cluster_view["runningTasksCount"] == 1 and cluster_view["registeredContainerInstancesCount"] == 1
    assert connected_instances(ecs, name)[0]["runningTasksCount"] == 1

    stopped = ecs.stop_task(cluster=name, task=arn, reason="done here")["task"]
    assert stopped["desiredStatus"] == "STOPPED"
    berth.aws("ecs", "wait", "tasks-stopped", "--cluster", name, "--tasks", arn)
    final = describe(ecs, name, arn)
    assert final["stopCode"] == "UserInitiated" and final["stoppedReason"] == "done here"
    assert final["containers"][0]["exitCode"] == 0
    for stamp in ("stoppingAt", "executionStoppedAt", "stoppedAt"):
        assert stamp in final, stamp
    assert ecs.list_tasks(cluster=name)["taskArns"] == []
    assert ecs.list_tasks(cluster=name, desiredStatus="STOPPED")["taskArns"] == [arn]
    instance = connected_instances(ecs, name)[0]
    assert (instance["runningTasksCount"], instance["pendingTasksCount"]) == (0, 0)
    remaining = {r["name"]: r for r in instance["remainingResources"]}
    registered = {r["name"]: r for r in instance["registeredResources"]}
    assert remaining["MEMORY"]["integerValue"] == registered["MEMORY"]["integerValue"]


def test_an_essential_container_exit_stops_the_task(cluster):
    name, ecs, _, _ = cluster
    register(ecs)
    arn = ecs.run_task(cluster=name, taskDefinition="web", overrides={
        "containerOverrides": [{"name": "web", "command": ["exit", "3", "--after", "0.5"]}]})["tasks"][0]["taskArn"]
    task = wait_status(ecs, name, arn, "STOPPED")
    assert task["stopCode"] == "EssentialContainerExited"
    assert task["stoppedReason"] == "Essential container in task exited"
    assert task["containers"][0]["exitCode"] == 3


def test_docker_kill_is_reported_with_exit_code_137(cluster):
    name, ecs, _, _ = cluster
    register(ecs)
    arn = ecs.run_task(cluster=name, taskDefinition="web")["tasks"][0]["taskArn"]
    task = wait_status(ecs, name, arn, "RUNNING")
    subprocess.run(["docker", "kill", task["containers"][0]["runtimeId"]], check=True, capture_output=True)
    task = wait_status(ecs, name, arn, "STOPPED")
    assert task["stopCode"] == "EssentialContainerExited"
    assert task["containers"][0]["exitCode"] == 137


def test_a_missing_image_fails_the_task_with_cannot_pull(cluster):
    name, ecs, _, _ = cluster
    register(ecs, family="ghost", image="berth-no-such-image:never")
    arn = ecs.run_task(cluster=name, taskDefinition="ghost")["tasks"][0]["taskArn"]
    task = wait_status(ecs, name, arn, "STOPPED")
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].startswith("CannotPullContainerError:")


def test_tasks_that_fit_nowhere_are_failures(cluster):
    name, ecs, _, _ = cluster
    register(ecs, family="huge", memory=10_000_000)
    result = ecs.run_task(cluster=name, taskDefinition="huge")
    assert result["tasks"] == [] and [f["reason"] for f in result["failures"]] == ["RESOURCE:MEMORY"]
    register(ecs, family="static", portMappings=[{"containerPort": 8080, "hostPort": 18080}])
    result = ecs.run_task(cluster=name, taskDefinition="static", count=2)
    assert len(result["tasks"]) == 1 and [f["reason"] for f in result["failures"]] == ["RESOURCE:PORTS"]
    ecs.create_cluster(clusterName=name + "-empty")
    with pytest.raises(ClientError) as excinfo:
        ecs.run_task(cluster=name + "-empty", taskDefinition="static")
    assert excinfo.value.response["Error"]["Code"] == "InvalidParameterException"
    assert excinfo.value.response["Error"]["Message"] == "No Container Instances were found in your cluster."
    for bad in ({"count": 11}, {"count": 0}):
        with pytest.raises(ClientError) as excinfo:
            ecs.run_task(cluster=name, taskDefinition="static", **bad)
        assert excinfo.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        ecs.run_task(cluster="nope", taskDefinition="static")
    assert excinfo.value.response["Error"]["Code"] == "ClusterNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        ecs.run_task(cluster=name, taskDefinition="never-registered")
    assert excinfo.value.response["Error"]["Code"] == "ClientException"
    missing = ecs.describe_tasks(cluster=name, tasks=["0" * 32])
    assert missing["failures"][0]["reason"] == "MISSING"
    # ECS refuses an empty list rather than describing nothing.
    with pytest.raises(ClientError) as excinfo:
        ecs.describe_tasks(cluster=name, tasks=[])
    assert excinfo.value.response["Error"]["Code"] == "InvalidParameterException"
    assert excinfo.value.response["Error"]["Message"] == "Tasks cannot be empty."
    with pytest.raises(ClientError) as excinfo:
        ecs.stop_task(cluster=name, task="0" * 32)
    assert excinfo.value.response["Error"]["Code"] == "InvalidParameterException"


def test_client_token_makes_run_task_idempotent(cluster):
    name, ecs, _, _ = cluster
    register(ecs)
    first = ecs.run_task(cluster=name, taskDefinition="web", clientToken="tok-1")["tasks"][0]["taskArn"]
    again = ecs.run_task(cluster=name, taskDefinition="web", clientToken="tok-1")["tasks"][0]["taskArn"]
    assert first == again
    assert len(ecs.list_tasks(cluster=name)["taskArns"]) == 1
    with pytest.raises(ClientError) as excinfo:
        ecs.run_task(cluster=name, taskDefinition="web", clientToken="tok-1", startedBy="someone-else")
    assert excinfo.value.response["Error"]["Code"] == "ConflictException"


def test_a_killed_agent_readopts_its_containers(cluster):
    name, ecs, _, agents = cluster
    register(ecs)
    arn = ecs.run_task(cluster=name, taskDefinition="web")["tasks"][0]["taskArn"]
    task = wait_status(ecs, name, arn, "RUNNING")
    runtime_id = task["containers"][0]["runtimeId"]
    instance_arn = task["containerInstanceArn"]

    agents[0].kill9()
    wait_for(lambda: not connected_instances(ecs, name), "the agent to be seen as disconnected")
    assert container_state(runtime_id) == "running"
    unplaced = ecs.run_task(cluster=name, taskDefinition="web")
    assert unplaced["tasks"] == [] and [f["reason"] for f in unplaced["failures"]] == ["AGENT"]
    agents[0].start()
    wait_for(lambda: connected_instances(ecs, name), "the agent to reconnect")
    assert ecs.list_container_instances(cluster=name)["containerInstanceArns"] == [instance_arn]
    # The restarted agent has taken up its state when a task run after it is RUNNING: the first
    # is still RUNNING by then, on the same container.
    second = ecs.run_task(cluster=name, taskDefinition="web")["tasks"][0]["taskArn"]
    wait_status(ecs, name, second, "RUNNING")
    assert describe(ecs, name, arn)["lastStatus"] == "RUNNING"
    ids = subprocess.run(["docker", "ps", "-q", "--filter", f"label=com.amazonaws.ecs.task-arn={arn}"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert len(ids) == 1 and runtime_id.startswith(ids[0])

    ecs.stop_task(cluster=name, task=arn)
    assert wait_status(ecs, name, arn, "STOPPED")["containers"][0]["exitCode"] == 0


def test_tasks_keep_running_while_the_control_plane_is_away(berth, cluster):
    name, ecs, _, _ = cluster
    register(ecs)
    arn = ecs.run_task(cluster=name, taskDefinition="web", overrides={
        "containerOverrides": [{"name": "web", "command": ["exit", "4", "--after", "5"]}]})["tasks"][0]["taskArn"]
    task = wait_status(ecs, name, arn, "RUNNING")
    berth.kill9()
    # The container exits while nobody is listening; the agent keeps the report.
    runtime_id = task["containers"][0]["runtimeId"]
    # (Gone counts as exited: its removal would follow the exit.)
    wait_for(lambda: container_state(runtime_id) in ("exited", ""), "the container to exit with the server away")
    berth.start()
    ecs = berth.client()
    task = wait_status(ecs, name, arn, "STOPPED", timeout=30)
    assert task["containers"][0]["exitCode"] == 4 and task["stopCode"] == "EssentialContainerExited"


def test_two_agents_are_two_instances_and_draining_takes_no_new_tasks(cluster):
    name, ecs, add_agent, _ = cluster
    add_agent("--az", "us-east-1b", "--attribute", "team=core")
    instances = connected_instances(ecs, name)
    assert len(instances) == 2
    second = [i for i in instances if {"name": "team", "value": "core"} in i["attributes"]]
    assert len(second) == 1
    attributes = {a["name"]: a.get("value") for a in second[0]["attributes"]}
    assert attributes["ecs.availability-zone"] == "us-east-1b" and attributes["ecs.os-type"] == "linux"
    assert "ecs.capability.container-health-check" in attributes

    first_arn = next(i["containerInstanceArn"] for i in instances if i is not second[0])
    drained = ecs.update_container_instances_state(cluster=name, containerInstances=[first_arn], status="DRAINING")
    assert drained["containerInstances"][0]["status"] == "DRAINING"
    register(ecs)
    placed = ecs.run_task(cluster=name, taskDefinition="web", count=3)["tasks"]
    assert {t["containerInstanceArn"] for t in placed} == {second[0]["containerInstanceArn"]}
    assert {t["availabilityZone"] for t in placed} == {"us-east-1b"}
    assert ecs.list_container_instances(cluster=name, status="DRAINING")["containerInstanceArns"] == [first_arn]

    with pytest.raises(ClientError) as excinfo:
        ecs.deregister_container_instance(cluster=name, containerInstance=second[0]["containerInstanceArn"])
    assert excinfo.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        ecs.delete_cluster(cluster=name)
    assert excinfo.value.response["Error"]["Code"] == "ClusterContainsContainerInstancesException"
    gone = ecs.deregister_container_instance(cluster=name, containerInstance=second[0]["containerInstanceArn"], force=True)
    assert gone["containerInstance"]["status"] == "INACTIVE"
    for task in placed:
        assert describe(ecs, name, task["taskArn"])["lastStatus"] == "STOPPED"
    wait_for(lambda: not subprocess.run(["docker", "ps", "-q", "--filter", f"label=com.amazonaws.ecs.cluster={name}"],
                                        capture_output=True, text=True).stdout.strip(), "orphaned containers to stop")


def container_env(runtime_id):
    out = subprocess.run(["docker", "inspect", "-f", "{{json .Config.Env}}", runtime_id],
                         capture_output=True, text=True, check=True).stdout
    return dict(item.split("=", 1) for item in __import__("json").loads(out))


def get_json(url):
    import json
    import urllib.request
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_the_task_metadata_endpoint_v4(cluster):
    name, ecs, _, _ = cluster
    register(ecs)
    arn = ecs.run_task(cluster=name, taskDefinition="web")["tasks"][0]["taskArn"]
    task = wait_status(ecs, name, arn, "RUNNING")
    container = task["containers"][0]
    uri = container_env(container["runtimeId"])["ECS_CONTAINER_METADATA_URI_V4"]

    own = get_json(uri)
    assert own["DockerId"] == container["runtimeId"] and own["Name"] == "web"
    assert own["ContainerARN"] == container["containerArn"]
    assert own["KnownStatus"] == "RUNNING" and own["Image"] == "berth-demo:latest"
    assert own["Ports"][0]["HostPort"] == container["networkBindings"][0]["hostPort"]
    assert own["Labels"]["com.amazonaws.ecs.task-arn"] == arn
    assert own["LogDriver"] == "json-file" and "LogOptions" not in own
    whole = get_json(uri + "/task")
    assert whole["TaskARN"] == arn and whole["Family"] == "web" and whole["Cluster"] == name
    assert [c["Name"] for c in whole["Containers"]] == ["web"]
    stats = get_json(uri + "/stats")
    assert "memory_stats" in stats and "cpu_stats" in stats
    assert container["runtimeId"] in get_json(uri + "/task/stats")

    # Reachable from inside a container, too: a task that checks the URL exits 0.
    register(ecs, family="checker", portMappings=[])
    checker = ecs.run_task(cluster=name, taskDefinition="checker", overrides={
        "containerOverrides": [{"name": "web", "command": ["check", uri + "/task"]}]})["tasks"][0]["taskArn"]
    assert wait_status(ecs, name, checker, "STOPPED")["containers"][0]["exitCode"] == 0


def test_a_container_over_its_memory_limit_is_oom_killed(cluster):
    name, ecs, _, _ = cluster
    register(ecs, family="small", memory=24)
    arn = ecs.run_task(cluster=name, taskDefinition="small")["tasks"][0]["taskArn"]
    task = wait_status(ecs, name, arn, "RUNNING")
    port = task["containers"][0]["networkBindings"][0]["hostPort"]
    try:
        http_get(port, "/alloc?mb=256")
    except (ConnectionError, http.client.HTTPException, OSError):
        pass  # the kernel kills the process mid-request
    task = wait_status(ecs, name, arn, "STOPPED")
    container = task["containers"][0]
    assert container["reason"] == "OutOfMemoryError: Container killed due to memory usage"
    assert container["exitCode"] == 137
    assert task["stopCode"] == "EssentialContainerExited"


def test_health_checks_and_depends_on_healthy(cluster):
    name, ecs, _, _ = cluster
    check = {"command": ["CMD", "/berth-demo", "check", "http://127.0.0.1:8080/health"],
             "interval": 5, "timeout": 2, "retries": 2, "startPeriod": 0}
    ecs.register_task_definition(family="pair", containerDefinitions=[
        {"name": "db", "image": "berth-demo:latest", "memory": 32, "healthCheck": check,
         "portMappings": [{"containerPort": 8080}]},
        {"name": "app", "image": "berth-demo:latest", "memory": 32, "command": ["serve", "--port", "8081"],
         "dependsOn": [{"containerName": "db", "condition": "HEALTHY"}]},
    ])
    arn = ecs.run_task(cluster=name, taskDefinition="pair")["tasks"][0]["taskArn"]
    task = wait_status(ecs, name, arn, "RUNNING", timeout=60)
    by_name = {c["name"]: c for c in task["containers"]}
    assert by_name["db"]["healthStatus"] == "HEALTHY"
    db, app = (docker_inspect(by_name[c]["runtimeId"]) for c in ("db", "app"))
    # When db turned healthy, by Docker's own record: the end of its first passing check (the
    # first check runs one 5 s interval after db starts). app may start only after it.
    passed = [engine_time(e["End"]) for e in db["State"]["Health"]["Log"] if e["ExitCode"] == 0]
    assert passed, db["State"]["Health"]
    healthy_at = min(passed)
    assert healthy_at - engine_time(db["State"]["StartedAt"]) >= 4_000_000_000, "the first check waits an interval"
    assert engine_time(app["State"]["StartedAt"]) > healthy_at, "app must start only once db is healthy"
    assert wait_for(lambda: describe(ecs, name, arn)["healthStatus"] == "HEALTHY", "task health")

    port = by_name["db"]["networkBindings"][0]["hostPort"]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("POST", "/health/fail")
    connection.getresponse().read()
    connection.close()
    unhealthy = wait_for(lambda: (t := describe(ecs, name, arn))["healthStatus"] == "UNHEALTHY" and t,
                         "the task to turn unhealthy", timeout=40)
    assert {c["name"]: c["healthStatus"] for c in unhealthy["containers"]}["db"] == "UNHEALTHY"
    # A standalone task keeps running whatever its health, as in ECS.
    assert unhealthy["lastStatus"] == "RUNNING"


def agent_channel_upgrade(berth, access_key=None, secret_key=None):
    """The agent's WebSocket upgrade, signed as the agent signs it (with `access_key` and
    `secret_key` when given, unsigned otherwise); returns the status and the JSON body."""
    headers = {"Host": f"127.0.0.1:{berth.port}", "Connection": "Upgrade", "Upgrade": "websocket",
               "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    if access_key:
        headers = sign("GET", berth.url + "/agent/v1/connect", b"", headers, access_key=access_key,
                       secret_key=secret_key)
    connection = http.client.HTTPConnection("127.0.0.1", berth.port, timeout=5)
    connection.request("GET", "/agent/v1/connect", headers=headers)
    response = connection.getresponse()
    body = response.read() if response.status != 101 else b""  # a switched protocol has no body
    connection.close()
    return response.status, json.loads(body) if body else None


def test_agents_must_sign_their_channel_with_the_account_credentials(berth, berth_binary, cluster, tmp_path):
    name, ecs, _, _ = cluster
    # The server's refusal, as the agent meets it: an unknown key, a known key with the wrong
    # secret, no signature at all. Each is an AWS error naming why, and no upgrade.
    status, body = agent_channel_upgrade(berth, "AKIAWRONG", "nope")
    assert (status, body["__type"]) == (400, "UnrecognizedClientException"), body
    assert body["message"] == "The security token included in the request is invalid.", body
    status, body = agent_channel_upgrade(berth, ACCESS_KEY_ID, "not-the-secret")
    assert (status, body["__type"]) == (400, "InvalidSignatureException"), body
    assert body["message"].startswith("The request signature we calculated does not match the signature you "
                                      "provided."), body
    status, body = agent_channel_upgrade(berth)
    assert (status, body["__type"]) == (400, "MissingAuthenticationTokenException"), body
    # The right keys are let through to the upgrade itself.
    assert agent_channel_upgrade(berth, ACCESS_KEY_ID, SECRET_ACCESS_KEY)[0] == 101

    # A real agent with the wrong keys: it reports the refusal, and registers nothing.
    wrong = tmp_path / "credentials"
    wrong.write_text("[default]\naws_access_key_id = AKIAWRONG\naws_secret_access_key = nope\n")
    log = tmp_path / "impostor.log"
    impostor = Agent(berth_binary, berth, name, tmp_path / "impostor", credentials_file=wrong, log_file=log)
    impostor.start()
    try:
        wait_for(lambda: "400 Bad Request" in log.read_text(errors="replace"), "the impostor to be refused")
        assert impostor.process.poll() is None, "the agent keeps retrying"
    finally:
        impostor.stop()
    assert len(ecs.list_container_instances(cluster=name)["containerInstanceArns"]) == 1
    journal = tmp_path / "impostor" / "agent-state.json"
    if journal.exists():
        assert json.loads(journal.read_text()).get("containerInstanceArn") is None


def test_start_task_on_named_instances(cluster):
    name, ecs, add_agent, _ = cluster
    add_agent()
    instances = sorted(i["containerInstanceArn"] for i in connected_instances(ecs, name))
    register(ecs)
    started = ecs.start_task(cluster=name, taskDefinition="web", containerInstances=instances + ["f" * 32],
                             overrides={"containerOverrides": [{"name": "web", "environment": [{"name": "X", "value": "1"}]}]})
    assert sorted(t["containerInstanceArn"] for t in started["tasks"]) == instances
    assert [f["reason"] for f in started["failures"]] == ["MISSING"]
    for task in started["tasks"]:
        running = wait_status(ecs, name, task["taskArn"], "RUNNING")
        assert container_env(running["containers"][0]["runtimeId"])["X"] == "1"
        assert ecs.list_tasks(cluster=name, containerInstance=task["containerInstanceArn"])["taskArns"] == [task["taskArn"]]


def task_memory_cgroup(task_id):
    """Where the agent keeps a task's memory limit on this host, as (directory, limit file), or
    None when Docker's cgroup driver is not cgroupfs (the agent then caps each container at the
    task's size instead). cgroup v2 has one unified hierarchy; v1 a memory hierarchy of its own."""
    driver = subprocess.run(["docker", "info", "--format", "{{.CgroupDriver}}"],
                            capture_output=True, text=True, check=True).stdout.strip()
    if driver != "cgroupfs":
        return None
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        return Path("/sys/fs/cgroup/berth") / task_id, "memory.max"
    return Path("/sys/fs/cgroup/memory/berth") / task_id, "memory.limit_in_bytes"


def test_task_memory_limits_the_task_as_a_whole(cluster):
    name, ecs, _, _ = cluster
    # No container has a hard limit of its own; together they may use 96 MiB.
    ecs.register_task_definition(family="shared", memory="96", containerDefinitions=[
        {"name": "a", "image": "berth-demo:latest", "memoryReservation": 16, "portMappings": [{"containerPort": 8080}]},
        {"name": "b", "image": "berth-demo:latest", "memoryReservation": 16,
         "command": ["serve", "--port", "8081"], "portMappings": [{"containerPort": 8081}]},
    ])
    arn = ecs.run_task(cluster=name, taskDefinition="shared")["tasks"][0]["taskArn"]
    task_id = arn.rsplit("/", 1)[1]
    task = wait_status(ecs, name, arn, "RUNNING")
    ports = {c["name"]: c["networkBindings"][0]["hostPort"] for c in task["containers"]}
    host_configs = {c["name"]: docker_inspect(c["runtimeId"])["HostConfig"] for c in task["containers"]}
    layout = task_memory_cgroup(task_id)
    if layout is None:
        # systemd (or another) driver: no group of the agent's own; each container is held to
        # the task's size, so one container alone is killed beyond 96 MiB.
        for config in host_configs.values():
            assert (config["Memory"], config["CgroupParent"]) == (96 << 20, ""), config
        assert http_get(ports["b"], "/alloc?mb=56")[0] == 200
        over = ports["b"]
    else:
        group, limit_file = layout
        assert (group / limit_file).read_text().strip() == str(96 << 20)
        for config in host_configs.values():
            assert config["CgroupParent"] == f"/berth/{task_id}", config
        assert http_get(ports["b"], "/alloc?mb=56")[0] == 200  # fits in the task's 96 MiB
        over = ports["a"]  # together over 96 MiB: the task's cgroup kills one
    try:
        http_get(over, "/alloc?mb=56")
    except (ConnectionError, http.client.HTTPException, OSError):
        pass  # the kernel kills the process mid-request
    wait_for(lambda: (t := describe(ecs, name, arn))["lastStatus"] == "STOPPED"
             or any(c.get("reason", "").startswith("OutOfMemoryError") for c in t["containers"]), "an OOM kill")
    reasons = [c.get("reason", "") for c in describe(ecs, name, arn)["containers"]]
    assert any(r == "OutOfMemoryError: Container killed due to memory usage" for r in reasons), reasons
    # An essential container died, so the task stops, and its cgroup goes with its containers.
    wait_status(ecs, name, arn, "STOPPED")
    if layout is not None:
        wait_for(lambda: not layout[0].exists(), "the task's cgroup to be removed")


def test_custom_attributes(cluster):
    name, ecs, _, agents = cluster
    [instance] = connected_instances(ecs, name)
    arn = instance["containerInstanceArn"]
    ecs.put_attributes(cluster=name, attributes=[
        {"name": "stack", "value": "prod", "targetId": arn},
        {"name": "gpu-ready", "targetId": arn.rsplit("/", 1)[1]}])
    listed = ecs.list_attributes(cluster=name, targetType="container-instance", attributeName="stack")["attributes"]
    assert listed == [{"name": "stack", "value": "prod", "targetType": "container-instance", "targetId": arn}]
    assert ecs.list_attributes(cluster=name, targetType="container-instance", attributeName="stack",
                               attributeValue="dev")["attributes"] == []
    everything = [a for page in ecs.get_paginator("list_attributes").paginate(
        cluster=name, targetType="container-instance", PaginationConfig={"PageSize": 4}) for a in page["attributes"]]
    names = [a["name"] for a in everything]
    assert "ecs.os-type" in names and "gpu-ready" in names and len(names) == len(set(names))

    # Custom attributes outlive an agent restart (which re-registers the instance).
    agents[0].stop()
    agents[0].start()
    wait_for(lambda: connected_instances(ecs, name), "the agent to reconnect")
    described = connected_instances(ecs, name)[0]
    assert {"name": "stack", "value": "prod"} in described["attributes"]

    with pytest.raises(ClientError) as excinfo:
        ecs.put_attributes(cluster=name, attributes=[
            {"name": f"k{i}", "value": "v", "targetId": arn} for i in range(9)])
    assert excinfo.value.response["Error"]["Code"] == "AttributeLimitExceededException"
    with pytest.raises(ClientError) as excinfo:
        ecs.put_attributes(cluster=name, attributes=[{"name": "x", "value": "y", "targetId": "f" * 32}])
    assert excinfo.value.response["Error"]["Code"] == "TargetNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        ecs.put_attributes(cluster=name, attributes=[{"name": "bad name", "targetId": arn}])
    assert excinfo.value.response["Error"]["Code"] == "InvalidParameterException"

    ecs.delete_attributes(cluster=name, attributes=[{"name": "stack", "targetId": arn}])
    assert ecs.list_attributes(cluster=name, targetType="container-instance", attributeName="stack")["attributes"] == []


def test_placement_strategies_constraints_and_filters(cluster):
    name, ecs, add_agent, _ = cluster
    add_agent("--az", "us-east-1b", "--attribute", "tier=gold")
    instances = connected_instances(ecs, name)
    gold = next(i["containerInstanceArn"] for i in instances if {"name": "tier", "value": "gold"} in i["attributes"])
    plain = next(i["containerInstanceArn"] for i in instances if i["containerInstanceArn"] != gold)
    register(ecs, portMappings=[], memory=16)

    member_of = [{"type": "memberOf", "expression": "attribute:tier == gold"}]
    placed = ecs.run_task(cluster=name, taskDefinition="web", count=3, placementConstraints=member_of)["tasks"]
    assert {t["containerInstanceArn"] for t in placed} == {gold}

    spread = ecs.run_task(cluster=name, taskDefinition="web", count=4, group="spread",
                          placementStrategy=[{"type": "spread", "field": "instanceId"}])["tasks"]
    per_instance = [t["containerInstanceArn"] for t in spread]
    assert per_instance.count(gold) == 2 and per_instance.count(plain) == 2

    distinct = ecs.run_task(cluster=name, taskDefinition="web", count=3, group="one-each",
                            placementConstraints=[{"type": "distinctInstance"}])
    assert len({t["containerInstanceArn"] for t in distinct["tasks"]}) == 2
    assert {f["reason"] for f in distinct["failures"]} == {"DistinctInstance placement constraint unsatisfied."}

    no_match = ecs.run_task(cluster=name, taskDefinition="web",
                            placementConstraints=[{"type": "memberOf", "expression": "attribute:tier == platinum"}])
    assert no_match["tasks"] == [] and {f["reason"] for f in no_match["failures"]} == {"MemberOf placement constraint unsatisfied."}

    filtered = ecs.list_container_instances(cluster=name, filter="attribute:ecs.availability-zone == us-east-1b")
    assert filtered["containerInstanceArns"] == [gold]
    in_group = ecs.list_container_instances(cluster=name, filter="task:group == one-each")["containerInstanceArns"]
    assert sorted(in_group) == sorted([gold, plain])
    for bad in ["attribute:tier ==", "attribute:tier === gold", "(attribute:tier == gold"]:
        with pytest.raises(ClientError) as excinfo:
            ecs.list_container_instances(cluster=name, filter=bad)
        assert excinfo.value.response["Error"]["Code"] == "InvalidParameterException", bad
        assert "position" in excinfo.value.response["Error"]["Message"], bad
    with pytest.raises(ClientError) as excinfo:
        ecs.run_task(cluster=name, taskDefinition="web", placementStrategy=[{"type": "binpack", "field": "disk"}])
    assert excinfo.value.response["Error"]["Code"] == "InvalidParameterException"


def test_berth_plan_run_task_is_a_dry_run(berth, berth_binary, cluster):
    name, ecs, add_agent, _ = cluster
    # The plan is a signed request, made with the credentials aws-cli would find.
    env = dict(os.environ, AWS_SHARED_CREDENTIALS_FILE=str(berth.data_dir / "credentials"))
    add_agent("--attribute", "tier=gold", "--memory", "100")
    register(ecs, portMappings=[], memory=64)
    before = ecs.list_tasks(cluster=name)["taskArns"]
    done = subprocess.run([str(berth_binary), "plan", "run-task", "--server", berth.url, "--cluster", name,
                           "--task-definition", "web", "--count", "3",
                           "--placement-strategy", '[{"type": "binpack", "field": "memory"}]'],
                          capture_output=True, text=True, timeout=30, env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "would place 3 task(s)"
    assert "candidates:" in lines
    assert sum(" eligible" in line for line in lines) == 2
    assert ecs.list_tasks(cluster=name)["taskArns"] == before, "a plan starts nothing"

    refused = subprocess.run([str(berth_binary), "plan", "run-task", "--server", berth.url, "--cluster", name,
                              "--task-definition", "web", "--count", "1",
                              "--placement-constraints", '[{"type": "memberOf", "expression": "attribute:tier == gold"}]'],
                             capture_output=True, text=True, timeout=30, env=env)
    assert refused.returncode == 0, refused.stderr
    assert "rejected: MemberOf placement constraint unsatisfied." in refused.stdout
    bad = subprocess.run([str(berth_binary), "plan", "run-task", "--server", berth.url, "--cluster", name,
                          "--task-definition", "nope"], capture_output=True, text=True, timeout=30, env=env)
    assert bad.returncode != 0 and "ClientException" in bad.stderr
    too_many = subprocess.run([str(berth_binary), "plan", "run-task", "--server", berth.url, "--cluster", name,
                               "--task-definition", "web", "--count", "11"], capture_output=True, text=True, timeout=30, env=env)
    assert too_many.returncode != 0 and "InvalidParameterException" in too_many.stderr


def test_simulated_instances_run_the_lifecycle_without_containers(berth, berth_binary, tmp_path, docker_engine):
    ecs = berth.client()
    # Its own name: the check below asks Docker, which every test run on the machine shares.
    sim = f"sim-{uuid.uuid4().hex[:10]}"
    ecs.create_cluster(clusterName=sim)
    agent = Agent(berth_binary, berth, sim, tmp_path / "sim",
                  ("--simulate", "30", "--az", "us-east-1a,us-east-1b,us-east-1c", "--cpu", "1024", "--memory", "2048",
                   "--simulated-start-ms", "20"))
    agent.start()
    try:
        wait_for(lambda: len(ecs.list_container_instances(cluster=sim, maxResults=100)["containerInstanceArns"]) == 30,
                 "30 simulated instances")
        in_b = ecs.list_container_instances(cluster=sim, filter="attribute:ecs.availability-zone == us-east-1b")
        assert len(in_b["containerInstanceArns"]) == 10
        register(ecs, family="simweb", memory=512)
        run = ecs.run_task(cluster=sim, taskDefinition="simweb", count=10,
                           placementStrategy=[{"type": "spread", "field": "attribute:ecs.availability-zone"},
                                              {"type": "binpack", "field": "memory"}])
        assert run["failures"] == [] and len(run["tasks"]) == 10
        zones = [t["availabilityZone"] for t in run["tasks"]]
        assert sorted(zones.count(z) for z in ("us-east-1a", "us-east-1b", "us-east-1c")) == [3, 3, 4]
        arns = [t["taskArn"] for t in run["tasks"]]
        wait_for(lambda: all(t["lastStatus"] == "RUNNING" for t in ecs.describe_tasks(cluster=sim, tasks=arns)["tasks"]),
                 "simulated tasks to run")
        # binpack(memory) within a zone: 2048 MiB instances take four 512 MiB tasks before the next.
        assert len({t["containerInstanceArn"] for t in run["tasks"]}) == 3
        ecs.stop_task(cluster=sim, task=arns[0])
        assert wait_status(ecs, sim, arns[0], "STOPPED")["stopCode"] == "UserInitiated"
        ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.amazonaws.ecs.cluster={sim}"],
                             capture_output=True, text=True, check=True).stdout.split()
        assert ids == [], "simulated instances run no containers"
    finally:
        agent.stop()


def test_task_scoped_volumes_live_and_go_with_their_task(cluster):
    name, ecs, _, _ = cluster
    ecs.register_task_definition(
        family="vol",
        volumes=[{"name": "scratch", "dockerVolumeConfiguration": {"scope": "task", "driver": "local"}}],
        containerDefinitions=[{"name": "web", "image": "berth-demo:latest", "memory": 32,
                               "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/data"}]}])
    arn = ecs.run_task(cluster=name, taskDefinition="vol")["tasks"][0]["taskArn"]
    task = wait_status(ecs, name, arn, "RUNNING")

    def volumes():
        return subprocess.run(["docker", "volume", "ls", "-q", "--filter", f"label=com.amazonaws.ecs.task-arn={arn}"],
                              capture_output=True, text=True).stdout.split()

    [volume] = volumes()
    mounts = subprocess.run(["docker", "inspect", "-f", "{{json .Mounts}}", task["containers"][0]["runtimeId"]],
                            capture_output=True, text=True).stdout
    assert volume in mounts and "/data" in mounts
    ecs.stop_task(cluster=name, task=arn)
    wait_status(ecs, name, arn, "STOPPED")
    wait_for(lambda: volumes() == [], "the task's volume to be removed")


def test_concurrent_run_tasks_never_overcommit(berth, berth_binary, tmp_path):
    """Many RunTask calls at once plan on the control plane's in-memory view and re-check what
    they chose when they commit: together they fill the instances exactly, never beyond."""
    ecs = berth.client()
    race = f"race-{uuid.uuid4().hex[:10]}"
    ecs.create_cluster(clusterName=race)
    agent = Agent(berth_binary, berth, race, tmp_path / "race",
                  ("--simulate", "6", "--az", "us-east-1a,us-east-1b", "--cpu", "1024", "--memory", "1024",
                   "--simulated-start-ms", "10"))
    agent.start()
    try:
        wait_for(lambda: len(ecs.list_container_instances(cluster=race)["containerInstanceArns"]) == 6,
                 "6 simulated instances")
        register(ecs, family="racer", memory=256)
        results = []

        def launch():
            own = berth.client()
            for _ in range(3):
                results.append(own.run_task(cluster=race, taskDefinition="racer", count=5,
                                            placementStrategy=[{"type": "binpack", "field": "memory"}]))

        threads = [threading.Thread(target=launch) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        placed = [t for r in results for t in r["tasks"]]
        assert len(results) == 24 and len(placed) == 24, "six instances of 1024 MiB take 24 tasks of 256"
        assert {f["reason"] for r in results for f in r["failures"]} == {"RESOURCE:MEMORY"}
        per_instance = {}
        for task in placed:
            per_instance[task["containerInstanceArn"]] = per_instance.get(task["containerInstanceArn"], 0) + 1
        assert sorted(per_instance.values()) == [4] * 6
        described = ecs.describe_container_instances(
            cluster=race, containerInstances=list(per_instance))["containerInstances"]
        assert [next(r["integerValue"] for r in i["remainingResources"] if r["name"] == "MEMORY")
                for i in described] == [0] * 6
        cluster = ecs.describe_clusters(clusters=[race])["clusters"][0]
        assert cluster["pendingTasksCount"] + cluster["runningTasksCount"] == 24
        wait_for(lambda: ecs.describe_clusters(clusters=[race])["clusters"][0]["runningTasksCount"] == 24,
                 "all 24 tasks running")
    finally:
        agent.stop()


SSM = "arn:aws:ssm:us-east-1:000000000000:parameter/p"
# Features the agent cannot give a container. ECS accepts such definitions (an instance with the
# capability could run them); placement then says, before anything is launched, that no instance
# here can: the attribute the feature needs is missing, or there is no GPU.
UNRUNNABLE = [
    ("ssm-secrets", {"secrets": [{"name": "P", "valueFrom": SSM}]}, None, "ecs.capability.secrets.ssm.environment-variables"),
    ("asm-secrets", {"secrets": [{"name": "P", "valueFrom": "arn:aws:secretsmanager:us-east-1:000000000000:secret:p"}]},
     None, "ecs.capability.secrets.asm.environment-variables"),
    ("splunk", {"logConfiguration": {"logDriver": "splunk", "options": {"splunk-url": "https://s"}}}, None,
     "com.amazonaws.ecs.capability.logging-driver.splunk"),
    ("log-secrets", {"logConfiguration": {"logDriver": "json-file", "secretOptions": [{"name": "t", "valueFrom": SSM}]}},
     None, "ecs.capability.secrets.ssm.bootstrap.log-driver"),
    ("firelens", {"firelensConfiguration": {"type": "fluentbit"}}, None, "ecs.capability.firelens.fluentbit"),
    ("awsfirelens", {"logConfiguration": {"logDriver": "awsfirelens"}}, None,
     "com.amazonaws.ecs.capability.logging-driver.awsfirelens"),
    ("s3-env", {"environmentFiles": [{"value": "arn:aws:s3:::bucket/app.env", "type": "s3"}]}, None,
     "ecs.capability.env-files.s3"),
    ("registry-auth", {"repositoryCredentials": {"credentialsParameter": "arn:aws:secretsmanager:us-east-1:000000000000:secret:r"}},
     None, "com.amazonaws.ecs.capability.private-registry-authentication.secretsmanager"),
    ("gpu", {"resourceRequirements": [{"type": "GPU", "value": "1"}]}, None, None),
    ("s3-env-override", {}, {"environmentFiles": [{"value": "arn:aws:s3:::bucket/app.env", "type": "s3"}]},
     "ecs.capability.env-files.s3"),
    ("gpu-override", {}, {"resourceRequirements": [{"type": "GPU", "value": "1"}]}, None),
]


@pytest.mark.parametrize("family,container,override,attribute", UNRUNNABLE, ids=[u[0] for u in UNRUNNABLE])
def test_what_the_agent_cannot_run_is_refused_before_launch(cluster, family, container, override, attribute):
    name, ecs, _, _ = cluster
    [instance] = connected_instances(ecs, name)
    assert attribute is None or attribute not in {a["name"] for a in instance["attributes"]}
    definition = register(ecs, family=family, portMappings=[], **container)
    if override is None and attribute is not None:
        assert attribute in {a["name"] for a in definition["requiresAttributes"]}
    overrides = {"containerOverrides": [{"name": "web", **override}]} if override else {}
    run = ecs.run_task(cluster=name, taskDefinition=family, overrides=overrides)
    reason = "RESOURCE:GPU" if attribute is None else "ATTRIBUTE"
    assert run["tasks"] == [] and len(run["failures"]) == 1, run
    [failure] = run["failures"]
    assert (failure["arn"], failure["reason"]) == (instance["containerInstanceArn"], reason)
    if attribute is not None:
        assert failure["detail"] == f"the instance lacks the required attribute {attribute}"
    assert ecs.list_tasks(cluster=name, desiredStatus="STOPPED")["taskArns"] == []
    if override is None:
        # A service says why in its events, as ECS does, and starts nothing.
        ecs.create_service(cluster=name, serviceName=family, taskDefinition=family, desiredCount=1)
        instance_id = instance["containerInstanceArn"].rsplit("/", 1)[1]
        problem = ("has insufficient GPU units available" if attribute is None
                   else "is missing an attribute required by your task")
        expected = (f"(service {family}) was unable to place a task because no container instance met all of its "
                    f"requirements. The closest matching (container-instance {instance_id}) {problem}. For more "
                    "information, see the Troubleshooting section of the Amazon ECS Developer Guide.")
        wait_for(lambda: expected in [e["message"] for e in
                                      ecs.describe_services(cluster=name, services=[family])["services"][0]["events"]],
                 "the service's placement event")
        assert ecs.list_tasks(cluster=name)["taskArns"] == []
        ecs.delete_service(cluster=name, service=family, force=True)

