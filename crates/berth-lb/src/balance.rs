//! The balancing decisions, pure: which targets may get a request (healthy active ones, or every
//! active one when none is healthy: ALB's fail-open), which of them by the target group's
//! algorithm with slow start, and which target group of a weighted forward. Randomness and time
//! come in as arguments so that every decision can be replayed in a test.

use std::time::{Duration, Instant};

use crate::config::Algorithm;

/// One registered target as the balancer sees it at the moment of a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TargetView {
    /// Not draining.
    pub active: bool,
    pub healthy: bool,
    pub outstanding: u32,
    /// Slow-start weight in 0..=1 (1 when slow start is off or over).
    pub weight: f64,
}

/// Indices of the targets that may get a new request: the healthy active ones, or, when no
/// active target is healthy, all active ones (ALB fails open rather than refusing traffic).
/// Draining targets never get new requests. Written into `into`, which is cleared first (the
/// request path reuses one per thread rather than allocate per request).
pub fn eligible(targets: &[TargetView], into: &mut Vec<usize>) {
    into.clear();
    into.extend((0..targets.len()).filter(|&i| targets[i].active && targets[i].healthy));
    if into.is_empty() {
        into.extend((0..targets.len()).filter(|&i| targets[i].active));
    }
}

/// Picks one of `candidates` (indices into `targets`).
///
/// Round robin starts at `cursor` (a counter the caller advances per request) and takes the
/// first candidate its slow-start weight admits (`roll` < weight, `roll` uniform in 0..1);
/// least outstanding requests takes the lowest (outstanding + 1) / weight, ties broken from
/// `cursor` so that equally idle targets share the load.
pub fn pick(
    algorithm: Algorithm,
    targets: &[TargetView],
    candidates: &[usize],
    cursor: u64,
    roll: f64,
) -> Option<usize> {
    if candidates.is_empty() {
        return None;
    }
    let n = candidates.len();
    let start = (cursor % n as u64) as usize;
    let rotated = (0..n).map(|k| candidates[(start + k) % n]);
    match algorithm {
        Algorithm::RoundRobin => Some(
            rotated
                .clone()
                .find(|&i| roll < targets[i].weight)
                // Every candidate is early in slow start: someone must still take the request.
                .unwrap_or(candidates[start]),
        ),
        Algorithm::LeastOutstandingRequests => {
            let score = |i: usize| {
                let target = &targets[i];
                (f64::from(target.outstanding) + 1.0) / target.weight.max(MIN_WEIGHT)
            };
            let mut best: Option<(usize, f64)> = None;
            for i in rotated {
                let s = score(i);
                if best.is_none_or(|(_, b)| s < b) {
                    best = Some((i, s));
                }
            }
            best.map(|(i, _)| i)
        }
    }
}

/// The least a slow-starting target weighs for least outstanding requests, so that its score
/// stays finite at the very start of the ramp.
const MIN_WEIGHT: f64 = 0.01;

/// A target's share during slow start: it grows linearly from 0 when the target became healthy
/// to 1 after `slow_start`. Targets that have been healthy since before slow start was
/// configured, or without slow start, weigh 1.
pub fn slow_start_weight(
    healthy_since: Option<Instant>,
    now: Instant,
    slow_start: Option<Duration>,
) -> f64 {
    match (healthy_since, slow_start) {
        (Some(since), Some(duration)) if !duration.is_zero() => {
            let elapsed = now.saturating_duration_since(since);
            (elapsed.as_secs_f64() / duration.as_secs_f64()).min(1.0)
        }
        _ => 1.0,
    }
}

