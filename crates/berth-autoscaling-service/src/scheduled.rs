//! Scheduled actions: PutScheduledAction, DeleteScheduledAction, DescribeScheduledActions, and
//! firing them — at each firing time the target's bounds become the action's, and a desired
//! count outside them is brought within.

use berth_autoscaling::schedule::Schedule;
use berth_autoscaling::target::{self, DIMENSION, NAMESPACE};
use berth_autoscaling::{ScalingError, activity};
use berth_autoscaling_wire as wire;
use berth_aws::AwsError;
use berth_gateway::Call;
use berth_store::{Txn, transact};

use crate::AutoScaling;
use crate::api::{decode, encode, error, filters, page, scalable};
use crate::records::{self, Failure, ScheduledRecord, TargetRecord, get, put, scan, target_key};

/// Scheduled actions per scalable target, as Application Auto Scaling's quota.
const ACTIONS_PER_TARGET: usize = 200;

fn ms(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

/// The schedule of a stored action.
fn schedule_of(action: &wire::ScheduledAction) -> Result<Schedule, ScalingError> {
    Schedule::parse(
        action.schedule.as_deref().unwrap_or_default(),
        action.timezone.as_deref(),
    )
    .map_err(|err| ScalingError::Validation(err.message))
}

impl AutoScaling {
    fn scheduled_action_arn(&self, region: &str, resource_id: &str, name: &str) -> String {
        format!(
            "arn:aws:autoscaling:{region}:{}:scheduledAction:{}:resource/{NAMESPACE}/{resource_id}:scheduledActionName/{name}",
            self.account_id,
            uuid::Uuid::new_v4()
        )
    }

    pub(crate) async fn put_scheduled_action(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::PutScheduledActionRequest = decode(call)?;
        let region = call.context.region.clone();
        call.authorize(
            "application-autoscaling:PutScheduledAction",
            vec![self.target_arn(&region, "*")],
            Vec::new(),
        )?;
        let (resource_id, _) = scalable(
            request.service_namespace.as_deref(),
            request.scalable_dimension.as_deref(),
            request.resource_id.as_deref(),
        )?;
        if let Some(bounds) = &request.scalable_target_action
            && let (Some(min), Some(max)) = (bounds.min_capacity, bounds.max_capacity)
        {
            target::check_bounds(min, max).map_err(error)?;
        }
        let name = request.scheduled_action_name.clone().unwrap_or_default();
        let now = call.context.received_at;
        let fresh_arn = self.scheduled_action_arn(&region, &resource_id, &name);
        let updated = self
            .run(call, move |txn, region| {
                if txn.get(&target_key(region, &resource_id))?.is_none() {
                    return Err(target::target_not_found(&resource_id).into());
                }
                let key = records::scheduled_key(region, &resource_id, &name);
                let existing: Option<ScheduledRecord> = get(txn, &key)?;
                if existing.is_none()
                    && scan::<serde_json::Value>(
                        txn,
                        &records::scheduled_prefix(region, Some(&resource_id)),
                    )?
                    .len()
                        >= ACTIONS_PER_TARGET
                {
                    return Err(ScalingError::LimitExceeded(format!(
                        "A scalable target can have at most {ACTIONS_PER_TARGET} scheduled actions"
                    ))
                    .into());
                }
                // An update changes what it names and keeps the rest.
                let mut action =
                    existing
                        .map(|r| r.action)
                        .unwrap_or_else(|| wire::ScheduledAction {
                            scheduled_action_name: Some(name.clone()),
                            scheduled_action_arn: Some(fresh_arn.clone()),
                            service_namespace: Some(NAMESPACE.into()),
                            resource_id: Some(resource_id.clone()),
                            scalable_dimension: Some(DIMENSION.into()),
                            creation_time: Some(now),
                            ..Default::default()
                        });
                if request.schedule.is_some() {
                    action.schedule = request.schedule.clone();
                }
                if request.timezone.is_some() {
                    action.timezone = request.timezone.clone();
                }
                if request.start_time.is_some() {
                    action.start_time = request.start_time;
                }
                if request.end_time.is_some() {
                    action.end_time = request.end_time;
                }
                if let Some(given) = &request.scalable_target_action {
                    let bounds = action
                        .scalable_target_action
                        .get_or_insert_with(Default::default);
                    if given.min_capacity.is_some() {
                        bounds.min_capacity = given.min_capacity;
                    }
                    if given.max_capacity.is_some() {
                        bounds.max_capacity = given.max_capacity;
                    }
                }
                if action.schedule.is_none() {
                    return Err(ScalingError::Validation(
                        "Schedule is required when creating a scheduled action".into(),
                    )
                    .into());
                }
                let bounds = action.scalable_target_action.clone().unwrap_or_default();
                if bounds.min_capacity.is_none() && bounds.max_capacity.is_none() {
                    return Err(ScalingError::Validation(
                        "ScalableTargetAction must set MinCapacity, MaxCapacity or both".into(),
                    )
                    .into());
                }
                if let (Some(min), Some(max)) = (bounds.min_capacity, bounds.max_capacity) {
                    target::check_bounds(min, max)?;
                }
                if let (Some(start), Some(end)) = (action.start_time, action.end_time)
                    && start > end
                {
                    return Err(ScalingError::Validation(
                        "StartTime must be before EndTime".into(),
                    )
                    .into());
                }
                schedule_of(&action)?;
                put(
                    txn,
                    &key,
                    &ScheduledRecord {
                        action,
                        after_ms: ms(now),
                    },
                );
                Ok(())
            })
            .await;
        updated?;
        self.wake.notify_one();
        Ok(b"{}".to_vec())
    }

    pub(crate) async fn delete_scheduled_action(
        &self,
        call: &Call<'_>,
    ) -> Result<Vec<u8>, AwsError> {
        let request: wire::DeleteScheduledActionRequest = decode(call)?;
        let region = call.context.region.clone();
        call.authorize(
            "application-autoscaling:DeleteScheduledAction",
            vec![self.target_arn(&region, "*")],
            Vec::new(),
        )?;
        let (resource_id, _) = scalable(
            request.service_namespace.as_deref(),
            request.scalable_dimension.as_deref(),
            request.resource_id.as_deref(),
        )?;
        let name = request.scheduled_action_name.clone().unwrap_or_default();
        self.run(call, move |txn, region| {
            let key = records::scheduled_key(region, &resource_id, &name);
            if txn.get(&key)?.is_none() {
                return Err(target::scheduled_action_not_found(&resource_id, &name).into());
            }
            txn.delete(&key);
            Ok(())
        })
        .await?;
        Ok(b"{}".to_vec())
    }

    pub(crate) async fn describe_scheduled_actions(
        &self,
        call: &Call<'_>,
    ) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeScheduledActionsRequest = decode(call)?;
        let region = call.context.region.clone();
        call.authorize(
            "application-autoscaling:DescribeScheduledActions",
            vec![self.target_arn(&region, "*")],
            Vec::new(),
        )?;
        filters(
            request.service_namespace.as_deref(),
            request.scalable_dimension.as_deref(),
        )?;
        let resource_id = request.resource_id.clone();
        let names = request.scheduled_action_names.clone().unwrap_or_default();
        let actions: Vec<(String, ScheduledRecord)> = self
            .run(call, move |txn, region| {
                scan(
                    txn,
                    &records::scheduled_prefix(region, resource_id.as_deref()),
                )
            })
            .await?;
        let matching: Vec<wire::ScheduledAction> = actions
            .into_iter()
            .map(|(_, record)| record.action)
            .filter(|a| {
                names.is_empty()
                    || names
                        .iter()
                        .any(|n| a.scheduled_action_name.as_ref() == Some(n))
            })
            .collect();
        let (actions, next_token) =
            page(matching, request.next_token.as_deref(), request.max_results)?;
        Ok(encode(&wire::DescribeScheduledActionsResponse {
            scheduled_actions: Some(actions),
            next_token,
        }))
    }

    /// Fires the region's scheduled actions whose time has come (unless scheduled scaling is
    /// suspended on their target): the target's new bounds and the activity in one
    /// transaction, then the desired count brought within them.
    pub(crate) async fn fire_due(&self, region: &str, now_ms: i64) -> Result<(), AwsError> {
        let owned = region.to_owned();
        let actions: Vec<(String, ScheduledRecord)> =
            transact(&*self.store, move |txn: &mut dyn Txn| {
                scan(txn, &records::scheduled_prefix(&owned, None))
            })
            .await
            .map_err(|failure: Failure| AwsError::from(failure))?;
        for (key, record) in actions {
            let action = &record.action;
            let due = schedule_of(action).ok().and_then(|schedule| {
                // A rate counts from the action's start, or from its creation.
                schedule.next_after(
                    record.after_ms,
                    action.start_time.or(action.creation_time).map(ms),
                    action.end_time.map(ms),
                )
            });
            if due.is_none_or(|at| at > now_ms) {
                continue;
            }
            self.fire(region, key, record, now_ms).await?;
        }
        Ok(())
    }

    async fn fire(
        &self,
        region: &str,
        key: String,
        record: ScheduledRecord,
        now_ms: i64,
    ) -> Result<(), AwsError> {
        let action = record.action;
        let name = action.scheduled_action_name.clone().unwrap_or_default();
        let resource_id = action.resource_id.clone().unwrap_or_default();
        let wanted = action.scalable_target_action.clone().unwrap_or_default();
        let (min, max) = (wanted.min_capacity, wanted.max_capacity);
        let owned = region.to_owned();
        let rid = resource_id.clone();
        let started = now_ms as f64 / 1000.0;
        let activity_id = uuid::Uuid::new_v4().to_string();
        let action_name = name.clone();
        let ended = self.clock.now().max(started);
        // The new bounds, or None when the target is gone or suspends scheduled scaling.
        let bounds = transact(&*self.store, move |txn: &mut dyn Txn| {
            let Some(mut stored) = get::<ScheduledRecord>(txn, &key)? else {
                return Ok(None);
            };
            stored.after_ms = now_ms;
            put(txn, &key, &stored);
            let target_key = target_key(&owned, &rid);
            let Some(mut target_record) = get::<TargetRecord>(txn, &target_key)? else {
                return Ok(None);
            };
            let suspended = target_record
                .target
                .suspended_state
                .as_ref()
                .and_then(|s| s.scheduled_scaling_suspended)
                == Some(true);
            if suspended {
                return Ok(None);
            }
            let current = target::Bounds {
                min: target_record.target.min_capacity.unwrap_or_default(),
                max: target_record.target.max_capacity.unwrap_or_default(),
            };
            let bounds = target::scheduled_bounds(current, min, max);
            target_record.target.min_capacity = Some(bounds.min);
            target_record.target.max_capacity = Some(bounds.max);
            put(txn, &target_key, &target_record);
            records::record_activity(
                txn,
                &owned,
                &wire::ScalingActivity {
                    activity_id: Some(activity_id.clone()),
                    service_namespace: Some(NAMESPACE.into()),
                    resource_id: Some(rid.clone()),
                    scalable_dimension: Some(DIMENSION.into()),
                    description: Some(activity::bounds_description(min, max)),
                    cause: Some(activity::scheduled_cause(&action_name)),
                    start_time: Some(started),
                    end_time: Some(ended),
                    status_code: Some("Successful".into()),
                    status_message: Some(activity::bounds_done(min, max)),
                    ..Default::default()
                },
            )?;
            Ok::<_, Failure>(Some(bounds))
        })
        .await
        .map_err(AwsError::from)?;
        let Some(bounds) = bounds else {
            return Ok(());
        };
        let service = target::parse_resource_id(&resource_id).map_err(error)?;
        if let Some(desired) = self
            .resources
            .desired_count(region, &service.cluster, &service.service)
            .await?
        {
            let clamped = bounds.clamp(desired);
            if clamped != desired {
                self.scale_to(
                    region,
                    &resource_id,
                    &service,
                    clamped,
                    activity::scheduled_cause(&name),
                    started,
                )
                .await;
            }
        }
        Ok(())
    }
}
