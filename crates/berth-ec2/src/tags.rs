//! CreateTags, DeleteTags and DescribeTags, and the tag rules every create shares.

use serde::{Deserialize, Serialize};

use crate::Ec2Error;
use crate::filter::{Filter, Matcher};
use crate::model::*;
use crate::page::{Page, Paging};
use crate::records::{Kind, Records, load, load_all, store};

/// AWS's per-resource tag limits.
const MAX_TAGS: usize = 50;
const MAX_KEY: usize = 127;
const MAX_VALUE: usize = 255;

/// The tags of a resource, in the order they were first set.
pub(crate) fn tags_of(records: &mut dyn Records, resource_id: &str) -> Result<Vec<Tag>, Ec2Error> {
    Ok(load::<TagSet>(records, resource_id)?
        .map(|set| set.tags)
        .unwrap_or_default())
}

/// Stores a resource's tags; an empty list removes the tag set.
pub(crate) fn write_tags(
    records: &mut dyn Records,
    resource_id: &str,
    resource_type: ResourceType,
    tags: Vec<Tag>,
) -> Result<(), Ec2Error> {
    if tags.is_empty() {
        return delete_tag_set(records, resource_id);
    }
    store(
        records,
        TagSet {
            resource_id: resource_id.to_owned(),
            resource_type,
            tags,
        },
    )
}

pub(crate) fn delete_tag_set(records: &mut dyn Records, resource_id: &str) -> Result<(), Ec2Error> {
    records.delete(Kind::TagSet, resource_id)
}

fn check_key(key: &str) -> Result<(), Ec2Error> {
    if key.is_empty() {
        return Err(Ec2Error::InvalidParameterValue(
            "Tag key cannot be empty".to_owned(),
        ));
    }
    if key.chars().count() > MAX_KEY {
        return Err(Ec2Error::InvalidParameterValue(format!(
            "Tag key exceeds the maximum length of {MAX_KEY} characters"
        )));
    }
    if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
        return Err(Ec2Error::InvalidParameterValue(
            "Tag keys starting with 'aws:' are reserved for internal use".to_owned(),
        ));
    }
    Ok(())
}

/// Checks `new` tags against the limits, given the resource's `existing` ones.
pub(crate) fn validate_new_tags(existing: &[Tag], new: &[Tag]) -> Result<(), Ec2Error> {
    for tag in new {
        check_key(&tag.key)?;
        if tag.value.chars().count() > MAX_VALUE {
            return Err(Ec2Error::InvalidParameterValue(format!(
                "Tag value exceeds the maximum length of {MAX_VALUE} characters"
            )));
        }
    }
    if merge(existing.to_vec(), new).len() > MAX_TAGS {
        return Err(Ec2Error::TagLimitExceeded);
    }
    Ok(())
}

/// `existing` with `new` applied: same key overwrites in place, new keys append.
fn merge(mut existing: Vec<Tag>, new: &[Tag]) -> Vec<Tag> {
    for tag in new {
        match existing.iter_mut().find(|t| t.key == tag.key) {
            Some(current) => current.value = tag.value.clone(),
            None => existing.push(tag.clone()),
        }
    }
    existing
}

/// The kind of resource `id` names if it exists, else EC2's error for it: `InvalidID` for an
/// id of no taggable kind, the kind's NotFound code otherwise.
pub(crate) fn resource_kind(records: &mut dyn Records, id: &str) -> Result<ResourceType, Ec2Error> {
    let kind = ResourceType::of_id(id).ok_or_else(|| Ec2Error::InvalidId(id.to_owned()))?;
    let missing = vec![id.to_owned()];
    let found = match kind {
        ResourceType::Vpc => records.get(Kind::Vpc, id)?.is_some(),
        ResourceType::Subnet => records.get(Kind::Subnet, id)?.is_some(),
        ResourceType::SecurityGroup => records.get(Kind::SecurityGroup, id)?.is_some(),
        ResourceType::SecurityGroupRule => load_all::<SecurityGroup>(records)?
            .iter()
            .any(|g| g.rules.iter().any(|r| r.security_group_rule_id == id)),
        ResourceType::RouteTable => records.get(Kind::RouteTable, id)?.is_some(),
        ResourceType::InternetGateway => records.get(Kind::InternetGateway, id)?.is_some(),
        ResourceType::DhcpOptions => records.get(Kind::DhcpOptions, id)?.is_some(),
        ResourceType::NetworkAcl => records.get(Kind::NetworkAcl, id)?.is_some(),
    };
    if found {
        return Ok(kind);
    }
    Err(match kind {
        ResourceType::Vpc => Ec2Error::InvalidVpcIdNotFound(missing),
        ResourceType::Subnet => Ec2Error::InvalidSubnetIdNotFound(missing),
        ResourceType::SecurityGroup => Ec2Error::group_not_found(id),
        ResourceType::SecurityGroupRule => Ec2Error::InvalidSecurityGroupRuleIdNotFound(missing),
        ResourceType::RouteTable => Ec2Error::InvalidRouteTableIdNotFound(missing),
        ResourceType::InternetGateway => Ec2Error::InvalidInternetGatewayIdNotFound(missing),
        ResourceType::DhcpOptions => Ec2Error::InvalidDhcpOptionIdNotFound(missing),
        ResourceType::NetworkAcl => Ec2Error::InvalidNetworkAclIdNotFound(missing),
    })
}

