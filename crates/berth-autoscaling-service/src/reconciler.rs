//! The reconciler: fires scheduled actions, and acts on the alarms that name scaling policies
//! in their actions.
//!
//! It wakes every second, on every alarm state change CloudWatch broadcasts (so a policy acts
//! within moments of its alarm going to ALARM) and after API changes. In each region with
//! scalable targets it reads the targets and policies, and for every alarm in ALARM whose
//! enabled `AlarmActions` name a policy, invokes the policy once per alarm period — CloudWatch
//! keeps invoking scaling actions while an alarm stays in ALARM, and cooldowns decide what each
//! invocation may do. An invocation reads the alarm's values and the service's desired count,
//! lets [`berth_autoscaling::decide`] decide, sets the desired count through
//! [`crate::ScalableResources`] and records the activity and the policy's cooldowns.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use berth_autoscaling::activity;
use berth_autoscaling::decide::{self, Decision, TargetState, Trigger};
use berth_autoscaling::target::{self, Bounds};
use berth_autoscaling_wire as wire;
use berth_aws::AwsError;
use berth_cloudwatch::alarm::StateValue;
use berth_cloudwatch_service::AlarmStateChange;
use berth_cloudwatch_wire as cw;
use berth_store::{Txn, transact};
use tokio::sync::broadcast;

use crate::records::{self, Failure, TargetRecord, get, put, scan};
use crate::{AutoScaling, convert};

/// What one pass read of a region.
struct Snapshot {
    targets: BTreeMap<String, TargetRecord>,
    policies: Vec<wire::ScalingPolicy>,
}

/// When each (region, policy ARN, alarm name) was last invoked, ms since the epoch.
type Invocations = HashMap<(String, String, String), i64>;

