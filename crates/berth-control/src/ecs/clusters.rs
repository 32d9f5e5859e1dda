//! CreateCluster, DescribeClusters, ListClusters, DeleteCluster, UpdateCluster and
//! UpdateClusterSettings.

use berth_ecs::EcsError;
use berth_ecs::arn::is_resource_name;
use berth_ecs::error::invalid;
use berth_ecs::lifecycle::TaskStatus;
use berth_ecs::pagination::{LIST_100, decode_token, encode_token};
use berth_ecs::status::{ClusterStatus, InstanceStatus, ServiceStatus};
use berth_ecs_wire::{
    CapacityProviderStrategyItem, Cluster, ClusterConfiguration, ClusterServiceConnectDefaults,
    ClusterServiceConnectDefaultsRequest, ClusterSetting, CreateClusterRequest,
    CreateClusterResponse, DeleteClusterRequest, DeleteClusterResponse, DescribeClustersRequest,
    DescribeClustersResponse, Failure, KeyValuePair, ListClustersRequest, ListClustersResponse,
    PutClusterCapacityProvidersRequest, PutClusterCapacityProvidersResponse, Service, Tag, Task,
    UpdateClusterRequest, UpdateClusterResponse, UpdateClusterSettingsRequest,
    UpdateClusterSettingsResponse,
};
use berth_store::{Txn, transact};

use crate::ControlPlane;
use crate::error::ApiError;
use crate::state::clusters::{self, active_cluster};
use crate::state::instances::{self, StoredInstance};
use crate::state::{account_settings, services, tags, tasks};

/// DescribeClusters takes at most this many clusters per call.
const DESCRIBE_LIMIT: usize = 100;

/// What DescribeClusters' `include` asks to show.
#[derive(Debug, Clone, Copy, Default)]
struct Include {
    settings: bool,
    configurations: bool,
    tags: bool,
    statistics: bool,
    /// Without `statistics`, show them as an empty list rather than leave them out.
    empty_statistics: bool,
    attachments: bool,
}

impl Include {
    fn from_fields(fields: &[String]) -> Include {
        let has = |name: &str| fields.iter().any(|f| f == name);
        Include {
            settings: has("SETTINGS"),
            configurations: has("CONFIGURATIONS"),
            tags: has("TAGS"),
            statistics: has("STATISTICS"),
            empty_statistics: false,
            attachments: has("ATTACHMENTS"),
        }
    }

    /// What create and update calls return: the whole cluster, its statistics an empty list
    /// (create-cluster.rst and update-cluster.rst show `"statistics": []`).
    const WRITE: Include = Include {
        settings: true,
        configurations: true,
        tags: true,
        statistics: false,
        empty_statistics: true,
        attachments: true,
    };
}

/// What a cluster holds now, for its counts and statistics.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    /// ACTIVE and DRAINING container instances.
    instances: usize,
    running_tasks: usize,
    pending_tasks: usize,
    /// Tasks not yet STOPPED.
    live_tasks: usize,
    active_services: usize,
    draining_services: usize,
}

impl Counts {
    fn of(instances: &[StoredInstance], tasks: &[Task], services: &[Service]) -> Counts {
        let services_in = |status: ServiceStatus| {
            services
                .iter()
                .filter(|s| s.status.as_deref() == Some(status.as_str()))
                .count()
        };
        Counts {
            active_services: services_in(ServiceStatus::Active),
            draining_services: services_in(ServiceStatus::Draining),
            instances: instances
                .iter()
                .filter(|i| i.status() != InstanceStatus::Inactive.as_str())
                .count(),
            running_tasks: tasks
                .iter()
                .filter(|t| tasks::status(t) == TaskStatus::Running)
                .count(),
            pending_tasks: tasks
                .iter()
                .filter(|t| tasks::status(t).is_pending())
                .count(),
            live_tasks: tasks
                .iter()
                .filter(|t| tasks::status(t) != TaskStatus::Stopped)
                .count(),
        }
    }

    fn in_txn(txn: &mut dyn Txn, name: &str) -> Result<Counts, ApiError> {
        let instances = instances::all_in(txn, name)?;
        let tasks = tasks::in_cluster(txn, name)?;
        let services = services::in_cluster(txn, name)?;
        Ok(Counts::of(&instances, &tasks, &services))
    }

    /// From the in-memory views, which answer without reading every task of the cluster.
    async fn now(cp: &ControlPlane, name: &str) -> Result<Counts, ApiError> {
        cp.views.caught_up(&*cp.store).await;
        let (tasks, instances) = cp.views.counts(name);
        let (services, _) = services::page(cp, name, None, usize::MAX, |_| true).await?;
        let services_in = |status: ServiceStatus| {
            services
                .iter()
                .filter(|s| s.status.as_deref() == Some(status.as_str()))
                .count()
        };
        Ok(Counts {
            active_services: services_in(ServiceStatus::Active),
            draining_services: services_in(ServiceStatus::Draining),
            instances,
            running_tasks: tasks.running,
            pending_tasks: tasks.pending,
            live_tasks: tasks.live,
        })
    }
}

