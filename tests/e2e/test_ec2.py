"""EC2's networking API through real boto3 and aws-cli: the default network, VPCs, subnets,
security groups and rules, tags, regions, DryRun, paging and EC2's error codes."""

import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def ec2(berth):
    return berth.client("ec2")


def error_code(call, **kwargs):
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return raised.value.response["Error"]["Code"]


def default_vpc_id(ec2):
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert len(vpcs) == 1
    return vpcs[0]["VpcId"]


def test_default_network(ec2):
    vpc_id = default_vpc_id(ec2)
    vpc = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
    assert vpc["CidrBlock"] == "172.31.0.0/16"
    assert vpc["IsDefault"] is True
    assert vpc["State"] == "available"

    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    assert sorted(s["AvailabilityZone"] for s in subnets) == [
        "us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"]
    assert all(s["VpcId"] == vpc_id and s["MapPublicIpOnLaunch"] for s in subnets)
    assert all(s["CidrBlock"].endswith("/20") and s["AvailableIpAddressCount"] == 4091 for s in subnets)

    groups = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"]
    assert groups[0]["VpcId"] == vpc_id
    assert groups[0]["IpPermissionsEgress"][0]["IpProtocol"] == "-1"

    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
    assert tables[0]["Associations"][0]["Main"] is True
    gateways = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])["InternetGateways"]
    assert len(gateways) == 1

    attributes = {a["AttributeName"]: [v["AttributeValue"] for v in a["AttributeValues"]]
                  for a in ec2.describe_account_attributes()["AccountAttributes"]}
    assert attributes["default-vpc"] == [vpc_id]
    assert attributes["supported-platforms"] == ["VPC"]
    assert attributes["vpc-max-security-groups-per-interface"] == ["5"]

    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert [z["ZoneName"] for z in zones][:2] == ["us-east-1a", "us-east-1b"]
    regions = {r["RegionName"] for r in ec2.describe_regions()["Regions"]}
    assert {"us-east-1", "eu-west-1"} <= regions


