//! Security groups and their rules.

use std::collections::HashMap;

use crate::cidr::Cidr;
use crate::filter::{Filter, Matcher};
use crate::ids::{Ids, is_id_of};
use crate::model::*;
use crate::network::{DescribeRequest, default_vpc, existing_vpc};
use crate::page::{Page, Paging};
use crate::records::{Kind, Records, load, load_all, store};
use crate::tags::{delete_tag_set, tags_of, validate_new_tags, write_tags};
use crate::{Ec2Error, Scope};

/// A new group: one egress rule, all traffic to 0.0.0.0/0, and for a VPC's `default` group
/// also all traffic in from its own members.
pub(crate) fn new_security_group(
    ids: &mut dyn Ids,
    scope: &Scope,
    name: &str,
    description: &str,
    vpc_id: &str,
    default_group: bool,
) -> SecurityGroup {
    let group_id = ids.next("sg");
    let mut group = SecurityGroup {
        security_group_arn: scope.arn(&format!("security-group/{group_id}")),
        group_id: group_id.clone(),
        group_name: name.to_owned(),
        description: description.to_owned(),
        vpc_id: vpc_id.to_owned(),
        owner_id: scope.account.clone(),
        rules: Vec::new(),
    };
    if default_group {
        let own = Peer::Group {
            group_id: group_id.clone(),
            user_id: scope.account.clone(),
        };
        group.rules.push(new_rule(
            ids,
            scope,
            &group_id,
            false,
            "-1",
            (-1, -1),
            own,
            None,
        ));
    }
    let anywhere = Peer::CidrIpv4("0.0.0.0/0".to_owned());
    group.rules.push(new_rule(
        ids,
        scope,
        &group_id,
        true,
        "-1",
        (-1, -1),
        anywhere,
        None,
    ));
    group
}

#[allow(clippy::too_many_arguments)]
fn new_rule(
    ids: &mut dyn Ids,
    scope: &Scope,
    group_id: &str,
    is_egress: bool,
    protocol: &str,
    (from_port, to_port): (i32, i32),
    peer: Peer,
    description: Option<String>,
) -> SecurityGroupRule {
    let rule_id = ids.next("sgr");
    SecurityGroupRule {
        security_group_rule_arn: scope.arn(&format!("security-group-rule/{rule_id}")),
        security_group_rule_id: rule_id,
        group_id: group_id.to_owned(),
        group_owner_id: scope.account.clone(),
        is_egress,
        ip_protocol: protocol.to_owned(),
        from_port,
        to_port,
        peer,
        description,
    }
}

impl SecurityGroup {
    /// The group's ingress (or egress) rules as EC2 presents them: rules with the same protocol
    /// and ports are one `IpPermission` listing every peer. Ports are omitted for protocols
    /// that have none.
    pub fn ip_permissions(&self, egress: bool) -> Vec<IpPermission> {
        let mut out: Vec<IpPermission> = Vec::new();
        for rule in self.rules.iter().filter(|r| r.is_egress == egress) {
            let (from, to) = if has_ports(&rule.ip_protocol) {
                (Some(rule.from_port), Some(rule.to_port))
            } else {
                (None, None)
            };
            let index = match out.iter().position(|p| {
                p.ip_protocol == rule.ip_protocol && p.from_port == from && p.to_port == to
            }) {
                Some(index) => index,
                None => {
                    out.push(IpPermission {
                        ip_protocol: rule.ip_protocol.clone(),
                        from_port: from,
                        to_port: to,
                        ..IpPermission::default()
                    });
                    out.len() - 1
                }
            };
            let permission = &mut out[index];
            let description = rule.description.clone();
            match &rule.peer {
                Peer::CidrIpv4(cidr_ip) => permission.ip_ranges.push(IpRange {
                    cidr_ip: cidr_ip.clone(),
                    description,
                }),
                Peer::CidrIpv6(cidr_ipv6) => permission.ipv6_ranges.push(Ipv6Range {
                    cidr_ipv6: cidr_ipv6.clone(),
                    description,
                }),
                Peer::PrefixListId(id) => permission.prefix_list_ids.push(PrefixListId {
                    prefix_list_id: id.clone(),
                    description,
                }),
                Peer::Group { group_id, user_id } => {
                    permission.user_id_group_pairs.push(UserIdGroupPair {
                        group_id: Some(group_id.clone()),
                        user_id: Some(user_id.clone()),
                        description,
                        ..UserIdGroupPair::default()
                    })
                }
            }
        }
        out
    }
}

