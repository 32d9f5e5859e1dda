//! The API's actions on scalable targets, scaling policies, activities and tags.

use std::collections::BTreeMap;

use base64::Engine;
use berth_autoscaling::policy::{self, MetricSpec, TargetTracking};
use berth_autoscaling::target::{self, Bounds, DIMENSION, EcsService, NAMESPACE};
use berth_autoscaling::{ScalingError, activity};
use berth_autoscaling_wire as wire;
use berth_aws::{AwsError, ServiceError};
use berth_cloudwatch_wire as cw;
use berth_gateway::Call;
use berth_store::{Txn, transact};
use berth_wire::Validate;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::records::{self, Failure, TargetRecord, get, put, record_activity, scan, target_key};
use crate::{AutoScaling, convert};

/// Scaling policies per scalable target, as Application Auto Scaling's quota.
const POLICIES_PER_TARGET: usize = 50;
/// Tags per scalable target.
const TAGS_PER_TARGET: usize = 50;
/// Describe calls answer at most 50 items a page.
const PAGE_MAX: usize = 50;

pub(crate) fn error(err: ScalingError) -> AwsError {
    err.to_aws_error()
}

pub(crate) fn decode<T: DeserializeOwned + Validate>(call: &Call<'_>) -> Result<T, AwsError> {
    let request: T = serde_json::from_slice(call.input).map_err(|err| {
        error(ScalingError::Validation(format!(
            "Could not read the request: {err}"
        )))
    })?;
    request
        .check()
        .map_err(|message| error(ScalingError::Validation(message)))?;
    Ok(request)
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("wire shapes always encode")
}

fn now_ms(call: &Call<'_>) -> i64 {
    (call.context.received_at * 1000.0) as i64
}

/// Paging tokens: base64 of how many items earlier pages answered.
fn token(offset: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(offset.to_string())
}

fn untoken(token: Option<&str>) -> Result<usize, AwsError> {
    let Some(token) = token else {
        return Ok(0);
    };
    base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| error(ScalingError::InvalidNextToken("Invalid NextToken".into())))
}

/// One page of `items` from a token, and the next token.
pub(crate) fn page<T>(
    items: Vec<T>,
    next_token: Option<&str>,
    max_results: Option<i32>,
) -> Result<(Vec<T>, Option<String>), AwsError> {
    let offset = untoken(next_token)?;
    let size = max_results.map_or(PAGE_MAX, |m| (m.max(1) as usize).min(PAGE_MAX));
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(offset).take(size).collect();
    let next = (offset + size < total).then(|| token(offset + size));
    Ok((page, next))
}

/// The namespace, dimension and resource id a request names, checked: `ecs`,
/// `ecs:service:DesiredCount` and `service/CLUSTER/SERVICE`.
pub(crate) fn scalable(
    namespace: Option<&str>,
    dimension: Option<&str>,
    resource_id: Option<&str>,
) -> Result<(String, EcsService), AwsError> {
    target::check_namespace(namespace.unwrap_or_default()).map_err(error)?;
    target::check_dimension(dimension.unwrap_or_default()).map_err(error)?;
    let resource_id = resource_id.unwrap_or_default().to_owned();
    let service = target::parse_resource_id(&resource_id).map_err(error)?;
    Ok((resource_id, service))
}

/// Optional filters of the Describe calls: the namespace must be `ecs` and a dimension, if
/// given, `ecs:service:DesiredCount`.
pub(crate) fn filters(namespace: Option<&str>, dimension: Option<&str>) -> Result<(), AwsError> {
    target::check_namespace(namespace.unwrap_or_default()).map_err(error)?;
    if let Some(dimension) = dimension {
        target::check_dimension(dimension).map_err(error)?;
    }
    Ok(())
}

fn tag_conditions(tags: Option<&BTreeMap<String, String>>) -> Vec<(String, String)> {
    let Some(tags) = tags.filter(|t| !t.is_empty()) else {
        return Vec::new();
    };
    let mut conditions: Vec<(String, String)> = tags
        .iter()
        .map(|(key, value)| (format!("aws:RequestTag/{key}"), value.clone()))
        .collect();
    let keys: Vec<&str> = tags.keys().map(String::as_str).collect();
    conditions.push(("aws:TagKeys".into(), keys.join(",")));
    conditions
}

