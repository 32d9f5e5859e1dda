"""CloudWatch metrics and alarms through real boto3 (the installed botocore lists RPC v2 CBOR,
JSON 1.0 and query, and picks JSON 1.0), aws-cli, and boto3 made to speak RPC v2 CBOR or
query: datapoints put and read back as statistics and math, ListMetrics, alarms created, described, set, evaluated for real (a 10-second alarm goes to
ALARM when breaching data arrives and back to OK), their history, error codes, and data and
alarms kept across a restart."""

import datetime
import json
import time

import boto3
import botocore.config
import botocore.loaders
import botocore.session
import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY


@pytest.fixture
def cloudwatch(berth):
    return berth.client("cloudwatch")


def iso(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def minute_ago():
    """The start of the minute before the current one, so its datapoints are all in the past."""
    return (int(time.time()) // 60 - 1) * 60


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def wait_for_state(cloudwatch, name, state, timeout=45):
    deadline = time.time() + timeout
    while True:
        alarm = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
        if alarm["StateValue"] == state or time.time() > deadline:
            return alarm
        time.sleep(0.5)


def test_boto3_puts_and_reads_statistics_back(berth, cloudwatch):
    targets = []
    cloudwatch.meta.events.register("before-send",
                                    lambda request, **_: targets.append(request.headers.get("X-Amz-Target")))
    start = minute_ago()
    cloudwatch.put_metric_data(Namespace="App", MetricData=[
        {"MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "web"}],
         "Values": [10.0, 20.0, 30.0], "Counts": [1.0, 1.0, 2.0], "Timestamp": start + 1, "Unit": "Milliseconds"},
        {"MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "api"}],
         "StatisticValues": {"SampleCount": 2, "Sum": 8, "Minimum": 3, "Maximum": 5}, "Timestamp": start + 2},
    ])
    assert targets == [b"GraniteServiceVersion20100801.PutMetricData"]

    stats = cloudwatch.get_metric_statistics(
        Namespace="App", MetricName="Latency", Dimensions=[{"Name": "Service", "Value": "web"}],
        StartTime=start, EndTime=start + 60, Period=60, Statistics=["Average", "Maximum", "SampleCount"],
        ExtendedStatistics=["p50"])
    [point] = stats["Datapoints"]
    assert (point["Average"], point["Maximum"], point["SampleCount"]) == (22.5, 30.0, 4.0)
    assert point["ExtendedStatistics"] == {"p50": 20.0}
    assert point["Unit"] == "Milliseconds"
    assert point["Timestamp"].timestamp() == start

    data = cloudwatch.get_metric_data(StartTime=start, EndTime=start + 60, MetricDataQueries=[
        {"Id": "web", "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Latency",
                                                "Dimensions": [{"Name": "Service", "Value": "web"}]},
                                     "Period": 60, "Stat": "Sum"}},
        {"Id": "api", "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Latency",
                                                "Dimensions": [{"Name": "Service", "Value": "api"}]},
                                     "Period": 60, "Stat": "Sum"}, "ReturnData": False},
        {"Id": "both", "Expression": "SUM(METRICS())", "Label": "All"},
        {"Id": "ratio", "Expression": "web / api"},
    ])
    results = {r["Id"]: r for r in data["MetricDataResults"]}
    assert set(results) == {"web", "both", "ratio"}
    assert results["web"]["Values"] == [90.0]
    assert results["both"]["Values"] == [98.0] and results["both"]["Label"] == "All"
    assert results["ratio"]["Values"] == [11.25]
    assert results["web"]["StatusCode"] == "Complete"

    listed = cloudwatch.list_metrics(Namespace="App", Dimensions=[{"Name": "Service", "Value": "api"}])["Metrics"]
    assert listed == [{"Namespace": "App", "MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "api"}]}]
    assert len(cloudwatch.list_metrics(Namespace="App", RecentlyActive="PT3H")["Metrics"]) == 2


def test_a_range_older_than_three_hours_is_answered_only_by_whole_minutes(berth, cloudwatch):
    # Two high-resolution datapoints two hours ago (PutMetricData takes up to two weeks old).
    at = (int(time.time()) // 60 - 120) * 60
    cloudwatch.put_metric_data(Namespace="App", MetricData=[
        {"MetricName": "Jobs", "Value": value, "Timestamp": at + offset, "StorageResolution": 1, "Unit": "Count"}
        for offset, value in ((0, 1.0), (1, 2.0))])

    def sums(start, period):
        answer = cloudwatch.get_metric_statistics(Namespace="App", MetricName="Jobs", StartTime=start,
                                                  EndTime=at + 60, Period=period, Statistics=["Sum"])
        return [(p["Timestamp"].timestamp(), p["Sum"]) for p in answer["Datapoints"]]

    # Starting within 3 hours, any period; starting before, only multiples of 60 answer
    # (CloudWatch's rule for data that old), and a finer period finds nothing, with no error.
    assert sums(at, 1) == [(at, 1.0), (at + 1, 2.0)]
    four_hours_ago = at - 2 * 3600
    assert sums(four_hours_ago, 30) == []
    assert sums(four_hours_ago, 60) == [(at, 3.0)]
    data = cloudwatch.get_metric_data(StartTime=four_hours_ago, EndTime=at + 60, MetricDataQueries=[
        {"Id": "fine", "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Jobs"}, "Period": 30, "Stat": "Sum"}},
        {"Id": "minutes", "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Jobs"}, "Period": 60, "Stat": "Sum"}},
    ])["MetricDataResults"]
    assert [(r["Id"], r["Values"]) for r in data] == [("fine", []), ("minutes", [3.0])]


