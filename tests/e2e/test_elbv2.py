"""Elastic Load Balancing v2 (Application Load Balancers) through real boto3 and aws-cli: load
balancers in the default network, the two-zone rule, target groups with ALB's defaults and
bounds, attributes, listeners and rules with every condition type, target registration and
health states, tags, account limits and ALB's error codes."""

import pytest
from botocore.exceptions import ClientError

from conftest import free_port

# Listeners are served for real: ports a test run can bind without privilege, the same for the
# whole module (each test has its own server), so that a second listener on it is a duplicate.
LISTENER_PORT = free_port()
OTHER_PORT = free_port()


@pytest.fixture
def elbv2(berth):
    return berth.client("elbv2")


@pytest.fixture
def ec2(berth):
    return berth.client("ec2")


def error_of(call, *args, **kwargs):
    with pytest.raises(ClientError) as raised:
        call(*args, **kwargs)
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def error_code(call, *args, **kwargs):
    return error_of(call, *args, **kwargs)[0]


def default_vpc(ec2):
    return ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]


def target_group(elbv2, ec2, name="web", **extra):
    return elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=default_vpc(ec2),
                                     **extra)["TargetGroups"][0]


def load_balancer(elbv2, name="web"):
    return elbv2.create_load_balancer(Name=name)["LoadBalancers"][0]


def http_listener(elbv2, lb, tg, port=LISTENER_PORT):
    return elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port,
                                 DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
                                 )["Listeners"][0]


def test_load_balancer_in_the_default_network(elbv2, ec2):
    lb = load_balancer(elbv2)
    vpc = default_vpc(ec2)
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    assert lb["VpcId"] == vpc
    assert lb["Type"] == "application"
    assert lb["Scheme"] == "internet-facing"
    assert lb["State"]["Code"] == "active"
    assert lb["IpAddressType"] == "ipv4"
    assert lb["LoadBalancerArn"].startswith(
        "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/web/")
    assert lb["DNSName"].startswith("web-") and lb["DNSName"].endswith(".us-east-1.elb.localhost")
    assert sorted(z["SubnetId"] for z in lb["AvailabilityZones"]) == sorted(s["SubnetId"] for s in subnets)
    default_group = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"][0]["GroupId"]
    assert lb["SecurityGroups"] == [default_group]

    # The same request again answers the same load balancer; other settings are a duplicate.
    assert load_balancer(elbv2)["LoadBalancerArn"] == lb["LoadBalancerArn"]
    two = [s["SubnetId"] for s in subnets[:2]]
    assert error_code(elbv2.create_load_balancer, Name="web", Subnets=two) == "DuplicateLoadBalancerName"

    described = elbv2.describe_load_balancers(Names=["web"])["LoadBalancers"]
    assert [d["LoadBalancerArn"] for d in described] == [lb["LoadBalancerArn"]]
    assert elbv2.describe_load_balancers(LoadBalancerArns=[lb["LoadBalancerArn"]])["LoadBalancers"][0][
        "DNSName"] == lb["DNSName"]
    assert error_of(elbv2.describe_load_balancers, Names=["web", "nope", "gone"]) == \
        ("LoadBalancerNotFound", "Load balancers '[nope, gone]' not found")

    elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []
    assert error_code(elbv2.delete_load_balancer, LoadBalancerArn=lb["LoadBalancerArn"]) == "LoadBalancerNotFound"


