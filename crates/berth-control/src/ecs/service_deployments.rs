//! Service deployments and service revisions: ListServiceDeployments,
//! DescribeServiceDeployments, DescribeServiceRevisions and StopServiceDeployment.
//!
//! Every deployment in a service's `deployments[]` (`ecs-svc/N`) has a service deployment and a
//! service revision with the same id `N`, written when the deployment is made. A service
//! deployment tracks one `deployments[]` entry at a time: its own, or, once it rolls back, the
//! deployment that restores the previous revision; the scheduler settles its status from that
//! entry's rollout.

use berth_ecs::EcsError;
use berth_ecs::error::invalid;
use berth_ecs::pagination::{decode_token, encode_token};
use berth_ecs::status::ServiceDeploymentStatus;
use berth_ecs_wire::{
    DescribeServiceDeploymentsRequest, DescribeServiceDeploymentsResponse,
    DescribeServiceRevisionsRequest, DescribeServiceRevisionsResponse,
    ListServiceDeploymentsRequest, ListServiceDeploymentsResponse, Rollback,
    ServiceDeploymentBrief, StopServiceDeploymentRequest, StopServiceDeploymentResponse,
};
use berth_store::{Txn, transact};

use super::missing;
use crate::ControlPlane;
use crate::error::ApiError;
use crate::state::clusters;
use crate::state::service_deployments::{self, StoredServiceDeployment};
use crate::state::services::{self, deploy, deployment_id, new_deployment, record_event};

/// DescribeServiceDeployments and DescribeServiceRevisions take at most 20 ARNs.
const DESCRIBE_LIMIT: usize = 20;

/// (cluster, service, id) from a service deployment or revision ARN.
fn parse_arn<'a>(arn: &'a str, kind: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let resource = arn.splitn(6, ':').nth(5)?;
    let mut parts = resource.strip_prefix(kind)?.strip_prefix('/')?.split('/');
    let (cluster, service, id) = (parts.next()?, parts.next()?, parts.next()?);
    parts.next().is_none().then_some((cluster, service, id))
}

pub async fn list(
    cp: &ControlPlane,
    request: ListServiceDeploymentsRequest,
) -> Result<ListServiceDeploymentsResponse, ApiError> {
    const SCOPE: &str = "ListServiceDeployments";
    let cluster = cp.partition.cluster_name(request.cluster.as_deref())?;
    if !clusters::exists(cp, &cluster).await? {
        return Err(EcsError::ClusterNotFound.into());
    }
    let reference = request.service.clone().unwrap_or_default();
    let service = reference
        .rsplit('/')
        .next()
        .unwrap_or(&reference)
        .to_string();
    if services::fetch(cp, &cluster, &service).await?.is_none() {
        return Err(EcsError::ServiceNotFound("Service not found.".into()).into());
    }
    let page = berth_ecs::pagination::LIST_SERVICE_DEPLOYMENTS.size(request.max_results)?;
    let statuses = request.status.clone().unwrap_or_default();
    let created = request.created_at.clone().unwrap_or_default();
    let mut all = service_deployments::of_service(cp, &cluster, &service, |record| {
        let d = &record.deployment;
        let at = d.created_at.unwrap_or(0.0);
        (statuses.is_empty() || d.status.as_ref().is_some_and(|s| statuses.contains(s)))
            && created.after.is_none_or(|after| at >= after)
            && created.before.is_none_or(|before| at <= before)
    })
    .await?;
    // Newest first; the page token is the ARN of the last one returned.
    all.sort_by(|a, b| {
        b.deployment
            .created_at
            .unwrap_or(0.0)
            .total_cmp(&a.deployment.created_at.unwrap_or(0.0))
            .then_with(|| {
                b.deployment
                    .service_deployment_arn
                    .cmp(&a.deployment.service_deployment_arn)
            })
    });
    let after = decode_token(SCOPE, request.next_token.as_deref())?;
    let start = match &after {
        Some(last) => all
            .iter()
            .position(|r| r.deployment.service_deployment_arn.as_deref() == Some(last.as_str()))
            .map_or(all.len(), |i| i + 1),
        None => 0,
    };
    let shown: Vec<&StoredServiceDeployment> = all.iter().skip(start).take(page).collect();
    let next = (start + shown.len() < all.len())
        .then(|| shown.last())
        .flatten()
        .and_then(|r| r.deployment.service_deployment_arn.clone())
        .map(|arn| encode_token(SCOPE, &arn));
    Ok(ListServiceDeploymentsResponse {
        service_deployments: Some(
            shown
                .into_iter()
                .map(|r| {
                    let d = &r.deployment;
                    ServiceDeploymentBrief {
                        service_deployment_arn: d.service_deployment_arn.clone(),
                        service_arn: d.service_arn.clone(),
                        cluster_arn: d.cluster_arn.clone(),
                        created_at: d.created_at,
                        started_at: d.started_at,
                        finished_at: d.finished_at,
                        status: d.status.clone(),
                        status_reason: d.status_reason.clone(),
                        target_service_revision_arn: d
                            .target_service_revision
                            .as_ref()
                            .and_then(|t| t.arn.clone()),
                    }
                })
                .collect(),
        ),
        next_token: next,
    })
}

fn check_count(arns: &[String]) -> Result<(), ApiError> {
    if arns.is_empty() || arns.len() > DESCRIBE_LIMIT {
        return Err(invalid(format!(
            "Between 1 and {DESCRIBE_LIMIT} ARNs can be described in one call."
        ))
        .into());
    }
    Ok(())
}