def test_errors_carry_cloudwatch_codes(berth, cloudwatch):
    code, message = error_of(cloudwatch.put_metric_data, Namespace="AWS/ECS",
                             MetricData=[{"MetricName": "m", "Value": 1}])
    assert code == "InvalidParameterValue" and "AWS/ECS" in message
    code, message = error_of(cloudwatch.put_metric_data, Namespace="App",
                             MetricData=[{"MetricName": "m", "Value": 1, "Timestamp": time.time() - 15 * 86400}])
    assert code == "InvalidParameterValue"
    assert message == "The parameter MetricData.member.1.Timestamp must specify a time no more than two weeks in the past."
    code, _ = error_of(cloudwatch.put_metric_data, Namespace="App", MetricData=[
        {"MetricName": "m", "Value": 1, "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1}}])
    assert code == "InvalidParameterCombination"
    now = int(time.time())
    code, message = error_of(cloudwatch.get_metric_statistics, Namespace="App", MetricName="m",
                             StartTime=now - 1441 * 60, EndTime=now, Period=60, Statistics=["Sum"])
    assert code == "InvalidParameterCombination" and "exceeds the limit of 1,440" in message
    code, _ = error_of(cloudwatch.put_metric_alarm, AlarmName="a", Namespace="App", MetricName="m",
                       Statistic="Sum", Period=60, EvaluationPeriods=1, DatapointsToAlarm=2, Threshold=1,
                       ComparisonOperator="GreaterThanThreshold")
    assert code == "InvalidParameterCombination"
    code, _ = error_of(cloudwatch.set_alarm_state, AlarmName="nope", StateValue="OK", StateReason="x")
    assert code == "ResourceNotFound"
    code, _ = error_of(cloudwatch.list_tags_for_resource,
                       ResourceARN="arn:aws:cloudwatch:us-east-1:000000000000:alarm:nope")
    assert code == "ResourceNotFoundException"


def test_aws_cli_puts_reads_and_manages_alarms(berth):
    start = minute_ago()
    for value in (5, 7):
        berth.aws("cloudwatch", "put-metric-data", "--namespace", "Cli", "--metric-name", "Jobs",
                  "--dimensions", "Queue=q1", "--value", str(value), "--timestamp", iso(start + 5))
    stats = berth.aws("cloudwatch", "get-metric-statistics", "--namespace", "Cli", "--metric-name", "Jobs",
                      "--dimensions", "Name=Queue,Value=q1", "--start-time", iso(start), "--end-time",
                      iso(start + 60), "--period", "60", "--statistics", "Sum", "Maximum")
    assert [(p["Sum"], p["Maximum"]) for p in stats["Datapoints"]] == [(12.0, 7.0)]
    queries = [{"Id": "jobs", "MetricStat": {"Metric": {"Namespace": "Cli", "MetricName": "Jobs",
                                                        "Dimensions": [{"Name": "Queue", "Value": "q1"}]},
                                             "Period": 60, "Stat": "Average"}},
               {"Id": "doubled", "Expression": "jobs * 2"}]
    data = berth.aws("cloudwatch", "get-metric-data", "--metric-data-queries", json.dumps(queries),
                     "--start-time", iso(start), "--end-time", iso(start + 60))
    assert [r["Values"] for r in data["MetricDataResults"]] == [[6.0], [12.0]]
    assert berth.aws("cloudwatch", "list-metrics", "--namespace", "Cli")["Metrics"][0]["MetricName"] == "Jobs"

    berth.aws("cloudwatch", "put-metric-alarm", "--alarm-name", "jobs-high", "--namespace", "Cli",
              "--metric-name", "Jobs", "--dimensions", "Name=Queue,Value=q1", "--statistic", "Maximum",
              "--period", "60", "--evaluation-periods", "3", "--datapoints-to-alarm", "2", "--threshold", "100",
              "--comparison-operator", "GreaterThanOrEqualToThreshold", "--treat-missing-data", "notBreaching",
              "--alarm-actions", "arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:x",
              "--tags", "Key=team,Value=a")
    [alarm] = berth.aws("cloudwatch", "describe-alarms", "--alarm-names", "jobs-high")["MetricAlarms"]
    # The evaluator runs within a second of creation: 7 is below the threshold.
    deadline = time.time() + 10
    while alarm["StateValue"] != "OK" and time.time() < deadline:
        time.sleep(0.2)
        [alarm] = berth.aws("cloudwatch", "describe-alarms", "--alarm-names", "jobs-high")["MetricAlarms"]
    assert alarm["StateValue"] == "OK"
    assert alarm["StateReason"] == ("Threshold Crossed: 1 out of the last 3 datapoints [7.0 ("
                                    + time.strftime("%d/%m/%y %H:%M:%S", time.gmtime(start)) + ")] were not "
                                    "greater than or equal to the threshold (100.0) (minimum 2 datapoints for "
                                    "ALARM -> OK transition).")
    assert alarm["AlarmArn"] == "arn:aws:cloudwatch:us-east-1:000000000000:alarm:jobs-high"
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"], alarm["Threshold"]) == (3, 2, 100.0)
    # SetAlarmState holds until the next evaluation, at the next minute: stay clear of it.
    if time.time() % 60 > 55:
        time.sleep(62 - time.time() % 60)
    berth.aws("cloudwatch", "set-alarm-state", "--alarm-name", "jobs-high", "--state-value", "ALARM",
              "--state-reason", "drill")
    [alarm] = berth.aws("cloudwatch", "describe-alarms", "--state-value", "ALARM")["MetricAlarms"]
    assert alarm["StateReason"] == "drill"
    history = berth.aws("cloudwatch", "describe-alarm-history", "--alarm-name", "jobs-high")["AlarmHistoryItems"]
    assert [h["HistorySummary"] for h in history] == [
        "Alarm updated from OK to ALARM", "Alarm updated from INSUFFICIENT_DATA to OK", 'Alarm "jobs-high" created']
    assert berth.aws("cloudwatch", "list-tags-for-resource", "--resource-arn", alarm["AlarmArn"])["Tags"] == \
        [{"Key": "team", "Value": "a"}]
    missing = berth.aws("cloudwatch", "delete-alarms", "--alarm-names", "nope", check=False)
    assert missing.returncode != 0 and "ResourceNotFound" in missing.stderr
    berth.aws("cloudwatch", "delete-alarms", "--alarm-names", "jobs-high")
    assert berth.aws("cloudwatch", "describe-alarms")["MetricAlarms"] == []


def client_speaking(berth, protocol, data_dir):
    """A boto3 CloudWatch client made to speak one protocol of the model's three: the same
    botocore serializers and parsers, over a copy of its model that lists only that one."""
    loader = botocore.loaders.Loader()
    model = loader.load_service_model("cloudwatch", "service-2")
    model["metadata"]["protocols"] = [protocol]
    model["metadata"]["protocol"] = protocol
    folder = data_dir / protocol / "cloudwatch" / model["metadata"]["apiVersion"]
    folder.mkdir(parents=True)
    (folder / "service-2.json").write_text(json.dumps(model))
    session = botocore.session.get_session()
    session.set_config_variable("data_path", str(data_dir / protocol))
    return boto3.Session(botocore_session=session).client(
        "cloudwatch", endpoint_url=berth.url, region_name="us-east-1", aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY, config=botocore.config.Config(retries={"max_attempts": 1}))


def round_trip(client):
    """Puts, reads back and is refused, in whatever protocol the client speaks."""
    sent = []
    client.meta.events.register("before-send", lambda request, **_: sent.append(request))
    start = minute_ago()
    client.put_metric_data(Namespace="Proto", MetricData=[
        {"MetricName": "Hits", "Value": 4.0, "Timestamp": start + 1},
        {"MetricName": "Hits", "Value": 6.0, "Timestamp": start + 2}])
    stats = client.get_metric_statistics(Namespace="Proto", MetricName="Hits", StartTime=start,
                                         EndTime=start + 60, Period=60, Statistics=["Sum"])
    assert [p["Sum"] for p in stats["Datapoints"]] == [10.0]
    code, _ = error_of(client.put_metric_data, Namespace="AWS/EC2", MetricData=[{"MetricName": "m", "Value": 1}])
    assert code == "InvalidParameterValue"
    return sent[0]


def test_rpc_v2_cbor_clients(berth, tmp_path):
    request = round_trip(client_speaking(berth, "smithy-rpc-v2-cbor", tmp_path))
    assert request.url.endswith("/service/GraniteServiceVersion20100801/operation/PutMetricData")


def test_query_clients(berth, tmp_path):
    request = round_trip(client_speaking(berth, "query", tmp_path))
    assert b"Action=PutMetricData" in request.body


def test_alarm_goes_to_alarm_and_back_to_ok(berth, cloudwatch):
    changes = []
    cloudwatch.put_metric_alarm(
        AlarmName="hot", Namespace="App", MetricName="Temperature", Statistic="Maximum", Period=10,
        EvaluationPeriods=1, Threshold=50, ComparisonOperator="GreaterThanThreshold", TreatMissingData="ignore")
    cloudwatch.put_metric_data(Namespace="App", MetricData=[
        {"MetricName": "Temperature", "Value": 90, "StorageResolution": 1}])
    alarm = wait_for_state(cloudwatch, "hot", "ALARM")
    assert alarm["StateValue"] == "ALARM"
    assert alarm["StateReason"].startswith("Threshold Crossed: 1 datapoint [90.0 (")
    assert alarm["StateReason"].endswith(")] was greater than the threshold (50.0).")
    reason_data = json.loads(alarm["StateReasonData"])
    assert reason_data["recentDatapoints"] == [90.0] and reason_data["period"] == 10
    changes.append(alarm["StateValue"])

    cloudwatch.put_metric_data(Namespace="App", MetricData=[
        {"MetricName": "Temperature", "Value": 20, "StorageResolution": 1}])
    alarm = wait_for_state(cloudwatch, "hot", "OK")
    assert alarm["StateValue"] == "OK"
    assert alarm["StateReason"].endswith(")] was not greater than the threshold (50.0).")

    history = cloudwatch.describe_alarm_history(AlarmName="hot", HistoryItemType="StateUpdate",
                                                ScanBy="TimestampAscending")["AlarmHistoryItems"]
    assert [h["HistorySummary"] for h in history] == [
        "Alarm updated from INSUFFICIENT_DATA to ALARM", "Alarm updated from ALARM to OK"]
    data = json.loads(history[1]["HistoryData"])
    assert data["oldState"]["stateValue"] == "ALARM" and data["newState"]["stateValue"] == "OK"


def test_data_and_alarms_survive_restart(berth, cloudwatch):
    start = minute_ago()
    cloudwatch.put_metric_data(Namespace="Keep", MetricData=[{"MetricName": "m", "Value": 3, "Timestamp": start + 1}])
    cloudwatch.put_metric_alarm(AlarmName="kept", Namespace="Keep", MetricName="m", Statistic="Sum", Period=60,
                                EvaluationPeriods=1, Threshold=100, ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName="kept", StateValue="ALARM", StateReason="before restart")
    berth.stop()
    berth.start()
    stats = cloudwatch.get_metric_statistics(Namespace="Keep", MetricName="m", StartTime=start, EndTime=start + 60,
                                             Period=60, Statistics=["Sum"])
    assert [p["Sum"] for p in stats["Datapoints"]] == [3.0]
    [alarm] = cloudwatch.describe_alarms(AlarmNames=["kept"])["MetricAlarms"]
    assert alarm["StateValue"] in ("ALARM", "OK")
    history = cloudwatch.describe_alarm_history(AlarmName="kept")["AlarmHistoryItems"]
    assert "Alarm updated from INSUFFICIENT_DATA to ALARM" in [h["HistorySummary"] for h in history]
