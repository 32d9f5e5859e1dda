"""The awslogs log driver end to end: `berth server` plus `berth agent` on Docker, a berth-demo task
printing numbered lines, read back through aws-cli and boto3 from Berth's CloudWatch Logs API."""

import json
import subprocess
import uuid

from test_tasks import (cluster, container_env, demo_image, describe, get_json, register,  # noqa: F401 (fixtures)
                        wait_for, wait_status)

MISSING_GROUP = ("CannotStartContainerError: Error response from daemon: failed to initialize logging driver: "
                 "failed to create Cloudwatch log stream: ResourceNotFoundException: "
                 "The specified log group does not exist.")


def awslogs(group, **options):
    return {"logDriver": "awslogs", "options": {"awslogs-group": group, **options}}


def run_logging_task(ecs, cluster_name, group, lines, rate=None, **options):
    """Runs a berth-demo task printing `lines` numbered lines; returns its RUNNING description."""
    command = ["log", "--lines", str(lines)] + (["--rate", str(rate)] if rate else [])
    family = f"logs-{uuid.uuid4().hex[:8]}"
    register(ecs, family=family, command=command, portMappings=[],
             logConfiguration=awslogs(group, **{"awslogs-stream-prefix": "app", **options}))
    arn = ecs.run_task(cluster=cluster_name, taskDefinition=family)["tasks"][0]["taskArn"]
    return wait_status(ecs, cluster_name, arn, "RUNNING")


def stream_messages(berth, group, stream):
    """Every event of the stream from its head, through aws-cli (following its forward token)."""
    messages, token = [], None
    while True:
        page = berth.aws("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", stream,
                         "--start-from-head", *(["--next-token", token] if token else []))
        messages += [event["message"] for event in page["events"]]
        if not page["events"] or page["nextForwardToken"] == token:
            return messages
        token = page["nextForwardToken"]


def shipped(logs, group, stream):
    """How many events the stream holds (boto3: quicker to poll than aws-cli)."""
    try:
        return sum(len(page["events"]) for page in logs.get_paginator("filter_log_events").paginate(
            logGroupName=group, logStreamNames=[stream]))
    except logs.exceptions.ResourceNotFoundException:
        return 0


def wait_for_messages(berth, group, stream, count, what, timeout=30):
    """The stream's messages (through aws-cli) once it holds at least `count` of them."""
    logs = berth.client("logs")
    wait_for(lambda: shipped(logs, group, stream) >= count, what, timeout)
    return stream_messages(berth, group, stream)


def numbered(count):
    return [f"line {n}" for n in range(1, count + 1)]


def docker_log_lines(runtime_id):
    done = subprocess.run(["docker", "logs", runtime_id], capture_output=True, text=True)
    return len(done.stdout.splitlines())


def test_a_tasks_lines_reach_cloudwatch_logs_in_order(berth, cluster):
    name, ecs, _, agents = cluster
    logs = berth.client("logs")
    group = f"/ecs/{name}"
    logs.create_log_group(logGroupName=group)
    task = run_logging_task(ecs, name, group, 300, mode="blocking")
    task_id = task["taskArn"].rsplit("/", 1)[1]
    stream = f"app/web/{task_id}"

    messages = wait_for_messages(berth, group, stream, 300, "300 lines in GetLogEvents")
    assert messages == numbered(300)
    # docker logs still works: the container itself logs to Docker's local files, which the
    # agent reads and ships.
    runtime_id = task["containers"][0]["runtimeId"]
    assert docker_log_lines(runtime_id) == 300
    log_config = json.loads(subprocess.run(
        ["docker", "inspect", "--format", "{{json .HostConfig.LogConfig}}", runtime_id],
        check=True, capture_output=True, text=True).stdout)
    assert log_config == {"Type": "local", "Config": {"compress": "false"}}
    # The task metadata endpoint shows the task definition's driver, with the stream, as ECS does.
    shown = get_json(container_env(runtime_id)["ECS_CONTAINER_METADATA_URI_V4"])
    assert shown["LogDriver"] == "awslogs"
    assert shown["LogOptions"]["awslogs-stream"] == stream
    assert shown["LogOptions"]["awslogs-group"] == group
    assert "awslogs-stream-prefix" not in shown["LogOptions"]

    events = [e for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group)
              for e in page["events"]]
    assert [e["message"] for e in events] == numbered(300)
    assert {e["logStreamName"] for e in events} == {stream}
    timestamps = [e["timestamp"] for e in events]
    assert timestamps == sorted(timestamps)
    assert task["createdAt"].timestamp() * 1000 - 5_000 < timestamps[0]
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert [s["logStreamName"] for s in streams] == [stream]

    # Stopped, the task's container goes once its log is shipped, and its cursor with it.
    ecs.stop_task(cluster=name, task=task["taskArn"])
    wait_status(ecs, name, task["taskArn"], "STOPPED")
    wait_for(lambda: not subprocess.run(["docker", "ps", "-aq", "--filter", f"id={runtime_id}"],
                                        capture_output=True, text=True).stdout.strip(), "the container's removal")
    cursors = agents[0].data_dir / "awslogs"
    wait_for(lambda: cursors.is_dir() and not list(cursors.iterdir()), "the cursor file's removal")
    assert stream_messages(berth, group, stream) == numbered(300)


