"""The load balancer's traffic as CloudWatch metrics, as ALB publishes them: a listener forwarding
to a real container, requests sent through it, and the `AWS/ApplicationELB` metrics read back
with boto3 by the dimensions ALB uses (`LoadBalancer` = `app/NAME/ID`, `TargetGroup` =
`targetgroup/NAME/ID`). The server publishes every second (`--metric-period 1`), so the
figures arrive within seconds, not at the end of a minute."""

import time

import pytest

from conftest import free_port, running_berth
from test_lb import container_target_group, get, health_of, web_container  # noqa: F401 (fixture)
from test_tasks import demo_image, wait_for  # noqa: F401 (fixture)

NAMESPACE = "AWS/ApplicationELB"


@pytest.fixture
def berth(berth_binary):
    with running_berth(berth_binary, "--metric-period", "1") as server:
        yield server


def dimension_value(arn, resource_type):
    """ALB's dimension value: the ARN's resource part (`app/NAME/ID` after `loadbalancer/`)."""
    resource = arn.split(":", 5)[5]
    return resource.removeprefix("loadbalancer/") if resource_type == "LoadBalancer" else resource


def statistics(cloudwatch, metric, dimensions, since):
    """One statistic set over everything since `since`, the periods' values combined."""
    points = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE, MetricName=metric,
        Dimensions=[{"Name": name, "Value": value} for name, value in dimensions.items()],
        StartTime=since - 120, EndTime=time.time() + 120, Period=60,
        Statistics=["Sum", "SampleCount", "Minimum", "Maximum"],
    )["Datapoints"]
    if not points:
        return None
    return {
        "Sum": sum(p["Sum"] for p in points),
        "SampleCount": sum(p["SampleCount"] for p in points),
        "Minimum": min(p["Minimum"] for p in points),
        "Maximum": max(p["Maximum"] for p in points),
        "Unit": points[0].get("Unit"),
    }


def test_requests_through_a_load_balancer_become_application_elb_metrics(berth, web_container):
    _, ip = web_container
    elbv2, cloudwatch = berth.client("elbv2"), berth.client("cloudwatch")
    since = time.time()
    lb = elbv2.create_load_balancer(Name="measured")["LoadBalancers"][0]
    group = container_target_group(berth, "measured", ip)
    vpc = berth.client("ec2").describe_vpcs(
        Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    empty = elbv2.create_target_group(Name="empty", Protocol="HTTP", Port=8080, VpcId=vpc,
                                      TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    port = free_port()
    listener = elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
    )["Listeners"][0]
    # A group without targets: the load balancer itself answers 503 (HTTPCode_ELB_5XX_Count).
    elbv2.create_rule(ListenerArn=listener["ListenerArn"], Priority=1,
                      Conditions=[{"Field": "path-pattern", "Values": ["/nowhere*"]}],
                      Actions=[{"Type": "forward", "TargetGroupArn": empty}])
    wait_for(lambda: health_of(elbv2, group) == [(ip, "healthy")], "the target to become healthy")

    served, refused = 20, 3
    for _ in range(served):
        status, body, _ = get(port, "/", lb["DNSName"])
        assert status == 200, body
    for _ in range(refused):
        status, _, _ = get(port, "/nowhere", lb["DNSName"])
        assert status == 503

    load_balancer = {"LoadBalancer": dimension_value(lb["LoadBalancerArn"], "LoadBalancer")}
    target_group = {"TargetGroup": dimension_value(group, "TargetGroup")}
    assert load_balancer["LoadBalancer"].startswith("app/measured/")
    assert target_group["TargetGroup"].startswith("targetgroup/measured/")

    def total(metric, dimensions):
        stats = statistics(cloudwatch, metric, dimensions, since)
        return stats and stats["Sum"]

    wait_for(lambda: total("RequestCount", load_balancer) == served + refused,
             "RequestCount to reach every request", timeout=20)
    wait_for(lambda: total("HTTPCode_Target_2XX_Count", load_balancer) == served,
             "the targets' 2XX answers", timeout=10)
    wait_for(lambda: total("HTTPCode_ELB_5XX_Count", load_balancer) == refused,
             "the load balancer's 503s", timeout=10)
    wait_for(lambda: total("RequestCount", {**target_group, **load_balancer}) == served,
             "the target group's RequestCount", timeout=10)
    # One healthy target: per target, the group's requests; by TargetGroup alone as well.
    wait_for(lambda: total("RequestCountPerTarget", target_group) == served,
             "RequestCountPerTarget", timeout=10)
    wait_for(lambda: total("RequestCountPerTarget", {**target_group, **load_balancer}) == served,
             "RequestCountPerTarget per load balancer", timeout=10)

    # TargetResponseTime: seconds, one sample per answer from the target.
    response_time = statistics(cloudwatch, "TargetResponseTime", load_balancer, since)
    assert response_time["SampleCount"] == served
    assert response_time["Unit"] == "Seconds"
    assert 0 < response_time["Minimum"] <= response_time["Sum"] / served <= response_time["Maximum"] < 10
    hosts = wait_for(lambda: statistics(cloudwatch, "HealthyHostCount", {**target_group, **load_balancer}, since),
                     "HealthyHostCount", timeout=10)
    assert hosts["Maximum"] == 1  # 0 while the target's first checks ran
    unhealthy = statistics(cloudwatch, "UnHealthyHostCount", {**target_group, **load_balancer}, since)
    assert unhealthy["Maximum"] == 0
    assert total("NewConnectionCount", load_balancer) == served + refused
    assert total("ActiveConnectionCount", load_balancer) >= served + refused

    # ListMetrics shows them, under ALB's dimensions; a count that stayed zero is not reported.
    listed = {(m["MetricName"], tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"])))
              for m in cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"]}
    by_lb = tuple(load_balancer.items())
    by_group = tuple(sorted({**target_group, **load_balancer}.items()))
    for metric in ("RequestCount", "HTTPCode_Target_2XX_Count", "HTTPCode_ELB_5XX_Count", "TargetResponseTime",
                   "NewConnectionCount", "ActiveConnectionCount"):
        assert (metric, by_lb) in listed, metric
    for metric in ("RequestCount", "HTTPCode_Target_2XX_Count", "TargetResponseTime", "HealthyHostCount",
                   "UnHealthyHostCount", "RequestCountPerTarget"):
        assert (metric, by_group) in listed, metric
    assert ("RequestCountPerTarget", tuple(target_group.items())) in listed
    names = {name for name, _ in listed}
    assert "HTTPCode_Target_5XX_Count" not in names
    assert "HTTPCode_ELB_4XX_Count" not in names
    # The group without targets is used by the listener but has no figure per target.
    assert not any(dict(dims).get("TargetGroup", "").startswith("targetgroup/empty/")
                   and name == "RequestCountPerTarget" for name, dims in listed)

    # An idle load balancer reports no more requests: once two more periods were published (the
    # healthy-host gauge gets a sample each period), the totals are as they were.
    by_group_dims = {**target_group, **load_balancer}
    samples = statistics(cloudwatch, "HealthyHostCount", by_group_dims, since)["SampleCount"]
    wait_for(lambda: statistics(cloudwatch, "HealthyHostCount", by_group_dims, since)["SampleCount"] >= samples + 2,
             "two more periods to be published", timeout=10)
    assert total("RequestCount", load_balancer) == served + refused
