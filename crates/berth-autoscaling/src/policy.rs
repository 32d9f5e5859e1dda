//! Scaling policies: the checks PutScalingPolicy makes of target tracking and step scaling
//! configurations, the metric a target tracking policy follows, and the two CloudWatch alarms
//! it creates for it.

use crate::error::{ScalingError, invalid};
use crate::target::EcsService;

/// Application Auto Scaling's default cooldown for ECS services, in seconds.
pub const DEFAULT_COOLDOWN_S: i64 = 300;

/// Target tracking's alarms: the high alarm needs 3 breaching datapoints in 3 periods, the low
/// one 15 in 15, whatever the period; the low threshold is 90 % of the target (ECS's).
pub const HIGH_DATAPOINTS: i32 = 3;
pub const LOW_DATAPOINTS: i32 = 15;
pub const LOW_THRESHOLD_RATIO: f64 = 0.9;

/// The metric a target tracking policy keeps at its target value, as its alarms name it.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSpec {
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
    pub statistic: String,
    pub unit: Option<String>,
}

/// The predefined metrics of ECS services. `ALBRequestCountPerTarget` needs the resource label
/// `app/LB-NAME/LB-ID/targetgroup/TG-NAME/TG-ID` of the target group the service is in.
pub fn predefined_metric(
    kind: &str,
    resource_label: Option<&str>,
    service: &EcsService,
) -> Result<MetricSpec, ScalingError> {
    let of_service = || {
        vec![
            ("ClusterName".to_owned(), service.cluster.clone()),
            ("ServiceName".to_owned(), service.service.clone()),
        ]
    };
    match kind {
        "ECSServiceAverageCPUUtilization" | "ECSServiceAverageMemoryUtilization" => {
            if resource_label.is_some() {
                return Err(invalid(format!(
                    "ResourceLabel is only used with the predefined metric type ALBRequestCountPerTarget, not {kind}"
                )));
            }
            let name = if kind == "ECSServiceAverageCPUUtilization" {
                "CPUUtilization"
            } else {
                "MemoryUtilization"
            };
            Ok(MetricSpec {
                namespace: "AWS/ECS".into(),
                name: name.into(),
                dimensions: of_service(),
                statistic: "Average".into(),
                unit: Some("Percent".into()),
            })
        }
        "ALBRequestCountPerTarget" => {
            let label = resource_label.ok_or_else(|| {
                invalid("ResourceLabel is required for the predefined metric type ALBRequestCountPerTarget")
            })?;
            Ok(MetricSpec {
                namespace: "AWS/ApplicationELB".into(),
                name: "RequestCountPerTarget".into(),
                dimensions: vec![("TargetGroup".to_owned(), target_group_of(label)?)],
                statistic: "Sum".into(),
                unit: None,
            })
        }
        other => Err(invalid(format!(
            "Unsupported predefined metric type {other} for service namespace ecs (ECSServiceAverageCPUUtilization, ECSServiceAverageMemoryUtilization and ALBRequestCountPerTarget are)"
        ))),
    }
}

/// The `TargetGroup` dimension value (`targetgroup/NAME/ID`) in an ALBRequestCountPerTarget
/// resource label.
fn target_group_of(label: &str) -> Result<String, ScalingError> {
    let parts: Vec<&str> = label.split('/').collect();
    match parts.as_slice() {
        ["app", lb, lb_id, "targetgroup", tg, tg_id]
            if [lb, lb_id, tg, tg_id].iter().all(|p| !p.is_empty()) =>
        {
            Ok(format!("targetgroup/{tg}/{tg_id}"))
        }
        _ => Err(invalid(format!(
            "Invalid resource label {label}: expected app/LOAD-BALANCER-NAME/ID/targetgroup/TARGET-GROUP-NAME/ID"
        ))),
    }
}

/// A customized metric: one CloudWatch metric with a statistic (metric math is not served).
pub fn customized_metric(
    namespace: Option<&str>,
    name: Option<&str>,
    dimensions: Vec<(String, String)>,
    statistic: Option<&str>,
    unit: Option<&str>,
    has_metric_queries: bool,
) -> Result<MetricSpec, ScalingError> {
    if has_metric_queries {
        return Err(invalid(
            "Berth's target tracking follows one metric: give MetricName, Namespace and Statistic (Metrics, metric math, is not supported)",
        ));
    }
    let (Some(namespace), Some(name), Some(statistic)) = (namespace, name, statistic) else {
        return Err(invalid(
            "A customized metric specification needs MetricName, Namespace and Statistic",
        ));
    };
    Ok(MetricSpec {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        dimensions,
        statistic: statistic.to_owned(),
        unit: unit.map(str::to_owned),
    })
}

