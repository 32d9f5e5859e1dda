//! A service's `serviceRegistries`: the Cloud Map services its tasks are registered in, checked
//! as ECS checks them when a service is created.

use berth_ecs_wire::ServiceRegistry;

use crate::error::{EcsError, invalid};

/// Each registry must name a Cloud Map service by its ARN
/// (`arn:PARTITION:servicediscovery:REGION:ACCOUNT:service/ID`); ECS refuses anything else, a
/// namespace's ARN included, in these words.
pub fn check(registries: &[ServiceRegistry]) -> Result<(), EcsError> {
    for registry in registries {
        let arn = registry.registry_arn.as_deref().unwrap_or_default();
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let well_formed = matches!(
            parts.as_slice(),
            ["arn", partition, "servicediscovery", region, account, resource]
                if !partition.is_empty() && !region.is_empty() && !account.is_empty()
                    && resource.strip_prefix("service/").is_some_and(|id| !id.is_empty())
        );
        if !well_formed {
            return Err(invalid(format!(
                "The format of the supplied service registry ARN is invalid: {arn}."
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(arn: &str) -> ServiceRegistry {
        ServiceRegistry {
            registry_arn: Some(arn.into()),
            ..ServiceRegistry::default()
        }
    }

    #[test]
    fn only_cloud_map_service_arns_are_registries() {
        let service = "arn:aws:servicediscovery:us-east-1:000000000000:service/srv-abc";
        assert_eq!(check(&[registry(service)]), Ok(()));
        assert_eq!(check(&[]), Ok(()));
        for bad in [
            "arn:aws:servicediscovery:eu-west-1:123456789012:namespace/ns-hoggwkp7p2lefor5",
            "arn:aws:servicediscovery:us-east-1:000000000000:service/",
            "srv-abc",
            "",
        ] {
            assert_eq!(
                check(&[registry(service), registry(bad)])
                    .unwrap_err()
                    .to_string(),
                format!("The format of the supplied service registry ARN is invalid: {bad}."),
            );
        }
    }
}
