//! Tag rules shared by every taggable ECS resource.

use std::collections::BTreeMap;

use berth_ecs_wire::Tag;

use crate::error::{EcsError, invalid};

/// At most 50 user tags per resource.
pub const MAX_TAGS: usize = 50;

/// Checks tags a caller supplies: `aws:`-prefixed keys are reserved, keys are unique.
pub fn check_user_tags(tags: &[Tag]) -> Result<(), EcsError> {
    let mut seen = std::collections::BTreeSet::new();
    for tag in tags {
        let key = tag.key.as_deref().unwrap_or_default();
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
    fn reserved_prefixes_and_the_limit_are_enforced() {
        assert!(merge(&[], &[tag("aws:owner", "x")]).is_err());
        let many: Vec<Tag> = (0..51).map(|i| tag(&format!("k{i}"), "v")).collect();
        assert!(merge(&many[..50], &many[50..]).is_err());
        assert!(merge(&[], &many[..50]).is_ok());
    }
}
