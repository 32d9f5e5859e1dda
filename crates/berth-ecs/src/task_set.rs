//! Task sets: the unit of deployment of a service whose deployment controller is not ECS's own
//! (`EXTERNAL`, `CODE_DEPLOY`). Each task set runs `ceil(desiredCount × scale%)` tasks of its own
//! task definition; the controller moves traffic and scale between them. These are the rules
//! that need no I/O: controllers, statuses, the scale, identifiers, and what UpdateService may
//! still change on such a service.

use berth_ecs_wire::{Scale, Service, TaskSet, UpdateServiceRequest};

use crate::arn::Partition;

use crate::error::{EcsError, invalid};

/// A service has at most this many task sets.
pub const LIMIT: usize = 5;

/// A service's `deploymentController.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    Ecs,
    CodeDeploy,
    External,
}

impl Controller {
    /// The controller a request or record names; absent is ECS's own (the model checks values).
    pub fn of(value: Option<&str>) -> Controller {
        match value {
            Some("CODE_DEPLOY") => Controller::CodeDeploy,
            Some("EXTERNAL") => Controller::External,
            _ => Controller::Ecs,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Controller::Ecs => "ECS",
            Controller::CodeDeploy => "CODE_DEPLOY",
            Controller::External => "EXTERNAL",
        }
    }

    /// Whether the service deploys through task sets rather than `deployments[]`.
    pub fn uses_task_sets(self) -> bool {
        self != Controller::Ecs
    }
}

/// A task set's `status`: PRIMARY serves production traffic, ACTIVE does not, DRAINING is
/// deleted and stopping its tasks (it disappears once they have stopped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskSetStatus {
    Primary,
    Active,
    Draining,
}

impl TaskSetStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskSetStatus::Primary => "PRIMARY",
            TaskSetStatus::Active => "ACTIVE",
            TaskSetStatus::Draining => "DRAINING",
        }
    }
}

/// A task set's `stabilityStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stability {
    SteadyState,
    Stabilizing,
}

impl Stability {
    pub const fn as_str(self) -> &'static str {
        match self {
            Stability::SteadyState => "STEADY_STATE",
            Stability::Stabilizing => "STABILIZING",
        }
    }
}

/// ECS's answer to a task set action on a service that ECS itself deploys.
pub fn not_task_set_service() -> EcsError {
    invalid(
        "Amazon ECS only supports task set management on services configured to use external deployment controllers.",
    )
}

/// ECS's answer to a sixth task set.
pub fn limit_reached() -> EcsError {
    invalid(format!(
        "{LIMIT} deployments exist on the service. Unable to create new TaskSet since this exceeds the maximum limit."
    ))
}

/// The scale a task set is given: a percentage between 0 and 100 (the model allows only the
/// unit PERCENT). CreateTaskSet without one starts the task set at 0 %.
pub fn scale(given: Option<&Scale>) -> Result<Scale, EcsError> {
    let value = given.and_then(|s| s.value).unwrap_or(0.0);
    if !(0.0..=100.0).contains(&value) {
        return Err(invalid("The scale value must be between 0 and 100."));
    }
    Ok(Scale {
        unit: Some("PERCENT".into()),
        value: Some(value),
    })
}

/// `computedDesiredCount`: the service's desired count times the scale, rounded up (1.2 → 2).
pub fn computed_desired_count(desired: i32, percent: f64) -> i32 {
    let exact = f64::from(desired.max(0)) * percent / 100.0;
    // 70 % of 10 is 7.000000000000001 in binary floating point: not 8.
    (exact - 1e-9).ceil().max(0.0) as i32
}

/// A new ACTIVE task set `id` of `service` (in `cluster`) running `task_definition` at `scale`,
/// STABILIZING from `now` until the scheduler finds its count running.
pub fn new(
    partition: &Partition,
    cluster: &str,
    service: &Service,
    id: &str,
    task_definition: &str,
    scale: Scale,
    now: f64,
) -> TaskSet {
    let name = service.service_name.as_deref().unwrap_or_default();
    let computed = computed_desired_count(
        service.desired_count.unwrap_or(0),
        scale.value.unwrap_or(0.0),
    );
    TaskSet {
        id: Some(id.to_string()),
        task_set_arn: Some(partition.task_set_arn(cluster, name, id)),
        service_arn: service.service_arn.clone(),
        cluster_arn: Some(partition.cluster_arn(cluster)),
        status: Some(TaskSetStatus::Active.as_str().into()),
        task_definition: Some(task_definition.to_string()),
        computed_desired_count: Some(computed),
        pending_count: Some(0),
        running_count: Some(0),
        created_at: Some(now),
        updated_at: Some(now),
        launch_type: Some("EC2".into()),
        load_balancers: Some(Vec::new()),
        service_registries: Some(Vec::new()),
        scale: Some(scale),
        stability_status: Some(Stability::Stabilizing.as_str().into()),
        stability_status_at: Some(now),
        ..TaskSet::default()
    }
}

