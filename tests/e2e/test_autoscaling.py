"""Application Auto Scaling on ECS services, through boto3 and aws-cli: scalable targets,
policies, activities and tags with their error paths; target tracking on CPU with real Docker
and `--metric-period 1` (a service whose tasks burn a core scales out within seconds, and back
in once the load is gone, never below its minimum); step scaling on an alarm of one's own
(kept across kill -9); a scheduled action seconds ahead; request-count scaling behind a
listener under a bounded local load."""

import contextlib
import http.client
import re
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import free_port, running_berth
from test_tasks import Agent, connected_instances, demo_image, remove_cluster_containers, wait_for  # noqa: F401

NAMESPACE = "ecs"
DIMENSION = "ecs:service:DesiredCount"


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def invocations(berth, outcome):
    """How many scaling policy invocations ended with `outcome`, from the server's /metrics."""
    text = urllib.request.urlopen(berth.url + "/metrics", timeout=10).read().decode()
    found = re.search(rf'^berth_autoscaling_policy_invocations_total{{outcome="{outcome}"}} (\S+)$', text, re.M)
    return int(float(found.group(1))) if found else 0


def service_of(ecs, cluster, service):
    return ecs.describe_services(cluster=cluster, services=[service])["services"][0]


def idle_service(berth):
    """A cluster and a service (desired count 1, no instance to run on): scaling changes its
    desired count all the same."""
    ecs = berth.client()
    cluster = f"a-{uuid.uuid4().hex[:8]}"
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(family="idle", containerDefinitions=[
        {"name": "web", "image": "berth-demo:latest", "memory": 32}])
    ecs.create_service(cluster=cluster, serviceName="web", taskDefinition="idle", desiredCount=1)
    return ecs, cluster, f"service/{cluster}/web"