/// CreateTags: adds or overwrites `tags` on every resource, all or none.
pub fn create_tags(
    records: &mut dyn Records,
    resources: &[String],
    tags: &[Tag],
) -> Result<(), Ec2Error> {
    if resources.is_empty() {
        return Err(Ec2Error::MissingParameter("resourceIdSet".to_owned()));
    }
    if tags.is_empty() {
        return Err(Ec2Error::MissingParameter("tagSet".to_owned()));
    }
    let mut updates = Vec::new();
    for id in resources {
        let kind = resource_kind(records, id)?;
        let existing = tags_of(records, id)?;
        validate_new_tags(&existing, tags)?;
        updates.push((id, kind, merge(existing, tags)));
    }
    for (id, kind, merged) in updates {
        write_tags(records, id, kind, merged)?;
    }
    Ok(())
}

/// A DeleteTags tag: without a value it removes the key whatever its value; with one (even
/// empty) only when the value matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagToDelete {
    pub key: String,
    pub value: Option<String>,
}

/// DeleteTags; `tags: None` removes every tag but AWS's own (`aws:` keys).
pub fn delete_tags(
    records: &mut dyn Records,
    resources: &[String],
    tags: Option<&[TagToDelete]>,
) -> Result<(), Ec2Error> {
    if resources.is_empty() {
        return Err(Ec2Error::MissingParameter("resourceIdSet".to_owned()));
    }
    for tag in tags.unwrap_or_default() {
        check_key(&tag.key)?;
    }
    let mut updates = Vec::new();
    for id in resources {
        let kind = resource_kind(records, id)?;
        let mut current = tags_of(records, id)?;
        current.retain(|t| match tags {
            None => t
                .key
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case("aws:")),
            Some(remove) => !remove
                .iter()
                .any(|r| r.key == t.key && r.value.as_ref().is_none_or(|v| *v == t.value)),
        });
        updates.push((id, kind, current));
    }
    for (id, kind, remaining) in updates {
        write_tags(records, id, kind, remaining)?;
    }
    Ok(())
}

/// A DescribeTags entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagDescription {
    pub resource_id: String,
    pub resource_type: ResourceType,
    pub key: String,
    pub value: String,
}

/// DescribeTags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeTagsRequest {
    pub filters: Vec<Filter>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
}

/// DescribeTags: filters `key`, `value`, `resource-id`, `resource-type` and `tag:KEY`
/// (resources carrying that tag); sorted by resource id then key; MaxResults 5..1000.
pub fn describe_tags(
    records: &mut dyn Records,
    request: &DescribeTagsRequest,
) -> Result<Page<TagDescription>, Ec2Error> {
    let paging = Paging {
        action: "DescribeTags",
        ids_param: None,
        filters: &request.filters,
        max_results: request.max_results,
        next_token: request.next_token.as_deref(),
        max_bound: 1000,
    };
    paging.check()?;
    for filter in &request.filters {
        if filter.name == "tag-key" {
            return Err(Ec2Error::bad_filter(&filter.name));
        }
    }
    let matcher = Matcher::new(
        &request.filters,
        &["key", "value", "resource-id", "resource-type"],
        true,
    )?;
    let mut out = Vec::new();
    for set in load_all::<TagSet>(records)? {
        let mut tags = set.tags.clone();
        tags.sort_by(|a, b| a.key.cmp(&b.key));
        for tag in tags {
            let keep = matcher.matches_tagged(&set.tags, |name| match name {
                "key" => vec![tag.key.clone()],
                "value" => vec![tag.value.clone()],
                "resource-id" => vec![set.resource_id.clone()],
                _ => vec![set.resource_type.as_str().to_owned()],
            });
            if keep {
                out.push(TagDescription {
                    resource_id: set.resource_id.clone(),
                    resource_type: set.resource_type,
                    key: tag.key,
                    value: tag.value,
                });
            }
        }
    }
    // The position names both resource and key; NUL sorts below every id character, so
    // string order is (resource, key) order.
    let keyed: Vec<(String, TagDescription)> = out
        .into_iter()
        .map(|t| (format!("{}\0{}", t.resource_id, t.key), t))
        .collect();
    let page = paging.page(keyed, |(position, _)| position)?;
    Ok(Page {
        items: page.items.into_iter().map(|(_, t)| t).collect(),
        next_token: page.next_token,
    })
}