/// Picks the index of a weighted target group; `roll` is any random number. `None` when every
/// weight is 0.
pub fn pick_weighted(weights: &[u32], roll: u64) -> Option<usize> {
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    if total == 0 {
        return None;
    }
    let mut point = roll % total;
    for (i, &weight) in weights.iter().enumerate() {
        let weight = u64::from(weight);
        if point < weight {
            return Some(i);
        }
        point -= weight;
    }
    unreachable!("point < total")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eligible_of(targets: &[TargetView]) -> Vec<usize> {
        // Stale contents of a reused buffer must not survive.
        let mut into = vec![7, 8, 9];
        eligible(targets, &mut into);
        into
    }

    fn target(active: bool, healthy: bool) -> TargetView {
        TargetView {
            active,
            healthy,
            outstanding: 0,
            weight: 1.0,
        }
    }

    #[test]
    fn only_healthy_active_targets_are_eligible() {
        let targets = [target(true, true), target(true, false), target(false, true)];
        assert_eq!(eligible_of(&targets), vec![0]);
    }

    #[test]
    fn no_healthy_target_fails_open_to_every_active_one() {
        let targets = [
            target(true, false),
            target(false, false),
            target(true, false),
        ];
        assert_eq!(eligible_of(&targets), vec![0, 2]);
        let only_draining = [target(false, true)];
        assert_eq!(eligible_of(&only_draining), Vec::<usize>::new());
    }

    #[test]
    fn round_robin_rotates_through_candidates() {
        let targets = [target(true, true); 3];
        let candidates = [0, 1, 2];
        let picks: Vec<usize> = (0..6)
            .map(|cursor| pick(Algorithm::RoundRobin, &targets, &candidates, cursor, 0.5).unwrap())
            .collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(pick(Algorithm::RoundRobin, &targets, &[], 0, 0.0), None);
    }

    #[test]
    fn round_robin_skips_a_slow_starting_target_by_its_weight() {
        let mut targets = [target(true, true); 2];
        targets[1].weight = 0.25;
        let candidates = [0, 1];
        // Cursor 1 points at the ramping target: admitted only when roll < 0.25.
        assert_eq!(
            pick(Algorithm::RoundRobin, &targets, &candidates, 1, 0.1),
            Some(1)
        );
        assert_eq!(
            pick(Algorithm::RoundRobin, &targets, &candidates, 1, 0.3),
            Some(0)
        );
        // All candidates ramping and rejected: the cursor's target still gets it.
        let ramping = [TargetView {
            weight: 0.0,
            ..target(true, true)
        }; 2];
        assert_eq!(
            pick(Algorithm::RoundRobin, &ramping, &candidates, 1, 0.9),
            Some(1)
        );
    }

    #[test]
    fn least_outstanding_prefers_the_idle_target() {
        let mut targets = [target(true, true); 3];
        targets[0].outstanding = 4;
        targets[1].outstanding = 1;
        targets[2].outstanding = 2;
        for cursor in 0..3 {
            assert_eq!(
                pick(
                    Algorithm::LeastOutstandingRequests,
                    &targets,
                    &[0, 1, 2],
                    cursor,
                    0.0
                ),
                Some(1)
            );
        }
        // Ties are broken from the cursor.
        let idle = [target(true, true); 2];
        assert_eq!(
            pick(Algorithm::LeastOutstandingRequests, &idle, &[0, 1], 0, 0.0),
            Some(0)
        );
        assert_eq!(
            pick(Algorithm::LeastOutstandingRequests, &idle, &[0, 1], 1, 0.0),
            Some(1)
        );
    }

    #[test]
    fn least_outstanding_weighs_slow_start() {
        let mut targets = [target(true, true); 2];
        targets[0].outstanding = 1; // score 2
        targets[1].weight = 0.25; // score 4
        assert_eq!(
            pick(
                Algorithm::LeastOutstandingRequests,
                &targets,
                &[0, 1],
                1,
                0.0
            ),
            Some(0)
        );
    }

    #[test]
    fn slow_start_ramps_linearly() {
        let start = Instant::now();
        let ramp = Some(Duration::from_secs(100));
        assert_eq!(slow_start_weight(Some(start), start, ramp), 0.0);
        assert_eq!(
            slow_start_weight(Some(start), start + Duration::from_secs(25), ramp),
            0.25
        );
        assert_eq!(
            slow_start_weight(Some(start), start + Duration::from_secs(500), ramp),
            1.0
        );
        assert_eq!(slow_start_weight(Some(start), start, None), 1.0);
        assert_eq!(slow_start_weight(None, start, ramp), 1.0);
        assert_eq!(
            slow_start_weight(Some(start), start, Some(Duration::ZERO)),
            1.0
        );
    }

    #[test]
    fn weighted_choice_follows_weights_exactly_over_a_full_cycle() {
        let weights = [1, 0, 3];
        let mut counts = [0; 3];
        for roll in 0..400u64 {
            counts[pick_weighted(&weights, roll).unwrap()] += 1;
        }
        assert_eq!(counts, [100, 0, 300]);
        assert_eq!(pick_weighted(&[0, 0], 7), None);
        assert_eq!(pick_weighted(&[], 7), None);
    }
}