/// The cluster as the API shows it: stored fields, counts, and what `include` selects.
fn present(mut cluster: Cluster, tags: Vec<Tag>, counts: Counts, include: Include) -> Cluster {
    let count = |n: usize| Some(n as i32);
    cluster.registered_container_instances_count = count(counts.instances);
    cluster.running_tasks_count = count(counts.running_tasks);
    cluster.pending_tasks_count = count(counts.pending_tasks);
    cluster.active_services_count = count(counts.active_services);
    cluster.statistics = (include.statistics || include.empty_statistics).then(|| {
        if include.statistics {
            [
                ("runningEC2TasksCount", counts.running_tasks),
                ("runningFargateTasksCount", 0),
                ("pendingEC2TasksCount", counts.pending_tasks),
                ("pendingFargateTasksCount", 0),
                ("runningExternalTasksCount", 0),
                ("pendingExternalTasksCount", 0),
                ("activeEC2ServiceCount", counts.active_services),
                ("activeFargateServiceCount", 0),
                ("drainingEC2ServiceCount", counts.draining_services),
                ("drainingFargateServiceCount", 0),
                ("activeExternalServiceCount", 0),
                ("drainingExternalServiceCount", 0),
            ]
            .into_iter()
            .map(|(name, value)| KeyValuePair {
                name: Some(name.into()),
                value: Some(value.to_string()),
            })
            .collect()
        } else {
            Vec::new()
        }
    });
    // ECS leaves out a cluster's capacity providers and default strategy while there are none
    // (create-cluster.rst Example 1, describe-clusters.rst Example 1).
    cluster.capacity_providers = cluster.capacity_providers.filter(|p| !p.is_empty());
    cluster.default_capacity_provider_strategy = cluster
        .default_capacity_provider_strategy
        .filter(|s| !s.is_empty());
    if !include.settings {
        cluster.settings = None;
    }
    if !include.configurations {
        cluster.configuration = None;
    }
    if !include.attachments {
        cluster.attachments = None;
        cluster.attachments_status = None;
    }
    cluster.tags = include.tags.then_some(tags);
    cluster
}

fn check_settings(settings: &[ClusterSetting]) -> Result<(), EcsError> {
    for setting in settings {
        let value = setting.value.as_deref().unwrap_or_default();
        if !matches!(value, "enabled" | "disabled" | "enhanced") {
            return Err(invalid("Invalid setting 'value'"));
        }
    }
    Ok(())
}

/// The capacity providers and default strategy a CreateCluster or PutClusterCapacityProviders
/// call gives a cluster, after ECS's checks (which refuse any named provider until capacity
/// providers land, so both are empty when they pass).
fn capacity_providers(
    providers: &Option<Vec<String>>,
    strategy: &Option<Vec<CapacityProviderStrategyItem>>,
) -> Result<(Vec<String>, Vec<CapacityProviderStrategyItem>), EcsError> {
    let providers = providers.clone().unwrap_or_default();
    let strategy = strategy.clone().unwrap_or_default();
    berth_ecs::placement::check_cluster_capacity_providers(&providers, &strategy)?;
    Ok((providers, strategy))
}

/// ECS takes an execute command log configuration only with `logging: OVERRIDE`; ECS's words
/// are quoted in terraform-aws-modules/terraform-aws-ecs#84.
fn check_configuration(configuration: Option<&ClusterConfiguration>) -> Result<(), EcsError> {
    let Some(execute_command) =
        configuration.and_then(|c| c.execute_command_configuration.as_ref())
    else {
        return Ok(());
    };
    if execute_command.log_configuration.is_some()
        && execute_command.logging.as_deref() != Some("OVERRIDE")
    {
        return Err(invalid(
            "You must set logging to 'OVERRIDE' when you supply a log configuration",
        ));
    }
    Ok(())
}

/// A cluster's default Service Connect namespace as ECS shows it: the namespace's ARN.
fn service_connect_defaults(
    cp: &ControlPlane,
    request: &Option<ClusterServiceConnectDefaultsRequest>,
) -> Option<ClusterServiceConnectDefaults> {
    let namespace = request.as_ref()?.namespace.as_deref()?;
    Some(ClusterServiceConnectDefaults {
        namespace: Some(cp.partition.namespace_arn(namespace)),
    })
}

/// `current` with `updates` applied by setting name.
fn merge_settings(current: &[ClusterSetting], updates: &[ClusterSetting]) -> Vec<ClusterSetting> {
    let mut merged = current.to_vec();
    for update in updates {
        match merged.iter_mut().find(|s| s.name == update.name) {
            Some(existing) => existing.value = update.value.clone(),
            None => merged.push(update.clone()),
        }
    }
    merged
}