def test_scalable_targets_policies_tags_and_errors(berth):
    ecs, cluster, resource = idle_service(berth)
    scaling = berth.client("application-autoscaling")
    cloudwatch = berth.client("cloudwatch")

    # Only ECS services' desired count is served, and says so.
    code, message = error_of(scaling.register_scalable_target, ServiceNamespace="dynamodb",
                             ResourceId="table/t", ScalableDimension="dynamodb:table:ReadCapacityUnits",
                             MinCapacity=1, MaxCapacity=2)
    assert code == "ValidationException"
    assert "Berth scales ECS services only" in message
    code, message = error_of(scaling.register_scalable_target, ServiceNamespace=NAMESPACE,
                             ResourceId=f"service/{cluster}/nope", ScalableDimension=DIMENSION,
                             MinCapacity=1, MaxCapacity=2)
    assert (code, message) == ("ValidationException", f"ECS service doesn't exist: service/{cluster}/nope")
    code, _ = error_of(scaling.register_scalable_target, ServiceNamespace=NAMESPACE, ResourceId="svc/x",
                       ScalableDimension=DIMENSION, MinCapacity=1, MaxCapacity=2)
    assert code == "ValidationException"
    code, _ = error_of(scaling.register_scalable_target, ServiceNamespace=NAMESPACE, ResourceId=resource,
                       ScalableDimension=DIMENSION, MinCapacity=1)
    assert code == "ValidationException"
    code, message = error_of(scaling.register_scalable_target, ServiceNamespace=NAMESPACE, ResourceId=resource,
                             ScalableDimension=DIMENSION, MinCapacity=3, MaxCapacity=2)
    assert (code, message) == ("ValidationException", "Minimum capacity cannot be greater than maximum capacity")
    code, message = error_of(scaling.put_scaling_policy, PolicyName="p", ServiceNamespace=NAMESPACE,
                             ResourceId=resource, ScalableDimension=DIMENSION, PolicyType="TargetTrackingScaling",
                             TargetTrackingScalingPolicyConfiguration={
                                 "TargetValue": 50.0,
                                 "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}})
    assert code == "ObjectNotFoundException"
    assert message == (f"No scalable target registered for service namespace: ecs, resource ID: {resource}, "
                       "scalable dimension: ecs:service:DesiredCount")

    # A minimum above the desired count raises it at once, with an activity saying so.
    arn = scaling.register_scalable_target(ServiceNamespace=NAMESPACE, ResourceId=resource,
                                           ScalableDimension=DIMENSION, MinCapacity=2, MaxCapacity=4,
                                           Tags={"team": "web"})["ScalableTargetARN"]
    assert arn.startswith("arn:aws:application-autoscaling:us-east-1:000000000000:scalable-target/")
    assert service_of(ecs, cluster, "web")["desiredCount"] == 2
    activities = scaling.describe_scaling_activities(ServiceNamespace=NAMESPACE, ResourceId=resource)["ScalingActivities"]
    assert [(a["Description"], a["StatusCode"], a["StatusMessage"]) for a in activities] == [
        ("Setting desired count to 2.", "Successful",
         "Successfully set desired count to 2. Change successfully fulfilled by ecs.")]

    # Registering again changes only what it names.
    scaling.register_scalable_target(ServiceNamespace=NAMESPACE, ResourceId=resource, ScalableDimension=DIMENSION,
                                     MaxCapacity=5, SuspendedState={"DynamicScalingInSuspended": True})
    [target] = scaling.describe_scalable_targets(ServiceNamespace=NAMESPACE)["ScalableTargets"]
    assert (target["ResourceId"], target["MinCapacity"], target["MaxCapacity"]) == (resource, 2, 5)
    assert target["ScalableTargetARN"] == arn
    assert target["SuspendedState"] == {"DynamicScalingInSuspended": True, "DynamicScalingOutSuspended": False,
                                        "ScheduledScalingSuspended": False}
    cli = berth.aws("application-autoscaling", "describe-scalable-targets", "--service-namespace", "ecs",
                    "--resource-ids", resource)
    assert [t["ScalableTargetARN"] for t in cli["ScalableTargets"]] == [arn]

    # Tags on the target's ARN.
    scaling.tag_resource(ResourceARN=arn, Tags={"env": "test"})
    assert scaling.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"team": "web", "env": "test"}
    scaling.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert scaling.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"env": "test"}
    missing = arn[:-4] + "0000"
    code, _ = error_of(scaling.list_tags_for_resource, ResourceARN=missing)
    assert code == "ResourceNotFoundException"

    # A target tracking policy creates its two alarms, as AWS names and shapes them.
    answer = scaling.put_scaling_policy(
        PolicyName="cpu50", ServiceNamespace=NAMESPACE, ResourceId=resource, ScalableDimension=DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 50.0, "ScaleInCooldown": 10,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}})
    policy_arn = answer["PolicyARN"]
    assert policy_arn.startswith("arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:")
    assert policy_arn.endswith(f":resource/ecs/{resource}:policyName/cpu50")
    names = sorted(a["AlarmName"] for a in answer["Alarms"])
    assert names[0].startswith(f"TargetTracking-{resource}-AlarmHigh-")
    assert names[1].startswith(f"TargetTracking-{resource}-AlarmLow-")
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]}
    high, low = alarms[names[0]], alarms[names[1]]
    assert (high["Namespace"], high["MetricName"], high["Statistic"]) == ("AWS/ECS", "CPUUtilization", "Average")
    assert sorted((d["Name"], d["Value"]) for d in high["Dimensions"]) == [("ClusterName", cluster), ("ServiceName", "web")]
    assert (high["ComparisonOperator"], high["Threshold"], high["EvaluationPeriods"], high["Period"]) == (
        "GreaterThanThreshold", 50.0, 3, 60)
    assert (low["ComparisonOperator"], low["Threshold"], low["EvaluationPeriods"]) == ("LessThanThreshold", 45.0, 15)
    assert high["AlarmActions"] == [policy_arn] and low["AlarmActions"] == [policy_arn]
    assert high["AlarmDescription"] == f"DO NOT EDIT OR DELETE. For TargetTrackingScaling policy {policy_arn}."

    # Replacing it keeps its ARN and alarms; disabling scale-in drops the low alarm.
    again = scaling.put_scaling_policy(
        PolicyName="cpu50", ServiceNamespace=NAMESPACE, ResourceId=resource, ScalableDimension=DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 60.0, "DisableScaleIn": True,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}})
    assert again["PolicyARN"] == policy_arn
    assert [a["AlarmName"] for a in again["Alarms"]] == [names[0]]
    left = cloudwatch.describe_alarms(AlarmNamePrefix=f"TargetTracking-{resource}")["MetricAlarms"]
    assert [(a["AlarmName"], a["Threshold"]) for a in left] == [(names[0], 60.0)]

    # Step policies are checked.
    code, _ = error_of(scaling.put_scaling_policy, PolicyName="bad", ServiceNamespace=NAMESPACE, ResourceId=resource,
                       ScalableDimension=DIMENSION, PolicyType="StepScaling",
                       StepScalingPolicyConfiguration={"AdjustmentType": "ChangeInCapacity", "StepAdjustments": [
                           {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 10, "ScalingAdjustment": 1},
                           {"MetricIntervalLowerBound": 20, "ScalingAdjustment": 2}]})
    assert code == "ValidationException"
    policies = scaling.describe_scaling_policies(ServiceNamespace=NAMESPACE, ResourceId=resource)["ScalingPolicies"]
    assert [p["PolicyName"] for p in policies] == ["cpu50"]

    code, message = error_of(scaling.delete_scaling_policy, PolicyName="nope", ServiceNamespace=NAMESPACE,
                             ResourceId=resource, ScalableDimension=DIMENSION)
    assert code == "ObjectNotFoundException" and "policy name: nope" in message
    scaling.delete_scaling_policy(PolicyName="cpu50", ServiceNamespace=NAMESPACE, ResourceId=resource,
                                  ScalableDimension=DIMENSION)
    assert cloudwatch.describe_alarms(AlarmNamePrefix="TargetTracking-")["MetricAlarms"] == []

    scaling.deregister_scalable_target(ServiceNamespace=NAMESPACE, ResourceId=resource, ScalableDimension=DIMENSION)
    assert scaling.describe_scalable_targets(ServiceNamespace=NAMESPACE)["ScalableTargets"] == []
    code, _ = error_of(scaling.deregister_scalable_target, ServiceNamespace=NAMESPACE, ResourceId=resource,
                       ScalableDimension=DIMENSION)
    assert code == "ObjectNotFoundException"


