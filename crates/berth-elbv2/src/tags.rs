//! Tags on load balancers, target groups, listeners and rules.

use std::collections::BTreeMap;

use berth_elbv2_wire as wire;

use crate::error::Elbv2Error;
use crate::limits::TAGS_PER_RESOURCE;

/// A resource's tags, key → value.
pub type Tags = BTreeMap<String, String>;

/// `current` with `added` set (a key given again replaces its value); a request naming a key
/// twice is `DuplicateTagKeys`, more than 50 tags in the end `TooManyTags`. AWS's reserved
/// `aws:` prefix is refused.
pub fn add(current: &Tags, added: &[wire::Tag]) -> Result<Tags, Elbv2Error> {
    let mut out = current.clone();
    let mut seen: Vec<&str> = Vec::new();
    for tag in added {
        let key = tag.key.as_deref().unwrap_or_default();
        if seen.contains(&key) {
            return Err(Elbv2Error::DuplicateTagKeys(key.to_owned()));
        }
        seen.push(key);
        if key.starts_with("aws:") {
            return Err(Elbv2Error::Validation(format!(
                "Tag key '{key}' cannot start with the reserved prefix 'aws:'"
            )));
        }
        out.insert(key.to_owned(), tag.value.clone().unwrap_or_default());
    }
    if out.len() > TAGS_PER_RESOURCE {
        return Err(Elbv2Error::TooManyTags(format!(
            "A resource can have at most '{TAGS_PER_RESOURCE}' tags"
        )));
    }
    Ok(out)
}

pub fn to_wire(tags: &Tags) -> Vec<wire::Tag> {
    tags.iter()
        .map(|(key, value)| wire::Tag {
            key: Some(key.clone()),
            value: Some(value.clone()),
        })
        .collect()
}

/// The condition keys a request carrying tags gives the authorization hook: `aws:RequestTag/KEY`
/// for each tag and `aws:TagKeys`, as IAM policies on tagging match them.
pub fn request_conditions<'a>(
    keys_and_values: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Vec<(String, String)> {
    let mut conditions = Vec::new();
    let mut keys = Vec::new();
    for (key, value) in keys_and_values {
        if let Some(value) = value {
            conditions.push((format!("aws:RequestTag/{key}"), value.to_owned()));
        }
        keys.push(key);
    }
    if !keys.is_empty() {
        conditions.push(("aws:TagKeys".to_owned(), keys.join(",")));
    }
    conditions
}

/// [`request_conditions`] of a request's `Tags`.
pub fn tag_conditions(tags: Option<&[wire::Tag]>) -> Vec<(String, String)> {
    request_conditions(tags.unwrap_or_default().iter().map(|t| {
        (
            t.key.as_deref().unwrap_or_default(),
            Some(t.value.as_deref().unwrap_or_default()),
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(key: &str, value: &str) -> wire::Tag {
        wire::Tag {
            key: Some(key.into()),
            value: Some(value.into()),
        }
    }

    #[test]
    fn conditions_name_each_tag_and_all_keys() {
        assert_eq!(
            tag_conditions(Some(&[tag("team", "a"), tag("env", "b")])),
            vec![
                ("aws:RequestTag/team".to_owned(), "a".to_owned()),
                ("aws:RequestTag/env".to_owned(), "b".to_owned()),
                ("aws:TagKeys".to_owned(), "team,env".to_owned()),
            ]
        );
        assert_eq!(tag_conditions(None), vec![]);
        assert_eq!(
            request_conditions([("team", None)]),
            vec![("aws:TagKeys".to_owned(), "team".to_owned())]
        );
    }

    #[test]
    fn add_replaces_and_limits() {
        let tags = add(&Tags::new(), &[tag("env", "dev"), tag("team", "a")]).unwrap();
        let tags = add(&tags, &[tag("env", "prod")]).unwrap();
        assert_eq!(tags["env"], "prod");
        assert_eq!(tags.len(), 2);
        assert_eq!(
            add(&tags, &[tag("x", "1"), tag("x", "2")]).unwrap_err(),
            Elbv2Error::DuplicateTagKeys("x".into())
        );
        assert!(add(&tags, &[tag("aws:x", "1")]).is_err());
        let many: Vec<wire::Tag> = (0..49).map(|i| tag(&format!("k{i}"), "v")).collect();
        assert!(matches!(add(&tags, &many), Err(Elbv2Error::TooManyTags(_))));
        assert_eq!(add(&Tags::new(), &many[..48]).unwrap().len(), 48);
    }
}
