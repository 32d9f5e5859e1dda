//! Resource names and ARNs in AWS's formats, and the "short name or full ARN" parameters ECS
//! accepts wherever it takes a resource.

use crate::error::{EcsError, invalid};

/// The region and account every ARN this control plane issues is minted in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub region: String,
    pub account_id: String,
}

impl Partition {
    pub fn new(region: impl Into<String>, account_id: impl Into<String>) -> Partition {
        Partition {
            region: region.into(),
            account_id: account_id.into(),
        }
    }

    fn arn(&self, resource: &str) -> String {
        format!(
            "arn:aws:ecs:{}:{}:{}",
            self.region, self.account_id, resource
        )
    }

    pub fn cluster_arn(&self, name: &str) -> String {
        self.arn(&format!("cluster/{name}"))
    }

    pub fn task_definition_arn(&self, family: &str, revision: i32) -> String {
        self.arn(&format!("task-definition/{family}:{revision}"))
    }

    pub fn container_instance_arn(&self, cluster: &str, id: &str) -> String {
        self.arn(&format!("container-instance/{cluster}/{id}"))
    }

    pub fn service_arn(&self, cluster: &str, name: &str) -> String {
        self.arn(&format!("service/{cluster}/{name}"))
    }

    /// A task set's ARN: its id (`ecs-svc/` and digits) under its service.
    pub fn task_set_arn(&self, cluster: &str, service: &str, id: &str) -> String {
        self.arn(&format!("task-set/{cluster}/{service}/{id}"))
    }

    pub fn task_arn(&self, cluster: &str, id: &str) -> String {
        self.arn(&format!("task/{cluster}/{id}"))
    }

    pub fn container_arn(&self, cluster: &str, task_id: &str, id: &str) -> String {
        self.arn(&format!("container/{cluster}/{task_id}/{id}"))
    }

    /// The Cloud Map namespace a cluster's `serviceConnectDefaults.namespace` names: an ARN is
    /// kept; a name becomes the ARN of that namespace in this region, its id (`ns-` and 16
    /// lowercase letters and digits, as Cloud Map's) derived from the name so that the same
    /// name always names the same namespace.
    pub fn namespace_arn(&self, reference: &str) -> String {
        if reference.starts_with("arn:") {
            return reference.to_string();
        }
        // FNV-1a over the region and the name, written in base 36.
        let mut hash: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
        for byte in self.region.bytes().chain([0]).chain(reference.bytes()) {
            hash ^= u128::from(byte);
            hash = hash.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
        }
        const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let id: String = (0..16)
            .map(|_| {
                let digit = DIGITS[(hash % 36) as usize] as char;
                hash /= 36;
                digit
            })
            .collect();
        format!(
            "arn:aws:servicediscovery:{}:{}:namespace/ns-{id}",
            self.region, self.account_id
        )
    }

    /// The account's root principal: the caller until authentication arrives.
    pub fn root_principal(&self) -> String {
        format!("arn:aws:iam::{}:root", self.account_id)
    }

    /// The cluster a `cluster` parameter names: a short name or a cluster ARN; absent means
    /// the cluster named `default`, as in ECS.
    pub fn cluster_name(&self, reference: Option<&str>) -> Result<String, EcsError> {
        let Some(reference) = reference else {
            return Ok("default".to_string());
        };
        if reference.starts_with("arn:") {
            let resource = self.resource_of(reference)?;
            return resource
                .strip_prefix("cluster/")
                .filter(|name| is_resource_name(name))
                .map(str::to_string)
                .ok_or_else(|| invalid(format!("Invalid cluster ARN: {reference}")));
        }
        if reference.is_empty() {
            return Err(invalid("Cluster name cannot be empty."));
        }
        Ok(reference.to_string())
    }

