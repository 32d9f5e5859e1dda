//! The default network, VPCs, subnets and route tables.

use crate::cidr::Cidr;
use crate::filter::{Filter, Matcher};
use crate::ids::Ids;
use crate::model::*;
use crate::page::{Page, Paging};
use crate::records::{Kind, Records, load, load_all, store};
use crate::regions::{availability_zones, is_known_region};
use crate::security_group::new_security_group;
use crate::tags::{delete_tag_set, tags_of, validate_new_tags, write_tags};
use crate::{Ec2Error, Scope};

const DEFAULT_VPC_CIDR: &str = "172.31.0.0/16";

/// Gives (account, region) the network a new AWS account starts with: the default VPC
/// `172.31.0.0/16` with a default /20 subnet per availability zone, its default security group,
/// main route table (local route and a default route to its internet gateway), default network
/// ACL, and the account's DHCP options. Does nothing once done, even after the user deleted
/// the default VPC, as AWS does not bring it back.
pub fn ensure_default_network(
    records: &mut dyn Records,
    ids: &mut dyn Ids,
    scope: &Scope,
) -> Result<(), Ec2Error> {
    if !is_known_region(&scope.region) {
        return Err(Ec2Error::InvalidParameterValue(format!(
            "Invalid region: {}",
            scope.region
        )));
    }
    if load_all::<DhcpOptions>(records)?
        .iter()
        .any(|d| d.account_default)
    {
        return Ok(());
    }
    let dhcp = DhcpOptions {
        dhcp_options_id: ids.next("dopt"),
        owner_id: scope.account.clone(),
        domain_name: if scope.region == "us-east-1" {
            "ec2.internal".to_owned()
        } else {
            format!("{}.compute.internal", scope.region)
        },
        domain_name_servers: vec!["AmazonProvidedDNS".to_owned()],
        account_default: true,
    };
    let dhcp_id = dhcp.dhcp_options_id.clone();
    store(records, dhcp)?;

    let cidr = Cidr::parse(DEFAULT_VPC_CIDR).expect("the default VPC CIDR is valid");
    let mut network = new_vpc(ids, scope, cidr, "default", dhcp_id, true);
    let igw = InternetGateway {
        internet_gateway_id: ids.next("igw"),
        owner_id: scope.account.clone(),
        attachments: vec![InternetGatewayAttachment {
            vpc_id: network.vpc.vpc_id.clone(),
            state: "available".to_owned(),
        }],
    };
    network.route_table.routes.push(Route {
        destination_cidr_block: "0.0.0.0/0".to_owned(),
        gateway_id: igw.internet_gateway_id.clone(),
        origin: "CreateRoute".to_owned(),
        state: "active".to_owned(),
    });
    let subnets: Vec<Subnet> = availability_zones(&scope.region)
        .into_iter()
        .zip(0u32..)
        .map(|(zone, index)| {
            let block = cidr.nth_subnet(20, index);
            let subnet_id = ids.next("subnet");
            Subnet {
                subnet_arn: scope.arn(&format!("subnet/{subnet_id}")),
                subnet_id,
                vpc_id: network.vpc.vpc_id.clone(),
                owner_id: scope.account.clone(),
                cidr_block: block.to_string(),
                availability_zone: zone.zone_name,
                availability_zone_id: zone.zone_id,
                available_ip_address_count: block.size() - 5,
                default_for_az: true,
                map_public_ip_on_launch: true,
                state: "available".to_owned(),
            }
        })
        .collect();
    store(records, igw)?;
    network.write(records)?;
    for subnet in subnets {
        store(records, subnet)?;
    }
    Ok(())
}

/// A VPC and what AWS creates with it.
struct NewVpc {
    vpc: Vpc,
    route_table: RouteTable,
    acl: NetworkAcl,
    group: SecurityGroup,
}

impl NewVpc {
    fn write(self, records: &mut dyn Records) -> Result<(), Ec2Error> {
        store(records, self.vpc)?;
        store(records, self.route_table)?;
        store(records, self.acl)?;
        store(records, self.group)
    }
}

