/// An error on its way to a client: what every service error becomes at the front door, which
/// renders it in the request's wire protocol (`__type` in JSON and CBOR, `<Code>` in XML).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// HTTP status.
    pub status: u16,
    /// The error code clients match on (`ClusterNotFoundException`, `InvalidVpcID.NotFound`).
    pub code: String,
    pub message: String,
}

impl AwsError {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> AwsError {
        AwsError {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// Whether the caller is at fault (`Sender` in query errors) rather than the service.
    pub fn is_sender_fault(&self) -> bool {
        self.status < 500
    }
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for AwsError {}

/// Implemented by every service's typed error, so the front door can answer it in any protocol
/// without knowing the service.
pub trait ServiceError: std::fmt::Display {
    /// The error code as the service's model names it.
    fn code(&self) -> &str;
    /// The HTTP status AWS answers it with.
    fn status(&self) -> u16;

    fn to_aws_error(&self) -> AwsError {
        AwsError::new(self.status(), self.code(), self.to_string())
    }
}

impl ServiceError for AwsError {
    fn code(&self) -> &str {
        &self.code
    }

    fn status(&self) -> u16 {
        self.status
    }

    fn to_aws_error(&self) -> AwsError {
        self.clone()
    }
}
