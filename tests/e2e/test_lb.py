"""Load balancers carrying traffic: what the elbv2 API configures, Berth's data plane serves, to a
real container, reached by the load balancer's DNS name on its listener's port, with health
checks reported back through DescribeTargetHealth."""

import http.client
import socket
import subprocess
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import free_port
from test_tasks import demo_image, wait_for  # noqa: F401 (fixture)


@pytest.fixture
def web_container(demo_image):  # noqa: F811 (fixture)
    """A berth-demo HTTP server on Docker's bridge network; yields its address there."""
    name = f"berth-e2e-lb-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "run", "-d", "--name", name, demo_image, "serve", "--port", "8080"],
                   check=True, capture_output=True)
    try:
        ip = subprocess.run(["docker", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", name],
                            check=True, capture_output=True, text=True).stdout.strip()
        assert ip, "the container has no bridge address"
        yield name, ip
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def get(port, path, host):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        connection.close()


def status_through(port, path, host):
    """The status of a GET through the listener, or None while nothing accepts connections."""
    try:
        return get(port, path, host)[0]
    except OSError:
        return None


def container_target_group(berth, name, ip):
    """An `ip` target group of the default VPC, checked every 5 s, holding the container at `ip`."""
    elbv2, ec2 = berth.client("elbv2"), berth.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    arn = elbv2.create_target_group(
        Name=name, Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip",
        HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
    )["TargetGroups"][0]["TargetGroupArn"]
    # Docker's bridge is outside the VPC's 172.31.0.0/16: such IP targets are in zone "all".
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": ip, "Port": 8080, "AvailabilityZone": "all"}])
    return arn


def health_of(elbv2, target_group_arn):
    return [(d["Target"]["Id"], d["TargetHealth"]["State"])
            for d in elbv2.describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]]


def test_a_listener_forwards_to_a_healthy_container_and_applies_its_rules(berth, web_container):
    _, ip = web_container
    elbv2 = berth.client("elbv2")
    lb = elbv2.create_load_balancer(Name="web")["LoadBalancers"][0]
    arn = container_target_group(berth, "demo", ip)
    assert health_of(elbv2, arn) == [(ip, "unused")]

    port = free_port()
    listener = elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": arn}],
    )["Listeners"][0]
    elbv2.create_rule(
        ListenerArn=listener["ListenerArn"], Priority=5,
        Conditions=[{"Field": "path-pattern", "Values": ["/maintenance*"]}],
        Actions=[{"Type": "fixed-response", "FixedResponseConfig": {
            "StatusCode": "503", "ContentType": "text/plain", "MessageBody": "back soon"}}],
    )

    # Health checks run against the container and their verdict reaches the API.
    wait_for(lambda: health_of(elbv2, arn) == [(ip, "healthy")], "the target to become healthy")

    status, body, _ = get(port, "/", lb["DNSName"])
    assert status == 200, body
    status, body, _ = get(port, "/maintenance/today", lb["DNSName"])
    assert (status, body) == (503, b"back soon")
    # Alone on its port, the load balancer answers whatever name was used to reach it, as an ALB
    # does at its own addresses.
    status, _, _ = get(port, "/", "127.0.0.1")
    assert status == 200

    # Deregistered: the target drains, then gets no traffic; with no target left, ALB says 503.
    elbv2.modify_target_group_attributes(
        TargetGroupArn=arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "1"}])
    elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": ip, "Port": 8080}])
    wait_for(lambda: status_through(port, "/", lb["DNSName"]) == 503, "traffic to stop after draining")
    wait_for(lambda: health_of(elbv2, arn) == [], "the drained target to leave the group")


def test_load_balancers_survive_a_restart(berth, web_container):
    _, ip = web_container
    elbv2 = berth.client("elbv2")
    lb = elbv2.create_load_balancer(Name="kept")["LoadBalancers"][0]
    arn = container_target_group(berth, "kept", ip)
    port = free_port()
    elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": arn}])
    wait_for(lambda: status_through(port, "/", lb["DNSName"]) == 200, "traffic through the listener")

    berth.kill9()
    berth.start()
    wait_for(lambda: status_through(port, "/", lb["DNSName"]) == 200, "traffic through the listener after a restart")


def curl(url):
    done = subprocess.run(["curl", "-s", "-m", "5", "-w", "\n%{http_code}", url],
                          capture_output=True, text=True, timeout=10)
    body, _, code = done.stdout.rpartition("\n")
    return code, body


def test_two_load_balancers_share_a_port_and_curl_reaches_each_by_its_dns_name(berth):
    elbv2 = berth.client("elbv2")
    port = free_port()
    names = {}
    for name in ("blue", "green"):
        lb = elbv2.create_load_balancer(Name=name)["LoadBalancers"][0]
        elbv2.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port,
            DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {
                "StatusCode": "200", "ContentType": "text/plain", "MessageBody": f"this is {name}"}}],
        )
        names[name] = lb["DNSName"]
    # curl resolves names under .localhost to loopback, as browsers do.
    for name, dns_name in names.items():
        wait_for(lambda: curl(f"http://{dns_name}:{port}/") == ("200", f"this is {name}"),
                 f"{name} through its DNS name")


def test_a_listener_on_a_port_another_process_holds_is_refused(berth):
    elbv2 = berth.client("elbv2")
    lb = elbv2.create_load_balancer(Name="web")["LoadBalancers"][0]
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(ClientError) as refused:
            elbv2.create_listener(
                LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port,
                DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}])
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidConfigurationRequest"
    assert error["Message"].startswith(f"Port {port} cannot be used for a listener: cannot listen on 127.0.0.1:{port}")
    assert elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"] == []
