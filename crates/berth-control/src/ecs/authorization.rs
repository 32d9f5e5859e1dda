//! What the authorization hook is told about each ECS request: the resources that the "Actions,
//! resources, and condition keys for Amazon ECS" table names for its action, and the
//! `ecs:cluster` condition key. Names are turned into the ARNs a policy would match; a reference
//! that is not valid is passed on as written, and the handler rejects it after authorization.

use berth_ecs::arn::Partition;
use berth_ecs_wire::*;

pub(crate) trait Authorization {
    /// The resource ARNs of the action; none means `*`.
    fn resources(&self, _partition: &Partition) -> Vec<String> {
        Vec::new()
    }

    /// The cluster the action is scoped to, for the `ecs:cluster` condition key.
    fn cluster(&self) -> Option<&str> {
        None
    }
}

/// The condition keys of a request: `ecs:cluster`, and `aws:RequestTag/KEY` and `aws:TagKeys`
/// for the tags it attaches (read from the input only when it has any).
pub(crate) fn conditions(
    request: &impl Authorization,
    partition: &Partition,
    input: &[u8],
) -> Vec<(String, String)> {
    let mut conditions = Vec::new();
    if let Some(cluster) = request.cluster() {
        conditions.push((
            "ecs:cluster".to_string(),
            cluster_arn(partition, Some(cluster)),
        ));
    }
    #[derive(serde::Deserialize)]
    struct Tagged {
        tags: Option<Vec<Tag>>,
    }
    let mentions_tags = memchr::memmem::find(input, b"\"tags\"").is_some();
    if mentions_tags && let Ok(Tagged { tags: Some(tags) }) = serde_json::from_slice(input) {
        let mut keys = Vec::new();
        for tag in tags {
            if let Some(key) = tag.key {
                conditions.push((
                    format!("aws:RequestTag/{key}"),
                    tag.value.unwrap_or_default(),
                ));
                keys.push(key);
            }
        }
        conditions.push(("aws:TagKeys".to_string(), keys.join(",")));
    }
    conditions
}

fn cluster_arn(partition: &Partition, reference: Option<&str>) -> String {
    match reference {
        Some(arn) if arn.starts_with("arn:") => arn.to_string(),
        name => partition.cluster_arn(name.unwrap_or("default")),
    }
}

fn cluster_name(reference: Option<&str>) -> &str {
    let reference = reference.unwrap_or("default");
    reference.rsplit('/').next().unwrap_or(reference)
}

/// A resource of a cluster (task, service, container instance) named by id, name or ARN.
fn in_cluster(
    reference: &str,
    cluster: Option<&str>,
    arn: impl Fn(&str, &str) -> String,
) -> String {
    if reference.starts_with("arn:") {
        reference.to_string()
    } else {
        arn(cluster_name(cluster), reference)
    }
}

fn task_definition_arn(partition: &Partition, reference: Option<&str>) -> Vec<String> {
    match reference {
        Some(arn) if arn.starts_with("arn:") => vec![arn.to_string()],
        Some(family) => {
            let reference = if family.contains(':') {
                family.to_string()
            } else {
                format!("{family}:*")
            };
            vec![berth_aws::arn::format(
                "ecs",
                &partition.region,
                &partition.account_id,
                &format!("task-definition/{reference}"),
            )]
        }
        None => Vec::new(),
    }
}

macro_rules! scoped_to_cluster {
    ($($request:ty),* $(,)?) => {$(
        impl Authorization for $request {
            fn resources(&self, partition: &Partition) -> Vec<String> {
                vec![cluster_arn(partition, self.cluster.as_deref())]
            }

            fn cluster(&self) -> Option<&str> {
                self.cluster.as_deref()
            }
        }
    )*};
}

scoped_to_cluster!(
    DeleteClusterRequest,
    UpdateClusterRequest,
    UpdateClusterSettingsRequest,
    PutClusterCapacityProvidersRequest,
    ListContainerInstancesRequest,
    DeregisterContainerInstanceRequest,
    PutAttributesRequest,
    DeleteAttributesRequest,
    RegisterContainerInstanceRequest,
    SubmitTaskStateChangeRequest,
    SubmitContainerStateChangeRequest,
    SubmitAttachmentStateChangesRequest,
);