def test_subnets_security_groups_and_names(elbv2, ec2):
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    by_zone = {}
    for subnet in subnets:
        by_zone.setdefault(subnet["AvailabilityZone"], subnet["SubnetId"])
    one = list(by_zone.values())[:1]
    code, message = error_of(elbv2.create_load_balancer, Name="one-zone", Subnets=one)
    assert code == "ValidationError"
    assert message == "At least two subnets in two different Availability Zones must be specified"
    vpc = default_vpc(ec2)
    extra = ec2.create_subnet(VpcId=vpc, CidrBlock="172.31.200.0/24",
                              AvailabilityZone=subnets[0]["AvailabilityZone"])["Subnet"]["SubnetId"]
    same_zone = [subnets[0]["SubnetId"], extra]
    assert error_code(elbv2.create_load_balancer, Name="same-zone", Subnets=same_zone) == \
        "InvalidConfigurationRequest"
    assert error_code(elbv2.create_load_balancer, Name="ghost", Subnets=["subnet-0000000000000000a", one[0]]) == \
        "SubnetNotFound"
    two = list(by_zone.values())[:2]
    assert error_code(elbv2.create_load_balancer, Name="bad-sg", Subnets=two,
                      SecurityGroups=["sg-0000000000000000a"]) == "InvalidSecurityGroup"
    group = ec2.create_security_group(GroupName="lb", Description="lb", VpcId=vpc)["GroupId"]
    lb = elbv2.create_load_balancer(Name="mapped", SubnetMappings=[{"SubnetId": s} for s in two],
                                    SecurityGroups=[group], Scheme="internal")["LoadBalancers"][0]
    assert lb["SecurityGroups"] == [group]
    assert lb["DNSName"].startswith("internal-mapped-")
    assert error_code(elbv2.create_load_balancer, Name="fixed-ip", SubnetMappings=[
        {"SubnetId": two[0], "PrivateIPv4Address": "172.31.0.10"}, {"SubnetId": two[1]}]) == "ValidationError"
    assert len(lb["AvailabilityZones"]) == 2

    for bad in ["-lead", "trail-", "internal-x", "a" * 33, "under_score"]:
        assert error_code(elbv2.create_load_balancer, Name=bad) == "ValidationError", bad
    assert error_code(elbv2.create_load_balancer, Name="nlb", Type="network") == "ValidationError"


def test_load_balancer_attributes_and_deletion_protection(elbv2):
    lb = load_balancer(elbv2)
    arn = lb["LoadBalancerArn"]
    attributes = {a["Key"]: a["Value"] for a in
                  elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]}
    assert attributes["idle_timeout.timeout_seconds"] == "60"
    assert attributes["routing.http2.enabled"] == "true"
    assert attributes["deletion_protection.enabled"] == "false"
    assert attributes["access_logs.s3.enabled"] == "false"
    assert attributes["routing.http.desync_mitigation_mode"] == "defensive"

    changed = elbv2.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=[
        {"Key": "idle_timeout.timeout_seconds", "Value": "120"},
        {"Key": "deletion_protection.enabled", "Value": "true"}])["Attributes"]
    assert {"Key": "idle_timeout.timeout_seconds", "Value": "120"} in changed
    assert error_code(elbv2.modify_load_balancer_attributes, LoadBalancerArn=arn,
                      Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": "4001"}]) == "ValidationError"
    assert error_code(elbv2.modify_load_balancer_attributes, LoadBalancerArn=arn,
                      Attributes=[{"Key": "no.such.key", "Value": "1"}]) == "ValidationError"
    assert error_code(elbv2.delete_load_balancer, LoadBalancerArn=arn) == "OperationNotPermitted"
    elbv2.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=[
        {"Key": "deletion_protection.enabled", "Value": "false"}])
    elbv2.delete_load_balancer(LoadBalancerArn=arn)


