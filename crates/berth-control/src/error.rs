//! The ECS handlers' error: what `EcsError`, store failures and refusals of the front door
//! become, carried to the gateway as a [`berth_aws::AwsError`], which renders it in the
//! request's protocol.

use berth_aws::{AwsError, ServiceError};
use berth_ecs::EcsError;
use berth_store::StoreError;

/// An error on its way to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub exception: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, exception: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            exception: exception.into(),
            message: message.into(),
        }
    }

    pub fn serialization(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "SerializationException", message)
    }
}

impl From<EcsError> for ApiError {
    fn from(err: EcsError) -> ApiError {
        ApiError::new(err.status(), err.code(), err.to_string())
    }
}

impl From<AwsError> for ApiError {
    fn from(err: AwsError) -> ApiError {
        ApiError::new(err.status, err.code, err.message)
    }
}

impl From<ApiError> for AwsError {
    fn from(err: ApiError) -> AwsError {
        AwsError::new(err.status, err.exception, err.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        store_failure(err).into()
    }
}

/// Store failures are the server's fault; the caller may retry.
pub fn store_failure(err: StoreError) -> EcsError {
    tracing::error!(error = %err, "store operation failed");
    EcsError::Server(format!("The state store failed: {err}"))
}
