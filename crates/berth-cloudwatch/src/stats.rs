//! Datapoints and the statistics of a period: what PutMetricData stores (a statistic set and,
//! when the client sent values, the values with their counts, which percentiles need), how a
//! period's datapoints combine, the statistics CloudWatch names, and the rules on periods and
//! time windows GetMetricStatistics and GetMetricData apply.

use std::time::Duration;

use crate::CloudWatchError;

/// One stored datapoint of a metric: its time, resolution, the statistic set and the values.
#[derive(Debug, Clone, PartialEq)]
pub struct Datapoint {
    pub timestamp_ms: i64,
    /// 1 (high resolution) or 60 seconds, as PutMetricData's StorageResolution says.
    pub resolution: u32,
    pub sample_count: f64,
    pub sum: f64,
    pub minimum: f64,
    pub maximum: f64,
    /// (value, count) pairs; empty for datapoints sent as a StatisticSet, which percentiles
    /// cannot use (as on CloudWatch).
    pub values: Vec<(f64, f64)>,
    pub unit: Option<String>,
}

/// The storage resolution of datapoints published every `period`: 1 second (high resolution)
/// below a minute, else 60, the two PutMetricData's StorageResolution allows.
pub fn resolution_for(period: Duration) -> u32 {
    if period < Duration::from_secs(60) {
        1
    } else {
        60
    }
}

impl Datapoint {
    /// A datapoint sent as a statistic set (no values, so no percentiles).
    pub fn of_statistics(
        timestamp_ms: i64,
        resolution: u32,
        (sample_count, sum, minimum, maximum): (f64, f64, f64, f64),
        unit: Option<String>,
    ) -> Datapoint {
        Datapoint {
            timestamp_ms,
            resolution,
            sample_count,
            sum,
            minimum,
            maximum,
            values: Vec::new(),
            unit,
        }
    }

    /// A datapoint of values with their counts (each count 1 when the client sent none).
    pub fn of_values(
        timestamp_ms: i64,
        resolution: u32,
        values: Vec<(f64, f64)>,
        unit: Option<String>,
    ) -> Datapoint {
        let mut point = Datapoint {
            timestamp_ms,
            resolution,
            sample_count: 0.0,
            sum: 0.0,
            minimum: f64::INFINITY,
            maximum: f64::NEG_INFINITY,
            values: Vec::new(),
            unit,
        };
        for (value, count) in values {
            point.sample_count += count;
            point.sum += value * count;
            point.minimum = point.minimum.min(value);
            point.maximum = point.maximum.max(value);
            point.values.push((value, count));
        }
        point
    }
}

/// The statistics of one period, from the datapoints that fall in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub sample_count: f64,
    pub sum: f64,
    pub minimum: f64,
    pub maximum: f64,
    /// Sorted by value.
    values: Vec<(f64, f64)>,
    /// Every datapoint carried its values, so percentiles are known.
    values_complete: bool,
    pub unit: Option<String>,
}

impl Aggregate {
    pub fn of<'a>(points: impl IntoIterator<Item = &'a Datapoint>) -> Option<Aggregate> {
        let mut aggregate: Option<Aggregate> = None;
        for point in points {
            let a = aggregate.get_or_insert_with(|| Aggregate {
                sample_count: 0.0,
                sum: 0.0,
                minimum: f64::INFINITY,
                maximum: f64::NEG_INFINITY,
                values: Vec::new(),
                values_complete: true,
                unit: point.unit.clone(),
            });
            a.sample_count += point.sample_count;
            a.sum += point.sum;
            a.minimum = a.minimum.min(point.minimum);
            a.maximum = a.maximum.max(point.maximum);
            a.values_complete &= !point.values.is_empty();
            a.values.extend_from_slice(&point.values);
            if a.unit != point.unit {
                a.unit = None;
            }
        }
        let mut aggregate = aggregate?;
        aggregate.values.sort_by(|x, y| x.0.total_cmp(&y.0));
        Some(aggregate)
    }

    /// The statistic's value; `None` for a percentile of datapoints sent without values.
    pub fn statistic(&self, statistic: &Statistic) -> Option<f64> {
        match statistic {
            Statistic::SampleCount => Some(self.sample_count),
            Statistic::Sum => Some(self.sum),
            Statistic::Average => Some(self.sum / self.sample_count),
            Statistic::Minimum => Some(self.minimum),
            Statistic::Maximum => Some(self.maximum),
            Statistic::Percentile(p) => self.percentile(*p),
        }
    }

    /// Nearest rank over the weighted values: the smallest value at or below which at least
    /// p % of the samples lie.
    fn percentile(&self, p: f64) -> Option<f64> {
        if !self.values_complete || self.values.is_empty() {
            return None;
        }
        let total: f64 = self.values.iter().map(|v| v.1).sum();
        let rank = (p / 100.0 * total).max(f64::MIN_POSITIVE);
        let mut seen = 0.0;
        for (value, count) in &self.values {
            seen += count;
            if seen >= rank {
                return Some(*value);
            }
        }
        self.values.last().map(|v| v.0)
    }
}

