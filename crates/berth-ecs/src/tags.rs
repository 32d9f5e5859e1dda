//! Tag rules shared by every taggable ECS resource.

use std::collections::BTreeMap;

use berth_ecs_wire::Tag;
use berth_wire::Violations;
use berth_wire::validate::At;

use crate::error::{EcsError, invalid};

/// At most 50 user tags per resource.
pub const MAX_TAGS: usize = 50;

/// Checks tags a caller supplies (a request's `tags`): every tag has a key (the model leaves
/// `key` optional but documents it as 1-128 characters, so a missing key is refused as an empty
/// one is), `aws:`-prefixed keys are reserved, keys are unique.
pub fn check_user_tags(tags: &[Tag]) -> Result<(), EcsError> {
    let mut seen = std::collections::BTreeSet::new();
    for (index, tag) in tags.iter().enumerate() {
        let Some(key) = tag.key.as_deref() else {
            let mut violations = Violations::default();
            let item = At::Item(&At::Member(&At::Request, "tags"), index);
            violations.length(&At::Member(&item, "key"), 0, Some(1), None);
            return violations.into_result().map_err(invalid);
        };
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid(
                "Tag keys cannot start with the reserved prefix 'aws:'.",
            ));
        }
        if !seen.insert(key) {
            return Err(invalid(format!("Duplicate tag key: {key}")));
        }
    }
    Ok(())
}

/// `existing` with `added` applied: new keys appended, existing keys take the new value.
pub fn merge(existing: &[Tag], added: &[Tag]) -> Result<Vec<Tag>, EcsError> {
    check_user_tags(added)?;
    let mut order: Vec<String> = Vec::new();
    let mut values: BTreeMap<String, Option<String>> = BTreeMap::new();
    for tag in existing.iter().chain(added) {
        let key = tag.key.clone().unwrap_or_default();
        if values.insert(key.clone(), tag.value.clone()).is_none() {
            order.push(key);
        }
    }
    if order.len() > MAX_TAGS {
        return Err(invalid(format!(
            "A resource can have at most {MAX_TAGS} tags."
        )));
    }
    Ok(order
        .into_iter()
        .map(|key| Tag {
            value: values[&key].clone(),
            key: Some(key),
        })
        .collect())
}

pub fn remove(existing: &[Tag], keys: &[String]) -> Vec<Tag> {
    existing
        .iter()
        .filter(|tag| !keys.iter().any(|key| Some(key) == tag.key.as_ref()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(key: &str, value: &str) -> Tag {
        Tag {
            key: Some(key.into()),
            value: Some(value.into()),
        }
    }

    #[test]
    fn merging_overwrites_values_and_keeps_order() {
        let merged = merge(
            &[tag("a", "1"), tag("b", "2")],
            &[tag("b", "3"), tag("c", "4")],
        )
        .unwrap();
        assert_eq!(merged, vec![tag("a", "1"), tag("b", "3"), tag("c", "4")]);
        assert_eq!(
            remove(&merged, &["a".into(), "zz".into()]),
            vec![tag("b", "3"), tag("c", "4")]
        );
    }

    #[test]
    fn a_tag_without_a_key_is_refused_as_an_empty_key() {
        let keyless = Tag {
            key: None,
            value: Some("v".into()),
        };
        assert_eq!(
            check_user_tags(&[tag("a", "1"), keyless]),
            Err(invalid(
                "1 validation error detected: Value at 'tags.2.member.key' failed to satisfy \
                 constraint: Member must have length greater than or equal to 1"
            ))
        );
    }

    #[test]
    fn reserved_prefixes_and_the_limit_are_enforced() {
        assert!(merge(&[], &[tag("aws:owner", "x")]).is_err());
        let many: Vec<Tag> = (0..51).map(|i| tag(&format!("k{i}"), "v")).collect();
        assert!(merge(&many[..50], &many[50..]).is_err());
        assert!(merge(&[], &many[..50]).is_ok());
    }
}