fn has_ports(protocol: &str) -> bool {
    matches!(protocol, "tcp" | "udp" | "icmp" | "icmpv6")
}

/// CreateSecurityGroup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateSecurityGroupRequest {
    pub group_name: String,
    pub description: String,
    /// The default VPC when omitted.
    pub vpc_id: Option<String>,
    pub tags: Vec<Tag>,
}

pub fn create_security_group(
    records: &mut dyn Records,
    ids: &mut dyn Ids,
    scope: &Scope,
    request: &CreateSecurityGroupRequest,
) -> Result<SecurityGroup, Ec2Error> {
    if request.group_name.is_empty() {
        return Err(Ec2Error::MissingParameter("groupName".to_owned()));
    }
    if request.description.is_empty() {
        return Err(Ec2Error::MissingParameter("groupDescription".to_owned()));
    }
    if request.group_name == "default" {
        return Err(Ec2Error::InvalidGroupReserved(request.group_name.clone()));
    }
    if request.group_name.starts_with("sg-") {
        return Err(Ec2Error::InvalidParameterValue(
            "Group names may not be in the format sg-*".to_owned(),
        ));
    }
    let vpc = match &request.vpc_id {
        Some(vpc_id) => existing_vpc(records, vpc_id)?,
        None => default_vpc(records)?.ok_or(Ec2Error::VpcIdNotSpecified)?,
    };
    let taken = load_all::<SecurityGroup>(records)?
        .iter()
        .any(|g| g.vpc_id == vpc.vpc_id && g.group_name == request.group_name);
    if taken {
        return Err(Ec2Error::InvalidGroupDuplicate {
            name: request.group_name.clone(),
            vpc_id: vpc.vpc_id,
        });
    }
    validate_new_tags(&[], &request.tags)?;
    let group = new_security_group(
        ids,
        scope,
        &request.group_name,
        &request.description,
        &vpc.vpc_id,
        false,
    );
    store(records, group.clone())?;
    write_tags(
        records,
        &group.group_id,
        ResourceType::SecurityGroup,
        request.tags.clone(),
    )?;
    Ok(group)
}

/// A group named by id, or by name in the default VPC (EC2's `GroupId` / `GroupName`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupRef {
    pub group_id: Option<String>,
    pub group_name: Option<String>,
}

impl GroupRef {
    pub fn id(id: &str) -> GroupRef {
        GroupRef {
            group_id: Some(id.to_owned()),
            group_name: None,
        }
    }

    pub fn name(name: &str) -> GroupRef {
        GroupRef {
            group_id: None,
            group_name: Some(name.to_owned()),
        }
    }
}

fn group_by_id(records: &mut dyn Records, group_id: &str) -> Result<SecurityGroup, Ec2Error> {
    if !is_id_of(group_id, "sg") {
        return Err(Ec2Error::InvalidGroupIdMalformed(group_id.to_owned()));
    }
    load(records, group_id)?.ok_or_else(|| Ec2Error::group_not_found(group_id))
}

/// The group named `name` in the default VPC.
fn group_in_default_vpc(records: &mut dyn Records, name: &str) -> Result<SecurityGroup, Ec2Error> {
    let Some(vpc) = default_vpc(records)? else {
        return Err(Ec2Error::group_not_found(name));
    };
    load_all::<SecurityGroup>(records)?
        .into_iter()
        .find(|g| g.vpc_id == vpc.vpc_id && g.group_name == name)
        .ok_or_else(|| {
            Ec2Error::InvalidGroupNotFound(format!(
                "The security group '{name}' does not exist in default VPC '{}'",
                vpc.vpc_id
            ))
        })
}

