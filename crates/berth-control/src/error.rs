//! The one place errors become AWS error responses: `{"__type", "message"}` with the status
//! the exception's clients expect.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_ecs::EcsError;
use berth_store::StoreError;

/// An error on its way to the client in the AWS JSON error shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub exception: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        exception: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            exception,
            message: message.into(),
        }
    }

    pub fn serialization(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "SerializationException", message)
    }

    pub fn unknown_operation(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            message,
        )
    }
}

impl From<EcsError> for ApiError {
    fn from(err: EcsError) -> ApiError {
        let status = if err.is_server_fault() {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::BAD_REQUEST
        };
        ApiError::new(status, err.exception_name(), err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "__type": self.exception, "message": self.message });
        let mut response = (self.status, body.to_string()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        response
            .headers_mut()
            .insert("x-amzn-ErrorType", HeaderValue::from_static(self.exception));
        response
    }
}

/// Store failures are the server's fault; the caller may retry.
pub fn store_failure(err: StoreError) -> EcsError {
    tracing::error!(error = %err, "store operation failed");
    EcsError::Server(format!("The state store failed: {err}"))
}
