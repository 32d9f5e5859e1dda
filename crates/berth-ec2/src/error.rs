//! EC2's client errors: one variant per error code, each rendering EC2's message.

/// An EC2 client error. `code()` is the `<Code>` of EC2's error response and `Display` its
/// `<Message>`; every variant is a 400 on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ec2Error {
    #[error("Request would have succeeded, but DryRun flag is set.")]
    DryRunOperation,
    /// The message names the parameter and the value; callers compose it.
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("{0}")]
    InvalidParameterCombination(String),
    #[error("The request must contain the parameter {0}")]
    MissingParameter(String),
    #[error("The specified pagination token is not valid or is expired.")]
    InvalidPaginationToken,
    #[error("The ID '{0}' is not valid")]
    InvalidId(String),
    #[error("{}", not_found("vpc ID", .0))]
    InvalidVpcIdNotFound(Vec<String>),
    #[error("The CIDR '{0}' is invalid.")]
    InvalidVpcRange(String),
    #[error("{}", not_found("subnet ID", .0))]
    InvalidSubnetIdNotFound(Vec<String>),
    #[error("The CIDR '{0}' is invalid.")]
    InvalidSubnetRange(String),
    #[error("The CIDR '{0}' conflicts with another subnet")]
    InvalidSubnetConflict(String),
    /// EC2 words this one differently for ids, default-VPC names and named VPCs.
    #[error("{0}")]
    InvalidGroupNotFound(String),
    #[error("Invalid id: \"{0}\" (expecting \"sg-...\")")]
    InvalidGroupIdMalformed(String),
    #[error("The security group '{name}' already exists for VPC '{vpc_id}'")]
    InvalidGroupDuplicate { name: String, vpc_id: String },
    #[error("The security group '{0}' is reserved")]
    InvalidGroupReserved(String),
    #[error("the specified group: \"{group_id}\" name: \"{name}\" cannot be deleted by a user")]
    CannotDelete { group_id: String, name: String },
    #[error("{0}")]
    DependencyViolation(String),
    /// Carries EC2's rendering of the rule, e.g. `peer: 0.0.0.0/0, TCP, from port: 80, to port: 80, ALLOW`.
    #[error("the specified rule \"{0}\" already exists")]
    InvalidPermissionDuplicate(String),
    #[error("The specified rule does not exist in this security group.")]
    InvalidPermissionNotFound,
    #[error("{}", not_found("security group rule ID", .0))]
    InvalidSecurityGroupRuleIdNotFound(Vec<String>),
    #[error("{}", not_found("routeTable ID", .0))]
    InvalidRouteTableIdNotFound(Vec<String>),
    #[error("{}", not_found("internetGateway ID", .0))]
    InvalidInternetGatewayIdNotFound(Vec<String>),
    #[error("{}", not_found("dhcpOption ID", .0))]
    InvalidDhcpOptionIdNotFound(Vec<String>),
    #[error("{}", not_found("networkAcl ID", .0))]
    InvalidNetworkAclIdNotFound(Vec<String>),
    #[error(
        "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC."
    )]
    VpcIdNotSpecified,
    #[error("The maximum number of tags for a resource has been reached.")]
    TagLimitExceeded,
    /// The records could not be read or written (a store failure); the only server-side error,
    /// answered with HTTP 500. The detail is for logs, not for the caller.
    #[error("An internal error has occurred")]
    InternalError(String),
}

/// EC2's NotFound sentence, singular or plural as EC2 writes it.
fn not_found(what: &str, ids: &[String]) -> String {
    if ids.len() == 1 {
        format!("The {what} '{}' does not exist", ids[0])
    } else {
        format!("The {what}s '{}' do not exist", ids.join(", "))
    }
}

impl Ec2Error {
    /// EC2's error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::DryRunOperation => "DryRunOperation",
            Self::InvalidParameterValue(_) => "InvalidParameterValue",
            Self::InvalidParameterCombination(_) => "InvalidParameterCombination",
            Self::MissingParameter(_) => "MissingParameter",
            Self::InvalidPaginationToken => "InvalidPaginationToken",
            Self::InvalidId(_) => "InvalidID",
            Self::InvalidVpcIdNotFound(_) => "InvalidVpcID.NotFound",
            Self::InvalidVpcRange(_) => "InvalidVpc.Range",
            Self::InvalidSubnetIdNotFound(_) => "InvalidSubnetID.NotFound",
            Self::InvalidSubnetRange(_) => "InvalidSubnet.Range",
            Self::InvalidSubnetConflict(_) => "InvalidSubnet.Conflict",
            Self::InvalidGroupNotFound(_) => "InvalidGroup.NotFound",
            Self::InvalidGroupIdMalformed(_) => "InvalidGroupId.Malformed",
            Self::InvalidGroupDuplicate { .. } => "InvalidGroup.Duplicate",
            Self::InvalidGroupReserved(_) => "InvalidGroup.Reserved",
            Self::CannotDelete { .. } => "CannotDelete",
            Self::DependencyViolation(_) => "DependencyViolation",
            Self::InvalidPermissionDuplicate(_) => "InvalidPermission.Duplicate",
            Self::InvalidPermissionNotFound => "InvalidPermission.NotFound",
            Self::InvalidSecurityGroupRuleIdNotFound(_) => "InvalidSecurityGroupRuleId.NotFound",
            Self::InvalidRouteTableIdNotFound(_) => "InvalidRouteTableID.NotFound",
            Self::InvalidInternetGatewayIdNotFound(_) => "InvalidInternetGatewayID.NotFound",
            Self::InvalidDhcpOptionIdNotFound(_) => "InvalidDhcpOptionID.NotFound",
            Self::InvalidNetworkAclIdNotFound(_) => "InvalidNetworkAclID.NotFound",
            Self::VpcIdNotSpecified => "VPCIdNotSpecified",
            Self::TagLimitExceeded => "TagLimitExceeded",
            Self::InternalError(_) => "InternalError",
        }
    }

    /// `InvalidParameterValue` for a malformed IPv4 CIDR, as CreateVpc/CreateSubnet word it.
    pub(crate) fn bad_cidr(value: &str) -> Self {
        Self::InvalidParameterValue(format!(
            "Value ({value}) for parameter cidrBlock is invalid. This is not a valid CIDR block."
        ))
    }

    /// `InvalidParameterValue` for a filter name the action does not support.
    pub(crate) fn bad_filter(name: &str) -> Self {
        Self::InvalidParameterValue(format!("The filter '{name}' is invalid"))
    }

    /// `InvalidGroup.NotFound` for an id.
    pub(crate) fn group_not_found(id: &str) -> Self {
        Self::InvalidGroupNotFound(format!("The security group '{id}' does not exist"))
    }
}
