//! The API's policy configurations read into the pure crate's terms.

use berth_autoscaling::ScalingError;
use berth_autoscaling::policy::{self, MetricSpec, Step, StepPolicy, TargetTracking};
use berth_autoscaling::target::EcsService;
use berth_autoscaling_wire as wire;

/// A target tracking configuration: its behaviour and the metric it follows.
pub(crate) fn tracking(
    config: &wire::TargetTrackingScalingPolicyConfiguration,
    service: &EcsService,
) -> Result<(TargetTracking, MetricSpec), ScalingError> {
    let tracking = policy::target_tracking(
        config.target_value,
        config.scale_out_cooldown,
        config.scale_in_cooldown,
        config.disable_scale_in,
    )?;
    let metric = match (
        &config.predefined_metric_specification,
        &config.customized_metric_specification,
    ) {
        (Some(predefined), None) => policy::predefined_metric(
            predefined
                .predefined_metric_type
                .as_deref()
                .unwrap_or_default(),
            predefined.resource_label.as_deref(),
            service,
        )?,
        (None, Some(customized)) => policy::customized_metric(
            customized.namespace.as_deref(),
            customized.metric_name.as_deref(),
            customized
                .dimensions
                .iter()
                .flatten()
                .map(|d| {
                    (
                        d.name.clone().unwrap_or_default(),
                        d.value.clone().unwrap_or_default(),
                    )
                })
                .collect(),
            customized.statistic.as_deref(),
            customized.unit.as_deref(),
            customized.metrics.as_ref().is_some_and(|m| !m.is_empty()),
        )?,
        _ => {
            return Err(ScalingError::Validation(
                "Exactly one of PredefinedMetricSpecification and CustomizedMetricSpecification must be specified".into(),
            ));
        }
    };
    Ok((tracking, metric))
}

/// A step scaling configuration.
pub(crate) fn step(
    config: &wire::StepScalingPolicyConfiguration,
) -> Result<StepPolicy, ScalingError> {
    let steps = config
        .step_adjustments
        .iter()
        .flatten()
        .map(|s| Step {
            lower: s.metric_interval_lower_bound,
            upper: s.metric_interval_upper_bound,
            adjustment: s.scaling_adjustment.unwrap_or_default(),
        })
        .collect();
    policy::step_policy(
        config.adjustment_type.as_deref(),
        steps,
        config.min_adjustment_magnitude,
        config.cooldown,
        config.metric_aggregation_type.as_deref(),
    )
}
