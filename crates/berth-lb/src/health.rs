//! Target health as ALB keeps it: each target starts `initial`, becomes `healthy` after
//! `healthy_threshold` consecutive passing checks and `unhealthy` after `unhealthy_threshold`
//! consecutive failing ones, with ALB's reason codes and descriptions. Pure: the checker task
//! feeds outcomes in.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Which response codes pass a health check: `200`, `200-299`, `200,202,300-302`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    text: String,
    ranges: Vec<(u16, u16)>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MatcherError {
    #[error("invalid health check matcher {0:?}: expected codes or ranges like 200,202 or 200-299")]
    Syntax(String),
    #[error("health check matcher code {0} is out of range: HTTP codes must be 200-499")]
    OutOfRange(u16),
}

impl Matcher {
    pub fn parse(text: &str) -> Result<Matcher, MatcherError> {
        let syntax = || MatcherError::Syntax(text.to_string());
        let code = |part: &str| -> Result<u16, MatcherError> {
            let code: u16 = part.trim().parse().map_err(|_| syntax())?;
            if (200..=499).contains(&code) {
                Ok(code)
            } else {
                Err(MatcherError::OutOfRange(code))
            }
        };
        let mut ranges = Vec::new();
        for part in text.split(',') {
            let range = match part.split_once('-') {
                Some((low, high)) => (code(low)?, code(high)?),
                None => {
                    let single = code(part)?;
                    (single, single)
                }
            };
            if range.0 > range.1 {
                return Err(syntax());
            }
            ranges.push(range);
        }
        Ok(Matcher {
            text: text.to_string(),
            ranges,
        })
    }

    pub fn accepts(&self, status: u16) -> bool {
        self.ranges
            .iter()
            .any(|&(low, high)| (low..=high).contains(&status))
    }
}

impl FromStr for Matcher {
    type Err = MatcherError;
    fn from_str(text: &str) -> Result<Matcher, MatcherError> {
        Matcher::parse(text)
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Matcher {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Matcher, D::Error> {
        let text = String::deserialize(deserializer)?;
        Matcher::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The states DescribeTargetHealth shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum State {
    Initial,
    Healthy,
    Unhealthy,
    /// The target group is not used by any listener: nothing checks it.
    Unused,
    Draining,
    /// Health checks are disabled: the target gets traffic, its health is unknown.
    Unavailable,
}

impl State {
    /// The elbv2 API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Initial => "initial",
            State::Healthy => "healthy",
            State::Unhealthy => "unhealthy",
            State::Unused => "unused",
            State::Draining => "draining",
            State::Unavailable => "unavailable",
        }
    }
}

/// ALB's `TargetHealth.Reason` codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Reason {
    InitialHealthChecking,
    InternalError,
    ResponseCodeMismatch,
    Timeout,
    FailedHealthChecks,
    NotInUse,
    DeregistrationInProgress,
    HealthCheckDisabled,
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::InitialHealthChecking => "Elb.InitialHealthChecking",
            Reason::InternalError => "Elb.InternalError",
            Reason::ResponseCodeMismatch => "Target.ResponseCodeMismatch",
            Reason::Timeout => "Target.Timeout",
            Reason::FailedHealthChecks => "Target.FailedHealthChecks",
            Reason::NotInUse => "Target.NotInUse",
            Reason::DeregistrationInProgress => "Target.DeregistrationInProgress",
            Reason::HealthCheckDisabled => "Target.HealthCheckDisabled",
        }
    }
}

/// What one health check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The matcher accepted the status code.
    Passed,
    /// The target answered with a code the matcher does not accept.
    Mismatch(u16),
    /// No complete answer within the health check timeout.
    TimedOut,
    /// Connection refused or reset, or an answer that is not HTTP.
    Failed,
    /// The check could not be made for a reason of ours (no socket, bad request).
    InternalError,
}

/// What is published for one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetHealth {
    pub state: State,
    pub reason: Option<Reason>,
    pub description: Option<String>,
}