fn resolve(records: &mut dyn Records, group: &GroupRef) -> Result<SecurityGroup, Ec2Error> {
    match (&group.group_id, &group.group_name) {
        (Some(id), _) => group_by_id(records, id),
        (None, Some(name)) => group_in_default_vpc(records, name),
        (None, None) => Err(Ec2Error::MissingParameter("groupId".to_owned())),
    }
}

/// DeleteSecurityGroup; answers the deleted group's id.
pub fn delete_security_group(
    records: &mut dyn Records,
    group: &GroupRef,
) -> Result<String, Ec2Error> {
    let group = resolve(records, group)?;
    if group.group_name == "default" {
        return Err(Ec2Error::CannotDelete {
            group_id: group.group_id,
            name: group.group_name,
        });
    }
    let referenced = load_all::<SecurityGroup>(records)?.iter().any(|other| {
        other.group_id != group.group_id
            && other.rules.iter().any(
                |r| matches!(&r.peer, Peer::Group { group_id, .. } if *group_id == group.group_id),
            )
    });
    if referenced {
        return Err(Ec2Error::DependencyViolation(format!(
            "resource {} has a dependent object",
            group.group_id
        )));
    }
    for rule in &group.rules {
        delete_tag_set(records, &rule.security_group_rule_id)?;
    }
    records.delete(Kind::SecurityGroup, &group.group_id)?;
    delete_tag_set(records, &group.group_id)?;
    Ok(group.group_id)
}

/// The flat parameters of the pre-IpPermissions API (`IpProtocol`, `FromPort`, `ToPort`,
/// `CidrIp`, `SourceSecurityGroupName`, `SourceSecurityGroupOwnerId`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyPermission {
    pub ip_protocol: Option<String>,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub cidr_ip: Option<String>,
    pub source_security_group_name: Option<String>,
    pub source_security_group_owner_id: Option<String>,
}

impl LegacyPermission {
    /// The equivalent `IpPermission`, or `None` when no flat parameter was given. A source group
    /// without a protocol means all traffic from it.
    pub fn to_ip_permission(&self) -> Option<IpPermission> {
        if *self == LegacyPermission::default() {
            return None;
        }
        Some(IpPermission {
            ip_protocol: self.ip_protocol.clone().unwrap_or_else(|| "-1".to_owned()),
            from_port: self.from_port,
            to_port: self.to_port,
            ip_ranges: self
                .cidr_ip
                .iter()
                .map(|c| IpRange {
                    cidr_ip: c.clone(),
                    description: None,
                })
                .collect(),
            user_id_group_pairs: self
                .source_security_group_name
                .iter()
                .map(|name| UserIdGroupPair {
                    group_name: Some(name.clone()),
                    user_id: self.source_security_group_owner_id.clone(),
                    ..UserIdGroupPair::default()
                })
                .collect(),
            ..IpPermission::default()
        })
    }
}

/// EC2's canonical protocol: `-1`, `tcp`, `udp`, `icmp`, `icmpv6` or a number 0..255.
fn normalize_protocol(protocol: &str) -> Result<String, Ec2Error> {
    let lower = protocol.to_ascii_lowercase();
    let canonical = match lower.as_str() {
        "-1" | "all" => "-1".to_owned(),
        "tcp" | "6" => "tcp".to_owned(),
        "udp" | "17" => "udp".to_owned(),
        "icmp" | "1" => "icmp".to_owned(),
        "icmpv6" | "58" => "icmpv6".to_owned(),
        n if n.parse::<u8>().is_ok() => n.trim_start_matches('0').to_owned(),
        _ => {
            return Err(Ec2Error::InvalidParameterValue(format!(
                "Invalid value '{protocol}' for IP protocol. Unknown protocol."
            )));
        }
    };
    Ok(if canonical.is_empty() {
        "0".to_owned()
    } else {
        canonical
    })
}

