//! Model-level validation with the messages AWS services use for constraint violations.

use std::fmt::{self, Display};

/// A value that can be checked against the constraints its model shape declares.
pub trait Validate {
    /// Checks `self`, found at `at` in the request.
    fn validate(&self, at: &At<'_>, violations: &mut Violations);

    /// Checks a whole request; `Err` carries every violation in one AWS-style message.
    fn check(&self) -> Result<(), String> {
        self.violations().into_result()
    }

    /// Every violation of a whole request, for a service that words some of them its own way.
    fn violations(&self) -> Violations {
        let mut violations = Violations::default();
        self.validate(&At::Request, &mut violations);
        violations
    }
}

/// Where a value sits in a request, as AWS names it in messages (`containerDefinitions.1.member.memory`).
/// A chain of borrowed links on the stack: valid requests, the common case, never render one.
#[derive(Debug, Clone, Copy)]
pub enum At<'a> {
    /// The request itself.
    Request,
    /// A member of the structure at the parent path.
    Member(&'a At<'a>, &'static str),
    /// The item at a zero-based index of the list at the parent path (rendered one-based).
    Item(&'a At<'a>, usize),
    /// The value under a key of the map at the parent path.
    Key(&'a At<'a>, &'a str),
}

impl Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Request => Ok(()),
            At::Member(At::Request, name) => f.write_str(name),
            At::Member(parent, name) => write!(f, "{parent}.{name}"),
            At::Item(parent, index) => write!(f, "{parent}.{}.member", index + 1),
            At::Key(parent, key) => write!(f, "{parent}.{key}"),
        }
    }
}

/// The constraint violations found in one request, in member order.
#[derive(Debug, Default)]
pub struct Violations {
    messages: Vec<String>,
    enums: Vec<EnumViolation>,
}

/// A value its member's enum does not list, kept apart so that a service can answer it in its
/// own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumViolation {
    /// Where the member sits, as AWS names it (`launchType`, `settings.1.member.name`).
    pub path: String,
    pub value: String,
}

impl Violations {
    pub fn missing(&mut self, path: &At<'_>) {
        self.messages.push(format!(
            "Value null at '{path}' failed to satisfy constraint: Member must not be null"
        ));
    }

    pub fn enum_value(&mut self, path: &At<'_>, value: &str, allowed: &[&str]) {
        if !allowed.contains(&value) {
            self.enums.push(EnumViolation {
                path: path.to_string(),
                value: value.to_string(),
            });
            self.messages.push(format!(
                "Value '{value}' at '{path}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ));
        }
    }

    pub fn length(&mut self, path: &At<'_>, length: usize, min: Option<usize>, max: Option<usize>) {
        if let Some(min) = min.filter(|&min| length < min) {
            self.messages.push(format!(
                "Value at '{path}' failed to satisfy constraint: Member must have length greater than or equal to {min}"
            ));
        }
        if let Some(max) = max.filter(|&max| length > max) {
            self.messages.push(format!(
                "Value at '{path}' failed to satisfy constraint: Member must have length less than or equal to {max}"
            ));
        }
    }

    pub fn range(&mut self, path: &At<'_>, value: f64, min: Option<f64>, max: Option<f64>) {
        if let Some(min) = min.filter(|&min| value < min) {
            self.push_value(
                path,
                value,
                format_args!("Member must have value greater than or equal to {min}"),
            );
        }
        if let Some(max) = max.filter(|&max| value > max) {
            self.push_value(
                path,
                value,
                format_args!("Member must have value less than or equal to {max}"),
            );
        }
    }

    pub fn pattern(&mut self, path: &At<'_>, value: &str, pattern: &regex::Regex) {
        if !pattern.is_match(value) {
            let source = pattern.as_str();
            let shown = source
                .strip_prefix("^(?:")
                .and_then(|s| s.strip_suffix(")$"))
                .unwrap_or(source);
            self.push_value(
                path,
                value,
                format_args!("Member must satisfy regular expression pattern: {shown}"),
            );
        }
    }

    fn push_value(&mut self, path: &At<'_>, value: impl Display, constraint: impl Display) {
        self.messages.push(format!(
            "Value '{value}' at '{path}' failed to satisfy constraint: {constraint}"
        ));
    }

    /// The values found outside their member's enum, in member order.
    pub fn enum_violations(&self) -> &[EnumViolation] {
        &self.enums
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    pub fn into_result(self) -> Result<(), String> {
        match self.messages.len() {
            0 => Ok(()),
            1 => Err(format!("1 validation error detected: {}", self.messages[0])),
            n => Err(format!(
                "{n} validation errors detected: {}",
                self.messages.join("; ")
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_as_aws_names_them() {
        let definitions = At::Member(&At::Request, "containerDefinitions");
        let second = At::Item(&definitions, 1);
        let memory = At::Member(&second, "memory");
        assert_eq!(memory.to_string(), "containerDefinitions.2.member.memory");
        let options = At::Member(&At::Member(&second, "logConfiguration"), "options");
        assert_eq!(
            At::Key(&options, "awslogs-group").to_string(),
            "containerDefinitions.2.member.logConfiguration.options.awslogs-group"
        );
        assert_eq!(At::Request.to_string(), "");
    }

    #[test]
    fn violations_name_their_paths() {
        let mut violations = Violations::default();
        let family = At::Member(&At::Request, "family");
        violations.length(&family, 0, Some(1), Some(255));
        violations.enum_value(
            &At::Member(&At::Request, "networkMode"),
            "bridge",
            &["bridge"],
        );
        violations.missing(&At::Member(&At::Request, "containerDefinitions"));
        assert_eq!(
            violations.into_result().unwrap_err(),
            "2 validation errors detected: Value at 'family' failed to satisfy constraint: \
             Member must have length greater than or equal to 1; Value null at \
             'containerDefinitions' failed to satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn enum_violations_are_kept_with_their_paths() {
        let mut violations = Violations::default();
        let settings = At::Member(&At::Request, "settings");
        let name = At::Member(&At::Item(&settings, 0), "name");
        violations.enum_value(&name, "nope", &["containerInsights"]);
        violations.enum_value(&At::Member(&At::Request, "launchType"), "EC2", &["EC2"]);
        assert_eq!(
            violations.enum_violations(),
            [EnumViolation {
                path: "settings.1.member.name".into(),
                value: "nope".into(),
            }]
        );
    }
}
