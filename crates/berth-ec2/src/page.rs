//! MaxResults/NextToken for the Describe actions.
//!
//! Listings are sorted by id and a token names the last id returned, so inserts and deletes
//! between pages neither repeat nor skip survivors. The token also carries a fingerprint of the
//! listing (action, ids, filters) so that it only works for the listing that issued it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::Ec2Error;
use crate::filter::Filter;

/// One page of a Describe answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

/// The paging parameters of a Describe request and the listing they apply to.
pub(crate) struct Paging<'a> {
    pub action: &'static str,
    /// The request parameter holding explicit ids (e.g. `vpcIds`) and whether it was given:
    /// EC2 refuses MaxResults together with explicit ids.
    pub ids_param: Option<(&'static str, &'a [String])>,
    pub filters: &'a [Filter],
    pub max_results: Option<i32>,
    pub next_token: Option<&'a str>,
    pub max_bound: i32,
}

impl Paging<'_> {
    /// Checks the parameters before anything is read.
    pub(crate) fn check(&self) -> Result<(), Ec2Error> {
        let Some(max) = self.max_results else {
            return Ok(());
        };
        if let Some((param, ids)) = self.ids_param
            && !ids.is_empty()
        {
            return Err(Ec2Error::InvalidParameterCombination(format!(
                "The parameter {param} cannot be used with the parameter maxResults"
            )));
        }
        if !(5..=self.max_bound).contains(&max) {
            return Err(Ec2Error::InvalidParameterValue(format!(
                "Value ( {max} ) for parameter maxResults is invalid. Parameter must be between 5 and {}.",
                self.max_bound
            )));
        }
        Ok(())
    }

    fn fingerprint(&self) -> u64 {
        let ids = self.ids_param.map(|(_, ids)| ids).unwrap_or_default();
        let listing = format!("{}|{ids:?}|{:?}", self.action, self.filters);
        // FNV-1a: stable across builds and processes, which std's hasher does not promise.
        listing.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3)
        })
    }

    /// Cuts one page from `items`, which must be sorted by `id`.
    pub(crate) fn page<T>(
        &self,
        items: Vec<T>,
        id: impl Fn(&T) -> &str,
    ) -> Result<Page<T>, Ec2Error> {
        let fingerprint = self.fingerprint();
        let after = match self.next_token {
            None => None,
            Some(token) => {
                Some(decode(token, fingerprint).ok_or(Ec2Error::InvalidPaginationToken)?)
            }
        };
        let mut rest: Vec<T> = items
            .into_iter()
            .filter(|item| after.as_deref().is_none_or(|after| id(item) > after))
            .collect();
        let Some(max) = self.max_results.and_then(|m| usize::try_from(m).ok()) else {
            return Ok(Page {
                items: rest,
                next_token: None,
            });
        };
        if rest.len() <= max {
            return Ok(Page {
                items: rest,
                next_token: None,
            });
        }
        rest.truncate(max);
        let last = rest
            .last()
            .map(|item| id(item).to_owned())
            .unwrap_or_default();
        Ok(Page {
            items: rest,
            next_token: Some(URL_SAFE_NO_PAD.encode(format!("{fingerprint:016x}:{last}"))),
        })
    }
}

fn decode(token: &str, fingerprint: u64) -> Option<String> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let (issued_for, last) = text.split_once(':')?;
    (issued_for == format!("{fingerprint:016x}")).then(|| last.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paging<'a>(max: Option<i32>, token: Option<&'a str>, filters: &'a [Filter]) -> Paging<'a> {
        Paging {
            action: "DescribeVpcs",
            ids_param: Some(("vpcIds", &[])),
            filters,
            max_results: max,
            next_token: token,
            max_bound: 1000,
        }
    }

    #[test]
    fn pages_through_and_rejects_foreign_tokens() {
        let items: Vec<String> = (0..12).map(|i| format!("vpc-{i:02}")).collect();
        let first = paging(Some(5), None, &[])
            .page(items.clone(), |s| s)
            .unwrap();
        assert_eq!(first.items, items[..5]);
        let token = first.next_token.unwrap();
        let second = paging(Some(5), Some(&token), &[])
            .page(items.clone(), |s| s)
            .unwrap();
        assert_eq!(second.items, items[5..10]);
        let third = paging(Some(5), second.next_token.as_deref(), &[])
            .page(items.clone(), |s| s)
            .unwrap();
        assert_eq!(
            (third.items, third.next_token),
            (items[10..].to_vec(), None)
        );

        let other = [Filter::new("state", &["available"])];
        for bad in [token.as_str(), "garbage!", ""] {
            let filters: &[Filter] = if bad == token { &other } else { &[] };
            let err = paging(Some(5), Some(bad), filters)
                .page(items.clone(), |s| s)
                .unwrap_err();
            assert_eq!(err, Ec2Error::InvalidPaginationToken);
        }
        assert_eq!(
            Ec2Error::InvalidPaginationToken.to_string(),
            "The specified pagination token is not valid or is expired."
        );
    }

    #[test]
    fn bounds_and_combination() {
        let err = paging(Some(4), None, &[]).check().unwrap_err();
        assert_eq!(err.code(), "InvalidParameterValue");
        assert_eq!(
            err.to_string(),
            "Value ( 4 ) for parameter maxResults is invalid. Parameter must be between 5 and 1000."
        );
        assert!(paging(Some(1001), None, &[]).check().is_err());
        assert!(paging(Some(1000), None, &[]).check().is_ok());
        let ids = ["vpc-1".to_owned()];
        let with_ids = Paging {
            ids_param: Some(("vpcIds", &ids)),
            ..paging(Some(5), None, &[])
        };
        let err = with_ids.check().unwrap_err();
        assert_eq!(err.code(), "InvalidParameterCombination");
        assert_eq!(
            err.to_string(),
            "The parameter vpcIds cannot be used with the parameter maxResults"
        );
    }
}
