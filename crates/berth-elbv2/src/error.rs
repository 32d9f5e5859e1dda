//! ALB's errors: one variant per code the API answers with, each with botocore's HTTP status.

use berth_aws::ServiceError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Elbv2Error {
    /// The query protocol's generic client error: a missing member or a value out of bounds.
    #[error("{0}")]
    Validation(String),
    #[error("One or more load balancers not found")]
    LoadBalancerNotFound,
    /// Load balancers DescribeLoadBalancers names that do not exist, listed as ALB lists them.
    #[error("Load balancers '[{}]' not found", .0.join(", "))]
    LoadBalancersNotFound(Vec<String>),
    #[error("One or more target groups not found")]
    TargetGroupNotFound,
    /// Target groups an action names that do not exist, as CreateListener and CreateRule word it.
    #[error("Target groups '{0}' not found")]
    TargetGroupsNotFound(String),
    #[error("One or more listeners not found")]
    ListenerNotFound,
    #[error("One or more rules not found")]
    RuleNotFound,
    #[error("A load balancer with the same name '{0}' exists, but with different settings")]
    DuplicateLoadBalancerName(String),
    #[error("A target group with the same name '{0}' exists, but with different settings")]
    DuplicateTargetGroupName(String),
    #[error("A listener already exists on this port for this load balancer '{0}'")]
    DuplicateListener(String),
    #[error("Priority '{0}' is currently in use")]
    PriorityInUse(i32),
    #[error("{0}")]
    ResourceInUse(String),
    #[error("{0}")]
    TooManyTargets(String),
    #[error("{0}")]
    InvalidTarget(String),
    #[error("{0}")]
    InvalidConfigurationRequest(String),
    #[error("{0}")]
    OperationNotPermitted(String),
    #[error(
        "The following target groups cannot be associated with more than one load balancer: {0}"
    )]
    TargetGroupAssociationLimit(String),
    #[error("{0}")]
    IncompatibleProtocols(String),
    #[error("{0}")]
    UnsupportedProtocol(String),
    #[error("Certificate '{0}' not found")]
    CertificateNotFound(String),
    #[error("{0}")]
    InvalidSubnet(String),
    #[error("The specified subnet does not exist.")]
    SubnetNotFound,
    #[error("{0}")]
    InvalidSecurityGroup(String),
    #[error("{0}")]
    InvalidLoadBalancerAction(String),
    #[error("{0}")]
    InvalidScheme(String),
    #[error("Trust store '{0}' not found")]
    TrustStoreNotFound(String),
    #[error("SSL policy '{0}' not found")]
    SslPolicyNotFound(String),
    #[error("The maximum number of load balancers has been reached")]
    TooManyLoadBalancers,
    #[error("The maximum number of target groups has been reached")]
    TooManyTargetGroups,
    #[error("The maximum number of listeners has been reached")]
    TooManyListeners,
    #[error("The maximum number of rules has been reached")]
    TooManyRules,
    #[error("The maximum number of certificates has been reached")]
    TooManyCertificates,
    #[error("{0}")]
    TooManyActions(String),
    #[error("{0}")]
    TooManyTags(String),
    #[error("Tag keys must be unique: {0}")]
    DuplicateTagKeys(String),
    #[error("{0}")]
    TooManyUniqueTargetGroupsPerLoadBalancer(String),
    #[error("{0}")]
    Internal(String),
}

impl ServiceError for Elbv2Error {
    fn code(&self) -> &str {
        match self {
            Elbv2Error::Validation(_) => "ValidationError",
            Elbv2Error::LoadBalancerNotFound | Elbv2Error::LoadBalancersNotFound(_) => {
                "LoadBalancerNotFound"
            }
            Elbv2Error::TargetGroupNotFound | Elbv2Error::TargetGroupsNotFound(_) => {
                "TargetGroupNotFound"
            }
            Elbv2Error::ListenerNotFound => "ListenerNotFound",
            Elbv2Error::RuleNotFound => "RuleNotFound",
            Elbv2Error::DuplicateLoadBalancerName(_) => "DuplicateLoadBalancerName",
            Elbv2Error::DuplicateTargetGroupName(_) => "DuplicateTargetGroupName",
            Elbv2Error::DuplicateListener(_) => "DuplicateListener",
            Elbv2Error::PriorityInUse(_) => "PriorityInUse",
            Elbv2Error::ResourceInUse(_) => "ResourceInUse",
            Elbv2Error::TooManyTargets(_) => "TooManyTargets",
            Elbv2Error::InvalidTarget(_) => "InvalidTarget",
            Elbv2Error::InvalidConfigurationRequest(_) => "InvalidConfigurationRequest",
            Elbv2Error::OperationNotPermitted(_) => "OperationNotPermitted",
            Elbv2Error::TargetGroupAssociationLimit(_) => "TargetGroupAssociationLimit",
            Elbv2Error::IncompatibleProtocols(_) => "IncompatibleProtocols",
            Elbv2Error::UnsupportedProtocol(_) => "UnsupportedProtocol",
            Elbv2Error::CertificateNotFound(_) => "CertificateNotFound",
            Elbv2Error::InvalidSubnet(_) => "InvalidSubnet",
            Elbv2Error::SubnetNotFound => "SubnetNotFound",
            Elbv2Error::InvalidSecurityGroup(_) => "InvalidSecurityGroup",
            Elbv2Error::InvalidLoadBalancerAction(_) => "InvalidLoadBalancerAction",
            Elbv2Error::InvalidScheme(_) => "InvalidScheme",
            Elbv2Error::TrustStoreNotFound(_) => "TrustStoreNotFound",
            Elbv2Error::SslPolicyNotFound(_) => "SSLPolicyNotFound",
            Elbv2Error::TooManyLoadBalancers => "TooManyLoadBalancers",
            Elbv2Error::TooManyTargetGroups => "TooManyTargetGroups",
            Elbv2Error::TooManyListeners => "TooManyListeners",
            Elbv2Error::TooManyRules => "TooManyRules",
            Elbv2Error::TooManyCertificates => "TooManyCertificates",
            Elbv2Error::TooManyActions(_) => "TooManyActions",
            Elbv2Error::TooManyTags(_) => "TooManyTags",
            Elbv2Error::DuplicateTagKeys(_) => "DuplicateTagKeys",
            Elbv2Error::TooManyUniqueTargetGroupsPerLoadBalancer(_) => {
                "TooManyUniqueTargetGroupsPerLoadBalancer"
            }
            Elbv2Error::Internal(_) => "InternalFailure",
        }
    }

    /// 400 for every client error, as botocore's model gives each of these codes.
    fn status(&self) -> u16 {
        match self {
            Elbv2Error::Internal(_) => 500,
            _ => 400,
        }
    }
}

/// `ValidationError` with `message`.
pub(crate) fn invalid(message: impl Into<String>) -> Elbv2Error {
    Elbv2Error::Validation(message.into())
}