    /// The resource part of an ECS ARN in this partition (`cluster/NAME`, …). An ECS ARN of
    /// another region is ECS's "Invalid Region in ARN".
    pub fn resource_of<'a>(&self, arn: &'a str) -> Result<&'a str, EcsError> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        match parts.as_slice() {
            ["arn", _partition, "ecs", region, account, resource]
                if *region == self.region
                    && *account == self.account_id
                    && !resource.is_empty() =>
            {
                Ok(resource)
            }
            ["arn", _partition, "ecs", region, _, _] if *region != self.region => {
                Err(invalid("Invalid Region in ARN"))
            }
            _ => Err(invalid(format!("Invalid ARN: {arn}"))),
        }
    }

    /// The name or id a `service`, `task` or `containerInstance` parameter names: as given, or
    /// the last part of an ECS ARN of this region and account for that `kind` of resource
    /// (`KIND/ID`, or `KIND/CLUSTER/ID` in the long format). An ARN of another region, another
    /// account or another kind of resource names nothing here and is refused.
    pub fn resource_id<'a>(&self, reference: &'a str, kind: &str) -> Result<&'a str, EcsError> {
        if !reference.starts_with("arn:") {
            return Ok(reference);
        }
        self.resource_of(reference)?
            .strip_prefix(kind)
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|rest| rest.rsplit('/').next())
            .filter(|id| !id.is_empty())
            .ok_or_else(|| invalid(format!("Invalid {kind} ARN: {reference}")))
    }

    /// The id of the task `reference` names in `cluster`: [`Partition::resource_id`], and a
    /// long-format ARN must name `cluster` ([`check_identifier_cluster`]).
    pub fn task_id_in<'a>(&self, reference: &'a str, cluster: &str) -> Result<&'a str, EcsError> {
        let id = self.resource_id(reference, "task")?;
        check_identifier_cluster(reference, cluster)?;
        Ok(id)
    }
}

/// A service, task or container instance ARN in the long format (`KIND/CLUSTER/ID`) names its
/// cluster; ECS refuses one of another cluster than the call's, in these words.
pub fn check_identifier_cluster(reference: &str, cluster: &str) -> Result<(), EcsError> {
    let resource = reference.splitn(6, ':').nth(5).unwrap_or_default();
    match resource.split('/').collect::<Vec<_>>().as_slice() {
        [_, other, _] if reference.starts_with("arn:") && *other != cluster => {
            Err(invalid(format!(
                "Invalid identifier: Identifier is for cluster {other}. Your cluster is {cluster}"
            )))
        }
        _ => Ok(()),
    }
}

/// Cluster, family and container names: up to 255 letters, numbers, hyphens and underscores.
pub fn is_resource_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A reference to task definitions as DescribeTaskDefinition and friends accept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskDefinitionRef {
    /// `family`: the latest ACTIVE revision.
    Family(String),
    /// `family:revision` or a full ARN.
    Revision(String, i32),
}