/// The stored (from, to) for a protocol, validated as EC2 does.
fn ports(protocol: &str, from: Option<i32>, to: Option<i32>) -> Result<(i32, i32), Ec2Error> {
    match protocol {
        "tcp" | "udp" => {
            let (Some(from), Some(to)) = (from, to) else {
                return Err(Ec2Error::InvalidParameterValue(
                    "Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange."
                        .to_owned(),
                ));
            };
            if !(0..=65535).contains(&from) || !(0..=65535).contains(&to) || from > to {
                return Err(Ec2Error::InvalidParameterValue(format!(
                    "Invalid port range: from port {from} to port {to}. Ports must be between 0 and 65535 and from port must not exceed to port."
                )));
            }
            Ok((from, to))
        }
        "icmp" | "icmpv6" => {
            let (kind, code) = (from.unwrap_or(-1), to.unwrap_or(-1));
            if !(-1..=255).contains(&kind) {
                return Err(Ec2Error::InvalidParameterValue(format!(
                    "Invalid ICMP type: {kind}"
                )));
            }
            if !(-1..=255).contains(&code) || (kind == -1 && code != -1) {
                return Err(Ec2Error::InvalidParameterValue(format!(
                    "Invalid ICMP code: {code}"
                )));
            }
            Ok((kind, code))
        }
        // EC2 allows every port for the other protocols whatever the request says.
        _ => Ok((-1, -1)),
    }
}

/// How EC2 renders a rule in `InvalidPermission.Duplicate`.
fn render_rule(rule: &SecurityGroupRule) -> String {
    let peer = rule.peer.describe();
    match rule.ip_protocol.as_str() {
        "-1" => format!("peer: {peer}, ALL, ALLOW"),
        "tcp" | "udp" => format!(
            "peer: {peer}, {}, from port: {}, to port: {}, ALLOW",
            rule.ip_protocol.to_uppercase(),
            rule.from_port,
            rule.to_port
        ),
        "icmp" | "icmpv6" => format!(
            "peer: {peer}, {}, type: {}, code: {}, ALLOW",
            rule.ip_protocol.to_uppercase(),
            rule.from_port,
            rule.to_port
        ),
        other => format!("peer: {peer}, {other}, ALLOW"),
    }
}

/// The rules `permissions` denote for `group`, ids not yet assigned (empty).
fn candidate_rules(
    records: &mut dyn Records,
    scope: &Scope,
    group: &SecurityGroup,
    egress: bool,
    permissions: &[IpPermission],
) -> Result<Vec<SecurityGroupRule>, Ec2Error> {
    if permissions.is_empty() {
        return Err(Ec2Error::MissingParameter("ipPermissions".to_owned()));
    }
    let mut out = Vec::new();
    for permission in permissions {
        let protocol = normalize_protocol(&permission.ip_protocol)?;
        let range = ports(&protocol, permission.from_port, permission.to_port)?;
        let mut peers: Vec<(Peer, Option<String>)> = Vec::new();
        for r in &permission.ip_ranges {
            let cidr = Cidr::parse(&r.cidr_ip).ok_or_else(|| {
                Ec2Error::InvalidParameterValue(format!("CIDR block {} is malformed", r.cidr_ip))
            })?;
            peers.push((Peer::CidrIpv4(cidr.to_string()), r.description.clone()));
        }
        for r in &permission.ipv6_ranges {
            let well_formed = r
                .cidr_ipv6
                .split_once('/')
                .is_some_and(|(address, prefix)| {
                    address.parse::<std::net::Ipv6Addr>().is_ok()
                        && prefix.parse::<u8>().is_ok_and(|p| p <= 128)
                });
            if !well_formed {
                return Err(Ec2Error::InvalidParameterValue(format!(
                    "CIDR block {} is malformed",
                    r.cidr_ipv6
                )));
            }
            peers.push((
                Peer::CidrIpv6(r.cidr_ipv6.to_ascii_lowercase()),
                r.description.clone(),
            ));
        }
        for p in &permission.prefix_list_ids {
            peers.push((
                Peer::PrefixListId(p.prefix_list_id.clone()),
                p.description.clone(),
            ));
        }
        for pair in &permission.user_id_group_pairs {
            let referenced = match (&pair.group_id, &pair.group_name) {
                (Some(id), _) => group_by_id(records, id)?,
                (None, Some(name)) => load_all::<SecurityGroup>(records)?
                    .into_iter()
                    .find(|g| g.vpc_id == group.vpc_id && g.group_name == *name)
                    .ok_or_else(|| {
                        Ec2Error::InvalidGroupNotFound(format!(
                            "The security group '{name}' does not exist in VPC '{}'",
                            group.vpc_id
                        ))
                    })?,
                (None, None) => return Err(Ec2Error::MissingParameter("groupId".to_owned())),
            };
            let user_id = pair
                .user_id
                .clone()
                .unwrap_or_else(|| scope.account.clone());
            peers.push((
                Peer::Group {
                    group_id: referenced.group_id,
                    user_id,
                },
                pair.description.clone(),
            ));
        }
        if peers.is_empty() {
            return Err(Ec2Error::MissingParameter(
                "source or destination".to_owned(),
            ));
        }
        for (peer, description) in peers {
            out.push(SecurityGroupRule {
                security_group_rule_id: String::new(),
                security_group_rule_arn: String::new(),
                group_id: group.group_id.clone(),
                group_owner_id: group.owner_id.clone(),
                is_egress: egress,
                ip_protocol: protocol.clone(),
                from_port: range.0,
                to_port: range.1,
                peer,
                description,
            });
        }
    }
    Ok(out)
}