/// Recomputes a task set's `computedDesiredCount` from the service's desired count and its
/// scale (a DRAINING one wants none); one whose count moves is STABILIZING again from `now`.
pub fn recompute(set: &mut TaskSet, desired: i32, now: f64) {
    let computed = if set.status.as_deref() == Some(TaskSetStatus::Draining.as_str()) {
        0
    } else {
        computed_desired_count(
            desired,
            set.scale.as_ref().and_then(|s| s.value).unwrap_or(0.0),
        )
    };
    if set.computed_desired_count != Some(computed) {
        set.computed_desired_count = Some(computed);
        set.stability_status = Some(Stability::Stabilizing.as_str().into());
        set.stability_status_at = Some(now);
        set.updated_at = Some(now);
    }
}

/// The id a task set reference names: its id (`ecs-svc/` and digits) or its ARN.
pub fn task_set_id(reference: &str) -> Result<&str, EcsError> {
    let id = match reference.find("ecs-svc/") {
        Some(at) if reference.starts_with("arn:") && reference.contains(":task-set/") => {
            &reference[at..]
        }
        Some(0) => reference,
        _ => return Err(invalid("Task Set Identifier is invalid")),
    };
    let digits = &id["ecs-svc/".len()..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("Task Set Identifier is invalid"));
    }
    Ok(id)
}