fn add_tags(
    tags: &mut BTreeMap<String, String>,
    added: &BTreeMap<String, String>,
) -> Result<(), ScalingError> {
    for (key, value) in added {
        if key.starts_with("aws:") {
            return Err(ScalingError::Validation(format!(
                "Tag key {key} uses the reserved prefix aws:"
            )));
        }
        tags.insert(key.clone(), value.clone());
    }
    if tags.len() > TAGS_PER_TARGET {
        return Err(ScalingError::TooManyTags(format!(
            "A scalable target can have at most {TAGS_PER_TARGET} tags"
        )));
    }
    Ok(())
}

fn bounds_of(target: &wire::ScalableTarget) -> Bounds {
    Bounds {
        min: target.min_capacity.unwrap_or_default(),
        max: target.max_capacity.unwrap_or_default(),
    }
}

/// The alarm a target tracking policy makes of one of its [`policy::TrackingAlarm`]s.
pub(crate) fn tracking_alarm(
    name: &str,
    policy_arn: &str,
    metric: &MetricSpec,
    alarm: &policy::TrackingAlarm,
    period_s: i32,
) -> cw::MetricAlarm {
    cw::MetricAlarm {
        alarm_name: Some(name.to_owned()),
        alarm_description: Some(policy::tracking_alarm_description(policy_arn)),
        actions_enabled: Some(true),
        alarm_actions: Some(vec![policy_arn.to_owned()]),
        ok_actions: Some(Vec::new()),
        insufficient_data_actions: Some(Vec::new()),
        metric_name: Some(metric.name.clone()),
        namespace: Some(metric.namespace.clone()),
        statistic: Some(metric.statistic.clone()),
        dimensions: Some(
            metric
                .dimensions
                .iter()
                .map(|(name, value)| cw::Dimension {
                    name: Some(name.clone()),
                    value: Some(value.clone()),
                })
                .collect(),
        ),
        period: Some(period_s),
        unit: metric.unit.clone(),
        evaluation_periods: Some(alarm.datapoints),
        datapoints_to_alarm: Some(alarm.datapoints),
        threshold: Some(alarm.threshold),
        comparison_operator: Some(alarm.comparison.to_owned()),
        ..Default::default()
    }
}

impl AutoScaling {
    pub(crate) fn target_arn(&self, region: &str, id: &str) -> String {
        format!(
            "arn:aws:application-autoscaling:{region}:{}:scalable-target/{id}",
            self.account_id
        )
    }

    fn policy_arn(&self, region: &str, id: &str, resource_id: &str, name: &str) -> String {
        format!(
            "arn:aws:autoscaling:{region}:{}:scalingPolicy:{id}:resource/{NAMESPACE}/{resource_id}:policyName/{name}",
            self.account_id
        )
    }

