//! EC2's `Filter.N.Name` / `Filter.N.Value.M`: values are OR'ed, filters AND'ed, values may use
//! `*` and `?` wildcards (escaped with `\`), and matching is case-sensitive.

use serde::{Deserialize, Serialize};

use crate::Ec2Error;
use crate::model::Tag;

/// One request filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

impl Filter {
    pub fn new(name: &str, values: &[&str]) -> Filter {
        Filter {
            name: name.to_owned(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }
}

/// Filters checked against an action's table of names, ready to test resources.
pub(crate) struct Matcher<'a> {
    filters: &'a [Filter],
}

impl<'a> Matcher<'a> {
    /// Rejects any name outside `names` (and, when `tags`, other than `tag-key` and `tag:KEY`)
    /// with EC2's `The filter 'NAME' is invalid`, before any resource is looked at.
    pub(crate) fn new(filters: &'a [Filter], names: &[&str], tags: bool) -> Result<Self, Ec2Error> {
        for filter in filters {
            let tag_filter = filter.name == "tag-key"
                || filter
                    .name
                    .strip_prefix("tag:")
                    .is_some_and(|k| !k.is_empty());
            if !(names.contains(&filter.name.as_str()) || tags && tag_filter) {
                return Err(Ec2Error::bad_filter(&filter.name));
            }
        }
        Ok(Matcher { filters })
    }

    /// Whether a resource without tags passes; `field` answers the values of a filter name.
    pub(crate) fn matches(&self, field: impl Fn(&str) -> Vec<String>) -> bool {
        self.matches_tagged(&[], field)
    }

    /// Whether a resource with `tags` passes every filter.
    pub(crate) fn matches_tagged(&self, tags: &[Tag], field: impl Fn(&str) -> Vec<String>) -> bool {
        self.filters.iter().all(|filter| {
            let actual = if filter.name == "tag-key" {
                tags.iter().map(|t| t.key.clone()).collect()
            } else if let Some(key) = filter.name.strip_prefix("tag:") {
                tags.iter()
                    .filter(|t| t.key == key)
                    .map(|t| t.value.clone())
                    .collect()
            } else {
                field(&filter.name)
            };
            filter
                .values
                .iter()
                .any(|pattern| actual.iter().any(|value| wildcard_match(pattern, value)))
        })
    }
}

/// `*` matches any run of characters, `?` exactly one, `\` makes the next character literal.
pub fn wildcard_match(pattern: &str, value: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum Token {
        Literal(char),
        One,
        Any,
    }
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '\\' => Token::Literal(chars.next().unwrap_or('\\')),
            '*' => Token::Any,
            '?' => Token::One,
            c => Token::Literal(c),
        });
    }
    let value: Vec<char> = value.chars().collect();
    // Classic greedy match with one backtrack point: the latest `*` and where it resumed.
    let (mut t, mut v) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while v < value.len() {
        match tokens.get(t) {
            Some(Token::Literal(c)) if *c == value[v] => (t, v) = (t + 1, v + 1),
            Some(Token::One) => (t, v) = (t + 1, v + 1),
            Some(Token::Any) => {
                star = Some((t, v));
                t += 1;
            }
            _ => match star {
                Some((star_t, star_v)) => {
                    star = Some((star_t, star_v + 1));
                    (t, v) = (star_t + 1, star_v + 1);
                }
                None => return false,
            },
        }
    }
    tokens[t..].iter().all(|token| *token == Token::Any)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("vpc-*", "vpc-123"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("a?c", "ac"));
        assert!(wildcard_match("*b*d", "abcbd"));
        assert!(!wildcard_match("Vpc-*", "vpc-1"));
        assert!(wildcard_match("a\\*", "a*"));
        assert!(!wildcard_match("a\\*", "ab"));
        assert!(wildcard_match("10.0.*.0/24", "10.0.12.0/24"));
        assert!(!wildcard_match("abc", "abcd"));
    }

    #[test]
    fn values_or_filters_and_tags() {
        let tags = [Tag::new("Name", "web"), Tag::new("env", "prod")];
        let field = |name: &str| match name {
            "state" => vec!["available".to_owned()],
            _ => vec!["a".to_owned(), "b".to_owned()],
        };
        let check = |filters: &[Filter]| {
            Matcher::new(filters, &["state", "multi"], true)
                .unwrap()
                .matches_tagged(&tags, field)
        };
        assert!(check(&[Filter::new("state", &["pending", "available"])]));
        assert!(!check(&[
            Filter::new("state", &["available"]),
            Filter::new("multi", &["c"])
        ]));
        assert!(check(&[Filter::new("multi", &["b"])]));
        assert!(check(&[
            Filter::new("tag:Name", &["w*"]),
            Filter::new("tag-key", &["env"])
        ]));
        assert!(!check(&[Filter::new("tag:Name", &["db"])]));
        assert!(!check(&[Filter::new("tag:missing", &["*"])]));
        let err = Matcher::new(&[Filter::new("tag-value", &["x"])], &["state"], true)
            .err()
            .unwrap();
        assert_eq!(
            (err.code(), err.to_string().as_str()),
            ("InvalidParameterValue", "The filter 'tag-value' is invalid")
        );
        assert!(Matcher::new(&[Filter::new("tag:k", &["x"])], &["state"], false).is_err());
    }
}
