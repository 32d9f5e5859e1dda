//! Scalable targets: which namespace, dimension and resource ids Berth serves (ECS services'
//! desired count), the capacity bounds RegisterScalableTarget sets, and the error messages
//! Application Auto Scaling gives when something is not found.

use crate::error::{ScalingError, invalid};

/// The only service namespace and scalable dimension Berth scales.
pub const NAMESPACE: &str = "ecs";
pub const DIMENSION: &str = "ecs:service:DesiredCount";

/// What an unsupported namespace or dimension is told: AWS's words, then what Berth serves.
fn unsupported(what: &str) -> ScalingError {
    invalid(format!(
        "Unsupported service namespace, resource type or scalable dimension: {what}. Berth scales ECS services only (ServiceNamespace ecs, ScalableDimension {DIMENSION}, ResourceId service/CLUSTER/SERVICE)."
    ))
}

/// A request's `ServiceNamespace` must be `ecs`; the model has already checked it is one of
/// AWS's namespaces.
pub fn check_namespace(namespace: &str) -> Result<(), ScalingError> {
    if namespace == NAMESPACE {
        Ok(())
    } else {
        Err(unsupported(&format!("service namespace {namespace}")))
    }
}

/// A request's `ScalableDimension` must be `ecs:service:DesiredCount`.
pub fn check_dimension(dimension: &str) -> Result<(), ScalingError> {
    if dimension == DIMENSION {
        Ok(())
    } else {
        Err(unsupported(&format!("scalable dimension {dimension}")))
    }
}

/// The ECS service a resource id names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsService {
    pub cluster: String,
    pub service: String,
}

/// ECS cluster and service names: 1–255 letters, digits, hyphens and underscores.
fn is_ecs_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Reads `service/CLUSTER/SERVICE`.
pub fn parse_resource_id(resource_id: &str) -> Result<EcsService, ScalingError> {
    let mut parts = resource_id.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("service"), Some(cluster), Some(service), None)
            if is_ecs_name(cluster) && is_ecs_name(service) =>
        {
            Ok(EcsService {
                cluster: cluster.to_owned(),
                service: service.to_owned(),
            })
        }
        _ => Err(invalid(format!(
            "Unsupported resource ID format for service namespace ecs: {resource_id}. An ECS service's resource ID is service/CLUSTER/SERVICE."
        ))),
    }
}

/// A scalable target's capacity bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub min: i32,
    pub max: i32,
}

impl Bounds {
    /// `capacity` brought within the bounds.
    pub fn clamp(&self, capacity: i32) -> i32 {
        capacity.clamp(self.min, self.max)
    }
}

/// The bounds RegisterScalableTarget leaves: a new target needs both; registering an existing
/// one again changes only what it names.
pub fn registered_bounds(
    existing: Option<Bounds>,
    min: Option<i32>,
    max: Option<i32>,
) -> Result<Bounds, ScalingError> {
    let (min, max) = match (existing, min, max) {
        (Some(existing), min, max) => (min.unwrap_or(existing.min), max.unwrap_or(existing.max)),
        (None, Some(min), Some(max)) => (min, max),
        (None, _, _) => {
            return Err(invalid(
                "MinCapacity and MaxCapacity are required when registering a new scalable target",
            ));
        }
    };
    check_bounds(min, max)?;
    Ok(Bounds { min, max })
}

/// Capacities are never negative, and the minimum is at most the maximum.
pub fn check_bounds(min: i32, max: i32) -> Result<(), ScalingError> {
    if min < 0 || max < 0 {
        return Err(invalid(
            "Capacity values must be greater than or equal to 0",
        ));
    }
    if min > max {
        return Err(invalid(
            "Minimum capacity cannot be greater than maximum capacity",
        ));
    }
    Ok(())
}

/// A scheduled action's new bounds over the target's: what it does not name stays; a new
/// minimum above the maximum raises the maximum with it, and a new maximum below the minimum
/// lowers the minimum (as Application Auto Scaling applies scheduled actions).
pub fn scheduled_bounds(current: Bounds, min: Option<i32>, max: Option<i32>) -> Bounds {
    match (min, max) {
        (Some(min), Some(max)) => Bounds { min, max },
        (Some(min), None) => Bounds {
            min,
            max: current.max.max(min),
        },
        (None, Some(max)) => Bounds {
            min: current.min.min(max),
            max,
        },
        (None, None) => current,
    }
}