/// AuthorizeSecurityGroupIngress / AuthorizeSecurityGroupEgress.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizeRequest {
    pub group: GroupRef,
    pub egress: bool,
    /// Include `LegacyPermission::to_ip_permission()` here for the flat parameters.
    pub ip_permissions: Vec<IpPermission>,
}

/// Adds the rules; any one already present (or repeated in the request) fails the whole call
/// with `InvalidPermission.Duplicate`. Answers the new rules.
pub fn authorize_security_group(
    records: &mut dyn Records,
    ids: &mut dyn Ids,
    scope: &Scope,
    request: &AuthorizeRequest,
) -> Result<Vec<SecurityGroupRule>, Ec2Error> {
    if request.egress && request.group.group_id.is_none() {
        return Err(Ec2Error::MissingParameter("groupId".to_owned()));
    }
    let mut group = resolve(records, &request.group)?;
    let candidates = candidate_rules(
        records,
        scope,
        &group,
        request.egress,
        &request.ip_permissions,
    )?;
    for (index, rule) in candidates.iter().enumerate() {
        let exists = group
            .rules
            .iter()
            .chain(&candidates[..index])
            .any(|r| r.same_permission(rule));
        if exists {
            return Err(Ec2Error::InvalidPermissionDuplicate(render_rule(rule)));
        }
    }
    let mut added = Vec::new();
    for candidate in candidates {
        let rule = new_rule(
            ids,
            scope,
            &group.group_id,
            candidate.is_egress,
            &candidate.ip_protocol,
            (candidate.from_port, candidate.to_port),
            candidate.peer,
            candidate.description,
        );
        added.push(rule.clone());
        group.rules.push(rule);
    }
    store(records, group)?;
    Ok(added)
}

/// RevokeSecurityGroupIngress / RevokeSecurityGroupEgress, by rule ids or by permissions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevokeRequest {
    pub group: GroupRef,
    pub egress: bool,
    pub ip_permissions: Vec<IpPermission>,
    pub security_group_rule_ids: Vec<String>,
}

/// What a revoke removed, and (default VPC only) the permissions that matched nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevokeResult {
    pub revoked: Vec<SecurityGroupRule>,
    pub unknown_ip_permissions: Vec<IpPermission>,
}

