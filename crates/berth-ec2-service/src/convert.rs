//! Between the generated wire shapes and the pure crate's requests and records.

use berth_ec2 as ec2;
use berth_ec2::{Ec2Error, Tagged};
use berth_ec2_wire as wire;

pub(crate) fn filters(filters: Option<Vec<wire::Filter>>) -> Vec<ec2::Filter> {
    filters
        .unwrap_or_default()
        .into_iter()
        .map(|f| ec2::Filter {
            name: f.name.unwrap_or_default(),
            values: f.values.unwrap_or_default(),
        })
        .collect()
}

pub(crate) fn tags_in(tags: Option<Vec<wire::Tag>>) -> Vec<ec2::Tag> {
    tags.unwrap_or_default()
        .into_iter()
        .map(|t| ec2::Tag {
            key: t.key.unwrap_or_default(),
            value: t.value.unwrap_or_default(),
        })
        .collect()
}

/// EC2 leaves `tagSet` out of a resource that has no tags.
fn tags_out(tags: Vec<ec2::Tag>) -> Option<Vec<wire::Tag>> {
    (!tags.is_empty()).then(|| tags.into_iter().map(tag_out).collect())
}

fn tag_out(tag: ec2::Tag) -> wire::Tag {
    wire::Tag {
        key: Some(tag.key),
        value: Some(tag.value),
    }
}

/// The tags a create action's `TagSpecifications` give the resource of type `resource_type`;
/// a specification for any other type is refused, as EC2 does.
pub(crate) fn spec_tags(
    specs: Option<Vec<wire::TagSpecification>>,
    resource_type: &str,
) -> Result<Vec<ec2::Tag>, Ec2Error> {
    let mut out = Vec::new();
    for spec in specs.unwrap_or_default() {
        let Some(kind) = spec.resource_type else {
            return Err(Ec2Error::MissingParameter(
                "TagSpecification.ResourceType".to_owned(),
            ));
        };
        if kind != resource_type {
            return Err(Ec2Error::InvalidParameterValue(format!(
                "'{kind}' is not a valid taggable resource type for this operation."
            )));
        }
        out.extend(tags_in(spec.tags));
    }
    Ok(out)
}

pub(crate) fn permission_in(p: wire::IpPermission) -> ec2::IpPermission {
    ec2::IpPermission {
        ip_protocol: p.ip_protocol.unwrap_or_default(),
        from_port: p.from_port,
        to_port: p.to_port,
        ip_ranges: p
            .ip_ranges
            .unwrap_or_default()
            .into_iter()
            .map(|r| ec2::IpRange {
                cidr_ip: r.cidr_ip.unwrap_or_default(),
                description: r.description,
            })
            .collect(),
        ipv6_ranges: p
            .ipv6_ranges
            .unwrap_or_default()
            .into_iter()
            .map(|r| ec2::Ipv6Range {
                cidr_ipv6: r.cidr_ipv6.unwrap_or_default(),
                description: r.description,
            })
            .collect(),
        prefix_list_ids: p
            .prefix_list_ids
            .unwrap_or_default()
            .into_iter()
            .map(|r| ec2::PrefixListId {
                prefix_list_id: r.prefix_list_id.unwrap_or_default(),
                description: r.description,
            })
            .collect(),
        user_id_group_pairs: p
            .user_id_group_pairs
            .unwrap_or_default()
            .into_iter()
            .map(|pair| ec2::UserIdGroupPair {
                group_id: pair.group_id,
                group_name: pair.group_name,
                user_id: pair.user_id,
                vpc_id: pair.vpc_id,
                description: pair.description,
            })
            .collect(),
    }
}

/// EC2 answers every peer list of a permission, empty ones included.
pub(crate) fn permission_out(p: ec2::IpPermission) -> wire::IpPermission {
    wire::IpPermission {
        ip_protocol: Some(p.ip_protocol),
        from_port: p.from_port,
        to_port: p.to_port,
        ip_ranges: Some(
            p.ip_ranges
                .into_iter()
                .map(|r| wire::IpRange {
                    cidr_ip: Some(r.cidr_ip),
                    description: r.description,
                })
                .collect(),
        ),
        ipv6_ranges: Some(
            p.ipv6_ranges
                .into_iter()
                .map(|r| wire::Ipv6Range {
                    cidr_ipv6: Some(r.cidr_ipv6),
                    description: r.description,
                })
                .collect(),
        ),
        prefix_list_ids: Some(
            p.prefix_list_ids
                .into_iter()
                .map(|r| wire::PrefixListId {
                    prefix_list_id: Some(r.prefix_list_id),
                    description: r.description,
                })
                .collect(),
        ),
        user_id_group_pairs: Some(
            p.user_id_group_pairs
                .into_iter()
                .map(|pair| wire::UserIdGroupPair {
                    group_id: pair.group_id,
                    group_name: pair.group_name,
                    user_id: pair.user_id,
                    vpc_id: pair.vpc_id,
                    description: pair.description,
                    ..wire::UserIdGroupPair::default()
                })
                .collect(),
        ),
    }
}