pub async fn describe(
    cp: &ControlPlane,
    request: DescribeServiceDeploymentsRequest,
) -> Result<DescribeServiceDeploymentsResponse, ApiError> {
    let arns = request.service_deployment_arns.clone().unwrap_or_default();
    check_count(&arns)?;
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for arn in &arns {
        let record = match parse_arn(arn, "service-deployment") {
            Some((cluster, service, id)) => {
                service_deployments::fetch_deployment(cp, cluster, service, id).await?
            }
            None => None,
        };
        match record {
            Some(record) => found.push(record.deployment),
            None => failures.push(missing(arn.clone())),
        }
    }
    Ok(DescribeServiceDeploymentsResponse {
        service_deployments: Some(found),
        failures: Some(failures),
    })
}

pub async fn describe_revisions(
    cp: &ControlPlane,
    request: DescribeServiceRevisionsRequest,
) -> Result<DescribeServiceRevisionsResponse, ApiError> {
    let arns = request.service_revision_arns.clone().unwrap_or_default();
    check_count(&arns)?;
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for arn in &arns {
        let revision = match parse_arn(arn, "service-revision") {
            Some((cluster, service, id)) => {
                service_deployments::fetch_revision(cp, cluster, service, id).await?
            }
            None => None,
        };
        match revision {
            Some(revision) => found.push(revision),
            None => failures.push(missing(arn.clone())),
        }
    }
    Ok(DescribeServiceRevisionsResponse {
        service_revisions: Some(found),
        failures: Some(failures),
    })
}

/// StopServiceDeployment with the ROLLBACK stop type: the service goes back to the revision the
/// deployment started from, through a new `deployments[]` entry the service deployment tracks.
pub async fn stop(
    cp: &ControlPlane,
    request: StopServiceDeploymentRequest,
) -> Result<StopServiceDeploymentResponse, ApiError> {
    if request
        .stop_type
        .as_deref()
        .is_some_and(|t| t != "ROLLBACK")
    {
        return Err(invalid("The valid values are ROLLBACK.").into());
    }
    let arn = request.service_deployment_arn.clone().unwrap_or_default();
    let (cluster, service, id) = parse_arn(&arn, "service-deployment")
        .map(|(c, s, i)| (c.to_string(), s.to_string(), i.to_string()))
        .ok_or_else(|| {
            EcsError::ServiceDeploymentNotFound("Service deployment not found.".into())
        })?;
    let now = cp.clock.now();
    let rollback_id = deployment_id();
    transact(&*cp.store, move |txn: &mut dyn Txn| {
        let mut record = service_deployments::read_deployment(txn, &cluster, &service, &id)?
            .ok_or_else(|| {
                EcsError::ServiceDeploymentNotFound("Service deployment not found.".into())
            })?;
        let status = record
            .deployment
            .status
            .as_deref()
            .and_then(ServiceDeploymentStatus::parse);
        match status {
            Some(status)
                if status.is_rolling_back() || status == ServiceDeploymentStatus::StopRequested =>
            {
                return Ok(StopServiceDeploymentResponse {
                    service_deployment_arn: Some(arn.clone()),
                });
            }
            Some(status) if status.is_unfinished() => {}
            _ => {
                return Err(EcsError::Conflict(
                    "The service deployment has already finished.".into(),
                )
                .into());
            }
        }
        let source = record
            .deployment
            .source_service_revisions
            .iter()
            .flatten()
            .next()
            .and_then(|s| s.arn.clone())
            .and_then(|a| parse_arn(&a, "service-revision").map(|(_, _, i)| i.to_string()))
            .ok_or_else(|| {
                invalid("The service deployment has no previous revision to roll back to.")
            })?;
        let revision = service_deployments::read_revision(txn, &cluster, &service, &source)?
            .ok_or_else(|| invalid("The previous service revision is gone."))?;
        let mut current = services::read(txn, &cluster, &service)?
            .ok_or_else(|| EcsError::ServiceNotFound("Service not found.".into()))?;
        let definition = revision.task_definition.clone().unwrap_or_default();
        let rollback = new_deployment(&current, &definition, rollback_id.clone(), now);
        current.task_definition = Some(definition);
        // The revision's target groups come back with it.
        current.load_balancers = Some(revision.load_balancers.clone().unwrap_or_default());
        let name = current.service_name.clone().unwrap_or_default();
        record_event(
            &mut current,
            format!(
                "(service {name}) rolling back to service revision {}: the deployment was stopped.",
                revision.service_revision_arn.clone().unwrap_or_default()
            ),
            now,
        );
        deploy(&mut current, rollback.clone());
        services::write(txn, &cluster, &service, &current);
        record.deployment.status =
            Some(ServiceDeploymentStatus::RollbackInProgress.as_str().into());
        record.deployment.status_reason = Some("The service deployment was stopped.".into());
        record.deployment.updated_at = Some(now);
        record.deployment.rollback = Some(Rollback {
            reason: Some("The service deployment was stopped.".into()),
            started_at: Some(now),
            service_revision_arn: revision.service_revision_arn.clone(),
        });
        record.tracks = rollback.id.clone().unwrap_or_default();
        service_deployments::write_deployment(txn, &cluster, &service, &id, &record);
        Ok::<_, ApiError>(StopServiceDeploymentResponse {
            service_deployment_arn: Some(arn.clone()),
        })
    })
    .await
}
