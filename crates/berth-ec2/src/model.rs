//! The stored records: what DescribeVpcs, DescribeSubnets, DescribeSecurityGroups,
//! DescribeSecurityGroupRules, DescribeRouteTables and DescribeTags answer from.

use serde::{Deserialize, Serialize};

/// A resource tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

impl Tag {
    pub fn new(key: &str, value: &str) -> Tag {
        Tag {
            key: key.to_owned(),
            value: value.to_owned(),
        }
    }
}

/// The kinds of resource tags attach to, with EC2's `ResourceType` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceType {
    Vpc,
    Subnet,
    SecurityGroup,
    SecurityGroupRule,
    RouteTable,
    InternetGateway,
    DhcpOptions,
    NetworkAcl,
}

impl ResourceType {
    pub const ALL: [ResourceType; 8] = [
        ResourceType::Vpc,
        ResourceType::Subnet,
        ResourceType::SecurityGroup,
        ResourceType::SecurityGroupRule,
        ResourceType::RouteTable,
        ResourceType::InternetGateway,
        ResourceType::DhcpOptions,
        ResourceType::NetworkAcl,
    ];

    /// EC2's `ResourceType` value, e.g. `security-group`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Vpc => "vpc",
            ResourceType::Subnet => "subnet",
            ResourceType::SecurityGroup => "security-group",
            ResourceType::SecurityGroupRule => "security-group-rule",
            ResourceType::RouteTable => "route-table",
            ResourceType::InternetGateway => "internet-gateway",
            ResourceType::DhcpOptions => "dhcp-options",
            ResourceType::NetworkAcl => "network-acl",
        }
    }

    /// The id prefix of the kind, e.g. `sg` for `sg-0123…`.
    pub fn id_prefix(self) -> &'static str {
        match self {
            ResourceType::Vpc => "vpc",
            ResourceType::Subnet => "subnet",
            ResourceType::SecurityGroup => "sg",
            ResourceType::SecurityGroupRule => "sgr",
            ResourceType::RouteTable => "rtb",
            ResourceType::InternetGateway => "igw",
            ResourceType::DhcpOptions => "dopt",
            ResourceType::NetworkAcl => "acl",
        }
    }

    /// The kind an id names, from its prefix.
    pub fn of_id(id: &str) -> Option<ResourceType> {
        Self::ALL
            .into_iter()
            .find(|kind| crate::ids::is_id_of(id, kind.id_prefix()))
    }
}

/// A VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Vpc {
    pub vpc_id: String,
    pub owner_id: String,
    pub cidr_block: String,
    pub cidr_block_association_set: Vec<VpcCidrBlockAssociation>,
    /// The account's default DHCP options set, or `default` when there is none.
    pub dhcp_options_id: String,
    /// `default` or `dedicated`.
    pub instance_tenancy: String,
    pub is_default: bool,
    pub state: String,
    pub enable_dns_support: bool,
    pub enable_dns_hostnames: bool,
    pub enable_network_address_usage_metrics: bool,
}

/// One IPv4 CIDR of a VPC (`vpc-cidr-assoc-…`); the primary CIDR is the first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VpcCidrBlockAssociation {
    pub association_id: String,
    pub cidr_block: String,
    /// `associated`.
    pub cidr_block_state: String,
}

/// A subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Subnet {
    pub subnet_id: String,
    pub subnet_arn: String,
    pub vpc_id: String,
    pub owner_id: String,
    pub cidr_block: String,
    pub availability_zone: String,
    pub availability_zone_id: String,
    /// The block's size less the 5 addresses AWS reserves in every subnet.
    pub available_ip_address_count: u64,
    pub default_for_az: bool,
    pub map_public_ip_on_launch: bool,
    pub state: String,
}

/// A security group with its rules, ingress and egress, in the order they were added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecurityGroup {
    pub group_id: String,
    pub group_name: String,
    pub description: String,
    pub vpc_id: String,
    pub owner_id: String,
    pub security_group_arn: String,
    pub rules: Vec<SecurityGroupRule>,
}

/// Where a rule lets traffic come from (ingress) or go to (egress).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub enum Peer {
    CidrIpv4(String),
    CidrIpv6(String),
    PrefixListId(String),
    /// Another security group (or the rule's own), owned by `user_id`.
    Group {
        group_id: String,
        user_id: String,
    },
}