/// Revokes rules. Permissions must match a rule exactly (descriptions aside); in a non-default
/// VPC one that matches nothing fails the call with `InvalidPermission.NotFound`, in the default
/// VPC it is reported back in `unknown_ip_permissions`, as AWS documents.
pub fn revoke_security_group(
    records: &mut dyn Records,
    scope: &Scope,
    request: &RevokeRequest,
) -> Result<RevokeResult, Ec2Error> {
    let mut group = resolve(records, &request.group)?;
    let mut result = RevokeResult::default();
    let mut remove: Vec<String> = Vec::new();
    let missing: Vec<String> = request
        .security_group_rule_ids
        .iter()
        .filter(|id| {
            !group
                .rules
                .iter()
                .any(|r| r.security_group_rule_id == **id && r.is_egress == request.egress)
        })
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(Ec2Error::InvalidSecurityGroupRuleIdNotFound(missing));
    }
    remove.extend(request.security_group_rule_ids.iter().cloned());
    if !request.ip_permissions.is_empty() {
        let in_default_vpc = existing_vpc(records, &group.vpc_id)?.is_default;
        for permission in &request.ip_permissions {
            let candidates = candidate_rules(
                records,
                scope,
                &group,
                request.egress,
                std::slice::from_ref(permission),
            )?;
            let mut unmatched = false;
            for candidate in candidates {
                match group.rules.iter().find(|r| r.same_permission(&candidate)) {
                    Some(rule) => remove.push(rule.security_group_rule_id.clone()),
                    None => unmatched = true,
                }
            }
            if unmatched {
                if !in_default_vpc {
                    return Err(Ec2Error::InvalidPermissionNotFound);
                }
                result.unknown_ip_permissions.push(permission.clone());
            }
        }
    }
    let (revoked, kept) = group
        .rules
        .into_iter()
        .partition(|r| remove.contains(&r.security_group_rule_id));
    result.revoked = revoked;
    group.rules = kept;
    store(records, group)?;
    for rule in &result.revoked {
        delete_tag_set(records, &rule.security_group_rule_id)?;
    }
    Ok(result)
}

/// DescribeSecurityGroups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeSecurityGroupsRequest {
    pub group_ids: Vec<String>,
    /// Names of groups in the default VPC.
    pub group_names: Vec<String>,
    pub filters: Vec<Filter>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
}

const GROUP_FILTERS: &[&str] = &[
    "description",
    "egress.ip-permission.cidr",
    "egress.ip-permission.from-port",
    "egress.ip-permission.group-id",
    "egress.ip-permission.group-name",
    "egress.ip-permission.ipv6-cidr",
    "egress.ip-permission.prefix-list-id",
    "egress.ip-permission.protocol",
    "egress.ip-permission.to-port",
    "egress.ip-permission.user-id",
    "group-id",
    "group-name",
    "ip-permission.cidr",
    "ip-permission.from-port",
    "ip-permission.group-id",
    "ip-permission.group-name",
    "ip-permission.ipv6-cidr",
    "ip-permission.prefix-list-id",
    "ip-permission.protocol",
    "ip-permission.to-port",
    "ip-permission.user-id",
    "owner-id",
    "vpc-id",
];

fn group_field(group: &SecurityGroup, names: &HashMap<String, String>, name: &str) -> Vec<String> {
    let (egress, field) = match name.strip_prefix("egress.ip-permission.") {
        Some(field) => (true, field),
        None => match name.strip_prefix("ip-permission.") {
            Some(field) => (false, field),
            None => {
                return vec![match name {
                    "description" => group.description.clone(),
                    "group-id" => group.group_id.clone(),
                    "group-name" => group.group_name.clone(),
                    "owner-id" => group.owner_id.clone(),
                    _ => group.vpc_id.clone(),
                }];
            }
        },
    };
    let rules = group.rules.iter().filter(|r| r.is_egress == egress);
    rules
        .filter_map(|rule| match (field, &rule.peer) {
            ("cidr", Peer::CidrIpv4(c)) | ("ipv6-cidr", Peer::CidrIpv6(c)) => Some(c.clone()),
            ("prefix-list-id", Peer::PrefixListId(p)) => Some(p.clone()),
            ("group-id", Peer::Group { group_id, .. }) => Some(group_id.clone()),
            ("group-name", Peer::Group { group_id, .. }) => names.get(group_id).cloned(),
            ("user-id", Peer::Group { user_id, .. }) => Some(user_id.clone()),
            ("protocol", _) => Some(rule.ip_protocol.clone()),
            ("from-port", _) => Some(rule.from_port.to_string()),
            ("to-port", _) => Some(rule.to_port.to_string()),
            _ => None,
        })
        .collect()
}

