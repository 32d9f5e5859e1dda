//! The scaling decision: given a policy, what its alarm saw, the target's capacity and bounds,
//! the policy's cooldowns and the time, the desired count to set, or why nothing changes.
//! Pure: the reconciler gathers the inputs and carries out the decision.

use serde::{Deserialize, Serialize};

use crate::policy::{StepPolicy, TargetTracking, adjusted, step_for};
use crate::target::Bounds;

/// A policy's cooldown bookkeeping, kept between decisions: when it last scaled out and in (ms
/// since the epoch), and the capacity before the scale-out that started the current scale-out
/// cooldown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cooldowns {
    pub scale_out_at_ms: Option<i64>,
    pub scale_out_from: Option<i32>,
    pub scale_in_at_ms: Option<i64>,
}

/// The scalable target as a decision sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetState {
    /// The service's desired count now.
    pub desired: i32,
    pub bounds: Bounds,
    pub scale_out_suspended: bool,
    pub scale_in_suspended: bool,
}

/// What triggered a policy: one of its alarms in ALARM, with the values the alarm evaluated
/// (its last complete periods with data, oldest first).
#[derive(Debug, Clone, Copy)]
pub enum Trigger<'a> {
    /// A target tracking alarm: `high` for the scale-out alarm.
    Tracking {
        policy: &'a TargetTracking,
        high: bool,
        values: &'a [f64],
    },
    /// An alarm acting on a step scaling policy, with its threshold.
    Step {
        policy: &'a StepPolicy,
        threshold: f64,
        values: &'a [f64],
    },
}

/// Why a triggered policy changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// The alarm's window has no datapoints to act on.
    NoData,
    /// No step adjustment covers the breach.
    NoStep,
    /// Scaling in this direction is suspended on the target, or disabled by the policy.
    Suspended,
    /// A scale-in cooldown is running.
    ScaleInCooldown,
    /// The computed capacity is where the desired count already is (or, during a scale-out
    /// cooldown, what the previous scale-out already added).
    AlreadyAtDesired,
    AlreadyAtMax,
    AlreadyAtMin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Set the desired count to `capacity`; `cooldowns` is the policy's bookkeeping after it.
    Scale {
        capacity: i32,
        cooldowns: Cooldowns,
    },
    Hold(Hold),
}

fn running(at_ms: Option<i64>, cooldown_s: i64, now_ms: i64) -> bool {
    at_ms.is_some_and(|at| now_ms < at + cooldown_s * 1000)
}

