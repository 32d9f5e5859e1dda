//! Load balancer and target group attributes: the keys an Application Load Balancer has,
//! their defaults (what DescribeLoadBalancerAttributes / DescribeTargetGroupAttributes return
//! for a new resource) and the values each accepts.

use std::collections::BTreeMap;

use crate::error::{Elbv2Error, invalid};

/// Attribute key → value, as the API carries them (all strings).
pub type Attributes = BTreeMap<String, String>;

/// What values one attribute takes.
#[derive(Clone, Copy)]
enum Kind {
    Bool,
    /// An integer within bounds.
    Range(i64, i64),
    OneOf(&'static [&'static str]),
    /// Any text (S3 bucket names and prefixes, cookie names).
    Text,
}

/// An ALB's attributes with their defaults, in the order AWS lists them.
const LOAD_BALANCER: &[(&str, &str, Kind)] = &[
    ("access_logs.s3.enabled", "false", Kind::Bool),
    ("access_logs.s3.bucket", "", Kind::Text),
    ("access_logs.s3.prefix", "", Kind::Text),
    ("connection_logs.s3.enabled", "false", Kind::Bool),
    ("connection_logs.s3.bucket", "", Kind::Text),
    ("connection_logs.s3.prefix", "", Kind::Text),
    ("health_check_logs.s3.enabled", "false", Kind::Bool),
    ("health_check_logs.s3.bucket", "", Kind::Text),
    ("health_check_logs.s3.prefix", "", Kind::Text),
    ("idle_timeout.timeout_seconds", "60", Kind::Range(1, 4000)),
    (
        "client_keep_alive.seconds",
        "3600",
        Kind::Range(60, 604_800),
    ),
    ("deletion_protection.enabled", "false", Kind::Bool),
    ("routing.http2.enabled", "true", Kind::Bool),
    (
        "routing.http.drop_invalid_header_fields.enabled",
        "false",
        Kind::Bool,
    ),
    ("routing.http.xff_client_port.enabled", "false", Kind::Bool),
    (
        "routing.http.preserve_host_header.enabled",
        "false",
        Kind::Bool,
    ),
    (
        "routing.http.xff_header_processing.mode",
        "append",
        Kind::OneOf(&["append", "preserve", "remove"]),
    ),
    (
        "routing.http.desync_mitigation_mode",
        "defensive",
        Kind::OneOf(&["monitor", "defensive", "strictest"]),
    ),
    (
        "routing.http.x_amzn_tls_version_and_cipher_suite.enabled",
        "false",
        Kind::Bool,
    ),
    // Always on for an ALB; AWS refuses to turn it off.
    (
        "load_balancing.cross_zone.enabled",
        "true",
        Kind::OneOf(&["true"]),
    ),
    ("waf.fail_open.enabled", "false", Kind::Bool),
    ("zonal_shift.config.enabled", "false", Kind::Bool),
];

/// An ALB target group's attributes (instance and ip targets) with their defaults.
const TARGET_GROUP: &[(&str, &str, Kind)] = &[
    (
        "deregistration_delay.timeout_seconds",
        "300",
        Kind::Range(0, 3600),
    ),
    ("stickiness.enabled", "false", Kind::Bool),
    (
        "stickiness.type",
        "lb_cookie",
        Kind::OneOf(&["lb_cookie", "app_cookie"]),
    ),
    (
        "stickiness.lb_cookie.duration_seconds",
        "86400",
        Kind::Range(1, 604_800),
    ),
    ("stickiness.app_cookie.cookie_name", "", Kind::Text),
    (
        "stickiness.app_cookie.duration_seconds",
        "86400",
        Kind::Range(1, 604_800),
    ),
    (
        "load_balancing.algorithm.type",
        "round_robin",
        Kind::OneOf(&[
            "round_robin",
            "least_outstanding_requests",
            "weighted_random",
        ]),
    ),
    (
        "load_balancing.algorithm.anomaly_mitigation",
        "off",
        Kind::OneOf(&["on", "off"]),
    ),
    // 0 (off) or 30–900, checked below.
    ("slow_start.duration_seconds", "0", Kind::Range(0, 900)),
    (
        "load_balancing.cross_zone.enabled",
        "use_load_balancer_configuration",
        Kind::OneOf(&["true", "false", "use_load_balancer_configuration"]),
    ),
    (
        "target_group_health.dns_failover.minimum_healthy_targets.count",
        "1",
        Kind::Range(1, 1_000_000),
    ),
    (
        "target_group_health.dns_failover.minimum_healthy_targets.percentage",
        "off",
        Kind::Text,
    ),
    (
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count",
        "1",
        Kind::Range(1, 1_000_000),
    ),
    (
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage",
        "off",
        Kind::Text,
    ),
];