def test_target_group_defaults_bounds_and_attributes(elbv2, ec2):
    tg = target_group(elbv2, ec2)
    assert tg["TargetType"] == "instance"
    assert tg["HealthCheckProtocol"] == "HTTP"
    assert tg["HealthCheckPort"] == "traffic-port"
    assert tg["HealthCheckPath"] == "/"
    assert (tg["HealthCheckIntervalSeconds"], tg["HealthCheckTimeoutSeconds"]) == (30, 5)
    assert (tg["HealthyThresholdCount"], tg["UnhealthyThresholdCount"]) == (5, 2)
    assert tg["Matcher"] == {"HttpCode": "200"}
    assert tg["LoadBalancerArns"] == []
    assert tg["TargetGroupArn"].startswith("arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/")

    vpc = default_vpc(ec2)
    assert error_code(elbv2.create_target_group, Name="web", Protocol="HTTP", Port=8080, VpcId=vpc) == \
        "DuplicateTargetGroupName"
    assert error_code(elbv2.create_target_group, Name="fast", Protocol="HTTP", Port=80, VpcId=vpc,
                      HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=5) == "ValidationError"
    assert error_code(elbv2.create_target_group, Name="slow", Protocol="HTTP", Port=80, VpcId=vpc,
                      HealthCheckIntervalSeconds=301) == "ValidationError"
    assert error_code(elbv2.create_target_group, Name="nov", Protocol="HTTP", Port=80) == "ValidationError"
    assert error_code(elbv2.create_target_group, Name="tcp", Protocol="TCP", Port=80, VpcId=vpc) == \
        "UnsupportedProtocol"
    assert error_code(elbv2.create_target_group, Name="m", Protocol="HTTP", Port=80, VpcId=vpc,
                      Matcher={"HttpCode": "600"}) == "ValidationError"
    ranged = elbv2.create_target_group(Name="ranged", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip",
                                       Matcher={"HttpCode": "200-299"}, HealthCheckPath="/health",
                                       HealthCheckIntervalSeconds=10,
                                       HealthCheckTimeoutSeconds=3)["TargetGroups"][0]
    assert ranged["Matcher"] == {"HttpCode": "200-299"}
    modified = elbv2.modify_target_group(TargetGroupArn=ranged["TargetGroupArn"], HealthCheckPath="/ready",
                                         Matcher={"HttpCode": "200,204"})["TargetGroups"][0]
    assert (modified["HealthCheckPath"], modified["Matcher"]["HttpCode"]) == ("/ready", "200,204")
    assert error_code(elbv2.modify_target_group, TargetGroupArn=ranged["TargetGroupArn"],
                      HealthCheckTimeoutSeconds=10) == "ValidationError"

    attributes = {a["Key"]: a["Value"] for a in
                  elbv2.describe_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"])["Attributes"]}
    assert attributes["deregistration_delay.timeout_seconds"] == "300"
    assert attributes["stickiness.enabled"] == "false"
    assert attributes["stickiness.type"] == "lb_cookie"
    assert attributes["stickiness.lb_cookie.duration_seconds"] == "86400"
    assert attributes["load_balancing.algorithm.type"] == "round_robin"
    assert attributes["slow_start.duration_seconds"] == "0"

    def modify(**pairs):
        return elbv2.modify_target_group_attributes(
            TargetGroupArn=tg["TargetGroupArn"],
            Attributes=[{"Key": k, "Value": v} for k, v in pairs.items()])

    modify(**{"stickiness.enabled": "true", "deregistration_delay.timeout_seconds": "0"})
    assert error_code(modify, **{"deregistration_delay.timeout_seconds": "3601"}) == "ValidationError"
    assert error_code(modify, **{"stickiness.type": "source_ip"}) == "ValidationError"
    assert error_code(modify, **{"slow_start.duration_seconds": "10"}) == "ValidationError"
    modify(**{"slow_start.duration_seconds": "30"})
    assert error_code(modify, **{"load_balancing.algorithm.type": "least_outstanding_requests"}) == \
        "InvalidConfigurationRequest"

    names = [g["TargetGroupName"] for g in elbv2.describe_target_groups(PageSize=1)["TargetGroups"]]
    assert names == ["ranged"]
    pages = elbv2.get_paginator("describe_target_groups").paginate(PaginationConfig={"PageSize": 1})
    assert [g["TargetGroupName"] for page in pages for g in page["TargetGroups"]] == ["ranged", "web"]
    assert error_code(elbv2.describe_target_groups, Names=["nope"]) == "TargetGroupNotFound"


def test_listeners_rules_and_errors(elbv2, ec2):
    lb = load_balancer(elbv2)
    tg = target_group(elbv2, ec2)
    api = target_group(elbv2, ec2, name="api")
    listener = http_listener(elbv2, lb, tg)
    assert listener["Port"] == LISTENER_PORT and listener["Protocol"] == "HTTP"
    assert listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"] == [
        {"TargetGroupArn": tg["TargetGroupArn"], "Weight": 1}]
    assert elbv2.describe_target_groups(TargetGroupArns=[tg["TargetGroupArn"]])["TargetGroups"][0][
        "LoadBalancerArns"] == [lb["LoadBalancerArn"]]
    assert [g["TargetGroupName"] for g in
            elbv2.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])["TargetGroups"]] == ["web"]
    # The same listener again is the same; another on the port is a duplicate.
    assert http_listener(elbv2, lb, tg)["ListenerArn"] == listener["ListenerArn"]
    assert error_code(http_listener, elbv2, lb, api) == "DuplicateListener"
    assert error_code(elbv2.create_listener, LoadBalancerArn=lb["LoadBalancerArn"], Protocol="TCP", Port=OTHER_PORT,
                      DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}]) == \
        "UnsupportedProtocol"
    missing = tg["TargetGroupArn"].replace("targetgroup/web/", "targetgroup/gone/")
    assert error_of(elbv2.create_listener, LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=OTHER_PORT,
                    DefaultActions=[{"Type": "forward", "TargetGroupArn": missing}]) == \
        ("TargetGroupNotFound", f"Target groups '{missing}' not found")

    arn = listener["ListenerArn"]
    conditions = {
        "path": [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}],
        "host": [{"Field": "host-header", "Values": ["api.example.com"]}],
        "header": [{"Field": "http-header",
                    "HttpHeaderConfig": {"HttpHeaderName": "X-Beta", "Values": ["on"]}}],
        "method": [{"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["POST"]}}],
        "query": [{"Field": "query-string",
                   "QueryStringConfig": {"Values": [{"Key": "version", "Value": "v2"}]}}],
        "source": [{"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/8"]}}],
    }
    forward_api = [{"Type": "forward", "TargetGroupArn": api["TargetGroupArn"]}]
    rules = {}
    for priority, (name, condition) in enumerate(conditions.items(), start=10):
        rules[name] = elbv2.create_rule(ListenerArn=arn, Priority=priority, Conditions=condition,
                                        Actions=forward_api)["Rules"][0]
    assert rules["host"]["Conditions"][0]["HostHeaderConfig"]["Values"] == ["api.example.com"]
    assert rules["path"]["Conditions"][0]["Values"] == ["/api/*"]
    assert error_code(elbv2.create_rule, ListenerArn=arn, Priority=10, Conditions=conditions["path"],
                      Actions=forward_api) == "PriorityInUse"
    six = [{"Field": "path-pattern", "Values": [f"/{i}" for i in range(6)]}]
    assert error_code(elbv2.create_rule, ListenerArn=arn, Priority=99, Conditions=six,
                      Actions=forward_api) == "ValidationError"
    assert error_code(elbv2.create_rule, ListenerArn=arn, Priority=99, Actions=forward_api,
                      Conditions=[{"Field": "http-request-method",
                                   "HttpRequestMethodConfig": {"Values": ["get"]}}]) == "ValidationError"
    assert error_code(elbv2.create_rule, ListenerArn=arn, Priority=99, Actions=forward_api,
                      Conditions=[{"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/40"]}}]) == \
        "ValidationError"
    assert error_code(elbv2.create_rule, ListenerArn=arn, Priority=50001, Conditions=conditions["path"],
                      Actions=forward_api) == "ValidationError"

    fixed = elbv2.create_rule(ListenerArn=arn, Priority=1, Conditions=[
        {"Field": "path-pattern", "Values": ["/down"]}], Actions=[
        {"Type": "fixed-response",
         "FixedResponseConfig": {"StatusCode": "503", "ContentType": "text/plain", "MessageBody": "down"}}])
    assert fixed["Rules"][0]["Actions"][0]["FixedResponseConfig"]["StatusCode"] == "503"
    redirect = elbv2.create_rule(ListenerArn=arn, Priority=2, Conditions=[
        {"Field": "path-pattern", "Values": ["/old"]}], Actions=[
        {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}])
    config = redirect["Rules"][0]["Actions"][0]["RedirectConfig"]
    assert (config["Host"], config["Path"], config["Query"]) == ("#{host}", "/#{path}", "#{query}")
    weighted = elbv2.create_rule(ListenerArn=arn, Priority=3, Conditions=[
        {"Field": "path-pattern", "Values": ["/split"]}], Actions=[
        {"Type": "forward", "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": tg["TargetGroupArn"], "Weight": 80},
                             {"TargetGroupArn": api["TargetGroupArn"], "Weight": 20}],
            "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 60}}}])
    assert len(weighted["Rules"][0]["Actions"][0]["ForwardConfig"]["TargetGroups"]) == 2
    assert error_code(elbv2.create_rule, ListenerArn=arn, Priority=4, Conditions=conditions["path"], Actions=[
        {"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": tg["TargetGroupArn"], "Weight": 1000}]}}]) == "ValidationError"

    described = elbv2.describe_rules(ListenerArn=arn)["Rules"]
    assert [r["Priority"] for r in described] == ["1", "2", "3", "10", "11", "12", "13", "14", "15", "default"]
    default = described[-1]
    assert default["IsDefault"] is True
    assert error_code(elbv2.delete_rule, RuleArn=default["RuleArn"]) == "OperationNotPermitted"
    assert error_code(elbv2.modify_rule, RuleArn=default["RuleArn"], Conditions=conditions["path"]) == \
        "OperationNotPermitted"

    modified = elbv2.modify_rule(RuleArn=rules["path"]["RuleArn"],
                                 Conditions=[{"Field": "path-pattern", "Values": ["/v2/*"]}])["Rules"][0]
    assert modified["Conditions"][0]["Values"] == ["/v2/*"]
    assert error_code(elbv2.set_rule_priorities, RulePriorities=[
        {"RuleArn": rules["path"]["RuleArn"], "Priority": 11}]) == "PriorityInUse"
    swapped = elbv2.set_rule_priorities(RulePriorities=[
        {"RuleArn": rules["path"]["RuleArn"], "Priority": 11},
        {"RuleArn": rules["host"]["RuleArn"], "Priority": 10}])["Rules"]
    by_arn = {r["RuleArn"]: r["Priority"] for r in swapped}
    assert (by_arn[rules["path"]["RuleArn"]], by_arn[rules["host"]["RuleArn"]]) == ("11", "10")

    # A group in use cannot be deleted, nor forwarded to by a second load balancer.
    code, message = error_of(elbv2.delete_target_group, TargetGroupArn=api["TargetGroupArn"])
    assert code == "ResourceInUse"
    other = load_balancer(elbv2, name="other")
    assert error_code(http_listener, elbv2, other, api) == "TargetGroupAssociationLimit"

    elbv2.delete_rule(RuleArn=rules["path"]["RuleArn"])
    assert error_code(elbv2.describe_rules, RuleArns=[rules["path"]["RuleArn"]]) == "RuleNotFound"
    modified_listener = elbv2.modify_listener(ListenerArn=arn, Port=OTHER_PORT, DefaultActions=[
        {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}])["Listeners"][0]
    assert modified_listener["Port"] == OTHER_PORT
    assert [r for r in elbv2.describe_rules(ListenerArn=arn)["Rules"] if r["IsDefault"]][0]["Actions"][0][
        "Type"] == "fixed-response"
    elbv2.delete_listener(ListenerArn=arn)
    assert error_code(elbv2.describe_listeners, ListenerArns=[arn]) == "ListenerNotFound"
    # An ARN of another kind, region or account is not a listener's at all.
    assert error_code(elbv2.describe_listeners, ListenerArns=[tg["TargetGroupArn"]]) == "ValidationError"
    assert error_code(elbv2.describe_listeners, ListenerArns=[arn.replace("us-east-1", "eu-west-1")]) == \
        "ValidationError"
    assert error_code(elbv2.describe_rules, ListenerArn=arn) == "ListenerNotFound"
    # With no listener left, nothing uses the groups.
    elbv2.delete_target_group(TargetGroupArn=api["TargetGroupArn"])
    assert error_code(elbv2.describe_target_groups, TargetGroupArns=[api["TargetGroupArn"]]) == \
        "TargetGroupNotFound"


