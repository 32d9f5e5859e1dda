//! The ECS errors handlers return. Each variant is one modelled ECS exception; the API edge maps
//! it once to `{"__type": NAME, "message": …}` and an HTTP status.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EcsError {
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    Client(String),
    #[error("Cluster not found.")]
    ClusterNotFound,
    #[error("The Cluster cannot be deleted while Container Instances are active or draining.")]
    ClusterContainsContainerInstances,
    #[error("The Cluster cannot be deleted while Services are active.")]
    ClusterContainsServices,
    #[error("The Cluster cannot be deleted while Tasks are active.")]
    ClusterContainsTasks,
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    UnsupportedFeature(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    TargetNotFound(String),
    #[error("{0}")]
    AttributeLimitExceeded(String),
    #[error("{0}")]
    ServiceNotFound(String),
    #[error("{0}")]
    ServiceNotActive(String),
    #[error("{0}")]
    ServiceDeploymentNotFound(String),
    #[error("The specified task set does not exist.")]
    TaskSetNotFound,
    #[error("{0}")]
    Server(String),
}

impl EcsError {
    /// The exception name botocore maps to a modelled error class.
    pub fn exception_name(&self) -> &'static str {
        match self {
            EcsError::InvalidParameter(_) => "InvalidParameterException",
            EcsError::Client(_) => "ClientException",
            EcsError::ClusterNotFound => "ClusterNotFoundException",
            EcsError::ClusterContainsContainerInstances => {
                "ClusterContainsContainerInstancesException"
            }
            EcsError::ClusterContainsServices => "ClusterContainsServicesException",
            EcsError::ClusterContainsTasks => "ClusterContainsTasksException",
            EcsError::ResourceNotFound(_) => "ResourceNotFoundException",
            EcsError::Conflict(_) => "ConflictException",
            EcsError::UnsupportedFeature(_) => "UnsupportedFeatureException",
            EcsError::LimitExceeded(_) => "LimitExceededException",
            EcsError::TargetNotFound(_) => "TargetNotFoundException",
            EcsError::AttributeLimitExceeded(_) => "AttributeLimitExceededException",
            EcsError::ServiceNotFound(_) => "ServiceNotFoundException",
            EcsError::ServiceNotActive(_) => "ServiceNotActiveException",
            EcsError::ServiceDeploymentNotFound(_) => "ServiceDeploymentNotFoundException",
            EcsError::TaskSetNotFound => "TaskSetNotFoundException",
            EcsError::Server(_) => "ServerException",
        }
    }

    /// Server faults are 500s; everything else is the caller's to fix (400).
    pub fn is_server_fault(&self) -> bool {
        matches!(self, EcsError::Server(_))
    }
}

pub fn invalid(message: impl Into<String>) -> EcsError {
    EcsError::InvalidParameter(message.into())
}

pub fn client(message: impl Into<String>) -> EcsError {
    EcsError::Client(message.into())
}

/// ECS's own answer to a request member whose value its enum does not list, where ECS words it
/// itself rather than with the model's generic "failed to satisfy constraint" message: a
/// request's launch type ("launch type should be one of [...]" listing the model's launch
/// types, the wording moto's ECS emulator adopted for RunTask in getmoto/moto#6161 — no AWS
/// document words it) and an account setting's name ("Invalid setting 'name'", worded as ECS
/// words a bad value: "Invalid setting 'value'", aws/aws-cli#3785). `path` is where the member
/// sits in the request, as AWS names it.
pub fn enum_refusal(path: &str) -> Option<EcsError> {
    match path {
        "launchType" => Some(invalid(format!(
            "launch type should be one of [{}]",
            berth_ecs_wire::LAUNCH_TYPE.join(",")
        ))),
        // Only the account setting actions have a top-level enum member `name`.
        "name" => Some(invalid("Invalid setting 'name'")),
        _ => None,
    }
}

impl berth_aws::ServiceError for EcsError {
    fn code(&self) -> &str {
        self.exception_name()
    }

    fn status(&self) -> u16 {
        if self.is_server_fault() { 500 } else { 400 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_launch_type_and_a_setting_name_outside_their_enums_get_ecs_words() {
        assert_eq!(
            enum_refusal("launchType"),
            Some(invalid(
                "launch type should be one of [EC2,FARGATE,EXTERNAL,MANAGED_INSTANCES]"
            ))
        );
        assert_eq!(
            enum_refusal("name"),
            Some(invalid("Invalid setting 'name'"))
        );
        assert_eq!(
            enum_refusal("containerDefinitions.1.member.ulimits.1.member.name"),
            None
        );
        assert_eq!(enum_refusal("desiredStatus"), None);
    }
}
