//! A service's `loadBalancers`: ECS's checks of each entry against the task definition and the
//! target group it names (pure; the caller looks the target group up).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use berth_ecs_wire::{LoadBalancer, Task, TaskDefinition};

use crate::EcsError;
use crate::error::invalid;

/// A service can be attached to at most five target groups.
pub const MAX_TARGET_GROUPS: usize = 5;

/// The `roleArn` CreateService's `role` becomes, with ECS's refusals: a role goes only with a
/// load balancer, and one target group (several need the service-linked role). A name (with its
/// path, as `/foo/bar`) is a role of `account`; an ARN is kept.
pub fn role_arn(
    role: Option<&str>,
    load_balancers: &[LoadBalancer],
    account: &str,
) -> Result<Option<String>, EcsError> {
    let Some(role) = role else {
        return Ok(None);
    };
    match load_balancers.len() {
        0 => Err(invalid(
            "IAM roles are only valid for services configured to use load balancers.",
        )),
        1 if role.starts_with("arn:") => Ok(Some(role.to_string())),
        1 => Ok(Some(format!(
            "arn:aws:iam::{account}:role/{}",
            role.trim_start_matches('/')
        ))),
        _ => Err(invalid(
            "You cannot specify an IAM role for services that require a service linked role.",
        )),
    }
}

/// Checks the entries themselves and each against `definition`: a target group ARN (Berth has
/// no Classic Load Balancers), a container of the task definition that maps the container port.
/// Also what UpdateService checks when the task definition changes.
pub fn check_against_definition(
    load_balancers: &[LoadBalancer],
    definition: &TaskDefinition,
) -> Result<(), EcsError> {
    if load_balancers.len() > MAX_TARGET_GROUPS {
        // ECS's own words (hashicorp/terraform#25306 quotes the error).
        return Err(invalid(format!(
            "load balancers can have at most {MAX_TARGET_GROUPS} items."
        )));
    }
    for entry in load_balancers {
        if entry.target_group_arn.is_none() {
            return Err(match &entry.load_balancer_name {
                Some(name) => invalid(format!("The load balancer {name} does not exist.")),
                None => invalid("targetGroupArn is required for each load balancer."),
            });
        }
        let name = entry.container_name.as_deref().unwrap_or_default();
        let Some(container) = definition
            .container_definitions
            .iter()
            .flatten()
            .find(|c| c.name.as_deref() == Some(name))
        else {
            return Err(invalid(format!(
                "The container {name} does not exist in the task definition."
            )));
        };
        let port = entry.container_port.unwrap_or_default();
        let mapped = container
            .port_mappings
            .iter()
            .flatten()
            .any(|m| m.container_port == Some(port));
        if !mapped {
            return Err(invalid(format!(
                "The container {name} did not have a container port {port} defined."
            )));
        }
    }
    Ok(())
}

/// What a service needs to know of a target group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupFacts {
    /// `instance`, `ip`, …
    pub target_type: String,
    /// Whether a load balancer forwards to it.
    pub has_load_balancer: bool,
    /// How long a deregistered target drains (`deregistration_delay.timeout_seconds`).
    pub deregistration_delay_seconds: u64,
}

/// Checks the target group `arn` (as found, `None` when it does not exist) for a service whose
/// tasks use `network_mode`: bridge and host tasks are reached at their instance (`instance`
/// targets), awsvpc tasks at their own address (`ip` targets).
pub fn check_target_group(
    arn: &str,
    found: Option<&TargetGroupFacts>,
    network_mode: &str,
) -> Result<(), EcsError> {
    let Some(group) = found else {
        // What ECS answers when it cannot look the target group up (aws/amazon-ecs-cli#21,
        // Shippable/support#4698: a group of another account or a name in place of the ARN).
        return Err(invalid(
            "Unable to assume role and validate the specified targetGroupArn. Please verify that the ECS service role being passed has the proper permissions.",
        ));
    };
    let fits = match network_mode {
        "awsvpc" => group.target_type == "ip",
        _ => group.target_type == "instance",
    };
    if !fits {
        return Err(invalid(format!(
            "The provided target group {arn} has target type {}, which is incompatible with the {network_mode} network mode specified in the task definition.",
            group.target_type
        )));
    }
    if !group.has_load_balancer {
        return Err(invalid(format!(
            "The target group with targetGroupArn {arn} does not have an associated load balancer."
        )));
    }
    Ok(())
}

