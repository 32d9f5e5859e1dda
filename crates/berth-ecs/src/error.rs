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

impl berth_aws::ServiceError for EcsError {
    fn code(&self) -> &str {
        self.exception_name()
    }

    fn status(&self) -> u16 {
        if self.is_server_fault() { 500 } else { 400 }
    }
}
