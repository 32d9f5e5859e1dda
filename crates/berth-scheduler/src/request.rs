//! What a placement asks for: the task's resources and capabilities, its task group, and the
//! constraints and strategies of the task definition and the call, checked against ECS's rules.

use std::collections::BTreeSet;
use std::fmt;

use crate::query::{Query, QueryError};

/// ECS allows 10 constraints per task, counting the task definition's (RunTask's
/// placementConstraints).
pub const MAX_CONSTRAINTS: usize = 10;
/// ECS allows 5 strategy rules per task (RunTask's placementStrategy).
pub const MAX_STRATEGIES: usize = 5;

/// CPU, memory, GPUs and host ports: what an instance has left, or what one task takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// CPU units, 1024 per core.
    pub cpu: i64,
    /// MiB.
    pub memory: i64,
    pub gpus: u32,
    /// Static host ports: in use on an instance (its PORTS resource), or bound by a task.
    pub tcp_ports: BTreeSet<u16>,
    /// The same for UDP (PORTS_UDP).
    pub udp_ports: BTreeSet<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchType {
    Ec2,
    External,
}

impl fmt::Display for LaunchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LaunchType::Ec2 => "EC2",
            LaunchType::External => "EXTERNAL",
        })
    }
}

/// An attribute the task definition requires (its `requiresAttributes`): the instance must have
/// it, with this value when one is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredAttribute {
    pub name: String,
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// No two tasks of the request's group on one instance, counting the group's tasks already
    /// there: ECS "places each task in the group on a different instance".
    DistinctInstance,
    MemberOf(Query),
}

impl Constraint {
    /// A constraint as the API spells it (`type`, `expression`).
    pub fn parse(kind: &str, expression: Option<&str>) -> Result<Constraint, RequestError> {
        match kind {
            "distinctInstance" => match expression {
                Some(e) if !e.trim().is_empty() => Err(RequestError::DistinctInstanceExpression),
                _ => Ok(Constraint::DistinctInstance),
            },
            "memberOf" => match expression {
                Some(e) if !e.trim().is_empty() => Query::parse(e)
                    .map(Constraint::MemberOf)
                    .map_err(RequestError::Expression),
                _ => Err(RequestError::MissingExpression),
            },
            other => Err(RequestError::ConstraintType(other.to_owned())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// The instance with the least of the resource left (that still fits) first.
    Binpack(BinpackField),
    /// The instances (or attribute values) with the fewest tasks of the request's group first.
    Spread(SpreadField),
    /// Any instance: it ends the chain, since the final tie-break is random anyway.
    Random,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinpackField {
    Cpu,
    Memory,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpreadField {
    /// `instanceId` or its alias `host`.
    InstanceId,
    /// `attribute:NAME`; instances without the attribute count as one more value.
    Attribute(String),
}

impl Strategy {
    /// A strategy as the API spells it (`type`, `field`).
    pub fn parse(kind: &str, field: Option<&str>) -> Result<Strategy, RequestError> {
        match kind {
            "random" => Ok(Strategy::Random),
            "binpack" => match field.map(str::to_ascii_lowercase).as_deref() {
                Some("cpu") => Ok(Strategy::Binpack(BinpackField::Cpu)),
                Some("memory") => Ok(Strategy::Binpack(BinpackField::Memory)),
                _ => Err(RequestError::BinpackField(field.map(str::to_owned))),
            },
            "spread" => {
                let spread = match field {
                    Some(f) if f.eq_ignore_ascii_case("instanceId") => SpreadField::InstanceId,
                    Some(f) if f.eq_ignore_ascii_case("host") => SpreadField::InstanceId,
                    Some(f) => match f.split_once(':') {
                        Some((prefix, name))
                            if prefix.eq_ignore_ascii_case("attribute") && !name.is_empty() =>
                        {
                            SpreadField::Attribute(name.to_owned())
                        }
                        _ => return Err(RequestError::SpreadField(Some(f.to_owned()))),
                    },
                    None => return Err(RequestError::SpreadField(None)),
                };
                Ok(Strategy::Spread(spread))
            }
            other => Err(RequestError::StrategyType(other.to_owned())),
        }
    }

    /// What a service uses when it names no strategy: spread across Availability Zones, then
    /// across the instances in each (AWS blog "Amazon ECS Task Placement"). RunTask's default
    /// is random, which an empty chain already is.
    pub fn service_default() -> Vec<Strategy> {
        vec![
            Strategy::Spread(SpreadField::Attribute("ecs.availability-zone".to_owned())),
            Strategy::Spread(SpreadField::InstanceId),
        ]
    }
}

/// Where `count` tasks of one kind should go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementRequest {
    pub count: u32,
    /// The task group (`service:NAME`, or RunTask's `group`, by default `family:NAME`): spread
    /// counts and distinctInstance look at its tasks.
    pub group: String,
    /// What each task takes.
    pub demand: Resources,
    /// EC2 tasks go to instances without `ecs.capability.external`, EXTERNAL tasks to those
    /// with it; `None` accepts both (StartTask names its instances).
    pub launch_type: Option<LaunchType>,
    pub required_attributes: Vec<RequiredAttribute>,
    /// The Availability Zones of an awsvpc task's subnets: instances elsewhere fail with
    /// LOCATION. `None` when the task has no subnets.
    pub subnet_zones: Option<BTreeSet<String>>,
    /// The task definition's constraints followed by the call's.
    pub constraints: Vec<Constraint>,
    /// Applied in order, each breaking the ties of the one before; then ties go at random.
    pub strategies: Vec<Strategy>,
}

impl PlacementRequest {
    /// ECS's limits on the number of constraints and strategies.
    pub fn check_limits(&self) -> Result<(), RequestError> {
        if self.constraints.len() > MAX_CONSTRAINTS {
            return Err(RequestError::TooManyConstraints(self.constraints.len()));
        }
        if self.strategies.len() > MAX_STRATEGIES {
            return Err(RequestError::TooManyStrategies(self.strategies.len()));
        }
        Ok(())
    }
}

/// A constraint or strategy ECS would refuse: an InvalidParameterException.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("invalid memberOf expression: {0}")]
    Expression(QueryError),
    #[error("a memberOf constraint needs an expression")]
    MissingExpression,
    #[error("a distinctInstance constraint takes no expression")]
    DistinctInstanceExpression,
    #[error("unknown placement constraint type '{0}': expected distinctInstance or memberOf")]
    ConstraintType(String),
    #[error("unknown placement strategy type '{0}': expected binpack, random or spread")]
    StrategyType(String),
    #[error("binpack needs the field cpu or memory, not {}", describe(.0))]
    BinpackField(Option<String>),
    #[error("spread needs the field instanceId, host or attribute:NAME, not {}", describe(.0))]
    SpreadField(Option<String>),
    #[error(
        "{0} placement constraints, counting the task definition's: at most {MAX_CONSTRAINTS} are allowed"
    )]
    TooManyConstraints(usize),
    #[error("{0} placement strategies: at most {MAX_STRATEGIES} are allowed")]
    TooManyStrategies(usize),
}

fn describe(field: &Option<String>) -> String {
    field
        .as_ref()
        .map_or("none".to_owned(), |f| format!("'{f}'"))
}
