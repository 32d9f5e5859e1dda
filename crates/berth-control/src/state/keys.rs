//! The store's key layout: every key the control plane reads or writes is built here, and only
//! the state layer builds them.
//!
//! Key order matters where listings page through a prefix: a task definition key sorts by
//! family, then revision (`#` sorts below every character a family name may contain, and
//! revisions are zero-padded), which is the order ListTaskDefinitions returns.

pub const CLUSTERS: &str = "cluster/";
pub const TASK_DEFINITIONS: &str = "taskdef/";
pub const FAMILIES: &str = "family/";
pub const INSTANCES: &str = "instance/";
pub const TASKS: &str = "task/";
pub const SERVICES: &str = "service/";
pub const INSTANCE_TASKS: &str = "itask/";

pub fn cluster(name: &str) -> String {
    format!("{CLUSTERS}{name}")
}

pub fn task_definitions_of(family: &str) -> String {
    format!("{TASK_DEFINITIONS}{family}#")
}

pub fn task_definition(family: &str, revision: i32) -> String {
    format!("{TASK_DEFINITIONS}{family}#{revision:010}")
}

pub fn family(name: &str) -> String {
    format!("{FAMILIES}{name}")
}

pub fn tags(arn: &str) -> String {
    format!("tags/{arn}")
}

pub fn account_setting(principal: &str, name: &str) -> String {
    format!("setting/{principal}/{name}")
}

pub fn instances_of(cluster: &str) -> String {
    format!("{INSTANCES}{cluster}/")
}

pub fn instance(cluster: &str, id: &str) -> String {
    format!("{INSTANCES}{cluster}/{id}")
}

pub fn tasks_of(cluster: &str) -> String {
    format!("{TASKS}{cluster}/")
}

pub fn task(cluster: &str, id: &str) -> String {
    format!("{TASKS}{cluster}/{id}")
}

pub fn client_tokens_of(cluster: &str) -> String {
    format!("client-token/{cluster}/")
}

pub fn client_token(cluster: &str, token: &str) -> String {
    format!("client-token/{cluster}/{token}")
}

/// Marks a task that is not STOPPED as placed on an instance, so that an instance's tasks are
/// found without reading the whole cluster.
pub fn instance_task(cluster: &str, instance_id: &str, task_id: &str) -> String {
    format!("{INSTANCE_TASKS}{cluster}/{instance_id}/{task_id}")
}

pub fn instance_tasks_of(cluster: &str, instance_id: &str) -> String {
    format!("{INSTANCE_TASKS}{cluster}/{instance_id}/")
}

/// The highest state-change sequence number applied for an instance's agent: kept apart from
/// the instance record, which most state changes then leave alone.
pub fn applied_sequence(cluster: &str, instance_id: &str) -> String {
    format!("seq/{cluster}/{instance_id}")
}

pub fn services_of(cluster: &str) -> String {
    format!("{SERVICES}{cluster}/")
}

pub fn service(cluster: &str, name: &str) -> String {
    format!("{SERVICES}{cluster}/{name}")
}

/// Marks a task as started by a service (kept while the task record exists, STOPPED included,
/// since the circuit breaker counts tasks that failed), so a scheduler pass reads only the
/// service's own tasks.
pub fn service_task(cluster: &str, service: &str, task_id: &str) -> String {
    format!("stask/{cluster}/{service}/{task_id}")
}

pub fn service_tasks_of(cluster: &str, service: &str) -> String {
    format!("stask/{cluster}/{service}/")
}

/// The clientToken a service was created with, so a retried CreateService is idempotent.
pub fn service_token(cluster: &str, name: &str) -> String {
    format!("service-token/{cluster}/{name}")
}

/// A service deployment, by the numeric id it shares with its `deployments[]` entry.
pub fn service_deployment(cluster: &str, service: &str, id: &str) -> String {
    format!("svc-deployment/{cluster}/{service}/{id}")
}

pub fn service_deployments_of(cluster: &str, service: &str) -> String {
    format!("svc-deployment/{cluster}/{service}/")
}

pub fn service_revision(cluster: &str, service: &str, id: &str) -> String {
    format!("svc-revision/{cluster}/{service}/{id}")
}

pub fn service_revisions_of(cluster: &str, service: &str) -> String {
    format!("svc-revision/{cluster}/{service}/")
}

/// When a service was last updated (UpdateService): its scheduler's launch backoff restarts.
pub fn service_updated(cluster: &str, name: &str) -> String {
    format!("service-updated/{cluster}/{name}")
}

/// The task set a CreateTaskSet clientToken created, so a retried call returns it.
pub fn task_set_token(cluster: &str, service: &str, token: &str) -> String {
    format!("taskset-token/{cluster}/{service}/{token}")
}