/// DescribeSecurityGroups (MaxResults 5..1000, not with GroupIds or GroupNames).
pub fn describe_security_groups(
    records: &mut dyn Records,
    request: &DescribeSecurityGroupsRequest,
) -> Result<Page<Tagged<SecurityGroup>>, Ec2Error> {
    if request.max_results.is_some() && !request.group_names.is_empty() {
        return Err(Ec2Error::InvalidParameterCombination(
            "The parameter groupNames cannot be used with the parameter maxResults".to_owned(),
        ));
    }
    let paging = Paging {
        action: "DescribeSecurityGroups",
        ids_param: Some(("groupIds", &request.group_ids)),
        filters: &request.filters,
        max_results: request.max_results,
        next_token: request.next_token.as_deref(),
        max_bound: 1000,
    };
    paging.check()?;
    let matcher = Matcher::new(&request.filters, GROUP_FILTERS, true)?;
    let mut wanted = Vec::new();
    for id in &request.group_ids {
        wanted.push(group_by_id(records, id)?.group_id);
    }
    for name in &request.group_names {
        wanted.push(group_in_default_vpc(records, name)?.group_id);
    }
    let all = load_all::<SecurityGroup>(records)?;
    let names: HashMap<String, String> = all
        .iter()
        .map(|g| (g.group_id.clone(), g.group_name.clone()))
        .collect();
    let mut out = Vec::new();
    for group in all {
        if !wanted.is_empty() && !wanted.contains(&group.group_id) {
            continue;
        }
        let tags = tags_of(records, &group.group_id)?;
        if matcher.matches_tagged(&tags, |name| group_field(&group, &names, name)) {
            out.push(Tagged { item: group, tags });
        }
    }
    paging.page(out, |t| &t.item.group_id)
}

/// DescribeSecurityGroupRules: `ids` are rule ids; filters `group-id`,
/// `security-group-rule-id` and `tag:KEY`; MaxResults 5..1000, not with rule ids.
pub fn describe_security_group_rules(
    records: &mut dyn Records,
    request: &DescribeRequest,
) -> Result<Page<Tagged<SecurityGroupRule>>, Ec2Error> {
    let paging = request.paging("DescribeSecurityGroupRules", "securityGroupRuleIds", 1000);
    paging.check()?;
    if let Some(filter) = request.filters.iter().find(|f| f.name == "tag-key") {
        return Err(Ec2Error::bad_filter(&filter.name));
    }
    let matcher = Matcher::new(
        &request.filters,
        &["group-id", "security-group-rule-id"],
        true,
    )?;
    let mut rules: Vec<SecurityGroupRule> = load_all::<SecurityGroup>(records)?
        .into_iter()
        .flat_map(|g| g.rules)
        .collect();
    rules.sort_by(|a, b| a.security_group_rule_id.cmp(&b.security_group_rule_id));
    let missing = request.missing(|id| rules.iter().any(|r| r.security_group_rule_id == id));
    if !missing.is_empty() {
        return Err(Ec2Error::InvalidSecurityGroupRuleIdNotFound(missing));
    }
    let mut out = Vec::new();
    for rule in rules {
        if !request.ids.is_empty() && !request.ids.contains(&rule.security_group_rule_id) {
            continue;
        }
        let tags = tags_of(records, &rule.security_group_rule_id)?;
        let keep = matcher.matches_tagged(&tags, |name| match name {
            "group-id" => vec![rule.group_id.clone()],
            _ => vec![rule.security_group_rule_id.clone()],
        });
        if keep {
            out.push(Tagged { item: rule, tags });
        }
    }
    paging.page(out, |t| &t.item.security_group_rule_id)
}
