//! The authorization hook every call of every service goes through, before its handler runs:
//! the caller, the IAM action (`ecs:RunTask`), the resources AWS's "actions, resources and
//! condition keys" tables name for it, and the request's condition context. IAM policy
//! evaluation plugs in as another [`Authorizer`] without touching any handler.

use crate::Principal;

/// One question to the authorizer.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizationRequest<'a> {
    pub principal: &'a Principal,
    /// `SERVICE:Action`, as IAM policies name it.
    pub action: String,
    /// The resource ARNs the action is on; `*` for actions that take none.
    pub resources: Vec<String>,
    /// Condition keys and their values (`aws:RequestedRegion`, `aws:SourceIp`,
    /// `aws:RequestTag/KEY`, `ecs:cluster`, …).
    pub context: Vec<(String, String)>,
    /// When the request arrived (seconds since the epoch): `aws:CurrentTime` and
    /// `aws:EpochTime`, formatted only if a policy asks for them.
    pub time: f64,
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
            action: "ecs:RunTask".into(),
            resources: vec!["arn:aws:ecs:us-east-1:000000000000:task-definition/web:1".into()],
            context: vec![],
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
}
