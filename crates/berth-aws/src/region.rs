//! Regions as namespaces. A request's region is its SigV4 credential scope's; each (account,
//! region) holds its own resources, as on AWS.

/// Whether `name` has the shape of an AWS region name (`us-east-1`, `eu-central-2`,
/// `us-gov-west-1`): lowercase words joined by dashes, ending in a number. Region names become
/// part of store keys and ARNs, so nothing else is let through.
pub fn is_well_formed(name: &str) -> bool {
    let Some((words, number)) = name.rsplit_once('-') else {
        return false;
    };
    name.len() <= 32
        && words.contains('-')
        && words
            .split('-')
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && !number.is_empty()
        && number.len() <= 2
        && number.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_region_names_and_nothing_else() {
        for good in [
            "us-east-1",
            "eu-west-3",
            "ap-southeast-2",
            "us-gov-west-1",
            "il-central-1",
        ] {
            assert!(is_well_formed(good), "{good}");
        }
        for bad in [
            "",
            "us",
            "us-east",
            "US-EAST-1",
            "us-east-1/x",
            "us--1",
            "us-east-123",
            "../e-1",
            "us-east-1 ",
        ] {
            assert!(!is_well_formed(bad), "{bad:?}");
        }
    }
}
