//! Resource names and ARNs as ALB forms them.

use crate::error::{Elbv2Error, invalid};

/// ALB's rule for load balancer and target group names: 1–32 alphanumerics and hyphens, not
/// beginning or ending with a hyphen; a load balancer's name may not begin with `internal-`
/// (that prefix marks internal load balancers' DNS names).
fn check_name(kind: &str, name: &str) -> Result<(), Elbv2Error> {
    if name.is_empty() {
        return Err(invalid(format!("{kind} name cannot be empty")));
    }
    if name.len() > 32 {
        return Err(invalid(format!(
            "{kind} name '{name}' cannot be longer than '32' characters"
        )));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(invalid(format!(
            "{kind} name '{name}' can only contain characters that are alphanumeric characters or hyphens(-)"
        )));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(invalid(format!(
            "{kind} name '{name}' cannot begin or end with '-' character"
        )));
    }
    Ok(())
}

pub fn check_load_balancer_name(name: &str) -> Result<(), Elbv2Error> {
    check_name("Load balancer", name)?;
    if name.to_ascii_lowercase().starts_with("internal-") {
        return Err(invalid(format!(
            "Load balancer name '{name}' cannot begin with 'internal-'"
        )));
    }
    Ok(())
}

pub fn check_target_group_name(name: &str) -> Result<(), Elbv2Error> {
    check_name("Target group", name)
}

/// The account and region a request acts in, which every ARN carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub account: String,
    pub region: String,
}

impl Scope {
    pub fn new(account: &str, region: &str) -> Scope {
        Scope {
            account: account.to_owned(),
            region: region.to_owned(),
        }
    }

    fn arn(&self, resource: &str) -> String {
        format!(
            "arn:aws:elasticloadbalancing:{}:{}:{resource}",
            self.region, self.account
        )
    }

    /// `…:loadbalancer/app/NAME/ID`.
    pub fn load_balancer_arn(&self, name: &str, id: &str) -> String {
        self.arn(&format!("loadbalancer/app/{name}/{id}"))
    }

    /// `…:targetgroup/NAME/ID`.
    pub fn target_group_arn(&self, name: &str, id: &str) -> String {
        self.arn(&format!("targetgroup/{name}/{id}"))
    }

    /// `…:listener/app/LB-NAME/LB-ID/ID`.
    pub fn listener_arn(&self, lb: &LoadBalancerRef, id: &str) -> String {
        self.arn(&format!("listener/app/{}/{}/{id}", lb.name, lb.id))
    }

    /// `…:listener-rule/app/LB-NAME/LB-ID/LISTENER-ID/ID`.
    pub fn rule_arn(&self, listener: &ListenerRef, id: &str) -> String {
        self.arn(&format!(
            "listener-rule/app/{}/{}/{}/{id}",
            listener.load_balancer.name, listener.load_balancer.id, listener.id
        ))
    }

    /// ALB's public DNS name, under `.localhost` so that it resolves to this host (see the
    /// load balancer section of ARCHITECTURE.md): `NAME-NUMBER.REGION.elb.localhost`, with
    /// `internal-` in front for an internal scheme, lowercased as DNS names are.
    pub fn dns_name(&self, name: &str, id: &str, internal: bool) -> String {
        // AWS's DNS names carry a decimal number; ours is derived from the ARN's id so that
        // it is stable and unique with it.
        let number = u64::from_str_radix(id, 16).unwrap_or_default() % 10_000_000_000;
        let prefix = if internal { "internal-" } else { "" };
        format!(
            "{prefix}{}-{number}.{}.elb.localhost",
            name.to_ascii_lowercase(),
            self.region
        )
    }
}

/// The 16 hex digits every elbv2 ARN ends with, from 64 random bits the caller drew.
pub fn resource_id(bits: u64) -> String {
    format!("{bits:016x}")
}

/// A load balancer as its ARN names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancerRef {
    pub name: String,
    pub id: String,
}

/// A listener as its ARN names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerRef {
    pub load_balancer: LoadBalancerRef,
    pub id: String,
}

/// A rule as its ARN names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    pub listener: ListenerRef,
    pub id: String,
}

/// A target group as its ARN names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupRef {
    pub name: String,
    pub id: String,
}

/// The resource part of an elbv2 ARN of this scope, split at `/`; `None` when the ARN is of
/// another service, account or region, or malformed.
fn resource_parts<'a>(scope: &Scope, arn: &'a str) -> Option<Vec<&'a str>> {
    let prefix = format!(
        "arn:aws:elasticloadbalancing:{}:{}:",
        scope.region, scope.account
    );
    let resource = arn.strip_prefix(&prefix)?;
    let parts: Vec<&str> = resource.split('/').collect();
    parts.iter().all(|p| !p.is_empty()).then_some(parts)
}

fn is_id(text: &str) -> bool {
    text.len() == 16 && text.chars().all(|c| c.is_ascii_hexdigit())
}

impl Scope {
    pub fn parse_load_balancer_arn(&self, arn: &str) -> Option<LoadBalancerRef> {
        match resource_parts(self, arn)?.as_slice() {
            ["loadbalancer", "app", name, id] if is_id(id) => Some(LoadBalancerRef {
                name: (*name).to_owned(),
                id: (*id).to_owned(),
            }),
            _ => None,
        }
    }