/// A target tracking policy's behaviour (its metric is a [`MetricSpec`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TargetTracking {
    pub target_value: f64,
    pub scale_out_cooldown_s: i64,
    pub scale_in_cooldown_s: i64,
    pub disable_scale_in: bool,
}

fn cooldown(name: &str, seconds: Option<i32>) -> Result<i64, ScalingError> {
    match seconds {
        None => Ok(DEFAULT_COOLDOWN_S),
        Some(s) if (0..=86_400).contains(&s) => Ok(i64::from(s)),
        Some(s) => Err(invalid(format!(
            "{name} must be between 0 and 86400 seconds, not {s}"
        ))),
    }
}

pub fn target_tracking(
    target_value: Option<f64>,
    scale_out_cooldown: Option<i32>,
    scale_in_cooldown: Option<i32>,
    disable_scale_in: Option<bool>,
) -> Result<TargetTracking, ScalingError> {
    let target_value = target_value.ok_or_else(|| {
        invalid("TargetValue is required in a TargetTrackingScalingPolicyConfiguration")
    })?;
    if !(target_value.is_finite() && target_value > 0.0) {
        return Err(invalid(format!(
            "TargetValue must be a number greater than 0, not {target_value}"
        )));
    }
    Ok(TargetTracking {
        target_value,
        scale_out_cooldown_s: cooldown("ScaleOutCooldown", scale_out_cooldown)?,
        scale_in_cooldown_s: cooldown("ScaleInCooldown", scale_in_cooldown)?,
        disable_scale_in: disable_scale_in.unwrap_or(false),
    })
}

/// One of the alarms a target tracking policy creates.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackingAlarm {
    /// High (scale out) or low (scale in).
    pub high: bool,
    pub comparison: &'static str,
    pub threshold: f64,
    /// Evaluation periods and datapoints to alarm alike.
    pub datapoints: i32,
}

/// The alarms of a target tracking policy: high above the target, low below 90 % of it
/// (none with scale-in disabled).
pub fn tracking_alarms(tracking: &TargetTracking) -> Vec<TrackingAlarm> {
    let mut alarms = vec![TrackingAlarm {
        high: true,
        comparison: "GreaterThanThreshold",
        threshold: tracking.target_value,
        datapoints: HIGH_DATAPOINTS,
    }];
    if !tracking.disable_scale_in {
        alarms.push(TrackingAlarm {
            high: false,
            comparison: "LessThanThreshold",
            threshold: tracking.target_value * LOW_THRESHOLD_RATIO,
            datapoints: LOW_DATAPOINTS,
        });
    }
    alarms
}

/// `TargetTracking-service/CLUSTER/SERVICE-AlarmHigh-UUID` (or `-AlarmLow-`).
pub fn tracking_alarm_name(resource_id: &str, high: bool, id: &str) -> String {
    let kind = if high { "AlarmHigh" } else { "AlarmLow" };
    format!("TargetTracking-{resource_id}-{kind}-{id}")
}

/// The description AWS gives the alarms it manages for a target tracking policy.
pub fn tracking_alarm_description(policy_arn: &str) -> String {
    format!("DO NOT EDIT OR DELETE. For TargetTrackingScaling policy {policy_arn}.")
}

/// How a step adjustment changes capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdjustmentType {
    ChangeInCapacity,
    PercentChangeInCapacity,
    ExactCapacity,
}

/// How the datapoints the alarm evaluated are combined into the value compared with the steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    Average,
    Minimum,
    Maximum,
}

