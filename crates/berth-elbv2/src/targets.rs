//! Registered targets and their health as DescribeTargetHealth reports it.

use std::net::Ipv4Addr;

use berth_elbv2_wire as wire;
use serde::{Deserialize, Serialize};

use crate::error::Elbv2Error;

/// One registered target of a target group: an instance id or an IP address, and a port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisteredTarget {
    pub id: String,
    pub port: i32,
    /// For IP targets outside the VPC, `all`; otherwise the zone given, if any.
    pub availability_zone: Option<String>,
    /// When deregistration started draining the target; it stays listed, `draining`, until
    /// `draining_until`.
    pub draining_until: Option<f64>,
}

impl RegisteredTarget {
    /// The key of the target within its group, `ID:PORT`: the same id on two ports is two
    /// targets.
    pub fn key(&self) -> String {
        target_key(&self.id, self.port)
    }

    pub fn is_draining(&self, now: f64) -> bool {
        self.draining_until.is_some_and(|until| until > now)
    }
}

pub fn target_key(id: &str, port: i32) -> String {
    format!("{id}:{port}")
}

/// A target's state as ALB names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    Initial,
    Healthy,
    Unhealthy,
    Unused,
    Draining,
    Unavailable,
}

impl HealthState {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Initial => "initial",
            HealthState::Healthy => "healthy",
            HealthState::Unhealthy => "unhealthy",
            HealthState::Unused => "unused",
            HealthState::Draining => "draining",
            HealthState::Unavailable => "unavailable",
        }
    }
}

/// The outcome of health checks for one target, as the data plane records it: `healthy` with
/// no reason, or `unhealthy` with ALB's reason code (`Target.ResponseCodeMismatch`,
/// `Target.Timeout`, `Target.FailedHealthChecks`) and description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthResult {
    pub state: HealthState,
    pub reason: Option<String>,
    pub description: Option<String>,
}

fn health(state: HealthState, reason: &str, description: &str) -> wire::TargetHealth {
    wire::TargetHealth {
        state: Some(state.as_str().to_owned()),
        reason: Some(reason.to_owned()),
        description: Some(description.to_owned()),
    }
}

/// What DescribeTargetHealth says of a target: `registered` is its registration (none when it
/// is not registered), `in_use` whether any load balancer forwards to its group, `recorded`
/// the latest health-check outcome.
pub fn describe_health(
    registered: Option<&RegisteredTarget>,
    in_use: bool,
    health_check_enabled: bool,
    recorded: Option<&HealthResult>,
    now: f64,
) -> wire::TargetHealth {
    let Some(target) = registered else {
        return health(
            HealthState::Unused,
            "Target.NotRegistered",
            "Target is not registered to the target group",
        );
    };
    if target.is_draining(now) {
        return health(
            HealthState::Draining,
            "Target.DeregistrationInProgress",
            "Target deregistration is in progress",
        );
    }
    if !in_use {
        return health(
            HealthState::Unused,
            "Target.NotInUse",
            "Target group is not configured to receive traffic from the load balancer",
        );
    }
    if !health_check_enabled {
        return health(
            HealthState::Unavailable,
            "Target.HealthCheckDisabled",
            "Health checks are disabled",
        );
    }
    match recorded {
        Some(result) => wire::TargetHealth {
            state: Some(result.state.as_str().to_owned()),
            reason: result.reason.clone(),
            description: result.description.clone(),
        },
        None => health(
            HealthState::Initial,
            "Elb.RegistrationInProgress",
            "Target registration is in progress",
        ),
    }
}

/// EC2 instance ids: `i-` and 8 or 17 hex digits.
fn is_instance_id(id: &str) -> bool {
    id.strip_prefix("i-").is_some_and(|hex| {
        matches!(hex.len(), 8 | 17) && hex.chars().all(|c| c.is_ascii_hexdigit())
    })
}

/// Whether `address` lies in the IPv4 CIDR block `cidr`.
fn contains(cidr: &str, address: Ipv4Addr) -> bool {
    let Some((base, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(base), Ok(bits)) = (base.parse::<Ipv4Addr>(), bits.parse::<u32>()) else {
        return false;
    };
    if bits > 32 {
        return false;
    }
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    u32::from(base) & mask == u32::from(address) & mask
}

/// The ranges ALB accepts IP targets from outside the VPC: RFC 1918 and RFC 6598. Berth adds
/// loopback, where processes on the Berth host itself listen.
const OUTSIDE_VPC: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "127.0.0.0/8",
];