def test_step_scaling_on_an_alarm(berth):
    ecs, cluster, resource = idle_service(berth)
    scaling = berth.client("application-autoscaling")
    cloudwatch = berth.client("cloudwatch")
    scaling.register_scalable_target(ServiceNamespace=NAMESPACE, ResourceId=resource, ScalableDimension=DIMENSION,
                                     MinCapacity=1, MaxCapacity=6)
    policy_arn = scaling.put_scaling_policy(
        PolicyName="queue-out", ServiceNamespace=NAMESPACE, ResourceId=resource, ScalableDimension=DIMENSION,
        PolicyType="StepScaling",
        StepScalingPolicyConfiguration={
            "AdjustmentType": "ChangeInCapacity", "Cooldown": 300, "MetricAggregationType": "Maximum",
            "StepAdjustments": [
                {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 10, "ScalingAdjustment": 1},
                {"MetricIntervalLowerBound": 10, "ScalingAdjustment": 3}]})["PolicyARN"]
    # 25 is 15 above the threshold: the second step, +3.
    now = time.time()
    cloudwatch.put_metric_data(Namespace="Test/Queue", MetricData=[
        {"MetricName": "Depth", "Value": 25.0, "Timestamp": now - offset} for offset in (25, 15, 5)])
    cloudwatch.put_metric_alarm(
        AlarmName=f"{cluster}-queue-deep", Namespace="Test/Queue", MetricName="Depth", Statistic="Maximum",
        Period=10, EvaluationPeriods=1, Threshold=10.0, ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[policy_arn])
    wait_for(lambda: service_of(ecs, cluster, "web")["desiredCount"] == 4, "step scale-out to 4", timeout=30)
    activity = scaling.describe_scaling_activities(ServiceNamespace=NAMESPACE, ResourceId=resource)["ScalingActivities"][0]
    assert activity["Description"] == "Setting desired count to 4."
    assert activity["Cause"] == f"monitor alarm {cluster}-queue-deep in state ALARM triggered policy queue-out"
    assert activity["StatusCode"] == "Successful"
    # While the alarm stays in ALARM the policy is invoked again each period, but its cooldown
    # counts what it added: the same breach does not scale twice.
    unchanged = invocations(berth, "unchanged")

    def invoked_again():
        cloudwatch.put_metric_data(Namespace="Test/Queue", MetricData=[{"MetricName": "Depth", "Value": 25.0}])
        return invocations(berth, "unchanged") > unchanged

    wait_for(invoked_again, "the policy invoked again while the alarm stays in ALARM", timeout=30)
    state = cloudwatch.describe_alarms(AlarmNames=[f"{cluster}-queue-deep"])["MetricAlarms"][0]["StateValue"]
    assert state == "ALARM"
    assert service_of(ecs, cluster, "web")["desiredCount"] == 4
    assert invocations(berth, "scaled") == 1
    assert len(scaling.describe_scaling_activities(ServiceNamespace=NAMESPACE, ResourceId=resource)["ScalingActivities"]) == 1

    [described] = scaling.describe_scaling_policies(ServiceNamespace=NAMESPACE, ResourceId=resource)["ScalingPolicies"]
    assert [a["AlarmName"] for a in described["Alarms"]] == [f"{cluster}-queue-deep"]

    # What was acknowledged survives kill -9.
    berth.kill9()
    berth.start()
    scaling = berth.client("application-autoscaling")
    [policy] = scaling.describe_scaling_policies(ServiceNamespace=NAMESPACE, ResourceId=resource)["ScalingPolicies"]
    assert policy["PolicyARN"] == policy_arn
    [activity] = scaling.describe_scaling_activities(ServiceNamespace=NAMESPACE, ResourceId=resource)["ScalingActivities"]
    assert activity["Description"] == "Setting desired count to 4."


