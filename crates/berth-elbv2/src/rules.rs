//! Listener rules: conditions with ALB's value rules and limits, actions (forward, redirect,
//! fixed-response) with their ordering rules, and priorities.

use std::net::IpAddr;

use berth_elbv2_wire as wire;

use crate::error::{Elbv2Error, invalid};

/// At most 5 condition values per rule, all conditions together (`condition-values-per-alb-rule`).
pub const CONDITION_VALUES_PER_RULE: usize = 5;
/// At most 5 wildcards per rule (`condition-wildcards-per-alb-rule`).
pub const WILDCARDS_PER_RULE: usize = 5;
/// At most 5 target groups in one forward action (`target-groups-per-action-on-application-load-balancer`).
pub const TARGET_GROUPS_PER_ACTION: usize = 5;
/// Condition values are at most 128 characters.
const VALUE_LENGTH: usize = 128;

/// A rule's priority: 1–50000, unique per listener; the default rule has none.
pub fn check_priority(priority: i32) -> Result<(), Elbv2Error> {
    if (1..=50_000).contains(&priority) {
        Ok(())
    } else {
        Err(invalid(format!(
            "Priority '{priority}' must be between 1 and 50000"
        )))
    }
}

/// Counts what the per-rule limits count while conditions are checked.
#[derive(Default)]
struct Budget {
    values: usize,
    wildcards: usize,
}

impl Budget {
    fn take(&mut self, value: &str) {
        self.values += 1;
        self.wildcards += value.chars().filter(|c| matches!(c, '*' | '?')).count();
    }
}

fn check_length(field: &str, value: &str) -> Result<(), Elbv2Error> {
    if value.is_empty() || value.chars().count() > VALUE_LENGTH {
        return Err(invalid(format!(
            "The '{field}' condition value '{value}' must be between 1 and {VALUE_LENGTH} characters"
        )));
    }
    Ok(())
}

/// Host names: letters, digits, `-`, `.`, and the wildcards `*` and `?`.
fn check_host(value: &str) -> Result<(), Elbv2Error> {
    check_length("host-header", value)?;
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '*' | '?'))
    {
        return Err(invalid(format!(
            "The 'host-header' condition value '{value}' can only contain letters, digits, hyphens, periods and the wildcards * and ?"
        )));
    }
    Ok(())
}

/// Paths: letters, digits and `_-.$/~"'@:+&*?`.
fn check_path(value: &str) -> Result<(), Elbv2Error> {
    check_length("path-pattern", value)?;
    if !value.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                '_' | '-' | '.' | '$' | '/' | '~' | '"' | '\'' | '@' | ':' | '+' | '&' | '*' | '?'
            )
    }) {
        return Err(invalid(format!(
            "The 'path-pattern' condition value '{value}' contains a character that is not allowed"
        )));
    }
    Ok(())
}

/// HTTP method names: uppercase letters, `-` and `_`, at most 40 characters, no wildcards.
fn check_method(value: &str) -> Result<(), Elbv2Error> {
    if value.is_empty()
        || value.len() > 40
        || !value
            .chars()
            .all(|c| c.is_ascii_uppercase() || matches!(c, '-' | '_'))
    {
        return Err(invalid(format!(
            "The 'http-request-method' condition value '{value}' must be 1 to 40 uppercase letters, hyphens or underscores"
        )));
    }
    Ok(())
}

/// Header names: a token of at most 40 characters, no wildcards.
fn check_header_name(name: &str) -> Result<(), Elbv2Error> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'+-.^_`|~".contains(c);
    if name.is_empty() || name.len() > 40 || !name.chars().all(token) {
        return Err(invalid(format!(
            "The 'http-header' condition header name '{name}' must be a valid HTTP header name of at most 40 characters"
        )));
    }
    Ok(())
}

/// A CIDR block, IPv4 or IPv6.
fn check_cidr(value: &str) -> Result<(), Elbv2Error> {
    let bad = || {
        invalid(format!(
            "The 'source-ip' condition value '{value}' must be an IPv4 or IPv6 CIDR block"
        ))
    };
    let (address, bits) = value.split_once('/').ok_or_else(bad)?;
    let address: IpAddr = address.parse().map_err(|_| bad())?;
    let bits: u8 = bits.parse().map_err(|_| bad())?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    if bits > max {
        return Err(bad());
    }
    Ok(())
}