macro_rules! condition_on_cluster {
    ($($request:ty),* $(,)?) => {$(
        impl Authorization for $request {
            fn cluster(&self) -> Option<&str> {
                self.cluster.as_deref()
            }
        }
    )*};
}

condition_on_cluster!(
    ListTasksRequest,
    ListServicesRequest,
    ListAttributesRequest,
    ListServiceDeploymentsRequest,
);

macro_rules! any_resource {
    ($($request:ty),* $(,)?) => {$(
        impl Authorization for $request {}
    )*};
}

any_resource!(
    ListClustersRequest,
    RegisterTaskDefinitionRequest,
    DescribeTaskDefinitionRequest,
    DeregisterTaskDefinitionRequest,
    DeleteTaskDefinitionsRequest,
    ListTaskDefinitionsRequest,
    ListTaskDefinitionFamiliesRequest,
    PutAccountSettingRequest,
    PutAccountSettingDefaultRequest,
    ListAccountSettingsRequest,
    DeleteAccountSettingRequest,
    DescribeServiceDeploymentsRequest,
    DescribeServiceRevisionsRequest,
    StopServiceDeploymentRequest,
    DiscoverPollEndpointRequest,
);

impl Authorization for CreateClusterRequest {
    fn resources(&self, partition: &Partition) -> Vec<String> {
        vec![cluster_arn(partition, self.cluster_name.as_deref())]
    }
}

impl Authorization for DescribeClustersRequest {
    fn resources(&self, partition: &Partition) -> Vec<String> {
        match &self.clusters {
            Some(clusters) => clusters
                .iter()
                .map(|c| cluster_arn(partition, Some(c)))
                .collect(),
            None => vec![cluster_arn(partition, None)],
        }
    }
}

macro_rules! container_instances {
    ($($request:ty),* $(,)?) => {$(
        impl Authorization for $request {
            fn resources(&self, partition: &Partition) -> Vec<String> {
                let cluster = self.cluster.as_deref();
                self.container_instances
                    .iter()
                    .flatten()
                    .map(|i| in_cluster(i, cluster, |c, id| partition.container_instance_arn(c, id)))
                    .collect()
            }

            fn cluster(&self) -> Option<&str> {
                self.cluster.as_deref()
            }
        }
    )*};
}

container_instances!(
    DescribeContainerInstancesRequest,
    UpdateContainerInstancesStateRequest
);

impl Authorization for RunTaskRequest {
    fn resources(&self, partition: &Partition) -> Vec<String> {
        task_definition_arn(partition, self.task_definition.as_deref())
    }

    fn cluster(&self) -> Option<&str> {
        self.cluster.as_deref()
    }
}

impl Authorization for StartTaskRequest {
    fn resources(&self, partition: &Partition) -> Vec<String> {
        task_definition_arn(partition, self.task_definition.as_deref())
    }

    fn cluster(&self) -> Option<&str> {
        self.cluster.as_deref()
    }
}

impl Authorization for StopTaskRequest {
    fn resources(&self, partition: &Partition) -> Vec<String> {
        let cluster = self.cluster.as_deref();
        self.task
            .iter()
            .map(|t| in_cluster(t, cluster, |c, id| partition.task_arn(c, id)))
            .collect()
    }

    fn cluster(&self) -> Option<&str> {
        self.cluster.as_deref()
    }
}

macro_rules! tasks_in_cluster {
    ($($request:ty),* $(,)?) => {$(
        impl Authorization for $request {
            fn resources(&self, partition: &Partition) -> Vec<String> {
                let cluster = self.cluster.as_deref();
                self.tasks
                    .iter()
                    .flatten()
                    .map(|t| in_cluster(t, cluster, |c, id| partition.task_arn(c, id)))
                    .collect()
            }

            fn cluster(&self) -> Option<&str> {
                self.cluster.as_deref()
            }
        }
    )*};
}

tasks_in_cluster!(
    DescribeTasksRequest,
    UpdateTaskProtectionRequest,
    GetTaskProtectionRequest
);