/// The decision for one trigger at `now_ms`.
///
/// Scale-out: while a policy's scale-out cooldown runs, what that scale-out added counts as
/// part of the capacity, so the new capacity is computed from the capacity before it and
/// applied only if it is larger than the desired count (a larger breach still scales out; the
/// same one does not scale twice). Scale-in waits for the policy's scale-in cooldown, and a
/// scale-out ends it. The result is always within the target's bounds.
pub fn decide(
    trigger: Trigger<'_>,
    target: TargetState,
    cooldowns: Cooldowns,
    now_ms: i64,
) -> Decision {
    let (out_cooldown_s, in_cooldown_s) = match trigger {
        Trigger::Tracking { policy, .. } => {
            (policy.scale_out_cooldown_s, policy.scale_in_cooldown_s)
        }
        Trigger::Step { policy, .. } => (policy.cooldown_s, policy.cooldown_s),
    };
    let out_cooling = running(cooldowns.scale_out_at_ms, out_cooldown_s, now_ms);
    let base_out = match cooldowns.scale_out_from {
        Some(from) if out_cooling => from,
        _ => target.desired,
    };
    // The capacity wanted from a base, and whether the trigger asks to go up.
    let wanted = |base: i32| -> Option<(i32, bool)> {
        match trigger {
            Trigger::Tracking {
                policy,
                high,
                values,
            } => {
                let value = *values.last()?;
                Some((tracking_capacity(base, value, policy.target_value), high))
            }
            Trigger::Step {
                policy,
                threshold,
                values,
            } => {
                let value = policy.aggregation.of(values)?;
                let step = step_for(&policy.steps, value - threshold)?;
                let capacity = adjusted(
                    base,
                    policy.adjustment_type,
                    step.adjustment,
                    policy.min_adjustment_magnitude,
                );
                Some((capacity, capacity > target.desired))
            }
        }
    };
    let Some((raw, up)) = wanted(target.desired) else {
        return Decision::Hold(match trigger {
            Trigger::Step { values, .. } if !values.is_empty() => Hold::NoStep,
            _ => Hold::NoData,
        });
    };
    let bounds = target.bounds;
    if up {
        if target.scale_out_suspended {
            return Decision::Hold(Hold::Suspended);
        }
        let raw = if out_cooling {
            wanted(base_out).map_or(raw, |(capacity, _)| capacity)
        } else {
            raw
        };
        let capacity = bounds.clamp(raw);
        if capacity <= target.desired {
            return Decision::Hold(if target.desired >= bounds.max {
                Hold::AlreadyAtMax
            } else {
                Hold::AlreadyAtDesired
            });
        }
        Decision::Scale {
            capacity,
            cooldowns: Cooldowns {
                scale_out_at_ms: Some(now_ms),
                scale_out_from: Some(base_out),
                scale_in_at_ms: None,
            },
        }
    } else {
        let disabled =
            matches!(trigger, Trigger::Tracking { policy, .. } if policy.disable_scale_in);
        if target.scale_in_suspended || disabled {
            return Decision::Hold(Hold::Suspended);
        }
        if running(cooldowns.scale_in_at_ms, in_cooldown_s, now_ms) {
            return Decision::Hold(Hold::ScaleInCooldown);
        }
        let capacity = bounds.clamp(raw);
        if capacity >= target.desired {
            return Decision::Hold(if target.desired <= bounds.min {
                Hold::AlreadyAtMin
            } else {
                Hold::AlreadyAtDesired
            });
        }
        Decision::Scale {
            capacity,
            cooldowns: Cooldowns {
                scale_in_at_ms: Some(now_ms),
                ..cooldowns
            },
        }
    }
}

