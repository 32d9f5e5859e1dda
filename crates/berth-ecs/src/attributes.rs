//! Container instance attributes: the rules PutAttributes applies to custom attributes.

use berth_ecs_wire::Attribute;

use crate::error::{EcsError, invalid};

/// A resource carries at most this many custom attributes (built-in `ecs.*` ones aside), and one
/// PutAttributes call sets at most this many.
pub const MAX_CUSTOM: usize = 10;

/// Checks an attribute's name and value against ECS's character rules.
pub fn check(attribute: &Attribute) -> Result<(), EcsError> {
    let name = attribute.name.as_deref().unwrap_or_default();
    let name_ok = (1..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_/\\.".contains(c));
    if !name_ok {
        return Err(invalid(format!(
            "Attribute name '{name}' is invalid: 1-128 letters, numbers, hyphens, underscores, forward slashes, back slashes or periods."
        )));
    }
    if let Some(value) = &attribute.value {
        let value_ok = (1..=128).contains(&value.len())
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.@/\\: ".contains(c))
            && !value.starts_with(' ')
            && !value.ends_with(' ');
        if !value_ok {
            return Err(invalid(format!(
                "Attribute value '{value}' of '{name}' is invalid: 1-128 letters, numbers, hyphens, underscores, periods, at signs, slashes, colons or spaces, not starting or ending with a space."
            )));
        }
    }
    Ok(())
}

/// `existing` with `set` applied by name (same name: the new value).
pub fn merge(existing: &[Attribute], set: &[Attribute]) -> Vec<Attribute> {
    let mut merged = existing.to_vec();
    for attribute in set {
        match merged.iter_mut().find(|a| a.name == attribute.name) {
            Some(current) => current.value = attribute.value.clone(),
            None => merged.push(Attribute {
                name: attribute.name.clone(),
                value: attribute.value.clone(),
                ..Attribute::default()
            }),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attribute(name: &str, value: Option<&str>) -> Attribute {
        Attribute {
            name: Some(name.into()),
            value: value.map(Into::into),
            ..Attribute::default()
        }
    }

    #[test]
    fn names_and_values_follow_ecs_rules() {
        assert!(check(&attribute("stack/tier.1", Some("prod@eu: a"))).is_ok());
        assert!(check(&attribute("flag", None)).is_ok());
        assert!(check(&attribute("bad name", None)).is_err());
        assert!(check(&attribute("k", Some(" leading"))).is_err());
        assert!(check(&attribute("k", Some("semi;colon"))).is_err());
        assert!(check(&attribute(&"x".repeat(129), None)).is_err());
    }

    #[test]
    fn merging_replaces_by_name() {
        let merged = merge(
            &[attribute("a", Some("1"))],
            &[attribute("a", Some("2")), attribute("b", None)],
        );
        assert_eq!(
            merged,
            vec![attribute("a", Some("2")), attribute("b", None)]
        );
    }
}