    /// Runs `operation` as one transaction of the call's region.
    pub(crate) async fn run<T, F>(&self, call: &Call<'_>, mut operation: F) -> Result<T, AwsError>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn Txn, &str) -> Result<T, Failure> + Send + 'static,
    {
        let region = call.context.region.clone();
        transact(&*self.store, move |txn: &mut dyn Txn| {
            operation(txn, &region)
        })
        .await
        .map_err(AwsError::from)
    }

    pub(crate) async fn register_scalable_target(
        &self,
        call: &Call<'_>,
    ) -> Result<Vec<u8>, AwsError> {
        let request: wire::RegisterScalableTargetRequest = decode(call)?;
        let region = call.context.region.clone();
        call.authorize(
            "application-autoscaling:RegisterScalableTarget",
            vec![self.target_arn(&region, "*")],
            tag_conditions(request.tags.as_ref()),
        )?;
        let (resource_id, service) = scalable(
            request.service_namespace.as_deref(),
            request.scalable_dimension.as_deref(),
            request.resource_id.as_deref(),
        )?;
        let desired = self
            .resources
            .desired_count(&region, &service.cluster, &service.service)
            .await?
            .ok_or_else(|| error(target::service_not_found(&resource_id)))?;
        let now = call.context.received_at;
        let new_arn = self.target_arn(&region, &uuid::Uuid::new_v4().simple().to_string());
        let default_role = format!(
            "arn:aws:iam::{}:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService",
            self.account_id
        );
        let id = resource_id.clone();
        let (arn, bounds) = self
            .run(call, move |txn, region| {
                let key = target_key(region, &id);
                let existing: Option<TargetRecord> = get(txn, &key)?;
                let bounds = target::registered_bounds(
                    existing.as_ref().map(|r| bounds_of(&r.target)),
                    request.min_capacity,
                    request.max_capacity,
                )?;
                let mut record = existing.unwrap_or_else(|| TargetRecord {
                    target: wire::ScalableTarget {
                        service_namespace: Some(NAMESPACE.into()),
                        resource_id: Some(id.clone()),
                        scalable_dimension: Some(DIMENSION.into()),
                        role_arn: Some(request.role_arn.clone().unwrap_or(default_role.clone())),
                        creation_time: Some(now),
                        scalable_target_arn: Some(new_arn.clone()),
                        suspended_state: Some(wire::SuspendedState {
                            dynamic_scaling_in_suspended: Some(false),
                            dynamic_scaling_out_suspended: Some(false),
                            scheduled_scaling_suspended: Some(false),
                        }),
                        ..Default::default()
                    },
                    ..Default::default()
                });
                record.target.min_capacity = Some(bounds.min);
                record.target.max_capacity = Some(bounds.max);
                if let Some(role) = &request.role_arn {
                    record.target.role_arn = Some(role.clone());
                }
                if let Some(given) = &request.suspended_state {
                    let state = record
                        .target
                        .suspended_state
                        .get_or_insert_with(Default::default);
                    for (to, from) in [
                        (
                            &mut state.dynamic_scaling_in_suspended,
                            given.dynamic_scaling_in_suspended,
                        ),
                        (
                            &mut state.dynamic_scaling_out_suspended,
                            given.dynamic_scaling_out_suspended,
                        ),
                        (
                            &mut state.scheduled_scaling_suspended,
                            given.scheduled_scaling_suspended,
                        ),
                    ] {
                        if from.is_some() {
                            *to = from;
                        }
                    }
                }
                if let Some(tags) = &request.tags {
                    add_tags(&mut record.tags, tags)?;
                }
                put(txn, &key, &record);
                Ok((record.target.scalable_target_arn.clone(), bounds))
            })
            .await?;
        self.note_region(&region);
        // A desired count outside the new bounds is brought within them at once.
        let clamped = bounds.clamp(desired);
        if clamped != desired {
            self.scale_to(
                &region,
                &resource_id,
                &service,
                clamped,
                format!(
                    "RegisterScalableTarget set the capacity bounds to minimum {} and maximum {}",
                    bounds.min, bounds.max
                ),
                call.context.received_at,
            )
            .await;
        }
        Ok(encode(&wire::RegisterScalableTargetResponse {
            scalable_target_arn: arn,
        }))
    }

    /// Sets a service's desired count and records the activity (successful or failed), with
    /// `cause`; `at` is when the activity started (seconds).
    pub(crate) async fn scale_to(
        &self,
        region: &str,
        resource_id: &str,
        service: &EcsService,
        count: i32,
        cause: String,
        at: f64,
    ) -> bool {
        let outcome = self
            .resources
            .set_desired_count(region, &service.cluster, &service.service, count)
            .await;
        let (status, message) = match &outcome {
            Ok(()) => ("Successful", activity::desired_count_done(count)),
            Err(err) => (
                "Failed",
                activity::desired_count_failed(count, &err.message),
            ),
        };
        let ended = at.max(self.clock.now());
        let entry = wire::ScalingActivity {
            activity_id: Some(uuid::Uuid::new_v4().to_string()),
            service_namespace: Some(NAMESPACE.into()),
            resource_id: Some(resource_id.to_owned()),
            scalable_dimension: Some(DIMENSION.into()),
            description: Some(activity::desired_count_description(count)),
            cause: Some(cause),
            start_time: Some(at),
            end_time: Some(ended),
            status_code: Some(status.into()),
            status_message: Some(message),
            ..Default::default()
        };
        self.record(region, entry).await;
        outcome.is_ok()
    }

    /// Records an activity; a failure to record is logged (the scaling itself happened).
    pub(crate) async fn record(&self, region: &str, entry: wire::ScalingActivity) {
        let region = region.to_owned();
        let written = transact(&*self.store, move |txn: &mut dyn Txn| {
            record_activity(txn, &region, &entry)
        })
        .await;
        if let Err(failure) = written {
            let err = AwsError::from(failure);
            tracing::warn!(%err, "recording a scaling activity failed");
        }
    }

    pub(crate) async fn deregister_scalable_target(
        &self,
        call: &Call<'_>,
    ) -> Result<Vec<u8>, AwsError> {
        let request: wire::DeregisterScalableTargetRequest = decode(call)?;
        let region = call.context.region.clone();
        call.authorize(
            "application-autoscaling:DeregisterScalableTarget",
            vec![self.target_arn(&region, "*")],
            Vec::new(),
        )?;
        let (resource_id, _) = scalable(
            request.service_namespace.as_deref(),
            request.scalable_dimension.as_deref(),
            request.resource_id.as_deref(),
        )?;
        // Its policies and scheduled actions go with it, and so do the policies' alarms.
        let alarms = self
            .run(call, move |txn, region| {
                let key = target_key(region, &resource_id);
                if txn.get(&key)?.is_none() {
                    return Err(ScalingError::ObjectNotFound(format!(
                        "No scalable target found for service namespace: {NAMESPACE}, resource ID: {resource_id}, scalable dimension: {DIMENSION}"
                    ))
                    .into());
                }
                txn.delete(&key);
                let mut alarms = Vec::new();
                let policies: Vec<(String, wire::ScalingPolicy)> =
                    scan(txn, &records::policies_prefix(region, Some(&resource_id)))?;
                for (key, policy) in policies {
                    alarms.extend(managed_alarm_names(&policy));
                    txn.delete(&key);
                }
                let actions: Vec<(String, serde_json::Value)> =
                    scan(txn, &records::scheduled_prefix(region, Some(&resource_id)))?;
                for (key, _) in actions {
                    txn.delete(&key);
                }
                Ok(alarms)
            })
            .await?;
        self.delete_alarms(&region, alarms).await?;
        Ok(b"{}".to_vec())
    }

    async fn delete_alarms(&self, region: &str, names: Vec<String>) -> Result<(), AwsError> {
        if names.is_empty() {
            return Ok(());
        }
        self.metrics
            .delete_managed_alarms(region, names)
            .await
            .map_err(|err| error(ScalingError::Internal(err.to_string())))
    }

    pub(crate) async fn describe_scalable_targets(
        &self,
        call: &Call<'_>,
    ) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeScalableTargetsRequest = decode(call)?;
        let region = call.context.region.clone();
        call.authorize(
            "application-autoscaling:DescribeScalableTargets",
            vec![self.target_arn(&region, "*")],
            Vec::new(),
        )?;
        filters(
            request.service_namespace.as_deref(),
            request.scalable_dimension.as_deref(),
        )?;
        let wanted = request.resource_ids.clone().unwrap_or_default();
        let targets: Vec<(String, TargetRecord)> = self
            .run(call, |txn, region| {
                scan(txn, &records::targets_prefix(region))
            })
            .await?;
        let matching: Vec<wire::ScalableTarget> = targets
            .into_iter()
            .map(|(_, record)| record.target)
            .filter(|t| {
                wanted.is_empty() || wanted.iter().any(|w| t.resource_id.as_ref() == Some(w))
            })
            .collect();
        let (targets, next_token) =
            page(matching, request.next_token.as_deref(), request.max_results)?;
        Ok(encode(&wire::DescribeScalableTargetsResponse {
            scalable_targets: Some(targets),
            next_token,
        }))
    }