pub async fn create(
    cp: &ControlPlane,
    request: CreateClusterRequest,
) -> Result<CreateClusterResponse, ApiError> {
    let name = request
        .cluster_name
        .clone()
        .unwrap_or_else(|| "default".into());
    if !is_resource_name(&name) {
        return Err(invalid(
            "Cluster name must be 1-255 letters (uppercase and lowercase), numbers, hyphens, and underscores.",
        )
        .into());
    }
    let new_tags = request.tags.clone().unwrap_or_default();
    berth_ecs::tags::check_user_tags(&new_tags)?;
    let settings = request.settings.clone().unwrap_or_default();
    check_settings(&settings)?;
    check_configuration(request.configuration.as_ref())?;
    let (providers, strategy) = capacity_providers(
        &request.capacity_providers,
        &request.default_capacity_provider_strategy,
    )?;
    // The namespace is kept and shown as Cloud Map's ARN before Service Connect itself exists.
    let service_connect_defaults = service_connect_defaults(cp, &request.service_connect_defaults);
    let insights_default =
        account_settings::effective(cp, &cp.caller(), "containerInsights").await?;
    let settings = merge_settings(
        &[ClusterSetting {
            name: Some("containerInsights".into()),
            value: Some(insights_default),
        }],
        &settings,
    );
    let arn = cp.partition.cluster_arn(&name);
    let cluster = Cluster {
        cluster_arn: Some(arn.clone()),
        cluster_name: Some(name.clone()),
        status: Some(ClusterStatus::Active.as_str().into()),
        settings: Some(settings),
        configuration: request.configuration.clone(),
        capacity_providers: Some(providers),
        default_capacity_provider_strategy: Some(strategy),
        service_connect_defaults,
        ..Cluster::default()
    };
    let cluster = transact(&*cp.store, move |txn: &mut dyn Txn| {
        // Creating a cluster that exists is not an error in ECS: the existing one comes back.
        if let Some(existing) = clusters::read(txn, &name)?
            && existing.status.as_deref() == Some(ClusterStatus::Active.as_str())
        {
            let tags = tags::read(txn, &arn)?;
            let counts = Counts::in_txn(txn, &name)?;
            return Ok(present(existing, tags, counts, Include::WRITE));
        }
        clusters::write(txn, &name, &cluster);
        tags::write(txn, &arn, &new_tags);
        let shown = present(
            cluster.clone(),
            new_tags.clone(),
            Counts::default(),
            Include::WRITE,
        );
        Ok::<_, ApiError>(shown)
    })
    .await?;
    Ok(CreateClusterResponse {
        cluster: Some(cluster),
    })
}

pub async fn describe(
    cp: &ControlPlane,
    request: DescribeClustersRequest,
) -> Result<DescribeClustersResponse, ApiError> {
    // No cluster named, or an empty list, describes `default` (DescribeClusters: "If you do
    // not specify a cluster, the default cluster is assumed.").
    let references = request
        .clusters
        .clone()
        .filter(|named| !named.is_empty())
        .unwrap_or_else(|| vec!["default".into()]);
    if references.len() > DESCRIBE_LIMIT {
        return Err(invalid(format!(
            "At most {DESCRIBE_LIMIT} clusters can be described in one call."
        ))
        .into());
    }
    let include = Include::from_fields(&request.include.clone().unwrap_or_default());
    let mut clusters = Vec::new();
    let mut failures = Vec::new();
    for reference in &references {
        let name = cp.partition.cluster_name(Some(reference))?;
        match clusters::fetch(cp, &name).await? {
            Some(cluster) => {
                let tags = if include.tags {
                    tags::fetch(cp, &cp.partition.cluster_arn(&name)).await?
                } else {
                    Vec::new()
                };
                let counts = if cluster.status.as_deref() == Some(ClusterStatus::Active.as_str()) {
                    Counts::now(cp, &name).await?
                } else {
                    Counts::default()
                };
                clusters.push(present(cluster, tags, counts, include));
            }
            None => failures.push(Failure {
                arn: Some(cp.partition.cluster_arn(&name)),
                reason: Some("MISSING".into()),
                detail: None,
            }),
        }
    }
    Ok(DescribeClustersResponse {
        clusters: Some(clusters),
        failures: Some(failures),
    })
}

pub async fn list(
    cp: &ControlPlane,
    request: ListClustersRequest,
) -> Result<ListClustersResponse, ApiError> {
    const SCOPE: &str = "ListClusters";
    let page = LIST_100.size(request.max_results)?;
    let after = decode_token(SCOPE, request.next_token.as_deref())?;
    let (clusters, next) = clusters::page(cp, after, page, |c| {
        c.status.as_deref() == Some(ClusterStatus::Active.as_str())
    })
    .await?;
    Ok(ListClustersResponse {
        cluster_arns: Some(clusters.into_iter().filter_map(|c| c.cluster_arn).collect()),
        next_token: next.map(|key| encode_token(SCOPE, &key)),
    })
}