impl TargetHealth {
    pub fn initial() -> TargetHealth {
        TargetHealth {
            state: State::Initial,
            reason: Some(Reason::InitialHealthChecking),
            description: Some("Initial health checks in progress".into()),
        }
    }

    pub fn unused() -> TargetHealth {
        TargetHealth {
            state: State::Unused,
            reason: Some(Reason::NotInUse),
            description: Some(
                "Target group is not configured to receive traffic from the load balancer".into(),
            ),
        }
    }

    pub fn draining() -> TargetHealth {
        TargetHealth {
            state: State::Draining,
            reason: Some(Reason::DeregistrationInProgress),
            description: Some("Target deregistration is in progress".into()),
        }
    }

    /// With health checks disabled ALB routes to every target and reports it as unavailable.
    pub fn checks_disabled() -> TargetHealth {
        TargetHealth {
            state: State::Unavailable,
            reason: Some(Reason::HealthCheckDisabled),
            description: Some("Health checks are disabled".into()),
        }
    }
}

/// The per-target health state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthTracker {
    health: TargetHealth,
    consecutive_passes: u32,
    consecutive_failures: u32,
}

impl Default for HealthTracker {
    fn default() -> Self {
        HealthTracker {
            health: TargetHealth::initial(),
            consecutive_passes: 0,
            consecutive_failures: 0,
        }
    }
}

impl HealthTracker {
    pub fn health(&self) -> &TargetHealth {
        &self.health
    }

    /// Records one check; returns whether the published health changed.
    pub fn observe(
        &mut self,
        outcome: &Outcome,
        healthy_threshold: u32,
        unhealthy_threshold: u32,
    ) -> bool {
        let before = self.health.clone();
        if *outcome == Outcome::Passed {
            self.consecutive_passes = self.consecutive_passes.saturating_add(1);
            self.consecutive_failures = 0;
            if self.health.state != State::Healthy && self.consecutive_passes >= healthy_threshold {
                self.health = TargetHealth {
                    state: State::Healthy,
                    reason: None,
                    description: None,
                };
            }
        } else {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            self.consecutive_passes = 0;
            if self.health.state == State::Unhealthy
                || self.consecutive_failures >= unhealthy_threshold
            {
                // An unhealthy target's reason follows its latest failure, as ALB's does.
                let (reason, description) = failure_reason(outcome);
                self.health = TargetHealth {
                    state: State::Unhealthy,
                    reason: Some(reason),
                    description: Some(description),
                };
            }
        }
        self.health != before
    }
}

fn failure_reason(outcome: &Outcome) -> (Reason, String) {
    match outcome {
        Outcome::Mismatch(code) => (
            Reason::ResponseCodeMismatch,
            format!("Health checks failed with these codes: [{code}]"),
        ),
        Outcome::TimedOut => (Reason::Timeout, "Request timed out".into()),
        Outcome::Failed => (Reason::FailedHealthChecks, "Health checks failed".into()),
        Outcome::InternalError => (
            Reason::InternalError,
            "Health checks failed due to an internal error".into(),
        ),
        Outcome::Passed => unreachable!("a passed check is not a failure"),
    }
}

