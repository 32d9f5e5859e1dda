//! The operations, end to end over in-memory records: these tests are the spec.

use crate::testing::{ACCOUNT, Fixture, fail, fixture};
use crate::*;

fn vpc(f: &mut Fixture, cidr: &str) -> Vpc {
    let request = CreateVpcRequest {
        cidr_block: cidr.into(),
        ..Default::default()
    };
    create_vpc(&mut f.records, &mut f.ids, &f.scope, &request).unwrap()
}

fn subnet_request(vpc_id: &str, cidr: &str) -> CreateSubnetRequest {
    CreateSubnetRequest {
        vpc_id: vpc_id.into(),
        cidr_block: cidr.into(),
        ..Default::default()
    }
}

fn group(f: &mut Fixture, name: &str, vpc_id: Option<&str>) -> SecurityGroup {
    let request = CreateSecurityGroupRequest {
        group_name: name.into(),
        description: format!("{name} group"),
        vpc_id: vpc_id.map(Into::into),
        tags: Vec::new(),
    };
    create_security_group(&mut f.records, &mut f.ids, &f.scope, &request).unwrap()
}

fn tcp(port: i32, cidr: &str) -> IpPermission {
    IpPermission {
        ip_protocol: "tcp".into(),
        from_port: Some(port),
        to_port: Some(port),
        ip_ranges: vec![IpRange {
            cidr_ip: cidr.into(),
            description: None,
        }],
        ..Default::default()
    }
}

