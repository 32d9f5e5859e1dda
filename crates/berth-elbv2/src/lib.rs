//! Elastic Load Balancing v2 semantics for Application Load Balancers, without I/O: names and
//! ARNs, target groups (health checks, matchers), attributes with ALB's defaults and bounds,
//! listener rules (conditions, actions, priorities), targets and their health states, tags,
//! the account's quotas, SSL policies, and `Elbv2Error` with ALB's codes.
//!
//! The stored records are the API's own shapes plus what the API does not show; nothing here
//! reads a clock or draws randomness: times and ids are arguments.

mod attributes;
mod error;
mod limits;
mod names;
mod rules;
mod ssl;
pub mod tags;
mod target_group;
mod targets;

pub use attributes::*;
pub use error::Elbv2Error;
pub use limits::*;
pub use names::*;
pub use rules::*;
pub use ssl::*;
pub use tags::Tags;
pub use target_group::{
    create as create_target_group, modify as modify_target_group_settings, parse_matcher,
};
pub use targets::*;

use berth_elbv2_wire as wire;
use serde::{Deserialize, Serialize};

/// A load balancer: its description as the API shows it, and its attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadBalancerRecord {
    pub load_balancer: wire::LoadBalancer,
    pub attributes: Attributes,
    pub tags: Tags,
}

/// A target group: its description (without `LoadBalancerArns`, which the listeners and rules
/// forwarding to it decide), its attributes and tags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetGroupRecord {
    pub target_group: wire::TargetGroup,
    pub attributes: Attributes,
    pub tags: Tags,
}

/// A listener: its description (`Certificates` holds the default certificate only) and the
/// extra certificates AddListenerCertificates gave it, for SNI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListenerRecord {
    pub listener: wire::Listener,
    pub extra_certificates: Vec<String>,
    pub tags: Tags,
}

impl ListenerRecord {
    /// The ARN of the default certificate (HTTPS listeners).
    pub fn default_certificate(&self) -> Option<&str> {
        self.listener
            .certificates
            .as_ref()
            .and_then(|c| c.first())
            .and_then(|c| c.certificate_arn.as_deref())
    }

    /// Every certificate the listener uses: its default one, then the extra ones.
    pub fn all_certificates(&self) -> Vec<String> {
        self.default_certificate()
            .map(str::to_owned)
            .into_iter()
            .chain(self.extra_certificates.iter().cloned())
            .collect()
    }
}

/// A listener rule, the default rule included (`IsDefault`, priority `default`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleRecord {
    pub rule: wire::Rule,
    pub tags: Tags,
}

impl RuleRecord {
    pub fn is_default(&self) -> bool {
        self.rule.is_default == Some(true)
    }

    /// The numeric priority; `None` for the default rule.
    pub fn priority(&self) -> Option<i32> {
        self.rule.priority.as_deref().and_then(|p| p.parse().ok())
    }
}

/// Listener protocols an Application Load Balancer serves.
pub fn check_listener_protocol(protocol: &str) -> Result<(), Elbv2Error> {
    match protocol {
        "HTTP" | "HTTPS" => Ok(()),
        other => Err(Elbv2Error::UnsupportedProtocol(format!(
            "Protocol '{other}' is not supported by Application Load Balancers; use HTTP or HTTPS"
        ))),
    }
}

/// What an Application Load Balancer listener cannot have here: ALPN policies (TLS listeners of
/// Network Load Balancers only) and mutual TLS other than `off` (it needs a trust store, and
/// Berth has none).
pub fn check_listener_options(
    alpn_policy: Option<&[String]>,
    mutual_authentication: Option<&wire::MutualAuthenticationAttributes>,
) -> Result<(), Elbv2Error> {
    if alpn_policy.is_some_and(|p| !p.is_empty()) {
        return Err(Elbv2Error::Validation(
            "ALPN policies can only be specified for TLS listeners of Network Load Balancers"
                .into(),
        ));
    }
    match mutual_authentication {
        Some(mutual) if mutual.trust_store_arn.is_some() => Err(Elbv2Error::TrustStoreNotFound(
            mutual.trust_store_arn.clone().unwrap_or_default(),
        )),
        Some(mutual) if mutual.mode.as_deref().is_some_and(|m| m != "off") => {
            Err(Elbv2Error::InvalidConfigurationRequest(format!(
                "Mutual authentication mode '{}' is not supported by Berth; only 'off' is",
                mutual.mode.as_deref().unwrap_or_default()
            )))
        }
        _ => Ok(()),
    }
}