/// Target tracking's proportional capacity: the capacity that would bring the metric to the
/// target if load spread evenly, rounded up (scaling out fully, scaling in conservatively). With
/// no capacity at all, one unit.
pub fn tracking_capacity(current: i32, value: f64, target_value: f64) -> i32 {
    if current <= 0 {
        return if value > 0.0 { 1 } else { 0 };
    }
    let exact = f64::from(current) * value / target_value;
    // A hair of tolerance keeps 3 × 50 / 50 at 3 rather than 4 through float error.
    (exact - 1e-9).ceil().clamp(0.0, f64::from(i32::MAX)) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{AdjustmentType, Aggregation, Step};

    const NOW: i64 = 1_800_000_000_000;

    fn tracking(target: f64) -> TargetTracking {
        TargetTracking {
            target_value: target,
            scale_out_cooldown_s: 60,
            scale_in_cooldown_s: 120,
            disable_scale_in: false,
        }
    }

    fn state(desired: i32, min: i32, max: i32) -> TargetState {
        TargetState {
            desired,
            bounds: Bounds { min, max },
            scale_out_suspended: false,
            scale_in_suspended: false,
        }
    }

    #[test]
    fn tracking_scales_out_in_proportion_within_max() {
        let policy = tracking(50.0);
        let high = |values| Trigger::Tracking {
            policy: &policy,
            high: true,
            values,
        };
        // Two tasks at 120 %: 2 × 120 / 50 = 4.8 → 5.
        assert_eq!(
            decide(
                high(&[90.0, 120.0]),
                state(2, 1, 10),
                Cooldowns::default(),
                NOW
            ),
            Decision::Scale {
                capacity: 5,
                cooldowns: Cooldowns {
                    scale_out_at_ms: Some(NOW),
                    scale_out_from: Some(2),
                    scale_in_at_ms: None
                }
            }
        );
        // Never above max.
        assert!(matches!(
            decide(high(&[400.0]), state(2, 1, 3), Cooldowns::default(), NOW),
            Decision::Scale { capacity: 3, .. }
        ));
        assert_eq!(
            decide(high(&[400.0]), state(3, 1, 3), Cooldowns::default(), NOW),
            Decision::Hold(Hold::AlreadyAtMax)
        );
        assert_eq!(
            decide(high(&[]), state(3, 1, 3), Cooldowns::default(), NOW),
            Decision::Hold(Hold::NoData)
        );
    }

    #[test]
    fn during_a_scale_out_cooldown_what_was_added_counts() {
        let policy = tracking(50.0);
        let trigger = |values| Trigger::Tracking {
            policy: &policy,
            high: true,
            values,
        };
        let after_first = Cooldowns {
            scale_out_at_ms: Some(NOW - 10_000),
            scale_out_from: Some(1),
            scale_in_at_ms: None,
        };
        // 1 → 2 happened 10 s ago at 100 %; the metric still says 100 %: 1 × 100 / 50 = 2, done.
        assert_eq!(
            decide(trigger(&[100.0]), state(2, 1, 10), after_first, NOW),
            Decision::Hold(Hold::AlreadyAtDesired)
        );
        // A larger breach still scales out, from the capacity before the cooldown.
        assert_eq!(
            decide(trigger(&[200.0]), state(2, 1, 10), after_first, NOW),
            Decision::Scale {
                capacity: 4,
                cooldowns: Cooldowns {
                    scale_out_at_ms: Some(NOW),
                    scale_out_from: Some(1),
                    scale_in_at_ms: None
                }
            }
        );
        // Once the cooldown (60 s) is over, the desired count is the base again.
        assert!(matches!(
            decide(
                trigger(&[100.0]),
                state(2, 1, 10),
                after_first,
                NOW + 50_000
            ),
            Decision::Scale { capacity: 4, .. }
        ));
    }

    #[test]
    fn tracking_scales_in_after_its_cooldown_never_below_min() {
        let policy = tracking(50.0);
        let low = |values| Trigger::Tracking {
            policy: &policy,
            high: false,
            values,
        };
        // Four tasks at 20 %: 4 × 20 / 50 = 1.6 → 2.
        assert_eq!(
            decide(low(&[20.0]), state(4, 1, 10), Cooldowns::default(), NOW),
            Decision::Scale {
                capacity: 2,
                cooldowns: Cooldowns {
                    scale_out_at_ms: None,
                    scale_out_from: None,
                    scale_in_at_ms: Some(NOW)
                }
            }
        );
        assert!(matches!(
            decide(low(&[0.0]), state(4, 2, 10), Cooldowns::default(), NOW),
            Decision::Scale { capacity: 2, .. }
        ));
        assert_eq!(
            decide(low(&[0.0]), state(2, 2, 10), Cooldowns::default(), NOW),
            Decision::Hold(Hold::AlreadyAtMin)
        );
        let scaled_in = Cooldowns {
            scale_in_at_ms: Some(NOW - 60_000),
            ..Cooldowns::default()
        };
        assert_eq!(
            decide(low(&[0.0]), state(4, 1, 10), scaled_in, NOW),
            Decision::Hold(Hold::ScaleInCooldown)
        );
        assert!(matches!(
            decide(low(&[0.0]), state(4, 1, 10), scaled_in, NOW + 60_000),
            Decision::Scale { capacity: 1, .. }
        ));
        // Three tasks at 40 % (below the low alarm's 45): 3 × 40 / 50 = 2.4 → 3, no change.
        assert_eq!(
            decide(low(&[40.0]), state(3, 1, 10), Cooldowns::default(), NOW),
            Decision::Hold(Hold::AlreadyAtDesired)
        );
    }

    #[test]
    fn disabled_or_suspended_scaling_holds() {
        let mut policy = tracking(50.0);
        policy.disable_scale_in = true;
        let low = Trigger::Tracking {
            policy: &policy,
            high: false,
            values: &[0.0],
        };
        assert_eq!(
            decide(low, state(4, 1, 10), Cooldowns::default(), NOW),
            Decision::Hold(Hold::Suspended)
        );
        let policy = tracking(50.0);
        let high = Trigger::Tracking {
            policy: &policy,
            high: true,
            values: &[100.0],
        };
        let mut suspended = state(1, 1, 10);
        suspended.scale_out_suspended = true;
        assert_eq!(
            decide(high, suspended, Cooldowns::default(), NOW),
            Decision::Hold(Hold::Suspended)
        );
    }

    fn steps_policy() -> StepPolicy {
        StepPolicy {
            adjustment_type: AdjustmentType::ChangeInCapacity,
            steps: vec![
                Step {
                    lower: Some(0.0),
                    upper: Some(20.0),
                    adjustment: 1,
                },
                Step {
                    lower: Some(20.0),
                    upper: None,
                    adjustment: 3,
                },
            ],
            min_adjustment_magnitude: None,
            cooldown_s: 30,
            aggregation: Aggregation::Average,
        }
    }

    #[test]
    fn step_scaling_by_the_breach_with_cooldown() {
        let policy = steps_policy();
        let step = |values| Trigger::Step {
            policy: &policy,
            threshold: 50.0,
            values,
        };
        // Average 60: 10 above the threshold, +1.
        assert_eq!(
            decide(
                step(&[55.0, 65.0]),
                state(2, 1, 10),
                Cooldowns::default(),
                NOW
            ),
            Decision::Scale {
                capacity: 3,
                cooldowns: Cooldowns {
                    scale_out_at_ms: Some(NOW),
                    scale_out_from: Some(2),
                    scale_in_at_ms: None
                }
            }
        );
        // During the cooldown the same breach adds nothing more; a larger one adds the
        // difference (+3 from 2 = 5).
        let cooling = Cooldowns {
            scale_out_at_ms: Some(NOW - 5_000),
            scale_out_from: Some(2),
            scale_in_at_ms: None,
        };
        assert_eq!(
            decide(step(&[60.0]), state(3, 1, 10), cooling, NOW),
            Decision::Hold(Hold::AlreadyAtDesired)
        );
        assert!(matches!(
            decide(step(&[90.0]), state(3, 1, 10), cooling, NOW),
            Decision::Scale { capacity: 5, .. }
        ));
        // Below every step.
        assert_eq!(
            decide(step(&[40.0]), state(3, 1, 10), Cooldowns::default(), NOW),
            Decision::Hold(Hold::NoStep)
        );
    }

    #[test]
    fn step_scale_in_and_exact_capacity() {
        let policy = StepPolicy {
            adjustment_type: AdjustmentType::PercentChangeInCapacity,
            steps: vec![Step {
                lower: None,
                upper: Some(0.0),
                adjustment: -50,
            }],
            min_adjustment_magnitude: None,
            cooldown_s: 30,
            aggregation: Aggregation::Maximum,
        };
        let trigger = Trigger::Step {
            policy: &policy,
            threshold: 10.0,
            values: &[2.0, 4.0],
        };
        assert!(matches!(
            decide(trigger, state(6, 1, 10), Cooldowns::default(), NOW),
            Decision::Scale { capacity: 3, .. }
        ));
        let cooling = Cooldowns {
            scale_in_at_ms: Some(NOW - 1_000),
            ..Cooldowns::default()
        };
        assert_eq!(
            decide(trigger, state(6, 1, 10), cooling, NOW),
            Decision::Hold(Hold::ScaleInCooldown)
        );
        let exact = StepPolicy {
            adjustment_type: AdjustmentType::ExactCapacity,
            steps: vec![Step {
                lower: Some(0.0),
                upper: None,
                adjustment: 7,
            }],
            ..policy
        };
        let trigger = Trigger::Step {
            policy: &exact,
            threshold: 10.0,
            values: &[12.0],
        };
        assert!(matches!(
            decide(trigger, state(2, 1, 5), Cooldowns::default(), NOW),
            Decision::Scale { capacity: 5, .. }
        ));
    }

    #[test]
    fn proportional_capacity() {
        assert_eq!(tracking_capacity(3, 50.0, 50.0), 3);
        assert_eq!(tracking_capacity(1, 100.0, 50.0), 2);
        assert_eq!(tracking_capacity(1, 101.0, 50.0), 3);
        assert_eq!(tracking_capacity(4, 0.0, 50.0), 0);
        assert_eq!(tracking_capacity(0, 10.0, 50.0), 1);
    }
}