/// The values one condition carries: the legacy `Values` or its field's config, never both.
fn values_of<'a>(
    condition: &'a wire::RuleCondition,
    config: Option<&'a Vec<String>>,
    field: &str,
) -> Result<Vec<String>, Elbv2Error> {
    match (&condition.values, config) {
        (Some(legacy), Some(_)) if !legacy.is_empty() => Err(invalid(format!(
            "You cannot specify both 'Values' and the '{field}' condition's configuration"
        ))),
        (_, Some(values)) => Ok(values.clone()),
        (Some(legacy), None) => Ok(legacy.clone()),
        (None, None) => Ok(Vec::new()),
    }
}

/// Checks a rule's conditions and returns them as ALB describes them: each with its field's
/// config, and for `host-header` and `path-pattern` also the legacy `Values`.
pub fn check_conditions(
    conditions: &[wire::RuleCondition],
) -> Result<Vec<wire::RuleCondition>, Elbv2Error> {
    if conditions.is_empty() {
        return Err(invalid("A rule must have at least one condition"));
    }
    let mut budget = Budget::default();
    let mut seen_once: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for condition in conditions {
        let field = condition.field.as_deref().unwrap_or_default();
        if matches!(
            field,
            "host-header" | "path-pattern" | "http-request-method" | "source-ip"
        ) {
            if seen_once.contains(&field) {
                return Err(invalid(format!(
                    "A rule can contain only one '{field}' condition"
                )));
            }
            seen_once.push(field);
        }
        if condition.regex_values.is_some() {
            return Err(invalid(
                "Regular expression condition values are not supported",
            ));
        }
        let mut normalized = wire::RuleCondition {
            field: Some(field.to_owned()),
            ..Default::default()
        };
        let require = |values: &Vec<String>| {
            if values.is_empty() {
                Err(invalid(format!(
                    "A '{field}' condition must have at least one value"
                )))
            } else {
                Ok(())
            }
        };
        match field {
            "host-header" => {
                let config = condition.host_header_config.as_ref();
                let values = values_of(condition, config.and_then(|c| c.values.as_ref()), field)?;
                require(&values)?;
                for value in &values {
                    check_host(value)?;
                    budget.take(value);
                }
                normalized.values = Some(values.clone());
                normalized.host_header_config = Some(wire::HostHeaderConditionConfig {
                    values: Some(values),
                    ..Default::default()
                });
            }
            "path-pattern" => {
                let config = condition.path_pattern_config.as_ref();
                let values = values_of(condition, config.and_then(|c| c.values.as_ref()), field)?;
                require(&values)?;
                for value in &values {
                    check_path(value)?;
                    budget.take(value);
                }
                normalized.values = Some(values.clone());
                normalized.path_pattern_config = Some(wire::PathPatternConditionConfig {
                    values: Some(values),
                    ..Default::default()
                });
            }
            "http-request-method" => {
                let config = condition.http_request_method_config.as_ref();
                let values = values_of(condition, config.and_then(|c| c.values.as_ref()), field)?;
                require(&values)?;
                for value in &values {
                    check_method(value)?;
                    budget.values += 1;
                }
                normalized.http_request_method_config =
                    Some(wire::HttpRequestMethodConditionConfig {
                        values: Some(values),
                    });
            }
            "source-ip" => {
                let config = condition.source_ip_config.as_ref();
                let values = values_of(condition, config.and_then(|c| c.values.as_ref()), field)?;
                require(&values)?;
                for value in &values {
                    check_cidr(value)?;
                    budget.values += 1;
                }
                normalized.source_ip_config = Some(wire::SourceIpConditionConfig {
                    values: Some(values),
                });
            }
            "http-header" => {
                let Some(config) = condition.http_header_config.as_ref() else {
                    return Err(invalid(
                        "An 'http-header' condition requires an HttpHeaderConfig",
                    ));
                };
                let name = config.http_header_name.clone().unwrap_or_default();
                check_header_name(&name)?;
                let values = config.values.clone().unwrap_or_default();
                require(&values)?;
                for value in &values {
                    check_length(field, value)?;
                    budget.take(value);
                }
                normalized.http_header_config = Some(wire::HttpHeaderConditionConfig {
                    http_header_name: Some(name),
                    values: Some(values),
                    ..Default::default()
                });
            }
            "query-string" => {
                let Some(config) = condition.query_string_config.as_ref() else {
                    return Err(invalid(
                        "A 'query-string' condition requires a QueryStringConfig",
                    ));
                };
                let pairs = config.values.clone().unwrap_or_default();
                if pairs.is_empty() {
                    return Err(invalid(
                        "A 'query-string' condition must have at least one value",
                    ));
                }
                for pair in &pairs {
                    if let Some(key) = &pair.key {
                        check_length(field, key)?;
                    }
                    let value = pair.value.clone().unwrap_or_default();
                    check_length(field, &value)?;
                    budget.take(&format!("{}{value}", pair.key.as_deref().unwrap_or("")));
                }
                normalized.query_string_config = Some(wire::QueryStringConditionConfig {
                    values: Some(pairs),
                });
            }
            other => {
                return Err(invalid(format!(
                    "Condition field '{other}' must be one of [http-header, http-request-method, host-header, path-pattern, query-string, source-ip]"
                )));
            }
        }
        out.push(normalized);
    }
    if budget.values > CONDITION_VALUES_PER_RULE {
        return Err(invalid(format!(
            "A rule can have at most '{CONDITION_VALUES_PER_RULE}' condition values"
        )));
    }
    if budget.wildcards > WILDCARDS_PER_RULE {
        return Err(invalid(format!(
            "A rule can have at most '{WILDCARDS_PER_RULE}' wildcards in its condition values"
        )));
    }
    Ok(out)
}