/// Where a load balancer reaches one task for one target group: the EC2 instance id of the
/// task's container instance and the host port Docker bound to the container port.
pub type TargetOf = (String, i32);

/// What the service scheduler does with a service's targets in one pass, per target group ARN.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Registrations {
    /// Targets of RUNNING tasks the service keeps.
    pub register: BTreeMap<String, BTreeSet<TargetOf>>,
    /// Targets of tasks the service stops now or that have stopped: deregistered before the
    /// scheduler stops the task, so the load balancer drains it first.
    pub deregister: BTreeMap<String, BTreeSet<TargetOf>>,
}

/// The target of `task` for `entry`: its instance's EC2 id (`ec2_instance_of` the task's
/// container instance ARN) and the host port of the container port's network binding.
fn target_of(
    task: &Task,
    entry: &LoadBalancer,
    ec2_instance_of: &impl Fn(&str) -> Option<String>,
) -> Option<TargetOf> {
    let instance = ec2_instance_of(task.container_instance_arn.as_deref()?)?;
    let container = task
        .containers
        .iter()
        .flatten()
        .find(|c| c.name.is_some() && c.name == entry.container_name)?;
    let port = container
        .network_bindings
        .iter()
        .flatten()
        .find(|b| b.container_port.is_some() && b.container_port == entry.container_port)?
        .host_port?;
    Some((instance, port))
}

/// Decides a pass's registrations. Each task comes with the load balancers of its own
/// deployment (a service's deployments may name different target groups): every RUNNING task
/// the service keeps is registered in its groups (the elbv2 side skips what is registered
/// already), every task it stops now (`stopping`, by task id) or that stopped or is stopping is
/// deregistered from them — unless a kept task has the same target in that group (Docker may
/// give a stopped task's host port to a new one on the same instance).
pub fn registrations<'a>(
    tasks: impl IntoIterator<Item = (&'a Task, &'a [LoadBalancer])>,
    stopping: &HashSet<String>,
    ec2_instance_of: impl Fn(&str) -> Option<String>,
) -> Registrations {
    let mut keep: BTreeMap<String, BTreeSet<TargetOf>> = BTreeMap::new();
    let mut leave: BTreeMap<String, BTreeSet<TargetOf>> = BTreeMap::new();
    for (task, load_balancers) in tasks {
        let id = task
            .task_arn
            .as_deref()
            .and_then(|arn| arn.rsplit('/').next())
            .unwrap_or_default();
        let kept = task.desired_status.as_deref() == Some("RUNNING")
            && task.last_status.as_deref() == Some("RUNNING")
            && !stopping.contains(id);
        let leaving = task.desired_status.as_deref() != Some("RUNNING") || stopping.contains(id);
        for entry in load_balancers {
            let Some(arn) = &entry.target_group_arn else {
                continue;
            };
            let Some(target) = target_of(task, entry, &ec2_instance_of) else {
                continue;
            };
            if kept {
                keep.entry(arn.clone()).or_default().insert(target);
            } else if leaving {
                leave.entry(arn.clone()).or_default().insert(target);
            }
        }
    }
    for (arn, targets) in &mut leave {
        if let Some(kept) = keep.get(arn) {
            targets.retain(|target| !kept.contains(target));
        }
    }
    leave.retain(|_, targets| !targets.is_empty());
    Registrations {
        register: keep,
        deregister: leave,
    }
}

/// What a target group reports of its targets: per target, ALB's state and its description.
pub type GroupHealth = BTreeMap<TargetOf, (String, Option<String>)>;

/// A task's standing with its service's target groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElbHealth {
    /// Its target is `healthy` in every target group.
    Healthy,
    /// Its target is `unhealthy` in this target group (the first, in the service's order).
    Unhealthy {
        target_group_arn: String,
        target: TargetOf,
        description: Option<String>,
    },
    /// Not healthy everywhere yet: still `initial`, not registered yet, or without a binding.
    Unknown,
}

/// The task's standing from each target group's health (`health`, by target group ARN).
pub fn elb_health(
    task: &Task,
    load_balancers: &[LoadBalancer],
    health: &BTreeMap<String, GroupHealth>,
    ec2_instance_of: impl Fn(&str) -> Option<String>,
) -> ElbHealth {
    let mut all_healthy = true;
    for entry in load_balancers {
        let Some(arn) = &entry.target_group_arn else {
            continue;
        };
        let Some(target) = target_of(task, entry, &ec2_instance_of) else {
            all_healthy = false;
            continue;
        };
        match health.get(arn).and_then(|group| group.get(&target)) {
            Some((state, description)) if state == "unhealthy" => {
                return ElbHealth::Unhealthy {
                    target_group_arn: arn.clone(),
                    target,
                    description: description.clone(),
                };
            }
            Some((state, _)) if state == "healthy" => {}
            _ => all_healthy = false,
        }
    }
    if all_healthy {
        ElbHealth::Healthy
    } else {
        ElbHealth::Unknown
    }
}

