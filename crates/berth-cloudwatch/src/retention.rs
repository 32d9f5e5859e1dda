//! CloudWatch's retention tiers: data points with a period below 60 seconds are kept 3 hours,
//! 60-second ones 15 days, 5-minute ones 63 days and 1-hour ones 455 days; finer data is
//! aggregated into the next tier as it ages out ([`folds`], [`fold`]). A query answers an old
//! range only at the resolution kept for it: when the start time is more than 3 hours ago the
//! period must be a multiple of 60 seconds, more than 15 days ago of 300, more than 63 days
//! ago of 3600, or the range has no datapoints ([`answers`]) — not an error, as on CloudWatch.

use crate::stats::{Aggregate, Datapoint};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// One tier: datapoints of this resolution (seconds) are kept this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    pub resolution: u32,
    pub kept_ms: i64,
}

/// Finest first. High-resolution data is stored at 1 second whatever period it was published
/// at (below a minute), so it is the first tier.
pub const TIERS: [Tier; 4] = [
    Tier {
        resolution: 1,
        kept_ms: 3 * HOUR_MS,
    },
    Tier {
        resolution: 60,
        kept_ms: 15 * DAY_MS,
    },
    Tier {
        resolution: 300,
        kept_ms: 63 * DAY_MS,
    },
    Tier {
        resolution: 3600,
        kept_ms: 455 * DAY_MS,
    },
];

/// The resolution (seconds) data is kept at when it is `age_ms` old: a query whose start time
/// is that old must ask for a multiple of it.
pub fn resolution_at_age(age_ms: i64) -> u32 {
    TIERS
        .windows(2)
        .rev()
        .find(|pair| age_ms > pair[0].kept_ms)
        .map_or(TIERS[0].resolution, |pair| pair[1].resolution)
}

/// Whether a query of `period` seconds starting at `start_ms` has datapoints at `now_ms`:
/// CloudWatch answers a range whose start is older than a tier's retention only with periods
/// that are multiples of the resolution kept for it, and with no datapoints otherwise.
pub fn answers(period: i64, start_ms: i64, now_ms: i64) -> bool {
    period % i64::from(resolution_at_age(now_ms - start_ms)) == 0
}

/// Datapoints of resolution `from` older than `before_ms` become datapoints of resolution `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fold {
    pub from: u32,
    pub to: u32,
    /// A boundary of `to`'s periods, so only whole periods fold: a period's datapoints are
    /// never split between a folded datapoint and finer ones left behind.
    pub before_ms: i64,
}

/// What a sweep at `now_ms` folds, finest tier first (so data that aged through several tiers
/// while nothing swept folds all the way in one sweep).
pub fn folds(now_ms: i64) -> Vec<Fold> {
    TIERS
        .windows(2)
        .map(|pair| {
            let step = i64::from(pair[1].resolution) * 1000;
            Fold {
                from: pair[0].resolution,
                to: pair[1].resolution,
                before_ms: (now_ms - pair[0].kept_ms).div_euclid(step) * step,
            }
        })
        .collect()
}

/// Datapoints of the last tier older than this expire at `now_ms`.
pub fn expires_before(now_ms: i64) -> i64 {
    now_ms - TIERS[TIERS.len() - 1].kept_ms
}

/// The period of `resolution` seconds a datapoint at `timestamp_ms` folds into (its start).
pub fn period_of(timestamp_ms: i64, resolution: u32) -> i64 {
    let step = i64::from(resolution) * 1000;
    timestamp_ms.div_euclid(step) * step
}