fn new_vpc(
    ids: &mut dyn Ids,
    scope: &Scope,
    cidr: Cidr,
    tenancy: &str,
    dhcp_options_id: String,
    is_default: bool,
) -> NewVpc {
    let vpc_id = ids.next("vpc");
    let vpc = Vpc {
        vpc_id: vpc_id.clone(),
        owner_id: scope.account.clone(),
        cidr_block: cidr.to_string(),
        cidr_block_association_set: vec![VpcCidrBlockAssociation {
            association_id: ids.next("vpc-cidr-assoc"),
            cidr_block: cidr.to_string(),
            cidr_block_state: "associated".to_owned(),
        }],
        dhcp_options_id,
        instance_tenancy: tenancy.to_owned(),
        is_default,
        state: "available".to_owned(),
        enable_dns_support: true,
        // The default VPC resolves public hostnames; a new VPC starts without them.
        enable_dns_hostnames: is_default,
        enable_network_address_usage_metrics: false,
    };
    let route_table_id = ids.next("rtb");
    let route_table = RouteTable {
        route_table_id: route_table_id.clone(),
        vpc_id: vpc_id.clone(),
        owner_id: scope.account.clone(),
        routes: vec![Route {
            destination_cidr_block: cidr.to_string(),
            gateway_id: "local".to_owned(),
            origin: "CreateRouteTable".to_owned(),
            state: "active".to_owned(),
        }],
        associations: vec![RouteTableAssociation {
            route_table_association_id: ids.next("rtbassoc"),
            route_table_id,
            main: true,
            subnet_id: None,
            association_state: "associated".to_owned(),
        }],
    };
    let entry = |rule_number, rule_action: &str, egress| NetworkAclEntry {
        rule_number,
        protocol: "-1".to_owned(),
        rule_action: rule_action.to_owned(),
        egress,
        cidr_block: "0.0.0.0/0".to_owned(),
    };
    let acl = NetworkAcl {
        network_acl_id: ids.next("acl"),
        vpc_id: vpc_id.clone(),
        owner_id: scope.account.clone(),
        is_default: true,
        entries: vec![
            entry(100, "allow", true),
            entry(32767, "deny", true),
            entry(100, "allow", false),
            entry(32767, "deny", false),
        ],
    };
    let group = new_security_group(
        ids,
        scope,
        "default",
        "default VPC security group",
        &vpc_id,
        true,
    );
    NewVpc {
        vpc,
        route_table,
        acl,
        group,
    }
}

/// The parsed CIDR, or EC2's malformed-CIDR error.
fn parse_cidr(text: &str) -> Result<Cidr, Ec2Error> {
    Cidr::parse(text).ok_or_else(|| Ec2Error::bad_cidr(text))
}

/// The VPC, or `InvalidVpcID.NotFound`.
pub(crate) fn existing_vpc(records: &mut dyn Records, vpc_id: &str) -> Result<Vpc, Ec2Error> {
    load(records, vpc_id)?.ok_or_else(|| Ec2Error::InvalidVpcIdNotFound(vec![vpc_id.to_owned()]))
}

/// The default VPC of the (account, region), if it still exists.
pub(crate) fn default_vpc(records: &mut dyn Records) -> Result<Option<Vpc>, Ec2Error> {
    Ok(load_all::<Vpc>(records)?.into_iter().find(|v| v.is_default))
}

/// CreateVpc.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateVpcRequest {
    pub cidr_block: String,
    /// `default` (when omitted) or `dedicated`.
    pub instance_tenancy: Option<String>,
    /// From TagSpecifications.
    pub tags: Vec<Tag>,
}

/// CreateVpc: a VPC with its main route table, default network ACL and default security group.
/// The CIDR must be /16../28; host bits are cleared as EC2 does.
pub fn create_vpc(
    records: &mut dyn Records,
    ids: &mut dyn Ids,
    scope: &Scope,
    request: &CreateVpcRequest,
) -> Result<Vpc, Ec2Error> {
    let cidr = parse_cidr(&request.cidr_block)?;
    if !(16..=28).contains(&cidr.prefix()) {
        return Err(Ec2Error::InvalidVpcRange(request.cidr_block.clone()));
    }
    let tenancy = request.instance_tenancy.as_deref().unwrap_or("default");
    if tenancy != "default" && tenancy != "dedicated" {
        return Err(Ec2Error::InvalidParameterValue(format!(
            "Value ({tenancy}) for parameter instanceTenancy is invalid."
        )));
    }
    validate_new_tags(&[], &request.tags)?;
    let dhcp = load_all::<DhcpOptions>(records)?
        .into_iter()
        .find(|d| d.account_default)
        .map_or_else(|| "default".to_owned(), |d| d.dhcp_options_id);
    let network = new_vpc(ids, scope, cidr, tenancy, dhcp, false);
    let vpc = network.vpc.clone();
    network.write(records)?;
    write_tags(
        records,
        &vpc.vpc_id,
        ResourceType::Vpc,
        request.tags.clone(),
    )?;
    Ok(vpc)
}