/// A statistic CloudWatch computes: the five simple ones and percentiles `pNN.NN`.
#[derive(Debug, Clone, PartialEq)]
pub enum Statistic {
    SampleCount,
    Average,
    Sum,
    Minimum,
    Maximum,
    Percentile(f64),
}

impl Statistic {
    /// One of the five simple statistics, by its API name.
    pub fn simple(name: &str) -> Option<Statistic> {
        Some(match name {
            "SampleCount" => Statistic::SampleCount,
            "Average" => Statistic::Average,
            "Sum" => Statistic::Sum,
            "Minimum" => Statistic::Minimum,
            "Maximum" => Statistic::Maximum,
            _ => return None,
        })
    }

    /// A simple statistic or an extended one; Berth computes percentiles `p0`–`p100` with at
    /// most two decimals and refuses the other extended statistics (trimmed means and the
    /// like) rather than answer something else.
    pub fn parse(at: &str, name: &str) -> Result<Statistic, CloudWatchError> {
        if let Some(simple) = Statistic::simple(name) {
            return Ok(simple);
        }
        Statistic::extended(at, name)
    }

    pub fn extended(at: &str, name: &str) -> Result<Statistic, CloudWatchError> {
        let refuse = || {
            CloudWatchError::InvalidParameterValue(format!(
                "The value {name} for parameter {at} is invalid."
            ))
        };
        let digits = name.strip_prefix('p').ok_or_else(refuse)?;
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let well_formed = !whole.is_empty()
            && whole.len() <= 3
            && whole.bytes().all(|b| b.is_ascii_digit())
            && fraction.len() <= 2
            && fraction.bytes().all(|b| b.is_ascii_digit())
            && !(digits.contains('.') && fraction.is_empty());
        let value: f64 = if well_formed {
            digits.parse().map_err(|_| refuse())?
        } else {
            return Err(refuse());
        };
        if !(0.0..=100.0).contains(&value) {
            return Err(refuse());
        }
        Ok(Statistic::Percentile(value))
    }

    /// The name answers carry (`p99` stays as the client wrote it, so callers keep their own).
    pub fn simple_name(&self) -> Option<&'static str> {
        Some(match self {
            Statistic::SampleCount => "SampleCount",
            Statistic::Average => "Average",
            Statistic::Sum => "Sum",
            Statistic::Minimum => "Minimum",
            Statistic::Maximum => "Maximum",
            Statistic::Percentile(_) => return None,
        })
    }
}

/// GetMetricStatistics answers at most this many datapoints.
pub const MAX_STATISTICS_DATAPOINTS: i64 = 1_440;
/// GetMetricData answers at most this many datapoints per call.
pub const MAX_METRIC_DATA_DATAPOINTS: i64 = 100_800;

/// Periods are 1, 5, 10, 20, 30 (high resolution) or a multiple of 60 seconds.
pub fn check_period(at: &str, period: i64) -> Result<(), CloudWatchError> {
    if period <= 0 {
        return Err(CloudWatchError::InvalidParameterValue(format!(
            "The parameter {at} must be greater than 0."
        )));
    }
    if !matches!(period, 1 | 5 | 10 | 20 | 30) && period % 60 != 0 {
        return Err(CloudWatchError::InvalidParameterValue(format!(
            "The parameter {at} must be 1, 5, 10, 20, 30, or a multiple of 60."
        )));
    }
    Ok(())
}

/// GetMetricStatistics' window: start before end, and no more than 1,440 periods in it.
pub fn check_statistics_window(
    start_ms: i64,
    end_ms: i64,
    period: i64,
) -> Result<(), CloudWatchError> {
    check_period("Period", period)?;
    if start_ms >= end_ms {
        return Err(CloudWatchError::InvalidParameterValue(
            "The parameter StartTime must be less than the parameter EndTime.".into(),
        ));
    }
    let requested = period_starts(start_ms, end_ms, period).len() as i64;
    if requested > MAX_STATISTICS_DATAPOINTS {
        return Err(CloudWatchError::InvalidParameterCombination(format!(
            "You have requested up to {} datapoints, which exceeds the limit of {}. You may reduce the datapoints requested by increasing Period, or decreasing the time range.",
            thousands(requested),
            thousands(MAX_STATISTICS_DATAPOINTS)
        )));
    }
    Ok(())
}

