//! How the List actions combine their filters, as ECS does.

use berth_ecs_wire::ListTasksRequest;

use crate::error::{EcsError, invalid};

/// ListTasks takes `startedBy` and `serviceName` only as its one filter (`desiredStatus` aside)
/// and refuses either beside another filter with ECS's words; the other filters combine.
pub fn check_list_tasks(request: &ListTasksRequest) -> Result<(), EcsError> {
    let filters = [
        ("startedBy", request.started_by.is_some()),
        ("serviceName", request.service_name.is_some()),
        ("family", request.family.is_some()),
        ("containerInstance", request.container_instance.is_some()),
        ("launchType", request.launch_type.is_some()),
    ];
    let given = filters.iter().filter(|(_, given)| *given).count();
    match filters.iter().take(2).find(|(_, given)| *given) {
        Some((alone, _)) if given > 1 => Err(invalid(format!(
            "cannot specify {alone} with other arguments"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: &str) -> Result<(), String> {
        check_list_tasks(&serde_json::from_str(json).unwrap()).map_err(|err| err.to_string())
    }

    #[test]
    fn started_by_and_service_name_stand_alone() {
        for alone in [
            r#"{"startedBy":"me","desiredStatus":"STOPPED"}"#,
            r#"{"serviceName":"web","desiredStatus":"STOPPED","cluster":"c"}"#,
            r#"{"family":"web","containerInstance":"i","launchType":"EC2"}"#,
            r#"{}"#,
        ] {
            assert_eq!(check(alone), Ok(()), "{alone}");
        }
        for (combined, refused) in [
            (r#"{"startedBy":"me","family":"web"}"#, "startedBy"),
            (r#"{"startedBy":"me","launchType":"EC2"}"#, "startedBy"),
            (r#"{"startedBy":"me","serviceName":"web"}"#, "startedBy"),
            (
                r#"{"serviceName":"web","containerInstance":"i"}"#,
                "serviceName",
            ),
            (r#"{"serviceName":"web","family":"web"}"#, "serviceName"),
        ] {
            assert_eq!(
                check(combined),
                Err(format!("cannot specify {refused} with other arguments")),
                "{combined}"
            );
        }
    }
}