/// A target of a RegisterTargets call, checked against its group: `target_type` and `port` are
/// the group's, `vpc_cidrs` its VPC's blocks.
pub fn check_target(
    target: &wire::TargetDescription,
    target_type: &str,
    group_port: i32,
    vpc_cidrs: &[String],
) -> Result<RegisteredTarget, Elbv2Error> {
    let id = target.id.clone().unwrap_or_default();
    let port = target.port.unwrap_or(group_port);
    if !(1..=65_535).contains(&port) {
        return Err(Elbv2Error::Validation(format!(
            "Port '{port}' of target '{id}' must be between 1 and 65535"
        )));
    }
    let availability_zone = match target_type {
        "instance" => {
            if !is_instance_id(&id) {
                return Err(Elbv2Error::InvalidTarget(format!(
                    "The target ID '{id}' is not a valid instance ID"
                )));
            }
            if target.availability_zone.is_some() {
                return Err(Elbv2Error::Validation(
                    "An Availability Zone cannot be specified for targets of type 'instance'"
                        .into(),
                ));
            }
            None
        }
        _ => {
            let Ok(address) = id.parse::<Ipv4Addr>() else {
                return Err(Elbv2Error::InvalidTarget(format!(
                    "The IP address '{id}' is not a valid IPv4 address"
                )));
            };
            if vpc_cidrs.iter().any(|cidr| contains(cidr, address)) {
                target.availability_zone.clone()
            } else if OUTSIDE_VPC.iter().any(|cidr| contains(cidr, address)) {
                match target.availability_zone.as_deref() {
                    Some("all") | None => Some("all".to_owned()),
                    Some(zone) => {
                        return Err(Elbv2Error::Validation(format!(
                            "The Availability Zone of IP address '{id}', outside the target group's VPC, must be 'all', not '{zone}'"
                        )));
                    }
                }
            } else {
                return Err(Elbv2Error::InvalidTarget(format!(
                    "The IP address '{id}' is not within the VPC's CIDR blocks or a private address range"
                )));
            }
        }
    };
    Ok(RegisteredTarget {
        id,
        port,
        availability_zone,
        draining_until: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn description(id: &str, port: Option<i32>) -> wire::TargetDescription {
        wire::TargetDescription {
            id: Some(id.into()),
            port,
            ..Default::default()
        }
    }

    #[test]
    fn instance_targets() {
        let target = check_target(
            &description("i-0123456789abcdef0", None),
            "instance",
            80,
            &[],
        )
        .unwrap();
        assert_eq!(target.port, 80);
        assert_eq!(target.key(), "i-0123456789abcdef0:80");
        assert!(matches!(
            check_target(&description("10.0.0.1", None), "instance", 80, &[]),
            Err(Elbv2Error::InvalidTarget(_))
        ));
        assert!(
            check_target(
                &description("i-0123456789abcdef0", Some(0)),
                "instance",
                80,
                &[]
            )
            .is_err()
        );
    }

    #[test]
    fn ip_targets_come_from_the_vpc_or_private_ranges() {
        let vpc = vec!["172.31.0.0/16".to_owned()];
        let inside = check_target(&description("172.31.5.9", Some(8080)), "ip", 80, &vpc).unwrap();
        assert_eq!(inside.availability_zone, None);
        assert_eq!(inside.port, 8080);
        let private = check_target(&description("10.1.2.3", None), "ip", 80, &vpc).unwrap();
        assert_eq!(private.availability_zone.as_deref(), Some("all"));
        assert!(check_target(&description("127.0.0.1", None), "ip", 80, &vpc).is_ok());
        assert!(matches!(
            check_target(&description("8.8.8.8", None), "ip", 80, &vpc),
            Err(Elbv2Error::InvalidTarget(_))
        ));
        assert!(check_target(&description("not-an-ip", None), "ip", 80, &vpc).is_err());
    }

    #[test]
    fn health_states() {
        let target = RegisteredTarget {
            id: "i-01234567".into(),
            port: 80,
            availability_zone: None,
            draining_until: None,
        };
        let state = |h: wire::TargetHealth| (h.state.unwrap(), h.reason.unwrap());
        assert_eq!(
            state(describe_health(Some(&target), false, true, None, 0.0)),
            ("unused".into(), "Target.NotInUse".into())
        );
        assert_eq!(
            state(describe_health(Some(&target), true, true, None, 0.0)),
            ("initial".into(), "Elb.RegistrationInProgress".into())
        );
        assert_eq!(
            state(describe_health(Some(&target), true, false, None, 0.0)),
            ("unavailable".into(), "Target.HealthCheckDisabled".into())
        );
        let healthy = HealthResult {
            state: HealthState::Healthy,
            reason: None,
            description: None,
        };
        let reported = describe_health(Some(&target), true, true, Some(&healthy), 0.0);
        assert_eq!(reported.state.as_deref(), Some("healthy"));
        assert_eq!(reported.reason, None);
        let draining = RegisteredTarget {
            draining_until: Some(10.0),
            ..target.clone()
        };
        assert_eq!(
            state(describe_health(
                Some(&draining),
                true,
                true,
                Some(&healthy),
                5.0
            )),
            ("draining".into(), "Target.DeregistrationInProgress".into())
        );
        assert_eq!(
            state(describe_health(None, true, true, None, 0.0)),
            ("unused".into(), "Target.NotRegistered".into())
        );
    }
}