def test_deleting_a_load_balancer_deletes_its_listeners(elbv2, ec2):
    lb = load_balancer(elbv2)
    tg = target_group(elbv2, ec2)
    listener = http_listener(elbv2, lb, tg)
    elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    assert error_code(elbv2.describe_listeners, ListenerArns=[listener["ListenerArn"]]) == "ListenerNotFound"
    assert elbv2.describe_target_groups()["TargetGroups"][0]["LoadBalancerArns"] == []
    elbv2.delete_target_group(TargetGroupArn=tg["TargetGroupArn"])


def health(elbv2, tg):
    return {(d["Target"]["Id"], d["Target"]["Port"]): (d["TargetHealth"]["State"], d["TargetHealth"].get("Reason"))
            for d in elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]}


def test_targets_and_health_states(elbv2, ec2):
    tg = target_group(elbv2, ec2)
    arn = tg["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": "i-0123456789abcdef0"},
                                                        {"Id": "i-0123456789abcdef0", "Port": 8080}])
    assert health(elbv2, tg) == {("i-0123456789abcdef0", 80): ("unused", "Target.NotInUse"),
                                 ("i-0123456789abcdef0", 8080): ("unused", "Target.NotInUse")}
    assert error_code(elbv2.register_targets, TargetGroupArn=arn, Targets=[{"Id": "10.0.0.1"}]) == "InvalidTarget"

    lb = load_balancer(elbv2)
    http_listener(elbv2, lb, tg)
    assert health(elbv2, tg)[("i-0123456789abcdef0", 80)] == ("initial", "Elb.RegistrationInProgress")
    description = elbv2.describe_target_health(TargetGroupArn=arn, Targets=[{"Id": "i-0123456789abcdef0"}])[
        "TargetHealthDescriptions"][0]
    assert description["HealthCheckPort"] == "80"
    assert description["TargetHealth"]["Description"] == "Target registration is in progress"

    elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": "i-0123456789abcdef0", "Port": 8080}])
    assert health(elbv2, tg)[("i-0123456789abcdef0", 8080)] == ("draining", "Target.DeregistrationInProgress")
    # Registering a draining target again takes it back.
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": "i-0123456789abcdef0", "Port": 8080}])
    assert health(elbv2, tg)[("i-0123456789abcdef0", 8080)] == ("initial", "Elb.RegistrationInProgress")

    # With no deregistration delay the target goes at once.
    elbv2.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "0"}])
    elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": "i-0123456789abcdef0", "Port": 8080}])
    assert list(health(elbv2, tg)) == [("i-0123456789abcdef0", 80)]
    assert error_code(elbv2.deregister_targets, TargetGroupArn=arn,
                      Targets=[{"Id": "i-0123456789abcdef0", "Port": 8080}]) == "InvalidTarget"
    asked = elbv2.describe_target_health(TargetGroupArn=arn, Targets=[{"Id": "i-00000000", "Port": 80}])[
        "TargetHealthDescriptions"][0]["TargetHealth"]
    assert (asked["State"], asked["Reason"]) == ("unused", "Target.NotRegistered")

    ip_group = target_group(elbv2, ec2, name="ips", TargetType="ip")
    elbv2.register_targets(TargetGroupArn=ip_group["TargetGroupArn"], Targets=[
        {"Id": "172.31.1.10"}, {"Id": "10.1.2.3", "Port": 9000}, {"Id": "127.0.0.1", "Port": 8081}])
    zones = {d["Target"]["Id"]: d["Target"].get("AvailabilityZone") for d in elbv2.describe_target_health(
        TargetGroupArn=ip_group["TargetGroupArn"])["TargetHealthDescriptions"]}
    assert zones == {"172.31.1.10": None, "10.1.2.3": "all", "127.0.0.1": "all"}
    assert error_code(elbv2.register_targets, TargetGroupArn=ip_group["TargetGroupArn"],
                      Targets=[{"Id": "8.8.8.8"}]) == "InvalidTarget"


