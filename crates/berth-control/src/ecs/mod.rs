//! The ECS API (`AmazonEC2ContainerServiceV20141113`, AWS JSON 1.1): one `match` from operation to
//! handler; every handler takes its generated request shape (already checked against the model)
//! and returns its response shape.

mod account_settings;
mod agent_actions;
mod authorization;
mod clusters;
pub(crate) mod instances;
pub(crate) mod service_deployments;
pub(crate) mod services;
pub(crate) mod tags;
mod task_definitions;
mod task_protection;
mod task_sets;
pub(crate) mod tasks;

use std::future::Future;

use authorization::Authorization;
use berth_ecs::EcsError;
use berth_ecs::arn::Partition;
use berth_ecs::status::InstanceStatus;
use berth_ecs_wire::Operation;
use berth_gateway::Call;
use berth_wire::Validate;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::{ControlPlane, state};

pub const TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113";

/// Runs one ECS operation on its JSON input and returns its JSON output.
pub async fn call(
    cp: &ControlPlane,
    call: &Call<'_>,
    operation: Operation,
) -> Result<Vec<u8>, ApiError> {
    use Operation as Op;
    let body = (call, &cp.partition);
    match operation {
        Op::CreateCluster => run(body, |r| clusters::create(cp, r)).await,
        Op::DescribeClusters => run(body, |r| clusters::describe(cp, r)).await,
        Op::ListClusters => run(body, |r| clusters::list(cp, r)).await,
        Op::DeleteCluster => run(body, |r| clusters::delete(cp, r)).await,
        Op::UpdateCluster => run(body, |r| clusters::update(cp, r)).await,
        Op::UpdateClusterSettings => run(body, |r| clusters::update_settings(cp, r)).await,
        Op::PutClusterCapacityProviders => {
            run(body, |r| clusters::put_capacity_providers(cp, r)).await
        }
        Op::RegisterTaskDefinition => run(body, |r| task_definitions::register(cp, r)).await,
        Op::DescribeTaskDefinition => run(body, |r| task_definitions::describe(cp, r)).await,
        Op::ListTaskDefinitions => run(body, |r| task_definitions::list(cp, r)).await,
        Op::ListTaskDefinitionFamilies => {
            run(body, |r| task_definitions::list_families(cp, r)).await
        }
        Op::DeregisterTaskDefinition => run(body, |r| task_definitions::deregister(cp, r)).await,
        Op::DeleteTaskDefinitions => run(body, |r| task_definitions::delete(cp, r)).await,
        Op::TagResource => run(body, |r| tags::tag(cp, r)).await,
        Op::UntagResource => run(body, |r| tags::untag(cp, r)).await,
        Op::ListTagsForResource => run(body, |r| tags::list(cp, r)).await,
        Op::PutAccountSetting => run(body, |r| account_settings::put(cp, r)).await,
        Op::PutAccountSettingDefault => run(body, |r| account_settings::put_default(cp, r)).await,
        Op::ListAccountSettings => run(body, |r| account_settings::list(cp, r)).await,
        Op::DeleteAccountSetting => run(body, |r| account_settings::delete(cp, r)).await,
        Op::DescribeContainerInstances => run(body, |r| instances::describe(cp, r)).await,
        Op::ListContainerInstances => run(body, |r| instances::list(cp, r)).await,
        Op::DeregisterContainerInstance => run(body, |r| instances::deregister(cp, r)).await,
        Op::UpdateContainerInstancesState => run(body, |r| instances::update_state(cp, r)).await,
        Op::PutAttributes => run(body, |r| instances::put_attributes(cp, r)).await,
        Op::DeleteAttributes => run(body, |r| instances::delete_attributes(cp, r)).await,
        Op::ListAttributes => run(body, |r| instances::list_attributes(cp, r)).await,
        Op::RegisterContainerInstance => {
            run(body, |r| instances::register_through_api(cp, r)).await
        }
        Op::DiscoverPollEndpoint => {
            run(body, |r| agent_actions::discover_poll_endpoint(cp, r)).await
        }
        Op::SubmitTaskStateChange => {
            run(body, |r| agent_actions::submit_task_state_change(cp, r)).await
        }
        Op::SubmitContainerStateChange => {
            run(body, |r| {
                agent_actions::submit_container_state_change(cp, r)
            })
            .await
        }
        Op::SubmitAttachmentStateChanges => {
            run(body, |r| {
                agent_actions::submit_attachment_state_changes(cp, r)
            })
            .await
        }
        Op::RunTask => run(body, |r| tasks::run(cp, r)).await,
        Op::StartTask => run(body, |r| tasks::start(cp, r)).await,
        Op::StopTask => run(body, |r| tasks::stop(cp, r)).await,
        Op::DescribeTasks => run(body, |r| tasks::describe(cp, r)).await,
        Op::ListTasks => run(body, |r| tasks::list(cp, r)).await,
        Op::UpdateTaskProtection => run(body, |r| task_protection::update(cp, r)).await,
        Op::GetTaskProtection => run(body, |r| task_protection::get(cp, r)).await,
        Op::CreateService => run(body, |r| services::create(cp, r)).await,
        Op::UpdateService => run(body, |r| services::update(cp, r)).await,
        Op::DeleteService => run(body, |r| services::delete(cp, r)).await,
        Op::DescribeServices => run(body, |r| services::describe(cp, r)).await,
        Op::ListServices => run(body, |r| services::list(cp, r)).await,
        Op::ListServiceDeployments => run(body, |r| service_deployments::list(cp, r)).await,
        Op::DescribeServiceDeployments => run(body, |r| service_deployments::describe(cp, r)).await,
        Op::DescribeServiceRevisions => {
            run(body, |r| service_deployments::describe_revisions(cp, r)).await
        }
        Op::StopServiceDeployment => run(body, |r| service_deployments::stop(cp, r)).await,
        Op::CreateTaskSet => run(body, |r| task_sets::create(cp, r)).await,
        Op::DescribeTaskSets => run(body, |r| task_sets::describe(cp, r)).await,
        Op::UpdateTaskSet => run(body, |r| task_sets::update(cp, r)).await,
        Op::DeleteTaskSet => run(body, |r| task_sets::delete(cp, r)).await,
        Op::UpdateServicePrimaryTaskSet => run(body, |r| task_sets::update_primary(cp, r)).await,
        other => {
            call.authorize(&format!("ecs:{}", call.operation), Vec::new(), Vec::new())
                .map_err(ApiError::from)?;
            Err(EcsError::UnsupportedFeature(format!(
                "Berth does not implement the ECS action {} yet.",
                other.name()
            ))
            .into())
        }
    }
}

