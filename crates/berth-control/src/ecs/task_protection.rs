//! UpdateTaskProtection and GetTaskProtection: task scale-in protection of a service's tasks.
//! The service scheduler reads the same records (`state::tasks::protections_of_service`) and
//! passes over protected tasks when it scales in or rolls a deployment.

use berth_ecs::arn::Partition;
use berth_ecs::error::invalid;
use berth_ecs_wire::{
    Failure, GetTaskProtectionRequest, GetTaskProtectionResponse, ProtectedTask,
    UpdateTaskProtectionRequest, UpdateTaskProtectionResponse,
};
use berth_store::{Txn, transact};

use crate::ControlPlane;
use crate::error::ApiError;
use crate::state::clusters;
use crate::state::tasks::{self as task_records, Protection, service_of, task_id};

/// UpdateTaskProtection takes up to 10 tasks, GetTaskProtection up to 100.
const UPDATE_LIMIT: usize = 10;
const GET_LIMIT: usize = 100;
/// Protection lasts 2 hours unless `expiresInMinutes` says otherwise, at most 48 hours.
const DEFAULT_MINUTES: i32 = 120;
const MAX_MINUTES: i32 = 2_880;

/// What one named task is, as far as protection goes.
enum Found {
    Service {
        arn: String,
        service: String,
        protection: Option<Protection>,
    },
    /// A task that no service started: ECS answers `TASK_NOT_VALID`.
    Standalone(String),
    Missing(String),
}

fn failure(arn: String, reason: &str) -> Failure {
    Failure {
        arn: Some(arn),
        reason: Some(reason.into()),
        detail: None,
    }
}

/// The answer for one task: protection in effect at `now` shows with its end, anything else
/// (never protected, turned off, expired) as `protectionEnabled: false`.
fn protected_task(arn: String, protection: Option<Protection>, now: f64) -> ProtectedTask {
    let active = protection.filter(|p| p.active_at(now));
    ProtectedTask {
        task_arn: Some(arn),
        protection_enabled: Some(active.is_some()),
        expiration_date: active.map(|p| p.expires_at),
    }
}

fn lookup(
    txn: &mut dyn Txn,
    partition: &Partition,
    cluster: &str,
    id: &str,
) -> Result<Found, ApiError> {
    let Some(task) = task_records::read(txn, cluster, id)? else {
        return Ok(Found::Missing(partition.task_arn(cluster, id)));
    };
    let arn = task
        .task_arn
        .clone()
        .unwrap_or_else(|| partition.task_arn(cluster, id));
    let Some(service) = service_of(&task).map(str::to_string) else {
        return Ok(Found::Standalone(arn));
    };
    let protection = task_records::read_protection(txn, cluster, &service, id)?;
    Ok(Found::Service {
        arn,
        service,
        protection,
    })
}

pub async fn update(
    cp: &ControlPlane,
    request: UpdateTaskProtectionRequest,
) -> Result<UpdateTaskProtectionResponse, ApiError> {
    let cluster = cp.partition.cluster_name(request.cluster.as_deref())?;
    let references = request.tasks.unwrap_or_default();
    if references.is_empty() {
        return Err(invalid("Tasks cannot be empty.").into());
    }
    if references.len() > UPDATE_LIMIT {
        return Err(invalid(format!(
            "The protection of at most {UPDATE_LIMIT} tasks can be updated in one call."
        ))
        .into());
    }
    let enabled = request.protection_enabled.unwrap_or(false);
    let minutes = request.expires_in_minutes.unwrap_or(DEFAULT_MINUTES);
    if enabled && !(1..=MAX_MINUTES).contains(&minutes) {
        return Err(invalid(format!(
            "expiresInMinutes must be between 1 and {MAX_MINUTES}."
        ))
        .into());
    }
    let now = cp.clock.now();
    // Whole seconds, as ECS reports the expiration date.
    let protection = enabled.then(|| Protection {
        expires_at: (now + f64::from(minutes) * 60.0).floor(),
    });
    let (protected, failures) = visit(cp, cluster, references, Some(protection)).await?;
    Ok(UpdateTaskProtectionResponse {
        protected_tasks: Some(protected),
        failures: Some(failures),
    })
}

pub async fn get(
    cp: &ControlPlane,
    request: GetTaskProtectionRequest,
) -> Result<GetTaskProtectionResponse, ApiError> {
    let cluster = cp.partition.cluster_name(request.cluster.as_deref())?;
    let references = request.tasks.unwrap_or_default();
    if references.len() > GET_LIMIT {
        return Err(invalid(format!(
            "The protection of at most {GET_LIMIT} tasks can be read in one call."
        ))
        .into());
    }
    let (protected, failures) = visit(cp, cluster, references, None).await?;
    Ok(GetTaskProtectionResponse {
        protected_tasks: Some(protected),
        failures: Some(failures),
    })
}

/// Looks every named task up in one transaction and answers for each, after setting its
/// protection to `change` when there is one (UpdateTaskProtection) or as it is (Get).
async fn visit(
    cp: &ControlPlane,
    cluster: String,
    references: Vec<String>,
    change: Option<Option<Protection>>,
) -> Result<(Vec<ProtectedTask>, Vec<Failure>), ApiError> {
    let now = cp.clock.now();
    let partition = cp.partition.clone();
    transact(&*cp.store, move |txn: &mut dyn Txn| {
        clusters::active_cluster(txn, &cluster)?;
        // A task ARN of another region, account or cluster names no task here: refused, as
        // DescribeTasks refuses it, before anything changes.
        let ids = references
            .iter()
            .map(|reference| partition.task_id_in(reference, &cluster))
            .collect::<Result<Vec<_>, _>>()?;
        let mut protected = Vec::new();
        let mut failures = Vec::new();
        for id in ids {
            match lookup(txn, &partition, &cluster, id)? {
                Found::Service {
                    arn,
                    service,
                    protection,
                } => {
                    let protection = match change {
                        Some(new) => {
                            let id = task_id(&arn);
                            task_records::write_protection(txn, &cluster, &service, id, new);
                            new
                        }
                        None => protection,
                    };
                    protected.push(protected_task(arn, protection, now));
                }
                Found::Standalone(arn) => failures.push(failure(arn, "TASK_NOT_VALID")),
                Found::Missing(arn) => failures.push(failure(arn, "MISSING")),
            }
        }
        Ok::<_, ApiError>((protected, failures))
    })
    .await
}
