//! Application Auto Scaling's errors, with the codes its model names.

use berth_aws::ServiceError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScalingError {
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    ObjectNotFound(String),
    #[error("{0}")]
    ConcurrentUpdate(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    FailedResourceAccess(String),
    #[error("{0}")]
    InvalidNextToken(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    TooManyTags(String),
    #[error("{0}")]
    Internal(String),
}

impl ServiceError for ScalingError {
    fn code(&self) -> &str {
        match self {
            ScalingError::Validation(_) => "ValidationException",
            ScalingError::ObjectNotFound(_) => "ObjectNotFoundException",
            ScalingError::ConcurrentUpdate(_) => "ConcurrentUpdateException",
            ScalingError::LimitExceeded(_) => "LimitExceededException",
            ScalingError::FailedResourceAccess(_) => "FailedResourceAccessException",
            ScalingError::InvalidNextToken(_) => "InvalidNextTokenException",
            ScalingError::ResourceNotFound(_) => "ResourceNotFoundException",
            ScalingError::TooManyTags(_) => "TooManyTagsException",
            ScalingError::Internal(_) => "InternalServiceException",
        }
    }

    fn status(&self) -> u16 {
        match self {
            ScalingError::Internal(_) => 500,
            _ => 400,
        }
    }
}

pub(crate) fn invalid(message: impl Into<String>) -> ScalingError {
    ScalingError::Validation(message.into())
}