/// Describe request shared by the Describe actions over ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeRequest {
    pub ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
}

impl DescribeRequest {
    pub(crate) fn paging(
        &self,
        action: &'static str,
        ids_param: &'static str,
        max_bound: i32,
    ) -> Paging<'_> {
        Paging {
            action,
            ids_param: Some((ids_param, &self.ids)),
            filters: &self.filters,
            max_results: self.max_results,
            next_token: self.next_token.as_deref(),
            max_bound,
        }
    }

    /// The ids asked for that are not among `found`.
    pub(crate) fn missing(&self, found: impl Fn(&str) -> bool) -> Vec<String> {
        self.ids.iter().filter(|id| !found(id)).cloned().collect()
    }
}

const VPC_FILTERS: &[&str] = &[
    "cidr",
    "cidr-block-association.cidr-block",
    "cidr-block-association.association-id",
    "cidr-block-association.state",
    "dhcp-options-id",
    "ipv6-cidr-block-association.ipv6-cidr-block",
    "ipv6-cidr-block-association.ipv6-pool",
    "ipv6-cidr-block-association.association-id",
    "ipv6-cidr-block-association.state",
    "is-default",
    "owner-id",
    "state",
    "vpc-id",
];

fn vpc_field(vpc: &Vpc, name: &str) -> Vec<String> {
    let assoc = |f: fn(&VpcCidrBlockAssociation) -> &String| {
        vpc.cidr_block_association_set
            .iter()
            .map(|a| f(a).clone())
            .collect()
    };
    match name {
        "cidr" => vec![vpc.cidr_block.clone()],
        "cidr-block-association.cidr-block" => assoc(|a| &a.cidr_block),
        "cidr-block-association.association-id" => assoc(|a| &a.association_id),
        "cidr-block-association.state" => assoc(|a| &a.cidr_block_state),
        "dhcp-options-id" => vec![vpc.dhcp_options_id.clone()],
        "is-default" => vec![vpc.is_default.to_string()],
        "owner-id" => vec![vpc.owner_id.clone()],
        "state" => vec![vpc.state.clone()],
        "vpc-id" => vec![vpc.vpc_id.clone()],
        // Berth's VPCs have no IPv6 blocks.
        _ => Vec::new(),
    }
}

/// DescribeVpcs (MaxResults 5..1000, not with VpcIds).
pub fn describe_vpcs(
    records: &mut dyn Records,
    request: &DescribeRequest,
) -> Result<Page<Tagged<Vpc>>, Ec2Error> {
    let paging = request.paging("DescribeVpcs", "vpcIds", 1000);
    paging.check()?;
    let matcher = Matcher::new(&request.filters, VPC_FILTERS, true)?;
    let all = load_all::<Vpc>(records)?;
    let missing = request.missing(|id| all.iter().any(|v| v.vpc_id == id));
    if !missing.is_empty() {
        return Err(Ec2Error::InvalidVpcIdNotFound(missing));
    }
    let mut out = Vec::new();
    for vpc in all {
        if !request.ids.is_empty() && !request.ids.contains(&vpc.vpc_id) {
            continue;
        }
        let tags = tags_of(records, &vpc.vpc_id)?;
        if matcher.matches_tagged(&tags, |name| vpc_field(&vpc, name)) {
            out.push(Tagged { item: vpc, tags });
        }
    }
    paging.page(out, |t| &t.item.vpc_id)
}