@pytest.fixture
def fast_server(berth_binary):
    with running_berth(berth_binary, "--metric-period", "1") as server:
        yield server


@contextlib.contextmanager
def cluster_with_agent(server, berth_binary):
    cluster = f"s-{uuid.uuid4().hex[:10]}"
    ecs = server.client()
    ecs.create_cluster(clusterName=cluster)
    workdir = tempfile.TemporaryDirectory(prefix="berth-agent-")
    agent = Agent(berth_binary, server, cluster, Path(workdir.name) / "agent", ["--cpu", "4096", "--memory", "4096"])
    agent.start()
    try:
        wait_for(lambda: len(connected_instances(ecs, cluster)) == 1, "agent registration")
        yield cluster, ecs
    finally:
        agent.stop()
        remove_cluster_containers(cluster)
        workdir.cleanup()


def test_target_tracking_on_cpu_scales_out_in_seconds_and_back_in(fast_server, berth_binary, demo_image):
    with cluster_with_agent(fast_server, berth_binary) as (cluster, ecs):
        # Each task reserves 1,024 units and burns a core: 100 % against a 50 % target.
        ecs.register_task_definition(family="hot", containerDefinitions=[
            {"name": "app", "image": "berth-demo:latest", "command": ["burn"], "cpu": 1024, "memory": 64}])
        ecs.register_task_definition(family="cool", containerDefinitions=[
            {"name": "app", "image": "berth-demo:latest", "cpu": 1024, "memory": 64}])
        ecs.create_service(cluster=cluster, serviceName="berth-demo", taskDefinition="hot", desiredCount=1)
        wait_for(lambda: service_of(ecs, cluster, "berth-demo")["runningCount"] == 1, "the first task", timeout=60)
        resource = f"service/{cluster}/berth-demo"
        scaling = fast_server.client("application-autoscaling")
        scaling.register_scalable_target(ServiceNamespace=NAMESPACE, ResourceId=resource,
                                         ScalableDimension=DIMENSION, MinCapacity=1, MaxCapacity=2)
        alarms = scaling.put_scaling_policy(
            PolicyName="cpu50", ServiceNamespace=NAMESPACE, ResourceId=resource, ScalableDimension=DIMENSION,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 50.0, "ScaleOutCooldown": 5, "ScaleInCooldown": 5,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}})["Alarms"]
        high = next(a["AlarmName"] for a in alarms if "-AlarmHigh-" in a["AlarmName"])
        low = next(a["AlarmName"] for a in alarms if "-AlarmLow-" in a["AlarmName"])
        # The alarms follow the server's metric period.
        described = fast_server.client("cloudwatch").describe_alarms(AlarmNames=[high])["MetricAlarms"][0]
        assert described["Period"] == 1

        started = time.monotonic()
        wait_for(lambda: service_of(ecs, cluster, "berth-demo")["desiredCount"] == 2, "scale-out", timeout=45)
        scaled_out_after = time.monotonic() - started
        wait_for(lambda: service_of(ecs, cluster, "berth-demo")["runningCount"] == 2, "the new task", timeout=60)
        activity = scaling.describe_scaling_activities(
            ServiceNamespace=NAMESPACE, ResourceId=resource)["ScalingActivities"][0]
        assert activity["Description"] == "Setting desired count to 2."
        assert activity["Cause"] == f"monitor alarm {high} in state ALARM triggered policy cpu50"
        assert activity["StatusMessage"] == "Successfully set desired count to 2. Change successfully fulfilled by ecs."
        # Three 1-second datapoints above the target, then the decision: seconds, not minutes.
        assert scaled_out_after < 30, scaled_out_after

        # The load goes away (the tasks are replaced by idle ones): fifteen 1-second datapoints
        # below 45 %, and the service is back at its minimum, never below.
        ecs.update_service(cluster=cluster, service="berth-demo", taskDefinition="cool")
        counts = []

        def back_to_one():
            desired = service_of(ecs, cluster, "berth-demo")["desiredCount"]
            counts.append(desired)
            return desired == 1

        wait_for(back_to_one, "scale-in", timeout=120)
        assert min(counts) >= 1
        # The low alarm stays in ALARM and keeps invoking the policy: at the minimum capacity it
        # must change nothing.
        unchanged = invocations(fast_server, "unchanged")
        wait_for(lambda: invocations(fast_server, "unchanged") > unchanged,
                 "the policy invoked again at the minimum capacity", timeout=30)
        assert service_of(ecs, cluster, "berth-demo")["desiredCount"] == 1
        activity = scaling.describe_scaling_activities(
            ServiceNamespace=NAMESPACE, ResourceId=resource)["ScalingActivities"][0]
        assert activity["Description"] == "Setting desired count to 1."
        assert activity["Cause"] == f"monitor alarm {low} in state ALARM triggered policy cpu50"


