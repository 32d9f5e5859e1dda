//! Target groups: ALB's defaults and bounds for health checks and matchers, and the rules of
//! CreateTargetGroup and ModifyTargetGroup beyond the model's own constraints.

use berth_elbv2_wire as wire;

use crate::error::{Elbv2Error, invalid};

/// The HTTP codes or ranges a health check's answer must have: `200`, `200,202`, `200-299`.
/// Health checks of HTTP target groups accept codes 200–499; gRPC ones 0–99.
pub fn parse_matcher(codes: &str, grpc: bool) -> Result<Vec<(u16, u16)>, Elbv2Error> {
    let (low, high) = if grpc { (0, 99) } else { (200, 499) };
    let bad = || {
        invalid(format!(
            "Health check matcher '{codes}' must be a code, a comma-separated list of codes or a range of codes between {low} and {high}"
        ))
    };
    let code = |text: &str| -> Result<u16, Elbv2Error> {
        let value: u16 = text.trim().parse().map_err(|_| bad())?;
        if (low..=high).contains(&value) {
            Ok(value)
        } else {
            Err(bad())
        }
    };
    let mut ranges = Vec::new();
    for part in codes.split(',') {
        let range = match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (code(from)?, code(to)?);
                if from > to {
                    return Err(bad());
                }
                (from, to)
            }
            None => {
                let value = code(part)?;
                (value, value)
            }
        };
        ranges.push(range);
    }
    Ok(ranges)
}

/// What CreateTargetGroup makes of its input: ALB's defaults filled in and every rule checked.
/// `arn` is the new group's; `vpc_exists` tells whether the named VPC is one of the region's.
pub fn create(
    input: &wire::CreateTargetGroupInput,
    arn: String,
    vpc_exists: impl Fn(&str) -> bool,
) -> Result<wire::TargetGroup, Elbv2Error> {
    let name = input.name.clone().unwrap_or_default();
    crate::names::check_target_group_name(&name)?;
    let target_type = input
        .target_type
        .clone()
        .unwrap_or_else(|| "instance".into());
    if !matches!(target_type.as_str(), "instance" | "ip") {
        return Err(invalid(format!(
            "Target type '{target_type}' is not supported: Berth's target groups take instance or ip targets"
        )));
    }
    let Some(protocol) = input.protocol.clone() else {
        return Err(invalid(
            "A protocol must be specified for target groups with target type 'instance' or 'ip'",
        ));
    };
    if !matches!(protocol.as_str(), "HTTP" | "HTTPS") {
        return Err(Elbv2Error::UnsupportedProtocol(format!(
            "Protocol '{protocol}' is not supported: Berth serves Application Load Balancers, whose target groups use HTTP or HTTPS"
        )));
    }
    let Some(port) = input.port else {
        return Err(invalid(
            "A port must be specified for target groups with target type 'instance' or 'ip'",
        ));
    };
    let Some(vpc_id) = input.vpc_id.clone() else {
        return Err(invalid(
            "A VPC ID must be specified for target groups with target type 'instance' or 'ip'",
        ));
    };
    if !vpc_exists(&vpc_id) {
        return Err(invalid(format!("The VPC ID '{vpc_id}' is not found")));
    }
    let ip_address_type = input
        .ip_address_type
        .clone()
        .unwrap_or_else(|| "ipv4".into());
    if ip_address_type != "ipv4" {
        return Err(invalid(format!(
            "IP address type '{ip_address_type}' is not supported: Berth's target groups are IPv4"
        )));
    }
    if input.target_control_port.is_some() {
        return Err(invalid(
            "A target control port is not supported by Application Load Balancer target groups",
        ));
    }
    let protocol_version = input
        .protocol_version
        .clone()
        .unwrap_or_else(|| "HTTP1".into());
    if !matches!(protocol_version.as_str(), "HTTP1" | "HTTP2" | "GRPC") {
        return Err(invalid(format!(
            "Protocol version '{protocol_version}' is not supported; use HTTP1, HTTP2 or GRPC"
        )));
    }
    let grpc = protocol_version == "GRPC";
    let matcher = match &input.matcher {
        Some(m) => m.clone(),
        None if grpc => wire::Matcher {
            grpc_code: Some("12".into()),
            http_code: None,
        },
        None => wire::Matcher {
            grpc_code: None,
            http_code: Some("200".into()),
        },
    };
    let group = wire::TargetGroup {
        target_group_arn: Some(arn),
        target_group_name: Some(name),
        protocol: Some(protocol.clone()),
        protocol_version: Some(protocol_version),
        port: Some(port),
        vpc_id: Some(vpc_id),
        target_type: Some(target_type),
        ip_address_type: Some(ip_address_type),
        health_check_enabled: Some(input.health_check_enabled.unwrap_or(true)),
        health_check_protocol: Some(input.health_check_protocol.clone().unwrap_or(protocol)),
        health_check_port: Some(
            input
                .health_check_port
                .clone()
                .unwrap_or_else(|| "traffic-port".into()),
        ),
        health_check_path: Some(
            input
                .health_check_path
                .clone()
                .unwrap_or_else(|| "/".into()),
        ),
        health_check_interval_seconds: Some(input.health_check_interval_seconds.unwrap_or(30)),
        health_check_timeout_seconds: Some(input.health_check_timeout_seconds.unwrap_or(5)),
        healthy_threshold_count: Some(input.healthy_threshold_count.unwrap_or(5)),
        unhealthy_threshold_count: Some(input.unhealthy_threshold_count.unwrap_or(2)),
        matcher: Some(matcher),
        load_balancer_arns: Some(Vec::new()),
        target_control_port: None,
    };
    check_health_check(&group)?;
    Ok(group)
}