fn from_group(protocol: &str, group_id: &str) -> IpPermission {
    IpPermission {
        ip_protocol: protocol.into(),
        user_id_group_pairs: vec![UserIdGroupPair {
            group_id: Some(group_id.into()),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn authorize(
    f: &mut Fixture,
    group_id: &str,
    egress: bool,
    permissions: Vec<IpPermission>,
) -> Result<Vec<SecurityGroupRule>, Ec2Error> {
    let request = AuthorizeRequest {
        group: GroupRef::id(group_id),
        egress,
        ip_permissions: permissions,
    };
    authorize_security_group(&mut f.records, &mut f.ids, &f.scope, &request)
}

fn default_vpc_id(f: &mut Fixture) -> String {
    let page = describe_vpcs(
        &mut f.records,
        &DescribeRequest {
            filters: vec![Filter::new("is-default", &["true"])],
            ..Default::default()
        },
    )
    .unwrap();
    page.items[0].item.vpc_id.clone()
}

fn describe(ids: &[&str], filters: Vec<Filter>) -> DescribeRequest {
    DescribeRequest {
        ids: ids.iter().map(|s| s.to_string()).collect(),
        filters,
        ..Default::default()
    }
}

#[test]
fn default_network_is_a_new_accounts() {
    let mut f = fixture();
    let vpcs = describe_vpcs(&mut f.records, &DescribeRequest::default())
        .unwrap()
        .items;
    assert_eq!(vpcs.len(), 1);
    let v = &vpcs[0].item;
    assert_eq!(
        (v.cidr_block.as_str(), v.is_default, v.state.as_str()),
        ("172.31.0.0/16", true, "available")
    );
    assert!(v.enable_dns_support && v.enable_dns_hostnames);
    assert_eq!(v.owner_id, ACCOUNT);
    assert!(v.dhcp_options_id.starts_with("dopt-"));
    assert!(
        v.cidr_block_association_set[0]
            .association_id
            .starts_with("vpc-cidr-assoc-")
    );
    assert_eq!(
        v.cidr_block_association_set[0].cidr_block_state,
        "associated"
    );

    let subnets = describe_subnets(&mut f.records, &DescribeRequest::default())
        .unwrap()
        .items;
    let summary: Vec<_> = subnets
        .iter()
        .map(|s| {
            (
                s.item.cidr_block.as_str(),
                s.item.availability_zone.as_str(),
                s.item.availability_zone_id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("172.31.0.0/20", "us-east-1a", "use1-az1"),
            ("172.31.16.0/20", "us-east-1b", "use1-az2"),
            ("172.31.32.0/20", "us-east-1c", "use1-az4"),
            ("172.31.48.0/20", "us-east-1d", "use1-az6"),
            ("172.31.64.0/20", "us-east-1e", "use1-az3"),
            ("172.31.80.0/20", "us-east-1f", "use1-az5"),
        ]
    );
    let s = &subnets[0].item;
    assert!(s.default_for_az && s.map_public_ip_on_launch);
    assert_eq!(s.available_ip_address_count, 4091);
    assert_eq!(
        s.subnet_arn,
        format!("arn:aws:ec2:us-east-1:{ACCOUNT}:subnet/{}", s.subnet_id)
    );

    let groups = describe_security_groups(&mut f.records, &Default::default())
        .unwrap()
        .items;
    let g = &groups[0].item;
    assert_eq!(
        (g.group_name.as_str(), g.description.as_str()),
        ("default", "default VPC security group")
    );
    let ingress = g.ip_permissions(false);
    assert_eq!(ingress.len(), 1);
    assert_eq!(
        (ingress[0].ip_protocol.as_str(), ingress[0].from_port),
        ("-1", None)
    );
    assert_eq!(
        ingress[0].user_id_group_pairs[0].group_id.as_deref(),
        Some(g.group_id.as_str())
    );
    assert_eq!(
        ingress[0].user_id_group_pairs[0].user_id.as_deref(),
        Some(ACCOUNT)
    );
    let egress = g.ip_permissions(true);
    assert_eq!(egress[0].ip_ranges[0].cidr_ip, "0.0.0.0/0");

    let tables = describe_route_tables(&mut f.records, &DescribeRequest::default())
        .unwrap()
        .items;
    let t = &tables[0].item;
    assert_eq!(t.routes[0].gateway_id, "local");
    assert_eq!(t.routes[0].destination_cidr_block, "172.31.0.0/16");
    assert!(t.routes[1].gateway_id.starts_with("igw-"));
    assert!(t.associations[0].main);
    assert!(
        t.associations[0]
            .route_table_association_id
            .starts_with("rtbassoc-")
    );

    // Idempotent, and deleting the default VPC does not bring it back.
    ensure_default_network(&mut f.records, &mut f.ids, &f.scope).unwrap();
    assert_eq!(
        describe_vpcs(&mut f.records, &DescribeRequest::default())
            .unwrap()
            .items
            .len(),
        1
    );
    for s in subnets {
        delete_subnet(&mut f.records, &s.item.subnet_id).unwrap();
    }
    let vpc_id = v.vpc_id.clone();
    delete_vpc(&mut f.records, &vpc_id).unwrap();
    ensure_default_network(&mut f.records, &mut f.ids, &f.scope).unwrap();
    assert!(
        describe_vpcs(&mut f.records, &DescribeRequest::default())
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        load_all::<SecurityGroup>(&mut f.records)
            .unwrap()
            .is_empty()
    );
    assert!(load_all::<RouteTable>(&mut f.records).unwrap().is_empty());
    assert!(
        load_all::<InternetGateway>(&mut f.records).unwrap()[0]
            .attachments
            .is_empty()
    );

    let mut records = MemoryRecords::default();
    let err = ensure_default_network(
        &mut records,
        &mut SequentialIds::default(),
        &Scope::new(ACCOUNT, "xx-nowhere-1"),
    );
    assert_eq!(
        fail(err),
        (
            "InvalidParameterValue",
            "Invalid region: xx-nowhere-1".into()
        )
    );
}

#[test]
fn vpcs() {
    let mut f = fixture();
    let v = vpc(&mut f, "10.0.0.1/16");
    assert_eq!(v.cidr_block, "10.0.0.0/16");
    assert!(!v.is_default && v.enable_dns_support && !v.enable_dns_hostnames);
    assert_eq!(v.instance_tenancy, "default");
    let mut create = |cidr: &str| {
        let request = CreateVpcRequest {
            cidr_block: cidr.into(),
            ..Default::default()
        };
        fail(create_vpc(&mut f.records, &mut f.ids, &f.scope, &request))
    };
    assert_eq!(
        create("10.0.0.0/8"),
        (
            "InvalidVpc.Range",
            "The CIDR '10.0.0.0/8' is invalid.".into()
        )
    );
    assert_eq!(
        create("10.0.0.0/29"),
        (
            "InvalidVpc.Range",
            "The CIDR '10.0.0.0/29' is invalid.".into()
        )
    );
    assert_eq!(
        create("10.0.0.0/33"),
        ("InvalidParameterValue", "Value (10.0.0.0/33) for parameter cidrBlock is invalid. This is not a valid CIDR block.".into())
    );
    let request = CreateVpcRequest {
        cidr_block: "10.1.0.0/16".into(),
        instance_tenancy: Some("host".into()),
        ..Default::default()
    };
    assert_eq!(
        fail(create_vpc(&mut f.records, &mut f.ids, &f.scope, &request)),
        (
            "InvalidParameterValue",
            "Value (host) for parameter instanceTenancy is invalid.".into()
        )
    );

    // Describe by id, not-found ids, filters.
    let page = describe_vpcs(&mut f.records, &describe(&[&v.vpc_id], vec![])).unwrap();
    assert_eq!(page.items[0].item, v);
    assert_eq!(
        fail(describe_vpcs(&mut f.records, &describe(&["vpc-x"], vec![]))),
        (
            "InvalidVpcID.NotFound",
            "The vpc ID 'vpc-x' does not exist".into()
        )
    );
    assert_eq!(
        fail(describe_vpcs(
            &mut f.records,
            &describe(&["vpc-x", "vpc-y"], vec![])
        )),
        (
            "InvalidVpcID.NotFound",
            "The vpc IDs 'vpc-x, vpc-y' do not exist".into()
        )
    );
    let by_cidr = describe_vpcs(
        &mut f.records,
        &describe(
            &[],
            vec![Filter::new("cidr-block-association.cidr-block", &["10.*"])],
        ),
    )
    .unwrap();
    assert_eq!(by_cidr.items.len(), 1);
    assert_eq!(
        fail(describe_vpcs(
            &mut f.records,
            &describe(&[], vec![Filter::new("nope", &["x"])])
        )),
        (
            "InvalidParameterValue",
            "The filter 'nope' is invalid".into()
        )
    );

    // Attributes.
    let modify = |support, hostnames| ModifyVpcAttributeRequest {
        vpc_id: v.vpc_id.clone(),
        enable_dns_support: support,
        enable_dns_hostnames: hostnames,
        enable_network_address_usage_metrics: None,
    };
    assert_eq!(
        fail(modify_vpc_attribute(
            &mut f.records,
            &modify(Some(true), Some(true))
        )),
        (
            "InvalidParameterCombination",
            "Fields for multiple attribute types specified: enableDnsSupport, enableDnsHostnames"
                .into()
        )
    );
    assert_eq!(
        fail(modify_vpc_attribute(&mut f.records, &modify(None, None))).0,
        "MissingParameter"
    );
    modify_vpc_attribute(&mut f.records, &modify(None, Some(true))).unwrap();
    assert_eq!(
        describe_vpc_attribute(&mut f.records, &v.vpc_id, "enableDnsHostnames").unwrap(),
        VpcAttribute::EnableDnsHostnames(true)
    );
    modify_vpc_attribute(&mut f.records, &modify(None, Some(false))).unwrap();
    modify_vpc_attribute(&mut f.records, &modify(Some(false), None)).unwrap();
    assert_eq!(
        fail(modify_vpc_attribute(&mut f.records, &modify(None, Some(true)))),
        ("InvalidParameterValue", "Value (true) for parameter enableDnsHostnames is invalid. DNS hostnames can only be enabled when DNS support is enabled.".into())
    );
    assert_eq!(
        describe_vpc_attribute(&mut f.records, &v.vpc_id, "enableDnsSupport").unwrap(),
        VpcAttribute::EnableDnsSupport(false)
    );
    assert_eq!(
        fail(describe_vpc_attribute(&mut f.records, &v.vpc_id, "bogus")),
        (
            "InvalidParameterValue",
            "Value (bogus) for parameter attribute is invalid. Unknown attribute.".into()
        )
    );
    assert_eq!(
        fail(describe_vpc_attribute(
            &mut f.records,
            "vpc-x",
            "enableDnsSupport"
        ))
        .0,
        "InvalidVpcID.NotFound"
    );

    // Delete: dependencies first.
    let s = create_subnet(
        &mut f.records,
        &mut f.ids,
        &f.scope,
        &subnet_request(&v.vpc_id, "10.0.1.0/24"),
    )
    .unwrap();
    let dependency = (
        "DependencyViolation",
        format!(
            "The vpc '{}' has dependencies and cannot be deleted.",
            v.vpc_id
        ),
    );
    assert_eq!(fail(delete_vpc(&mut f.records, &v.vpc_id)), dependency);
    delete_subnet(&mut f.records, &s.subnet_id).unwrap();
    let g = group(&mut f, "web", Some(&v.vpc_id));
    assert_eq!(fail(delete_vpc(&mut f.records, &v.vpc_id)), dependency);
    delete_security_group(&mut f.records, &GroupRef::id(&g.group_id)).unwrap();
    create_tags(
        &mut f.records,
        std::slice::from_ref(&v.vpc_id),
        &[Tag::new("Name", "x")],
    )
    .unwrap();
    delete_vpc(&mut f.records, &v.vpc_id).unwrap();
    assert_eq!(
        fail(delete_vpc(&mut f.records, &v.vpc_id)).0,
        "InvalidVpcID.NotFound"
    );
    let left = describe_security_groups(&mut f.records, &Default::default())
        .unwrap()
        .items;
    assert_eq!(left.len(), 1, "the VPC's default group went with it");
    assert_eq!(
        describe_route_tables(&mut f.records, &DescribeRequest::default())
            .unwrap()
            .items
            .len(),
        1
    );
    assert!(
        describe_tags(&mut f.records, &Default::default())
            .unwrap()
            .items
            .is_empty()
    );
}

#[test]
fn subnets() {
    let mut f = fixture();
    let v = vpc(&mut f, "10.0.0.0/16");
    let mut create = |request: CreateSubnetRequest| {
        create_subnet(&mut f.records, &mut f.ids, &f.scope, &request)
    };
    let s = create(CreateSubnetRequest {
        availability_zone: Some("us-east-1b".into()),
        ..subnet_request(&v.vpc_id, "10.0.1.0/24")
    })
    .unwrap();
    assert_eq!(
        (
            s.availability_zone.as_str(),
            s.availability_zone_id.as_str()
        ),
        ("us-east-1b", "use1-az2")
    );
    assert_eq!(s.available_ip_address_count, 251);
    assert!(!s.default_for_az && !s.map_public_ip_on_launch);
    let by_id = create(CreateSubnetRequest {
        availability_zone_id: Some("use1-az4".into()),
        ..subnet_request(&v.vpc_id, "10.0.2.0/28")
    })
    .unwrap();
    assert_eq!(
        (
            by_id.availability_zone.as_str(),
            by_id.available_ip_address_count
        ),
        ("us-east-1c", 11)
    );
    let first = create(subnet_request(&v.vpc_id, "10.0.3.0/24")).unwrap();
    assert_eq!(first.availability_zone, "us-east-1a");

    assert_eq!(
        fail(create(subnet_request(&v.vpc_id, "10.0.0.0/23"))),
        (
            "InvalidSubnet.Conflict",
            "The CIDR '10.0.0.0/23' conflicts with another subnet".into()
        )
    );
    assert_eq!(
        fail(create(subnet_request(&v.vpc_id, "10.1.0.0/24"))),
        (
            "InvalidSubnet.Range",
            "The CIDR '10.1.0.0/24' is invalid.".into()
        )
    );
    assert_eq!(
        fail(create(subnet_request(&v.vpc_id, "10.0.4.0/29"))),
        (
            "InvalidSubnet.Range",
            "The CIDR '10.0.4.0/29' is invalid.".into()
        )
    );
    assert_eq!(
        fail(create(subnet_request(&v.vpc_id, "10.0.4.0"))).0,
        "InvalidParameterValue"
    );
    assert_eq!(
        fail(create(subnet_request("vpc-x", "10.0.4.0/24"))),
        (
            "InvalidVpcID.NotFound",
            "The vpc ID 'vpc-x' does not exist".into()
        )
    );
    assert_eq!(
        fail(create(CreateSubnetRequest { availability_zone: Some("us-west-2a".into()), ..subnet_request(&v.vpc_id, "10.0.4.0/24") })),
        ("InvalidParameterValue", "Value (us-west-2a) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: us-east-1a, us-east-1b, us-east-1c, us-east-1d, us-east-1e, us-east-1f.".into())
    );
    assert_eq!(
        fail(create(CreateSubnetRequest {
            availability_zone_id: Some("usw2-az1".into()),
            ..subnet_request(&v.vpc_id, "10.0.4.0/24")
        }))
        .0,
        "InvalidParameterValue"
    );
    assert_eq!(
        fail(create(CreateSubnetRequest {
            availability_zone: Some("us-east-1a".into()),
            availability_zone_id: Some("use1-az1".into()),
            ..subnet_request(&v.vpc_id, "10.0.4.0/24")
        }))
        .0,
        "InvalidParameterCombination"
    );

    // Describe with filters, AND across filters, OR across values.
    let filtered = describe_subnets(
        &mut f.records,
        &describe(
            &[],
            vec![
                Filter::new("vpc-id", &[&v.vpc_id]),
                Filter::new("availability-zone", &["us-east-1a", "us-east-1b"]),
            ],
        ),
    )
    .unwrap();
    assert_eq!(
        filtered
            .items
            .iter()
            .map(|s| s.item.cidr_block.as_str())
            .collect::<Vec<_>>(),
        ["10.0.1.0/24", "10.0.3.0/24"]
    );
    let defaults = describe_subnets(
        &mut f.records,
        &describe(&[], vec![Filter::new("default-for-az", &["true"])]),
    )
    .unwrap();
    assert_eq!(defaults.items.len(), 6);
    let count = describe_subnets(
        &mut f.records,
        &describe(
            &[],
            vec![Filter::new("available-ip-address-count", &["11"])],
        ),
    )
    .unwrap();
    assert_eq!(count.items[0].item.subnet_id, by_id.subnet_id);
    assert_eq!(
        fail(describe_subnets(
            &mut f.records,
            &describe(&["subnet-x"], vec![])
        )),
        (
            "InvalidSubnetID.NotFound",
            "The subnet ID 'subnet-x' does not exist".into()
        )
    );

    let modify = ModifySubnetAttributeRequest {
        subnet_id: s.subnet_id.clone(),
        map_public_ip_on_launch: Some(true),
    };
    modify_subnet_attribute(&mut f.records, &modify).unwrap();
    assert!(
        load::<Subnet>(&mut f.records, &s.subnet_id)
            .unwrap()
            .unwrap()
            .map_public_ip_on_launch
    );
    let none = ModifySubnetAttributeRequest {
        map_public_ip_on_launch: None,
        ..modify.clone()
    };
    assert_eq!(
        fail(modify_subnet_attribute(&mut f.records, &none)).0,
        "MissingParameter"
    );
    delete_subnet(&mut f.records, &s.subnet_id).unwrap();
    assert_eq!(
        fail(delete_subnet(&mut f.records, &s.subnet_id)).0,
        "InvalidSubnetID.NotFound"
    );
    assert_eq!(
        fail(modify_subnet_attribute(&mut f.records, &modify)).0,
        "InvalidSubnetID.NotFound"
    );
}

#[test]
fn security_groups_create_describe_delete() {
    let mut f = fixture();
    let default_vpc = default_vpc_id(&mut f);
    let web = group(&mut f, "web", None);
    assert_eq!(web.vpc_id, default_vpc);
    assert_eq!(web.rules.len(), 1);
    assert!(web.rules[0].is_egress && web.rules[0].security_group_rule_id.starts_with("sgr-"));
    assert_eq!(
        web.security_group_arn,
        format!(
            "arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/{}",
            web.group_id
        )
    );

    let mut create = |name: &str, vpc: Option<&str>| {
        let request = CreateSecurityGroupRequest {
            group_name: name.into(),
            description: "d".into(),
            vpc_id: vpc.map(Into::into),
            tags: vec![],
        };
        fail(create_security_group(
            &mut f.records,
            &mut f.ids,
            &f.scope,
            &request,
        ))
    };
    assert_eq!(
        create("web", None),
        (
            "InvalidGroup.Duplicate",
            format!("The security group 'web' already exists for VPC '{default_vpc}'")
        )
    );
    assert_eq!(
        create("default", None),
        (
            "InvalidGroup.Reserved",
            "The security group 'default' is reserved".into()
        )
    );
    assert_eq!(
        create("sg-1", None),
        (
            "InvalidParameterValue",
            "Group names may not be in the format sg-*".into()
        )
    );
    assert_eq!(
        create("x", Some("vpc-x")),
        (
            "InvalidVpcID.NotFound",
            "The vpc ID 'vpc-x' does not exist".into()
        )
    );

    // The same name in another VPC is fine; names resolve only in the default VPC.
    let other = vpc(&mut f, "10.0.0.0/16");
    let api = group(&mut f, "api", Some(&other.vpc_id));
    let by_name = DescribeSecurityGroupsRequest {
        group_names: vec!["web".into()],
        ..Default::default()
    };
    assert_eq!(
        describe_security_groups(&mut f.records, &by_name)
            .unwrap()
            .items[0]
            .item
            .group_id,
        web.group_id
    );
    let by_name = DescribeSecurityGroupsRequest {
        group_names: vec!["api".into()],
        ..Default::default()
    };
    assert_eq!(
        fail(describe_security_groups(&mut f.records, &by_name)),
        (
            "InvalidGroup.NotFound",
            format!("The security group 'api' does not exist in default VPC '{default_vpc}'")
        )
    );
    let by_id = DescribeSecurityGroupsRequest {
        group_ids: vec!["sg-00000000000000fff".into()],
        ..Default::default()
    };
    assert_eq!(
        fail(describe_security_groups(&mut f.records, &by_id)),
        (
            "InvalidGroup.NotFound",
            "The security group 'sg-00000000000000fff' does not exist".into()
        )
    );
    let malformed = DescribeSecurityGroupsRequest {
        group_ids: vec!["web".into()],
        ..Default::default()
    };
    assert_eq!(
        fail(describe_security_groups(&mut f.records, &malformed)),
        (
            "InvalidGroupId.Malformed",
            "Invalid id: \"web\" (expecting \"sg-...\")".into()
        )
    );
    let with_max = DescribeSecurityGroupsRequest {
        group_names: vec!["web".into()],
        max_results: Some(5),
        ..Default::default()
    };
    assert_eq!(
        fail(describe_security_groups(&mut f.records, &with_max)).0,
        "InvalidParameterCombination"
    );
    let filtered = DescribeSecurityGroupsRequest {
        filters: vec![
            Filter::new("vpc-id", &[&other.vpc_id]),
            Filter::new("group-name", &["a*"]),
        ],
        ..Default::default()
    };
    assert_eq!(
        describe_security_groups(&mut f.records, &filtered)
            .unwrap()
            .items[0]
            .item
            .group_id,
        api.group_id
    );

    // Delete.
    let vpc_default_group = describe_security_groups(
        &mut f.records,
        &DescribeSecurityGroupsRequest {
            group_names: vec!["default".into()],
            ..Default::default()
        },
    )
    .unwrap()
    .items[0]
        .item
        .group_id
        .clone();
    assert_eq!(
        fail(delete_security_group(
            &mut f.records,
            &GroupRef::id(&vpc_default_group)
        )),
        (
            "CannotDelete",
            format!(
                "the specified group: \"{vpc_default_group}\" name: \"default\" cannot be deleted by a user"
            )
        )
    );
    let db = group(&mut f, "db", None);
    authorize(
        &mut f,
        &db.group_id,
        false,
        vec![from_group("tcp", &web.group_id)],
    )
    .unwrap_err();
    authorize(
        &mut f,
        &db.group_id,
        false,
        vec![IpPermission {
            from_port: Some(5432),
            to_port: Some(5432),
            ..from_group("tcp", &web.group_id)
        }],
    )
    .unwrap();
    assert_eq!(
        fail(delete_security_group(
            &mut f.records,
            &GroupRef::id(&web.group_id)
        )),
        (
            "DependencyViolation",
            format!("resource {} has a dependent object", web.group_id)
        )
    );
    // A reference to itself does not keep a group alive.
    authorize(
        &mut f,
        &db.group_id,
        false,
        vec![from_group("-1", &db.group_id)],
    )
    .unwrap();
    assert_eq!(
        delete_security_group(&mut f.records, &GroupRef::name("db")).unwrap(),
        db.group_id
    );
    delete_security_group(&mut f.records, &GroupRef::id(&web.group_id)).unwrap();
    assert_eq!(
        fail(delete_security_group(
            &mut f.records,
            &GroupRef::id(&web.group_id)
        )),
        (
            "InvalidGroup.NotFound",
            format!("The security group '{}' does not exist", web.group_id)
        )
    );
}

#[test]
fn authorize_and_revoke() {
    let mut f = fixture();
    let other = vpc(&mut f, "10.0.0.0/16");
    let g = group(&mut f, "web", Some(&other.vpc_id));
    let peer = group(&mut f, "lb", Some(&other.vpc_id));
    let added = authorize(
        &mut f,
        &g.group_id,
        false,
        vec![
            IpPermission {
                ip_ranges: vec![
                    IpRange {
                        cidr_ip: "192.168.0.0/16".into(),
                        description: None,
                    },
                    IpRange {
                        cidr_ip: "0.0.0.0/0".into(),
                        description: Some("world".into()),
                    },
                    IpRange {
                        cidr_ip: "10.0.0.0/8".into(),
                        description: None,
                    },
                ],
                ipv6_ranges: vec![Ipv6Range {
                    cidr_ipv6: "::/0".into(),
                    description: None,
                }],
                ..tcp(80, "192.168.0.0/16")
            },
            IpPermission {
                from_port: Some(80),
                to_port: Some(80),
                ..from_group("TCP", &peer.group_id)
            },
            IpPermission {
                ip_protocol: "icmp".into(),
                from_port: Some(8),
                to_port: Some(-1),
                ..tcp(0, "0.0.0.0/0")
            },
        ],
    )
    .unwrap();
    assert_eq!(added.len(), 6);
    assert_eq!(added[0].description, None);
    assert_eq!(
        added[4].peer,
        Peer::Group {
            group_id: peer.group_id.clone(),
            user_id: ACCOUNT.into()
        }
    );
    assert_eq!(
        (
            added[5].ip_protocol.as_str(),
            added[5].from_port,
            added[5].to_port
        ),
        ("icmp", 8, -1)
    );

    // Grouped as EC2 groups them: one TCP 80 permission with every peer.
    let stored = load::<SecurityGroup>(&mut f.records, &g.group_id)
        .unwrap()
        .unwrap();
    let ingress = stored.ip_permissions(false);
    assert_eq!(ingress.len(), 2);
    assert_eq!(
        (
            ingress[0].ip_protocol.as_str(),
            ingress[0].from_port,
            ingress[0].to_port
        ),
        ("tcp", Some(80), Some(80))
    );
    assert_eq!(ingress[0].ip_ranges.len(), 3);
    assert_eq!(
        ingress[0].ip_ranges[1].description.as_deref(),
        Some("world")
    );
    assert_eq!(ingress[0].ipv6_ranges[0].cidr_ipv6, "::/0");
    assert_eq!(
        ingress[0].user_id_group_pairs[0].group_id.as_deref(),
        Some(peer.group_id.as_str())
    );

    // Duplicates, against the group and within one request.
    assert_eq!(
        fail(authorize(&mut f, &g.group_id, false, vec![tcp(80, "0.0.0.0/0")])),
        ("InvalidPermission.Duplicate", "the specified rule \"peer: 0.0.0.0/0, TCP, from port: 80, to port: 80, ALLOW\" already exists".into())
    );
    assert_eq!(
        fail(authorize(
            &mut f,
            &g.group_id,
            false,
            vec![tcp(443, "1.2.3.4/32"), tcp(443, "1.2.3.4/32")]
        ))
        .1,
        "the specified rule \"peer: 1.2.3.4/32, TCP, from port: 443, to port: 443, ALLOW\" already exists"
    );
    assert_eq!(
        fail(authorize(
            &mut f,
            &g.group_id,
            true,
            vec![IpPermission {
                ip_protocol: "-1".into(),
                ..tcp(0, "0.0.0.0/0")
            }]
        ))
        .1,
        "the specified rule \"peer: 0.0.0.0/0, ALL, ALLOW\" already exists"
    );
    assert_eq!(
        fail(authorize(
            &mut f,
            &g.group_id,
            false,
            vec![IpPermission {
                from_port: Some(80),
                to_port: Some(80),
                ..from_group("tcp", &peer.group_id)
            }]
        ))
        .1,
        format!(
            "the specified rule \"peer: {}, TCP, from port: 80, to port: 80, ALLOW\" already exists",
            peer.group_id
        )
    );
    assert_eq!(
        fail(authorize(
            &mut f,
            &g.group_id,
            false,
            vec![IpPermission {
                ip_protocol: "icmp".into(),
                from_port: Some(8),
                to_port: Some(-1),
                ..tcp(0, "0.0.0.0/0")
            }]
        ))
        .1,
        "the specified rule \"peer: 0.0.0.0/0, ICMP, type: 8, code: -1, ALLOW\" already exists"
    );
    // Nothing of a failed request was added.
    assert_eq!(
        load::<SecurityGroup>(&mut f.records, &g.group_id)
            .unwrap()
            .unwrap()
            .rules
            .len(),
        7
    );

    // Validation.
    let bad = |p: IpPermission| vec![p];
    assert_eq!(
        fail(authorize(
            &mut f,
            &g.group_id,
            false,
            bad(IpPermission {
                ip_protocol: "bogus".into(),
                ..tcp(1, "0.0.0.0/0")
            })
        )),
        (
            "InvalidParameterValue",
            "Invalid value 'bogus' for IP protocol. Unknown protocol.".into()
        )
    );
    assert_eq!(
        fail(authorize(
            &mut f,
            &g.group_id,
            false,
            bad(IpPermission {
                from_port: None,
                ..tcp(1, "0.0.0.0/0")
            })
        ))
        .1,
        "Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange."
    );
    assert_eq!(
        fail(authorize(
            &mut f,
            &g.group_id,
            false,
            bad(IpPermission {
                from_port: Some(90),
                to_port: Some(80),
                ..tcp(1, "0.0.0.0/0")
            })
        ))
        .0,
        "InvalidParameterValue"
    );
    assert_eq!(
        fail(authorize(
            &mut f,
            &g.group_id,
            false,
            bad(tcp(70000, "0.0.0.0/0"))
        ))
        .0,
        "InvalidParameterValue"
    );
    assert_eq!(
        fail(authorize(
            &mut f,
            &g.group_id,
            false,
            bad(IpPermission {
                ip_protocol: "icmp".into(),
                from_port: Some(-1),
                to_port: Some(3),
                ..tcp(0, "0.0.0.0/0")
            })
        ))
        .1,
        "Invalid ICMP code: 3"
    );
    assert_eq!(
        fail(authorize(
            &mut f,
            &g.group_id,
            false,
            bad(tcp(22, "300.0.0.0/8"))
        ))
        .1,
        "CIDR block 300.0.0.0/8 is malformed"
    );
    assert_eq!(
        fail(authorize(
            &mut f,
            &g.group_id,
            false,
            bad(IpPermission {
                ip_ranges: vec![],
                ..tcp(22, "")
            })
        ))
        .0,
        "MissingParameter"
    );
    assert_eq!(
        fail(authorize(&mut f, &g.group_id, false, vec![])).0,
        "MissingParameter"
    );
    assert_eq!(
        fail(authorize(
            &mut f,
            "sg-0000000000000ffff",
            false,
            bad(tcp(22, "0.0.0.0/0"))
        ))
        .0,
        "InvalidGroup.NotFound"
    );
    assert_eq!(
        fail(authorize(
            &mut f,
            &g.group_id,
            false,
            bad(from_group("-1", "sg-0000000000000ffff"))
        ))
        .1,
        "The security group 'sg-0000000000000ffff' does not exist"
    );
    // Protocol numbers are canonical, and other protocols have no ports.
    let gre = authorize(
        &mut f,
        &g.group_id,
        false,
        bad(IpPermission {
            ip_protocol: "47".into(),
            ..tcp(5, "10.0.0.0/8")
        }),
    )
    .unwrap();
    assert_eq!(
        (
            gre[0].ip_protocol.as_str(),
            gre[0].from_port,
            gre[0].to_port
        ),
        ("47", -1, -1)
    );
    let udp = authorize(
        &mut f,
        &g.group_id,
        false,
        bad(IpPermission {
            ip_protocol: "17".into(),
            ..tcp(53, "10.0.0.0/8")
        }),
    )
    .unwrap();
    assert_eq!(udp[0].ip_protocol, "udp");

    // Revoke by permission (non-default VPC: unknown is an error) and by rule id.
    let revoke = |permissions: Vec<IpPermission>, rule_ids: Vec<String>| RevokeRequest {
        group: GroupRef::id(&g.group_id),
        egress: false,
        ip_permissions: permissions,
        security_group_rule_ids: rule_ids,
    };
    assert_eq!(
        fail(revoke_security_group(
            &mut f.records,
            &f.scope,
            &revoke(vec![tcp(81, "0.0.0.0/0")], vec![])
        )),
        (
            "InvalidPermission.NotFound",
            "The specified rule does not exist in this security group.".into()
        )
    );
    let done = revoke_security_group(
        &mut f.records,
        &f.scope,
        &revoke(vec![tcp(80, "0.0.0.0/0")], vec![]),
    )
    .unwrap();
    assert_eq!(done.revoked.len(), 1);
    assert_eq!(
        done.revoked[0].security_group_rule_id,
        added[1].security_group_rule_id
    );
    let done = revoke_security_group(
        &mut f.records,
        &f.scope,
        &revoke(vec![], vec![added[0].security_group_rule_id.clone()]),
    )
    .unwrap();
    assert_eq!(
        done.revoked[0].peer,
        Peer::CidrIpv4("192.168.0.0/16".into())
    );
    assert_eq!(
        fail(revoke_security_group(
            &mut f.records,
            &f.scope,
            &revoke(vec![], vec![added[0].security_group_rule_id.clone()])
        )),
        (
            "InvalidSecurityGroupRuleId.NotFound",
            format!(
                "The security group rule ID '{}' does not exist",
                added[0].security_group_rule_id
            )
        )
    );
    // An egress rule id is not an ingress rule.
    assert_eq!(
        fail(revoke_security_group(
            &mut f.records,
            &f.scope,
            &revoke(vec![], vec![g.rules[0].security_group_rule_id.clone()])
        ))
        .0,
        "InvalidSecurityGroupRuleId.NotFound"
    );

    // Default VPC: unmatched permissions come back instead of failing.
    let d = group(&mut f, "d", None);
    let legacy = LegacyPermission {
        ip_protocol: Some("tcp".into()),
        from_port: Some(22),
        to_port: Some(22),
        cidr_ip: Some("10.0.0.0/8".into()),
        ..Default::default()
    };
    let request = AuthorizeRequest {
        group: GroupRef::name("d"),
        egress: false,
        ip_permissions: legacy.to_ip_permission().into_iter().collect(),
    };
    authorize_security_group(&mut f.records, &mut f.ids, &f.scope, &request).unwrap();
    let result = revoke_security_group(
        &mut f.records,
        &f.scope,
        &RevokeRequest {
            group: GroupRef::id(&d.group_id),
            egress: false,
            ip_permissions: vec![tcp(22, "10.0.0.0/8"), tcp(23, "10.0.0.0/8")],
            security_group_rule_ids: vec![],
        },
    )
    .unwrap();
    assert_eq!(result.revoked.len(), 1);
    assert_eq!(result.unknown_ip_permissions, vec![tcp(23, "10.0.0.0/8")]);
    assert_eq!(LegacyPermission::default().to_ip_permission(), None);
    let source = LegacyPermission {
        source_security_group_name: Some("d".into()),
        ..Default::default()
    };
    let permission = source.to_ip_permission().unwrap();
    assert_eq!(
        (
            permission.ip_protocol.as_str(),
            permission.user_id_group_pairs[0].group_name.as_deref()
        ),
        ("-1", Some("d"))
    );
    // Egress needs a group id.
    let request = AuthorizeRequest {
        group: GroupRef::name("d"),
        egress: true,
        ip_permissions: vec![tcp(1, "0.0.0.0/0")],
    };
    assert_eq!(
        fail(authorize_security_group(
            &mut f.records,
            &mut f.ids,
            &f.scope,
            &request
        ))
        .0,
        "MissingParameter"
    );
}

#[test]
fn security_group_filters_and_rules() {
    let mut f = fixture();
    let web = group(&mut f, "web", None);
    let lb = group(&mut f, "lb", None);
    let rules = authorize(
        &mut f,
        &web.group_id,
        false,
        vec![
            tcp(443, "10.0.0.0/8"),
            IpPermission {
                from_port: Some(80),
                to_port: Some(80),
                ..from_group("tcp", &lb.group_id)
            },
        ],
    )
    .unwrap();
    let find = |f: &mut Fixture, filters: Vec<Filter>| {
        let request = DescribeSecurityGroupsRequest {
            filters,
            ..Default::default()
        };
        describe_security_groups(&mut f.records, &request)
            .unwrap()
            .items
            .into_iter()
            .map(|t| t.item.group_name)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        find(
            &mut f,
            vec![Filter::new("ip-permission.cidr", &["10.0.0.0/8"])]
        ),
        ["web"]
    );
    assert_eq!(
        find(
            &mut f,
            vec![Filter::new("ip-permission.from-port", &["443"])]
        ),
        ["web"]
    );
    assert_eq!(
        find(
            &mut f,
            vec![
                Filter::new("ip-permission.to-port", &["80"]),
                Filter::new("ip-permission.protocol", &["tcp"])
            ]
        ),
        ["web"]
    );
    assert_eq!(
        find(
            &mut f,
            vec![Filter::new("ip-permission.group-id", &[&lb.group_id])]
        ),
        ["web"]
    );
    assert_eq!(
        find(
            &mut f,
            vec![Filter::new("ip-permission.group-name", &["lb"])]
        ),
        ["web"]
    );
    assert_eq!(
        find(
            &mut f,
            vec![
                Filter::new("ip-permission.user-id", &[ACCOUNT]),
                Filter::new("group-name", &["w*"])
            ]
        ),
        ["web"]
    );
    assert_eq!(
        find(
            &mut f,
            vec![Filter::new("egress.ip-permission.cidr", &["0.0.0.0/0"])]
        )
        .len(),
        3
    );
    assert_eq!(
        find(
            &mut f,
            vec![Filter::new("egress.ip-permission.protocol", &["tcp"])]
        )
        .len(),
        0
    );
    assert_eq!(
        find(&mut f, vec![Filter::new("description", &["lb group"])]),
        ["lb"]
    );
    assert_eq!(
        find(&mut f, vec![Filter::new("owner-id", &[ACCOUNT])]).len(),
        3
    );

    // DescribeSecurityGroupRules.
    let by_id = describe_security_group_rules(
        &mut f.records,
        &describe(&[&rules[0].security_group_rule_id], vec![]),
    )
    .unwrap();
    assert_eq!(by_id.items[0].item, rules[0]);
    assert_eq!(
        by_id.items[0].item.security_group_rule_arn,
        format!(
            "arn:aws:ec2:us-east-1:{ACCOUNT}:security-group-rule/{}",
            rules[0].security_group_rule_id
        )
    );
    let of_group = describe_security_group_rules(
        &mut f.records,
        &describe(&[], vec![Filter::new("group-id", &[&web.group_id])]),
    )
    .unwrap();
    assert_eq!(of_group.items.len(), 3);
    create_tags(
        &mut f.records,
        std::slice::from_ref(&rules[1].security_group_rule_id),
        &[Tag::new("role", "lb")],
    )
    .unwrap();
    let tagged = describe_security_group_rules(
        &mut f.records,
        &describe(&[], vec![Filter::new("tag:role", &["lb"])]),
    )
    .unwrap();
    assert_eq!(tagged.items.len(), 1);
    assert_eq!(tagged.items[0].tags, vec![Tag::new("role", "lb")]);
    let by_rule = describe_security_group_rules(
        &mut f.records,
        &describe(
            &[],
            vec![Filter::new(
                "security-group-rule-id",
                &[&rules[1].security_group_rule_id],
            )],
        ),
    )
    .unwrap();
    assert_eq!(by_rule.items.len(), 1);
    assert_eq!(
        fail(describe_security_group_rules(
            &mut f.records,
            &describe(&["sgr-x"], vec![])
        )),
        (
            "InvalidSecurityGroupRuleId.NotFound",
            "The security group rule ID 'sgr-x' does not exist".into()
        )
    );
    assert_eq!(
        fail(describe_security_group_rules(
            &mut f.records,
            &describe(&[], vec![Filter::new("vpc-id", &["x"])])
        ))
        .1,
        "The filter 'vpc-id' is invalid"
    );
    // Revoking a tagged rule drops its tags.
    revoke_security_group(
        &mut f.records,
        &f.scope,
        &RevokeRequest {
            group: GroupRef::id(&web.group_id),
            security_group_rule_ids: vec![rules[1].security_group_rule_id.clone()],
            ..Default::default()
        },
    )
    .unwrap();
    assert!(
        describe_tags(&mut f.records, &Default::default())
            .unwrap()
            .items
            .is_empty()
    );
}

#[test]
fn tags() {
    let mut f = fixture();
    let v = vpc(&mut f, "10.0.0.0/16");
    let g = group(&mut f, "web", Some(&v.vpc_id));
    let resources = vec![v.vpc_id.clone(), g.group_id.clone()];
    create_tags(
        &mut f.records,
        &resources,
        &[Tag::new("Name", "prod"), Tag::new("team", "")],
    )
    .unwrap();
    create_tags(
        &mut f.records,
        std::slice::from_ref(&v.vpc_id),
        &[Tag::new("Name", "main")],
    )
    .unwrap();
    let all = describe_tags(&mut f.records, &Default::default())
        .unwrap()
        .items;
    let summary: Vec<_> = all
        .iter()
        .map(|t| (t.resource_type.as_str(), t.key.as_str(), t.value.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("security-group", "Name", "prod"),
            ("security-group", "team", ""),
            ("vpc", "Name", "main"),
            ("vpc", "team", "")
        ]
    );

    let vpcs = describe_vpcs(
        &mut f.records,
        &describe(&[], vec![Filter::new("tag:Name", &["main"])]),
    )
    .unwrap();
    assert_eq!(
        vpcs.items[0].tags,
        vec![Tag::new("Name", "main"), Tag::new("team", "")]
    );
    assert_eq!(
        describe_vpcs(
            &mut f.records,
            &describe(&[], vec![Filter::new("tag-key", &["team"])])
        )
        .unwrap()
        .items
        .len(),
        1
    );

    let tags_where = |f: &mut Fixture, filters: Vec<Filter>| {
        describe_tags(
            &mut f.records,
            &DescribeTagsRequest {
                filters,
                ..Default::default()
            },
        )
        .unwrap()
        .items
        .len()
    };
    assert_eq!(
        tags_where(
            &mut f,
            vec![Filter::new("resource-type", &["security-group"])]
        ),
        2
    );
    assert_eq!(
        tags_where(
            &mut f,
            vec![Filter::new("key", &["Name"]), Filter::new("value", &["m*"])]
        ),
        1
    );
    assert_eq!(
        tags_where(&mut f, vec![Filter::new("resource-id", &[&g.group_id])]),
        2
    );
    assert_eq!(
        tags_where(&mut f, vec![Filter::new("tag:Name", &["main"])]),
        2
    );
    assert_eq!(
        fail(describe_tags(
            &mut f.records,
            &DescribeTagsRequest {
                filters: vec![Filter::new("tag-key", &["x"])],
                ..Default::default()
            }
        ))
        .0,
        "InvalidParameterValue"
    );

    // Errors: unknown ids, limits, reserved prefix.
    let err = |f: &mut Fixture, ids: &[&str], tags: &[Tag]| {
        fail(create_tags(
            &mut f.records,
            &ids.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            tags,
        ))
    };
    let one = [Tag::new("k", "v")];
    assert_eq!(
        err(&mut f, &["i-123"], &one),
        ("InvalidID", "The ID 'i-123' is not valid".into())
    );
    assert_eq!(
        err(&mut f, &["vpc-0000000000000ffff"], &one),
        (
            "InvalidVpcID.NotFound",
            "The vpc ID 'vpc-0000000000000ffff' does not exist".into()
        )
    );
    assert_eq!(
        err(&mut f, &["subnet-0000000000000ffff"], &one).0,
        "InvalidSubnetID.NotFound"
    );
    assert_eq!(
        err(&mut f, &["sg-0000000000000ffff"], &one),
        (
            "InvalidGroup.NotFound",
            "The security group 'sg-0000000000000ffff' does not exist".into()
        )
    );
    assert_eq!(
        err(&mut f, &["sgr-0000000000000ffff"], &one).0,
        "InvalidSecurityGroupRuleId.NotFound"
    );
    assert_eq!(
        err(&mut f, &["rtb-0000000000000ffff"], &one),
        (
            "InvalidRouteTableID.NotFound",
            "The routeTable ID 'rtb-0000000000000ffff' does not exist".into()
        )
    );
    assert_eq!(
        err(&mut f, &["igw-0000000000000ffff"], &one),
        (
            "InvalidInternetGatewayID.NotFound",
            "The internetGateway ID 'igw-0000000000000ffff' does not exist".into()
        )
    );
    assert_eq!(
        err(&mut f, &["dopt-0000000000000ffff"], &one),
        (
            "InvalidDhcpOptionID.NotFound",
            "The dhcpOption ID 'dopt-0000000000000ffff' does not exist".into()
        )
    );
    assert_eq!(
        err(&mut f, &["acl-0000000000000ffff"], &one),
        (
            "InvalidNetworkAclID.NotFound",
            "The networkAcl ID 'acl-0000000000000ffff' does not exist".into()
        )
    );
    let vid = v.vpc_id.clone();
    assert_eq!(
        err(&mut f, &[&vid], &[Tag::new("aws:x", "v")]),
        (
            "InvalidParameterValue",
            "Tag keys starting with 'aws:' are reserved for internal use".into()
        )
    );
    assert_eq!(
        err(&mut f, &[&vid], &[Tag::new(&"k".repeat(128), "v")]).1,
        "Tag key exceeds the maximum length of 127 characters"
    );
    assert_eq!(
        err(&mut f, &[&vid], &[Tag::new("k", &"v".repeat(256))]).1,
        "Tag value exceeds the maximum length of 255 characters"
    );
    assert_eq!(
        err(&mut f, &[&vid], &[Tag::new("", "v")]).0,
        "InvalidParameterValue"
    );
    assert_eq!(err(&mut f, &[], &one).0, "MissingParameter");
    assert_eq!(err(&mut f, &[&vid], &[]).0, "MissingParameter");
    let many: Vec<Tag> = (0..49).map(|i| Tag::new(&format!("k{i}"), "v")).collect();
    assert_eq!(
        err(&mut f, &[&vid], &many),
        (
            "TagLimitExceeded",
            "The maximum number of tags for a resource has been reached.".into()
        )
    );
    // All or nothing: a bad id later in the list leaves the first resource untouched.
    assert_eq!(
        err(
            &mut f,
            &[&vid, "vpc-0000000000000ffff"],
            &[Tag::new("new", "x")]
        )
        .0,
        "InvalidVpcID.NotFound"
    );
    assert_eq!(
        describe_tags(
            &mut f.records,
            &DescribeTagsRequest {
                filters: vec![Filter::new("key", &["new"])],
                ..Default::default()
            }
        )
        .unwrap()
        .items
        .len(),
        0
    );

    // DeleteTags: by key, by key and value, all.
    let del = |f: &mut Fixture, tags: Option<&[TagToDelete]>| {
        delete_tags(&mut f.records, std::slice::from_ref(&vid), tags)
    };
    del(
        &mut f,
        Some(&[TagToDelete {
            key: "Name".into(),
            value: Some("other".into()),
        }]),
    )
    .unwrap();
    assert_eq!(
        tags_where(&mut f, vec![Filter::new("resource-id", &[&vid])]),
        2
    );
    del(
        &mut f,
        Some(&[TagToDelete {
            key: "Name".into(),
            value: None,
        }]),
    )
    .unwrap();
    assert_eq!(
        tags_where(&mut f, vec![Filter::new("resource-id", &[&vid])]),
        1
    );
    del(
        &mut f,
        Some(&[TagToDelete {
            key: "team".into(),
            value: Some(String::new()),
        }]),
    )
    .unwrap();
    assert_eq!(
        tags_where(&mut f, vec![Filter::new("resource-id", &[&vid])]),
        0
    );
    delete_tags(&mut f.records, std::slice::from_ref(&g.group_id), None).unwrap();
    assert!(
        describe_tags(&mut f.records, &Default::default())
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(
        fail(delete_tags(&mut f.records, &["i-1".into()], None)).0,
        "InvalidID"
    );
    assert_eq!(
        fail(del(
            &mut f,
            Some(&[TagToDelete {
                key: "aws:cloudformation".into(),
                value: None
            }])
        ))
        .0,
        "InvalidParameterValue"
    );

    // Tags given at creation.
    let request = CreateSubnetRequest {
        tags: vec![Tag::new("Name", "a")],
        ..subnet_request(&vid, "10.0.0.0/24")
    };
    let s = create_subnet(&mut f.records, &mut f.ids, &f.scope, &request).unwrap();
    assert_eq!(
        describe_subnets(&mut f.records, &describe(&[&s.subnet_id], vec![]))
            .unwrap()
            .items[0]
            .tags,
        vec![Tag::new("Name", "a")]
    );
    let bad = CreateSubnetRequest {
        tags: vec![Tag::new("aws:x", "a")],
        ..subnet_request(&vid, "10.0.1.0/24")
    };
    assert_eq!(
        fail(create_subnet(&mut f.records, &mut f.ids, &f.scope, &bad)).0,
        "InvalidParameterValue"
    );
}

#[test]
fn pagination_over_describes() {
    let mut f = fixture();
    for i in 0..7 {
        vpc(&mut f, &format!("10.{i}.0.0/16"));
    }
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let request = DescribeRequest {
            max_results: Some(5),
            next_token: token.clone(),
            ..Default::default()
        };
        let page = describe_vpcs(&mut f.records, &request).unwrap();
        seen.extend(page.items.into_iter().map(|t| t.item.vpc_id));
        match page.next_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 8);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);

    let first = describe_vpcs(
        &mut f.records,
        &DescribeRequest {
            max_results: Some(5),
            ..Default::default()
        },
    )
    .unwrap();
    let token = first.next_token.unwrap();
    // A DescribeVpcs token is not a DescribeSubnets token.
    let request = DescribeRequest {
        max_results: Some(5),
        next_token: Some(token),
        ..Default::default()
    };
    assert_eq!(
        fail(describe_subnets(&mut f.records, &request)).0,
        "InvalidPaginationToken"
    );
    let request = DescribeRequest {
        ids: vec!["vpc-1".into()],
        max_results: Some(5),
        ..Default::default()
    };
    assert_eq!(
        fail(describe_vpcs(&mut f.records, &request)).1,
        "The parameter vpcIds cannot be used with the parameter maxResults"
    );
    let request = DescribeRequest {
        max_results: Some(101),
        ..Default::default()
    };
    assert_eq!(
        fail(describe_route_tables(&mut f.records, &request)).1,
        "Value ( 101 ) for parameter maxResults is invalid. Parameter must be between 5 and 100."
    );
    let request = DescribeRequest {
        ids: vec!["subnet-1".into()],
        max_results: Some(5),
        ..Default::default()
    };
    assert_eq!(
        fail(describe_subnets(&mut f.records, &request)).0,
        "InvalidParameterCombination"
    );
    let request = DescribeSecurityGroupsRequest {
        max_results: Some(5),
        ..Default::default()
    };
    let groups = describe_security_groups(&mut f.records, &request).unwrap();
    assert_eq!((groups.items.len(), groups.next_token.is_some()), (5, true));

    // DescribeTags pages by (resource, key).
    let ids: Vec<String> = seen.clone();
    create_tags(
        &mut f.records,
        &ids,
        &[Tag::new("a", "1"), Tag::new("b", "2")],
    )
    .unwrap();
    let mut count = 0;
    let mut token = None;
    loop {
        let request = DescribeTagsRequest {
            max_results: Some(5),
            next_token: token,
            ..Default::default()
        };
        let page = describe_tags(&mut f.records, &request).unwrap();
        count += page.items.len();
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(count, 16);
    let request = DescribeTagsRequest {
        max_results: Some(2),
        ..Default::default()
    };
    assert_eq!(
        fail(describe_tags(&mut f.records, &request)).0,
        "InvalidParameterValue"
    );
}

#[test]
fn dry_run_checks_without_writing() {
    let mut f = fixture();
    let before = f.records.clone();
    let Fixture {
        records,
        ids,
        scope,
    } = &mut f;
    let ok = dry_run(records, |r| {
        create_vpc(
            r,
            ids,
            scope,
            &CreateVpcRequest {
                cidr_block: "10.0.0.0/16".into(),
                ..Default::default()
            },
        )
    });
    assert_eq!(
        (ok.code(), ok.to_string().as_str()),
        (
            "DryRunOperation",
            "Request would have succeeded, but DryRun flag is set."
        )
    );
    let failed = dry_run(records, |r| {
        create_vpc(
            r,
            ids,
            scope,
            &CreateVpcRequest {
                cidr_block: "10.0.0.0/8".into(),
                ..Default::default()
            },
        )
    });
    assert_eq!(failed.code(), "InvalidVpc.Range");
    let vpc_id = default_vpc_id(&mut f);
    let err = dry_run(&mut f.records, |r| delete_vpc(r, &vpc_id));
    assert_eq!(err.code(), "DependencyViolation");
    let group_id = load_all::<SecurityGroup>(&mut f.records).unwrap()[0]
        .group_id
        .clone();
    let err = dry_run(&mut f.records, |r| {
        create_tags(r, &[group_id], &[Tag::new("k", "v")])
    });
    assert_eq!(err, Ec2Error::DryRunOperation);
    assert_eq!(format!("{:?}", f.records), format!("{before:?}"));
}

#[test]
fn records_round_trip_through_serde() {
    let mut f = fixture();
    for record in [
        Kind::Vpc,
        Kind::Subnet,
        Kind::SecurityGroup,
        Kind::RouteTable,
        Kind::InternetGateway,
        Kind::DhcpOptions,
        Kind::NetworkAcl,
    ] {
        for r in f.records.list(record).unwrap() {
            let json = serde_json::to_string(&r).unwrap();
            let back: Record = serde_json::from_str(&json).unwrap();
            assert_eq!(back, r);
        }
    }
    let vpc = load_all::<Vpc>(&mut f.records).unwrap().remove(0);
    let json = serde_json::to_value(&vpc).unwrap();
    assert_eq!(json["CidrBlock"], "172.31.0.0/16");
    assert_eq!(json["IsDefault"], true);
}

#[test]
fn describe_internet_gateways_filters_by_attachment() {
    let mut f = fixture();
    let all = describe_internet_gateways(&mut f.records, &DescribeRequest::default()).unwrap();
    assert_eq!(all.items.len(), 1);
    let default_vpc = load_all::<Vpc>(&mut f.records).unwrap()[0].vpc_id.clone();
    let attached = describe_internet_gateways(
        &mut f.records,
        &DescribeRequest {
            filters: vec![Filter::new("attachment.vpc-id", &[&default_vpc])],
            ..DescribeRequest::default()
        },
    )
    .unwrap();
    assert_eq!(attached.items[0].item.attachments[0].state, "available");
    let none = describe_internet_gateways(
        &mut f.records,
        &DescribeRequest {
            filters: vec![Filter::new("attachment.vpc-id", &["vpc-1234abcd"])],
            ..DescribeRequest::default()
        },
    )
    .unwrap();
    assert!(none.items.is_empty());
    let (code, message) = fail(describe_internet_gateways(
        &mut f.records,
        &DescribeRequest {
            ids: vec!["igw-1234abcd".into()],
            ..DescribeRequest::default()
        },
    ));
    assert_eq!(code, "InvalidInternetGatewayID.NotFound");
    assert_eq!(
        message,
        "The internetGateway ID 'igw-1234abcd' does not exist"
    );
}