/// ObjectNotFoundException for a target that is not registered.
pub fn target_not_found(resource_id: &str) -> ScalingError {
    ScalingError::ObjectNotFound(format!(
        "No scalable target registered for service namespace: {NAMESPACE}, resource ID: {resource_id}, scalable dimension: {DIMENSION}"
    ))
}

/// ObjectNotFoundException for DeleteScalingPolicy of a policy that does not exist.
pub fn policy_not_found(resource_id: &str, policy_name: &str) -> ScalingError {
    ScalingError::ObjectNotFound(format!(
        "No scaling policy found for service namespace: {NAMESPACE}, resource ID: {resource_id}, scalable dimension: {DIMENSION}, policy name: {policy_name}"
    ))
}

/// ObjectNotFoundException for DeleteScheduledAction of an action that does not exist.
pub fn scheduled_action_not_found(resource_id: &str, name: &str) -> ScalingError {
    ScalingError::ObjectNotFound(format!(
        "No scheduled action found for service namespace: {NAMESPACE}, resource ID: {resource_id}, scalable dimension: {DIMENSION}, scheduled action name: {name}"
    ))
}

/// ValidationException for a target whose ECS service does not exist (or is not ACTIVE).
pub fn service_not_found(resource_id: &str) -> ScalingError {
    invalid(format!("ECS service doesn't exist: {resource_id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ecs_services_desired_count_is_served() {
        assert!(check_namespace("ecs").is_ok());
        let err = check_namespace("dynamodb").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Unsupported service namespace, resource type or scalable dimension: service namespace dynamodb. Berth scales ECS services only (ServiceNamespace ecs, ScalableDimension ecs:service:DesiredCount, ResourceId service/CLUSTER/SERVICE)."
        );
        assert!(check_dimension("ecs:service:DesiredCount").is_ok());
        assert!(matches!(
            check_dimension("dynamodb:table:ReadCapacityUnits"),
            Err(ScalingError::Validation(_))
        ));
    }

    #[test]
    fn resource_ids_name_a_cluster_and_a_service() {
        assert_eq!(
            parse_resource_id("service/default/web-app").unwrap(),
            EcsService {
                cluster: "default".into(),
                service: "web-app".into()
            }
        );
        for bad in [
            "service/default",
            "service/default/web/x",
            "task/default/web",
            "service//web",
            "service/de fault/web",
        ] {
            assert!(parse_resource_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_new_target_needs_both_bounds_and_an_update_keeps_the_rest() {
        assert!(registered_bounds(None, Some(1), None).is_err());
        assert_eq!(
            registered_bounds(None, Some(1), Some(3)).unwrap(),
            Bounds { min: 1, max: 3 }
        );
        let existing = Some(Bounds { min: 1, max: 3 });
        assert_eq!(
            registered_bounds(existing, None, Some(5)).unwrap(),
            Bounds { min: 1, max: 5 }
        );
        assert_eq!(
            registered_bounds(existing, Some(4), None).unwrap_err(),
            invalid("Minimum capacity cannot be greater than maximum capacity")
        );
        assert!(registered_bounds(None, Some(-1), Some(2)).is_err());
    }

    #[test]
    fn scheduled_bounds_keep_min_at_most_max() {
        let current = Bounds { min: 1, max: 3 };
        assert_eq!(
            scheduled_bounds(current, Some(5), None),
            Bounds { min: 5, max: 5 }
        );
        assert_eq!(
            scheduled_bounds(current, None, Some(0)),
            Bounds { min: 0, max: 0 }
        );
        assert_eq!(
            scheduled_bounds(current, Some(2), Some(4)),
            Bounds { min: 2, max: 4 }
        );
        assert_eq!(scheduled_bounds(current, None, None), current);
        assert_eq!(Bounds { min: 1, max: 3 }.clamp(7), 3);
        assert_eq!(Bounds { min: 1, max: 3 }.clamp(0), 1);
    }

    #[test]
    fn not_found_messages_name_the_object() {
        assert_eq!(
            target_not_found("service/default/web").to_string(),
            "No scalable target registered for service namespace: ecs, resource ID: service/default/web, scalable dimension: ecs:service:DesiredCount"
        );
        assert_eq!(
            policy_not_found("service/default/web", "cpu").to_string(),
            "No scaling policy found for service namespace: ecs, resource ID: service/default/web, scalable dimension: ecs:service:DesiredCount, policy name: cpu"
        );
    }
}