    pub(crate) async fn put_scaling_policy(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::PutScalingPolicyRequest = decode(call)?;
        let region = call.context.region.clone();
        let name = request.policy_name.clone().unwrap_or_default();
        call.authorize(
            "application-autoscaling:PutScalingPolicy",
            vec![self.target_arn(&region, "*")],
            Vec::new(),
        )?;
        let (resource_id, service) = scalable(
            request.service_namespace.as_deref(),
            request.scalable_dimension.as_deref(),
            request.resource_id.as_deref(),
        )?;
        let policy_type = request
            .policy_type
            .clone()
            .unwrap_or_else(|| "StepScaling".into());
        // The configuration of the policy's type is required, and only it.
        let tracking: Option<(TargetTracking, MetricSpec)> = match policy_type.as_str() {
            "TargetTrackingScaling" => {
                if request.step_scaling_policy_configuration.is_some() {
                    return Err(error(ScalingError::Validation(
                        "StepScalingPolicyConfiguration is not allowed for a TargetTrackingScaling policy".into(),
                    )));
                }
                let config = request
                    .target_tracking_scaling_policy_configuration
                    .as_ref()
                    .ok_or_else(|| {
                        error(ScalingError::Validation(
                            "TargetTrackingScalingPolicyConfiguration is required for a TargetTrackingScaling policy".into(),
                        ))
                    })?;
                Some(convert::tracking(config, &service).map_err(error)?)
            }
            "StepScaling" => {
                if request
                    .target_tracking_scaling_policy_configuration
                    .is_some()
                {
                    return Err(error(ScalingError::Validation(
                        "TargetTrackingScalingPolicyConfiguration is not allowed for a StepScaling policy".into(),
                    )));
                }
                let config = request
                    .step_scaling_policy_configuration
                    .as_ref()
                    .ok_or_else(|| {
                        error(ScalingError::Validation(
                            "StepScalingPolicyConfiguration is required for a StepScaling policy"
                                .into(),
                        ))
                    })?;
                convert::step(config).map_err(error)?;
                None
            }
            other => {
                return Err(error(ScalingError::Validation(format!(
                    "Berth's Application Auto Scaling does not serve {other} policies (StepScaling and TargetTrackingScaling are)"
                ))));
            }
        };
        let now = call.context.received_at;
        let fresh_id = uuid::Uuid::new_v4().to_string();
        let fresh_arn = self.policy_arn(&region, &fresh_id, &resource_id, &name);
        let fresh_alarm_id = uuid::Uuid::new_v4().to_string();
        let period_s = self.metric_period.as_secs().clamp(1, 86_400) as i32;
        let rid = resource_id.clone();
        let policy_name = name.clone();
        let given = request.clone();
        let tracking_for_txn = tracking.clone();
        let account = self.account_id.clone();
        // The policy (keeping its ARN when replaced), the alarms it had and the ones it has now.
        let (policy, old_alarms) = self
            .run(call, move |txn, region| {
                if txn.get(&target_key(region, &rid))?.is_none() {
                    return Err(target::target_not_found(&rid).into());
                }
                let key = records::policy_key(region, &rid, &policy_name);
                let existing: Option<wire::ScalingPolicy> = get(txn, &key)?;
                if existing.is_none() {
                    let count = scan::<serde_json::Value>(
                        txn,
                        &records::policies_prefix(region, Some(&rid)),
                    )?
                    .len();
                    if count >= POLICIES_PER_TARGET {
                        return Err(ScalingError::LimitExceeded(format!(
                            "A scalable target can have at most {POLICIES_PER_TARGET} scaling policies"
                        ))
                        .into());
                    }
                }
                let arn = existing
                    .as_ref()
                    .and_then(|p| p.policy_arn.clone())
                    .unwrap_or_else(|| fresh_arn.clone());
                let old_alarms = existing.as_ref().map(managed_alarm_names).unwrap_or_default();
                // A replaced target tracking policy keeps its alarms' names.
                let alarm_id = old_alarms
                    .first()
                    .and_then(|n| n.rsplit_once("-Alarm"))
                    .and_then(|(_, rest)| rest.split_once('-'))
                    .map_or(fresh_alarm_id.clone(), |(_, id)| id.to_owned());
                let alarms = tracking_for_txn.as_ref().map(|(tracking, _)| {
                    policy::tracking_alarms(tracking)
                        .iter()
                        .map(|alarm| {
                            let name = policy::tracking_alarm_name(&rid, alarm.high, &alarm_id);
                            wire::Alarm {
                                alarm_arn: Some(format!(
                                    "arn:aws:cloudwatch:{region}:{account}:alarm:{name}"
                                )),
                                alarm_name: Some(name),
                            }
                        })
                        .collect::<Vec<_>>()
                });
                let policy = wire::ScalingPolicy {
                    policy_arn: Some(arn),
                    policy_name: Some(policy_name.clone()),
                    service_namespace: Some(NAMESPACE.into()),
                    resource_id: Some(rid.clone()),
                    scalable_dimension: Some(DIMENSION.into()),
                    policy_type: Some(policy_type.clone()),
                    step_scaling_policy_configuration: given
                        .step_scaling_policy_configuration
                        .clone(),
                    target_tracking_scaling_policy_configuration: given
                        .target_tracking_scaling_policy_configuration
                        .clone(),
                    alarms: alarms.clone(),
                    creation_time: Some(
                        existing
                            .as_ref()
                            .and_then(|p| p.creation_time)
                            .unwrap_or(now),
                    ),
                    ..Default::default()
                };
                put(txn, &key, &policy);
                // A replaced policy starts without cooldowns.
                let target_key = target_key(region, &rid);
                if let Some(mut record) = get::<TargetRecord>(txn, &target_key)?
                    && record.cooldowns.remove(&policy_name).is_some()
                {
                    put(txn, &target_key, &record);
                }
                Ok((policy, old_alarms))
            })
            .await?;
        let policy_arn = policy.policy_arn.clone().unwrap_or_default();
        let new_alarms = managed_alarm_names(&policy);
        if let Some((tracking, metric)) = &tracking {
            let now_ms = now_ms(call);
            for (spec, name) in policy::tracking_alarms(tracking).iter().zip(&new_alarms) {
                let alarm = tracking_alarm(name, &policy_arn, metric, spec, period_s);
                self.metrics
                    .put_managed_alarm(&region, alarm, now_ms)
                    .await
                    .map_err(|err| error(ScalingError::Internal(err.to_string())))?;
            }
        }
        let gone: Vec<String> = old_alarms
            .into_iter()
            .filter(|n| !new_alarms.contains(n))
            .collect();
        self.delete_alarms(&region, gone).await?;
        self.wake.notify_one();
        Ok(encode(&wire::PutScalingPolicyResponse {
            policy_arn: Some(policy_arn),
            alarms: policy.alarms,
        }))
    }