impl TaskDefinitionRef {
    pub fn parse(partition: &Partition, reference: &str) -> Result<TaskDefinitionRef, EcsError> {
        let short = if reference.starts_with("arn:") {
            partition
                .resource_of(reference)
                .ok()
                .and_then(|resource| resource.strip_prefix("task-definition/"))
                .filter(|rest| rest.contains(':'))
                .ok_or_else(|| invalid(format!("Invalid revision number. Number: {reference}")))?
        } else {
            reference
        };
        match short.split_once(':') {
            None if is_resource_name(short) => Ok(TaskDefinitionRef::Family(short.to_string())),
            Some((family, revision)) if is_resource_name(family) => match revision.parse::<i32>() {
                Ok(revision) if revision > 0 => {
                    Ok(TaskDefinitionRef::Revision(family.to_string(), revision))
                }
                _ => Err(invalid(format!(
                    "Invalid revision number. Number: {revision}"
                ))),
            },
            _ => Err(invalid(format!("Invalid task definition: {reference}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition() -> Partition {
        Partition::new("us-east-1", "000000000000")
    }

    #[test]
    fn cluster_parameters_accept_names_arns_and_default() {
        let p = partition();
        assert_eq!(p.cluster_name(None).unwrap(), "default");
        assert_eq!(p.cluster_name(Some("web")).unwrap(), "web");
        assert_eq!(
            p.cluster_name(Some("arn:aws:ecs:us-east-1:000000000000:cluster/web"))
                .unwrap(),
            "web"
        );
        assert!(
            p.cluster_name(Some("arn:aws:ecs:eu-west-1:000000000000:cluster/web"))
                .is_err()
        );
        assert!(
            p.cluster_name(Some("arn:aws:ecs:us-east-1:000000000000:service/web"))
                .is_err()
        );
    }

    #[test]
    fn resource_parameters_take_arns_of_this_region_account_and_kind_only() {
        let p = partition();
        assert_eq!(p.resource_id("web", "service").unwrap(), "web");
        for arn in [
            "arn:aws:ecs:us-east-1:000000000000:service/web",
            "arn:aws:ecs:us-east-1:000000000000:service/prod/web",
        ] {
            assert_eq!(p.resource_id(arn, "service").unwrap(), "web");
        }
        let err = |reference| match p.resource_id(reference, "service") {
            Err(EcsError::InvalidParameter(message)) => message,
            other => panic!("{reference}: {other:?}"),
        };
        assert_eq!(
            err("arn:aws:ecs:eu-west-1:000000000000:service/prod/web"),
            "Invalid Region in ARN"
        );
        assert_eq!(
            err("arn:aws:ecs:us-east-1:123456789012:service/prod/web"),
            "Invalid ARN: arn:aws:ecs:us-east-1:123456789012:service/prod/web"
        );
        assert_eq!(
            err("arn:aws:ecs:us-east-1:000000000000:cluster/web"),
            "Invalid service ARN: arn:aws:ecs:us-east-1:000000000000:cluster/web"
        );
        assert!(
            p.resource_id("arn:aws:ecs:us-east-1:000000000000:service/", "service")
                .is_err()
        );
    }

    #[test]
    fn namespaces_named_become_one_arn_per_name_and_arns_are_kept() {
        let p = partition();
        let test = p.namespace_arn("test");
        let id = test
            .strip_prefix("arn:aws:servicediscovery:us-east-1:000000000000:namespace/ns-")
            .unwrap();
        assert_eq!(id.len(), 16);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
        assert_eq!(p.namespace_arn("test"), test);
        assert_ne!(p.namespace_arn("other"), test);
        assert_ne!(
            Partition::new("eu-west-1", "000000000000").namespace_arn("test"),
            test.replace("us-east-1", "eu-west-1")
        );
        let arn = "arn:aws:servicediscovery:us-east-1:000000000000:namespace/ns-abc";
        assert_eq!(p.namespace_arn(arn), arn);
    }

    #[test]
    fn long_arns_must_name_the_calls_cluster() {
        let service = "arn:aws:ecs:us-east-1:000000000000:service/jan7/web";
        assert_eq!(check_identifier_cluster(service, "jan7"), Ok(()));
        assert_eq!(
            check_identifier_cluster(service, "default")
                .unwrap_err()
                .to_string(),
            "Invalid identifier: Identifier is for cluster jan7. Your cluster is default"
        );
        for unnamed in [
            "web",
            "arn:aws:ecs:us-east-1:000000000000:service/web",
            "0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(
                check_identifier_cluster(unnamed, "default"),
                Ok(()),
                "{unnamed}"
            );
        }
    }

    #[test]
    fn task_definition_references() {
        let p = partition();
        assert_eq!(
            TaskDefinitionRef::parse(&p, "web").unwrap(),
            TaskDefinitionRef::Family("web".into())
        );
        assert_eq!(
            TaskDefinitionRef::parse(&p, "web:3").unwrap(),
            TaskDefinitionRef::Revision("web".into(), 3)
        );
        assert_eq!(
            TaskDefinitionRef::parse(
                &p,
                "arn:aws:ecs:us-east-1:000000000000:task-definition/web:12"
            )
            .unwrap(),
            TaskDefinitionRef::Revision("web".into(), 12)
        );
        for bad in [
            "web:0",
            "web:x",
            "we b",
            "",
            "arn:aws:ecs:us-east-1:000000000000:task-definition/web",
        ] {
            assert!(
                TaskDefinitionRef::parse(&p, bad).is_err(),
                "{bad} should be rejected"
            );
        }
    }
}