def test_vpc_subnet_lifecycle_and_errors(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "web-prod"}]}])["Vpc"]
    vpc_id = vpc["VpcId"]
    assert vpc["Tags"] == [{"Key": "Name", "Value": "web-prod"}]

    found = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["web-*"]}])["Vpcs"]
    assert [v["VpcId"] for v in found] == [vpc_id]
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["db-*"]}])["Vpcs"] == []

    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1c")["Subnet"]
    assert subnet["AvailabilityZone"] == "us-east-1c"
    assert subnet["AvailableIpAddressCount"] == 251

    assert error_code(ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.0.1.0/25") == "InvalidSubnet.Conflict"
    assert error_code(ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.1.0.0/24") == "InvalidSubnet.Range"
    assert error_code(ec2.create_vpc, CidrBlock="10.0.0.0/8") == "InvalidVpc.Range"
    assert error_code(ec2.create_vpc, CidrBlock="not-a-cidr") == "InvalidParameterValue"
    assert error_code(ec2.describe_vpcs, VpcIds=["vpc-0123456789abcdef0"]) == "InvalidVpcID.NotFound"
    assert error_code(ec2.describe_subnets, SubnetIds=["subnet-0123456789abcdef0"]) == "InvalidSubnetID.NotFound"
    assert error_code(ec2.describe_vpcs, Filters=[{"Name": "bogus", "Values": ["x"]}]) == "InvalidParameterValue"
    assert error_code(ec2.describe_vpcs, MaxResults=5, NextToken="garbage") == "InvalidPaginationToken"
    assert error_code(ec2.delete_vpc, VpcId=vpc_id) == "DependencyViolation"

    ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"], MapPublicIpOnLaunch={"Value": True})
    described = ec2.describe_subnets(SubnetIds=[subnet["SubnetId"]])["Subnets"][0]
    assert described["MapPublicIpOnLaunch"] is True

    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    attribute = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")
    assert attribute["EnableDnsHostnames"]["Value"] is True

    ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    ec2.delete_vpc(VpcId=vpc_id)
    assert error_code(ec2.delete_vpc, VpcId=vpc_id) == "InvalidVpcID.NotFound"


def test_security_groups_and_rules(ec2):
    vpc_id = ec2.create_vpc(CidrBlock="10.5.0.0/16")["Vpc"]["VpcId"]
    group_id = ec2.create_security_group(GroupName="web", Description="web tier", VpcId=vpc_id)["GroupId"]
    assert error_code(ec2.create_security_group, GroupName="web", Description="again",
                      VpcId=vpc_id) == "InvalidGroup.Duplicate"
    assert error_code(ec2.create_security_group, GroupName="default", Description="x",
                      VpcId=vpc_id) == "InvalidGroup.Reserved"

    permission = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                  "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "ssh"}]}
    rules = ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[permission])
    rule_id = rules["SecurityGroupRules"][0]["SecurityGroupRuleId"]
    assert error_code(ec2.authorize_security_group_ingress, GroupId=group_id,
                      IpPermissions=[permission]) == "InvalidPermission.Duplicate"

    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    assert group["IpPermissions"][0]["IpRanges"] == [{"CidrIp": "10.0.0.0/8", "Description": "ssh"}]
    by_rule = ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [group_id]}])["SecurityGroupRules"]
    assert rule_id in [r["SecurityGroupRuleId"] for r in by_rule]

    # A group another group's rule references cannot go.
    other_id = ec2.create_security_group(GroupName="db", Description="db tier", VpcId=vpc_id)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=other_id, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": group_id}]}])
    assert error_code(ec2.delete_security_group, GroupId=group_id) == "DependencyViolation"

    assert error_code(ec2.revoke_security_group_ingress, GroupId=group_id, IpPermissions=[
        {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ]) == "InvalidPermission.NotFound"
    revoked = ec2.revoke_security_group_ingress(GroupId=group_id, SecurityGroupRuleIds=[rule_id])
    assert revoked["Return"] is True

    ec2.delete_security_group(GroupId=other_id)
    ec2.delete_security_group(GroupId=group_id)
    assert error_code(ec2.describe_security_groups, GroupIds=[group_id]) == "InvalidGroup.NotFound"
    assert error_code(ec2.describe_security_groups, GroupIds=["nope"]) == "InvalidGroupId.Malformed"
    default_group = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"][0]["GroupId"]
    assert error_code(ec2.delete_security_group, GroupId=default_group) == "CannotDelete"


def test_tags(ec2):
    vpc_id = ec2.create_vpc(CidrBlock="10.6.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc_id], Tags=[{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "core"}])
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["Tags"]
    assert [(t["Key"], t["Value"], t["ResourceType"]) for t in tags] == [
        ("env", "prod", "vpc"), ("team", "core", "vpc")]
    ec2.delete_tags(Resources=[vpc_id], Tags=[{"Key": "env"}])
    vpc = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
    assert vpc["Tags"] == [{"Key": "team", "Value": "core"}]
    assert error_code(ec2.create_tags, Resources=["vpc-0123456789abcdef0"],
                      Tags=[{"Key": "a", "Value": "b"}]) == "InvalidVpcID.NotFound"
    assert error_code(ec2.create_tags, Resources=["bogus-123"], Tags=[{"Key": "a", "Value": "b"}]) == "InvalidID"


def test_dry_run(ec2):
    before = len(ec2.describe_vpcs()["Vpcs"])
    with pytest.raises(ClientError) as raised:
        ec2.create_vpc(CidrBlock="10.7.0.0/16", DryRun=True)
    assert raised.value.response["Error"]["Code"] == "DryRunOperation"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert len(ec2.describe_vpcs()["Vpcs"]) == before
    assert error_code(ec2.delete_vpc, VpcId="vpc-0123456789abcdef0", DryRun=True) == "InvalidVpcID.NotFound"
    assert error_code(ec2.describe_vpcs, DryRun=True) == "DryRunOperation"


def test_paging(ec2):
    for i in range(6):
        ec2.create_vpc(CidrBlock=f"10.{20 + i}.0.0/16")
    first = ec2.describe_vpcs(MaxResults=5)
    assert len(first["Vpcs"]) == 5
    second = ec2.describe_vpcs(MaxResults=5, NextToken=first["NextToken"])
    assert len(second["Vpcs"]) == 2 and "NextToken" not in second
    paged = [v["VpcId"] for page in ec2.get_paginator("describe_vpcs").paginate(PaginationConfig={"PageSize": 5})
             for v in page["Vpcs"]]
    assert len(set(paged)) == 7


def test_regions_are_isolated(berth, ec2):
    west = berth.client("ec2", region="eu-west-1")
    created = west.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    assert len(west.describe_subnets()["Subnets"]) == 3
    assert created not in [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]]
    assert default_vpc_id(west) != default_vpc_id(ec2)
    assert error_code(ec2.describe_vpcs, VpcIds=[created]) == "InvalidVpcID.NotFound"


def test_aws_cli(berth):
    vpcs = berth.aws("ec2", "describe-vpcs", "--filters", "Name=is-default,Values=true")["Vpcs"]
    assert len(vpcs) == 1
    created = berth.aws("ec2", "create-vpc", "--cidr-block", "10.8.0.0/16",
                        "--tag-specifications", "ResourceType=vpc,Tags=[{Key=Name,Value=cli}]")["Vpc"]
    found = berth.aws("ec2", "describe-vpcs", "--filters", "Name=tag:Name,Values=cli")["Vpcs"]
    assert [v["VpcId"] for v in found] == [created["VpcId"]]
    subnets = berth.aws("ec2", "describe-subnets")["Subnets"]
    assert len(subnets) == 6
    failed = berth.aws("ec2", "delete-vpc", "--vpc-id", "vpc-0123456789abcdef0", check=False)
    assert failed.returncode != 0 and "InvalidVpcID.NotFound" in failed.stderr
    berth.aws("ec2", "delete-vpc", "--vpc-id", created["VpcId"])