def test_a_scheduled_action_fires_seconds_ahead(berth):
    ecs, cluster, resource = idle_service(berth)
    scaling = berth.client("application-autoscaling")
    scaling.register_scalable_target(ServiceNamespace=NAMESPACE, ResourceId=resource, ScalableDimension=DIMENSION,
                                     MinCapacity=1, MaxCapacity=3)
    code, message = error_of(scaling.put_scheduled_action, ServiceNamespace=NAMESPACE, ScheduledActionName="bad",
                             ResourceId=resource, ScalableDimension=DIMENSION, Schedule="every(5 minutes)",
                             ScalableTargetAction={"MinCapacity": 2})
    assert code == "ValidationException" and message.startswith("Invalid schedule expression."), message
    code, _ = error_of(scaling.put_scheduled_action, ServiceNamespace=NAMESPACE, ScheduledActionName="bad",
                       ResourceId=resource, ScalableDimension=DIMENSION, Schedule="cron(0 9 * * ? *)",
                       Timezone="Mars/Olympus", ScalableTargetAction={"MinCapacity": 2})
    assert code == "ValidationException"
    code, _ = error_of(scaling.put_scheduled_action, ServiceNamespace=NAMESPACE, ScheduledActionName="x",
                       ResourceId=f"service/{cluster}/other", ScalableDimension=DIMENSION,
                       Schedule="rate(5 minutes)", ScalableTargetAction={"MinCapacity": 2})
    assert code == "ObjectNotFoundException"

    # A weekday morning in Paris, never due in this test; and one a few seconds ahead.
    scaling.put_scheduled_action(ServiceNamespace=NAMESPACE, ScheduledActionName="mornings", ResourceId=resource,
                                 ScalableDimension=DIMENSION, Schedule="cron(0 9 ? * MON-FRI *)",
                                 Timezone="Europe/Paris", ScalableTargetAction={"MinCapacity": 3, "MaxCapacity": 3})
    at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 4))
    scaling.put_scheduled_action(ServiceNamespace=NAMESPACE, ScheduledActionName="soon", ResourceId=resource,
                                 ScalableDimension=DIMENSION, Schedule=f"at({at})",
                                 ScalableTargetAction={"MinCapacity": 2, "MaxCapacity": 5})
    actions = scaling.describe_scheduled_actions(ServiceNamespace=NAMESPACE, ResourceId=resource)["ScheduledActions"]
    assert sorted((a["ScheduledActionName"], a["Schedule"]) for a in actions) == [
        ("mornings", "cron(0 9 ? * MON-FRI *)"), ("soon", f"at({at})")]
    soon = next(a for a in actions if a["ScheduledActionName"] == "soon")
    assert soon["ScheduledActionARN"].startswith("arn:aws:autoscaling:us-east-1:000000000000:scheduledAction:")
    assert soon["ScheduledActionARN"].endswith(f":resource/ecs/{resource}:scheduledActionName/soon")
    assert soon["ScalableTargetAction"] == {"MinCapacity": 2, "MaxCapacity": 5}

    wait_for(lambda: service_of(ecs, cluster, "web")["desiredCount"] == 2, "the scheduled action", timeout=20)
    [target] = scaling.describe_scalable_targets(ServiceNamespace=NAMESPACE)["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 5)
    activities = scaling.describe_scaling_activities(ServiceNamespace=NAMESPACE, ResourceId=resource)["ScalingActivities"]
    assert sorted((a["Description"], a["Cause"], a["StatusCode"]) for a in activities) == [
        ("Setting desired count to 2.", "scheduled action name soon was triggered", "Successful"),
        ("Setting min capacity to 2 and max capacity to 5", "scheduled action name soon was triggered", "Successful"),
    ]

    scaling.delete_scheduled_action(ServiceNamespace=NAMESPACE, ScheduledActionName="soon", ResourceId=resource,
                                    ScalableDimension=DIMENSION)
    code, message = error_of(scaling.delete_scheduled_action, ServiceNamespace=NAMESPACE, ScheduledActionName="soon",
                             ResourceId=resource, ScalableDimension=DIMENSION)
    assert code == "ObjectNotFoundException" and "scheduled action name: soon" in message
    names = [a["ScheduledActionName"] for a in
             scaling.describe_scheduled_actions(ServiceNamespace=NAMESPACE)["ScheduledActions"]]
    assert names == ["mornings"]


def test_request_count_scaling_behind_a_listener(fast_server, berth_binary, demo_image):
    """A one-task service behind a listener, target tracking on ALBRequestCountPerTarget at 5
    requests per target per second; a local client sends 30 a second (bounded: 60 s at most)
    until the new task answers."""
    with cluster_with_agent(fast_server, berth_binary) as (cluster, ecs):
        elbv2, ec2 = fast_server.client("elbv2"), fast_server.client("ec2")
        scaling = fast_server.client("application-autoscaling")
        vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
        name = cluster[-8:]
        lb = elbv2.create_load_balancer(Name=f"lb-{name}")["LoadBalancers"][0]
        group = elbv2.create_target_group(
            Name=f"tg-{name}", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance",
            HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
        )["TargetGroups"][0]["TargetGroupArn"]
        port = free_port()
        listener = elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port,
                                         DefaultActions=[{"Type": "forward", "TargetGroupArn": group}])
        try:
            ecs.register_task_definition(family="web", containerDefinitions=[{
                "name": "web", "image": "berth-demo:latest", "memory": 64,
                "portMappings": [{"containerPort": 8080, "hostPort": 0}]}])
            ecs.create_service(cluster=cluster, serviceName="web", taskDefinition="web", desiredCount=1,
                               loadBalancers=[{"targetGroupArn": group, "containerName": "web", "containerPort": 8080}])

            def states():
                return [d["TargetHealth"]["State"] for d in
                        elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]]

            wait_for(lambda: states() == ["healthy"], "the first target", timeout=60)
            resource = f"service/{cluster}/web"
            scaling.register_scalable_target(ServiceNamespace=NAMESPACE, ResourceId=resource,
                                             ScalableDimension=DIMENSION, MinCapacity=1, MaxCapacity=2)
            label = lb["LoadBalancerArn"].split(":loadbalancer/", 1)[1] + "/" + group.split(":", 5)[5]
            policy = scaling.put_scaling_policy(
                PolicyName="requests", ServiceNamespace=NAMESPACE, ResourceId=resource, ScalableDimension=DIMENSION,
                PolicyType="TargetTrackingScaling",
                TargetTrackingScalingPolicyConfiguration={
                    "TargetValue": 5.0, "DisableScaleIn": True,
                    "PredefinedMetricSpecification": {"PredefinedMetricType": "ALBRequestCountPerTarget",
                                                      "ResourceLabel": label}})
            [alarm] = policy["Alarms"]
            described = fast_server.client("cloudwatch").describe_alarms(
                AlarmNames=[alarm["AlarmName"]])["MetricAlarms"][0]
            assert (described["Namespace"], described["MetricName"], described["Statistic"]) == (
                "AWS/ApplicationELB", "RequestCountPerTarget", "Sum")
            assert described["Dimensions"] == [{"Name": "TargetGroup", "Value": group.split(":", 5)[5]}]

            hosts = set()
            stopping = threading.Event()

            def load():
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                deadline = time.monotonic() + 60
                while not stopping.is_set() and time.monotonic() < deadline:
                    try:
                        connection.request("GET", "/")
                        body = connection.getresponse().read().decode()
                        hosts.add(body.strip())
                    except (OSError, http.client.HTTPException):
                        connection.close()
                        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    stopping.wait(1 / 30)
                connection.close()

            client = threading.Thread(target=load, daemon=True)
            client.start()
            try:
                wait_for(lambda: service_of(ecs, cluster, "web")["desiredCount"] == 2, "scale-out", timeout=30)
                wait_for(lambda: len(hosts) == 2, "the new task answering through the listener", timeout=45)
            finally:
                stopping.set()
                client.join(timeout=15)
            activity = scaling.describe_scaling_activities(
                ServiceNamespace=NAMESPACE, ResourceId=resource)["ScalingActivities"][0]
            assert activity["Cause"] == f"monitor alarm {alarm['AlarmName']} in state ALARM triggered policy requests"
        finally:
            ecs.update_service(cluster=cluster, service="web", desiredCount=0)
            ecs.delete_service(cluster=cluster, service="web", force=True)
            elbv2.delete_listener(ListenerArn=listener["Listeners"][0]["ListenerArn"])