    pub(crate) async fn delete_scaling_policy(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DeleteScalingPolicyRequest = decode(call)?;
        let region = call.context.region.clone();
        call.authorize(
            "application-autoscaling:DeleteScalingPolicy",
            vec![self.target_arn(&region, "*")],
            Vec::new(),
        )?;
        let (resource_id, _) = scalable(
            request.service_namespace.as_deref(),
            request.scalable_dimension.as_deref(),
            request.resource_id.as_deref(),
        )?;
        let name = request.policy_name.clone().unwrap_or_default();
        let alarms = self
            .run(call, move |txn, region| {
                let key = records::policy_key(region, &resource_id, &name);
                let policy: wire::ScalingPolicy =
                    get(txn, &key)?.ok_or_else(|| target::policy_not_found(&resource_id, &name))?;
                txn.delete(&key);
                let target_key = target_key(region, &resource_id);
                if let Some(mut record) = get::<TargetRecord>(txn, &target_key)?
                    && record.cooldowns.remove(&name).is_some()
                {
                    put(txn, &target_key, &record);
                }
                Ok(managed_alarm_names(&policy))
            })
            .await?;
        self.delete_alarms(&region, alarms).await?;
        Ok(b"{}".to_vec())
    }

    pub(crate) async fn describe_scaling_policies(
        &self,
        call: &Call<'_>,
    ) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeScalingPoliciesRequest = decode(call)?;
        let region = call.context.region.clone();
        call.authorize(
            "application-autoscaling:DescribeScalingPolicies",
            vec![self.target_arn(&region, "*")],
            Vec::new(),
        )?;
        filters(
            request.service_namespace.as_deref(),
            request.scalable_dimension.as_deref(),
        )?;
        let resource_id = request.resource_id.clone();
        let names = request.policy_names.clone().unwrap_or_default();
        let policies: Vec<(String, wire::ScalingPolicy)> = self
            .run(call, move |txn, region| {
                scan(
                    txn,
                    &records::policies_prefix(region, resource_id.as_deref()),
                )
            })
            .await?;
        let matching: Vec<wire::ScalingPolicy> = policies
            .into_iter()
            .map(|(_, policy)| policy)
            .filter(|p| names.is_empty() || names.iter().any(|n| p.policy_name.as_ref() == Some(n)))
            .collect();
        let (mut policies, next_token) =
            page(matching, request.next_token.as_deref(), request.max_results)?;
        // A step policy's alarms are the ones whose actions name it, as AWS lists them.
        if policies.iter().any(|p| p.alarms.is_none()) {
            let alarms = self
                .metrics
                .alarms(&region)
                .await
                .map_err(|err| error(ScalingError::Internal(err.to_string())))?;
            for policy in policies.iter_mut().filter(|p| p.alarms.is_none()) {
                let arn = policy.policy_arn.clone().unwrap_or_default();
                policy.alarms = Some(
                    alarms
                        .iter()
                        .filter(|a| {
                            a.alarm_actions
                                .iter()
                                .flatten()
                                .any(|action| action == &arn)
                        })
                        .map(|a| wire::Alarm {
                            alarm_name: a.alarm_name.clone(),
                            alarm_arn: a.alarm_arn.clone(),
                        })
                        .collect(),
                );
            }
        }
        Ok(encode(&wire::DescribeScalingPoliciesResponse {
            scaling_policies: Some(policies),
            next_token,
        }))
    }

    pub(crate) async fn describe_scaling_activities(
        &self,
        call: &Call<'_>,
    ) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeScalingActivitiesRequest = decode(call)?;
        let region = call.context.region.clone();
        call.authorize(
            "application-autoscaling:DescribeScalingActivities",
            vec![self.target_arn(&region, "*")],
            Vec::new(),
        )?;
        filters(
            request.service_namespace.as_deref(),
            request.scalable_dimension.as_deref(),
        )?;
        let resource_id = request.resource_id.clone();
        let activities: Vec<(String, wire::ScalingActivity)> = self
            .run(call, move |txn, region| {
                scan(
                    txn,
                    &records::activities_prefix(region, resource_id.as_deref()),
                )
            })
            .await?;
        // Newest first, across targets.
        let mut activities: Vec<wire::ScalingActivity> =
            activities.into_iter().map(|(_, a)| a).collect();
        activities.sort_by(|a, b| {
            b.start_time
                .unwrap_or_default()
                .total_cmp(&a.start_time.unwrap_or_default())
        });
        let (activities, next_token) = page(
            activities,
            request.next_token.as_deref(),
            request.max_results,
        )?;
        Ok(encode(&wire::DescribeScalingActivitiesResponse {
            scaling_activities: Some(activities),
            next_token,
        }))
    }

    /// Changes the tags of the scalable target an ARN names.
    async fn change_tags(
        &self,
        call: &Call<'_>,
        arn: String,
        change: impl Fn(&mut BTreeMap<String, String>) -> Result<(), ScalingError> + Send + 'static,
    ) -> Result<BTreeMap<String, String>, AwsError> {
        self.run(call, move |txn, region| {
            let targets: Vec<(String, TargetRecord)> = scan(txn, &records::targets_prefix(region))?;
            let (key, mut record) = targets
                .into_iter()
                .find(|(_, r)| r.target.scalable_target_arn.as_deref() == Some(arn.as_str()))
                .ok_or_else(|| {
                    ScalingError::ResourceNotFound(format!(
                        "No scalable target found for ARN {arn}"
                    ))
                })?;
            let before = record.tags.clone();
            change(&mut record.tags)?;
            if record.tags != before {
                put(txn, &key, &record);
            }
            Ok(record.tags)
        })
        .await
    }

    pub(crate) async fn tag_resource(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::TagResourceRequest = decode(call)?;
        let arn = request.resource_arn.clone().unwrap_or_default();
        call.authorize(
            "application-autoscaling:TagResource",
            vec![arn.clone()],
            tag_conditions(request.tags.as_ref()),
        )?;
        let added = request.tags.clone().unwrap_or_default();
        self.change_tags(call, arn, move |tags| add_tags(tags, &added))
            .await?;
        Ok(b"{}".to_vec())
    }

    pub(crate) async fn untag_resource(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::UntagResourceRequest = decode(call)?;
        let arn = request.resource_arn.clone().unwrap_or_default();
        call.authorize(
            "application-autoscaling:UntagResource",
            vec![arn.clone()],
            Vec::new(),
        )?;
        let removed = request.tag_keys.clone().unwrap_or_default();
        self.change_tags(call, arn, move |tags| {
            for key in &removed {
                tags.remove(key);
            }
            Ok(())
        })
        .await?;
        Ok(b"{}".to_vec())
    }

    pub(crate) async fn list_tags_for_resource(
        &self,
        call: &Call<'_>,
    ) -> Result<Vec<u8>, AwsError> {
        let request: wire::ListTagsForResourceRequest = decode(call)?;
        let arn = request.resource_arn.clone().unwrap_or_default();
        call.authorize(
            "application-autoscaling:ListTagsForResource",
            vec![arn.clone()],
            Vec::new(),
        )?;
        let tags = self.change_tags(call, arn, |_| Ok(())).await?;
        Ok(encode(&wire::ListTagsForResourceResponse {
            tags: Some(tags),
        }))
    }
}

