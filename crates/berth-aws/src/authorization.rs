//! The authorization hook every call of every service goes through, before its handler runs:
//! the caller, the IAM action (`ecs:RunTask`), the resources AWS's "actions, resources and
//! condition keys" tables name for it, and the request's condition context. IAM policy
//! evaluation plugs in as another [`Authorizer`] without touching any handler.

use std::borrow::Cow;
use std::net::IpAddr;

use crate::Principal;

/// One question to the authorizer.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizationRequest<'a> {
    pub principal: &'a Principal,
    /// `SERVICE:Action`, as IAM policies name it.
    pub action: &'a str,
    /// The resource ARNs the action is on; `*` for actions that take none.
    pub resources: Vec<String>,
    /// The region the request is for: `aws:RequestedRegion`.
    pub region: &'a str,
    /// The caller's address: `aws:SourceIp`.
    pub source_ip: Option<IpAddr>,
    /// The action's own condition keys and their values (`aws:RequestTag/KEY`, `ecs:cluster`,
    /// …); see [`AuthorizationRequest::condition`] for every key.
    pub conditions: Vec<(String, String)>,
    /// When the request arrived (seconds since the epoch): `aws:CurrentTime` and
    /// `aws:EpochTime`, formatted only if a policy asks for them.
    pub time: f64,
}

impl AuthorizationRequest<'_> {
    /// The value of a condition key in this request's context, global keys included. The
    /// global keys are kept as fields and written out only when a policy asks, so a call that
    /// no condition is evaluated on formats none of them.
    pub fn condition(&self, key: &str) -> Option<Cow<'_, str>> {
        match key {
            "aws:RequestedRegion" => Some(Cow::Borrowed(self.region)),
            "aws:SourceIp" => self.source_ip.map(|ip| Cow::Owned(ip.to_string())),
            _ => self
                .conditions
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, value)| Cow::Borrowed(value.as_str())),
        }
    }
}

/// A refusal; the front door answers it with the protocol's access-denied error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub message: String,
}

pub trait Authorizer: Send + Sync + 'static {
    fn authorize(&self, request: &AuthorizationRequest<'_>) -> Result<(), Denied>;
}

/// The authorizer until IAM users exist: the account's root may do everything, as on AWS; any
/// other principal is denied, since nothing grants it anything.
pub struct RootOnly;

impl Authorizer for RootOnly {
    fn authorize(&self, request: &AuthorizationRequest<'_>) -> Result<(), Denied> {
        if request.principal.is_root() {
            return Ok(());
        }
        Err(Denied {
            message: format!(
                "User: {} is not authorized to perform: {} on resource: {}",
                request.principal.arn,
                request.action,
                request.resources.first().map_or("*", String::as_str)
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_may_do_everything_and_nobody_else_anything() {
        let root = Principal::root("000000000000");
        let request = AuthorizationRequest {
            principal: &root,
            action: "ecs:RunTask",
            resources: vec!["arn:aws:ecs:us-east-1:000000000000:task-definition/web:1".into()],
            region: "us-east-1",
            source_ip: None,
            conditions: vec![],
            time: 0.0,
        };
        assert_eq!(RootOnly.authorize(&request), Ok(()));
        let user = Principal {
            arn: "arn:aws:iam::000000000000:user/alice".into(),
            user_id: "AIDAEXAMPLE".into(),
            account_id: "000000000000".into(),
        };
        let denied = RootOnly
            .authorize(&AuthorizationRequest {
                principal: &user,
                ..request
            })
            .unwrap_err();
        assert_eq!(
            denied.message,
            "User: arn:aws:iam::000000000000:user/alice is not authorized to perform: ecs:RunTask on resource: arn:aws:ecs:us-east-1:000000000000:task-definition/web:1"
        );
    }

    #[test]
    fn global_condition_keys_come_from_the_request() {
        let root = Principal::root("000000000000");
        let request = AuthorizationRequest {
            principal: &root,
            action: "ecs:CreateCluster",
            resources: vec!["*".into()],
            region: "eu-west-1",
            source_ip: Some("192.0.2.7".parse().unwrap()),
            conditions: vec![("aws:RequestTag/team".into(), "blue".into())],
            time: 0.0,
        };
        assert_eq!(
            request.condition("aws:RequestedRegion").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            request.condition("aws:SourceIp").as_deref(),
            Some("192.0.2.7")
        );
        assert_eq!(
            request.condition("aws:RequestTag/team").as_deref(),
            Some("blue")
        );
        assert_eq!(request.condition("aws:RequestTag/other"), None);
        let local = AuthorizationRequest {
            source_ip: None,
            ..request
        };
        assert_eq!(local.condition("aws:SourceIp"), None);
    }
}