def test_tags(elbv2, ec2):
    lb = load_balancer(elbv2)
    tg = target_group(elbv2, ec2, Tags=[{"Key": "team", "Value": "web"}])
    listener = http_listener(elbv2, lb, tg)
    rule = elbv2.create_rule(ListenerArn=listener["ListenerArn"], Priority=1, Actions=[
        {"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}], Conditions=[
        {"Field": "path-pattern", "Values": ["/x"]}])["Rules"][0]
    arns = [lb["LoadBalancerArn"], tg["TargetGroupArn"], listener["ListenerArn"], rule["RuleArn"]]
    elbv2.add_tags(ResourceArns=arns, Tags=[{"Key": "env", "Value": "dev"}])
    described = {d["ResourceArn"]: {t["Key"]: t["Value"] for t in d["Tags"]}
                 for d in elbv2.describe_tags(ResourceArns=arns)["TagDescriptions"]}
    assert described[tg["TargetGroupArn"]] == {"team": "web", "env": "dev"}
    assert described[rule["RuleArn"]] == {"env": "dev"}
    elbv2.remove_tags(ResourceArns=[tg["TargetGroupArn"]], TagKeys=["team"])
    assert elbv2.describe_tags(ResourceArns=[tg["TargetGroupArn"]])["TagDescriptions"][0]["Tags"] == [
        {"Key": "env", "Value": "dev"}]
    assert error_code(elbv2.add_tags, ResourceArns=[lb["LoadBalancerArn"]],
                      Tags=[{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]) == "DuplicateTagKeys"
    assert error_code(elbv2.add_tags, ResourceArns=[lb["LoadBalancerArn"]],
                      Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)]) == "TooManyTags"
    gone = lb["LoadBalancerArn"].replace("/app/web/", "/app/gone/")
    assert error_code(elbv2.describe_tags, ResourceArns=[gone]) == "LoadBalancerNotFound"