/// Runs until `shutdown` resolves.
pub async fn run(scaling: Arc<AutoScaling>, shutdown: impl std::future::Future<Output = ()>) {
    let mut changes = Some(scaling.metrics.subscribe());
    if let Err(err) = scaling.learn_regions().await {
        tracing::warn!(%err, "reading the regions with scalable targets failed");
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut invoked = Invocations::new();
    tokio::pin!(shutdown);
    loop {
        let change = tokio::select! {
            _ = &mut shutdown => return,
            _ = tick.tick() => None,
            _ = scaling.wake.notified() => None,
            change = next_change(&mut changes) => Some(change),
        };
        match change {
            None => {}
            Some(Ok(change)) => {
                if change.new_state != StateValue::Alarm || change.actions.is_empty() {
                    continue;
                }
                // An alarm that has just gone to ALARM is acted on now.
                invoked.retain(|(region, _, alarm), _| {
                    region != &change.region || alarm != &change.alarm_name
                });
            }
            // The next pass reads every alarm's state anyway.
            Some(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Some(Err(broadcast::error::RecvError::Closed)) => changes = None,
        }
        for region in scaling.regions() {
            if let Err(err) = scaling.pass(&region, &mut invoked).await {
                tracing::warn!(%region, %err, "application auto scaling pass failed");
            }
        }
    }
}

/// The next alarm state change; never, once the broadcast has closed.
async fn next_change(
    changes: &mut Option<broadcast::Receiver<AlarmStateChange>>,
) -> Result<AlarmStateChange, broadcast::error::RecvError> {
    match changes {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

fn internal(err: impl std::fmt::Display) -> AwsError {
    AwsError::new(500, "InternalServiceException", err.to_string())
}

impl AutoScaling {
    /// Learns the regions with scalable targets from the store (once, at start).
    async fn learn_regions(&self) -> Result<(), AwsError> {
        let mut after: Option<String> = None;
        let mut found = HashSet::new();
        loop {
            let page = self
                .store
                .range("application-autoscaling/", after.as_deref(), 500)
                .await
                .map_err(internal)?;
            for kv in &page {
                if let Some(region) = kv
                    .key
                    .strip_prefix("application-autoscaling/")
                    .and_then(|rest| rest.split('/').next())
                {
                    found.insert(region.to_owned());
                }
            }
            match page.last() {
                Some(last) if page.len() == 500 => after = Some(last.key.clone()),
                _ => break,
            }
        }
        for region in found {
            self.note_region(&region);
        }
        Ok(())
    }

    async fn snapshot(&self, region: &str) -> Result<Snapshot, AwsError> {
        let region = region.to_owned();
        transact(&*self.store, move |txn: &mut dyn Txn| {
            let targets: Vec<(String, TargetRecord)> =
                scan(txn, &records::targets_prefix(&region))?;
            let policies: Vec<(String, wire::ScalingPolicy)> =
                scan(txn, &records::policies_prefix(&region, None))?;
            Ok::<_, Failure>(Snapshot {
                targets: targets
                    .into_iter()
                    .map(|(_, r)| (r.target.resource_id.clone().unwrap_or_default(), r))
                    .collect(),
                policies: policies.into_iter().map(|(_, p)| p).collect(),
            })
        })
        .await
        .map_err(AwsError::from)
    }

    /// One pass over a region: its due scheduled actions fire, then every policy whose alarm
    /// is in ALARM and due is invoked.
    async fn pass(&self, region: &str, invoked: &mut Invocations) -> Result<(), AwsError> {
        self.fire_due(region, (self.clock.now() * 1000.0) as i64)
            .await?;
        let snapshot = self.snapshot(region).await?;
        if snapshot.policies.is_empty() {
            invoked.retain(|(r, _, _), _| r != region);
            return Ok(());
        }
        let by_arn: HashMap<&str, &wire::ScalingPolicy> = snapshot
            .policies
            .iter()
            .filter_map(|p| Some((p.policy_arn.as_deref()?, p)))
            .collect();
        let alarms = self.metrics.alarms(region).await.map_err(internal)?;
        let mut in_alarm = HashSet::new();
        for alarm in &alarms {
            if alarm.state_value.as_deref() != Some(StateValue::Alarm.as_str())
                || alarm.actions_enabled == Some(false)
            {
                continue;
            }
            let alarm_name = alarm.alarm_name.clone().unwrap_or_default();
            for action in alarm.alarm_actions.iter().flatten() {
                let Some(policy) = by_arn.get(action.as_str()) else {
                    continue;
                };
                let key = (region.to_owned(), action.clone(), alarm_name.clone());
                in_alarm.insert(key.clone());
                let now_ms = (self.clock.now() * 1000.0) as i64;
                let period_ms = i64::from(alarm.period.unwrap_or(60).max(1)) * 1000;
                if invoked.get(&key).is_some_and(|at| now_ms - at < period_ms) {
                    continue;
                }
                invoked.insert(key, now_ms);
                if let Err(err) = self
                    .invoke(region, &snapshot.targets, policy, alarm, now_ms)
                    .await
                {
                    tracing::warn!(%region, alarm = %alarm_name, %err, "scaling policy invocation failed");
                }
            }
        }
        // An alarm that left ALARM is acted on at once when it comes back.
        invoked.retain(|key, _| key.0 != region || in_alarm.contains(key));
        Ok(())
    }

    /// Invokes `policy` for `alarm` (in ALARM) at `now_ms`.
    async fn invoke(
        &self,
        region: &str,
        targets: &BTreeMap<String, TargetRecord>,
        policy: &wire::ScalingPolicy,
        alarm: &cw::MetricAlarm,
        now_ms: i64,
    ) -> Result<(), AwsError> {
        let resource_id = policy.resource_id.clone().unwrap_or_default();
        let policy_name = policy.policy_name.clone().unwrap_or_default();
        let Some(record) = targets.get(&resource_id) else {
            return Ok(());
        };
        let service = target::parse_resource_id(&resource_id).map_err(crate::api::error)?;
        let Some(desired) = self
            .resources
            .desired_count(region, &service.cluster, &service.service)
            .await?
        else {
            return Ok(());
        };
        let values = self
            .metrics
            .alarm_values(region, alarm, now_ms)
            .await
            .map_err(internal)?;
        let suspended = record.target.suspended_state.clone().unwrap_or_default();
        let state = TargetState {
            desired,
            bounds: Bounds {
                min: record.target.min_capacity.unwrap_or_default(),
                max: record.target.max_capacity.unwrap_or_default(),
            },
            scale_out_suspended: suspended.dynamic_scaling_out_suspended == Some(true),
            scale_in_suspended: suspended.dynamic_scaling_in_suspended == Some(true),
        };
        let cooldowns = record
            .cooldowns
            .get(&policy_name)
            .copied()
            .unwrap_or_default();
        let decision = match (
            &policy.target_tracking_scaling_policy_configuration,
            &policy.step_scaling_policy_configuration,
        ) {
            (Some(config), _) => {
                let (tracking, _) =
                    convert::tracking(config, &service).map_err(crate::api::error)?;
                let trigger = Trigger::Tracking {
                    policy: &tracking,
                    high: alarm.comparison_operator.as_deref() == Some("GreaterThanThreshold"),
                    values: &values,
                };
                decide::decide(trigger, state, cooldowns, now_ms)
            }
            (None, Some(config)) => {
                let step = convert::step(config).map_err(crate::api::error)?;
                let trigger = Trigger::Step {
                    policy: &step,
                    threshold: alarm.threshold.unwrap_or_default(),
                    values: &values,
                };
                decide::decide(trigger, state, cooldowns, now_ms)
            }
            (None, None) => return Ok(()),
        };
        let Decision::Scale {
            capacity: count,
            cooldowns,
        } = decision
        else {
            tracing::debug!(%region, %resource_id, policy = %policy_name, ?decision, "policy invoked, no change");
            self.count_invocation("unchanged");
            return Ok(());
        };
        let alarm_name = alarm.alarm_name.clone().unwrap_or_default();
        let scaled = self
            .scale_to(
                region,
                &resource_id,
                &service,
                count,
                activity::alarm_cause(&alarm_name, &policy_name),
                now_ms as f64 / 1000.0,
            )
            .await;
        self.count_invocation(if scaled { "scaled" } else { "failed" });
        if scaled {
            let region = region.to_owned();
            transact(&*self.store, move |txn: &mut dyn Txn| {
                let key = records::target_key(&region, &resource_id);
                if let Some(mut record) = get::<TargetRecord>(txn, &key)? {
                    record.cooldowns.insert(policy_name.clone(), cooldowns);
                    put(txn, &key, &record);
                }
                Ok::<_, Failure>(())
            })
            .await
            .map_err(AwsError::from)?;
        }
        Ok(())
    }
}