/// DeleteVpc: refused while subnets or non-default security groups remain; takes the default
/// security group, main route table and default network ACL with it. An attached internet
/// gateway is detached rather than blocking, since Berth has no DetachInternetGateway yet.
pub fn delete_vpc(records: &mut dyn Records, vpc_id: &str) -> Result<(), Ec2Error> {
    existing_vpc(records, vpc_id)?;
    let has_subnets = load_all::<Subnet>(records)?
        .iter()
        .any(|s| s.vpc_id == vpc_id);
    let groups: Vec<SecurityGroup> = load_all::<SecurityGroup>(records)?
        .into_iter()
        .filter(|g| g.vpc_id == vpc_id)
        .collect();
    if has_subnets || groups.iter().any(|g| g.group_name != "default") {
        return Err(Ec2Error::DependencyViolation(format!(
            "The vpc '{vpc_id}' has dependencies and cannot be deleted."
        )));
    }
    for group in groups {
        for rule in &group.rules {
            delete_tag_set(records, &rule.security_group_rule_id)?;
        }
        records.delete(Kind::SecurityGroup, &group.group_id)?;
        delete_tag_set(records, &group.group_id)?;
    }
    for table in load_all::<RouteTable>(records)?
        .into_iter()
        .filter(|t| t.vpc_id == vpc_id)
    {
        records.delete(Kind::RouteTable, &table.route_table_id)?;
        delete_tag_set(records, &table.route_table_id)?;
    }
    for acl in load_all::<NetworkAcl>(records)?
        .into_iter()
        .filter(|a| a.vpc_id == vpc_id)
    {
        records.delete(Kind::NetworkAcl, &acl.network_acl_id)?;
        delete_tag_set(records, &acl.network_acl_id)?;
    }
    for mut igw in load_all::<InternetGateway>(records)? {
        if igw.attachments.iter().any(|a| a.vpc_id == vpc_id) {
            igw.attachments.retain(|a| a.vpc_id != vpc_id);
            store(records, igw)?;
        }
    }
    records.delete(Kind::Vpc, vpc_id)?;
    delete_tag_set(records, vpc_id)
}

/// ModifyVpcAttribute: exactly one attribute per request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModifyVpcAttributeRequest {
    pub vpc_id: String,
    pub enable_dns_support: Option<bool>,
    pub enable_dns_hostnames: Option<bool>,
    pub enable_network_address_usage_metrics: Option<bool>,
}

pub fn modify_vpc_attribute(
    records: &mut dyn Records,
    request: &ModifyVpcAttributeRequest,
) -> Result<(), Ec2Error> {
    let given: Vec<&str> = [
        ("enableDnsSupport", request.enable_dns_support),
        ("enableDnsHostnames", request.enable_dns_hostnames),
        (
            "enableNetworkAddressUsageMetrics",
            request.enable_network_address_usage_metrics,
        ),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|_| name))
    .collect();
    match given.len() {
        0 => {
            return Err(Ec2Error::MissingParameter(
                "enableDnsSupport, enableDnsHostnames or enableNetworkAddressUsageMetrics"
                    .to_owned(),
            ));
        }
        1 => {}
        _ => {
            return Err(Ec2Error::InvalidParameterCombination(format!(
                "Fields for multiple attribute types specified: {}",
                given.join(", ")
            )));
        }
    }
    let mut vpc = existing_vpc(records, &request.vpc_id)?;
    if let Some(on) = request.enable_dns_support {
        vpc.enable_dns_support = on;
    }
    if let Some(on) = request.enable_dns_hostnames {
        // AWS: "You can only enable DNS hostnames if you've enabled DNS support."
        if on && !vpc.enable_dns_support {
            return Err(Ec2Error::InvalidParameterValue(
                "Value (true) for parameter enableDnsHostnames is invalid. DNS hostnames can only be enabled when DNS support is enabled."
                    .to_owned(),
            ));
        }
        vpc.enable_dns_hostnames = on;
    }
    if let Some(on) = request.enable_network_address_usage_metrics {
        vpc.enable_network_address_usage_metrics = on;
    }
    store(records, vpc)
}

/// One DescribeVpcAttribute answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VpcAttribute {
    EnableDnsSupport(bool),
    EnableDnsHostnames(bool),
    EnableNetworkAddressUsageMetrics(bool),
}

/// DescribeVpcAttribute for `enableDnsSupport`, `enableDnsHostnames` or
/// `enableNetworkAddressUsageMetrics`.
pub fn describe_vpc_attribute(
    records: &mut dyn Records,
    vpc_id: &str,
    attribute: &str,
) -> Result<VpcAttribute, Ec2Error> {
    let known = [
        "enableDnsSupport",
        "enableDnsHostnames",
        "enableNetworkAddressUsageMetrics",
    ];
    if !known.contains(&attribute) {
        return Err(Ec2Error::InvalidParameterValue(format!(
            "Value ({attribute}) for parameter attribute is invalid. Unknown attribute."
        )));
    }
    let vpc = existing_vpc(records, vpc_id)?;
    Ok(match attribute {
        "enableDnsSupport" => VpcAttribute::EnableDnsSupport(vpc.enable_dns_support),
        "enableDnsHostnames" => VpcAttribute::EnableDnsHostnames(vpc.enable_dns_hostnames),
        _ => {
            VpcAttribute::EnableNetworkAddressUsageMetrics(vpc.enable_network_address_usage_metrics)
        }
    })
}

