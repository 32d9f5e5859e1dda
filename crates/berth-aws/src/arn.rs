//! Amazon Resource Names: `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.

/// The partition every ARN Berth issues names.
pub const PARTITION: &str = "aws";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    /// Empty for global services (IAM).
    pub region: &'a str,
    pub account_id: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Splits an ARN into its parts; `None` when it does not have six colon-separated parts
    /// (the resource itself may contain colons).
    pub fn parse(text: &'a str) -> Option<Arn<'a>> {
        let mut parts = text.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        let arn = Arn {
            partition: parts.next()?,
            service: parts.next()?,
            region: parts.next()?,
            account_id: parts.next()?,
            resource: parts.next()?,
        };
        (!arn.partition.is_empty() && !arn.service.is_empty() && !arn.resource.is_empty())
            .then_some(arn)
    }
}

/// `arn:aws:SERVICE:REGION:ACCOUNT:RESOURCE`.
pub fn format(service: &str, region: &str, account_id: &str, resource: &str) -> String {
    format!("arn:{PARTITION}:{service}:{region}:{account_id}:{resource}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        let text = format("ecs", "eu-west-1", "000000000000", "task-definition/web:3");
        let arn = Arn::parse(&text).unwrap();
        assert_eq!(
            arn,
            Arn {
                partition: "aws",
                service: "ecs",
                region: "eu-west-1",
                account_id: "000000000000",
                resource: "task-definition/web:3"
            }
        );
        assert_eq!(
            Arn::parse("arn:aws:iam::1:user/a:b").unwrap().resource,
            "user/a:b"
        );
        for bad in ["", "arn:aws:ecs", "urn:aws:ecs:r:a:x", "arn:aws:ecs:r:a:"] {
            assert!(Arn::parse(bad).is_none(), "{bad}");
        }
    }
}