/// Berth has no block-public-access settings, which leaves every resource at AWS's default.
fn block_public_access_off() -> Option<wire::BlockPublicAccessStates> {
    Some(wire::BlockPublicAccessStates {
        internet_gateway_block_mode: Some("off".to_owned()),
    })
}

pub(crate) fn vpc(Tagged { item: v, tags }: Tagged<ec2::Vpc>) -> wire::Vpc {
    wire::Vpc {
        block_public_access_states: block_public_access_off(),
        cidr_block: Some(v.cidr_block),
        cidr_block_association_set: Some(
            v.cidr_block_association_set
                .into_iter()
                .map(|a| wire::VpcCidrBlockAssociation {
                    association_id: Some(a.association_id),
                    cidr_block: Some(a.cidr_block),
                    cidr_block_state: Some(wire::VpcCidrBlockState {
                        state: Some(a.cidr_block_state),
                        status_message: None,
                    }),
                })
                .collect(),
        ),
        dhcp_options_id: Some(v.dhcp_options_id),
        instance_tenancy: Some(v.instance_tenancy),
        is_default: Some(v.is_default),
        owner_id: Some(v.owner_id),
        state: Some(v.state),
        tags: tags_out(tags),
        vpc_id: Some(v.vpc_id),
        ..wire::Vpc::default()
    }
}

pub(crate) fn subnet(Tagged { item: s, tags }: Tagged<ec2::Subnet>) -> wire::Subnet {
    wire::Subnet {
        assign_ipv6_address_on_creation: Some(false),
        availability_zone: Some(s.availability_zone),
        availability_zone_id: Some(s.availability_zone_id),
        available_ip_address_count: Some(
            i32::try_from(s.available_ip_address_count).unwrap_or(i32::MAX),
        ),
        block_public_access_states: block_public_access_off(),
        cidr_block: Some(s.cidr_block),
        default_for_az: Some(s.default_for_az),
        enable_dns64: Some(false),
        ipv6_native: Some(false),
        map_customer_owned_ip_on_launch: Some(false),
        map_public_ip_on_launch: Some(s.map_public_ip_on_launch),
        owner_id: Some(s.owner_id),
        private_dns_name_options_on_launch: Some(wire::PrivateDnsNameOptionsOnLaunch {
            hostname_type: Some("ip-name".to_owned()),
            enable_resource_name_dns_a_record: Some(false),
            enable_resource_name_dns_aaaa_record: Some(false),
        }),
        state: Some(s.state),
        subnet_arn: Some(s.subnet_arn),
        subnet_id: Some(s.subnet_id),
        tags: tags_out(tags),
        vpc_id: Some(s.vpc_id),
        ..wire::Subnet::default()
    }
}

pub(crate) fn security_group(
    Tagged { item: g, tags }: Tagged<ec2::SecurityGroup>,
) -> wire::SecurityGroup {
    let permissions = |egress| {
        Some(
            g.ip_permissions(egress)
                .into_iter()
                .map(permission_out)
                .collect(),
        )
    };
    wire::SecurityGroup {
        ip_permissions: permissions(false),
        ip_permissions_egress: permissions(true),
        description: Some(g.description),
        group_id: Some(g.group_id),
        group_name: Some(g.group_name),
        owner_id: Some(g.owner_id),
        security_group_arn: Some(g.security_group_arn),
        tags: tags_out(tags),
        vpc_id: Some(g.vpc_id),
    }
}

/// (cidr_ipv4, cidr_ipv6, prefix_list_id, referenced group) of a rule's peer.
type PeerFields = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<(String, String)>,
);

fn peer_fields(peer: ec2::Peer) -> PeerFields {
    match peer {
        ec2::Peer::CidrIpv4(c) => (Some(c), None, None, None),
        ec2::Peer::CidrIpv6(c) => (None, Some(c), None, None),
        ec2::Peer::PrefixListId(p) => (None, None, Some(p), None),
        ec2::Peer::Group { group_id, user_id } => (None, None, None, Some((group_id, user_id))),
    }
}