impl Authorization for CreateServiceRequest {
    fn resources(&self, partition: &Partition) -> Vec<String> {
        let cluster = self.cluster.as_deref();
        self.service_name
            .iter()
            .map(|s| in_cluster(s, cluster, |c, name| partition.service_arn(c, name)))
            .collect()
    }

    fn cluster(&self) -> Option<&str> {
        self.cluster.as_deref()
    }
}

macro_rules! one_service {
    ($($request:ty),* $(,)?) => {$(
        impl Authorization for $request {
            fn resources(&self, partition: &Partition) -> Vec<String> {
                let cluster = self.cluster.as_deref();
                self.service
                    .iter()
                    .map(|s| in_cluster(s, cluster, |c, name| partition.service_arn(c, name)))
                    .collect()
            }

            fn cluster(&self) -> Option<&str> {
                self.cluster.as_deref()
            }
        }
    )*};
}

// The task set actions are authorized on the service ("Actions, resources, and condition keys
// for Amazon ECS" lists `service` for each).
one_service!(
    UpdateServiceRequest,
    DeleteServiceRequest,
    CreateTaskSetRequest,
    DescribeTaskSetsRequest,
    UpdateTaskSetRequest,
    DeleteTaskSetRequest,
    UpdateServicePrimaryTaskSetRequest,
);

impl Authorization for DescribeServicesRequest {
    fn resources(&self, partition: &Partition) -> Vec<String> {
        let cluster = self.cluster.as_deref();
        self.services
            .iter()
            .flatten()
            .map(|s| in_cluster(s, cluster, |c, name| partition.service_arn(c, name)))
            .collect()
    }

    fn cluster(&self) -> Option<&str> {
        self.cluster.as_deref()
    }
}

macro_rules! on_resource_arn {
    ($($request:ty),* $(,)?) => {$(
        impl Authorization for $request {
            fn resources(&self, _partition: &Partition) -> Vec<String> {
                self.resource_arn.iter().cloned().collect()
            }
        }
    )*};
}

on_resource_arn!(
    TagResourceRequest,
    UntagResourceRequest,
    ListTagsForResourceRequest
);

#[cfg(test)]
mod tests {
    use super::*;

    fn partition() -> Partition {
        Partition::new("eu-west-1", "000000000000")
    }

    #[test]
    fn names_become_the_arns_a_policy_matches() {
        let p = partition();
        let run = RunTaskRequest {
            task_definition: Some("web".into()),
            cluster: Some("prod".into()),
            ..Default::default()
        };
        assert_eq!(
            run.resources(&p),
            ["arn:aws:ecs:eu-west-1:000000000000:task-definition/web:*"]
        );
        assert_eq!(run.cluster(), Some("prod"));
        let stop = StopTaskRequest {
            cluster: Some("arn:aws:ecs:eu-west-1:000000000000:cluster/prod".into()),
            task: Some("0123".into()),
            ..Default::default()
        };
        assert_eq!(
            stop.resources(&p),
            ["arn:aws:ecs:eu-west-1:000000000000:task/prod/0123"]
        );
        let describe = DescribeClustersRequest::default();
        assert_eq!(
            describe.resources(&p),
            ["arn:aws:ecs:eu-west-1:000000000000:cluster/default"]
        );
        assert!(ListClustersRequest::default().resources(&p).is_empty());
    }

    #[test]
    fn conditions_carry_the_cluster_and_the_tags_of_the_request() {
        let p = partition();
        let input = br#"{"clusterName":"web","tags":[{"key":"team","value":"a"},{"key":"env","value":"b"}]}"#;
        let request: CreateClusterRequest = serde_json::from_slice(input).unwrap();
        assert_eq!(
            conditions(&request, &p, input),
            [
                ("aws:RequestTag/team".to_string(), "a".to_string()),
                ("aws:RequestTag/env".to_string(), "b".to_string()),
                ("aws:TagKeys".to_string(), "team,env".to_string()),
            ]
        );
        let input = br#"{"cluster":"prod"}"#;
        let request: ListTasksRequest = serde_json::from_slice(input).unwrap();
        assert_eq!(
            conditions(&request, &p, input),
            [(
                "ecs:cluster".to_string(),
                "arn:aws:ecs:eu-west-1:000000000000:cluster/prod".to_string()
            )]
        );
    }
}