impl Aggregation {
    /// `None` without values.
    pub fn of(self, values: &[f64]) -> Option<f64> {
        if values.is_empty() {
            return None;
        }
        Some(match self {
            Aggregation::Average => values.iter().sum::<f64>() / values.len() as f64,
            Aggregation::Minimum => values.iter().copied().fold(f64::INFINITY, f64::min),
            Aggregation::Maximum => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

/// One step: bounds relative to the alarm's threshold, and its adjustment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    pub adjustment: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepPolicy {
    pub adjustment_type: AdjustmentType,
    pub steps: Vec<Step>,
    pub min_adjustment_magnitude: Option<i32>,
    pub cooldown_s: i64,
    pub aggregation: Aggregation,
}

/// Checks a StepScalingPolicyConfiguration: an adjustment type, at least one step, steps that
/// neither overlap nor leave gaps (at most one open below and one open above),
/// MinAdjustmentMagnitude only with PercentChangeInCapacity, and no negative exact capacity.
pub fn step_policy(
    adjustment_type: Option<&str>,
    mut steps: Vec<Step>,
    min_adjustment_magnitude: Option<i32>,
    cooldown_s: Option<i32>,
    aggregation: Option<&str>,
) -> Result<StepPolicy, ScalingError> {
    let adjustment_type = match adjustment_type {
        Some("ChangeInCapacity") => AdjustmentType::ChangeInCapacity,
        Some("PercentChangeInCapacity") => AdjustmentType::PercentChangeInCapacity,
        Some("ExactCapacity") => AdjustmentType::ExactCapacity,
        Some(other) => return Err(invalid(format!("Invalid adjustment type {other}"))),
        None => {
            return Err(invalid(
                "AdjustmentType is required in a StepScalingPolicyConfiguration",
            ));
        }
    };
    let aggregation = match aggregation {
        None | Some("Average") => Aggregation::Average,
        Some("Minimum") => Aggregation::Minimum,
        Some("Maximum") => Aggregation::Maximum,
        Some(other) => return Err(invalid(format!("Invalid metric aggregation type {other}"))),
    };
    if steps.is_empty() {
        return Err(invalid(
            "StepAdjustments must contain at least one step adjustment",
        ));
    }
    if let Some(magnitude) = min_adjustment_magnitude {
        if adjustment_type != AdjustmentType::PercentChangeInCapacity {
            return Err(invalid(
                "MinAdjustmentMagnitude is only supported with the adjustment type PercentChangeInCapacity",
            ));
        }
        if magnitude < 1 {
            return Err(invalid("MinAdjustmentMagnitude must be at least 1"));
        }
    }
    if adjustment_type == AdjustmentType::ExactCapacity && steps.iter().any(|s| s.adjustment < 0) {
        return Err(invalid(
            "ScalingAdjustment cannot be negative with the adjustment type ExactCapacity",
        ));
    }
    for step in &steps {
        if let (Some(lower), Some(upper)) = (step.lower, step.upper)
            && lower >= upper
        {
            return Err(invalid(format!(
                "MetricIntervalLowerBound ({lower}) must be less than MetricIntervalUpperBound ({upper})"
            )));
        }
    }
    if steps.iter().filter(|s| s.lower.is_none()).count() > 1 {
        return Err(invalid(
            "At most one step adjustment can have a null MetricIntervalLowerBound",
        ));
    }
    if steps.iter().filter(|s| s.upper.is_none()).count() > 1 {
        return Err(invalid(
            "At most one step adjustment can have a null MetricIntervalUpperBound",
        ));
    }
    steps.sort_by(|a, b| {
        a.lower
            .unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&b.lower.unwrap_or(f64::NEG_INFINITY))
    });
    for pair in steps.windows(2) {
        if pair[0].upper != pair[1].lower {
            return Err(invalid(
                "Step adjustments cannot overlap or leave a gap: each step's MetricIntervalUpperBound must be the next step's MetricIntervalLowerBound",
            ));
        }
    }
    Ok(StepPolicy {
        adjustment_type,
        steps,
        min_adjustment_magnitude,
        cooldown_s: cooldown("Cooldown", cooldown_s)?,
        aggregation,
    })
}

/// The step whose interval holds `breach` (the metric's value less the alarm's threshold).
/// Above the threshold a step's lower bound is inclusive and its upper bound exclusive; below
/// it, the other way round.
pub fn step_for(steps: &[Step], breach: f64) -> Option<&Step> {
    steps.iter().find(|step| {
        let lower = step.lower.unwrap_or(f64::NEG_INFINITY);
        let upper = step.upper.unwrap_or(f64::INFINITY);
        if breach >= 0.0 {
            lower <= breach && breach < upper
        } else {
            lower < breach && breach <= upper
        }
    })
}

/// The capacity an adjustment makes of `current`. A percentage change of more than one unit
/// is rounded toward zero, and a smaller one becomes one unit (either way); it is then at least
/// `min_magnitude` units.
pub fn adjusted(
    current: i32,
    adjustment_type: AdjustmentType,
    adjustment: i32,
    min_magnitude: Option<i32>,
) -> i32 {
    match adjustment_type {
        AdjustmentType::ChangeInCapacity => current.saturating_add(adjustment),
        AdjustmentType::ExactCapacity => adjustment,
        AdjustmentType::PercentChangeInCapacity => {
            let exact = f64::from(current) * f64::from(adjustment) / 100.0;
            let mut change = if exact > 0.0 && exact < 1.0 {
                1
            } else if exact < 0.0 && exact > -1.0 {
                -1
            } else {
                exact.trunc() as i32
            };
            if let Some(magnitude) = min_magnitude
                && adjustment != 0
                && change.abs() < magnitude
            {
                change = magnitude * adjustment.signum();
            }
            current.saturating_add(change)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web() -> EcsService {
        EcsService {
            cluster: "default".into(),
            service: "web".into(),
        }
    }

    #[test]
    fn predefined_metrics_of_an_ecs_service() {
        let cpu = predefined_metric("ECSServiceAverageCPUUtilization", None, &web()).unwrap();
        assert_eq!(
            cpu,
            MetricSpec {
                namespace: "AWS/ECS".into(),
                name: "CPUUtilization".into(),
                dimensions: vec![
                    ("ClusterName".into(), "default".into()),
                    ("ServiceName".into(), "web".into())
                ],
                statistic: "Average".into(),
                unit: Some("Percent".into()),
            }
        );
        let memory = predefined_metric("ECSServiceAverageMemoryUtilization", None, &web()).unwrap();
        assert_eq!(memory.name, "MemoryUtilization");
        let requests = predefined_metric(
            "ALBRequestCountPerTarget",
            Some("app/my-lb/0123456789abcdef/targetgroup/my-tg/fedcba9876543210"),
            &web(),
        )
        .unwrap();
        assert_eq!(requests.namespace, "AWS/ApplicationELB");
        assert_eq!(requests.statistic, "Sum");
        assert_eq!(
            requests.dimensions,
            vec![(
                "TargetGroup".to_owned(),
                "targetgroup/my-tg/fedcba9876543210".to_owned()
            )]
        );
        assert!(predefined_metric("ALBRequestCountPerTarget", None, &web()).is_err());
        assert!(predefined_metric("ALBRequestCountPerTarget", Some("app/x"), &web()).is_err());
        assert!(predefined_metric("DynamoDBReadCapacityUtilization", None, &web()).is_err());
    }

    #[test]
    fn target_tracking_defaults_and_alarms() {
        let tracking = target_tracking(Some(50.0), None, Some(10), None).unwrap();
        assert_eq!(
            tracking,
            TargetTracking {
                target_value: 50.0,
                scale_out_cooldown_s: 300,
                scale_in_cooldown_s: 10,
                disable_scale_in: false
            }
        );
        let alarms = tracking_alarms(&tracking);
        assert_eq!(
            alarms,
            vec![
                TrackingAlarm {
                    high: true,
                    comparison: "GreaterThanThreshold",
                    threshold: 50.0,
                    datapoints: 3
                },
                TrackingAlarm {
                    high: false,
                    comparison: "LessThanThreshold",
                    threshold: 45.0,
                    datapoints: 15
                },
            ]
        );
        let no_scale_in = target_tracking(Some(50.0), None, None, Some(true)).unwrap();
        assert_eq!(tracking_alarms(&no_scale_in).len(), 1);
        assert!(target_tracking(None, None, None, None).is_err());
        assert!(target_tracking(Some(0.0), None, None, None).is_err());
        assert!(target_tracking(Some(50.0), Some(-1), None, None).is_err());
        assert_eq!(
            tracking_alarm_name("service/default/web", true, "abc"),
            "TargetTracking-service/default/web-AlarmHigh-abc"
        );
    }

    fn step(lower: Option<f64>, upper: Option<f64>, adjustment: i32) -> Step {
        Step {
            lower,
            upper,
            adjustment,
        }
    }

    #[test]
    fn steps_must_tile_the_line() {
        let ok = step_policy(
            Some("ChangeInCapacity"),
            vec![step(Some(10.0), None, 3), step(Some(0.0), Some(10.0), 1)],
            None,
            Some(30),
            None,
        )
        .unwrap();
        // Sorted by lower bound.
        assert_eq!(ok.steps[0], step(Some(0.0), Some(10.0), 1));
        assert_eq!(ok.cooldown_s, 30);
        assert_eq!(ok.aggregation, Aggregation::Average);
        let gap = step_policy(
            Some("ChangeInCapacity"),
            vec![step(Some(0.0), Some(10.0), 1), step(Some(20.0), None, 3)],
            None,
            None,
            None,
        );
        assert!(gap.is_err());
        let two_open = step_policy(
            Some("ChangeInCapacity"),
            vec![step(Some(0.0), None, 1), step(Some(10.0), None, 3)],
            None,
            None,
            None,
        );
        assert!(two_open.is_err());
        assert!(step_policy(None, vec![step(None, None, 1)], None, None, None).is_err());
        assert!(step_policy(Some("ChangeInCapacity"), vec![], None, None, None).is_err());
        assert!(
            step_policy(
                Some("ChangeInCapacity"),
                vec![step(Some(0.0), None, 1)],
                Some(2),
                None,
                None
            )
            .is_err()
        );
        assert!(
            step_policy(
                Some("ExactCapacity"),
                vec![step(Some(0.0), None, -1)],
                None,
                None,
                None
            )
            .is_err()
        );
        assert!(
            step_policy(
                Some("ChangeInCapacity"),
                vec![step(Some(5.0), Some(5.0), 1)],
                None,
                None,
                None
            )
            .is_err()
        );
    }

    #[test]
    fn the_step_holding_a_breach() {
        let steps = [
            step(None, Some(-10.0), -2),
            step(Some(-10.0), Some(0.0), -1),
            step(Some(0.0), Some(10.0), 1),
            step(Some(10.0), None, 3),
        ];
        assert_eq!(step_for(&steps, 0.0).unwrap().adjustment, 1);
        assert_eq!(step_for(&steps, 9.99).unwrap().adjustment, 1);
        assert_eq!(step_for(&steps, 10.0).unwrap().adjustment, 3);
        // Below the threshold the upper bound is inclusive and the lower one exclusive.
        assert_eq!(step_for(&steps, -10.0).unwrap().adjustment, -2);
        assert_eq!(step_for(&steps, -9.5).unwrap().adjustment, -1);
        assert_eq!(step_for(&steps, -0.5).unwrap().adjustment, -1);
        assert!(step_for(&[step(Some(0.0), Some(5.0), 1)], 7.0).is_none());
    }

    #[test]
    fn adjustments() {
        use AdjustmentType::*;
        assert_eq!(adjusted(3, ChangeInCapacity, 2, None), 5);
        assert_eq!(adjusted(3, ChangeInCapacity, -5, None), -2);
        assert_eq!(adjusted(3, ExactCapacity, 7, None), 7);
        // 10 % of 3 is 0.3: one task.
        assert_eq!(adjusted(3, PercentChangeInCapacity, 10, None), 4);
        assert_eq!(adjusted(3, PercentChangeInCapacity, -10, None), 2);
        // 150 % of 5 is 7.5: 7 tasks; -33 % of 20 is -6.6: 6 fewer.
        assert_eq!(adjusted(5, PercentChangeInCapacity, 150, None), 12);
        assert_eq!(adjusted(20, PercentChangeInCapacity, -33, None), 14);
        // At least the minimum magnitude, in the adjustment's direction.
        assert_eq!(adjusted(4, PercentChangeInCapacity, 25, Some(3)), 7);
        assert_eq!(adjusted(4, PercentChangeInCapacity, -25, Some(2)), 2);
        assert_eq!(adjusted(0, PercentChangeInCapacity, 50, Some(2)), 2);
    }

    #[test]
    fn aggregations() {
        let values = [1.0, 4.0, 7.0];
        assert_eq!(Aggregation::Average.of(&values), Some(4.0));
        assert_eq!(Aggregation::Minimum.of(&values), Some(1.0));
        assert_eq!(Aggregation::Maximum.of(&values), Some(7.0));
        assert_eq!(Aggregation::Average.of(&[]), None);
    }
}
