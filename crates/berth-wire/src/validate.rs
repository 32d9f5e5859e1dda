//! Model-level validation with the messages AWS services use for constraint violations.

use std::fmt::Display;

/// A value that can be checked against the constraints its model shape declares.
pub trait Validate {
    /// Checks `self`, found at path `at` (empty for the request itself, else ending in `.`).
    fn validate(&self, at: &str, violations: &mut Violations);

    /// Checks a whole request; `Err` carries every violation in one AWS-style message.
    fn check(&self) -> Result<(), String> {
        let mut violations = Violations::default();
        self.validate("", &mut violations);
        violations.into_result()
    }
}

/// The constraint violations found in one request, in member order.
#[derive(Debug, Default)]
pub struct Violations {
    messages: Vec<String>,
}

impl Violations {
    pub fn missing(&mut self, path: String) {
        self.messages.push(format!(
            "Value null at '{path}' failed to satisfy constraint: Member must not be null"
        ));
    }

    pub fn enum_value(&mut self, path: String, value: &str, allowed: &[&str]) {
        if !allowed.contains(&value) {
            self.messages.push(format!(
                "Value '{value}' at '{path}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ));
        }
    }

    pub fn length(&mut self, path: String, length: usize, min: Option<usize>, max: Option<usize>) {
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

    pub fn range(&mut self, path: String, value: f64, min: Option<f64>, max: Option<f64>) {
        if let Some(min) = min.filter(|&min| value < min) {
            self.push_value(
                &path,
                value,
                format_args!("Member must have value greater than or equal to {min}"),
            );
        }
        if let Some(max) = max.filter(|&max| value > max) {
            self.push_value(
                &path,
                value,
                format_args!("Member must have value less than or equal to {max}"),
            );
        }
    }

    pub fn pattern(&mut self, path: String, value: &str, pattern: &regex::Regex) {
        if !pattern.is_match(value) {
            let source = pattern.as_str();
            let shown = source
                .strip_prefix("^(?:")
                .and_then(|s| s.strip_suffix(")$"))
                .unwrap_or(source);
            self.push_value(
                &path,
                value,
                format_args!("Member must satisfy regular expression pattern: {shown}"),
            );
        }
    }

    fn push_value(&mut self, path: &str, value: impl Display, constraint: impl Display) {
        self.messages.push(format!(
            "Value '{value}' at '{path}' failed to satisfy constraint: {constraint}"
        ));
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