/// ModifyTargetGroup: the health-check settings given replace the group's, then the whole
/// check is validated again (a new interval must still exceed the timeout).
pub fn modify(
    group: &wire::TargetGroup,
    input: &wire::ModifyTargetGroupInput,
) -> Result<wire::TargetGroup, Elbv2Error> {
    let mut changed = group.clone();
    macro_rules! replace {
        ($field:ident) => {
            if let Some(value) = &input.$field {
                changed.$field = Some(value.clone());
            }
        };
    }
    replace!(health_check_enabled);
    replace!(health_check_protocol);
    replace!(health_check_port);
    replace!(health_check_path);
    replace!(health_check_interval_seconds);
    replace!(health_check_timeout_seconds);
    replace!(healthy_threshold_count);
    replace!(unhealthy_threshold_count);
    replace!(matcher);
    check_health_check(&changed)?;
    Ok(changed)
}

/// ALB's health-check rules beyond the model's bounds (interval 5–300, timeout 2–120,
/// thresholds 2–10, which the model itself enforces).
fn check_health_check(group: &wire::TargetGroup) -> Result<(), Elbv2Error> {
    let protocol = group.health_check_protocol.as_deref().unwrap_or("HTTP");
    if !matches!(protocol, "HTTP" | "HTTPS") {
        return Err(invalid(format!(
            "Health check protocol '{protocol}' is not supported for target groups with the '{}' protocol",
            group.protocol.as_deref().unwrap_or("HTTP")
        )));
    }
    let port = group.health_check_port.as_deref().unwrap_or("traffic-port");
    if port != "traffic-port" && !port.parse::<u16>().is_ok_and(|p| p >= 1) {
        return Err(invalid(format!(
            "Health check port '{port}' must be 'traffic-port' or a port number between 1 and 65535"
        )));
    }
    let path = group.health_check_path.as_deref().unwrap_or("/");
    if !path.starts_with('/') {
        return Err(invalid(format!(
            "Health check path '{path}' must begin with a '/' character"
        )));
    }
    let interval = group.health_check_interval_seconds.unwrap_or(30);
    let timeout = group.health_check_timeout_seconds.unwrap_or(5);
    if timeout >= interval {
        return Err(invalid(
            "Health check interval must be greater than the timeout.",
        ));
    }
    let grpc = group.protocol_version.as_deref() == Some("GRPC");
    match group.matcher.as_ref() {
        Some(wire::Matcher {
            http_code: Some(codes),
            grpc_code: None,
        }) if !grpc => parse_matcher(codes, false).map(drop),
        Some(wire::Matcher {
            grpc_code: Some(codes),
            http_code: None,
        }) if grpc => parse_matcher(codes, true).map(drop),
        _ if grpc => Err(invalid(
            "A gRPC target group's matcher must specify a GrpcCode and no HttpCode",
        )),
        _ => Err(invalid(
            "The matcher must specify an HttpCode and no GrpcCode",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> wire::CreateTargetGroupInput {
        wire::CreateTargetGroupInput {
            name: Some("web".into()),
            protocol: Some("HTTP".into()),
            port: Some(80),
            vpc_id: Some("vpc-1".into()),
            ..Default::default()
        }
    }

    fn create_one(input: &wire::CreateTargetGroupInput) -> Result<wire::TargetGroup, Elbv2Error> {
        create(input, "arn".into(), |vpc| vpc == "vpc-1")
    }

    #[test]
    fn defaults_are_albs() {
        let group = create_one(&input()).unwrap();
        assert_eq!(group.target_type.as_deref(), Some("instance"));
        assert_eq!(group.health_check_enabled, Some(true));
        assert_eq!(group.health_check_protocol.as_deref(), Some("HTTP"));
        assert_eq!(group.health_check_port.as_deref(), Some("traffic-port"));
        assert_eq!(group.health_check_path.as_deref(), Some("/"));
        assert_eq!(group.health_check_interval_seconds, Some(30));
        assert_eq!(group.health_check_timeout_seconds, Some(5));
        assert_eq!(group.healthy_threshold_count, Some(5));
        assert_eq!(group.unhealthy_threshold_count, Some(2));
        assert_eq!(group.matcher.unwrap().http_code.as_deref(), Some("200"));
        assert_eq!(group.protocol_version.as_deref(), Some("HTTP1"));
    }

    #[test]
    fn timeout_must_be_below_interval() {
        let mut request = input();
        request.health_check_interval_seconds = Some(10);
        request.health_check_timeout_seconds = Some(10);
        assert_eq!(
            create_one(&request).unwrap_err(),
            invalid("Health check interval must be greater than the timeout.")
        );
        let group = create_one(&input()).unwrap();
        let shorter = wire::ModifyTargetGroupInput {
            health_check_interval_seconds: Some(5),
            ..Default::default()
        };
        assert!(modify(&group, &shorter).is_err());
        let both = wire::ModifyTargetGroupInput {
            health_check_interval_seconds: Some(5),
            health_check_timeout_seconds: Some(2),
            ..Default::default()
        };
        assert_eq!(
            modify(&group, &both).unwrap().health_check_interval_seconds,
            Some(5)
        );
    }

    #[test]
    fn required_members_and_protocols() {
        let mut request = input();
        request.vpc_id = None;
        assert!(matches!(
            create_one(&request),
            Err(Elbv2Error::Validation(_))
        ));
        let mut request = input();
        request.vpc_id = Some("vpc-2".into());
        assert_eq!(
            create_one(&request).unwrap_err(),
            invalid("The VPC ID 'vpc-2' is not found")
        );
        let mut request = input();
        request.protocol = Some("TCP".into());
        assert!(matches!(
            create_one(&request),
            Err(Elbv2Error::UnsupportedProtocol(_))
        ));
        let mut request = input();
        request.target_type = Some("lambda".into());
        assert!(create_one(&request).is_err());
        let mut request = input();
        request.health_check_path = Some("health".into());
        assert!(create_one(&request).is_err());
    }

    #[test]
    fn matchers() {
        assert_eq!(parse_matcher("200", false).unwrap(), vec![(200, 200)]);
        assert_eq!(
            parse_matcher("200,202", false).unwrap(),
            vec![(200, 200), (202, 202)]
        );
        assert_eq!(parse_matcher("200-299", false).unwrap(), vec![(200, 299)]);
        assert!(parse_matcher("199", false).is_err());
        assert!(parse_matcher("500", false).is_err());
        assert!(parse_matcher("299-200", false).is_err());
        assert!(parse_matcher("abc", false).is_err());
        assert_eq!(parse_matcher("0-99", true).unwrap(), vec![(0, 99)]);
        let mut request = input();
        request.matcher = Some(wire::Matcher {
            http_code: Some("200-399".into()),
            grpc_code: None,
        });
        assert!(create_one(&request).is_ok());
        request.matcher = Some(wire::Matcher {
            http_code: Some("600".into()),
            grpc_code: None,
        });
        assert!(create_one(&request).is_err());
    }
}