/// Subnet mappings of an Application Load Balancer name subnets only: Elastic IPs and fixed
/// private addresses belong to Network Load Balancers.
pub fn check_subnet_mappings(mappings: &[wire::SubnetMapping]) -> Result<(), Elbv2Error> {
    for mapping in mappings {
        if mapping.allocation_id.is_some()
            || mapping.private_i_pv4_address.is_some()
            || mapping.i_pv6_address.is_some()
            || mapping.source_nat_ipv6_prefix.is_some()
        {
            return Err(Elbv2Error::Validation(
                "Elastic IP addresses and private IP addresses in subnet mappings are supported only by Network Load Balancers"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// A load balancer needs subnets in at least two Availability Zones, at most one subnet per
/// zone, all in one VPC. `subnets` are (subnet id, zone, VPC id) of the named subnets.
pub fn check_subnets(subnets: &[(String, String, String)]) -> Result<(), Elbv2Error> {
    let mut zones: Vec<&str> = Vec::new();
    for (id, zone, _) in subnets {
        if zones.contains(&zone.as_str()) {
            return Err(Elbv2Error::InvalidConfigurationRequest(format!(
                "A load balancer cannot be attached to multiple subnets in the same Availability Zone (subnet '{id}' is in '{zone}')"
            )));
        }
        zones.push(zone);
    }
    if let Some((_, _, vpc)) = subnets.first()
        && subnets.iter().any(|(_, _, other)| other != vpc)
    {
        return Err(Elbv2Error::InvalidSubnet(
            "All subnets of a load balancer must be in the same VPC".into(),
        ));
    }
    if zones.len() < 2 {
        return Err(Elbv2Error::Validation(
            "At least two subnets in two different Availability Zones must be specified".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(id: &str, zone: &str, vpc: &str) -> (String, String, String) {
        (id.into(), zone.into(), vpc.into())
    }

    #[test]
    fn two_zones_one_vpc() {
        assert!(check_subnets(&[subnet("a", "z1", "v"), subnet("b", "z2", "v")]).is_ok());
        assert_eq!(
            check_subnets(&[subnet("a", "z1", "v")]).unwrap_err(),
            Elbv2Error::Validation(
                "At least two subnets in two different Availability Zones must be specified".into()
            )
        );
        assert!(matches!(
            check_subnets(&[subnet("a", "z1", "v"), subnet("b", "z1", "v")]),
            Err(Elbv2Error::InvalidConfigurationRequest(_))
        ));
        assert!(matches!(
            check_subnets(&[subnet("a", "z1", "v"), subnet("b", "z2", "w")]),
            Err(Elbv2Error::InvalidSubnet(_))
        ));
    }

    #[test]
    fn listener_options_and_subnet_mappings() {
        assert!(check_listener_options(None, None).is_ok());
        assert!(check_listener_options(Some(&[]), None).is_ok());
        assert!(check_listener_options(Some(&["HTTP2Only".to_owned()]), None).is_err());
        let mode = |m: &str| wire::MutualAuthenticationAttributes {
            mode: Some(m.to_owned()),
            ..Default::default()
        };
        assert!(check_listener_options(None, Some(&mode("off"))).is_ok());
        assert!(matches!(
            check_listener_options(None, Some(&mode("passthrough"))),
            Err(Elbv2Error::InvalidConfigurationRequest(_))
        ));
        let verify = wire::MutualAuthenticationAttributes {
            trust_store_arn: Some("ts".into()),
            ..mode("verify")
        };
        assert_eq!(
            check_listener_options(None, Some(&verify)),
            Err(Elbv2Error::TrustStoreNotFound("ts".into()))
        );
        let plain = wire::SubnetMapping {
            subnet_id: Some("subnet-1".into()),
            ..Default::default()
        };
        assert!(check_subnet_mappings(std::slice::from_ref(&plain)).is_ok());
        let fixed = wire::SubnetMapping {
            private_i_pv4_address: Some("10.0.0.5".into()),
            ..plain
        };
        assert!(check_subnet_mappings(&[fixed]).is_err());
    }

    #[test]
    fn listener_protocols() {
        assert!(check_listener_protocol("HTTPS").is_ok());
        assert!(matches!(
            check_listener_protocol("TCP"),
            Err(Elbv2Error::UnsupportedProtocol(_))
        ));
    }
}