def test_account_limits_through_the_cli(berth):
    limits = {item["Name"]: item["Max"] for item in berth.aws("elbv2", "describe-account-limits")["Limits"]}
    assert limits["application-load-balancers"] == "50"
    assert limits["target-groups"] == "3000"
    assert limits["listeners-per-application-load-balancer"] == "50"
    assert limits["rules-per-application-load-balancer"] == "100"
    assert limits["targets-per-application-load-balancer"] == "1000"
    assert limits["target-groups-per-application-load-balancer"] == "100"
    assert limits["certificates-per-application-load-balancer"] == "25"


def test_ssl_policies_as_alb_describes_them(berth, elbv2):
    default = elbv2.describe_ssl_policies(Names=["ELBSecurityPolicy-2016-08"])["SslPolicies"]
    assert [p["Name"] for p in default] == ["ELBSecurityPolicy-2016-08"]
    assert default[0]["SslProtocols"] == ["TLSv1", "TLSv1.1", "TLSv1.2"]
    assert default[0]["SupportedLoadBalancerTypes"] == ["application", "network"]
    ciphers = default[0]["Ciphers"]
    assert [c["Priority"] for c in ciphers] == list(range(1, 19))
    assert (ciphers[0]["Name"], ciphers[-1]["Name"]) == ("ECDHE-ECDSA-AES128-GCM-SHA256", "AES256-SHA")
    tls13 = elbv2.describe_ssl_policies(Names=["ELBSecurityPolicy-TLS13-1-2-2021-06"])["SslPolicies"][0]
    assert tls13["SslProtocols"] == ["TLSv1.2", "TLSv1.3"]
    assert [c["Name"] for c in tls13["Ciphers"][:4]] == [
        "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
        "ECDHE-ECDSA-AES128-GCM-SHA256"]

    # Pages follow the marker; together they are every policy, in name order, each once.
    names, marker = [], None
    while True:
        page = elbv2.describe_ssl_policies(PageSize=5, **({"Marker": marker} if marker else {}))
        assert len(page["SslPolicies"]) <= 5
        names += [p["Name"] for p in page["SslPolicies"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert names == sorted(set(names)) and len(names) == 18, names
    everything = berth.aws("elbv2", "describe-ssl-policies")["SslPolicies"]
    assert [p["Name"] for p in everything] == names
    assert elbv2.describe_ssl_policies(LoadBalancerType="gateway")["SslPolicies"] == []

    assert error_of(elbv2.describe_ssl_policies, Names=["ELBSecurityPolicy-2016-08", "mine"]) == (
        "SSLPolicyNotFound", "SSL policy 'mine' not found")


def test_cli_waiters(berth):
    berth.aws("elbv2", "create-load-balancer", "--name", "waited")
    berth.aws("elbv2", "wait", "load-balancer-available", "--names", "waited")
    berth.aws("elbv2", "wait", "load-balancer-exists", "--names", "waited")
    arn = berth.aws("elbv2", "describe-load-balancers", "--names", "waited")["LoadBalancers"][0]["LoadBalancerArn"]
    berth.aws("elbv2", "delete-load-balancer", "--load-balancer-arn", arn)
    berth.aws("elbv2", "wait", "load-balancers-deleted", "--names", "waited")


def test_cli_paginates_load_balancers(berth):
    for i in range(3):
        berth.aws("elbv2", "create-load-balancer", "--name", f"lb-{i}")
    first = berth.aws("elbv2", "describe-load-balancers", "--max-items", "2")
    assert [lb["LoadBalancerName"] for lb in first["LoadBalancers"]] == ["lb-0", "lb-1"]
    rest = berth.aws("elbv2", "describe-load-balancers", "--starting-token", first["NextToken"])
    assert [lb["LoadBalancerName"] for lb in rest["LoadBalancers"]] == ["lb-2"]
    failed = berth.aws("elbv2", "create-target-group", "--name", "x", "--protocol", "HTTP", "--port", "80",
                       check=False)
    assert failed.returncode != 0 and "ValidationError" in failed.stderr


def test_everything_survives_a_restart(berth, elbv2, ec2):
    lb = load_balancer(elbv2)
    tg = target_group(elbv2, ec2)
    listener = http_listener(elbv2, lb, tg)
    elbv2.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": "i-0123456789abcdef0"}])
    berth.kill9()
    berth.start()
    again = berth.client("elbv2")
    assert again.describe_load_balancers()["LoadBalancers"][0]["LoadBalancerArn"] == lb["LoadBalancerArn"]
    assert again.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"][0]["ListenerArn"] == \
        listener["ListenerArn"]
    assert health(again, tg) == {("i-0123456789abcdef0", 80): ("initial", "Elb.RegistrationInProgress")}