/// Whether a target in this state may be sent new requests, before the fail-open rule.
pub fn routable(state: State) -> bool {
    state == State::Healthy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matcher_accepts_codes_lists_and_ranges() {
        let single = Matcher::parse("200").unwrap();
        assert!(single.accepts(200));
        assert!(!single.accepts(201));
        let list = Matcher::parse("200,202").unwrap();
        assert!(list.accepts(202));
        assert!(!list.accepts(201));
        let range = Matcher::parse("200-299").unwrap();
        assert!(range.accepts(200) && range.accepts(250) && range.accepts(299));
        assert!(!range.accepts(300));
        let mixed = Matcher::parse("200, 301-302").unwrap();
        assert!(mixed.accepts(302) && !mixed.accepts(303));
        assert_eq!(mixed.to_string(), "200, 301-302");
    }

    #[test]
    fn matcher_rejects_bad_input() {
        assert_eq!(
            Matcher::parse("abc"),
            Err(MatcherError::Syntax("abc".into()))
        );
        assert_eq!(Matcher::parse(""), Err(MatcherError::Syntax("".into())));
        assert_eq!(
            Matcher::parse("299-200"),
            Err(MatcherError::Syntax("299-200".into()))
        );
        assert_eq!(Matcher::parse("100"), Err(MatcherError::OutOfRange(100)));
        assert_eq!(
            Matcher::parse("200-500"),
            Err(MatcherError::OutOfRange(500))
        );
    }

    #[test]
    fn matcher_round_trips_through_serde_as_text() {
        let matcher = Matcher::parse("200-299").unwrap();
        let json = serde_json::to_string(&matcher).unwrap();
        assert_eq!(json, "\"200-299\"");
        assert_eq!(serde_json::from_str::<Matcher>(&json).unwrap(), matcher);
        assert!(serde_json::from_str::<Matcher>("\"600\"").is_err());
    }

    #[test]
    fn initial_target_becomes_healthy_after_the_healthy_threshold() {
        let mut tracker = HealthTracker::default();
        assert_eq!(
            tracker.health().reason.unwrap().code(),
            "Elb.InitialHealthChecking"
        );
        assert!(!tracker.observe(&Outcome::Passed, 3, 2));
        assert!(!tracker.observe(&Outcome::Passed, 3, 2));
        assert_eq!(tracker.health().state, State::Initial);
        assert!(tracker.observe(&Outcome::Passed, 3, 2));
        assert_eq!(
            tracker.health(),
            &TargetHealth {
                state: State::Healthy,
                reason: None,
                description: None
            }
        );
    }

    #[test]
    fn a_failure_resets_the_run_of_passes() {
        let mut tracker = HealthTracker::default();
        tracker.observe(&Outcome::Passed, 2, 3);
        tracker.observe(&Outcome::TimedOut, 2, 3);
        tracker.observe(&Outcome::Passed, 2, 3);
        assert_eq!(tracker.health().state, State::Initial);
        tracker.observe(&Outcome::Passed, 2, 3);
        assert_eq!(tracker.health().state, State::Healthy);
    }

    #[test]
    fn healthy_target_becomes_unhealthy_after_the_unhealthy_threshold_with_the_reason() {
        let mut tracker = HealthTracker::default();
        tracker.observe(&Outcome::Passed, 1, 2);
        assert!(!tracker.observe(&Outcome::Mismatch(503), 1, 2));
        assert_eq!(tracker.health().state, State::Healthy);
        assert!(tracker.observe(&Outcome::Mismatch(503), 1, 2));
        let health = tracker.health();
        assert_eq!(health.state, State::Unhealthy);
        assert_eq!(health.reason.unwrap().code(), "Target.ResponseCodeMismatch");
        assert_eq!(
            health.description.as_deref(),
            Some("Health checks failed with these codes: [503]")
        );
        // The reason follows the latest failure.
        assert!(tracker.observe(&Outcome::TimedOut, 1, 2));
        assert_eq!(tracker.health().reason.unwrap().code(), "Target.Timeout");
        assert!(tracker.observe(&Outcome::Failed, 1, 2));
        assert_eq!(
            tracker.health().reason.unwrap().code(),
            "Target.FailedHealthChecks"
        );
        assert!(tracker.observe(&Outcome::InternalError, 1, 2));
        assert_eq!(tracker.health().reason.unwrap().code(), "Elb.InternalError");
    }

    #[test]
    fn initial_target_becomes_unhealthy_and_recovers() {
        let mut tracker = HealthTracker::default();
        tracker.observe(&Outcome::Failed, 2, 2);
        assert_eq!(tracker.health().state, State::Initial);
        tracker.observe(&Outcome::Failed, 2, 2);
        assert_eq!(tracker.health().state, State::Unhealthy);
        tracker.observe(&Outcome::Passed, 2, 2);
        assert_eq!(tracker.health().state, State::Unhealthy);
        tracker.observe(&Outcome::Passed, 2, 2);
        assert_eq!(tracker.health().state, State::Healthy);
        assert!(routable(tracker.health().state));
        assert!(!routable(State::Initial));
        assert!(!routable(State::Draining));
    }
}