pub async fn delete(
    cp: &ControlPlane,
    request: DeleteClusterRequest,
) -> Result<DeleteClusterResponse, ApiError> {
    let name = cp.partition.cluster_name(request.cluster.as_deref())?;
    let arn = cp.partition.cluster_arn(&name);
    let cluster = transact(&*cp.store, move |txn: &mut dyn Txn| {
        let mut cluster = active_cluster(txn, &name)?;
        let counts = Counts::in_txn(txn, &name)?;
        if counts.active_services + counts.draining_services > 0 {
            return Err(EcsError::ClusterContainsServices.into());
        }
        if counts.instances > 0 {
            return Err(EcsError::ClusterContainsContainerInstances.into());
        }
        if counts.live_tasks > 0 {
            return Err(EcsError::ClusterContainsTasks.into());
        }
        // ECS keeps a deleted cluster describable as INACTIVE.
        cluster.status = Some(ClusterStatus::Inactive.as_str().into());
        clusters::write(txn, &name, &cluster);
        let tags = tags::read(txn, &arn)?;
        tags::write(txn, &arn, &[]);
        Ok::<_, ApiError>(present(cluster, tags, counts, Include::WRITE))
    })
    .await?;
    Ok(DeleteClusterResponse {
        cluster: Some(cluster),
    })
}

pub async fn update(
    cp: &ControlPlane,
    request: UpdateClusterRequest,
) -> Result<UpdateClusterResponse, ApiError> {
    let name = cp.partition.cluster_name(request.cluster.as_deref())?;
    let settings = request.settings.clone().unwrap_or_default();
    check_settings(&settings)?;
    check_configuration(request.configuration.as_ref())?;
    let namespace = service_connect_defaults(cp, &request.service_connect_defaults);
    let configuration = request.configuration.clone();
    let cluster = modify(cp, name, move |cluster| {
        if namespace.is_some() {
            cluster.service_connect_defaults = namespace.clone();
        }
        cluster.settings = Some(merge_settings(
            cluster.settings.as_deref().unwrap_or_default(),
            &settings,
        ));
        if let Some(configuration) = &configuration {
            cluster.configuration = Some(configuration.clone());
        }
    })
    .await?;
    Ok(UpdateClusterResponse {
        cluster: Some(cluster),
    })
}

pub async fn update_settings(
    cp: &ControlPlane,
    request: UpdateClusterSettingsRequest,
) -> Result<UpdateClusterSettingsResponse, ApiError> {
    let name = cp.partition.cluster_name(request.cluster.as_deref())?;
    let settings = request.settings.clone().unwrap_or_default();
    check_settings(&settings)?;
    let cluster = modify(cp, name, move |cluster| {
        cluster.settings = Some(merge_settings(
            cluster.settings.as_deref().unwrap_or_default(),
            &settings,
        ));
    })
    .await?;
    Ok(UpdateClusterSettingsResponse {
        cluster: Some(cluster),
    })
}

/// PutClusterCapacityProviders: a cluster's capacity providers and default strategy, which
/// are none until capacity providers land (any named one is refused with ECS's error).
pub async fn put_capacity_providers(
    cp: &ControlPlane,
    request: PutClusterCapacityProvidersRequest,
) -> Result<PutClusterCapacityProvidersResponse, ApiError> {
    let name = cp.partition.cluster_name(request.cluster.as_deref())?;
    let (providers, strategy) = capacity_providers(
        &request.capacity_providers,
        &request.default_capacity_provider_strategy,
    )?;
    let cluster = modify(cp, name, move |cluster| {
        cluster.capacity_providers = Some(providers.clone());
        cluster.default_capacity_provider_strategy = Some(strategy.clone());
    })
    .await?;
    Ok(PutClusterCapacityProvidersResponse {
        cluster: Some(cluster),
    })
}

/// Applies `change` to an ACTIVE cluster and returns it as write calls show it.
async fn modify(
    cp: &ControlPlane,
    name: String,
    change: impl Fn(&mut Cluster) + Send + 'static,
) -> Result<Cluster, ApiError> {
    let arn = cp.partition.cluster_arn(&name);
    transact(&*cp.store, move |txn: &mut dyn Txn| {
        let mut cluster = active_cluster(txn, &name)?;
        change(&mut cluster);
        clusters::write(txn, &name, &cluster);
        let tags = tags::read(txn, &arn)?;
        Ok::<_, ApiError>(present(
            cluster,
            tags,
            Counts::in_txn(txn, &name)?,
            Include::WRITE,
        ))
    })
    .await
}