def test_lines_written_while_the_agent_was_stopped_are_shipped_once(berth, cluster):
    name, ecs, _, agents = cluster
    logs = berth.client("logs")
    group = f"/ecs/{name}"
    # awslogs-create-group makes the group the task needs.
    task = run_logging_task(ecs, name, group, 800, rate=50, mode="blocking", **{"awslogs-create-group": "true"})
    stream = f"app/web/{task['taskArn'].rsplit('/', 1)[1]}"
    runtime_id = task["containers"][0]["runtimeId"]
    wait_for(lambda: shipped(logs, group, stream) >= 20, "the first lines to be shipped")

    agents[0].kill9()
    written = docker_log_lines(runtime_id)
    wait_for(lambda: docker_log_lines(runtime_id) >= written + 100, "lines written with no agent running")
    assert written + 100 < 800, "the task was still writing while the agent was away"
    agents[0].start()

    messages = wait_for_messages(berth, group, stream, 800, "all 800 lines after the agent's restart", 60)
    assert messages == numbered(800), "every line exactly once, in order"
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["logGroupName"] == group


def test_lines_written_while_the_control_plane_was_away_are_shipped_once(berth, cluster):
    name, ecs, _, _ = cluster
    group = f"/ecs/{name}"
    berth.client("logs").create_log_group(logGroupName=group)
    task = run_logging_task(ecs, name, group, 800, rate=50, mode="blocking")
    stream = f"app/web/{task['taskArn'].rsplit('/', 1)[1]}"
    runtime_id = task["containers"][0]["runtimeId"]
    logs = berth.client("logs")
    wait_for(lambda: shipped(logs, group, stream) >= 20, "the first lines to be shipped")

    berth.kill9()
    written = docker_log_lines(runtime_id)
    wait_for(lambda: docker_log_lines(runtime_id) >= written + 100, "lines written with the control plane away")
    assert written + 100 < 800, "the task was still writing while the control plane was away"
    berth.start()

    messages = wait_for_messages(berth, group, stream, 800, "all 800 lines after the control plane's restart", 60)
    assert messages == numbered(800)


def test_a_missing_group_fails_the_start_as_ecs_says(berth, cluster):
    name, ecs, _, _ = cluster
    register(ecs, family="nogroup", portMappings=[], logConfiguration=awslogs(f"/missing/{name}"))
    arn = ecs.run_task(cluster=name, taskDefinition="nogroup")["tasks"][0]["taskArn"]
    task = wait_status(ecs, name, arn, "STOPPED")
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"] == MISSING_GROUP
    assert task["containers"][0]["reason"] == MISSING_GROUP
    assert berth.client("logs").describe_log_groups(logGroupNamePrefix="/missing/")["logGroups"] == []

    register(ecs, family="badopt", portMappings=[],
             logConfiguration=awslogs("/ecs/x", **{"awslogs-colour": "red"}))
    arn = ecs.run_task(cluster=name, taskDefinition="badopt")["tasks"][0]["taskArn"]
    task = wait_status(ecs, name, arn, "STOPPED")
    assert task["stoppedReason"] == ("CannotCreateContainerError: Error response from daemon: "
                                     "unknown log opt 'awslogs-colour' for awslogs log driver")


def test_a_multiline_pattern_groups_lines_into_events(berth, cluster):
    name, ecs, _, _ = cluster
    group = f"/ecs/{name}"
    berth.client("logs").create_log_group(logGroupName=group)
    # A new event starts at every tenth line; the lines before the first match are one event,
    # and the last event goes out once no line followed it for Docker's flush interval.
    task = run_logging_task(ecs, name, group, 25, **{"awslogs-multiline-pattern": r"^line \d*0$"})
    stream = f"app/web/{task['taskArn'].rsplit('/', 1)[1]}"
    messages = wait_for_messages(berth, group, stream, 3, "three multi-line events")
    assert messages == ["".join(f"{line}\n" for line in numbered(25)[first - 1:last])
                        for first, last in [(1, 9), (10, 19), (20, 25)]]