/// What UpdateService may not change on a service deployed through task sets: the members a
/// new task set (or a CodeDeploy deployment) carries. Desired count, deployment configuration,
/// health check grace period, placement, and the tag options stay the service's.
pub fn check_update(
    controller: Controller,
    request: &UpdateServiceRequest,
) -> Result<(), EcsError> {
    let hint = match controller {
        Controller::Ecs => return Ok(()),
        Controller::CodeDeploy => "Use AWS CodeDeploy to trigger a new deployment.",
        Controller::External => "Create a new task set to trigger a new deployment.",
    };
    let refused = [
        (request.task_definition.is_some(), "task definition"),
        (request.load_balancers.is_some(), "load balancers"),
        (
            request.network_configuration.is_some(),
            "network configuration",
        ),
        (request.platform_version.is_some(), "platform version"),
        (request.service_registries.is_some(), "service registries"),
        (
            request.capacity_provider_strategy.is_some(),
            "capacity provider strategy",
        ),
        (
            request.force_new_deployment == Some(true),
            "force new deployment",
        ),
        (
            request.deployment_controller.is_some(),
            "deployment controller",
        ),
    ];
    match refused.iter().find(|(given, _)| *given) {
        Some((_, member)) => Err(invalid(format!(
            "Unable to update {member} on services with a {} deployment controller. {hint}",
            controller.as_str()
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_computed_count_is_the_scaled_desired_count_rounded_up() {
        assert_eq!(computed_desired_count(10, 12.0), 2);
        assert_eq!(computed_desired_count(10, 70.0), 7);
        assert_eq!(computed_desired_count(50, 100.0), 50);
        assert_eq!(computed_desired_count(50, 50.0), 25);
        assert_eq!(computed_desired_count(50, 0.0), 0);
        assert_eq!(computed_desired_count(3, 33.4), 2);
        assert_eq!(computed_desired_count(0, 100.0), 0);
        assert_eq!(computed_desired_count(7, 0.1), 1);
    }

    #[test]
    fn a_new_task_set_runs_its_share_of_the_service() {
        let partition = Partition::new("us-east-1", "000000000000");
        let service = Service {
            service_name: Some("web".into()),
            service_arn: Some(partition.service_arn("c", "web")),
            desired_count: Some(5),
            ..Service::default()
        };
        let half = scale(Some(&Scale {
            unit: Some("PERCENT".into()),
            value: Some(50.0),
        }))
        .unwrap();
        let set = new(&partition, "c", &service, "ecs-svc/1", "arn:td", half, 9.0);
        assert_eq!(
            set.task_set_arn.as_deref(),
            Some("arn:aws:ecs:us-east-1:000000000000:task-set/c/web/ecs-svc/1")
        );
        assert_eq!(set.computed_desired_count, Some(3));
        assert_eq!(set.status.as_deref(), Some("ACTIVE"));
        assert_eq!(set.stability_status.as_deref(), Some("STABILIZING"));
        assert_eq!(set.stability_status_at, Some(9.0));
    }

    #[test]
    fn a_new_count_makes_a_task_set_stabilize_again() {
        let mut set = TaskSet {
            status: Some("ACTIVE".into()),
            scale: Some(
                scale(Some(&Scale {
                    unit: None,
                    value: Some(50.0),
                }))
                .unwrap(),
            ),
            computed_desired_count: Some(2),
            stability_status: Some("STEADY_STATE".into()),
            stability_status_at: Some(1.0),
            ..TaskSet::default()
        };
        recompute(&mut set, 4, 5.0);
        assert_eq!(set.stability_status.as_deref(), Some("STEADY_STATE"));
        assert_eq!(set.stability_status_at, Some(1.0));
        recompute(&mut set, 10, 6.0);
        assert_eq!(set.computed_desired_count, Some(5));
        assert_eq!(set.stability_status.as_deref(), Some("STABILIZING"));
        assert_eq!(set.stability_status_at, Some(6.0));
        set.status = Some("DRAINING".into());
        recompute(&mut set, 10, 7.0);
        assert_eq!(set.computed_desired_count, Some(0));
    }

    #[test]
    fn scale_defaults_to_zero_percent_and_stays_within_0_to_100() {
        assert_eq!(scale(None).unwrap().value, Some(0.0));
        assert_eq!(scale(None).unwrap().unit.as_deref(), Some("PERCENT"));
        let given = |value| Scale {
            unit: Some("PERCENT".into()),
            value: Some(value),
        };
        assert_eq!(scale(Some(&given(100.0))).unwrap().value, Some(100.0));
        for bad in [-0.5, 100.5, f64::NAN] {
            let err = scale(Some(&given(bad))).unwrap_err();
            assert_eq!(err.exception_name(), "InvalidParameterException");
        }
    }

    #[test]
    fn a_task_set_is_named_by_id_or_arn() {
        let id = "ecs-svc/1234567890123456789";
        assert_eq!(task_set_id(id).unwrap(), id);
        let arn = format!("arn:aws:ecs:us-east-1:000000000000:task-set/c/web/{id}");
        assert_eq!(task_set_id(&arn).unwrap(), id);
        for bad in [
            "arn:aws:ecs:us-east-1:000000000000:task/c/0123456789abcdef",
            "ecs-svc/",
            "ecs-svc/12x",
            "1234567890123456789",
        ] {
            assert_eq!(
                task_set_id(bad).unwrap_err(),
                invalid("Task Set Identifier is invalid"),
                "{bad}"
            );
        }
    }

    #[test]
    fn update_service_keeps_to_what_the_controller_leaves_to_the_service() {
        let allowed = UpdateServiceRequest {
            desired_count: Some(3),
            health_check_grace_period_seconds: Some(10),
            deployment_configuration: Some(Default::default()),
            placement_constraints: Some(Vec::new()),
            placement_strategy: Some(Vec::new()),
            enable_ecs_managed_tags: Some(true),
            propagate_tags: Some("SERVICE".into()),
            ..Default::default()
        };
        for controller in [
            Controller::Ecs,
            Controller::External,
            Controller::CodeDeploy,
        ] {
            assert_eq!(check_update(controller, &allowed), Ok(()));
        }
        let new_definition = UpdateServiceRequest {
            task_definition: Some("web:2".into()),
            ..Default::default()
        };
        assert_eq!(check_update(Controller::Ecs, &new_definition), Ok(()));
        assert_eq!(
            check_update(Controller::CodeDeploy, &new_definition),
            Err(invalid(
                "Unable to update task definition on services with a CODE_DEPLOY deployment controller. Use AWS CodeDeploy to trigger a new deployment."
            ))
        );
        let forced = UpdateServiceRequest {
            force_new_deployment: Some(true),
            ..Default::default()
        };
        let err = check_update(Controller::External, &forced).unwrap_err();
        assert!(err.to_string().contains("EXTERNAL"), "{err}");
    }

    #[test]
    fn only_ecs_deploys_without_task_sets() {
        assert!(!Controller::of(None).uses_task_sets());
        assert!(!Controller::of(Some("ECS")).uses_task_sets());
        assert!(Controller::of(Some("EXTERNAL")).uses_task_sets());
        assert!(Controller::of(Some("CODE_DEPLOY")).uses_task_sets());
    }
}