/// The alarms a policy manages itself (a target tracking policy's two): deleted with it.
pub(crate) fn managed_alarm_names(policy: &wire::ScalingPolicy) -> Vec<String> {
    if policy.policy_type.as_deref() != Some("TargetTrackingScaling") {
        return Vec::new();
    }
    policy
        .alarms
        .iter()
        .flatten()
        .filter_map(|a| a.alarm_name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_of_at_most_fifty_carry_the_offset_on() {
        let items: Vec<i32> = (0..120).collect();
        let (first, next) = page(items.clone(), None, None).unwrap();
        assert_eq!(first, (0..50).collect::<Vec<_>>());
        let (second, next) = page(items.clone(), next.as_deref(), Some(500)).unwrap();
        assert_eq!(second, (50..100).collect::<Vec<_>>());
        let (last, next) = page(items.clone(), next.as_deref(), None).unwrap();
        assert_eq!((last.len(), next), (20, None));
        let (small, _) = page(items.clone(), None, Some(3)).unwrap();
        assert_eq!(small, vec![0, 1, 2]);
        let err = page(items, Some("not a token"), None).unwrap_err();
        assert_eq!(err.code, "InvalidNextTokenException");
    }

    #[test]
    fn target_tracking_alarms_are_shaped_as_aws_shapes_them() {
        let service = EcsService {
            cluster: "default".into(),
            service: "web".into(),
        };
        let tracking = policy::target_tracking(Some(50.0), None, None, None).unwrap();
        let metric =
            policy::predefined_metric("ECSServiceAverageCPUUtilization", None, &service).unwrap();
        let [high, low] = &policy::tracking_alarms(&tracking)[..] else {
            panic!("two alarms");
        };
        let arn = "arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:1:resource/ecs/service/default/web:policyName/cpu";
        let alarm = tracking_alarm("high", arn, &metric, high, 1);
        assert_eq!(alarm.alarm_actions, Some(vec![arn.to_owned()]));
        assert_eq!(
            (
                alarm.period,
                alarm.evaluation_periods,
                alarm.datapoints_to_alarm
            ),
            (Some(1), Some(3), Some(3))
        );
        assert_eq!(alarm.statistic.as_deref(), Some("Average"));
        assert_eq!(alarm.unit.as_deref(), Some("Percent"));
        let low = tracking_alarm("low", arn, &metric, low, 60);
        assert_eq!(
            (low.threshold, low.comparison_operator.as_deref()),
            (Some(45.0), Some("LessThanThreshold"))
        );
        assert_eq!((low.period, low.evaluation_periods), (Some(60), Some(15)));
    }
}