    pub fn parse_target_group_arn(&self, arn: &str) -> Option<TargetGroupRef> {
        match resource_parts(self, arn)?.as_slice() {
            ["targetgroup", name, id] if is_id(id) => Some(TargetGroupRef {
                name: (*name).to_owned(),
                id: (*id).to_owned(),
            }),
            _ => None,
        }
    }

    pub fn parse_listener_arn(&self, arn: &str) -> Option<ListenerRef> {
        match resource_parts(self, arn)?.as_slice() {
            ["listener", "app", name, lb_id, id] if is_id(lb_id) && is_id(id) => {
                Some(ListenerRef {
                    load_balancer: LoadBalancerRef {
                        name: (*name).to_owned(),
                        id: (*lb_id).to_owned(),
                    },
                    id: (*id).to_owned(),
                })
            }
            _ => None,
        }
    }

    pub fn parse_rule_arn(&self, arn: &str) -> Option<RuleRef> {
        match resource_parts(self, arn)?.as_slice() {
            ["listener-rule", "app", name, lb_id, listener_id, id]
                if is_id(lb_id) && is_id(listener_id) && is_id(id) =>
            {
                Some(RuleRef {
                    listener: ListenerRef {
                        load_balancer: LoadBalancerRef {
                            name: (*name).to_owned(),
                            id: (*lb_id).to_owned(),
                        },
                        id: (*listener_id).to_owned(),
                    },
                    id: (*id).to_owned(),
                })
            }
            _ => None,
        }
    }
}

/// ALB's hosted zone for its DNS names, per region (Route 53 alias targets point at it);
/// regions missing here leave the field out.
pub fn canonical_hosted_zone_id(region: &str) -> Option<&'static str> {
    Some(match region {
        "us-east-1" => "Z35SXDOTRQ7X7K",
        "us-east-2" => "Z3AADJGX6KTTL2",
        "us-west-1" => "Z368ELLRRE2KJ0",
        "us-west-2" => "Z1H1FL5HABSF5",
        "eu-west-1" => "Z32O12XQLNTSW2",
        "eu-central-1" => "Z215JYRZR1TBD5",
        "ap-northeast-1" => "Z14GRHDCWA56QT",
        "ap-southeast-1" => "Z1LMS91P8CMLE5",
        "ap-southeast-2" => "Z1GM3OXH4ZPM65",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_albs_rules() {
        assert!(check_load_balancer_name("my-lb-1").is_ok());
        assert!(check_load_balancer_name(&"a".repeat(32)).is_ok());
        assert_eq!(
            check_load_balancer_name(&"a".repeat(33)).unwrap_err(),
            invalid(format!(
                "Load balancer name '{}' cannot be longer than '32' characters",
                "a".repeat(33)
            ))
        );
        assert_eq!(
            check_load_balancer_name("-lb").unwrap_err(),
            invalid("Load balancer name '-lb' cannot begin or end with '-' character")
        );
        assert!(check_load_balancer_name("lb-").is_err());
        assert!(check_load_balancer_name("my_lb").is_err());
        assert!(check_load_balancer_name("").is_err());
        assert_eq!(
            check_load_balancer_name("internal-web").unwrap_err(),
            invalid("Load balancer name 'internal-web' cannot begin with 'internal-'")
        );
        // Only load balancer names reserve the prefix.
        assert!(check_target_group_name("internal-web").is_ok());
        assert!(check_target_group_name("tg.1").is_err());
    }

    #[test]
    fn arns_round_trip() {
        let scope = Scope::new("000000000000", "us-east-1");
        let lb = LoadBalancerRef {
            name: "web".into(),
            id: resource_id(0x50dc6c495c0c9188),
        };
        let lb_arn = scope.load_balancer_arn(&lb.name, &lb.id);
        assert_eq!(
            lb_arn,
            "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/web/50dc6c495c0c9188"
        );
        assert_eq!(scope.parse_load_balancer_arn(&lb_arn), Some(lb.clone()));
        let listener = ListenerRef {
            load_balancer: lb.clone(),
            id: resource_id(1),
        };
        let listener_arn = scope.listener_arn(&lb, &listener.id);
        assert_eq!(
            listener_arn,
            "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/web/50dc6c495c0c9188/0000000000000001"
        );
        assert_eq!(
            scope.parse_listener_arn(&listener_arn),
            Some(listener.clone())
        );
        let rule_arn = scope.rule_arn(&listener, &resource_id(2));
        assert_eq!(
            scope.parse_rule_arn(&rule_arn).map(|r| r.listener),
            Some(listener)
        );
        let tg_arn = scope.target_group_arn("api", &resource_id(3));
        assert_eq!(
            tg_arn,
            "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/api/0000000000000003"
        );
        assert_eq!(scope.parse_target_group_arn(&tg_arn).unwrap().name, "api");
        // Another region's or kind's ARN names nothing here.
        let other = Scope::new("000000000000", "eu-west-1");
        assert_eq!(other.parse_target_group_arn(&tg_arn), None);
        assert_eq!(scope.parse_load_balancer_arn(&tg_arn), None);
        assert_eq!(scope.parse_load_balancer_arn("nonsense"), None);
    }

    #[test]
    fn dns_names_resolve_to_loopback() {
        let scope = Scope::new("000000000000", "us-east-1");
        assert_eq!(
            scope.dns_name("Web", "00000000000000ff", false),
            "web-255.us-east-1.elb.localhost"
        );
        assert_eq!(
            scope.dns_name("web", "00000000000000ff", true),
            "internal-web-255.us-east-1.elb.localhost"
        );
    }
}
