//! Scaling activities as Application Auto Scaling words them for ECS services.

/// `Description` of an activity that sets the desired count.
pub fn desired_count_description(count: i32) -> String {
    format!("Setting desired count to {count}.")
}

/// `StatusMessage` of a successful desired count change.
pub fn desired_count_done(count: i32) -> String {
    format!("Successfully set desired count to {count}. Change successfully fulfilled by ecs.")
}

/// `StatusMessage` of a desired count change ECS refused.
pub fn desired_count_failed(count: i32, reason: &str) -> String {
    format!("Failed to set desired count to {count}. Reason: {reason}")
}

/// `Cause` of an activity a policy's alarm started.
pub fn alarm_cause(alarm_name: &str, policy_name: &str) -> String {
    format!("monitor alarm {alarm_name} in state ALARM triggered policy {policy_name}")
}

/// `Cause` of an activity a scheduled action started.
pub fn scheduled_cause(action_name: &str) -> String {
    format!("scheduled action name {action_name} was triggered")
}

/// `Description` of a scheduled action's new bounds (only those it names).
pub fn bounds_description(min: Option<i32>, max: Option<i32>) -> String {
    format!("Setting {}", bounds_text(min, max))
}

/// `StatusMessage` of a scheduled action's new bounds.
pub fn bounds_done(min: Option<i32>, max: Option<i32>) -> String {
    format!("Successfully set {}", bounds_text(min, max))
}

fn bounds_text(min: Option<i32>, max: Option<i32>) -> String {
    match (min, max) {
        (Some(min), Some(max)) => format!("min capacity to {min} and max capacity to {max}"),
        (Some(min), None) => format!("min capacity to {min}"),
        (None, Some(max)) => format!("max capacity to {max}"),
        (None, None) => "no capacity".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecs_wording() {
        assert_eq!(desired_count_description(3), "Setting desired count to 3.");
        assert_eq!(
            desired_count_done(1),
            "Successfully set desired count to 1. Change successfully fulfilled by ecs."
        );
        assert_eq!(
            alarm_cause("web-app-cpu-lt-25", "web-app-cpu-lt-25"),
            "monitor alarm web-app-cpu-lt-25 in state ALARM triggered policy web-app-cpu-lt-25"
        );
        assert_eq!(
            scheduled_cause("nightly"),
            "scheduled action name nightly was triggered"
        );
        assert_eq!(
            bounds_description(Some(2), Some(5)),
            "Setting min capacity to 2 and max capacity to 5"
        );
        assert_eq!(
            bounds_done(None, Some(5)),
            "Successfully set max capacity to 5"
        );
    }
}
