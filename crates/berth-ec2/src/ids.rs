//! Resource ids come from the caller so that the rules stay deterministic.

/// A source of fresh EC2 resource ids. `next("vpc")` returns `vpc-` followed by 17 lowercase hex
/// digits, the format EC2 has used since 2018; the prefixes used here are `vpc`, `subnet`, `sg`,
/// `sgr`, `rtb`, `rtbassoc`, `vpc-cidr-assoc`, `igw`, `dopt` and `acl`.
pub trait Ids {
    fn next(&mut self, prefix: &str) -> String;
}

/// Ids from a counter: `vpc-00000000000000001`, then `…02`, one counter for every prefix. Tests
/// use it, and so can any caller that wants reproducible ids.
#[derive(Debug, Default, Clone)]
pub struct SequentialIds {
    issued: u64,
}

impl Ids for SequentialIds {
    fn next(&mut self, prefix: &str) -> String {
        self.issued += 1;
        format!("{prefix}-{:017x}", self.issued)
    }
}

/// Whether `id` is `prefix-` followed by 8 or 17 lowercase hex digits (EC2's short and long ids).
pub fn is_id_of(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|hex| {
            (hex.len() == 8 || hex.len() == 17)
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_ids_have_ec2_format() {
        let mut ids = SequentialIds::default();
        assert_eq!(ids.next("vpc"), "vpc-00000000000000001");
        assert_eq!(
            ids.next("vpc-cidr-assoc"),
            "vpc-cidr-assoc-00000000000000002"
        );
        assert!(is_id_of("vpc-0123456789abcdef0", "vpc"));
        assert!(is_id_of("sg-1a2b3c4d", "sg"));
        assert!(!is_id_of("sg-1A2B3C4D", "sg"));
        assert!(!is_id_of("sgr-1a2b3c4d", "sg"));
        assert!(!is_id_of("vpc-123", "vpc"));
    }
}
