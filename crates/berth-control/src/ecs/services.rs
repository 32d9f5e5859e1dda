//! Services: CreateService, UpdateService, DeleteService, DescribeServices and ListServices.
//! These handlers only record what is wanted (the service and its deployments); the service
//! scheduler (`crate::service_scheduler`) makes it so.

use berth_ecs::EcsError;
use berth_ecs::arn::TaskDefinitionRef;
use berth_ecs::error::invalid;
use berth_ecs::pagination::{decode_token, encode_token};
use berth_ecs::status::ServiceStatus;
use berth_ecs::task_set::{self, Controller, TaskSetStatus};
use berth_ecs_wire::{
    CreateServiceRequest, CreateServiceResponse, DeleteServiceRequest, DeleteServiceResponse,
    Deployment, DeploymentCircuitBreaker, DeploymentConfiguration, DeploymentController,
    DescribeServicesRequest, DescribeServicesResponse, ListServicesRequest, ListServicesResponse,
    LoadBalancer, PlacementConstraint, PlacementStrategy, Scale, Service, TaskDefinition, TaskSet,
    UpdateServiceRequest, UpdateServiceResponse,
};
use berth_store::{Txn, transact};

use super::missing;
use crate::ControlPlane;
use crate::error::ApiError;
use crate::state::services::{self, deploy, deployment_id, new_deployment};
use crate::state::{clusters, service_deployments, tags, task_definitions};

/// DescribeServices takes at most 10 services.
const DESCRIBE_LIMIT: usize = 10;
/// The service a `service` parameter names: a name, or a service ARN of this region and account.
fn service_name<'a>(cp: &ControlPlane, reference: &'a str) -> Result<&'a str, ApiError> {
    Ok(cp.partition.resource_id(reference, "service")?)
}

fn check_placement(
    constraints: &[PlacementConstraint],
    strategies: &[PlacementStrategy],
) -> Result<(), ApiError> {
    berth_ecs::placement::parse_constraints(None, constraints)?;
    berth_ecs::placement::parse_strategies(strategies)?;
    if constraints.len() > 10 {
        return Err(invalid("A service can have at most 10 placement constraints.").into());
    }
    if strategies.len() > 5 {
        return Err(invalid("A service can have at most 5 placement strategies.").into());
    }
    Ok(())
}

/// The deployment configuration with ECS's defaults filled in, checked.
fn deployment_configuration(
    given: Option<DeploymentConfiguration>,
    current: Option<&DeploymentConfiguration>,
    daemon: bool,
) -> Result<DeploymentConfiguration, ApiError> {
    let given = given.unwrap_or_default();
    // ECS's defaults: 200/100 for REPLICA, 100/0 for DAEMON.
    let (default_maximum, default_minimum) = if daemon { (100, 0) } else { (200, 100) };
    let maximum = given
        .maximum_percent
        .or(current.and_then(|c| c.maximum_percent))
        .unwrap_or(default_maximum);
    let minimum = given
        .minimum_healthy_percent
        .or(current.and_then(|c| c.minimum_healthy_percent))
        .unwrap_or(default_minimum);
    if !(0..=100).contains(&minimum) {
        return Err(invalid("minimumHealthyPercent must be between 0 and 100.").into());
    }
    if maximum < 100 {
        return Err(invalid("maximumPercent must be at least 100.").into());
    }
    let breaker = given
        .deployment_circuit_breaker
        .or_else(|| current.and_then(|c| c.deployment_circuit_breaker.clone()))
        .unwrap_or(DeploymentCircuitBreaker {
            enable: Some(false),
            rollback: Some(false),
        });
    Ok(DeploymentConfiguration {
        maximum_percent: Some(maximum),
        minimum_healthy_percent: Some(minimum),
        deployment_circuit_breaker: Some(DeploymentCircuitBreaker {
            enable: Some(breaker.enable.unwrap_or(false)),
            rollback: Some(breaker.rollback.unwrap_or(false)),
        }),
        ..given
    })
}

