//! What Application Auto Scaling keeps in the store, under `application-autoscaling/REGION/`:
//!
//! | key | value |
//! |---|---|
//! | `target/{resource id}` | [`TargetRecord`]: the `ScalableTarget` shape, its tags and each policy's cooldowns |
//! | `policy/{resource id}#{policy name}` | the `ScalingPolicy` shape (with its alarms) |
//! | `scheduled/{resource id}#{action name}` | [`ScheduledRecord`]: the `ScheduledAction` shape and since when its next firing is due |
//! | `activity/{resource id}#{start ms:016}-{id}` | the `ScalingActivity` shape |
//!
//! ECS resource ids (`service/CLUSTER/SERVICE`) never hold `#`, so one target's policies,
//! actions and activities are one key range, and activities sort by time within it.

use std::collections::BTreeMap;

use berth_autoscaling::ScalingError;
use berth_autoscaling::decide::Cooldowns;
use berth_autoscaling_wire as wire;
use berth_aws::{AwsError, ServiceError};
use berth_store::{StoreError, Txn};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The most activities kept per scalable target; older ones are forgotten.
pub(crate) const ACTIVITIES_KEPT: usize = 100;
const RANGE_PAGE: usize = 500;

/// A registered scalable target.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct TargetRecord {
    pub target: wire::ScalableTarget,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Each policy's cooldown bookkeeping, by policy name.
    #[serde(default)]
    pub cooldowns: BTreeMap<String, Cooldowns>,
}

/// A scheduled action and the time after which its next firing is looked for (ms since the
/// epoch): when it was put, then when it last fired — so that a restart neither fires it twice
/// nor forgets it, and a server that was down does not catch up on every missed firing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ScheduledRecord {
    pub action: wire::ScheduledAction,
    pub after_ms: i64,
}

pub(crate) fn targets_prefix(region: &str) -> String {
    format!("application-autoscaling/{region}/target/")
}

pub(crate) fn target_key(region: &str, resource_id: &str) -> String {
    format!("application-autoscaling/{region}/target/{resource_id}")
}

pub(crate) fn policies_prefix(region: &str, resource_id: Option<&str>) -> String {
    match resource_id {
        Some(id) => format!("application-autoscaling/{region}/policy/{id}#"),
        None => format!("application-autoscaling/{region}/policy/"),
    }
}

pub(crate) fn policy_key(region: &str, resource_id: &str, name: &str) -> String {
    format!("application-autoscaling/{region}/policy/{resource_id}#{name}")
}

pub(crate) fn scheduled_prefix(region: &str, resource_id: Option<&str>) -> String {
    match resource_id {
        Some(id) => format!("application-autoscaling/{region}/scheduled/{id}#"),
        None => format!("application-autoscaling/{region}/scheduled/"),
    }
}

pub(crate) fn scheduled_key(region: &str, resource_id: &str, name: &str) -> String {
    format!("application-autoscaling/{region}/scheduled/{resource_id}#{name}")
}

pub(crate) fn activities_prefix(region: &str, resource_id: Option<&str>) -> String {
    match resource_id {
        Some(id) => format!("application-autoscaling/{region}/activity/{id}#"),
        None => format!("application-autoscaling/{region}/activity/"),
    }
}

fn activity_key(region: &str, resource_id: &str, start_ms: i64, id: &str) -> String {
    format!("application-autoscaling/{region}/activity/{resource_id}#{start_ms:016}-{id}")
}

/// Why a transaction failed.
pub(crate) enum Failure {
    Scaling(ScalingError),
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        Failure::Store(err)
    }
}

impl From<ScalingError> for Failure {
    fn from(err: ScalingError) -> Self {
        Failure::Scaling(err)
    }
}

impl From<Failure> for AwsError {
    fn from(failure: Failure) -> AwsError {
        match failure {
            Failure::Scaling(err) => err.to_aws_error(),
            Failure::Store(err) => ScalingError::Internal(err.to_string()).to_aws_error(),
        }
    }
}

fn corrupt(err: serde_json::Error) -> Failure {
    Failure::Scaling(ScalingError::Internal(format!(
        "A stored record could not be read: {err}"
    )))
}

pub(crate) fn get<T: DeserializeOwned>(txn: &mut dyn Txn, key: &str) -> Result<Option<T>, Failure> {
    match txn.get(key)? {
        Some(kv) => serde_json::from_slice(&kv.value).map(Some).map_err(corrupt),
        None => Ok(None),
    }
}

pub(crate) fn put<T: Serialize>(txn: &mut dyn Txn, key: &str, value: &T) {
    txn.put(
        key,
        serde_json::to_vec(value).expect("records are plain data"),
    );
}

/// Every record under `prefix`, in key order, with its key.
pub(crate) fn scan<T: DeserializeOwned>(
    txn: &mut dyn Txn,
    prefix: &str,
) -> Result<Vec<(String, T)>, Failure> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = txn.range(prefix, after.as_deref(), RANGE_PAGE)?;
        for kv in &page {
            out.push((
                kv.key.clone(),
                serde_json::from_slice(&kv.value).map_err(corrupt)?,
            ));
        }
        match page.last() {
            Some(last) if page.len() == RANGE_PAGE => after = Some(last.key.clone()),
            _ => return Ok(out),
        }
    }
}

/// Records an activity, forgetting the target's oldest beyond [`ACTIVITIES_KEPT`].
pub(crate) fn record_activity(
    txn: &mut dyn Txn,
    region: &str,
    activity: &wire::ScalingActivity,
) -> Result<(), Failure> {
    let resource_id = activity.resource_id.clone().unwrap_or_default();
    let start_ms = (activity.start_time.unwrap_or_default() * 1000.0) as i64;
    let id = activity.activity_id.clone().unwrap_or_default();
    put(
        txn,
        &activity_key(region, &resource_id, start_ms, &id),
        activity,
    );
    let prefix = activities_prefix(region, Some(&resource_id));
    let kept: Vec<(String, serde_json::Value)> = scan(txn, &prefix)?;
    if kept.len() > ACTIVITIES_KEPT {
        for (key, _) in &kept[..kept.len() - ACTIVITIES_KEPT] {
            txn.delete(key);
        }
    }
    Ok(())
}
