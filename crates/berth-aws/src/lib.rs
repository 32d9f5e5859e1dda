//! What every AWS service in Berth shares, with no I/O: the partition, accounts and regions
//! ([`region`]), ARNs ([`arn`]), who is calling ([`Principal`]) and the context of one request
//! ([`RequestContext`]), the error trait every service's errors implement ([`ServiceError`],
//! rendered once per wire protocol by the front door), and the authorization hook every call
//! goes through ([`authorization`]).

pub mod arn;
pub mod authorization;
mod error;
pub mod region;

pub use error::{AwsError, ServiceError};

/// Who made a request, as STS GetCallerIdentity reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `arn:aws:iam::ACCOUNT:root`, `arn:aws:iam::ACCOUNT:user/NAME`, …
    pub arn: String,
    /// The unique id AWS reports as `UserId` (the account id for the root user).
    pub user_id: String,
    pub account_id: String,
}

impl Principal {
    /// Whether this is its account's root user (`arn:aws:iam::ACCOUNT:root`).
    pub fn is_root(&self) -> bool {
        self.arn
            .strip_prefix("arn:aws:iam::")
            .and_then(|rest| rest.strip_suffix(":root"))
            == Some(self.account_id.as_str())
    }

    pub fn root(account_id: &str) -> Principal {
        Principal {
            arn: format!("arn:{}:iam::{account_id}:root", arn::PARTITION),
            user_id: account_id.to_string(),
            account_id: account_id.to_string(),
        }
    }
}

/// Everything about one request that is not its input: who sent it, where (the region its
/// signature is scoped to) and when. Handlers read identity and time from here, never from
/// globals.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub region: String,
    pub principal: Principal,
    /// The access key the request was signed with.
    pub access_key_id: String,
    /// The session token of temporary credentials, when the request carried one.
    pub session_token: Option<String>,
    pub source_ip: Option<std::net::IpAddr>,
    /// Seconds since the Unix epoch when the request arrived.
    pub received_at: f64,
}

impl RequestContext {
    pub fn account_id(&self) -> &str {
        &self.principal.account_id
    }
}

/// The source of "now" for everything that records or checks time, so tests can pin it.
pub trait Clock: Send + Sync + 'static {
    /// Seconds since the Unix epoch, as the AWS JSON protocols carry timestamps.
    fn now(&self) -> f64;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> f64 {
        let elapsed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        // Millisecond precision, as AWS reports timestamps.
        (elapsed.as_millis() as f64) / 1000.0
    }
}