/// The target groups an action list forwards to.
pub fn target_groups(actions: &[wire::Action]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for action in actions {
        let tuples = action
            .forward_config
            .as_ref()
            .and_then(|f| f.target_groups.as_ref());
        let arns = tuples
            .into_iter()
            .flatten()
            .filter_map(|t| t.target_group_arn.clone())
            .chain(action.target_group_arn.clone());
        for arn in arns {
            if !out.contains(&arn) {
                out.push(arn);
            }
        }
    }
    out
}

const CONTENT_TYPES: &[&str] = &[
    "text/plain",
    "text/css",
    "text/html",
    "application/javascript",
    "application/json",
];

fn check_forward(action: &wire::Action) -> Result<wire::Action, Elbv2Error> {
    let config = action.forward_config.clone();
    let tuples = config
        .as_ref()
        .and_then(|c| c.target_groups.clone())
        .unwrap_or_default();
    let tuples = match (&action.target_group_arn, tuples.is_empty()) {
        (None, true) => {
            return Err(invalid(
                "A forward action must specify a target group ARN or a forward configuration",
            ));
        }
        (Some(arn), true) => vec![wire::TargetGroupTuple {
            target_group_arn: Some(arn.clone()),
            weight: Some(1),
        }],
        (Some(arn), false) => {
            if tuples.len() != 1 || tuples[0].target_group_arn.as_ref() != Some(arn) {
                return Err(invalid(
                    "You cannot specify both a target group ARN and a forward configuration with different target groups",
                ));
            }
            tuples
        }
        (None, false) => tuples,
    };
    if tuples.len() > TARGET_GROUPS_PER_ACTION {
        return Err(invalid(format!(
            "A forward action can have at most '{TARGET_GROUPS_PER_ACTION}' target groups"
        )));
    }
    let mut seen = Vec::new();
    let mut normalized = Vec::new();
    for tuple in &tuples {
        let Some(arn) = tuple.target_group_arn.clone() else {
            return Err(invalid(
                "Each target group in a forward action needs a TargetGroupArn",
            ));
        };
        if seen.contains(&arn) {
            return Err(invalid(format!(
                "Target group '{arn}' is listed more than once in the forward action"
            )));
        }
        seen.push(arn.clone());
        let weight = tuple.weight.unwrap_or(1);
        if !(0..=999).contains(&weight) {
            return Err(invalid(format!(
                "The weight '{weight}' of target group '{arn}' must be between 0 and 999"
            )));
        }
        normalized.push(wire::TargetGroupTuple {
            target_group_arn: Some(arn),
            weight: Some(weight),
        });
    }
    let stickiness = config
        .and_then(|c| c.target_group_stickiness_config)
        .unwrap_or_default();
    let enabled = stickiness.enabled.unwrap_or(false);
    if enabled {
        match stickiness.duration_seconds {
            Some(seconds) if (1..=604_800).contains(&seconds) => {}
            Some(seconds) => {
                return Err(invalid(format!(
                    "The target group stickiness duration '{seconds}' must be between 1 and 604800 seconds"
                )));
            }
            None => {
                return Err(invalid(
                    "A stickiness duration must be specified when target group stickiness is enabled",
                ));
            }
        }
    }
    // ALB describes a single-group forward with both forms.
    let single = (normalized.len() == 1).then(|| normalized[0].target_group_arn.clone());
    Ok(wire::Action {
        r#type: Some("forward".into()),
        order: action.order,
        target_group_arn: single.flatten(),
        forward_config: Some(wire::ForwardActionConfig {
            target_groups: Some(normalized),
            target_group_stickiness_config: Some(wire::TargetGroupStickinessConfig {
                enabled: Some(enabled),
                duration_seconds: stickiness.duration_seconds.filter(|_| enabled),
            }),
        }),
        ..Default::default()
    })
}

