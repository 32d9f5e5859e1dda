//! The account's Elastic Load Balancing quotas, as DescribeAccountLimits reports them (AWS's
//! defaults); those that concern Application Load Balancers are enforced by the service.

pub const APPLICATION_LOAD_BALANCERS: usize = 50;
pub const TARGET_GROUPS: usize = 3000;
pub const LISTENERS_PER_LOAD_BALANCER: usize = 50;
/// Rules besides the default rules of the load balancer's listeners.
pub const RULES_PER_LOAD_BALANCER: usize = 100;
pub const TARGETS_PER_LOAD_BALANCER: usize = 1000;
pub const TARGET_GROUPS_PER_LOAD_BALANCER: usize = 100;
/// Certificates on one load balancer's listeners, default certificates not counted.
pub const CERTIFICATES_PER_LOAD_BALANCER: usize = 25;
/// Targets registered with one target group (a Service Quotas figure that DescribeAccountLimits
/// does not list).
pub const TARGETS_PER_TARGET_GROUP: usize = 1000;
/// Tags per resource.
pub const TAGS_PER_RESOURCE: usize = 50;

/// Every quota DescribeAccountLimits lists, in its order, with its value.
pub fn account_limits() -> Vec<(&'static str, usize)> {
    vec![
        ("application-load-balancers", APPLICATION_LOAD_BALANCERS),
        (
            "condition-values-per-alb-rule",
            crate::rules::CONDITION_VALUES_PER_RULE,
        ),
        (
            "condition-wildcards-per-alb-rule",
            crate::rules::WILDCARDS_PER_RULE,
        ),
        ("gateway-load-balancers", 100),
        ("gateway-load-balancers-per-vpc", 100),
        ("geneve-target-groups", 100),
        (
            "listeners-per-application-load-balancer",
            LISTENERS_PER_LOAD_BALANCER,
        ),
        ("listeners-per-network-load-balancer", 50),
        ("network-load-balancers", 50),
        (
            "rules-per-application-load-balancer",
            RULES_PER_LOAD_BALANCER,
        ),
        ("target-groups", TARGET_GROUPS),
        (
            "target-groups-per-action-on-application-load-balancer",
            crate::rules::TARGET_GROUPS_PER_ACTION,
        ),
        ("target-groups-per-action-on-network-load-balancer", 1),
        (
            "target-groups-per-application-load-balancer",
            TARGET_GROUPS_PER_LOAD_BALANCER,
        ),
        (
            "targets-per-application-load-balancer",
            TARGETS_PER_LOAD_BALANCER,
        ),
        (
            "targets-per-availability-zone-per-gateway-load-balancer",
            300,
        ),
        (
            "targets-per-availability-zone-per-network-load-balancer",
            500,
        ),
        ("targets-per-network-load-balancer", 3000),
        (
            "certificates-per-application-load-balancer",
            CERTIFICATES_PER_LOAD_BALANCER,
        ),
        ("certificates-per-network-load-balancer", 25),
    ]
}
