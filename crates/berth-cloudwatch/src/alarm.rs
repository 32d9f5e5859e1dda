//! Metric alarms as CloudWatch evaluates them: the most recent `EvaluationPeriods` complete
//! periods of the metric, each breaching, not breaching or missing; ALARM when at least
//! `DatapointsToAlarm` of them breach ("M out of N"); missing periods treated as
//! `TreatMissingData` says; the state reason and its JSON reason data as CloudWatch writes
//! them.

use crate::CloudWatchError;
use crate::time;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateValue {
    Ok,
    Alarm,
    InsufficientData,
}

impl StateValue {
    pub fn as_str(self) -> &'static str {
        match self {
            StateValue::Ok => "OK",
            StateValue::Alarm => "ALARM",
            StateValue::InsufficientData => "INSUFFICIENT_DATA",
        }
    }

    pub fn parse(at: &str, value: &str) -> Result<StateValue, CloudWatchError> {
        match value {
            "OK" => Ok(StateValue::Ok),
            "ALARM" => Ok(StateValue::Alarm),
            "INSUFFICIENT_DATA" => Ok(StateValue::InsufficientData),
            other => Err(crate::invalid_value(at, other)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    GreaterThanOrEqualToThreshold,
    GreaterThanThreshold,
    LessThanThreshold,
    LessThanOrEqualToThreshold,
}

impl Comparison {
    /// A static-threshold operator. The band operators of anomaly-detection alarms need a
    /// model Berth does not have, so they are refused rather than evaluated as something else.
    pub fn parse(value: &str) -> Result<Comparison, CloudWatchError> {
        match value {
            "GreaterThanOrEqualToThreshold" => Ok(Comparison::GreaterThanOrEqualToThreshold),
            "GreaterThanThreshold" => Ok(Comparison::GreaterThanThreshold),
            "LessThanThreshold" => Ok(Comparison::LessThanThreshold),
            "LessThanOrEqualToThreshold" => Ok(Comparison::LessThanOrEqualToThreshold),
            "LessThanLowerOrGreaterThanUpperThreshold"
            | "LessThanLowerThreshold"
            | "GreaterThanUpperThreshold" => {
                Err(CloudWatchError::InvalidParameterCombination(format!(
                    "ComparisonOperator {value} needs an anomaly detection band (ThresholdMetricId), which Berth does not evaluate."
                )))
            }
            other => Err(crate::invalid_value("ComparisonOperator", other)),
        }
    }

    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::GreaterThanOrEqualToThreshold => value >= threshold,
            Comparison::GreaterThanThreshold => value > threshold,
            Comparison::LessThanThreshold => value < threshold,
            Comparison::LessThanOrEqualToThreshold => value <= threshold,
        }
    }

    fn words(self) -> &'static str {
        match self {
            Comparison::GreaterThanOrEqualToThreshold => "greater than or equal to",
            Comparison::GreaterThanThreshold => "greater than",
            Comparison::LessThanThreshold => "less than",
            Comparison::LessThanOrEqualToThreshold => "less than or equal to",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreatMissing {
    Missing,
    Ignore,
    Breaching,
    NotBreaching,
}

impl TreatMissing {
    pub fn parse(value: Option<&str>) -> Result<TreatMissing, CloudWatchError> {
        match value {
            None | Some("missing") => Ok(TreatMissing::Missing),
            Some("ignore") => Ok(TreatMissing::Ignore),
            Some("breaching") => Ok(TreatMissing::Breaching),
            Some("notBreaching") => Ok(TreatMissing::NotBreaching),
            Some(other) => Err(crate::invalid_value("TreatMissingData", other)),
        }
    }
}

/// What evaluation needs of an alarm.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmRule {
    /// Seconds.
    pub period: i64,
    pub evaluation_periods: u32,
    pub datapoints_to_alarm: u32,
    pub threshold: f64,
    pub comparison: Comparison,
    pub treat_missing: TreatMissing,
    /// The statistic's name as the alarm gives it (`Average`, `p99`), for the reason data.
    pub statistic: String,
}

/// PutMetricAlarm's rules on the numbers: periods of 10, 30 or a multiple of 60 seconds, at
/// most a day evaluated, DatapointsToAlarm no more than EvaluationPeriods.
pub fn check_rule(
    period: i64,
    evaluation_periods: i64,
    datapoints_to_alarm: i64,
) -> Result<(), CloudWatchError> {
    if period <= 0 || !(period == 10 || period == 30 || period % 60 == 0) {
        return Err(CloudWatchError::InvalidParameterValue(
            "Period must be 10, 30 or a multiple of 60.".into(),
        ));
    }
    if evaluation_periods < 1 {
        return Err(crate::invalid_value(
            "EvaluationPeriods",
            &evaluation_periods.to_string(),
        ));
    }
    if period * evaluation_periods > 86_400 {
        return Err(CloudWatchError::InvalidParameterCombination(
            "Metrics cannot be checked across more than a day (EvaluationPeriods * Period must be <= 86400).".into(),
        ));
    }
    if datapoints_to_alarm < 1 || datapoints_to_alarm > evaluation_periods {
        return Err(CloudWatchError::InvalidParameterCombination(format!(
            "DatapointsToAlarm ({datapoints_to_alarm}) must be between 1 and EvaluationPeriods ({evaluation_periods})."
        )));
    }
    Ok(())
}

/// The window evaluated at `now_ms`: the last `evaluation_periods` complete periods, as
/// (start, end) in ms.
pub fn evaluation_window(rule: &AlarmRule, now_ms: i64) -> (i64, i64) {
    let step = rule.period * 1000;
    let end = now_ms.div_euclid(step) * step;
    (end - step * i64::from(rule.evaluation_periods), end)
}

/// One period's datapoint: its start, and the statistic's value and sample count if it has data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeriodValue {
    pub timestamp_ms: i64,
    pub value: Option<(f64, f64)>,
}