/// ECS's checks of a service's `loadBalancers`: against the task definition, then each target
/// group as the region's Elastic Load Balancing has it.
async fn check_load_balancers(
    cp: &ControlPlane,
    load_balancers: &[LoadBalancer],
    definition: &TaskDefinition,
) -> Result<(), ApiError> {
    berth_ecs::load_balancers::check_against_definition(load_balancers, definition)?;
    let network_mode = definition.network_mode.as_deref().unwrap_or("bridge");
    for entry in load_balancers {
        let arn = entry.target_group_arn.as_deref().unwrap_or_default();
        let found = cp
            .load_balancing
            .target_group(&cp.partition.region, arn)
            .await?;
        berth_ecs::load_balancers::check_target_group(arn, found.as_ref(), network_mode)?;
    }
    Ok(())
}

fn controller_of(service: &Service) -> Controller {
    Controller::of(
        service
            .deployment_controller
            .as_ref()
            .and_then(|c| c.r#type.as_deref()),
    )
}

/// What a new service starts with, by its deployment controller.
enum First {
    Deployment(Deployment),
    TaskSet(TaskSet),
    Nothing,
}

/// CreateService's rules for a deployment controller other than ECS's own.
fn check_controller(
    controller: Controller,
    request: &CreateServiceRequest,
    daemon: bool,
) -> Result<(), ApiError> {
    if controller.uses_task_sets() && daemon {
        return Err(invalid(format!(
            "The DAEMON scheduling strategy is not supported with the {} deployment controller.",
            controller.as_str()
        ))
        .into());
    }
    if controller == Controller::CodeDeploy && request.task_definition.is_none() {
        return Err(invalid(
            "A task definition must be specified for services with the CODE_DEPLOY deployment controller.",
        )
        .into());
    }
    if controller == Controller::External {
        // These belong to the task sets of an EXTERNAL service.
        let given = [
            (request.task_definition.is_some(), "taskDefinition"),
            (
                request
                    .load_balancers
                    .as_ref()
                    .is_some_and(|l| !l.is_empty()),
                "loadBalancers",
            ),
            (
                request.network_configuration.is_some(),
                "networkConfiguration",
            ),
        ];
        if let Some((_, member)) = given.iter().find(|(given, _)| *given) {
            return Err(invalid(format!(
                "{member} cannot be specified for services with the EXTERNAL deployment controller. Specify it on a task set."
            ))
            .into());
        }
    }
    Ok(())
}

pub async fn create(
    cp: &ControlPlane,
    request: CreateServiceRequest,
) -> Result<CreateServiceResponse, ApiError> {
    let cluster = cp.partition.cluster_name(request.cluster.as_deref())?;
    let name = request.service_name.clone().unwrap_or_default();
    if !berth_ecs::arn::is_resource_name(&name) {
        return Err(invalid(
            "Service names can have up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens.",
        )
        .into());
    }
    let daemon = request.scheduling_strategy.as_deref() == Some("DAEMON");
    berth_ecs::placement::check_launch_target(
        request.launch_type.as_deref(),
        request.capacity_provider_strategy.as_deref(),
        request.platform_version.as_deref(),
    )?;
    let load_balancers = request.load_balancers.clone().unwrap_or_default();
    // Kept and shown as given: Berth has no Cloud Map to register the tasks in.
    let registries = request.service_registries.clone().unwrap_or_default();
    berth_ecs::registries::check(&registries)?;
    let role_arn = berth_ecs::load_balancers::role_arn(
        request.role.as_deref(),
        &load_balancers,
        &cp.partition.account_id,
    )?;
    let controller = Controller::of(
        request
            .deployment_controller
            .as_ref()
            .and_then(|c| c.r#type.as_deref()),
    );
    check_controller(controller, &request, daemon)?;
    // A DAEMON service's desired count is the number of instances it runs on, which its
    // scheduler keeps current.
    let desired = match (daemon, request.desired_count) {
        (true, _) => 0,
        (false, Some(desired)) if desired >= 0 => desired,
        (false, Some(_)) => return Err(invalid("desiredCount must be at least 0.").into()),
        (false, None) => {
            return Err(
                invalid("desiredCount is required for the REPLICA scheduling strategy.").into(),
            );
        }
    };
    let constraints = request.placement_constraints.clone().unwrap_or_default();
    let strategies = request.placement_strategy.clone().unwrap_or_default();
    if daemon && !strategies.is_empty() {
        return Err(invalid(
            "Placement strategies are not supported with the DAEMON scheduling strategy.",
        )
        .into());
    }
    check_placement(&constraints, &strategies)?;
    let configuration =
        deployment_configuration(request.deployment_configuration.clone(), None, daemon)?;
    let tags = request.tags.clone().unwrap_or_default();
    berth_ecs::tags::check_user_tags(&tags)?;
    if !clusters::exists(cp, &cluster).await? {
        return Err(EcsError::ClusterNotFound.into());
    }
    // An EXTERNAL service's task definitions are its task sets'.
    let definition = match controller {
        Controller::External => None,
        _ => Some(
            task_definitions::resolve_for_service(
                cp,
                request.task_definition.as_deref().unwrap_or_default(),
            )
            .await?,
        ),
    };
    if let Some(definition) = &definition {
        check_load_balancers(cp, &load_balancers, definition).await?;
    }
    let definition_arn = definition
        .as_ref()
        .and_then(|d| d.task_definition_arn.clone());
    let now = cp.clock.now();
    let arn = cp.partition.service_arn(&cluster, &name);
    let service = Service {
        service_arn: Some(arn.clone()),
        service_name: Some(name.clone()),
        cluster_arn: Some(cp.partition.cluster_arn(&cluster)),
        load_balancers: Some(load_balancers),
        role_arn,
        service_registries: Some(registries),
        status: Some(ServiceStatus::Active.as_str().into()),
        desired_count: Some(desired),
        running_count: Some(0),
        pending_count: Some(0),
        launch_type: Some("EC2".into()),
        task_definition: definition_arn.clone(),
        deployment_configuration: Some(configuration),
        deployments: Some(Vec::new()),
        events: Some(Vec::new()),
        created_at: Some(now),
        created_by: Some(cp.caller()),
        placement_constraints: Some(constraints),
        placement_strategy: Some(strategies),
        scheduling_strategy: Some(if daemon { "DAEMON" } else { "REPLICA" }.into()),
        deployment_controller: Some(DeploymentController {
            r#type: Some(controller.as_str().into()),
        }),
        task_sets: controller.uses_task_sets().then(Vec::new),
        health_check_grace_period_seconds: request.health_check_grace_period_seconds,
        enable_ecs_managed_tags: Some(request.enable_ecs_managed_tags.unwrap_or(false)),
        propagate_tags: Some(
            request
                .propagate_tags
                .clone()
                .unwrap_or_else(|| "NONE".into()),
        ),
        enable_execute_command: Some(request.enable_execute_command.unwrap_or(false)),
        ..Service::default()
    };
    // ECS rolls out its own deployments; a CODE_DEPLOY service starts with a PRIMARY task set
    // at 100 %, and an EXTERNAL one with none.
    let first = match controller {
        Controller::Ecs => First::Deployment(new_deployment(
            &service,
            definition_arn.as_deref().unwrap_or_default(),
            deployment_id(),
            now,
        )),
        Controller::CodeDeploy => {
            let mut set = task_set::new(
                &cp.partition,
                &cluster,
                &service,
                &deployment_id(),
                definition_arn.as_deref().unwrap_or_default(),
                task_set::scale(Some(&Scale {
                    unit: None,
                    value: Some(100.0),
                }))?,
                now,
            );
            set.status = Some(TaskSetStatus::Primary.as_str().into());
            First::TaskSet(set)
        }
        Controller::External => First::Nothing,
    };
    let token = request.client_token.clone();
    let partition = cp.partition.clone();
    let created = transact(&*cp.store, move |txn: &mut dyn Txn| {
        clusters::active_cluster(txn, &cluster)?;
        if let Some(existing) = services::read(txn, &cluster, &name)?
            && existing.status.as_deref() != Some(ServiceStatus::Inactive.as_str())
        {
            // A retry of the same call (same clientToken) gets the service it created.
            if token.is_some() && services::creation_token(txn, &cluster, &name)? == token {
                return Ok(existing);
            }
            return Err(invalid("Creation of service was not idempotent.").into());
        }
        let mut service = service.clone();
        match &first {
            First::Deployment(first) => {
                service_deployments::record(
                    txn,
                    &partition,
                    &cluster,
                    &mut service,
                    first,
                    definition.as_ref(),
                    &[],
                    now,
                )?;
                deploy(&mut service, first.clone());
            }
            First::TaskSet(set) => service.task_sets = Some(vec![set.clone()]),
            First::Nothing => {}
        }
        services::write(txn, &cluster, &name, &service);
        if let Some(token) = &token {
            services::write_creation_token(txn, &cluster, &name, token);
        }
        tags::write(txn, &arn, &tags);
        Ok::<_, ApiError>(service)
    })
    .await?;
    Ok(CreateServiceResponse {
        service: Some(created),
    })
}

pub async fn update(
    cp: &ControlPlane,
    request: UpdateServiceRequest,
) -> Result<UpdateServiceResponse, ApiError> {
    let cluster = cp.partition.cluster_name(request.cluster.as_deref())?;
    let name = service_name(cp, request.service.as_deref().unwrap_or_default())?.to_string();
    if !clusters::exists(cp, &cluster).await? {
        return Err(EcsError::ClusterNotFound.into());
    }
    if request
        .deployment_controller
        .as_ref()
        .and_then(|c| c.r#type.as_deref())
        .is_some_and(|t| t != "ECS")
    {
        return Err(EcsError::UnsupportedFeature(
            "Changing a service's deployment controller is not supported.".into(),
        )
        .into());
    }
    if request.desired_count.is_some_and(|d| d < 0) {
        return Err(invalid("desiredCount must be at least 0.").into());
    }
    // A service never changes its deployment controller, so this holds inside the transaction.
    if let Some(existing) = services::fetch(cp, &cluster, &name).await? {
        task_set::check_update(controller_of(&existing), &request)?;
    }
    // A service runs on the EC2 launch type: a strategy (an empty one goes back to the launch
    // type) and a platform version are checked as CreateService checks them.
    berth_ecs::placement::check_launch_target(
        None,
        request.capacity_provider_strategy.as_deref(),
        request.platform_version.as_deref(),
    )?;
    check_placement(
        request.placement_constraints.as_deref().unwrap_or_default(),
        request.placement_strategy.as_deref().unwrap_or_default(),
    )?;
    if let Some(registries) = &request.service_registries {
        berth_ecs::registries::check(registries)?;
    }
    let definition = match request.task_definition.as_deref() {
        Some(reference) => Some(task_definitions::resolve_for_service(cp, reference).await?),
        None => None,
    };
    // New load balancers are checked as CreateService checks them, against the task definition
    // the service will run (the new one, or its current one).
    if let Some(load_balancers) = &request.load_balancers {
        let checked_against = match &definition {
            Some(definition) => definition.clone(),
            // The service's own definition, even if deregistered since: its tasks run it.
            None => {
                let service = services::fetch(cp, &cluster, &name)
                    .await?
                    .ok_or_else(|| EcsError::ServiceNotFound("Service not found.".into()))?;
                let reference = TaskDefinitionRef::parse(
                    &cp.partition,
                    service.task_definition.as_deref().unwrap_or_default(),
                )?;
                task_definitions::resolve(cp, &reference)
                    .await?
                    .ok_or_else(|| invalid("TaskDefinition not found."))?
            }
        };
        check_load_balancers(cp, load_balancers, &checked_against).await?;
    }
    let now = cp.clock.now();
    let new_id = deployment_id();
    let partition = cp.partition.clone();
    transact(&*cp.store, move |txn: &mut dyn Txn| {
        let mut service = services::read(txn, &cluster, &name)?
            .ok_or_else(|| EcsError::ServiceNotFound("Service not found.".into()))?;
        if service.status.as_deref() != Some(ServiceStatus::Active.as_str()) {
            return Err(EcsError::ServiceNotActive("Service was not ACTIVE.".into()).into());
        }
        let daemon = service.scheduling_strategy.as_deref() == Some("DAEMON");
        let configuration = deployment_configuration(
            request.deployment_configuration.clone(),
            service.deployment_configuration.as_ref(),
            daemon,
        )?;
        service.deployment_configuration = Some(configuration);
        if let Some(desired) = request.desired_count.filter(|_| !daemon) {
            service.desired_count = Some(desired);
            for deployment in service.deployments.iter_mut().flatten().take(1) {
                deployment.desired_count = Some(desired);
            }
            for set in service.task_sets.iter_mut().flatten() {
                task_set::recompute(set, desired, now);
            }
        }
        if let Some(grace) = request.health_check_grace_period_seconds {
            service.health_check_grace_period_seconds = Some(grace);
        }
        if let Some(strategies) = &request.placement_strategy {
            service.placement_strategy = Some(strategies.clone());
        }
        let mut redeploy = request.force_new_deployment == Some(true);
        if let Some(constraints) = &request.placement_constraints
            && service.placement_constraints.as_ref() != Some(constraints)
        {
            service.placement_constraints = Some(constraints.clone());
            redeploy = true;
        }
        // The target groups the PRIMARY being superseded (if any) ran with.
        let outgoing_load_balancers = service.load_balancers.clone().unwrap_or_default();
        if let Some(load_balancers) = &request.load_balancers
            && load_balancers != &outgoing_load_balancers
        {
            // A new deployment registers its tasks in the new groups; the old deployment's
            // tasks stay in theirs until they are drained and stopped.
            service.load_balancers = Some(load_balancers.clone());
            redeploy = true;
        }
        if let Some(definition) = &definition
            && service.task_definition != definition.task_definition_arn
        {
            // The load balancers' containers and ports must remain in the new definition.
            berth_ecs::load_balancers::check_against_definition(
                service.load_balancers.as_deref().unwrap_or_default(),
                definition,
            )?;
            service.task_definition = definition.task_definition_arn.clone();
            redeploy = true;
        }
        if let Some(propagate) = &request.propagate_tags {
            service.propagate_tags = Some(propagate.clone());
        }
        if let Some(managed) = request.enable_ecs_managed_tags {
            service.enable_ecs_managed_tags = Some(managed);
        }
        if let Some(exec) = request.enable_execute_command {
            service.enable_execute_command = Some(exec);
        }
        // New registries are the new tasks' (the API reference: ECS starts new tasks with them).
        if let Some(registries) = &request.service_registries
            && service.service_registries.as_ref() != Some(registries)
        {
            service.service_registries = Some(registries.clone());
            redeploy = true;
        }
        // A service deployed through task sets has no deployments of its own: new placement
        // constraints apply to the tasks its task sets start from now on.
        if redeploy && !controller_of(&service).uses_task_sets() {
            let deployment = new_deployment(
                &service,
                service.task_definition.as_deref().unwrap_or_default(),
                new_id.clone(),
                now,
            );
            service_deployments::record(
                txn,
                &partition,
                &cluster,
                &mut service,
                &deployment,
                definition.as_ref(),
                &outgoing_load_balancers,
                now,
            )?;
            deploy(&mut service, deployment);
        }
        services::write(txn, &cluster, &name, &service);
        services::write_updated_at(txn, &cluster, &name, now);
        Ok::<_, ApiError>(UpdateServiceResponse {
            service: Some(service),
        })
    })
    .await
}

pub async fn delete(
    cp: &ControlPlane,
    request: DeleteServiceRequest,
) -> Result<DeleteServiceResponse, ApiError> {
    let cluster = cp.partition.cluster_name(request.cluster.as_deref())?;
    let name = service_name(cp, request.service.as_deref().unwrap_or_default())?.to_string();
    if !clusters::exists(cp, &cluster).await? {
        return Err(EcsError::ClusterNotFound.into());
    }
    let force = request.force == Some(true);
    let now = cp.clock.now();
    transact(&*cp.store, move |txn: &mut dyn Txn| {
        let mut service = services::read(txn, &cluster, &name)?
            .filter(|s| s.status.as_deref() != Some(ServiceStatus::Inactive.as_str()))
            .ok_or_else(|| EcsError::ServiceNotFound("Service not found.".into()))?;
        if service.status.as_deref() == Some(ServiceStatus::Active.as_str()) {
            if service.desired_count.unwrap_or(0) > 0 && !force {
                return Err(
                    invalid("The service cannot be stopped while it is scaled above 0.").into(),
                );
            }
            service.status = Some(ServiceStatus::Draining.as_str().into());
            service.desired_count = Some(0);
            for deployment in service.deployments.iter_mut().flatten() {
                deployment.desired_count = Some(0);
            }
            for set in service.task_sets.iter_mut().flatten() {
                task_set::recompute(set, 0, now);
            }
            services::write(txn, &cluster, &name, &service);
        }
        Ok::<_, ApiError>(DeleteServiceResponse {
            service: Some(service),
        })
    })
    .await
}

pub async fn describe(
    cp: &ControlPlane,
    request: DescribeServicesRequest,
) -> Result<DescribeServicesResponse, ApiError> {
    let cluster = cp.partition.cluster_name(request.cluster.as_deref())?;
    if !clusters::exists(cp, &cluster).await? {
        return Err(EcsError::ClusterNotFound.into());
    }
    let references = request.services.clone().unwrap_or_default();
    if references.is_empty() {
        return Err(invalid("Services cannot be empty.").into());
    }
    if references.len() > DESCRIBE_LIMIT {
        return Err(invalid(format!(
            "service names can have at most {DESCRIBE_LIMIT} items."
        ))
        .into());
    }
    let include_tags = request.include.iter().flatten().any(|f| f == "TAGS");
    let mut services = Vec::new();
    let mut failures = Vec::new();
    for reference in &references {
        let name = service_name(cp, reference)?;
        berth_ecs::arn::check_identifier_cluster(reference, &cluster)?;
        match services::fetch(cp, &cluster, name).await? {
            Some(mut service) => {
                if include_tags {
                    service.tags = Some(
                        tags::fetch(cp, service.service_arn.as_deref().unwrap_or_default()).await?,
                    );
                    for set in service.task_sets.iter_mut().flatten() {
                        set.tags = Some(
                            tags::fetch(cp, set.task_set_arn.as_deref().unwrap_or_default())
                                .await?,
                        );
                    }
                }
                services.push(service);
            }
            None => failures.push(missing(cp.partition.service_arn(&cluster, name))),
        }
    }
    Ok(DescribeServicesResponse {
        services: Some(services),
        failures: Some(failures),
    })
}

pub async fn list(
    cp: &ControlPlane,
    request: ListServicesRequest,
) -> Result<ListServicesResponse, ApiError> {
    const SCOPE: &str = "ListServices";
    let cluster = cp.partition.cluster_name(request.cluster.as_deref())?;
    if !clusters::exists(cp, &cluster).await? {
        return Err(EcsError::ClusterNotFound.into());
    }
    let page = berth_ecs::pagination::LIST_SERVICES.size(request.max_results)?;
    let after = decode_token(SCOPE, request.next_token.as_deref())?;
    let (services, next) = services::page(cp, &cluster, after, page, |s| {
        s.status.as_deref() == Some(ServiceStatus::Active.as_str())
            && request
                .launch_type
                .as_ref()
                .is_none_or(|lt| s.launch_type.as_ref() == Some(lt))
            && request
                .scheduling_strategy
                .as_ref()
                .is_none_or(|st| s.scheduling_strategy.as_ref() == Some(st))
    })
    .await?;
    Ok(ListServicesResponse {
        service_arns: Some(services.into_iter().filter_map(|s| s.service_arn).collect()),
        next_token: next.map(|key| encode_token(SCOPE, &key)),
    })
}