impl Peer {
    /// How EC2 names the peer in its `InvalidPermission.Duplicate` message.
    pub(crate) fn describe(&self) -> &str {
        match self {
            Peer::CidrIpv4(c) | Peer::CidrIpv6(c) | Peer::PrefixListId(c) => c,
            Peer::Group { group_id, .. } => group_id,
        }
    }
}

/// One security group rule (`sgr-…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecurityGroupRule {
    pub security_group_rule_id: String,
    pub security_group_rule_arn: String,
    pub group_id: String,
    pub group_owner_id: String,
    pub is_egress: bool,
    /// `-1`, `tcp`, `udp`, `icmp`, `icmpv6` or another protocol's number.
    pub ip_protocol: String,
    /// The port range for TCP/UDP, ICMP type and code for ICMP, -1 otherwise.
    pub from_port: i32,
    pub to_port: i32,
    pub peer: Peer,
    pub description: Option<String>,
}

impl SecurityGroupRule {
    /// Whether the two rules allow the same traffic: EC2 ignores descriptions here.
    pub fn same_permission(&self, other: &SecurityGroupRule) -> bool {
        self.is_egress == other.is_egress
            && self.ip_protocol == other.ip_protocol
            && self.from_port == other.from_port
            && self.to_port == other.to_port
            && self.peer == other.peer
    }
}

/// EC2's `IpPermission`: rules sharing protocol and ports, with all their peers. Used both in
/// requests (Authorize/Revoke) and in DescribeSecurityGroups answers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpPermission {
    pub ip_protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub ip_ranges: Vec<IpRange>,
    pub ipv6_ranges: Vec<Ipv6Range>,
    pub prefix_list_ids: Vec<PrefixListId>,
    pub user_id_group_pairs: Vec<UserIdGroupPair>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpRange {
    pub cidr_ip: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipv6Range {
    pub cidr_ipv6: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PrefixListId {
    pub prefix_list_id: String,
    pub description: Option<String>,
}

/// A referenced group. In requests `group_name` may stand for `group_id` (default VPC only).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserIdGroupPair {
    pub group_id: Option<String>,
    pub group_name: Option<String>,
    pub user_id: Option<String>,
    pub vpc_id: Option<String>,
    pub description: Option<String>,
}

/// A route table; Berth creates the main one of each VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RouteTable {
    pub route_table_id: String,
    pub vpc_id: String,
    pub owner_id: String,
    pub routes: Vec<Route>,
    pub associations: Vec<RouteTableAssociation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Route {
    pub destination_cidr_block: String,
    /// `local` for the VPC's own range, else an `igw-…`.
    pub gateway_id: String,
    /// `CreateRouteTable` or `CreateRoute`.
    pub origin: String,
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RouteTableAssociation {
    pub route_table_association_id: String,
    pub route_table_id: String,
    pub main: bool,
    pub subnet_id: Option<String>,
    pub association_state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InternetGateway {
    pub internet_gateway_id: String,
    pub owner_id: String,
    /// (vpc id, state `available`) for each attachment.
    pub attachments: Vec<InternetGatewayAttachment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InternetGatewayAttachment {
    pub vpc_id: String,
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DhcpOptions {
    pub dhcp_options_id: String,
    pub owner_id: String,
    /// `ec2.internal` in us-east-1, `REGION.compute.internal` elsewhere.
    pub domain_name: String,
    pub domain_name_servers: Vec<String>,
    /// The set created with the default network. It outlives the default VPC, so its presence
    /// records that the (account, region) was initialized and must not be again.
    pub account_default: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkAcl {
    pub network_acl_id: String,
    pub vpc_id: String,
    pub owner_id: String,
    pub is_default: bool,
    pub entries: Vec<NetworkAclEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkAclEntry {
    pub rule_number: u16,
    pub protocol: String,
    /// `allow` or `deny`.
    pub rule_action: String,
    pub egress: bool,
    pub cidr_block: String,
}

/// The tags of one resource; stored apart from the resource so tagging never rewrites it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagSet {
    pub resource_id: String,
    pub resource_type: ResourceType,
    pub tags: Vec<Tag>,
}

/// A described resource with its tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tagged<T> {
    pub item: T,
    pub tags: Vec<Tag>,
}