/// Decodes a request, asks the authorization hook, checks the request against the model and
/// runs its handler.
async fn run<Req, Resp, Fut>(
    (call, partition): (&Call<'_>, &Partition),
    handler: impl FnOnce(Req) -> Fut,
) -> Result<Vec<u8>, ApiError>
where
    Req: DeserializeOwned + Validate + Authorization,
    Resp: Serialize,
    Fut: Future<Output = Result<Resp, ApiError>>,
{
    let request: Req = serde_json::from_slice(call.input).map_err(|err| {
        ApiError::serialization(format!("Could not parse the request body: {err}"))
    })?;
    let conditions = authorization::conditions(&request, partition, call.input);
    call.authorize(
        &format!("ecs:{}", call.operation),
        request.resources(partition),
        conditions,
    )
    .map_err(ApiError::from)?;
    let violations = request.violations();
    if let Some(refusal) = violations
        .enum_violations()
        .iter()
        .find_map(|violation| berth_ecs::error::enum_refusal(&violation.path))
    {
        return Err(refusal.into());
    }
    violations
        .into_result()
        .map_err(EcsError::InvalidParameter)?;
    let response = handler(request).await?;
    serde_json::to_vec(&response)
        .map_err(|err| EcsError::Server(format!("Could not encode the response: {err}")).into())
}

/// A `failures[]` entry for something a Describe call named that does not exist.
pub(crate) fn missing(arn: String) -> berth_ecs_wire::Failure {
    berth_ecs_wire::Failure {
        arn: Some(arn),
        reason: Some("MISSING".into()),
        detail: None,
    }
}

/// Creates the cluster `default` unless it exists, as `berth up` promises.
pub async fn ensure_default_cluster(cp: &ControlPlane) -> Result<(), ApiError> {
    clusters::create(cp, berth_ecs_wire::CreateClusterRequest::default()).await?;
    Ok(())
}

/// Marks every container instance's agent disconnected: called when a control plane starts,
/// since no agent session can exist yet.
pub async fn mark_agents_disconnected(cp: &ControlPlane) -> Result<(), ApiError> {
    let (clusters, _) = state::clusters::page(cp, None, usize::MAX, |_| true).await?;
    for cluster in clusters {
        let name = cluster.cluster_name.unwrap_or_default();
        let (stored, _) =
            state::instances::page(cp, &name, None, usize::MAX, |s| s.connected()).await?;
        for instance in stored {
            instances::disconnected(cp, instance.cluster, instance.id).await?;
        }
    }
    Ok(())
}

/// How many container instances of `cluster` have their agent connected now.
pub async fn connected_agents(cp: &ControlPlane, cluster: &str) -> Result<usize, ApiError> {
    let (connected, _) = state::instances::page(cp, cluster, None, usize::MAX, |s| {
        s.connected() && s.status() != InstanceStatus::Inactive.as_str()
    })
    .await?;
    Ok(connected.len())
}

/// A service's desired count, for Application Auto Scaling: `None` unless the service exists
/// and is ACTIVE.
pub async fn desired_count(
    cp: &ControlPlane,
    cluster: &str,
    service: &str,
) -> Result<Option<i32>, ApiError> {
    Ok(state::services::fetch(cp, cluster, service)
        .await?
        .filter(|s| s.status.as_deref() == Some(berth_ecs::status::ServiceStatus::Active.as_str()))
        .map(|s| s.desired_count.unwrap_or(0)))
}

/// Sets a service's desired count through UpdateService's own path (its checks, one
/// transaction, the scheduler converging): how Application Auto Scaling scales a service.
pub async fn set_desired_count(
    cp: &ControlPlane,
    cluster: &str,
    service: &str,
    count: i32,
) -> Result<(), ApiError> {
    services::update(
        cp,
        berth_ecs_wire::UpdateServiceRequest {
            cluster: Some(cluster.to_owned()),
            service: Some(service.to_owned()),
            desired_count: Some(count),
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}