fn defaults(table: &[(&str, &str, Kind)]) -> Attributes {
    table
        .iter()
        .map(|(key, value, _)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

pub fn load_balancer_defaults() -> Attributes {
    defaults(LOAD_BALANCER)
}

pub fn target_group_defaults() -> Attributes {
    defaults(TARGET_GROUP)
}

fn check_value(key: &str, value: &str, kind: Kind) -> Result<(), Elbv2Error> {
    let ok = match kind {
        Kind::Bool => matches!(value, "true" | "false"),
        Kind::Range(low, high) => value
            .parse::<i64>()
            .is_ok_and(|v| (low..=high).contains(&v)),
        Kind::OneOf(values) => values.contains(&value),
        Kind::Text => true,
    };
    if ok {
        return Ok(());
    }
    let expected = match kind {
        Kind::Bool => "must be 'true' or 'false'".to_owned(),
        Kind::Range(low, high) => format!("must be an integer between {low} and {high}"),
        Kind::OneOf(values) => format!("must be one of [{}]", values.join(", ")),
        Kind::Text => unreachable!("text values are always accepted"),
    };
    Err(invalid(format!(
        "The value '{value}' of attribute '{key}' {expected}"
    )))
}

/// `current` with `changes` applied, each key known and each value valid; the changes are the
/// request's `(key, value)` pairs.
fn apply(
    table: &[(&str, &str, Kind)],
    what: &str,
    current: &Attributes,
    changes: &[(String, String)],
) -> Result<Attributes, Elbv2Error> {
    let mut out = current.clone();
    for (key, value) in changes {
        let Some((_, _, kind)) = table.iter().find(|(k, _, _)| k == key) else {
            return Err(invalid(format!(
                "{what} attribute key '{key}' is not recognized"
            )));
        };
        check_value(key, value, *kind)?;
        out.insert(key.clone(), value.clone());
    }
    Ok(out)
}

pub fn modify_load_balancer(
    current: &Attributes,
    changes: &[(String, String)],
) -> Result<Attributes, Elbv2Error> {
    apply(LOAD_BALANCER, "Load balancer", current, changes)
}

/// ModifyTargetGroupAttributes: also slow start is 0 or 30–900 seconds and cannot be combined
/// with the least outstanding requests algorithm.
pub fn modify_target_group(
    current: &Attributes,
    changes: &[(String, String)],
) -> Result<Attributes, Elbv2Error> {
    let out = apply(TARGET_GROUP, "Target group", current, changes)?;
    let slow_start: i64 = out
        .get("slow_start.duration_seconds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if slow_start != 0 && slow_start < 30 {
        return Err(invalid(
            "The value of 'slow_start.duration_seconds' must be 0 (disabled) or between 30 and 900",
        ));
    }
    let least_outstanding = out.get("load_balancing.algorithm.type").map(String::as_str)
        == Some("least_outstanding_requests");
    if slow_start != 0 && least_outstanding {
        return Err(Elbv2Error::InvalidConfigurationRequest(
            "Slow start mode cannot be enabled with the least outstanding requests algorithm"
                .into(),
        ));
    }
    Ok(out)
}

/// Whether a load balancer's attributes forbid deleting it.
pub fn deletion_protected(attributes: &Attributes) -> bool {
    attributes
        .get("deletion_protection.enabled")
        .map(String::as_str)
        == Some("true")
}

/// The deregistration delay in seconds.
pub fn deregistration_delay(attributes: &Attributes) -> u64 {
    attributes
        .get("deregistration_delay.timeout_seconds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(key: &str, value: &str) -> Vec<(String, String)> {
        vec![(key.to_owned(), value.to_owned())]
    }

    #[test]
    fn load_balancer_defaults_and_bounds() {
        let attrs = load_balancer_defaults();
        assert_eq!(attrs["idle_timeout.timeout_seconds"], "60");
        assert_eq!(attrs["routing.http2.enabled"], "true");
        assert_eq!(attrs["deletion_protection.enabled"], "false");
        assert!(!deletion_protected(&attrs));
        let changed =
            modify_load_balancer(&attrs, &change("idle_timeout.timeout_seconds", "4000")).unwrap();
        assert_eq!(changed["idle_timeout.timeout_seconds"], "4000");
        assert_eq!(
            modify_load_balancer(&attrs, &change("idle_timeout.timeout_seconds", "0")).unwrap_err(),
            invalid(
                "The value '0' of attribute 'idle_timeout.timeout_seconds' must be an integer between 1 and 4000"
            )
        );
        assert_eq!(
            modify_load_balancer(&attrs, &change("bogus", "1")).unwrap_err(),
            invalid("Load balancer attribute key 'bogus' is not recognized")
        );
        assert!(modify_load_balancer(&attrs, &change("routing.http2.enabled", "yes")).is_err());
        assert!(deletion_protected(
            &modify_load_balancer(&attrs, &change("deletion_protection.enabled", "true")).unwrap()
        ));
    }

    #[test]
    fn target_group_defaults_and_rules() {
        let attrs = target_group_defaults();
        assert_eq!(deregistration_delay(&attrs), 300);
        assert_eq!(attrs["stickiness.lb_cookie.duration_seconds"], "86400");
        assert!(
            modify_target_group(
                &attrs,
                &change("deregistration_delay.timeout_seconds", "3601")
            )
            .is_err()
        );
        assert!(modify_target_group(&attrs, &change("stickiness.type", "source_ip")).is_err());
        assert!(
            modify_target_group(
                &attrs,
                &change("stickiness.lb_cookie.duration_seconds", "0")
            )
            .is_err()
        );
        assert!(modify_target_group(&attrs, &change("slow_start.duration_seconds", "29")).is_err());
        let slow =
            modify_target_group(&attrs, &change("slow_start.duration_seconds", "30")).unwrap();
        assert_eq!(
            modify_target_group(
                &slow,
                &change(
                    "load_balancing.algorithm.type",
                    "least_outstanding_requests"
                )
            )
            .unwrap_err()
            .to_string(),
            "Slow start mode cannot be enabled with the least outstanding requests algorithm"
        );
        assert!(
            modify_target_group(
                &attrs,
                &change(
                    "load_balancing.algorithm.type",
                    "least_outstanding_requests"
                )
            )
            .is_ok()
        );
    }
}
