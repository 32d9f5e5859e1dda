"""The live event stream: ECS's EventBridge events ("ECS Task State Change", …) served as
Server-Sent Events at GET /berth/v1/events, signed as an `ecs` request, with resume from an event
id, and `berth events` printing them. A simulated agent (`berth agent --simulate 1`) moves tasks
through their lifecycle without Docker."""

import http.client
import json
import os
import select
import subprocess
import tempfile
import time

from conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY, sign, stop_process

EVENTS_PATH = "/berth/v1/events"
# ECS's task lifecycle, in order.
LIFECYCLE = ["PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING",
             "DEPROVISIONING", "STOPPED"]


def wait_for(condition, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def open_events(berth, query="", headers=None, signed=True):
    """A GET of the event stream; returns the open response."""
    path = EVENTS_PATH + (f"?{query}" if query else "")
    all_headers = dict(headers or {})
    if signed:
        all_headers = sign("GET", berth.url + path, b"", all_headers)
    connection = http.client.HTTPConnection("127.0.0.1", berth.port, timeout=30)
    connection.request("GET", path, headers=all_headers)
    return connection.getresponse()


def parse(text):
    """SSE messages as dicts of their fields (`data` decoded from JSON), comments skipped."""
    messages = []
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line.startswith(":") or ":" not in line:
                continue
            name, value = line.split(":", 1)
            fields[name] = value[1:] if value.startswith(" ") else value
        if "data" in fields:
            fields["data"] = json.loads(fields["data"])
            messages.append(fields)
    return messages


def history(berth, query="", headers=None):
    """Every kept event the query selects (follow=false ends the stream once caught up)."""
    response = open_events(berth, "follow=false" + (f"&{query}" if query else ""), headers)
    assert response.status == 200, response.read()
    assert response.getheader("Content-Type") == "text/event-stream"
    return parse(response.read().decode())


def read_until(response, messages, done, timeout=30):
    """Reads messages from a live stream into `messages` until `done(messages)` holds."""
    block = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = response.readline().decode()
        assert line, "the stream ended"
        if line.strip():
            block.append(line)
            continue
        messages.extend(parse("".join(block)))
        block = []
        if done(messages):
            return messages
    raise AssertionError(f"the stream did not deliver what was expected: {messages}")


def key(event_id):
    revision, index = event_id.split("-")
    return int(revision), int(index)


def statuses(messages, arn):
    """The task's lastStatus per event, repeats folded (container changes repeat a status)."""
    seen = []
    for message in messages:
        if message["data"]["resources"] == [arn] and message["event"] == "ECS Task State Change":
            status = message["data"]["detail"]["lastStatus"]
            if not seen or seen[-1] != status:
                seen.append(status)
    return seen


def start_agent(berth_binary, berth, cluster):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(berth.data_dir / "credentials")
    return subprocess.Popen(
        [str(berth_binary), "agent", "--server", berth.url, "--cluster", cluster, "--region", "us-east-1",
         "--simulate", "1", "--simulated-start-ms", "20", "--data-dir", tempfile.mkdtemp(prefix="berth-agent-")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def cli_env():
    return dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
                AWS_DEFAULT_REGION="us-east-1")


def test_a_tasks_state_changes_stream_in_order_and_resume_from_an_id(berth, berth_binary):
    ecs = berth.client()
    ecs.create_cluster(clusterName="evt")
    agent = start_agent(berth_binary, berth, "evt")
    try:
        wait_for(lambda: ecs.list_container_instances(cluster="evt")["containerInstanceArns"], "the instance")
        ecs.register_task_definition(family="evt", containerDefinitions=[
            {"name": "app", "image": "berth-demo:latest", "memory": 64}])
        live = open_events(berth, "cluster=evt")
        assert live.status == 200
        assert live.getheader("Content-Type") == "text/event-stream"
        task = ecs.run_task(cluster="evt", taskDefinition="evt")["tasks"][0]
        arn = task["taskArn"]
        messages = []
        read_until(live, messages, lambda m: "RUNNING" in statuses(m, arn))
        ecs.stop_task(cluster="evt", task=arn, reason="done with it")
        read_until(live, messages, lambda m: statuses(m, arn)[-1:] == ["STOPPED"])
        live.close()

        # The task's changes came in lifecycle order, from its launch to STOPPED.
        seen = statuses(messages, arn)
        assert seen[0] == task["lastStatus"] == "PROVISIONING"
        assert "RUNNING" in seen and seen[-1] == "STOPPED"
        assert [LIFECYCLE.index(s) for s in seen] == sorted(LIFECYCLE.index(s) for s in set(seen)), seen
        ids = [key(m["id"]) for m in messages]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        task_events = [m["data"] for m in messages if m["data"]["resources"] == [arn]]
        versions = [e["detail"]["version"] for e in task_events]
        assert versions == sorted(set(versions)), versions
        # EventBridge's envelope, and the task as DescribeTasks shows it.
        first, last = task_events[0], task_events[-1]
        assert {k: first[k] for k in ("version", "detail-type", "source", "account", "region")} == {
            "version": "0", "detail-type": "ECS Task State Change", "source": "aws.ecs",
            "account": arn.split(":")[4], "region": "us-east-1"}
        assert first["time"].endswith("Z") and len(first["time"]) == 20
        for field in ("taskArn", "clusterArn", "taskDefinitionArn", "containerInstanceArn", "group", "launchType"):
            assert first["detail"][field] == task[field], field
        assert first["detail"]["createdAt"].endswith("Z") and "T" in first["detail"]["createdAt"]
        assert first["detail"]["containers"][0]["name"] == "app"
        stopped = ecs.describe_tasks(cluster="evt", tasks=[arn])["tasks"][0]
        assert last["detail"]["desiredStatus"] == "STOPPED"
        assert last["detail"]["stoppedReason"] == stopped["stoppedReason"] == "done with it"
        assert last["detail"]["stopCode"] == "UserInitiated"
        assert last["detail"]["version"] == stopped["version"]
        # The instance's registration and the resources the task took are events too.
        instance = [m["data"]["detail"] for m in messages if m["event"] == "ECS Container Instance State Change"]
        assert instance and instance[0]["status"] == "ACTIVE" and instance[0]["agentConnected"] is True

        # The kept history is what the live stream delivered; resuming after an id (as a query
        # parameter or as the Last-Event-ID header an SSE client reconnects with) gives exactly
        # what followed it.
        kept = history(berth, "cluster=evt")
        assert [m["id"] for m in kept][:len(messages)] == [m["id"] for m in messages]
        running = next(m["id"] for m in kept if m["data"]["resources"] == [arn]
                       and m["data"]["detail"]["lastStatus"] == "RUNNING")
        followed = [m["id"] for m in kept if key(m["id"]) > key(running)]
        assert followed
        assert [m["id"] for m in history(berth, f"cluster=evt&after={running}")] == followed
        assert [m["id"] for m in history(berth, "cluster=evt", {"Last-Event-ID": running})] == followed
        assert history(berth, f"cluster=evt&after={kept[-1]['id']}") == []

        # An id from before what is kept (here: before this server's history began) gets a gap
        # event first, then everything kept.
        gap = history(berth, "cluster=evt&after=0-0")
        assert gap[0]["event"] == "gap" and "id" not in gap[0]
        assert "no longer kept" in gap[0]["data"]["message"]
        assert [m["id"] for m in gap[1:]] == [m["id"] for m in kept]

        # `berth events` prints the kept history, one line per event, and exits.
        done = subprocess.run([str(berth_binary), "events", "--server", berth.url, "--cluster", "evt"],
                              capture_output=True, text=True, env=cli_env(), timeout=30)
        assert done.returncode == 0, done.stderr
        task_path = arn.split(":", 5)[5]
        lines = [line for line in done.stdout.splitlines() if f"  {task_path}  " in line]
        printed = []
        for line in lines:
            assert "  ECS Task State Change  " in line, line
            status = line.split("lastStatus=")[1].split()[0]
            if not printed or printed[-1] != status:
                printed.append(status)
        assert printed == seen
        assert 'stoppedReason="done with it"' in lines[-1]
    finally:
        stop_process(agent)


def test_unsigned_and_malformed_requests_are_refused(berth):
    berth.client().list_clusters()
    unsigned = open_events(berth, "follow=false", signed=False)
    body = unsigned.read().decode()
    assert (unsigned.status, json.loads(body)["__type"]) == (400, "MissingAuthenticationTokenException"), body
    bad_id = open_events(berth, "follow=false&after=yesterday")
    assert bad_id.status == 400
    assert json.loads(bad_id.read())["__type"].endswith("InvalidParameterException")
    forged = sign("GET", berth.url + EVENTS_PATH + "?follow=false", b"", {}, secret_key="wrong")
    connection = http.client.HTTPConnection("127.0.0.1", berth.port, timeout=30)
    connection.request("GET", EVENTS_PATH + "?follow=false", headers=forged)
    refused = connection.getresponse()
    body = refused.read().decode()
    assert (refused.status, json.loads(body)["__type"]) == (400, "InvalidSignatureException"), body


def test_a_services_events_and_berth_events_follow(berth, berth_binary):
    ecs = berth.client()
    ecs.create_cluster(clusterName="svc-evt")
    agent = start_agent(berth_binary, berth, "svc-evt")
    follower = None
    try:
        wait_for(lambda: ecs.list_container_instances(cluster="svc-evt")["containerInstanceArns"], "the instance")
        ecs.register_task_definition(family="evt", containerDefinitions=[
            {"name": "app", "image": "berth-demo:latest", "memory": 64}])
        follower = subprocess.Popen(
            [str(berth_binary), "events", "--server", berth.url, "--cluster", "svc-evt", "--service", "web",
             "--follow", "--ids"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=cli_env())
        standalone = ecs.run_task(cluster="svc-evt", taskDefinition="evt")["tasks"][0]["taskArn"]
        service = ecs.create_service(cluster="svc-evt", serviceName="web", taskDefinition="evt",
                                     desiredCount=1)["service"]
        deployment = service["deployments"][0]["id"]

        def service_events():
            kept = history(berth, "cluster=svc-evt&service=web")
            running = [m for m in kept if m["event"] == "ECS Task State Change"
                       and m["data"]["detail"]["lastStatus"] == "RUNNING"]
            return running and kept

        kept = wait_for(service_events, "the service's task to run")
        # Only the service's own events and its tasks': never the standalone task's.
        assert all(m["data"]["resources"] != [standalone] for m in kept)
        started = {m["data"]["detail"]["taskArn"] for m in kept if m["event"] == "ECS Task State Change"}
        assert started and all(m["data"]["detail"]["group"] == "service:web"
                               for m in kept if m["event"] == "ECS Task State Change")
        first = next(m["data"] for m in kept if m["event"] == "ECS Deployment State Change")
        assert first["resources"] == [service["serviceArn"]]
        assert first["detail"]["eventType"] == "INFO"
        assert first["detail"]["eventName"] == "SERVICE_DEPLOYMENT_IN_PROGRESS"
        assert first["detail"]["deploymentId"] == deployment
        assert first["detail"]["reason"] == f"ECS deployment {deployment} in progress."

        # `berth events --follow` printed them as they happened, each with its id.
        [task_arn] = list(started)
        printed = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and b"lastStatus=RUNNING" not in printed:
            ready, _, _ = select.select([follower.stdout], [], [], 1)
            if ready:
                printed += os.read(follower.stdout.fileno(), 65536)
        lines = printed.decode().splitlines()
        assert any(task_arn.split(":", 5)[5] in line and "lastStatus=RUNNING" in line for line in lines), lines
        assert any("ECS Deployment State Change" in line and f"SERVICE_DEPLOYMENT_IN_PROGRESS {deployment}" in line
                   for line in lines), lines
        printed_ids = [line.split()[0] for line in lines]
        assert printed_ids == [m["id"] for m in kept][:len(printed_ids)]
    finally:
        stop_process(follower)
        stop_process(agent)


def test_berth_events_follow_carries_on_across_a_server_restart(berth, berth_binary):
    ecs = berth.client()
    ecs.create_cluster(clusterName="restart")
    agent = start_agent(berth_binary, berth, "restart")
    follower = None
    try:
        wait_for(lambda: ecs.list_container_instances(cluster="restart")["containerInstanceArns"], "the instance")
        ecs.register_task_definition(family="evt", containerDefinitions=[
            {"name": "app", "image": "berth-demo:latest", "memory": 64}])
        follower = subprocess.Popen(
            [str(berth_binary), "events", "--server", berth.url, "--cluster", "restart", "--follow", "--ids"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env())
        out, err = bytearray(), bytearray()

        def printed_running(arn):
            deadline = time.monotonic() + 30
            needle = f"{arn.split(':', 5)[5]}  lastStatus=RUNNING".encode()
            while time.monotonic() < deadline and needle not in out:
                ready, _, _ = select.select([follower.stdout, follower.stderr], [], [], 1)
                for pipe in ready:
                    (out if pipe is follower.stdout else err).extend(os.read(pipe.fileno(), 65536))
            assert needle in out, (out.decode(), err.decode())

        before = ecs.run_task(cluster="restart", taskDefinition="evt")["tasks"][0]["taskArn"]
        printed_running(before)
        # The connection drops with the server; `berth events` reconnects from the last id it
        # printed, which the restarted server still keeps, and goes on with what happens next.
        berth.stop()
        berth.start()
        ecs = berth.client()
        wait_for(lambda: ecs.describe_container_instances(
            cluster="restart", containerInstances=ecs.list_container_instances(cluster="restart")[
                "containerInstanceArns"])["containerInstances"][0]["agentConnected"], "the agent to reconnect")
        after = ecs.run_task(cluster="restart", taskDefinition="evt")["tasks"][0]["taskArn"]
        printed_running(after)
        assert "events were lost" not in err.decode()
        ids = [key(line.split()[0]) for line in out.decode().splitlines() if line.strip()]
        assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
        # What was kept was printed, once, across the restart.
        kept = [key(m["id"]) for m in history(berth, "cluster=restart")]
        assert kept[:len(ids)] == ids
    finally:
        stop_process(follower)
        stop_process(agent)


def test_events_from_before_a_kill_9_are_resumed_in_order_without_a_gap(berth, berth_binary):
    ecs = berth.client()
    ecs.create_cluster(clusterName="durable")
    agent = start_agent(berth_binary, berth, "durable")
    try:
        wait_for(lambda: ecs.list_container_instances(cluster="durable")["containerInstanceArns"], "the instance")
        ecs.register_task_definition(family="evt", containerDefinitions=[
            {"name": "app", "image": "berth-demo:latest", "memory": 64}])
        first = ecs.run_task(cluster="durable", taskDefinition="evt")["tasks"][0]["taskArn"]
        wait_for(lambda: "RUNNING" in statuses(history(berth, "cluster=durable"), first), "the task to run")
        ecs.stop_task(cluster="durable", task=first, reason="before the kill")
        wait_for(lambda: statuses(history(berth, "cluster=durable"), first)[-1:] == ["STOPPED"], "the task to stop")
        announced = history(berth, "cluster=durable")
        # A client read the first of them and resumes from its id after the server died.
        resume_from = announced[0]["id"]

        berth.kill9()
        berth.start()
        ecs = berth.client()

        # Every event announced before the kill, after the id, in order, once, no gap: the
        # same ids and the same events.
        resumed = history(berth, f"cluster=durable&after={resume_from}")
        assert all("id" in m and m["event"] != "gap" for m in resumed), resumed
        assert [(m["id"], m["data"]) for m in resumed][:len(announced) - 1] == [
            (m["id"], m["data"]) for m in announced[1:]]
        ids = [key(m["id"]) for m in resumed]
        assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
        assert statuses(resumed, first)[-1] == "STOPPED"

        # A live client resuming with Last-Event-ID gets the same, then what happens after.
        live = open_events(berth, "cluster=durable", {"Last-Event-ID": resume_from})
        assert live.status == 200
        wait_for(lambda: ecs.describe_container_instances(
            cluster="durable", containerInstances=ecs.list_container_instances(cluster="durable")[
                "containerInstanceArns"])["containerInstances"][0]["agentConnected"], "the agent to reconnect")
        second = ecs.run_task(cluster="durable", taskDefinition="evt")["tasks"][0]["taskArn"]
        messages = read_until(live, [], lambda m: "RUNNING" in statuses(m, second))
        live.close()
        assert all(m["event"] != "gap" for m in messages), messages
        assert [m["id"] for m in messages][:len(announced) - 1] == [m["id"] for m in announced[1:]]
        ids = [key(m["id"]) for m in messages]
        assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
        assert statuses(messages, first)[-1] == "STOPPED"
    finally:
        stop_process(agent)


def test_berth_events_gives_up_when_refused(berth, berth_binary):
    berth.client().list_clusters()
    done = subprocess.run([str(berth_binary), "events", "--server", berth.url, "--follow", "--after", "yesterday"],
                          capture_output=True, text=True, env=cli_env(), timeout=30)
    assert done.returncode != 0
    assert "400" in done.stderr and "InvalidParameterException" in done.stderr, done.stderr
    wrong = dict(cli_env(), AWS_SECRET_ACCESS_KEY="wrong")
    done = subprocess.run([str(berth_binary), "events", "--server", berth.url, "--follow"],
                          capture_output=True, text=True, env=wrong, timeout=30)
    assert done.returncode != 0 and "InvalidSignatureException" in done.stderr, done.stderr
