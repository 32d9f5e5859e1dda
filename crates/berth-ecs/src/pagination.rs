//! ECS pagination: an opaque `nextToken` and per-action page sizes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{EcsError, invalid};

/// Page size limits of one List action, as botocore's model documents them.
#[derive(Debug, Clone, Copy)]
pub struct PageLimits {
    pub default: usize,
    pub max: usize,
}

/// ListClusters, ListTaskDefinitions, ListTaskDefinitionFamilies, ListContainerInstances,
/// ListTasks, ListAttributes.
pub const LIST_100: PageLimits = PageLimits {
    default: 100,
    max: 100,
};
/// ListServices: 1–100, default 10.
pub const LIST_SERVICES: PageLimits = PageLimits {
    default: 10,
    max: 100,
};
/// ListServiceDeployments: 1–100, default 20.
pub const LIST_SERVICE_DEPLOYMENTS: PageLimits = PageLimits {
    default: 20,
    max: 100,
};
/// ListAccountSettings: 1–10, default 10.
pub const LIST_10: PageLimits = PageLimits {
    default: 10,
    max: 10,
};

impl PageLimits {
    /// The page size for a request's `maxResults`.
    pub fn size(self, max_results: Option<i32>) -> Result<usize, EcsError> {
        match max_results {
            None => Ok(self.default),
            Some(n) if n >= 1 && n as usize <= self.max => Ok(n as usize),
            Some(n) => Err(invalid(format!(
                "maxResults must be between 1 and {}, but was {n}.",
                self.max
            ))),
        }
    }
}

/// Tokens name the position after which the next page starts. They are opaque to callers and
/// bound to the listing that issued them (`scope`), so a token cannot be replayed elsewhere.
pub fn encode_token(scope: &str, position: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{scope}\n{position}"))
}

pub fn decode_token(scope: &str, token: Option<&str>) -> Result<Option<String>, EcsError> {
    let Some(token) = token else { return Ok(None) };
    let bad = || invalid("Invalid nextToken. The token is not valid for this request.");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    match text.split_once('\n') {
        Some((token_scope, position)) if token_scope == scope => Ok(Some(position.to_string())),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_within_their_scope_only() {
        let token = encode_token("clusters", "clusters/web");
        assert_eq!(
            decode_token("clusters", Some(&token)).unwrap().as_deref(),
            Some("clusters/web")
        );
        assert!(decode_token("families", Some(&token)).is_err());
        assert!(decode_token("clusters", Some("%%%")).is_err());
        assert_eq!(decode_token("clusters", None).unwrap(), None);
    }

    #[test]
    fn page_sizes_follow_the_model_bounds() {
        assert_eq!(LIST_100.size(None).unwrap(), 100);
        assert_eq!(LIST_100.size(Some(7)).unwrap(), 7);
        assert!(LIST_100.size(Some(0)).is_err());
        assert!(LIST_100.size(Some(101)).is_err());
        assert!(LIST_10.size(Some(11)).is_err());
        assert_eq!(LIST_SERVICES.size(None).unwrap(), 10);
        assert_eq!(LIST_SERVICES.size(Some(100)).unwrap(), 100);
        assert_eq!(LIST_SERVICE_DEPLOYMENTS.size(None).unwrap(), 20);
    }
}