/// An evaluation's outcome: the state with its reason and reason data.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub state: StateValue,
    pub reason: String,
    pub reason_data: String,
}

/// CloudWatch writes numbers in reasons as Java's doubles print: `5.0`, `0.25`.
pub fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e7 {
        format!("{value:.1}")
    } else {
        format!("{value}")
    }
}

fn datapoint_list(points: &[&PeriodValue]) -> String {
    let items: Vec<String> = points
        .iter()
        .filter_map(|p| {
            p.value
                .map(|(v, _)| format!("{} ({})", number(v), time::short(p.timestamp_ms)))
        })
        .collect();
    items.join(", ")
}

fn newest_first(points: Vec<&PeriodValue>) -> Vec<&PeriodValue> {
    points.into_iter().rev().collect()
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "datapoint" } else { "datapoints" }
}

/// Evaluates an alarm over its window's periods (oldest first, one per period). `None` keeps
/// the current state: every period is missing and the alarm ignores missing data.
pub fn evaluate(
    rule: &AlarmRule,
    periods: &[PeriodValue],
    window_start_ms: i64,
    now_ms: i64,
) -> Option<Evaluation> {
    let n = periods.len();
    let m = rule.datapoints_to_alarm as usize;
    let present: Vec<&PeriodValue> = periods.iter().filter(|p| p.value.is_some()).collect();
    let missing = n - present.len();
    let breaching: Vec<&PeriodValue> = present
        .iter()
        .copied()
        .filter(|p| {
            p.value
                .is_some_and(|(v, _)| rule.comparison.breaches(v, rule.threshold))
        })
        .collect();

    let (state, reason) = if present.is_empty() {
        match rule.treat_missing {
            TreatMissing::Ignore => return None,
            TreatMissing::Missing => (
                StateValue::InsufficientData,
                format!(
                    "Insufficient Data: {n} {} {} unknown.",
                    plural(n),
                    if n == 1 { "was" } else { "were" }
                ),
            ),
            TreatMissing::Breaching => (
                StateValue::Alarm,
                format!(
                    "Threshold Crossed: no datapoints were received for {n} {} and {n} missing {} {} treated as [Breaching].",
                    if n == 1 { "period" } else { "periods" },
                    plural(n),
                    if n == 1 { "was" } else { "were" }
                ),
            ),
            TreatMissing::NotBreaching => (
                StateValue::Ok,
                format!(
                    "Threshold Crossed: no datapoints were received for {n} {} and {n} missing {} {} treated as [NonBreaching].",
                    if n == 1 { "period" } else { "periods" },
                    plural(n),
                    if n == 1 { "was" } else { "were" }
                ),
            ),
        }
    } else {
        let counted_breaching = breaching.len()
            + if rule.treat_missing == TreatMissing::Breaching {
                missing
            } else {
                0
            };
        // With missing data treated as missing (or ignored), fewer datapoints than M that all
        // breach still alarm: CloudWatch looks at what it has.
        let alarms = counted_breaching >= m
            || (matches!(
                rule.treat_missing,
                TreatMissing::Missing | TreatMissing::Ignore
            ) && present.len() < m
                && breaching.len() == present.len());
        let words = rule.comparison.words();
        if alarms {
            let listed = newest_first(breaching.clone());
            let reason = if n == 1 {
                format!(
                    "Threshold Crossed: 1 datapoint [{}] was {words} the threshold ({}).",
                    datapoint_list(&listed),
                    number(rule.threshold)
                )
            } else {
                format!(
                    "Threshold Crossed: {} out of the last {n} datapoints [{}] were {words} the threshold ({}) (minimum {m} {} for OK -> ALARM transition).",
                    breaching.len(),
                    datapoint_list(&listed),
                    number(rule.threshold),
                    plural(m)
                )
            };
            (StateValue::Alarm, reason)
        } else {
            let not_breaching: Vec<&PeriodValue> = present
                .iter()
                .copied()
                .filter(|p| !breaching.contains(p))
                .collect();
            let listed = newest_first(not_breaching.clone());
            let reason = if n == 1 {
                format!(
                    "Threshold Crossed: 1 datapoint [{}] was not {words} the threshold ({}).",
                    datapoint_list(&listed),
                    number(rule.threshold)
                )
            } else {
                // Enough datapoints not breaching that fewer than M can breach.
                let needed = n - m + 1;
                format!(
                    "Threshold Crossed: {} out of the last {n} datapoints [{}] were not {words} the threshold ({}) (minimum {needed} {} for ALARM -> OK transition).",
                    not_breaching.len(),
                    datapoint_list(&listed),
                    number(rule.threshold),
                    plural(needed)
                )
            };
            (StateValue::Ok, reason)
        }
    };

    let recent: Vec<serde_json::Value> = newest_first(present.clone())
        .iter()
        .filter_map(|p| p.value.map(|(v, _)| serde_json::json!(v)))
        .collect();
    let evaluated: Vec<serde_json::Value> = periods
        .iter()
        .rev()
        .map(|p| match p.value {
            Some((value, count)) => serde_json::json!({"timestamp": time::iso(p.timestamp_ms), "sampleCount": count, "value": value}),
            None => serde_json::json!({"timestamp": time::iso(p.timestamp_ms)}),
        })
        .collect();
    let reason_data = serde_json::json!({
        "version": "1.0",
        "queryDate": time::iso(now_ms),
        "startDate": time::iso(window_start_ms),
        "statistic": rule.statistic,
        "period": rule.period,
        "recentDatapoints": recent,
        "threshold": rule.threshold,
        "evaluatedDatapoints": evaluated,
    });
    Some(Evaluation {
        state,
        reason,
        reason_data: reason_data.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-06T02:40:00Z
    const T: i64 = 1_796_524_800_000;

    fn rule(n: u32, m: u32, treat_missing: TreatMissing) -> AlarmRule {
        AlarmRule {
            period: 60,
            evaluation_periods: n,
            datapoints_to_alarm: m,
            threshold: 3.0,
            comparison: Comparison::GreaterThanOrEqualToThreshold,
            treat_missing,
            statistic: "Average".into(),
        }
    }

    /// Periods from a pattern, oldest first: `X` breaching (5.0), `0` not (1.0), `-` missing.
    fn periods(pattern: &str) -> Vec<PeriodValue> {
        pattern
            .chars()
            .enumerate()
            .map(|(i, c)| PeriodValue {
                timestamp_ms: T + i as i64 * 60_000,
                value: match c {
                    'X' => Some((5.0, 1.0)),
                    '0' => Some((1.0, 1.0)),
                    _ => None,
                },
            })
            .collect()
    }

    fn state(pattern: &str, m: u32, treat: TreatMissing) -> Option<StateValue> {
        let rule = rule(pattern.len() as u32, m, treat);
        evaluate(&rule, &periods(pattern), T, T + 1_000_000).map(|e| e.state)
    }

    use StateValue::{Alarm, InsufficientData, Ok as Fine};
    use TreatMissing::{Breaching, Ignore, Missing, NotBreaching};

    #[test]
    fn m_out_of_n() {
        assert_eq!(state("0XX", 2, Missing), Some(Alarm));
        assert_eq!(state("0X0", 2, Missing), Some(Fine));
        assert_eq!(state("XXX", 3, Missing), Some(Alarm));
        assert_eq!(state("0XX", 3, Missing), Some(Fine));
    }

    #[test]
    fn missing_data_as_each_treatment_says() {
        // Nothing at all.
        assert_eq!(state("---", 3, Missing), Some(InsufficientData));
        assert_eq!(state("---", 3, Ignore), None);
        assert_eq!(state("---", 3, Breaching), Some(Alarm));
        assert_eq!(state("---", 3, NotBreaching), Some(Fine));
        // Some data.
        assert_eq!(state("-X-", 3, Breaching), Some(Alarm));
        assert_eq!(state("-X-", 3, NotBreaching), Some(Fine));
        assert_eq!(state("-X-", 3, Missing), Some(Alarm));
        assert_eq!(state("-0-", 3, Missing), Some(Fine));
        assert_eq!(state("0--", 2, Breaching), Some(Alarm));
        assert_eq!(state("0X-", 3, Ignore), Some(Fine));
    }

    #[test]
    fn comparisons() {
        assert!(Comparison::GreaterThanOrEqualToThreshold.breaches(3.0, 3.0));
        assert!(!Comparison::GreaterThanThreshold.breaches(3.0, 3.0));
        assert!(Comparison::LessThanThreshold.breaches(2.0, 3.0));
        assert!(Comparison::LessThanOrEqualToThreshold.breaches(3.0, 3.0));
        assert_eq!(
            Comparison::parse("LessThanLowerOrGreaterThanUpperThreshold")
                .unwrap_err()
                .to_string(),
            "ComparisonOperator LessThanLowerOrGreaterThanUpperThreshold needs an anomaly detection band (ThresholdMetricId), which Berth does not evaluate."
        );
    }

    #[test]
    fn reasons_as_cloudwatch_writes_them() {
        let one = rule(1, 1, Missing);
        let alarm = evaluate(&one, &periods("X"), T, T + 65_000).unwrap();
        assert_eq!(
            alarm.reason,
            "Threshold Crossed: 1 datapoint [5.0 (06/12/26 02:40:00)] was greater than or equal to the threshold (3.0)."
        );
        let data: serde_json::Value = serde_json::from_str(&alarm.reason_data).unwrap();
        assert_eq!(
            data,
            serde_json::json!({
                "version": "1.0",
                "queryDate": "2026-12-06T02:41:05.000+0000",
                "startDate": "2026-12-06T02:40:00.000+0000",
                "statistic": "Average",
                "period": 60,
                "recentDatapoints": [5.0],
                "threshold": 3.0,
                "evaluatedDatapoints": [{"timestamp": "2026-12-06T02:40:00.000+0000", "sampleCount": 1.0, "value": 5.0}]
            })
        );
        let fine = evaluate(&one, &periods("0"), T, T + 65_000).unwrap();
        assert_eq!(
            fine.reason,
            "Threshold Crossed: 1 datapoint [1.0 (06/12/26 02:40:00)] was not greater than or equal to the threshold (3.0)."
        );
        let three = rule(3, 2, Missing);
        assert_eq!(
            evaluate(&three, &periods("X0X"), T, T).unwrap().reason,
            "Threshold Crossed: 2 out of the last 3 datapoints [5.0 (06/12/26 02:42:00), 5.0 (06/12/26 02:40:00)] were greater than or equal to the threshold (3.0) (minimum 2 datapoints for OK -> ALARM transition)."
        );
        assert_eq!(
            evaluate(&three, &periods("---"), T, T).unwrap().reason,
            "Insufficient Data: 3 datapoints were unknown."
        );
    }

    #[test]
    fn windows_and_rules() {
        let r = rule(3, 2, Missing);
        assert_eq!(evaluation_window(&r, T + 90_000), (T - 120_000, T + 60_000));
        assert!(check_rule(60, 3, 2).is_ok());
        assert!(check_rule(10, 6, 6).is_ok());
        assert!(check_rule(45, 1, 1).is_err());
        assert_eq!(
            check_rule(60, 3, 4).unwrap_err().to_string(),
            "DatapointsToAlarm (4) must be between 1 and EvaluationPeriods (3)."
        );
        assert_eq!(
            check_rule(3600, 25, 1).unwrap_err().code_str(),
            "InvalidParameterCombination"
        );
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(12.0), "12.0");
    }

    trait Code {
        fn code_str(&self) -> String;
    }
    impl Code for CloudWatchError {
        fn code_str(&self) -> String {
            berth_aws::ServiceError::code(self).to_owned()
        }
    }
}