fn check_redirect(action: &wire::Action) -> Result<wire::Action, Elbv2Error> {
    let Some(config) = action.redirect_config.clone() else {
        return Err(invalid("A redirect action requires a RedirectConfig"));
    };
    let protocol = config
        .protocol
        .clone()
        .unwrap_or_else(|| "#{protocol}".into());
    if !matches!(protocol.as_str(), "HTTP" | "HTTPS" | "#{protocol}") {
        return Err(invalid(format!(
            "The redirect protocol '{protocol}' must be HTTP, HTTPS or #{{protocol}}"
        )));
    }
    let port = config.port.clone().unwrap_or_else(|| "#{port}".into());
    if port != "#{port}" && !port.parse::<u16>().is_ok_and(|p| p >= 1) {
        return Err(invalid(format!(
            "The redirect port '{port}' must be a port between 1 and 65535 or #{{port}}"
        )));
    }
    let host = config.host.clone().unwrap_or_else(|| "#{host}".into());
    let path = config.path.clone().unwrap_or_else(|| "/#{path}".into());
    if !path.starts_with('/') {
        return Err(invalid(format!(
            "The redirect path '{path}' must start with a '/' character"
        )));
    }
    let query = config.query.clone().unwrap_or_else(|| "#{query}".into());
    if query.starts_with('?') {
        return Err(invalid(format!(
            "The redirect query '{query}' cannot start with a '?' character"
        )));
    }
    if protocol == "#{protocol}"
        && port == "#{port}"
        && host == "#{host}"
        && path == "/#{path}"
        && query == "#{query}"
    {
        return Err(invalid(
            "The redirect must change at least one of protocol, port, host, path or query, or it would loop",
        ));
    }
    Ok(wire::Action {
        r#type: Some("redirect".into()),
        order: action.order,
        redirect_config: Some(wire::RedirectActionConfig {
            protocol: Some(protocol),
            port: Some(port),
            host: Some(host),
            path: Some(path),
            query: Some(query),
            status_code: config.status_code,
        }),
        ..Default::default()
    })
}

fn check_fixed_response(action: &wire::Action) -> Result<wire::Action, Elbv2Error> {
    let Some(config) = action.fixed_response_config.clone() else {
        return Err(invalid(
            "A fixed-response action requires a FixedResponseConfig",
        ));
    };
    if let Some(content_type) = &config.content_type
        && !CONTENT_TYPES.contains(&content_type.as_str())
    {
        return Err(invalid(format!(
            "The content type '{content_type}' must be one of [{}]",
            CONTENT_TYPES.join(", ")
        )));
    }
    Ok(wire::Action {
        r#type: Some("fixed-response".into()),
        order: action.order,
        fixed_response_config: Some(config),
        ..Default::default()
    })
}

