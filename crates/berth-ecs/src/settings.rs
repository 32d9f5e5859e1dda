//! Account settings: which values each setting takes and what it defaults to.

use crate::error::{EcsError, invalid};

/// The value a setting has when nobody set it (`type: aws_managed`).
pub fn default_value(name: &str) -> &'static str {
    match name {
        "serviceLongArnFormat" | "taskLongArnFormat" | "containerInstanceLongArnFormat" => {
            "enabled"
        }
        "tagResourceAuthorization" => "on",
        "guardDutyActivate" => "off",
        "fargateTaskRetirementWaitPeriod" => "7",
        "defaultLogDriverMode" => "non-blocking",
        _ => "disabled",
    }
}

/// Checks `value` for setting `name` (the name is already checked against the model's enum).
pub fn check_value(name: &str, value: &str) -> Result<(), EcsError> {
    let allowed: &[&str] = match name {
        "containerInsights" => &["enabled", "disabled", "enhanced"],
        "tagResourceAuthorization" | "guardDutyActivate" => &["on", "off"],
        "fargateTaskRetirementWaitPeriod" => &["0", "7", "14"],
        "defaultLogDriverMode" => &["blocking", "non-blocking"],
        "serviceLongArnFormat" | "taskLongArnFormat" | "containerInstanceLongArnFormat" => {
            &["enabled", "disabled"]
        }
        _ => &["enabled", "disabled"],
    };
    if allowed.contains(&value) {
        Ok(())
    } else {
        // ECS's words, whatever the setting (PutAccountSetting, PutAccountSettingDefault).
        Err(invalid("Invalid setting 'value'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_per_setting() {
        assert!(check_value("containerInsights", "enhanced").is_ok());
        assert!(check_value("awsvpcTrunking", "enhanced").is_err());
        assert!(check_value("fargateTaskRetirementWaitPeriod", "14").is_ok());
        assert!(check_value("fargateTaskRetirementWaitPeriod", "3").is_err());
        assert_eq!(default_value("taskLongArnFormat"), "enabled");
        assert_eq!(default_value("awsvpcTrunking"), "disabled");
    }
}