fn thousands(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The starts (ms) of the periods a window covers, aligned to multiples of the period since
/// the epoch (CloudWatch's clock-aligned periods), from the one holding `start_ms` to the last
/// one starting before `end_ms`.
pub fn period_starts(start_ms: i64, end_ms: i64, period: i64) -> Vec<i64> {
    let step = period * 1000;
    let mut at = start_ms.div_euclid(step) * step;
    let mut starts = Vec::new();
    while at < end_ms {
        starts.push(at);
        at += step;
    }
    starts
}

/// The datapoints grouped by the period they fall in: (period start, aggregate), oldest first,
/// only periods that have data.
pub fn by_period(
    points: &[Datapoint],
    start_ms: i64,
    end_ms: i64,
    period: i64,
) -> Vec<(i64, Aggregate)> {
    let step = period * 1000;
    let mut groups: std::collections::BTreeMap<i64, Vec<&Datapoint>> = Default::default();
    for point in points
        .iter()
        .filter(|p| p.timestamp_ms >= start_ms && p.timestamp_ms < end_ms)
    {
        groups
            .entry(point.timestamp_ms.div_euclid(step) * step)
            .or_default()
            .push(point);
    }
    groups
        .into_iter()
        .filter_map(|(at, group)| Some((at, Aggregate::of(group)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_under_a_minute_are_stored_at_high_resolution() {
        assert_eq!(resolution_for(Duration::from_secs(1)), 1);
        assert_eq!(resolution_for(Duration::from_secs(59)), 1);
        assert_eq!(resolution_for(Duration::from_secs(60)), 60);
        assert_eq!(resolution_for(Duration::from_secs(300)), 60);
    }

    fn point(ts: i64, value: f64) -> Datapoint {
        Datapoint::of_values(ts, 60, vec![(value, 1.0)], Some("Count".into()))
    }

    #[test]
    fn a_period_combines_its_datapoints() {
        let points = vec![
            point(0, 1.0),
            point(10_000, 3.0),
            Datapoint::of_values(20_000, 60, vec![(2.0, 2.0)], Some("Count".into())),
            point(60_000, 10.0),
        ];
        let periods = by_period(&points, 0, 120_000, 60);
        assert_eq!(periods.len(), 2);
        let first = &periods[0].1;
        assert_eq!(first.statistic(&Statistic::SampleCount), Some(4.0));
        assert_eq!(first.statistic(&Statistic::Sum), Some(8.0));
        assert_eq!(first.statistic(&Statistic::Average), Some(2.0));
        assert_eq!(first.statistic(&Statistic::Minimum), Some(1.0));
        assert_eq!(first.statistic(&Statistic::Maximum), Some(3.0));
        assert_eq!(first.statistic(&Statistic::Percentile(50.0)), Some(2.0));
        assert_eq!(first.statistic(&Statistic::Percentile(100.0)), Some(3.0));
        assert_eq!(first.statistic(&Statistic::Percentile(0.0)), Some(1.0));
        assert_eq!(first.unit.as_deref(), Some("Count"));
        assert_eq!(periods[1].0, 60_000);
    }

    #[test]
    fn percentiles_need_values() {
        let set = Datapoint {
            timestamp_ms: 0,
            resolution: 60,
            sample_count: 2.0,
            sum: 4.0,
            minimum: 1.0,
            maximum: 3.0,
            values: vec![],
            unit: None,
        };
        let aggregate = Aggregate::of([&set]).unwrap();
        assert_eq!(aggregate.statistic(&Statistic::Percentile(90.0)), None);
        assert_eq!(aggregate.statistic(&Statistic::Average), Some(2.0));
    }

    #[test]
    fn percentile_names() {
        assert_eq!(
            Statistic::parse("S", "p99").unwrap(),
            Statistic::Percentile(99.0)
        );
        assert_eq!(
            Statistic::parse("S", "p99.99").unwrap(),
            Statistic::Percentile(99.99)
        );
        assert_eq!(
            Statistic::parse("S", "Average").unwrap(),
            Statistic::Average
        );
        for bad in ["p101", "p99.999", "p", "p9.", "tm99", "avg", "p-1"] {
            assert_eq!(
                Statistic::parse("ExtendedStatistics.member.1", bad).unwrap_err(),
                CloudWatchError::InvalidParameterValue(format!(
                    "The value {bad} for parameter ExtendedStatistics.member.1 is invalid."
                )),
                "{bad}"
            );
        }
    }

    #[test]
    fn periods_and_windows() {
        for ok in [1, 5, 10, 20, 30, 60, 120, 3600] {
            assert!(check_period("Period", ok).is_ok(), "{ok}");
        }
        assert_eq!(
            check_period("Period", 45).unwrap_err().to_string(),
            "The parameter Period must be 1, 5, 10, 20, 30, or a multiple of 60."
        );
        assert!(check_period("Period", 15).is_err());
        assert!(check_statistics_window(0, 1_440 * 60_000, 60).is_ok());
        let err = check_statistics_window(0, 1_441 * 60_000, 60).unwrap_err();
        assert_eq!(
            err,
            CloudWatchError::InvalidParameterCombination(
                "You have requested up to 1,441 datapoints, which exceeds the limit of 1,440. You may reduce the datapoints requested by increasing Period, or decreasing the time range.".into()
            )
        );
        assert_eq!(
            check_statistics_window(5, 5, 60).unwrap_err().to_string(),
            "The parameter StartTime must be less than the parameter EndTime."
        );
        // An unaligned start still counts the period it falls in.
        assert_eq!(period_starts(30_000, 150_000, 60), vec![0, 60_000, 120_000]);
    }
}
