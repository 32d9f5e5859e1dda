//! `Ec2Service::call` end to end over a real SQLite store, as the gateway calls it.

use std::sync::Arc;

use berth_aws::authorization::RootOnly;
use berth_aws::{AwsError, Principal, RequestContext};
use berth_ec2_service::Ec2Service;
use berth_gateway::{Call, Protocol, Service};
use berth_store_sqlite::SqliteStore;
use serde_json::{Value, json};

const ACCOUNT: &str = "123456789012";

struct Env {
    _dir: tempfile::TempDir,
    service: Ec2Service,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("store.db")).unwrap();
    Env {
        service: Ec2Service::new(Arc::new(store), ACCOUNT.to_owned()),
        _dir: dir,
    }
}

impl Env {
    async fn call_in(
        &self,
        region: &str,
        operation: &str,
        input: Value,
    ) -> Result<Value, AwsError> {
        let context = RequestContext {
            request_id: "test".to_owned(),
            region: region.to_owned(),
            principal: Principal::root(ACCOUNT),
            access_key_id: "AKIDTEST".to_owned(),
            session_token: None,
            source_ip: None,
            received_at: 1_700_000_000.0,
        };
        let body = serde_json::to_vec(&input).unwrap();
        let call = Call::new(&context, operation, &body, Protocol::Ec2, &RootOnly);
        let output = self.service.call(&call).await?;
        Ok(serde_json::from_slice(&output).unwrap())
    }

    async fn ok(&self, operation: &str, input: Value) -> Value {
        self.call_in("us-east-1", operation, input)
            .await
            .unwrap_or_else(|err| panic!("{operation} failed: {err}"))
    }

    async fn err(&self, operation: &str, input: Value) -> AwsError {
        match self.call_in("us-east-1", operation, input).await {
            Ok(output) => panic!("{operation} succeeded: {output}"),
            Err(err) => err,
        }
    }
}