/// Checks a listener's default actions or a rule's actions and returns them as ALB describes
/// them (defaults filled in). Exactly one action ends the list — forward, redirect or
/// fixed-response — and it comes last; when orders are given, every action has a distinct one.
pub fn check_actions(actions: &[wire::Action]) -> Result<Vec<wire::Action>, Elbv2Error> {
    if actions.is_empty() {
        return Err(invalid("At least one action must be specified"));
    }
    let with_order = actions.iter().filter(|a| a.order.is_some()).count();
    if with_order != 0 && with_order != actions.len() {
        return Err(invalid(
            "Either all actions or none of them must specify an order",
        ));
    }
    let mut ordered: Vec<&wire::Action> = actions.iter().collect();
    ordered.sort_by_key(|a| a.order.unwrap_or(0));
    if with_order != 0 && ordered.windows(2).any(|w| w[0].order == w[1].order) {
        return Err(invalid("Each action must have a distinct order"));
    }
    let mut out = Vec::new();
    for (index, action) in ordered.iter().enumerate() {
        let kind = action.r#type.as_deref().unwrap_or_default();
        let last = index + 1 == ordered.len();
        let normalized = match kind {
            "forward" => check_forward(action)?,
            "redirect" => check_redirect(action)?,
            "fixed-response" => check_fixed_response(action)?,
            "authenticate-oidc" | "authenticate-cognito" | "jwt-validation" => {
                return Err(Elbv2Error::InvalidLoadBalancerAction(format!(
                    "The '{kind}' action is not supported by Berth"
                )));
            }
            other => {
                return Err(invalid(format!(
                    "Action type '{other}' must be one of [forward, redirect, fixed-response]"
                )));
            }
        };
        if !last {
            return Err(Elbv2Error::InvalidLoadBalancerAction(format!(
                "A '{kind}' action must be the last action; only one of forward, redirect and fixed-response can be specified"
            )));
        }
        out.push(normalized);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(field: &str, values: &[&str]) -> wire::RuleCondition {
        wire::RuleCondition {
            field: Some(field.into()),
            values: Some(values.iter().map(|v| (*v).to_owned()).collect()),
            ..Default::default()
        }
    }

    fn forward(arn: &str) -> wire::Action {
        wire::Action {
            r#type: Some("forward".into()),
            target_group_arn: Some(arn.into()),
            ..Default::default()
        }
    }

    #[test]
    fn legacy_values_become_configs() {
        let out = check_conditions(&[condition("path-pattern", &["/api/*"])]).unwrap();
        assert_eq!(
            out[0].path_pattern_config.as_ref().unwrap().values,
            Some(vec!["/api/*".to_owned()])
        );
        assert_eq!(out[0].values, Some(vec!["/api/*".to_owned()]));
    }

    #[test]
    fn condition_limits() {
        assert!(check_conditions(&[]).is_err());
        let six = ["/a", "/b", "/c", "/d", "/e", "/f"];
        assert_eq!(
            check_conditions(&[condition("path-pattern", &six)]).unwrap_err(),
            invalid("A rule can have at most '5' condition values")
        );
        assert!(check_conditions(&[condition("path-pattern", &six[..5])]).is_ok());
        assert!(
            check_conditions(&[condition("path-pattern", &["/a*b*c*d*e*f*"])]).is_err(),
            "six wildcards"
        );
        let long = format!("/{}", "a".repeat(128));
        assert!(check_conditions(&[condition("path-pattern", &[&long])]).is_err());
        assert!(check_conditions(&[condition("host-header", &["*.example.com"])]).is_ok());
        assert!(check_conditions(&[condition("host-header", &["bad host"])]).is_err());
        assert!(
            check_conditions(&[
                condition("host-header", &["a.example.com"]),
                condition("host-header", &["b.example.com"])
            ])
            .is_err()
        );
        assert!(check_conditions(&[condition("bogus", &["x"])]).is_err());
    }

    #[test]
    fn methods_cidrs_headers_queries() {
        let method = |v: &str| wire::RuleCondition {
            field: Some("http-request-method".into()),
            http_request_method_config: Some(wire::HttpRequestMethodConditionConfig {
                values: Some(vec![v.to_owned()]),
            }),
            ..Default::default()
        };
        assert!(check_conditions(&[method("GET")]).is_ok());
        assert!(check_conditions(&[method("get")]).is_err());
        assert!(check_conditions(&[method("GE*")]).is_err());
        let source = |v: &str| wire::RuleCondition {
            field: Some("source-ip".into()),
            source_ip_config: Some(wire::SourceIpConditionConfig {
                values: Some(vec![v.to_owned()]),
            }),
            ..Default::default()
        };
        assert!(check_conditions(&[source("10.0.0.0/8")]).is_ok());
        assert!(check_conditions(&[source("2001:db8::/32")]).is_ok());
        assert!(check_conditions(&[source("10.0.0.0/33")]).is_err());
        assert!(check_conditions(&[source("10.0.0.0")]).is_err());
        let header = |name: &str| wire::RuleCondition {
            field: Some("http-header".into()),
            http_header_config: Some(wire::HttpHeaderConditionConfig {
                http_header_name: Some(name.to_owned()),
                values: Some(vec!["on".into()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(check_conditions(&[header("X-Beta"), header("X-Other")]).is_ok());
        assert!(check_conditions(&[header("bad header")]).is_err());
        let query = wire::RuleCondition {
            field: Some("query-string".into()),
            query_string_config: Some(wire::QueryStringConditionConfig {
                values: Some(vec![wire::QueryStringKeyValuePair {
                    key: Some("version".into()),
                    value: Some("v*".into()),
                }]),
            }),
            ..Default::default()
        };
        assert!(check_conditions(&[query]).is_ok());
        let both = wire::RuleCondition {
            field: Some("path-pattern".into()),
            values: Some(vec!["/a".into()]),
            path_pattern_config: Some(wire::PathPatternConditionConfig {
                values: Some(vec!["/b".into()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(check_conditions(&[both]).is_err());
    }

    #[test]
    fn forward_is_described_with_both_forms() {
        let out = check_actions(&[forward("tg-arn")]).unwrap();
        assert_eq!(out[0].target_group_arn.as_deref(), Some("tg-arn"));
        let config = out[0].forward_config.as_ref().unwrap();
        assert_eq!(config.target_groups.as_ref().unwrap()[0].weight, Some(1));
        assert_eq!(
            config
                .target_group_stickiness_config
                .as_ref()
                .unwrap()
                .enabled,
            Some(false)
        );
        assert_eq!(target_groups(&out), vec!["tg-arn".to_owned()]);
    }

    #[test]
    fn weighted_forward_rules() {
        let weighted =
            |weights: &[i32], stickiness: Option<wire::TargetGroupStickinessConfig>| wire::Action {
                r#type: Some("forward".into()),
                forward_config: Some(wire::ForwardActionConfig {
                    target_groups: Some(
                        weights
                            .iter()
                            .enumerate()
                            .map(|(i, w)| wire::TargetGroupTuple {
                                target_group_arn: Some(format!("tg-{i}")),
                                weight: Some(*w),
                            })
                            .collect(),
                    ),
                    target_group_stickiness_config: stickiness,
                }),
                ..Default::default()
            };
        let out = check_actions(&[weighted(&[10, 0], None)]).unwrap();
        assert_eq!(out[0].target_group_arn, None);
        assert_eq!(target_groups(&out).len(), 2);
        assert!(check_actions(&[weighted(&[1000], None)]).is_err());
        assert!(check_actions(&[weighted(&[1; 6], None)]).is_err());
        let sticky = |seconds| wire::TargetGroupStickinessConfig {
            enabled: Some(true),
            duration_seconds: seconds,
        };
        assert!(check_actions(&[weighted(&[1, 1], Some(sticky(Some(3600))))]).is_ok());
        assert!(check_actions(&[weighted(&[1, 1], Some(sticky(None)))]).is_err());
        assert!(check_actions(&[weighted(&[1, 1], Some(sticky(Some(604_801))))]).is_err());
    }

    #[test]
    fn redirect_and_fixed_response() {
        let redirect = |config: wire::RedirectActionConfig| wire::Action {
            r#type: Some("redirect".into()),
            redirect_config: Some(config),
            ..Default::default()
        };
        let to_https = wire::RedirectActionConfig {
            protocol: Some("HTTPS".into()),
            port: Some("443".into()),
            status_code: Some("HTTP_301".into()),
            ..Default::default()
        };
        let out = check_actions(&[redirect(to_https)]).unwrap();
        let config = out[0].redirect_config.as_ref().unwrap();
        assert_eq!(config.host.as_deref(), Some("#{host}"));
        assert_eq!(config.path.as_deref(), Some("/#{path}"));
        assert_eq!(config.query.as_deref(), Some("#{query}"));
        let to_itself = wire::RedirectActionConfig {
            status_code: Some("HTTP_302".into()),
            ..Default::default()
        };
        assert!(check_actions(&[redirect(to_itself)]).is_err());
        let fixed = |content_type: &str| wire::Action {
            r#type: Some("fixed-response".into()),
            fixed_response_config: Some(wire::FixedResponseActionConfig {
                status_code: Some("503".into()),
                content_type: Some(content_type.into()),
                message_body: Some("down".into()),
            }),
            ..Default::default()
        };
        assert!(check_actions(&[fixed("text/plain")]).is_ok());
        assert!(check_actions(&[fixed("image/png")]).is_err());
        // Only one terminal action, and it is last.
        let mut first = fixed("text/plain");
        first.order = Some(1);
        let mut second = forward("tg");
        second.order = Some(2);
        assert!(matches!(
            check_actions(&[first, second]),
            Err(Elbv2Error::InvalidLoadBalancerAction(_))
        ));
    }

    #[test]
    fn priorities() {
        assert!(check_priority(1).is_ok());
        assert!(check_priority(50_000).is_ok());
        assert!(check_priority(0).is_err());
        assert!(check_priority(50_001).is_err());
    }
}
