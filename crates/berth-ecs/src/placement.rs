//! The resources a task reserves on its instance, from its task definition and overrides, and
//! a call's placement constraints and strategies as the engine takes them. (Choosing the
//! instance is `berth-scheduler`'s job.)

use berth_ecs_wire::{
    CapacityProviderStrategyItem, ContainerDefinition, PlacementConstraint, PlacementStrategy,
    TaskDefinition, TaskOverride,
};
use berth_scheduler::{Constraint, RequiredAttribute, Resources, Strategy};

use crate::EcsError;
use crate::error::invalid;

/// The resources a task of `definition` with `overrides` reserves: task-level cpu/memory when
/// set, else the sum over containers (a container's hard `memory` limit when set, else its
/// `memoryReservation`), and its static host ports.
pub fn demand_of(definition: &TaskDefinition, overrides: &TaskOverride) -> Resources {
    let containers = effective_containers(definition, overrides);
    let task_cpu = overrides
        .cpu
        .as_deref()
        .or(definition.cpu.as_deref())
        .and_then(|c| crate::task_definition::parse_task_cpu(c).ok());
    let task_memory = overrides
        .memory
        .as_deref()
        .or(definition.memory.as_deref())
        .and_then(|m| crate::task_definition::parse_task_memory(m).ok());
    let cpu = task_cpu.unwrap_or_else(|| {
        containers
            .iter()
            .map(|c| i64::from(c.cpu.unwrap_or(0)))
            .sum()
    });
    let memory = task_memory.unwrap_or_else(|| {
        containers
            .iter()
            .map(|c| i64::from(c.memory.or(c.memory_reservation).unwrap_or(0)))
            .sum()
    });
    let gpus = containers
        .iter()
        .flat_map(|c| c.resource_requirements.iter().flatten())
        .filter(|r| r.r#type.as_deref() == Some("GPU"))
        .filter_map(|r| r.value.as_deref()?.parse::<u32>().ok())
        .sum();
    let mut demand = Resources {
        cpu,
        memory,
        gpus,
        ..Resources::default()
    };
    let network_mode = definition.network_mode.as_deref().unwrap_or("bridge");
    for container in &containers {
        for mapping in container.port_mappings.iter().flatten() {
            let static_port = match network_mode {
                "host" => mapping.host_port.or(mapping.container_port),
                "bridge" => mapping.host_port.filter(|port| *port > 0),
                _ => None,
            };
            if let Some(port) = static_port.and_then(|p| u16::try_from(p).ok()) {
                if mapping.protocol.as_deref() == Some("udp") {
                    demand.udp_ports.insert(port);
                } else {
                    demand.tcp_ports.insert(port);
                }
            }
        }
    }
    demand
}

/// The container definitions with per-container overrides of cpu, memory and resource
/// requirements (GPUs) applied.
pub fn effective_containers(
    definition: &TaskDefinition,
    overrides: &TaskOverride,
) -> Vec<ContainerDefinition> {
    let mut containers = definition.container_definitions.clone().unwrap_or_default();
    for container in &mut containers {
        let Some(o) = overrides
            .container_overrides
            .iter()
            .flatten()
            .find(|o| o.name == container.name)
        else {
            continue;
        };
        if o.cpu.is_some() {
            container.cpu = o.cpu;
        }
        if o.memory.is_some() {
            container.memory = o.memory;
        }
        if o.memory_reservation.is_some() {
            container.memory_reservation = o.memory_reservation;
        }
        if o.resource_requirements.is_some() {
            container.resource_requirements = o.resource_requirements.clone();
        }
    }
    containers
}

/// ECS's message for a strategy naming a capacity provider the cluster does not have.
pub const NOT_ASSOCIATED: &str = "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.";

/// The capacity providers every account has, which run tasks on Fargate.
const FARGATE_PROVIDERS: &[&str] = &["FARGATE", "FARGATE_SPOT"];

/// What RunTask, StartTask's peers and CreateService refuse about where tasks would run, each
/// with ECS's own error for it. Berth runs tasks on its registered instances only (the EC2
/// launch type) until Fargate and capacity providers land: no cluster has a capacity provider
/// (CreateCluster and PutClusterCapacityProviders refuse them), so any strategy names one that
/// is not associated with the cluster, and the other launch types are not offered here.
pub fn check_launch_target(
    launch_type: Option<&str>,
    capacity_providers: Option<&[CapacityProviderStrategyItem]>,
    platform_version: Option<&str>,
) -> Result<(), EcsError> {
    let strategy = capacity_providers.unwrap_or_default();
    if launch_type.is_some() && !strategy.is_empty() {
        return Err(invalid(
            "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.",
        ));
    }
    if !strategy.is_empty() {
        return Err(invalid(NOT_ASSOCIATED));
    }
    if let Some(other) = launch_type.filter(|t| *t != "EC2") {
        return Err(EcsError::UnsupportedFeature(format!(
            "The {other} launch type is not supported in this Region."
        )));
    }
    if platform_version.is_some() {
        return Err(invalid(
            "The platform version must be null when specifying an EC2 launch type.",
        ));
    }
    Ok(())
}

/// What CreateCluster and PutClusterCapacityProviders refuse: every capacity provider, until
/// they land — Fargate's as not offered in this Region, any other as not found (none can be
/// created) — and a default strategy naming a provider the cluster is not given.
pub fn check_cluster_capacity_providers(
    providers: &[String],
    default_strategy: &[CapacityProviderStrategyItem],
) -> Result<(), EcsError> {
    if let Some(provider) = providers.first() {
        if FARGATE_PROVIDERS.contains(&provider.as_str()) {
            return Err(EcsError::UnsupportedFeature(format!(
                "The {provider} capacity provider is not supported in this Region."
            )));
        }
        return Err(invalid(
            "The specified capacity provider was not found. Specify a valid capacity provider and try again.",
        ));
    }
    if !default_strategy.is_empty() {
        return Err(invalid(NOT_ASSOCIATED));
    }
    Ok(())
}

/// The task definition's placement constraints (when given) and then a call's, as the engine
/// takes them; a bad one is InvalidParameterException.
pub fn parse_constraints(
    definition: Option<&TaskDefinition>,
    call: &[PlacementConstraint],
) -> Result<Vec<Constraint>, EcsError> {
    let from_definition = definition
        .and_then(|d| d.placement_constraints.as_deref())
        .unwrap_or_default()
        .iter()
        .map(|c| (c.r#type.as_deref(), c.expression.as_deref()));
    let from_call = call
        .iter()
        .map(|c| (c.r#type.as_deref(), c.expression.as_deref()));
    from_definition
        .chain(from_call)
        .map(|(kind, expression)| {
            Constraint::parse(kind.unwrap_or_default(), expression)
                .map_err(|err| invalid(err.to_string()))
        })
        .collect()
}

/// Placement strategies as the engine takes them; a bad one is InvalidParameterException.
pub fn parse_strategies(strategies: &[PlacementStrategy]) -> Result<Vec<Strategy>, EcsError> {
    strategies
        .iter()
        .map(|s| {
            Strategy::parse(s.r#type.as_deref().unwrap_or_default(), s.field.as_deref())
                .map_err(|err| invalid(err.to_string()))
        })
        .collect()
}

/// The attributes an instance must have to run the task definition (`requiresAttributes`).
pub fn required_attributes(definition: &TaskDefinition) -> Vec<RequiredAttribute> {
    definition
        .requires_attributes
        .iter()
        .flatten()
        .filter_map(|a| {
            Some(RequiredAttribute {
                name: a.name.clone()?,
                value: a.value.clone(),
            })
        })
        .collect()
}

/// The attributes an instance must have to run a task of `definition` with `overrides`: the
/// definition's `requiresAttributes`, and what container overrides bring that the definition
/// did not (S3 environment files, Elastic Inference accelerators), named as ECS names them.
pub fn required_attributes_with_overrides(
    definition: &TaskDefinition,
    overrides: &TaskOverride,
) -> Vec<RequiredAttribute> {
    let mut required = required_attributes(definition);
    let mut need = |name: &str| {
        if !required.iter().any(|r| r.name == name) {
            required.push(RequiredAttribute {
                name: name.to_owned(),
                value: None,
            });
        }
    };
    for container in overrides.container_overrides.iter().flatten() {
        if container
            .environment_files
            .as_ref()
            .is_some_and(|f| !f.is_empty())
        {
            need("ecs.capability.env-files.s3");
        }
        if container
            .resource_requirements
            .iter()
            .flatten()
            .any(|r| r.r#type.as_deref() == Some("InferenceAccelerator"))
        {
            need("ecs.capability.task-eia");
        }
    }
    if overrides
        .inference_accelerator_overrides
        .as_ref()
        .is_some_and(|a| !a.is_empty())
    {
        need("ecs.capability.task-eia");
    }
    required
}

#[cfg(test)]
mod tests {
    use crate::error::EcsError as Error;

    fn item(provider: &str) -> CapacityProviderStrategyItem {
        CapacityProviderStrategyItem {
            capacity_provider: Some(provider.into()),
            ..CapacityProviderStrategyItem::default()
        }
    }

    fn code(result: Result<(), Error>) -> String {
        let err = result.unwrap_err();
        format!("{}: {}", err.exception_name(), err)
    }

    #[test]
    fn launch_targets_other_than_ec2_get_ecs_errors() {
        assert!(check_launch_target(None, None, None).is_ok());
        assert!(check_launch_target(Some("EC2"), Some(&[]), None).is_ok());
        let both = code(check_launch_target(
            Some("EC2"),
            Some(&[item("FARGATE")]),
            None,
        ));
        assert!(
            both.starts_with("InvalidParameterException: Specifying both a launch type"),
            "{both}"
        );
        let strategy = code(check_launch_target(
            None,
            Some(&[item("FARGATE_SPOT")]),
            None,
        ));
        assert_eq!(
            strategy,
            format!("InvalidParameterException: {NOT_ASSOCIATED}")
        );
        let fargate = code(check_launch_target(Some("FARGATE"), None, None));
        assert_eq!(
            fargate,
            "UnsupportedFeatureException: The FARGATE launch type is not supported in this Region."
        );
        let version = code(check_launch_target(Some("EC2"), None, Some("1.4.0")));
        assert_eq!(
            version,
            "InvalidParameterException: The platform version must be null when specifying an EC2 launch type."
        );
    }

    #[test]
    fn clusters_get_no_capacity_providers_yet() {
        assert!(check_cluster_capacity_providers(&[], &[]).is_ok());
        assert!(
            code(check_cluster_capacity_providers(&["FARGATE".into()], &[]))
                .starts_with("UnsupportedFeatureException: The FARGATE capacity provider")
        );
        assert!(
            code(check_cluster_capacity_providers(&["my-asg".into()], &[])).starts_with(
                "InvalidParameterException: The specified capacity provider was not found."
            )
        );
        assert_eq!(
            code(check_cluster_capacity_providers(&[], &[item("FARGATE")])),
            format!("InvalidParameterException: {NOT_ASSOCIATED}")
        );
    }
    use std::collections::BTreeSet;

    use super::*;

    fn definition(json: &str) -> TaskDefinition {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn demand_sums_containers_unless_the_task_sets_its_size() {
        let td = definition(
            r#"{"networkMode":"bridge","containerDefinitions":[
                {"name":"a","cpu":256,"memory":128,"portMappings":[{"containerPort":80,"hostPort":8080},{"containerPort":81}],
                 "resourceRequirements":[{"type":"GPU","value":"2"}]},
                {"name":"b","memoryReservation":64,"portMappings":[{"containerPort":53,"hostPort":53,"protocol":"udp"}]}]}"#,
        );
        let demand = demand_of(&td, &TaskOverride::default());
        assert_eq!((demand.cpu, demand.memory, demand.gpus), (256, 192, 2));
        assert_eq!(demand.tcp_ports, BTreeSet::from([8080]));
        assert_eq!(demand.udp_ports, BTreeSet::from([53]));
        let overrides: TaskOverride = serde_json::from_str(
            r#"{"memory":"1GB","containerOverrides":[{"name":"a","cpu":512}]}"#,
        )
        .unwrap();
        let demand = demand_of(&td, &overrides);
        assert_eq!((demand.cpu, demand.memory), (512, 1024));
        // A container override's resourceRequirements replace the definition's.
        let overrides: TaskOverride = serde_json::from_str(
            r#"{"containerOverrides":[{"name":"b","resourceRequirements":[{"type":"GPU","value":"1"}]},
                                      {"name":"a","resourceRequirements":[]}]}"#,
        )
        .unwrap();
        assert_eq!(demand_of(&td, &overrides).gpus, 1);
    }

    #[test]
    fn overrides_add_the_attributes_their_features_need() {
        let td = definition(
            r#"{"requiresAttributes":[{"name":"ecs.capability.container-health-check"}],
                "containerDefinitions":[{"name":"a","memory":8}]}"#,
        );
        let names = |overrides: &str| -> Vec<String> {
            let overrides: TaskOverride = serde_json::from_str(overrides).unwrap();
            required_attributes_with_overrides(&td, &overrides)
                .into_iter()
                .map(|r| r.name)
                .collect()
        };
        assert_eq!(names("{}"), ["ecs.capability.container-health-check"]);
        assert_eq!(
            names(
                r#"{"containerOverrides":[{"name":"a","environmentFiles":[{"value":"arn:aws:s3:::b/x.env","type":"s3"}],
                    "resourceRequirements":[{"type":"InferenceAccelerator","value":"d"}]}]}"#
            ),
            [
                "ecs.capability.container-health-check",
                "ecs.capability.env-files.s3",
                "ecs.capability.task-eia"
            ]
        );
    }

    #[test]
    fn host_mode_reserves_every_container_port() {
        let td = definition(
            r#"{"networkMode":"host","containerDefinitions":[{"name":"a","memory":8,"portMappings":[{"containerPort":80}]}]}"#,
        );
        assert_eq!(
            demand_of(&td, &TaskOverride::default()).tcp_ports,
            BTreeSet::from([80])
        );
    }
}