fn strings(value: &Value, list: &str, field: &str) -> Vec<String> {
    value[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[field].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn default_network_is_there_on_first_call() {
    let env = env();
    let vpcs = env.ok("DescribeVpcs", json!({})).await;
    assert_eq!(vpcs["Vpcs"].as_array().unwrap().len(), 1);
    let default = &vpcs["Vpcs"][0];
    assert_eq!(default["IsDefault"], true);
    assert_eq!(default["CidrBlock"], "172.31.0.0/16");
    assert_eq!(default["OwnerId"], ACCOUNT);
    let vpc_id = default["VpcId"].as_str().unwrap();
    assert!(berth_ec2::is_id_of(vpc_id, "vpc"), "{vpc_id}");

    let subnets = env.ok("DescribeSubnets", json!({})).await;
    let mut zones = strings(&subnets, "Subnets", "AvailabilityZone");
    zones.sort();
    assert_eq!(zones.len(), 6);
    assert_eq!(zones[0], "us-east-1a");
    assert!(
        subnets["Subnets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["DefaultForAz"] == true && s["MapPublicIpOnLaunch"] == true)
    );

    let groups = env.ok("DescribeSecurityGroups", json!({})).await;
    assert_eq!(groups["SecurityGroups"][0]["GroupName"], "default");
    assert_eq!(groups["SecurityGroups"][0]["VpcId"], vpc_id);

    let attributes = env.ok("DescribeAccountAttributes", json!({})).await;
    let value = |name: &str| {
        attributes["AccountAttributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["AttributeName"] == name)
            .map(|a| a["AttributeValues"][0]["AttributeValue"].clone())
            .unwrap()
    };
    assert_eq!(value("default-vpc"), vpc_id);
    assert_eq!(value("supported-platforms"), "VPC");
    assert_eq!(value("vpc-max-security-groups-per-interface"), "5");
    assert_eq!(value("max-elastic-ips"), "5");

    let tables = env.ok("DescribeRouteTables", json!({})).await;
    assert_eq!(tables["RouteTables"][0]["VpcId"], vpc_id);
    let gateways = env.ok("DescribeInternetGateways", json!({})).await;
    assert_eq!(
        gateways["InternetGateways"][0]["Attachments"][0]["VpcId"],
        vpc_id
    );
    // A second call does not create another default network.
    let again = env.ok("DescribeVpcs", json!({})).await;
    assert_eq!(again["Vpcs"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn vpcs_and_subnets_lifecycle_with_filters_and_tags() {
    let env = env();
    let created = env
        .ok(
            "CreateVpc",
            json!({"CidrBlock": "10.0.0.0/16", "TagSpecifications": [
                {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "web-prod"}]}
            ]}),
        )
        .await;
    let vpc_id = created["Vpc"]["VpcId"].as_str().unwrap().to_owned();
    assert_eq!(created["Vpc"]["Tags"][0]["Value"], "web-prod");
    assert_eq!(created["Vpc"]["IsDefault"], false);

    let by_tag = env
        .ok(
            "DescribeVpcs",
            json!({"Filters": [{"Name": "tag:Name", "Values": ["web-*"]}]}),
        )
        .await;
    assert_eq!(strings(&by_tag, "Vpcs", "VpcId"), [vpc_id.as_str()]);
    let by_cidr = env
        .ok(
            "DescribeVpcs",
            json!({"Filters": [{"Name": "cidr", "Values": ["10.0.?.0/16"]}]}),
        )
        .await;
    assert_eq!(strings(&by_cidr, "Vpcs", "VpcId"), [vpc_id.as_str()]);
    let defaults = env
        .ok(
            "DescribeVpcs",
            json!({"Filters": [{"Name": "is-default", "Values": ["true"]}]}),
        )
        .await;
    assert_ne!(strings(&defaults, "Vpcs", "VpcId"), [vpc_id.as_str()]);

    let err = env
        .err(
            "DescribeVpcs",
            json!({"Filters": [{"Name": "bogus", "Values": ["x"]}]}),
        )
        .await;
    assert_eq!(
        (err.status, err.code.as_str(), err.message.as_str()),
        (
            400,
            "InvalidParameterValue",
            "The filter 'bogus' is invalid"
        )
    );

    let subnet = env
        .ok(
            "CreateSubnet",
            json!({"VpcId": vpc_id, "CidrBlock": "10.0.1.0/24", "AvailabilityZone": "us-east-1b"}),
        )
        .await;
    let subnet_id = subnet["Subnet"]["SubnetId"].as_str().unwrap().to_owned();
    assert_eq!(subnet["Subnet"]["AvailableIpAddressCount"], 251);
    let conflict = env
        .err(
            "CreateSubnet",
            json!({"VpcId": vpc_id, "CidrBlock": "10.0.1.128/25"}),
        )
        .await;
    assert_eq!(conflict.code, "InvalidSubnet.Conflict");
    let range = env
        .err(
            "CreateSubnet",
            json!({"VpcId": vpc_id, "CidrBlock": "192.168.0.0/24"}),
        )
        .await;
    assert_eq!(range.code, "InvalidSubnet.Range");

    let in_vpc = env
        .ok(
            "DescribeSubnets",
            json!({"Filters": [{"Name": "vpc-id", "Values": [vpc_id]}]}),
        )
        .await;
    assert_eq!(
        strings(&in_vpc, "Subnets", "SubnetId"),
        [subnet_id.as_str()]
    );

    let blocked = env.err("DeleteVpc", json!({"VpcId": vpc_id})).await;
    assert_eq!(blocked.code, "DependencyViolation");
    env.ok("DeleteSubnet", json!({"SubnetId": subnet_id})).await;
    env.ok("DeleteVpc", json!({"VpcId": vpc_id})).await;
    let gone = env.err("DescribeVpcs", json!({"VpcIds": [vpc_id]})).await;
    assert_eq!(
        (gone.status, gone.code.as_str()),
        (400, "InvalidVpcID.NotFound")
    );
    assert_eq!(
        gone.message,
        format!("The vpc ID '{vpc_id}' does not exist")
    );

    let missing = env.err("DeleteVpc", json!({})).await;
    assert_eq!(missing.code, "MissingParameter");
}

#[tokio::test]
async fn vpc_attributes() {
    let env = env();
    let vpc_id = env
        .ok("CreateVpc", json!({"CidrBlock": "10.1.0.0/16"}))
        .await["Vpc"]["VpcId"]
        .as_str()
        .unwrap()
        .to_owned();
    env.ok(
        "ModifyVpcAttribute",
        json!({"VpcId": vpc_id, "EnableDnsHostnames": {"Value": true}}),
    )
    .await;
    let answer = env
        .ok(
            "DescribeVpcAttribute",
            json!({"VpcId": vpc_id, "Attribute": "enableDnsHostnames"}),
        )
        .await;
    assert_eq!(answer["EnableDnsHostnames"]["Value"], true);
    assert_eq!(answer["VpcId"], vpc_id);
}

#[tokio::test]
async fn security_groups_and_rules() {
    let env = env();
    let group = env
        .ok(
            "CreateSecurityGroup",
            json!({"GroupName": "web", "Description": "web tier"}),
        )
        .await;
    let group_id = group["GroupId"].as_str().unwrap().to_owned();
    let duplicate = env
        .err(
            "CreateSecurityGroup",
            json!({"GroupName": "web", "Description": "again"}),
        )
        .await;
    assert_eq!(duplicate.code, "InvalidGroup.Duplicate");

    let permission = json!([{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
        "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "https"}]}]);
    let added = env
        .ok(
            "AuthorizeSecurityGroupIngress",
            json!({"GroupId": group_id, "IpPermissions": permission,
                "TagSpecifications": [{"ResourceType": "security-group-rule",
                    "Tags": [{"Key": "purpose", "Value": "tls"}]}]}),
        )
        .await;
    assert_eq!(added["Return"], true);
    let rule_id = added["SecurityGroupRules"][0]["SecurityGroupRuleId"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = env
        .err(
            "AuthorizeSecurityGroupIngress",
            json!({"GroupId": group_id, "IpPermissions": permission}),
        )
        .await;
    assert_eq!(again.code, "InvalidPermission.Duplicate");

    let described = env
        .ok("DescribeSecurityGroups", json!({"GroupIds": [group_id]}))
        .await;
    let ingress = &described["SecurityGroups"][0]["IpPermissions"][0];
    assert_eq!(ingress["FromPort"], 443);
    assert_eq!(ingress["IpRanges"][0]["CidrIp"], "0.0.0.0/0");
    let by_port = env
        .ok(
            "DescribeSecurityGroups",
            json!({"Filters": [{"Name": "ip-permission.from-port", "Values": ["443"]}]}),
        )
        .await;
    assert_eq!(
        strings(&by_port, "SecurityGroups", "GroupId"),
        [group_id.as_str()]
    );

    let rules = env
        .ok(
            "DescribeSecurityGroupRules",
            json!({"Filters": [{"Name": "tag:purpose", "Values": ["tls"]}]}),
        )
        .await;
    assert_eq!(
        strings(&rules, "SecurityGroupRules", "SecurityGroupRuleId"),
        [rule_id.as_str()]
    );

    let revoked = env
        .ok(
            "RevokeSecurityGroupIngress",
            json!({"GroupId": group_id, "SecurityGroupRuleIds": [rule_id]}),
        )
        .await;
    assert_eq!(
        revoked["RevokedSecurityGroupRules"][0]["SecurityGroupRuleId"],
        rule_id
    );
    let deleted = env
        .ok("DeleteSecurityGroup", json!({"GroupId": group_id}))
        .await;
    assert_eq!(deleted["GroupId"], group_id);
    let gone = env
        .err("DescribeSecurityGroups", json!({"GroupIds": [group_id]}))
        .await;
    assert_eq!(gone.code, "InvalidGroup.NotFound");
}

#[tokio::test]
async fn tags_create_describe_delete() {
    let env = env();
    let vpc_id = env
        .ok("CreateVpc", json!({"CidrBlock": "10.2.0.0/16"}))
        .await["Vpc"]["VpcId"]
        .as_str()
        .unwrap()
        .to_owned();
    env.ok(
        "CreateTags",
        json!({"Resources": [vpc_id], "Tags": [{"Key": "env", "Value": "prod"},
            {"Key": "team", "Value": "core"}]}),
    )
    .await;
    let tags = env
        .ok(
            "DescribeTags",
            json!({"Filters": [{"Name": "resource-id", "Values": [vpc_id]}]}),
        )
        .await;
    assert_eq!(strings(&tags, "Tags", "Key"), ["env", "team"]);
    assert_eq!(tags["Tags"][0]["ResourceType"], "vpc");
    env.ok(
        "DeleteTags",
        json!({"Resources": [vpc_id], "Tags": [{"Key": "env"}]}),
    )
    .await;
    let left = env
        .ok(
            "DescribeVpcs",
            json!({"Filters": [{"Name": "tag-key", "Values": ["team"]}]}),
        )
        .await;
    assert_eq!(
        left["Vpcs"][0]["Tags"],
        json!([{"Key": "team", "Value": "core"}])
    );
    let missing = env
        .err(
            "CreateTags",
            json!({"Resources": ["vpc-0123456789abcdef0"], "Tags": [{"Key": "a", "Value": "b"}]}),
        )
        .await;
    assert_eq!(missing.code, "InvalidVpcID.NotFound");
}

#[tokio::test]
async fn regions_are_isolated() {
    let env = env();
    let created = env
        .call_in(
            "eu-west-1",
            "CreateVpc",
            json!({"CidrBlock": "10.9.0.0/16"}),
        )
        .await
        .unwrap();
    let vpc_id = created["Vpc"]["VpcId"].as_str().unwrap().to_owned();
    let east = env.ok("DescribeVpcs", json!({})).await;
    assert_eq!(east["Vpcs"].as_array().unwrap().len(), 1);
    assert!(!strings(&east, "Vpcs", "VpcId").contains(&vpc_id));
    let west = env
        .call_in("eu-west-1", "DescribeVpcs", json!({}))
        .await
        .unwrap();
    assert_eq!(west["Vpcs"].as_array().unwrap().len(), 2);
    let subnets = env
        .call_in("eu-west-1", "DescribeSubnets", json!({}))
        .await
        .unwrap();
    assert_eq!(subnets["Subnets"].as_array().unwrap().len(), 3);
    let zones = env
        .call_in("us-west-1", "DescribeAvailabilityZones", json!({}))
        .await
        .unwrap();
    assert_eq!(
        strings(&zones, "AvailabilityZones", "ZoneName"),
        ["us-west-1a", "us-west-1c"]
    );
    let regions = env
        .ok("DescribeRegions", json!({"RegionNames": ["eu-west-1"]}))
        .await;
    assert_eq!(
        regions["Regions"][0]["Endpoint"],
        "ec2.eu-west-1.amazonaws.com"
    );
}

#[tokio::test]
async fn dry_run_answers_412_and_writes_nothing() {
    let env = env();
    let err = env
        .err(
            "CreateVpc",
            json!({"CidrBlock": "10.3.0.0/16", "DryRun": true}),
        )
        .await;
    assert_eq!(
        (err.status, err.code.as_str(), err.message.as_str()),
        (
            412,
            "DryRunOperation",
            "Request would have succeeded, but DryRun flag is set."
        )
    );
    assert_eq!(
        env.ok("DescribeVpcs", json!({})).await["Vpcs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let would_fail = env
        .err(
            "DeleteVpc",
            json!({"VpcId": "vpc-0123456789abcdef0", "DryRun": true}),
        )
        .await;
    assert_eq!(would_fail.code, "InvalidVpcID.NotFound");
    let describe = env.err("DescribeVpcs", json!({"DryRun": true})).await;
    assert_eq!(describe.code, "DryRunOperation");
}

#[tokio::test]
async fn describe_pages_with_next_token() {
    let env = env();
    for i in 0..6 {
        env.ok(
            "CreateVpc",
            json!({"CidrBlock": format!("10.{}.0.0/16", 10 + i)}),
        )
        .await;
    }
    let first = env.ok("DescribeVpcs", json!({"MaxResults": 5})).await;
    assert_eq!(first["Vpcs"].as_array().unwrap().len(), 5);
    let token = first["NextToken"].as_str().unwrap();
    let second = env
        .ok("DescribeVpcs", json!({"MaxResults": 5, "NextToken": token}))
        .await;
    assert_eq!(second["Vpcs"].as_array().unwrap().len(), 2);
    assert!(second.get("NextToken").is_none());
    let mut seen = strings(&first, "Vpcs", "VpcId");
    seen.extend(strings(&second, "Vpcs", "VpcId"));
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 7);
    let bad = env.err("DescribeVpcs", json!({"MaxResults": 4})).await;
    assert_eq!(bad.code, "InvalidParameterValue");
    let bad_token = env
        .err(
            "DescribeVpcs",
            json!({"MaxResults": 5, "NextToken": "nope"}),
        )
        .await;
    assert_eq!(bad_token.code, "InvalidPaginationToken");
}