/// One datapoint of `resolution` at `timestamp_ms` standing for `points` (the finer datapoints
/// of that period): their statistic sets added, and their values kept for percentiles when
/// every one carried values (equal values merged, their counts added, so a steady metric does
/// not grow its values as it ages). `None` without points.
pub fn fold(points: &[Datapoint], timestamp_ms: i64, resolution: u32) -> Option<Datapoint> {
    let aggregate = Aggregate::of(points)?;
    let mut values: Vec<(f64, f64)> = Vec::new();
    if points.iter().all(|p| !p.values.is_empty()) {
        let mut all: Vec<(f64, f64)> = points.iter().flat_map(|p| p.values.clone()).collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (value, count) in all {
            match values.last_mut() {
                Some(last) if last.0 == value => last.1 += count,
                _ => values.push((value, count)),
            }
        }
    }
    Some(Datapoint {
        timestamp_ms,
        resolution,
        sample_count: aggregate.sample_count,
        sum: aggregate.sum,
        minimum: aggregate.minimum,
        maximum: aggregate.maximum,
        values,
        unit: aggregate.unit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Statistic;

    /// 2027-01-15T00:00:00Z.
    const NOW: i64 = 1_800_000_000_000 - 1_800_000_000_000 % DAY_MS;
    const MINUTE_MS: i64 = 60_000;

    #[test]
    fn a_start_older_than_a_tier_needs_its_resolution() {
        assert_eq!(resolution_at_age(0), 1);
        assert_eq!(resolution_at_age(3 * HOUR_MS), 1);
        assert_eq!(resolution_at_age(3 * HOUR_MS + 1), 60);
        assert_eq!(resolution_at_age(15 * DAY_MS), 60);
        assert_eq!(resolution_at_age(15 * DAY_MS + 1), 300);
        assert_eq!(resolution_at_age(63 * DAY_MS), 300);
        assert_eq!(resolution_at_age(63 * DAY_MS + 1), 3600);
        // Older than everything kept: still hours (the range is simply empty).
        assert_eq!(resolution_at_age(500 * DAY_MS), 3600);
        // A start in the future is the youngest data.
        assert_eq!(resolution_at_age(-HOUR_MS), 1);

        // One hour ago: any period.
        assert!(answers(1, NOW - HOUR_MS, NOW));
        assert!(answers(30, NOW - HOUR_MS, NOW));
        // Four hours ago: minutes.
        assert!(!answers(10, NOW - 4 * HOUR_MS, NOW));
        assert!(answers(60, NOW - 4 * HOUR_MS, NOW));
        assert!(answers(120, NOW - 4 * HOUR_MS, NOW));
        // Twenty days ago: five minutes.
        assert!(!answers(60, NOW - 20 * DAY_MS, NOW));
        assert!(!answers(120, NOW - 20 * DAY_MS, NOW));
        assert!(answers(300, NOW - 20 * DAY_MS, NOW));
        assert!(answers(900, NOW - 20 * DAY_MS, NOW));
        // A hundred days ago: hours.
        assert!(!answers(300, NOW - 100 * DAY_MS, NOW));
        assert!(!answers(1800, NOW - 100 * DAY_MS, NOW));
        assert!(answers(3600, NOW - 100 * DAY_MS, NOW));
        assert!(answers(86_400, NOW - 100 * DAY_MS, NOW));
    }

    #[test]
    fn folds_take_whole_periods_of_each_tier_into_the_next() {
        // 00:00:30 past a round hour: the cut of each fold is its target's period boundary.
        let now = NOW + 30_000;
        assert_eq!(
            folds(now),
            vec![
                Fold {
                    from: 1,
                    to: 60,
                    before_ms: NOW - 3 * HOUR_MS
                },
                Fold {
                    from: 60,
                    to: 300,
                    before_ms: NOW - 15 * DAY_MS
                },
                Fold {
                    from: 300,
                    to: 3600,
                    before_ms: NOW - 63 * DAY_MS
                },
            ]
        );
        // Four minutes past the hour: minutes fold up to the fourth, five-minute periods up
        // to the hour, hours up to the hour.
        let now = NOW + 4 * MINUTE_MS + 10_000;
        let cuts: Vec<i64> = folds(now).iter().map(|f| f.before_ms).collect();
        assert_eq!(
            cuts,
            vec![
                NOW - 3 * HOUR_MS + 4 * MINUTE_MS,
                NOW - 15 * DAY_MS,
                NOW - 63 * DAY_MS
            ]
        );
        assert_eq!(expires_before(now), now - 455 * DAY_MS);
        assert_eq!(period_of(NOW + 299_999, 300), NOW);
        assert_eq!(period_of(NOW + 300_000, 300), NOW + 300_000);
        assert_eq!(period_of(NOW - 1, 3600), NOW - HOUR_MS);
    }

    #[test]
    fn a_fold_adds_statistic_sets_and_keeps_values_for_percentiles() {
        let at = NOW - 20 * DAY_MS;
        let minutes = [
            Datapoint::of_values(at, 60, vec![(1.0, 1.0), (5.0, 2.0)], Some("Count".into())),
            Datapoint::of_values(at + MINUTE_MS, 60, vec![(5.0, 1.0)], Some("Count".into())),
            Datapoint::of_values(
                at + 4 * MINUTE_MS,
                60,
                vec![(9.0, 1.0)],
                Some("Count".into()),
            ),
        ];
        let folded = fold(&minutes, at, 300).unwrap();
        assert_eq!(folded.timestamp_ms, at);
        assert_eq!(folded.resolution, 300);
        assert_eq!(
            (
                folded.sample_count,
                folded.sum,
                folded.minimum,
                folded.maximum
            ),
            (5.0, 25.0, 1.0, 9.0)
        );
        assert_eq!(folded.values, vec![(1.0, 1.0), (5.0, 3.0), (9.0, 1.0)]);
        assert_eq!(folded.unit.as_deref(), Some("Count"));
        // The folded datapoint answers as the minutes did, percentiles included.
        let before = Aggregate::of(&minutes).unwrap();
        let after = Aggregate::of([&folded]).unwrap();
        for statistic in [
            Statistic::SampleCount,
            Statistic::Sum,
            Statistic::Average,
            Statistic::Minimum,
            Statistic::Maximum,
            Statistic::Percentile(50.0),
            Statistic::Percentile(90.0),
        ] {
            assert_eq!(
                after.statistic(&statistic),
                before.statistic(&statistic),
                "{statistic:?}"
            );
        }
        // A statistic set among them: the sums stay, the percentiles go (as they were).
        let with_set = [
            minutes[0].clone(),
            Datapoint::of_statistics(at + MINUTE_MS, 60, (4.0, 8.0, 1.0, 3.0), None),
        ];
        let folded = fold(&with_set, at, 300).unwrap();
        assert_eq!((folded.sample_count, folded.sum), (7.0, 19.0));
        assert!(folded.values.is_empty());
        assert_eq!(folded.unit, None);
        assert_eq!(
            Aggregate::of([&folded])
                .unwrap()
                .statistic(&Statistic::Percentile(50.0)),
            None
        );
        assert_eq!(fold(&[], at, 300), None);
    }
}
