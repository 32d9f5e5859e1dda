"""CloudWatch Logs through real boto3 and aws-cli: groups and streams, PutLogEvents with its
rejected events, GetLogEvents paging with its tokens, FilterLogEvents with term and JSON
patterns (and the CLI's own auto-pagination, which is what `aws logs tail` runs; aws-cli v1 has
no `tail`), retention, tags, error codes, events kept across a server restart and kill -9, and
StartLiveTail's event stream through boto3."""

import json
import os
import select
import subprocess
import tempfile
import time

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY, stop_process


@pytest.fixture
def logs(berth):
    return berth.client("logs")


def error_code(call, **kwargs):
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return raised.value.response["Error"]["Code"]


def now_ms():
    return int(time.time() * 1000)


def test_groups_streams_and_events_through_aws_cli(berth):
    berth.aws("logs", "create-log-group", "--log-group-name", "/ecs/web", "--tags", "team=a")
    berth.aws("logs", "create-log-stream", "--log-group-name", "/ecs/web", "--log-stream-name", "web/1")
    start = now_ms()
    events = [{"timestamp": start + i, "message": f"line {i}"} for i in range(5)]
    put = berth.aws("logs", "put-log-events", "--log-group-name", "/ecs/web", "--log-stream-name", "web/1",
                    "--log-events", json.dumps(events))
    assert "rejectedLogEventsInfo" not in (put or {})
    got = berth.aws("logs", "get-log-events", "--log-group-name", "/ecs/web", "--log-stream-name", "web/1",
                    "--start-from-head")
    assert [e["message"] for e in got["events"]] == [f"line {i}" for i in range(5)]
    assert got["nextForwardToken"].startswith("f/") and got["nextBackwardToken"].startswith("b/")

    filtered = berth.aws("logs", "filter-log-events", "--log-group-name", "/ecs/web",
                         "--filter-pattern", "\"line 3\"")
    assert [e["message"] for e in filtered["events"]] == ["line 3"]
    assert filtered["events"][0]["logStreamName"] == "web/1"

    streams = berth.aws("logs", "describe-log-streams", "--log-group-name", "/ecs/web",
                        "--order-by", "LastEventTime", "--descending")["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["web/1"]
    assert streams[0]["lastEventTimestamp"] == start + 4
    assert streams[0]["firstEventTimestamp"] == start

    groups = berth.aws("logs", "describe-log-groups", "--log-group-name-prefix", "/ecs/")["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["/ecs/web"]
    assert groups[0]["arn"] == "arn:aws:logs:us-east-1:000000000000:log-group:/ecs/web:*"
    assert berth.aws("logs", "list-tags-log-group", "--log-group-name", "/ecs/web")["tags"] == {"team": "a"}

    duplicate = berth.aws("logs", "create-log-group", "--log-group-name", "/ecs/web", check=False)
    assert duplicate.returncode != 0 and "ResourceAlreadyExistsException" in duplicate.stderr
    missing = berth.aws("logs", "get-log-events", "--log-group-name", "/ecs/web", "--log-stream-name", "nope",
                        check=False)
    assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr


def test_cli_auto_pagination_shows_every_line_in_order(berth, logs):
    """What `aws logs tail GROUP` (without --follow) prints: FilterLogEvents paged to the end."""
    logs.create_log_group(logGroupName="app")
    start = now_ms() - 10_000
    for stream in ("a", "b"):
        logs.create_log_stream(logGroupName="app", logStreamName=stream)
    # Interleaved in time across the two streams.
    for stream, offset in (("a", 0), ("b", 1)):
        logs.put_log_events(logGroupName="app", logStreamName=stream, logEvents=[
            {"timestamp": start + 2 * i + offset, "message": f"{stream} {2 * i + offset:03d}"} for i in range(60)])
    out = berth.aws("logs", "filter-log-events", "--log-group-name", "app", "--page-size", "7")
    numbers = [int(e["message"].split()[1]) for e in out["events"]]
    assert numbers == list(range(120))
    assert {e["logStreamName"] for e in out["events"]} == {"a", "b"}


def test_get_log_events_tokens_page_both_ways(logs):
    logs.create_log_group(logGroupName="g")
    logs.create_log_stream(logGroupName="g", logStreamName="s")
    start = now_ms() - 1000
    logs.put_log_events(logGroupName="g", logStreamName="s",
                        logEvents=[{"timestamp": start + i, "message": str(i)} for i in range(10)])
    tail = logs.get_log_events(logGroupName="g", logStreamName="s", limit=3)
    assert [e["message"] for e in tail["events"]] == ["7", "8", "9"]
    earlier = logs.get_log_events(logGroupName="g", logStreamName="s", limit=3, nextToken=tail["nextBackwardToken"])
    assert [e["message"] for e in earlier["events"]] == ["4", "5", "6"]
    end = logs.get_log_events(logGroupName="g", logStreamName="s", nextToken=tail["nextForwardToken"])
    assert end["events"] == []
    assert end["nextForwardToken"] == tail["nextForwardToken"]

    # Reading on from the head until the same token comes back, as clients stop.
    seen, token = [], None
    for _ in range(10):
        page = logs.get_log_events(logGroupName="g", logStreamName="s", startFromHead=True, limit=4,
                                   **({"nextToken": token} if token else {}))
        seen += [e["message"] for e in page["events"]]
        if page["nextForwardToken"] == token:
            break
        token = page["nextForwardToken"]
    assert seen == [str(i) for i in range(10)]


def test_put_log_events_verdicts_and_errors(logs):
    logs.create_log_group(logGroupName="g")
    assert error_code(logs.put_log_events, logGroupName="g", logStreamName="missing",
                      logEvents=[{"timestamp": now_ms(), "message": "x"}]) == "ResourceNotFoundException"
    logs.create_log_stream(logGroupName="g", logStreamName="s")
    now = now_ms()
    answer = logs.put_log_events(logGroupName="g", logStreamName="s", logEvents=[
        {"timestamp": now - 15 * 86_400_000, "message": "too old"},
        {"timestamp": now, "message": "kept"},
        {"timestamp": now + 3 * 3_600_000, "message": "too new"},
    ])
    assert answer["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1, "tooNewLogEventStartIndex": 2}
    kept = logs.get_log_events(logGroupName="g", logStreamName="s", startFromHead=True)["events"]
    assert [e["message"] for e in kept] == ["kept"]

    assert error_code(logs.put_log_events, logGroupName="g", logStreamName="s", logEvents=[
        {"timestamp": now, "message": "b"}, {"timestamp": now - 1, "message": "a"}]) == "InvalidParameterException"
    assert error_code(logs.put_log_events, logGroupName="g", logStreamName="s", logEvents=[
        {"timestamp": now - 25 * 3_600_000, "message": "a"},
        {"timestamp": now, "message": "b"}]) == "InvalidParameterException"
    assert error_code(logs.create_log_group, logGroupName="bad name!") == "InvalidParameterException"
    assert error_code(logs.create_log_stream, logGroupName="g", logStreamName="a:b") == "InvalidParameterException"
    assert error_code(logs.delete_log_group, logGroupName="nope") == "ResourceNotFoundException"
    assert error_code(logs.filter_log_events, logGroupName="g", filterPattern="{ $.x = ") == \
        "InvalidParameterException"


def test_json_filter_patterns(logs):
    logs.create_log_group(logGroupName="json")
    logs.create_log_stream(logGroupName="json", logStreamName="s")
    now = now_ms()
    lines = [{"level": "error", "ms": 250}, {"level": "info", "ms": 20}, {"level": "error", "ms": 5}]
    logs.put_log_events(logGroupName="json", logStreamName="s", logEvents=[
        {"timestamp": now + i, "message": json.dumps(line)} for i, line in enumerate(lines)])
    found = logs.filter_log_events(logGroupName="json", filterPattern='{ $.level = "error" && $.ms > 100 }')
    assert [json.loads(e["message"]) for e in found["events"]] == [lines[0]]
    found = logs.filter_log_events(logGroupName="json", filterPattern="{ $.ms <= 20 || $.level = err* }")
    assert [json.loads(e["message"]) for e in found["events"]] == lines


def test_retention_and_tags(berth, logs):
    logs.create_log_group(logGroupName="r")
    assert error_code(logs.put_retention_policy, logGroupName="r", retentionInDays=4) == "InvalidParameterException"
    berth.aws("logs", "put-retention-policy", "--log-group-name", "r", "--retention-in-days", "1")
    assert logs.describe_log_groups(logGroupNamePrefix="r")["logGroups"][0]["retentionInDays"] == 1
    logs.create_log_stream(logGroupName="r", logStreamName="s")
    now = now_ms()
    answer = logs.put_log_events(logGroupName="r", logStreamName="s", logEvents=[
        {"timestamp": now - 2 * 86_400_000, "message": "expired"}, {"timestamp": now, "message": "fresh"}])
    assert answer["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 1}
    logs.delete_retention_policy(logGroupName="r")
    assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix="r")["logGroups"][0]

    arn = "arn:aws:logs:us-east-1:000000000000:log-group:r"
    logs.tag_resource(resourceArn=arn, tags={"env": "dev", "team": "b"})
    logs.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"env": "dev"}


def test_retention_sweep_removes_old_events(logs):
    """Events within 14 days are accepted without a retention; setting a shorter one sweeps them."""
    logs.create_log_group(logGroupName="sweep")
    logs.create_log_stream(logGroupName="sweep", logStreamName="s")
    now = now_ms()
    # Two batches: one may not span more than 24 hours.
    logs.put_log_events(logGroupName="sweep", logStreamName="s",
                        logEvents=[{"timestamp": now - 3 * 86_400_000, "message": "three days old"}])
    logs.put_log_events(logGroupName="sweep", logStreamName="s", logEvents=[{"timestamp": now, "message": "now"}])
    logs.put_retention_policy(logGroupName="sweep", retentionInDays=1)
    deadline = time.monotonic() + 10
    while True:
        events = logs.get_log_events(logGroupName="sweep", logStreamName="s", startFromHead=True)["events"]
        if [e["message"] for e in events] == ["now"]:
            break
        assert time.monotonic() < deadline, events
        time.sleep(0.1)


def test_events_survive_restart_and_kill9(berth, logs):
    logs.create_log_group(logGroupName="durable")
    logs.create_log_stream(logGroupName="durable", logStreamName="s")
    now = now_ms()
    logs.put_log_events(logGroupName="durable", logStreamName="s",
                        logEvents=[{"timestamp": now + i, "message": f"before restart {i}"} for i in range(3)])
    berth.stop()
    berth.start()
    logs.put_log_events(logGroupName="durable", logStreamName="s",
                        logEvents=[{"timestamp": now + 10, "message": "acknowledged before kill -9"}])
    berth.kill9()
    berth.start()
    events = logs.get_log_events(logGroupName="durable", logStreamName="s", startFromHead=True)["events"]
    assert [e["message"] for e in events] == [f"before restart {i}" for i in range(3)] + \
        ["acknowledged before kill -9"]
    assert logs.describe_log_streams(logGroupName="durable")["logStreams"][0]["lastEventTimestamp"] == now + 10


def live_tail_client(berth):
    """botocore sends StartLiveTail to `stream-` + the endpoint's host, which an IP address
    does not survive: Berth serves it on the same endpoint, so clients turn the prefix off."""
    return boto3.client("logs", endpoint_url=berth.url, region_name="us-east-1",
                        aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY,
                        config=botocore.config.Config(inject_host_prefix=False, retries={"max_attempts": 1}))


def test_start_live_tail_streams_new_lines_within_a_second(berth):
    logs = live_tail_client(berth)
    logs.create_log_group(logGroupName="/ecs/tailed")
    logs.create_log_group(logGroupName="/ecs/quiet")
    for group in ["/ecs/tailed", "/ecs/quiet"]:
        logs.create_log_stream(logGroupName=group, logStreamName="web/1")
    arn = logs.describe_log_groups(logGroupNamePrefix="/ecs/tailed")["logGroups"][0]["logGroupArn"]
    session = logs.start_live_tail(logGroupIdentifiers=[arn], logEventFilterPattern="-DEBUG")
    events = iter(session["responseStream"])
    start = next(events)["sessionStart"]
    assert start["logGroupIdentifiers"] == [arn] and start["logEventFilterPattern"] == "-DEBUG"
    assert start["sessionId"] and start["requestId"]
    lines = [f"line {i}" for i in range(3)]
    written = time.monotonic()
    stamp = now_ms()
    logs.put_log_events(logGroupName="/ecs/tailed", logStreamName="web/1", logEvents=[
        {"timestamp": stamp + i, "message": m} for i, m in enumerate(lines + ["DEBUG noise"])])
    logs.put_log_events(logGroupName="/ecs/quiet", logStreamName="web/1",
                        logEvents=[{"timestamp": stamp, "message": "elsewhere"}])
    seen = []
    for _ in range(5):
        update = next(events)["sessionUpdate"]
        assert update["sessionMetadata"] == {"sampled": False}
        seen += update["sessionResults"]
        if len(seen) >= len(lines):
            break
    shown = time.monotonic() - written
    assert [e["message"] for e in seen] == lines
    assert all(e["logGroupIdentifier"] == arn and e["logStreamName"] == "web/1" for e in seen)
    assert [e["timestamp"] for e in seen] == [stamp, stamp + 1, stamp + 2]
    assert shown < 1.5, f"lines took {shown:.2f} s to show"
    session["responseStream"].close()


def test_start_live_tail_refuses_what_cloudwatch_refuses(berth):
    logs = live_tail_client(berth)
    logs.create_log_group(logGroupName="a")
    logs.create_log_group(logGroupName="b")
    arns = {g["logGroupName"]: g["logGroupArn"] for g in logs.describe_log_groups()["logGroups"]}
    missing = arns["a"].replace(":log-group:a", ":log-group:missing")
    assert error_code(logs.start_live_tail, logGroupIdentifiers=[missing]) == "ResourceNotFoundException"
    assert error_code(logs.start_live_tail, logGroupIdentifiers=["a"]) == "InvalidParameterException"
    assert error_code(logs.start_live_tail, logGroupIdentifiers=[arns["a"], arns["b"]],
                      logStreamNames=["s"]) == "InvalidParameterException"
    assert error_code(logs.start_live_tail, logGroupIdentifiers=[arns["a"]], logStreamNames=["s"],
                      logStreamNamePrefixes=["p"]) == "InvalidParameterException"


def test_berth_logs_prints_and_follows_a_tasks_lines(berth, berth_binary, logs):
    ecs = berth.client("ecs")
    ecs.create_cluster(clusterName="logs-cli")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
               AWS_DEFAULT_REGION="us-east-1")
    agent = subprocess.Popen(
        [str(berth_binary), "agent", "--server", berth.url, "--cluster", "logs-cli", "--region", "us-east-1",
         "--simulate", "1", "--data-dir", tempfile.mkdtemp(prefix="berth-agent-")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    follower = None
    try:
        logs.create_log_group(logGroupName="/ecs/cli")
        ecs.register_task_definition(family="cli", containerDefinitions=[{
            "name": "app", "image": "berth-demo:latest", "memory": 64,
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/ecs/cli", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}}}])
        for _ in range(100):
            if ecs.list_container_instances(cluster="logs-cli")["containerInstanceArns"]:
                break
            time.sleep(0.1)
        task_arn = ecs.run_task(cluster="logs-cli", taskDefinition="cli")["tasks"][0]["taskArn"]
        task_id = task_arn.rsplit("/", 1)[1]
        stream = f"ecs/app/{task_id}"
        try:
            logs.create_log_stream(logGroupName="/ecs/cli", logStreamName=stream)
        except ClientError as err:  # the agent's driver may have made it already
            assert err.response["Error"]["Code"] == "ResourceAlreadyExistsException"
        stamp = now_ms()
        logs.put_log_events(logGroupName="/ecs/cli", logStreamName=stream,
                            logEvents=[{"timestamp": stamp + i, "message": f"line {i}"} for i in range(3)])
        command = [str(berth_binary), "logs", "--server", berth.url, "--cluster", "logs-cli", "--task", task_id]
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=30)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [f"app/{task_id} line {i}" for i in range(3)]

        follower = subprocess.Popen(command + ["--follow"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    text=True, env=env)
        shown = [follower.stdout.readline().rstrip("\n") for _ in range(3)]
        assert shown == [f"app/{task_id} line {i}" for i in range(3)]
        written = time.monotonic()
        logs.put_log_events(logGroupName="/ecs/cli", logStreamName=stream,
                            logEvents=[{"timestamp": now_ms(), "message": "a new line"}])
        ready, _, _ = select.select([follower.stdout], [], [], 5)
        assert ready, "berth logs --follow showed nothing within 5 s"
        assert follower.stdout.readline().rstrip("\n") == f"app/{task_id} a new line"
        assert time.monotonic() - written < 1.5

        missing = subprocess.run(command[:-1] + ["0123456789abcdef0123456789abcdef"], capture_output=True,
                                 text=True, env=env, timeout=30)
        assert missing.returncode != 0 and "MISSING" in missing.stderr
    finally:
        stop_process(follower)
        stop_process(agent)