/// A service task's health behind load balancers, as its deployment counts it: HEALTHY only
/// when every target group says so and its container health checks (when its task definition
/// has them) pass too; UNHEALTHY when either fails.
pub fn combined_health(container: &str, container_checked: bool, elb: &ElbHealth) -> &'static str {
    let container_ok = !container_checked || container == "HEALTHY";
    match elb {
        ElbHealth::Unhealthy { .. } => "UNHEALTHY",
        _ if container_checked && container == "UNHEALTHY" => "UNHEALTHY",
        ElbHealth::Healthy if container_ok => "HEALTHY",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use berth_ecs_wire::{ContainerDefinition, PortMapping};

    use super::*;

    #[test]
    fn a_service_role_goes_with_one_load_balancer() {
        let one = vec![LoadBalancer::default()];
        let role = |role, lbs: &[LoadBalancer]| role_arn(role, lbs, "000000000000");
        assert_eq!(role(None, &[]), Ok(None));
        assert_eq!(
            role(Some("ecsServiceRole"), &one),
            Ok(Some("arn:aws:iam::000000000000:role/ecsServiceRole".into()))
        );
        assert_eq!(
            role(Some("/foo/bar"), &one),
            Ok(Some("arn:aws:iam::000000000000:role/foo/bar".into()))
        );
        let arn = "arn:aws:iam::111111111111:role/x";
        assert_eq!(role(Some(arn), &one), Ok(Some(arn.into())));
        assert_eq!(
            role(Some("r"), &[]).unwrap_err().to_string(),
            "IAM roles are only valid for services configured to use load balancers."
        );
        assert_eq!(
            role(
                Some("r"),
                &[LoadBalancer::default(), LoadBalancer::default()]
            )
            .unwrap_err()
            .to_string(),
            "You cannot specify an IAM role for services that require a service linked role."
        );
    }

    const ARN: &str =
        "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/0123456789abcdef";

    fn definition() -> TaskDefinition {
        TaskDefinition {
            container_definitions: Some(vec![ContainerDefinition {
                name: Some("web".into()),
                port_mappings: Some(vec![PortMapping {
                    container_port: Some(8080),
                    ..Default::default()
                }]),
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    fn entry(container: &str, port: i32) -> LoadBalancer {
        LoadBalancer {
            target_group_arn: Some(ARN.into()),
            container_name: Some(container.into()),
            container_port: Some(port),
            ..Default::default()
        }
    }

    fn message(err: EcsError) -> String {
        err.to_string()
    }

    #[test]
    fn the_container_and_its_port_must_be_in_the_task_definition() {
        assert!(check_against_definition(&[entry("web", 8080)], &definition()).is_ok());
        assert_eq!(
            message(check_against_definition(&[entry("api", 8080)], &definition()).unwrap_err()),
            "The container api does not exist in the task definition."
        );
        assert_eq!(
            message(check_against_definition(&[entry("web", 80)], &definition()).unwrap_err()),
            "The container web did not have a container port 80 defined."
        );
        let classic = LoadBalancer {
            load_balancer_name: Some("classic".into()),
            target_group_arn: None,
            ..entry("web", 8080)
        };
        assert_eq!(
            message(check_against_definition(&[classic], &definition()).unwrap_err()),
            "The load balancer classic does not exist."
        );
    }

    #[test]
    fn at_most_five_target_groups() {
        let five = vec![entry("web", 8080); 5];
        assert!(check_against_definition(&five, &definition()).is_ok());
        let six = vec![entry("web", 8080); 6];
        assert_eq!(
            message(check_against_definition(&six, &definition()).unwrap_err()),
            "load balancers can have at most 5 items."
        );
    }

    #[test]
    fn the_target_group_must_exist_fit_the_network_mode_and_have_a_load_balancer() {
        let instance = TargetGroupFacts {
            target_type: "instance".into(),
            has_load_balancer: true,
            deregistration_delay_seconds: 300,
        };
        assert!(check_target_group(ARN, Some(&instance), "bridge").is_ok());
        assert!(check_target_group(ARN, Some(&instance), "host").is_ok());
        assert_eq!(
            message(check_target_group(ARN, Some(&instance), "awsvpc").unwrap_err()),
            format!(
                "The provided target group {ARN} has target type instance, which is incompatible with the awsvpc network mode specified in the task definition."
            )
        );
        let ip = TargetGroupFacts {
            target_type: "ip".into(),
            ..instance.clone()
        };
        assert!(check_target_group(ARN, Some(&ip), "bridge").is_err());
        assert!(check_target_group(ARN, Some(&ip), "awsvpc").is_ok());
        let unused = TargetGroupFacts {
            has_load_balancer: false,
            ..instance
        };
        assert_eq!(
            message(check_target_group(ARN, Some(&unused), "bridge").unwrap_err()),
            format!(
                "The target group with targetGroupArn {ARN} does not have an associated load balancer."
            )
        );
        assert_eq!(
            message(check_target_group(ARN, None, "bridge").unwrap_err()),
            "Unable to assume role and validate the specified targetGroupArn. Please verify that the ECS service role being passed has the proper permissions."
        );
    }
}

#[cfg(test)]
mod registration_tests {
    use berth_ecs_wire::{Container, NetworkBinding};

    use super::*;

    const TG: &str =
        "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/0123456789abcdef";

    fn task(id: &str, desired: &str, last: &str, host_port: i32) -> Task {
        Task {
            task_arn: Some(format!("arn:aws:ecs:us-east-1:000000000000:task/c/{id}")),
            container_instance_arn: Some(
                "arn:aws:ecs:us-east-1:000000000000:container-instance/c/ci".into(),
            ),
            desired_status: Some(desired.into()),
            last_status: Some(last.into()),
            containers: Some(vec![Container {
                name: Some("web".into()),
                network_bindings: Some(vec![NetworkBinding {
                    container_port: Some(8080),
                    host_port: Some(host_port),
                    ..Default::default()
                }]),
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    fn entry() -> LoadBalancer {
        LoadBalancer {
            target_group_arn: Some(TG.into()),
            container_name: Some("web".into()),
            container_port: Some(8080),
            ..Default::default()
        }
    }

    fn instance(_: &str) -> Option<String> {
        Some("i-0123456789abcdef0".into())
    }

    fn targets(ports: &[i32]) -> BTreeSet<TargetOf> {
        ports
            .iter()
            .map(|p| ("i-0123456789abcdef0".to_string(), *p))
            .collect()
    }

    #[test]
    fn running_tasks_register_and_stopping_ones_deregister_first() {
        let tasks = [
            task("a", "RUNNING", "RUNNING", 32768),
            task("b", "RUNNING", "RUNNING", 32769),
            task("c", "RUNNING", "PENDING", 32770),
            task("d", "STOPPED", "RUNNING", 32771),
        ];
        let stopping: HashSet<String> = ["b".to_string()].into();
        let plan = registrations(each_with(&tasks, &[entry()]), &stopping, instance);
        assert_eq!(
            plan.register[TG],
            targets(&[32768]),
            "only RUNNING tasks the service keeps"
        );
        assert_eq!(
            plan.deregister[TG],
            targets(&[32769, 32771]),
            "stopped now, or stopping"
        );
    }

    /// Every task with the same load balancers, as when the service has one deployment.
    fn each_with<'a>(
        tasks: &'a [Task],
        load_balancers: &'a [LoadBalancer],
    ) -> impl Iterator<Item = (&'a Task, &'a [LoadBalancer])> {
        tasks.iter().map(move |task| (task, load_balancers))
    }

    #[test]
    fn each_deployment_registers_in_its_own_target_groups() {
        const NEW: &str =
            "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/new/0123456789abcdef";
        let new_group = [LoadBalancer {
            target_group_arn: Some(NEW.into()),
            ..entry()
        }];
        let old_group = [entry()];
        let old_tasks = [
            task("old-kept", "RUNNING", "RUNNING", 32768),
            task("old-stopping", "RUNNING", "RUNNING", 32769),
        ];
        // The new task got the host port of a task stopping in the other group.
        let new_tasks = [task("new", "RUNNING", "RUNNING", 32769)];
        let stopping: HashSet<String> = ["old-stopping".to_string()].into();
        let plan = registrations(
            each_with(&old_tasks, &old_group).chain(each_with(&new_tasks, &new_group)),
            &stopping,
            instance,
        );
        assert_eq!(plan.register[TG], targets(&[32768]));
        assert_eq!(plan.register[NEW], targets(&[32769]));
        assert_eq!(
            plan.deregister[TG],
            targets(&[32769]),
            "the same target leaves the old group while it joins the new one"
        );
        assert!(!plan.deregister.contains_key(NEW));
        // Without load balancers (`loadBalancers: []`), a deployment's tasks register nowhere.
        let plan = registrations(each_with(&new_tasks, &[]), &HashSet::new(), instance);
        assert_eq!(plan, Registrations::default());
    }

    #[test]
    fn a_host_port_reused_by_a_kept_task_stays_registered() {
        let tasks = [
            task("old", "STOPPED", "STOPPED", 32768),
            task("new", "RUNNING", "RUNNING", 32768),
        ];
        let plan = registrations(each_with(&tasks, &[entry()]), &HashSet::new(), instance);
        assert_eq!(plan.register[TG], targets(&[32768]));
        assert!(plan.deregister.is_empty());
    }

    fn group(entries: &[(i32, &str)]) -> GroupHealth {
        entries
            .iter()
            .map(|(port, state)| {
                (
                    ("i-0123456789abcdef0".to_string(), *port),
                    (state.to_string(), Some("why".to_string())),
                )
            })
            .collect()
    }

    #[test]
    fn a_task_is_healthy_only_when_healthy_in_every_target_group() {
        const OTHER: &str =
            "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/api/0123456789abcdef";
        let second = LoadBalancer {
            target_group_arn: Some(OTHER.into()),
            ..entry()
        };
        let running = task("a", "RUNNING", "RUNNING", 32768);
        let both = [entry(), second];
        let health = |first: &str, other: &str| -> BTreeMap<String, GroupHealth> {
            [
                (TG.to_string(), group(&[(32768, first)])),
                (OTHER.to_string(), group(&[(32768, other)])),
            ]
            .into()
        };
        assert_eq!(
            elb_health(&running, &both, &health("healthy", "healthy"), instance),
            ElbHealth::Healthy
        );
        assert_eq!(
            elb_health(&running, &both, &health("healthy", "initial"), instance),
            ElbHealth::Unknown
        );
        assert_eq!(
            elb_health(&running, &both, &health("healthy", "unhealthy"), instance),
            ElbHealth::Unhealthy {
                target_group_arn: OTHER.into(),
                target: ("i-0123456789abcdef0".into(), 32768),
                description: Some("why".into()),
            }
        );
        let unregistered: BTreeMap<String, GroupHealth> =
            [(TG.to_string(), group(&[(32768, "healthy")]))].into();
        assert_eq!(
            elb_health(&running, &both, &unregistered, instance),
            ElbHealth::Unknown
        );
    }

    #[test]
    fn container_checks_and_target_health_combine() {
        let unhealthy = ElbHealth::Unhealthy {
            target_group_arn: TG.into(),
            target: ("i-0123456789abcdef0".into(), 1),
            description: None,
        };
        assert_eq!(
            combined_health("UNKNOWN", false, &ElbHealth::Healthy),
            "HEALTHY"
        );
        assert_eq!(
            combined_health("UNKNOWN", true, &ElbHealth::Healthy),
            "UNKNOWN"
        );
        assert_eq!(
            combined_health("HEALTHY", true, &ElbHealth::Healthy),
            "HEALTHY"
        );
        assert_eq!(
            combined_health("HEALTHY", true, &ElbHealth::Unknown),
            "UNKNOWN"
        );
        assert_eq!(
            combined_health("UNHEALTHY", true, &ElbHealth::Healthy),
            "UNHEALTHY"
        );
        assert_eq!(combined_health("HEALTHY", true, &unhealthy), "UNHEALTHY");
        assert_eq!(combined_health("UNKNOWN", false, &unhealthy), "UNHEALTHY");
    }

    #[test]
    fn tasks_without_a_binding_or_a_known_instance_have_no_target() {
        let mut unbound = task("a", "RUNNING", "RUNNING", 32768);
        unbound.containers.as_mut().unwrap()[0].network_bindings = Some(Vec::new());
        let plan = registrations(each_with(&[unbound], &[entry()]), &HashSet::new(), instance);
        assert_eq!(plan, Registrations::default());
        let plan = registrations(
            each_with(&[task("a", "RUNNING", "RUNNING", 1)], &[entry()]),
            &HashSet::new(),
            |_| None,
        );
        assert_eq!(plan, Registrations::default());
    }
}