/// CreateSubnet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateSubnetRequest {
    pub vpc_id: String,
    pub cidr_block: String,
    pub availability_zone: Option<String>,
    pub availability_zone_id: Option<String>,
    pub tags: Vec<Tag>,
}

/// CreateSubnet: /16../28 inside one of the VPC's CIDRs, overlapping no other subnet of the
/// VPC, in a zone of the region (the first zone when none is named).
pub fn create_subnet(
    records: &mut dyn Records,
    ids: &mut dyn Ids,
    scope: &Scope,
    request: &CreateSubnetRequest,
) -> Result<Subnet, Ec2Error> {
    let cidr = parse_cidr(&request.cidr_block)?;
    let vpc = existing_vpc(records, &request.vpc_id)?;
    let zones = availability_zones(&scope.region);
    let zone = match (&request.availability_zone, &request.availability_zone_id) {
        (Some(_), Some(_)) => {
            return Err(Ec2Error::InvalidParameterCombination(
                "Only one of availabilityZone or availabilityZoneId may be specified.".to_owned(),
            ));
        }
        (Some(name), None) => zones.iter().find(|z| &z.zone_name == name).ok_or_else(|| {
            bad_zone(
                "availabilityZone",
                name,
                zones.iter().map(|z| z.zone_name.as_str()),
            )
        })?,
        (None, Some(id)) => zones.iter().find(|z| &z.zone_id == id).ok_or_else(|| {
            bad_zone(
                "availabilityZoneId",
                id,
                zones.iter().map(|z| z.zone_id.as_str()),
            )
        })?,
        (None, None) => zones.first().ok_or_else(|| {
            Ec2Error::InvalidParameterValue(format!("Invalid region: {}", scope.region))
        })?,
    };
    let inside_vpc = vpc
        .cidr_block_association_set
        .iter()
        .filter_map(|a| Cidr::parse(&a.cidr_block))
        .any(|block| block.contains(&cidr));
    if !(16..=28).contains(&cidr.prefix()) || !inside_vpc {
        return Err(Ec2Error::InvalidSubnetRange(request.cidr_block.clone()));
    }
    let conflict = load_all::<Subnet>(records)?
        .iter()
        .filter(|s| s.vpc_id == vpc.vpc_id)
        .filter_map(|s| Cidr::parse(&s.cidr_block))
        .any(|other| other.overlaps(&cidr));
    if conflict {
        return Err(Ec2Error::InvalidSubnetConflict(request.cidr_block.clone()));
    }
    validate_new_tags(&[], &request.tags)?;
    let subnet_id = ids.next("subnet");
    let subnet = Subnet {
        subnet_arn: scope.arn(&format!("subnet/{subnet_id}")),
        subnet_id,
        vpc_id: vpc.vpc_id,
        owner_id: scope.account.clone(),
        cidr_block: cidr.to_string(),
        availability_zone: zone.zone_name.clone(),
        availability_zone_id: zone.zone_id.clone(),
        available_ip_address_count: cidr.size() - 5,
        default_for_az: false,
        map_public_ip_on_launch: false,
        state: "available".to_owned(),
    };
    store(records, subnet.clone())?;
    write_tags(
        records,
        &subnet.subnet_id,
        ResourceType::Subnet,
        request.tags.clone(),
    )?;
    Ok(subnet)
}

fn bad_zone<'a>(param: &str, value: &str, valid: impl Iterator<Item = &'a str>) -> Ec2Error {
    Ec2Error::InvalidParameterValue(format!(
        "Value ({value}) for parameter {param} is invalid. Subnets can currently only be created in the following availability zones: {}.",
        valid.collect::<Vec<_>>().join(", ")
    ))
}

const SUBNET_FILTERS: &[&str] = &[
    "availability-zone",
    "availability-zone-id",
    "available-ip-address-count",
    "cidr-block",
    "customer-owned-ipv4-pool",
    "default-for-az",
    "enable-dns64",
    "enable-lni-at-device-index",
    "ipv6-cidr-block-association.ipv6-cidr-block",
    "ipv6-cidr-block-association.association-id",
    "ipv6-cidr-block-association.state",
    "ipv6-native",
    "map-customer-owned-ip-on-launch",
    "map-public-ip-on-launch",
    "outpost-arn",
    "owner-id",
    "private-dns-name-options-on-launch.hostname-type",
    "private-dns-name-options-on-launch.enable-resource-name-dns-a-record",
    "private-dns-name-options-on-launch.enable-resource-name-dns-aaaa-record",
    "state",
    "subnet-arn",
    "subnet-id",
    "vpc-id",
];