/// EC2 lists a rule's tags even when there are none.
pub(crate) fn rule(
    Tagged { item: r, tags }: Tagged<ec2::SecurityGroupRule>,
) -> wire::SecurityGroupRule {
    let (cidr_ipv4, cidr_ipv6, prefix_list_id, group) = peer_fields(r.peer);
    wire::SecurityGroupRule {
        cidr_ipv4,
        cidr_ipv6,
        prefix_list_id,
        referenced_group_info: group.map(|(group_id, user_id)| wire::ReferencedSecurityGroup {
            group_id: Some(group_id),
            user_id: Some(user_id),
            ..wire::ReferencedSecurityGroup::default()
        }),
        description: r.description,
        from_port: Some(r.from_port),
        to_port: Some(r.to_port),
        group_id: Some(r.group_id),
        group_owner_id: Some(r.group_owner_id),
        ip_protocol: Some(r.ip_protocol),
        is_egress: Some(r.is_egress),
        security_group_rule_arn: Some(r.security_group_rule_arn),
        security_group_rule_id: Some(r.security_group_rule_id),
        tags: Some(tags.into_iter().map(tag_out).collect()),
    }
}

pub(crate) fn revoked_rule(r: ec2::SecurityGroupRule) -> wire::RevokedSecurityGroupRule {
    let (cidr_ipv4, cidr_ipv6, prefix_list_id, group) = peer_fields(r.peer);
    wire::RevokedSecurityGroupRule {
        cidr_ipv4,
        cidr_ipv6,
        prefix_list_id,
        referenced_group_id: group.map(|(group_id, _)| group_id),
        description: r.description,
        from_port: Some(r.from_port),
        to_port: Some(r.to_port),
        group_id: Some(r.group_id),
        ip_protocol: Some(r.ip_protocol),
        is_egress: Some(r.is_egress),
        security_group_rule_id: Some(r.security_group_rule_id),
    }
}

pub(crate) fn route_table(Tagged { item: t, tags }: Tagged<ec2::RouteTable>) -> wire::RouteTable {
    wire::RouteTable {
        associations: Some(
            t.associations
                .into_iter()
                .map(|a| wire::RouteTableAssociation {
                    association_state: Some(wire::RouteTableAssociationState {
                        state: Some(a.association_state),
                        status_message: None,
                    }),
                    main: Some(a.main),
                    route_table_association_id: Some(a.route_table_association_id),
                    route_table_id: Some(a.route_table_id),
                    subnet_id: a.subnet_id,
                    ..wire::RouteTableAssociation::default()
                })
                .collect(),
        ),
        owner_id: Some(t.owner_id),
        propagating_vgws: Some(Vec::new()),
        route_table_id: Some(t.route_table_id),
        routes: Some(
            t.routes
                .into_iter()
                .map(|r| wire::Route {
                    destination_cidr_block: Some(r.destination_cidr_block),
                    gateway_id: Some(r.gateway_id),
                    origin: Some(r.origin),
                    state: Some(r.state),
                    ..wire::Route::default()
                })
                .collect(),
        ),
        tags: tags_out(tags),
        vpc_id: Some(t.vpc_id),
    }
}

pub(crate) fn internet_gateway(
    Tagged { item: g, tags }: Tagged<ec2::InternetGateway>,
) -> wire::InternetGateway {
    wire::InternetGateway {
        attachments: Some(
            g.attachments
                .into_iter()
                .map(|a| wire::InternetGatewayAttachment {
                    state: Some(a.state),
                    vpc_id: Some(a.vpc_id),
                })
                .collect(),
        ),
        internet_gateway_id: Some(g.internet_gateway_id),
        owner_id: Some(g.owner_id),
        // EC2 lists an internet gateway's tags even when there are none.
        tags: Some(tags.into_iter().map(tag_out).collect()),
    }
}

pub(crate) fn tag_description(t: ec2::TagDescription) -> wire::TagDescription {
    wire::TagDescription {
        key: Some(t.key),
        resource_id: Some(t.resource_id),
        resource_type: Some(t.resource_type.as_str().to_owned()),
        value: Some(t.value),
    }
}

pub(crate) fn region(r: ec2::RegionInfo) -> wire::Region {
    wire::Region {
        endpoint: Some(r.endpoint),
        opt_in_status: Some(r.opt_in_status),
        region_name: Some(r.region_name),
        geography: None,
    }
}

pub(crate) fn zone(z: ec2::AvailabilityZone) -> wire::AvailabilityZone {
    wire::AvailabilityZone {
        group_long_name: Some(z.group_long_name),
        group_name: Some(z.group_name),
        messages: Some(Vec::new()),
        network_border_group: Some(z.network_border_group),
        opt_in_status: Some(z.opt_in_status),
        region_name: Some(z.region_name),
        state: Some(z.state),
        zone_id: Some(z.zone_id),
        zone_name: Some(z.zone_name),
        zone_type: Some(z.zone_type),
        ..wire::AvailabilityZone::default()
    }
}