fn subnet_field(subnet: &Subnet, name: &str) -> Vec<String> {
    let one = |v: String| vec![v];
    match name {
        "availability-zone" => one(subnet.availability_zone.clone()),
        "availability-zone-id" => one(subnet.availability_zone_id.clone()),
        "available-ip-address-count" => one(subnet.available_ip_address_count.to_string()),
        "cidr-block" => one(subnet.cidr_block.clone()),
        "default-for-az" => one(subnet.default_for_az.to_string()),
        "map-public-ip-on-launch" => one(subnet.map_public_ip_on_launch.to_string()),
        "owner-id" => one(subnet.owner_id.clone()),
        "state" => one(subnet.state.clone()),
        "subnet-arn" => one(subnet.subnet_arn.clone()),
        "subnet-id" => one(subnet.subnet_id.clone()),
        "vpc-id" => one(subnet.vpc_id.clone()),
        // The remaining attributes are off (false) or absent in Berth's subnets.
        "enable-dns64" | "ipv6-native" | "map-customer-owned-ip-on-launch" => {
            one("false".to_owned())
        }
        _ => Vec::new(),
    }
}

/// DescribeSubnets (MaxResults 5..1000, not with SubnetIds).
pub fn describe_subnets(
    records: &mut dyn Records,
    request: &DescribeRequest,
) -> Result<Page<Tagged<Subnet>>, Ec2Error> {
    let paging = request.paging("DescribeSubnets", "subnetIds", 1000);
    paging.check()?;
    let matcher = Matcher::new(&request.filters, SUBNET_FILTERS, true)?;
    let all = load_all::<Subnet>(records)?;
    let missing = request.missing(|id| all.iter().any(|s| s.subnet_id == id));
    if !missing.is_empty() {
        return Err(Ec2Error::InvalidSubnetIdNotFound(missing));
    }
    let mut out = Vec::new();
    for subnet in all {
        if !request.ids.is_empty() && !request.ids.contains(&subnet.subnet_id) {
            continue;
        }
        let tags = tags_of(records, &subnet.subnet_id)?;
        if matcher.matches_tagged(&tags, |name| subnet_field(&subnet, name)) {
            out.push(Tagged { item: subnet, tags });
        }
    }
    paging.page(out, |t| &t.item.subnet_id)
}

fn existing_subnet(records: &mut dyn Records, subnet_id: &str) -> Result<Subnet, Ec2Error> {
    load(records, subnet_id)?
        .ok_or_else(|| Ec2Error::InvalidSubnetIdNotFound(vec![subnet_id.to_owned()]))
}

/// DeleteSubnet. Nothing runs in Berth's subnets yet, so nothing depends on one.
pub fn delete_subnet(records: &mut dyn Records, subnet_id: &str) -> Result<(), Ec2Error> {
    existing_subnet(records, subnet_id)?;
    records.delete(Kind::Subnet, subnet_id)?;
    delete_tag_set(records, subnet_id)
}

/// ModifySubnetAttribute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModifySubnetAttributeRequest {
    pub subnet_id: String,
    pub map_public_ip_on_launch: Option<bool>,
}

pub fn modify_subnet_attribute(
    records: &mut dyn Records,
    request: &ModifySubnetAttributeRequest,
) -> Result<(), Ec2Error> {
    let Some(on) = request.map_public_ip_on_launch else {
        return Err(Ec2Error::MissingParameter("mapPublicIpOnLaunch".to_owned()));
    };
    let mut subnet = existing_subnet(records, &request.subnet_id)?;
    subnet.map_public_ip_on_launch = on;
    store(records, subnet)
}

const ROUTE_TABLE_FILTERS: &[&str] = &[
    "association.gateway-id",
    "association.route-table-association-id",
    "association.route-table-id",
    "association.subnet-id",
    "association.main",
    "owner-id",
    "route-table-id",
    "route.destination-cidr-block",
    "route.destination-ipv6-cidr-block",
    "route.destination-prefix-list-id",
    "route.egress-only-internet-gateway-id",
    "route.gateway-id",
    "route.instance-id",
    "route.nat-gateway-id",
    "route.transit-gateway-id",
    "route.origin",
    "route.state",
    "route.vpc-peering-connection-id",
    "vpc-id",
];

fn route_table_field(table: &RouteTable, name: &str) -> Vec<String> {
    let assoc = |f: fn(&RouteTableAssociation) -> Option<String>| {
        table.associations.iter().filter_map(f).collect()
    };
    let route = |f: fn(&Route) -> &String| table.routes.iter().map(|r| f(r).clone()).collect();
    match name {
        "association.route-table-association-id" => {
            assoc(|a| Some(a.route_table_association_id.clone()))
        }
        "association.route-table-id" => assoc(|a| Some(a.route_table_id.clone())),
        "association.subnet-id" => assoc(|a| a.subnet_id.clone()),
        "association.main" => assoc(|a| Some(a.main.to_string())),
        "owner-id" => vec![table.owner_id.clone()],
        "route-table-id" => vec![table.route_table_id.clone()],
        "route.destination-cidr-block" => route(|r| &r.destination_cidr_block),
        "route.gateway-id" => route(|r| &r.gateway_id),
        "route.origin" => route(|r| &r.origin),
        "route.state" => route(|r| &r.state),
        "vpc-id" => vec![table.vpc_id.clone()],
        // Gateway associations and the other route targets do not exist in Berth yet.
        _ => Vec::new(),
    }
}

/// DescribeRouteTables (MaxResults 5..100, not with RouteTableIds).
pub fn describe_route_tables(
    records: &mut dyn Records,
    request: &DescribeRequest,
) -> Result<Page<Tagged<RouteTable>>, Ec2Error> {
    let paging = request.paging("DescribeRouteTables", "routeTableIds", 100);
    paging.check()?;
    let matcher = Matcher::new(&request.filters, ROUTE_TABLE_FILTERS, true)?;
    let all = load_all::<RouteTable>(records)?;
    let missing = request.missing(|id| all.iter().any(|t| t.route_table_id == id));
    if !missing.is_empty() {
        return Err(Ec2Error::InvalidRouteTableIdNotFound(missing));
    }
    let mut out = Vec::new();
    for table in all {
        if !request.ids.is_empty() && !request.ids.contains(&table.route_table_id) {
            continue;
        }
        let tags = tags_of(records, &table.route_table_id)?;
        if matcher.matches_tagged(&tags, |name| route_table_field(&table, name)) {
            out.push(Tagged { item: table, tags });
        }
    }
    paging.page(out, |t| &t.item.route_table_id)
}

const INTERNET_GATEWAY_FILTERS: &[&str] = &[
    "attachment.state",
    "attachment.vpc-id",
    "internet-gateway-id",
    "owner-id",
];

/// DescribeInternetGateways (MaxResults 5..1000, not with InternetGatewayIds).
pub fn describe_internet_gateways(
    records: &mut dyn Records,
    request: &DescribeRequest,
) -> Result<Page<Tagged<InternetGateway>>, Ec2Error> {
    let paging = request.paging("DescribeInternetGateways", "internetGatewayIds", 1000);
    paging.check()?;
    let matcher = Matcher::new(&request.filters, INTERNET_GATEWAY_FILTERS, true)?;
    let all = load_all::<InternetGateway>(records)?;
    let missing = request.missing(|id| all.iter().any(|g| g.internet_gateway_id == id));
    if !missing.is_empty() {
        return Err(Ec2Error::InvalidInternetGatewayIdNotFound(missing));
    }
    let mut out = Vec::new();
    for igw in all {
        if !request.ids.is_empty() && !request.ids.contains(&igw.internet_gateway_id) {
            continue;
        }
        let tags = tags_of(records, &igw.internet_gateway_id)?;
        let keep = matcher.matches_tagged(&tags, |name| match name {
            "attachment.state" => igw.attachments.iter().map(|a| a.state.clone()).collect(),
            "attachment.vpc-id" => igw.attachments.iter().map(|a| a.vpc_id.clone()).collect(),
            "internet-gateway-id" => vec![igw.internet_gateway_id.clone()],
            _ => vec![igw.owner_id.clone()],
        });
        if keep {
            out.push(Tagged { item: igw, tags });
        }
    }
    paging.page(out, |t| &t.item.internet_gateway_id)
}
