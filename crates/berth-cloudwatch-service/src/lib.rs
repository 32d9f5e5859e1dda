//! CloudWatch metrics and alarms behind Berth's gateway, per region: PutMetricData,
//! GetMetricStatistics, GetMetricData (metric-stat queries and simple math), ListMetrics,
//! the alarm actions (Put/Describe/Delete, SetAlarmState, DescribeAlarmHistory, enabling and
//! disabling actions) and tagging.
//!
//! Datapoints, alarms and their history live in the metric store ([`store::MetricStore`],
//! embedded as [`sqlite::SqliteMetricStore`] in `DATA_DIR/metrics.db`), never in the state
//! store. [`Metrics`] is the API for other crates: publish datapoints, subscribe to alarm
//! state changes; [`Metrics::run`] evaluates alarms in the background.

pub mod api;
pub mod sqlite;
pub mod store;

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use base64::Engine;
use berth_aws::{AwsError, ServiceError};
use berth_cloudwatch::alarm::{Comparison, StateValue, TreatMissing};
use berth_cloudwatch::expr::{self, Named, Series};
use berth_cloudwatch::retention;
use berth_cloudwatch::stats::{self, Datapoint, Statistic};
use berth_cloudwatch::{CloudWatchError, Dimension, MetricId, Publisher};
use berth_cloudwatch_wire as wire;
use berth_gateway::{Call, Service};
use berth_wire::Validate;
use berth_wire::model::ServiceModel;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use api::{AlarmStateChange, Metrics, MetricsOptions};
use api::{StoredAlarm, blocking};
use store::{HistoryEntry, MetricFilter};

/// PutMetricData takes at most 1,000 metrics, each with at most 150 values.
const MAX_METRIC_DATA: usize = 1_000;
const MAX_VALUES: usize = 150;
/// PutMetricData's timestamps: at most two weeks old, at most two hours ahead.
const MAX_PAST_MS: i64 = 14 * 86_400_000;
const MAX_FUTURE_MS: i64 = 2 * 3_600_000;
/// ListMetrics answers 500 metrics a page; DescribeAlarms 50 by default, 100 at most;
/// DescribeAlarmHistory 100 by default.
const LIST_METRICS_PAGE: usize = 500;
const GET_METRIC_DATA_QUERIES: usize = 500;
/// ListMetrics' RecentlyActive=PT3H.
const RECENTLY_ACTIVE_MS: i64 = 3 * 3_600_000;

/// CloudWatch for the one account this server serves.
pub struct CloudWatchService {
    metrics: Metrics,
}

fn error(err: CloudWatchError) -> AwsError {
    err.to_aws_error()
}

fn invalid(message: impl Into<String>) -> AwsError {
    error(CloudWatchError::InvalidParameterValue(message.into()))
}

fn combination(message: impl Into<String>) -> AwsError {
    error(CloudWatchError::InvalidParameterCombination(message.into()))
}

fn missing(parameter: &str) -> AwsError {
    error(CloudWatchError::MissingParameter(format!(
        "The parameter {parameter} is required."
    )))
}

fn decode<T: DeserializeOwned + Validate>(call: &Call<'_>) -> Result<T, AwsError> {
    let request: T = serde_json::from_slice(call.input)
        .map_err(|err| invalid(format!("Could not read the request: {err}")))?;
    request.check().map_err(|message| {
        if message.contains("must not be null") {
            error(CloudWatchError::MissingParameter(message))
        } else {
            invalid(message)
        }
    })?;
    Ok(request)
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("wire shapes always encode")
}

fn now_ms(call: &Call<'_>) -> i64 {
    (call.context.received_at * 1000.0) as i64
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn ms(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

fn dimensions(wire: Option<&Vec<wire::Dimension>>) -> Vec<Dimension> {
    wire.into_iter()
        .flatten()
        .map(|d| Dimension {
            name: d.name.clone().unwrap_or_default(),
            value: d.value.clone().unwrap_or_default(),
        })
        .collect()
}

fn wire_metric(metric: &MetricId) -> wire::Metric {
    wire::Metric {
        namespace: Some(metric.namespace.clone()),
        metric_name: Some(metric.name.clone()),
        dimensions: Some(
            metric
                .dimensions
                .iter()
                .map(|d| wire::Dimension {
                    name: Some(d.name.clone()),
                    value: Some(d.value.clone()),
                })
                .collect(),
        ),
    }
}

/// Opaque paging tokens: base64 of JSON, so a token only decodes for the listing it came from.
fn token<T: Serialize>(value: &T) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(serde_json::to_vec(value).expect("tokens encode"))
}

fn untoken<T: DeserializeOwned>(token: &str) -> Result<T, AwsError> {
    base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| {
            error(CloudWatchError::InvalidNextToken(
                "The service couldn't process your request because the next token is invalid."
                    .into(),
            ))
        })
}

/// The condition keys of a request carrying tags, as IAM policies on tagging match them.
fn tag_conditions(tags: Option<&Vec<wire::Tag>>) -> Vec<(String, String)> {
    let Some(tags) = tags.filter(|t| !t.is_empty()) else {
        return Vec::new();
    };
    let mut conditions: Vec<(String, String)> = tags
        .iter()
        .map(|t| {
            (
                format!("aws:RequestTag/{}", t.key.clone().unwrap_or_default()),
                t.value.clone().unwrap_or_default(),
            )
        })
        .collect();
    let keys: Vec<String> = tags
        .iter()
        .map(|t| t.key.clone().unwrap_or_default())
        .collect();
    conditions.push(("aws:TagKeys".into(), keys.join(",")));
    conditions
}

fn merge_tags(tags: &mut Vec<wire::Tag>, added: Vec<wire::Tag>) -> Result<(), AwsError> {
    for tag in added {
        match tags.iter_mut().find(|t| t.key == tag.key) {
            Some(existing) => existing.value = tag.value,
            None => tags.push(tag),
        }
    }
    if tags.len() > berth_cloudwatch::MAX_TAGS {
        return Err(error(CloudWatchError::LimitExceeded(format!(
            "A resource can have no more than {} tags.",
            berth_cloudwatch::MAX_TAGS
        ))));
    }
    Ok(())
}

/// One datum of PutMetricData as a stored datapoint, with CloudWatch's checks.
fn datapoint_of(at: &str, datum: &wire::MetricDatum, now: i64) -> Result<Datapoint, AwsError> {
    let resolution = match datum.storage_resolution {
        None | Some(60) => 60,
        Some(1) => 1,
        Some(other) => {
            return Err(invalid(format!(
                "The value {other} for parameter {at}.StorageResolution is invalid."
            )));
        }
    };
    let timestamp = datum.timestamp.map_or(now, ms);
    if timestamp < now - MAX_PAST_MS {
        return Err(invalid(format!(
            "The parameter {at}.Timestamp must specify a time no more than two weeks in the past."
        )));
    }
    if timestamp > now + MAX_FUTURE_MS {
        return Err(invalid(format!(
            "The parameter {at}.Timestamp must specify a time no more than two hours in the future."
        )));
    }
    let finite = |name: &str, value: f64| {
        if value.is_finite() {
            Ok(value)
        } else {
            Err(invalid(format!(
                "The value {value} for parameter {at}.{name} is invalid."
            )))
        }
    };
    let unit = datum.unit.clone().filter(|u| u != "None");
    let given = [
        datum.value.is_some(),
        datum.values.is_some(),
        datum.statistic_values.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        let names: Vec<&str> = ["Value", "Values", "StatisticValues"]
            .iter()
            .zip(given)
            .filter(|(_, g)| *g)
            .map(|(n, _)| *n)
            .collect();
        return Err(combination(format!(
            "The parameters {at}.{} and {at}.{} are mutually exclusive and you have specified both.",
            names[0], names[1]
        )));
    }
    if let Some(value) = datum.value {
        return Ok(Datapoint::of_values(
            timestamp,
            resolution,
            vec![(finite("Value", value)?, 1.0)],
            unit,
        ));
    }
    if let Some(values) = &datum.values {
        if values.len() > MAX_VALUES {
            return Err(invalid(format!(
                "The collection {at}.Values must not have a size greater than {MAX_VALUES}."
            )));
        }
        let counts = datum
            .counts
            .clone()
            .unwrap_or_else(|| vec![1.0; values.len()]);
        if counts.len() != values.len() {
            return Err(combination(format!(
                "The parameters {at}.Values and {at}.Counts must be of the same size."
            )));
        }
        let mut pairs = Vec::with_capacity(values.len());
        for (value, count) in values.iter().zip(counts) {
            if !(count.is_finite() && count >= 0.0) {
                return Err(invalid(format!(
                    "The value {count} for parameter {at}.Counts is invalid."
                )));
            }
            pairs.push((finite("Values", *value)?, count));
        }
        return Ok(Datapoint::of_values(timestamp, resolution, pairs, unit));
    }
    if let Some(set) = &datum.statistic_values {
        let (Some(count), Some(sum), Some(min), Some(max)) =
            (set.sample_count, set.sum, set.minimum, set.maximum)
        else {
            return Err(missing(&format!("{at}.StatisticValues")));
        };
        for (name, value) in [
            ("SampleCount", count),
            ("Sum", sum),
            ("Minimum", min),
            ("Maximum", max),
        ] {
            finite(&format!("StatisticValues.{name}"), value)?;
        }
        if count <= 0.0 || min > max {
            return Err(invalid(format!(
                "The parameter {at}.StatisticValues is invalid: SampleCount must be positive and Minimum no more than Maximum."
            )));
        }
        return Ok(Datapoint {
            timestamp_ms: timestamp,
            resolution,
            sample_count: count,
            sum,
            minimum: min,
            maximum: max,
            values: Vec::new(),
            unit,
        });
    }
    Err(combination(format!(
        "At least one of the parameters {at}.Value, {at}.Values or {at}.StatisticValues must be specified."
    )))
}

/// Where a ListMetrics page starts: after this metric.
#[derive(serde::Serialize, serde::Deserialize)]
struct MetricsToken {
    namespace: String,
    name: String,
    dimensions: Vec<(String, String)>,
}

/// Where a GetMetricData page starts: how many datapoints earlier pages answered.
#[derive(serde::Serialize, serde::Deserialize)]
struct DataToken {
    skip: usize,
}

fn history_item(entry: HistoryEntry) -> wire::AlarmHistoryItem {
    wire::AlarmHistoryItem {
        alarm_name: Some(entry.alarm_name),
        alarm_type: Some("MetricAlarm".into()),
        timestamp: Some(seconds(entry.timestamp_ms)),
        history_item_type: Some(entry.kind),
        history_summary: Some(entry.summary),
        history_data: Some(entry.data),
        ..Default::default()
    }
}

impl CloudWatchService {
    pub fn new(metrics: Metrics) -> CloudWatchService {
        CloudWatchService { metrics }
    }

    fn alarm_arn(&self, region: &str, name: &str) -> String {
        self.metrics.alarm_arn(region, name)
    }

    /// The alarm name in an alarm ARN of this region and account.
    fn alarm_of_arn(&self, region: &str, arn: &str) -> Result<String, AwsError> {
        let prefix = self.alarm_arn(region, "");
        match arn.strip_prefix(&prefix) {
            Some(name) if !name.is_empty() => Ok(name.to_owned()),
            _ if arn.starts_with("arn:aws:cloudwatch:") => {
                Err(error(CloudWatchError::ResourceNotFoundException(format!(
                    "Resource {arn} does not exist."
                ))))
            }
            _ => Err(invalid(format!(
                "The value {arn} for parameter ResourceARN is invalid."
            ))),
        }
    }

    async fn alarm_named(&self, region: &str, name: &str) -> Result<Option<StoredAlarm>, AwsError> {
        Ok(self
            .metrics
            .stored_alarms(region)
            .await
            .map_err(error)?
            .into_iter()
            .find(|a| a.alarm.alarm_name.as_deref() == Some(name)))
    }

    async fn put_metric_data(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::PutMetricDataInput = decode(call)?;
        let namespace = request.namespace.clone().unwrap_or_default();
        call.authorize(
            "cloudwatch:PutMetricData",
            Vec::new(),
            vec![("cloudwatch:namespace".into(), namespace.clone())],
        )?;
        berth_cloudwatch::check_namespace("Namespace", &namespace, Publisher::Customer)
            .map_err(error)?;
        if request
            .entity_metric_data
            .as_ref()
            .is_some_and(|e| !e.is_empty())
        {
            return Err(combination(
                "EntityMetricData is not supported by Berth's CloudWatch; send MetricData.",
            ));
        }
        let data = request.metric_data.unwrap_or_default();
        if data.is_empty() {
            return Err(missing("MetricData"));
        }
        if data.len() > MAX_METRIC_DATA {
            return Err(invalid(format!(
                "The collection MetricData must not have a size greater than {MAX_METRIC_DATA}."
            )));
        }
        let now = now_ms(call);
        let mut points = Vec::with_capacity(data.len());
        for (index, datum) in data.iter().enumerate() {
            let at = format!("MetricData.member.{}", index + 1);
            let name = datum.metric_name.clone().unwrap_or_default();
            let dims = dimensions(datum.dimensions.as_ref());
            berth_cloudwatch::check_metric(&at, &name, &dims).map_err(error)?;
            points.push((
                MetricId::new(&namespace, &name, dims),
                datapoint_of(&at, datum, now)?,
            ));
        }
        let store = self.metrics.store.clone();
        let region = call.context.region.clone();
        blocking(move || store.append(&region, points, now))
            .await
            .map_err(error)?;
        Ok(b"{}".to_vec())
    }

    async fn datapoints(
        &self,
        region: &str,
        metric: MetricId,
        start: i64,
        end: i64,
        unit: Option<String>,
    ) -> Result<Vec<Datapoint>, AwsError> {
        let store = self.metrics.store.clone();
        let region = region.to_owned();
        let mut points = blocking(move || store.datapoints(&region, &metric, start, end))
            .await
            .map_err(error)?;
        if let Some(unit) = unit.filter(|u| u != "None") {
            points.retain(|p| p.unit.as_deref() == Some(unit.as_str()));
        }
        Ok(points)
    }

    async fn get_metric_statistics(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::GetMetricStatisticsInput = decode(call)?;
        call.authorize("cloudwatch:GetMetricStatistics", Vec::new(), Vec::new())?;
        let namespace = request.namespace.clone().unwrap_or_default();
        let name = request.metric_name.clone().unwrap_or_default();
        let dims = dimensions(request.dimensions.as_ref());
        berth_cloudwatch::check_namespace("Namespace", &namespace, Publisher::Berth)
            .map_err(error)?;
        berth_cloudwatch::check_metric("", &name, &dims).map_err(error)?;
        let simple = request.statistics.clone().unwrap_or_default();
        let extended = request.extended_statistics.clone().unwrap_or_default();
        if simple.is_empty() && extended.is_empty() {
            return Err(combination(
                "Must specify either Statistics or ExtendedStatistics",
            ));
        }
        let mut wanted = Vec::new();
        for (index, statistic) in simple.iter().enumerate() {
            let at = format!("Statistics.member.{}", index + 1);
            wanted.push((
                statistic.clone(),
                Statistic::simple(statistic)
                    .ok_or_else(|| error(berth_cloudwatch::invalid_value(&at, statistic)))?,
                false,
            ));
        }
        for (index, statistic) in extended.iter().enumerate() {
            let at = format!("ExtendedStatistics.member.{}", index + 1);
            wanted.push((
                statistic.clone(),
                Statistic::extended(&at, statistic).map_err(error)?,
                true,
            ));
        }
        let (start, end, period) = (
            ms(request.start_time.unwrap_or_default()),
            ms(request.end_time.unwrap_or_default()),
            i64::from(request.period.unwrap_or_default()),
        );
        stats::check_statistics_window(start, end, period).map_err(error)?;
        // A range starting longer ago than a tier keeps is answered only with periods of the
        // resolution kept for it; with a finer one CloudWatch returns no datapoints.
        let points = if retention::answers(period, start, now_ms(call)) {
            self.datapoints(
                &call.context.region,
                MetricId::new(&namespace, &name, dims),
                start,
                end,
                request.unit.clone(),
            )
            .await?
        } else {
            Vec::new()
        };
        let datapoints: Vec<wire::Datapoint> = stats::by_period(&points, start, end, period)
            .into_iter()
            .map(|(at, aggregate)| {
                let mut datapoint = wire::Datapoint {
                    timestamp: Some(seconds(at)),
                    unit: Some(
                        request
                            .unit
                            .clone()
                            .or_else(|| aggregate.unit.clone())
                            .unwrap_or_else(|| "None".into()),
                    ),
                    ..Default::default()
                };
                for (label, statistic, is_extended) in &wanted {
                    let value = aggregate.statistic(statistic);
                    match (statistic, is_extended) {
                        (_, true) => {
                            if let Some(value) = value {
                                datapoint
                                    .extended_statistics
                                    .get_or_insert_with(BTreeMap::new)
                                    .insert(label.clone(), value);
                            }
                        }
                        (Statistic::SampleCount, _) => datapoint.sample_count = value,
                        (Statistic::Average, _) => datapoint.average = value,
                        (Statistic::Sum, _) => datapoint.sum = value,
                        (Statistic::Minimum, _) => datapoint.minimum = value,
                        (Statistic::Maximum, _) => datapoint.maximum = value,
                        (Statistic::Percentile(_), false) => {}
                    }
                }
                datapoint
            })
            .collect();
        Ok(encode(&wire::GetMetricStatisticsOutput {
            label: Some(name),
            datapoints: Some(datapoints),
        }))
    }

    async fn get_metric_data(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::GetMetricDataInput = decode(call)?;
        call.authorize("cloudwatch:GetMetricData", Vec::new(), Vec::new())?;
        let queries = request.metric_data_queries.clone().unwrap_or_default();
        if queries.is_empty() {
            return Err(missing("MetricDataQueries"));
        }
        if queries.len() > GET_METRIC_DATA_QUERIES {
            return Err(invalid(format!(
                "The collection MetricDataQueries must not have a size greater than {GET_METRIC_DATA_QUERIES}."
            )));
        }
        let (start, end) = (
            ms(request.start_time.unwrap_or_default()),
            ms(request.end_time.unwrap_or_default()),
        );
        if start >= end {
            return Err(invalid(
                "The parameter StartTime must be less than the parameter EndTime.",
            ));
        }
        let ascending = match request.scan_by.as_deref() {
            None | Some("TimestampDescending") => false,
            Some("TimestampAscending") => true,
            Some(other) => {
                return Err(invalid(format!(
                    "The value {other} for parameter ScanBy is invalid."
                )));
            }
        };
        let max_datapoints = request
            .max_datapoints
            .map_or(stats::MAX_METRIC_DATA_DATAPOINTS as usize, |m| {
                m.max(1) as usize
            });
        let mut seen_ids = HashSet::new();
        for (index, query) in queries.iter().enumerate() {
            let id = query.id.clone().unwrap_or_default();
            if !id.starts_with(|c: char| c.is_ascii_lowercase())
                || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(invalid(format!(
                    "The value {id} for parameter MetricDataQueries.member.{}.Id is invalid.",
                    index + 1
                )));
            }
            if !seen_ids.insert(id.clone()) {
                return Err(invalid(format!(
                    "The values for parameter id in MetricDataQueries are not unique. Duplicate id: {id}"
                )));
            }
            if query.metric_stat.is_some() == query.expression.is_some() {
                return Err(combination(format!(
                    "Exactly one element of the MetricDataQueries.member.{}.MetricStat and MetricDataQueries.member.{}.Expression parameters must be specified.",
                    index + 1,
                    index + 1
                )));
            }
        }
        if !queries.iter().any(|q| q.return_data != Some(false)) {
            return Err(combination(
                "At least one MetricDataQuery must have ReturnData set to true.",
            ));
        }
        // Metric-stat queries first, then expressions in the order given.
        let mut results: Vec<(String, String, Series, bool)> = Vec::new();
        let mut default_period = 60;
        for (index, query) in queries.iter().enumerate() {
            let Some(stat) = &query.metric_stat else {
                continue;
            };
            let at = format!("MetricDataQueries.member.{}.MetricStat", index + 1);
            let metric = stat.metric.clone().unwrap_or_default();
            let namespace = metric.namespace.clone().unwrap_or_default();
            let name = metric.metric_name.clone().unwrap_or_default();
            let dims = dimensions(metric.dimensions.as_ref());
            berth_cloudwatch::check_namespace(
                &format!("{at}.Metric.Namespace"),
                &namespace,
                Publisher::Berth,
            )
            .map_err(error)?;
            berth_cloudwatch::check_metric(&format!("{at}.Metric"), &name, &dims).map_err(error)?;
            let period = i64::from(stat.period.unwrap_or_default());
            stats::check_period(&format!("{at}.Period"), period).map_err(error)?;
            default_period = default_period.max(period);
            let statistic = Statistic::parse(
                &format!("{at}.Stat"),
                stat.stat.as_deref().unwrap_or_default(),
            )
            .map_err(error)?;
            // As GetMetricStatistics: an old range with a period finer than its tier has none.
            let points = if retention::answers(period, start, now_ms(call)) {
                self.datapoints(
                    &call.context.region,
                    MetricId::new(&namespace, &name, dims),
                    start,
                    end,
                    stat.unit.clone(),
                )
                .await?
            } else {
                Vec::new()
            };
            let series: Series = stats::by_period(&points, start, end, period)
                .into_iter()
                .filter_map(|(at, aggregate)| Some((at, aggregate.statistic(&statistic)?)))
                .collect();
            let label = query.label.clone().unwrap_or(name);
            results.push((query.id.clone().unwrap_or_default(), label, series, true));
        }
        for query in &queries {
            let Some(expression) = &query.expression else {
                continue;
            };
            let period = i64::from(query.period.unwrap_or(default_period as i32));
            stats::check_period("Period", period).map_err(error)?;
            let grid = stats::period_starts(start, end, period);
            let named: Vec<Named<'_>> = results
                .iter()
                .map(|(id, label, series, is_metric)| Named {
                    id,
                    label,
                    series,
                    is_metric: *is_metric,
                })
                .collect();
            let value = expr::evaluate(expression, &named, &grid).map_err(error)?;
            let series = expr::as_series(expression, value, &grid).map_err(error)?;
            let id = query.id.clone().unwrap_or_default();
            results.push((id.clone(), query.label.clone().unwrap_or(id), series, false));
        }
        // Answer in the order asked, datapoints by ScanBy, paged by a datapoint budget.
        let mut skip = match &request.next_token {
            Some(t) => untoken::<DataToken>(t)?.skip,
            None => 0,
        };
        let mut budget = max_datapoints;
        let mut answered = 0;
        let mut more = false;
        let mut out = Vec::new();
        for query in queries.iter().filter(|q| q.return_data != Some(false)) {
            let id = query.id.clone().unwrap_or_default();
            let (_, label, series, _) = results
                .iter()
                .find(|r| r.0 == id)
                .expect("every query has a result");
            let mut points: Vec<(i64, f64)> = series.iter().map(|(t, v)| (*t, *v)).collect();
            if !ascending {
                points.reverse();
            }
            let skipped = skip.min(points.len());
            skip -= skipped;
            let page: Vec<(i64, f64)> = points[skipped..].iter().take(budget).copied().collect();
            budget -= page.len();
            answered += skipped + page.len();
            let complete = skipped + page.len() == points.len();
            more |= !complete;
            out.push(wire::MetricDataResult {
                id: Some(id),
                label: Some(label.clone()),
                timestamps: Some(page.iter().map(|p| seconds(p.0)).collect()),
                values: Some(page.iter().map(|p| p.1).collect()),
                status_code: Some(if complete { "Complete" } else { "PartialData" }.into()),
                messages: None,
            });
        }
        Ok(encode(&wire::GetMetricDataOutput {
            metric_data_results: Some(out),
            next_token: more.then(|| token(&DataToken { skip: answered })),
            messages: Some(Vec::new()),
        }))
    }

    async fn list_metrics(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::ListMetricsInput = decode(call)?;
        call.authorize("cloudwatch:ListMetrics", Vec::new(), Vec::new())?;
        let recently_active = match request.recently_active.as_deref() {
            None => None,
            Some("PT3H") => Some(now_ms(call) - RECENTLY_ACTIVE_MS),
            Some(other) => {
                return Err(invalid(format!(
                    "The value {other} for parameter RecentlyActive is invalid."
                )));
            }
        };
        let filter = MetricFilter {
            namespace: request.namespace.clone(),
            name: request.metric_name.clone(),
            dimensions: request
                .dimensions
                .iter()
                .flatten()
                .map(|d| (d.name.clone().unwrap_or_default(), d.value.clone()))
                .collect(),
            active_since_ms: recently_active,
        };
        let after: Option<MetricsToken> = request.next_token.as_deref().map(untoken).transpose()?;
        let after = after.map(|t| MetricId {
            namespace: t.namespace,
            name: t.name,
            dimensions: t
                .dimensions
                .into_iter()
                .map(|(name, value)| Dimension { name, value })
                .collect(),
        });
        let store = self.metrics.store.clone();
        let region = call.context.region.clone();
        let found = blocking(move || {
            store.list_metrics(&region, &filter, after.as_ref(), LIST_METRICS_PAGE + 1)
        })
        .await
        .map_err(error)?;
        let next_token = (found.len() > LIST_METRICS_PAGE).then(|| {
            let last = &found[LIST_METRICS_PAGE - 1];
            let dims: Vec<(String, String)> = last
                .dimensions
                .iter()
                .map(|d| (d.name.clone(), d.value.clone()))
                .collect();
            token(&MetricsToken {
                namespace: last.namespace.clone(),
                name: last.name.clone(),
                dimensions: dims,
            })
        });
        Ok(encode(&wire::ListMetricsOutput {
            metrics: Some(
                found
                    .iter()
                    .take(LIST_METRICS_PAGE)
                    .map(wire_metric)
                    .collect(),
            ),
            next_token,
            owning_accounts: None,
        }))
    }

    async fn put_metric_alarm(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::PutMetricAlarmInput = decode(call)?;
        let region = call.context.region.clone();
        let name = request.alarm_name.clone().unwrap_or_default();
        call.authorize(
            "cloudwatch:PutMetricAlarm",
            vec![self.alarm_arn(&region, &name)],
            tag_conditions(request.tags.as_ref()),
        )?;
        if request.metrics.as_ref().is_some_and(|m| !m.is_empty()) {
            return Err(combination(
                "Berth evaluates alarms on one metric: give MetricName, Namespace and Statistic or ExtendedStatistic (alarms on Metrics math are not supported).",
            ));
        }
        if request.threshold_metric_id.is_some() {
            return Err(combination(
                "ThresholdMetricId needs an anomaly detection band, which Berth does not evaluate.",
            ));
        }
        let metric_name = request
            .metric_name
            .clone()
            .ok_or_else(|| missing("MetricName"))?;
        let namespace = request
            .namespace
            .clone()
            .ok_or_else(|| missing("Namespace"))?;
        berth_cloudwatch::check_namespace("Namespace", &namespace, Publisher::Berth)
            .map_err(error)?;
        berth_cloudwatch::check_metric("", &metric_name, &dimensions(request.dimensions.as_ref()))
            .map_err(error)?;
        match (&request.statistic, &request.extended_statistic) {
            (Some(statistic), None) => {
                Statistic::simple(statistic).ok_or_else(|| {
                    error(berth_cloudwatch::invalid_value("Statistic", statistic))
                })?;
            }
            (None, Some(extended)) => {
                Statistic::extended("ExtendedStatistic", extended).map_err(error)?;
            }
            _ => {
                return Err(combination(
                    "Exactly one element of the Statistic and ExtendedStatistic parameters must be specified.",
                ));
            }
        }
        let period = i64::from(request.period.ok_or_else(|| missing("Period"))?);
        // Required by the model, but its generated checks leave numbers and enums to us.
        let evaluation_periods = i64::from(
            request
                .evaluation_periods
                .ok_or_else(|| missing("EvaluationPeriods"))?,
        );
        if request.comparison_operator.is_none() {
            return Err(missing("ComparisonOperator"));
        }
        let datapoints_to_alarm = request
            .datapoints_to_alarm
            .map_or(evaluation_periods, i64::from);
        berth_cloudwatch::alarm::check_rule(period, evaluation_periods, datapoints_to_alarm)
            .map_err(error)?;
        if request.threshold.is_none() {
            return Err(missing("Threshold"));
        }
        Comparison::parse(request.comparison_operator.as_deref().unwrap_or_default())
            .map_err(error)?;
        TreatMissing::parse(request.treat_missing_data.as_deref()).map_err(error)?;
        if let Some(value) = request.evaluate_low_sample_count_percentile.as_deref()
            && !matches!(value, "evaluate" | "ignore")
        {
            return Err(invalid(format!(
                "The value {value} for parameter EvaluateLowSampleCountPercentile is invalid."
            )));
        }

        let now = now_ms(call);
        let _writing = self.metrics.alarm_writes.lock().await;
        let existing = self.alarm_named(&region, &name).await?;
        let mut alarm = wire::MetricAlarm {
            alarm_name: Some(name.clone()),
            alarm_arn: Some(self.alarm_arn(&region, &name)),
            alarm_description: request.alarm_description.clone(),
            alarm_configuration_updated_timestamp: Some(seconds(now)),
            actions_enabled: Some(request.actions_enabled.unwrap_or(true)),
            ok_actions: Some(request.ok_actions.clone().unwrap_or_default()),
            alarm_actions: Some(request.alarm_actions.clone().unwrap_or_default()),
            insufficient_data_actions: Some(
                request
                    .insufficient_data_actions
                    .clone()
                    .unwrap_or_default(),
            ),
            metric_name: Some(metric_name),
            namespace: Some(namespace),
            statistic: request.statistic.clone(),
            extended_statistic: request.extended_statistic.clone(),
            dimensions: Some(request.dimensions.clone().unwrap_or_default()),
            period: request.period,
            unit: request.unit.clone(),
            evaluation_periods: request.evaluation_periods,
            datapoints_to_alarm: request.datapoints_to_alarm,
            threshold: request.threshold,
            comparison_operator: request.comparison_operator.clone(),
            treat_missing_data: request.treat_missing_data.clone(),
            evaluate_low_sample_count_percentile: request
                .evaluate_low_sample_count_percentile
                .clone(),
            ..Default::default()
        };
        let (stored, history) = match existing {
            Some(previous) => {
                // An update keeps the state and, as on CloudWatch, ignores Tags.
                alarm.state_value = previous.alarm.state_value.clone();
                alarm.state_reason = previous.alarm.state_reason.clone();
                alarm.state_reason_data = previous.alarm.state_reason_data.clone();
                alarm.state_updated_timestamp = previous.alarm.state_updated_timestamp;
                alarm.state_transitioned_timestamp = previous.alarm.state_transitioned_timestamp;
                let data = serde_json::json!({"version": "1.0", "type": "Update", "updatedAlarm": &alarm, "originalAlarm": &previous.alarm});
                let entry = HistoryEntry {
                    alarm_name: name.clone(),
                    timestamp_ms: now,
                    kind: "ConfigurationUpdate".into(),
                    summary: format!("Alarm \"{name}\" updated"),
                    data: data.to_string(),
                };
                (
                    StoredAlarm {
                        alarm,
                        tags: previous.tags,
                    },
                    entry,
                )
            }
            None => {
                alarm.state_value = Some(StateValue::InsufficientData.as_str().into());
                alarm.state_reason = Some("Unchecked: Initial alarm creation".into());
                alarm.state_updated_timestamp = Some(seconds(now));
                alarm.state_transitioned_timestamp = Some(seconds(now));
                let mut tags = Vec::new();
                merge_tags(&mut tags, request.tags.clone().unwrap_or_default())?;
                let data =
                    serde_json::json!({"version": "1.0", "type": "Create", "createdAlarm": &alarm});
                let entry = HistoryEntry {
                    alarm_name: name.clone(),
                    timestamp_ms: now,
                    kind: "ConfigurationUpdate".into(),
                    summary: format!("Alarm \"{name}\" created"),
                    data: data.to_string(),
                };
                (StoredAlarm { alarm, tags }, entry)
            }
        };
        self.metrics
            .write_alarm(&region, &stored, vec![history])
            .await
            .map_err(error)?;
        self.metrics.evaluate_soon(&region, &name);
        Ok(b"{}".to_vec())
    }

    async fn describe_alarms(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeAlarmsInput = decode(call)?;
        let region = call.context.region.clone();
        call.authorize(
            "cloudwatch:DescribeAlarms",
            vec![self.alarm_arn(&region, "*")],
            Vec::new(),
        )?;
        let names = request.alarm_names.clone().unwrap_or_default();
        if !names.is_empty() && request.alarm_name_prefix.is_some() {
            return Err(combination(
                "AlarmNames and AlarmNamePrefix cannot be specified together.",
            ));
        }
        if request.children_of_alarm_name.is_some() || request.parents_of_alarm_name.is_some() {
            return Err(combination(
                "ChildrenOfAlarmName and ParentsOfAlarmName concern composite alarms, which Berth does not have.",
            ));
        }
        let state = request
            .state_value
            .as_deref()
            .map(|s| StateValue::parse("StateValue", s))
            .transpose()
            .map_err(error)?;
        let wants_metric_alarms = request
            .alarm_types
            .as_ref()
            .is_none_or(|types| types.iter().any(|t| t == "MetricAlarm"));
        let max_records = request.max_records.unwrap_or(50).clamp(1, 100) as usize;
        let after: Option<String> = request.next_token.as_deref().map(untoken).transpose()?;
        let mut alarms: Vec<wire::MetricAlarm> = if wants_metric_alarms {
            self.metrics
                .stored_alarms(&region)
                .await
                .map_err(error)?
                .into_iter()
                .map(|s| s.alarm)
                .collect()
        } else {
            Vec::new()
        };
        alarms.retain(|a| {
            let name = a.alarm_name.as_deref().unwrap_or_default();
            (names.is_empty() || names.iter().any(|n| n == name))
                && request
                    .alarm_name_prefix
                    .as_deref()
                    .is_none_or(|p| name.starts_with(p))
                && state.is_none_or(|s| a.state_value.as_deref() == Some(s.as_str()))
                && request.action_prefix.as_deref().is_none_or(|p| {
                    a.alarm_actions
                        .iter()
                        .chain(&a.ok_actions)
                        .chain(&a.insufficient_data_actions)
                        .flatten()
                        .any(|action| action.starts_with(p))
                })
                && after.as_deref().is_none_or(|after| name > after)
        });
        let next_token =
            (alarms.len() > max_records).then(|| token(&alarms[max_records - 1].alarm_name));
        alarms.truncate(max_records);
        Ok(encode(&wire::DescribeAlarmsOutput {
            metric_alarms: Some(alarms),
            composite_alarms: Some(Vec::new()),
            next_token,
        }))
    }

    async fn delete_alarms(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DeleteAlarmsInput = decode(call)?;
        let region = call.context.region.clone();
        let names = request.alarm_names.unwrap_or_default();
        call.authorize(
            "cloudwatch:DeleteAlarms",
            names.iter().map(|n| self.alarm_arn(&region, n)).collect(),
            Vec::new(),
        )?;
        let _writing = self.metrics.alarm_writes.lock().await;
        let existing: HashSet<String> = self
            .metrics
            .stored_alarms(&region)
            .await
            .map_err(error)?
            .into_iter()
            .filter_map(|s| s.alarm.alarm_name)
            .collect();
        let unknown: Vec<&String> = names.iter().filter(|n| !existing.contains(*n)).collect();
        if !unknown.is_empty() {
            let listed: Vec<&str> = unknown.iter().map(|n| n.as_str()).collect();
            return Err(error(CloudWatchError::ResourceNotFound(format!(
                "The following alarms were not found: [{}]",
                listed.join(", ")
            ))));
        }
        for name in &names {
            // Its evaluation slot goes with it (a new alarm of the same name starts afresh).
            self.metrics.evaluate_soon(&region, name);
        }
        let store = self.metrics.store.clone();
        blocking(move || store.delete_alarms(&region, names))
            .await
            .map_err(error)?;
        Ok(b"{}".to_vec())
    }

    async fn set_alarm_state(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::SetAlarmStateInput = decode(call)?;
        let region = call.context.region.clone();
        let name = request.alarm_name.clone().unwrap_or_default();
        call.authorize(
            "cloudwatch:SetAlarmState",
            vec![self.alarm_arn(&region, &name)],
            Vec::new(),
        )?;
        let state = StateValue::parse(
            "StateValue",
            request.state_value.as_deref().unwrap_or_default(),
        )
        .map_err(error)?;
        if let Some(data) = &request.state_reason_data
            && serde_json::from_str::<serde_json::Value>(data).is_err()
        {
            return Err(error(CloudWatchError::InvalidFormat(
                "StateReasonData is not valid JSON.".into(),
            )));
        }
        let _writing = self.metrics.alarm_writes.lock().await;
        let stored = self.alarm_named(&region, &name).await?.ok_or_else(|| {
            error(CloudWatchError::ResourceNotFound(format!(
                "Alarm {name} not found"
            )))
        })?;
        let reason = request.state_reason.clone().unwrap_or_default();
        let now = now_ms(call);
        if stored.alarm.state_value.as_deref() == Some(state.as_str()) {
            // The same state again changes only its reason, without a transition.
            let mut stored = stored;
            stored.alarm.state_reason = Some(reason);
            stored.alarm.state_reason_data = request.state_reason_data.clone();
            stored.alarm.state_updated_timestamp = Some(seconds(now));
            self.metrics
                .write_alarm(&region, &stored, Vec::new())
                .await
                .map_err(error)?;
        } else {
            // Until the next evaluation, which may move it back.
            self.metrics
                .change_state(
                    &region,
                    stored,
                    state,
                    reason,
                    request.state_reason_data.clone(),
                    now,
                )
                .await
                .map_err(error)?;
        }
        Ok(b"{}".to_vec())
    }

    async fn describe_alarm_history(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeAlarmHistoryInput = decode(call)?;
        let region = call.context.region.clone();
        let name = request.alarm_name.clone();
        call.authorize(
            "cloudwatch:DescribeAlarmHistory",
            vec![self.alarm_arn(&region, name.as_deref().unwrap_or("*"))],
            Vec::new(),
        )?;
        let kind = match request.history_item_type.as_deref() {
            None => None,
            Some(
                kind @ ("ConfigurationUpdate"
                | "StateUpdate"
                | "Action"
                | "AlarmContributorStateUpdate"
                | "AlarmContributorAction"),
            ) => Some(kind.to_owned()),
            Some(other) => {
                return Err(invalid(format!(
                    "The value {other} for parameter HistoryItemType is invalid."
                )));
            }
        };
        if request
            .alarm_types
            .as_ref()
            .is_some_and(|types| !types.iter().any(|t| t == "MetricAlarm"))
        {
            return Ok(encode(&wire::DescribeAlarmHistoryOutput {
                alarm_history_items: Some(Vec::new()),
                next_token: None,
            }));
        }
        let start = request.start_date.map_or(0, ms);
        let end = request.end_date.map_or(i64::MAX, ms);
        let ascending = match request.scan_by.as_deref() {
            None | Some("TimestampDescending") => false,
            Some("TimestampAscending") => true,
            Some(other) => {
                return Err(invalid(format!(
                    "The value {other} for parameter ScanBy is invalid."
                )));
            }
        };
        let max_records = request.max_records.unwrap_or(100).clamp(1, 100) as usize;
        let skip: usize = request
            .next_token
            .as_deref()
            .map(untoken)
            .transpose()?
            .unwrap_or(0);
        let store = self.metrics.store.clone();
        let mut entries =
            blocking(move || store.history(&region, name.as_deref(), kind.as_deref(), start, end))
                .await
                .map_err(error)?;
        if ascending {
            entries.reverse();
        }
        let next_token = (entries.len() > skip + max_records).then(|| token(&(skip + max_records)));
        let items = entries
            .into_iter()
            .skip(skip)
            .take(max_records)
            .map(history_item)
            .collect();
        Ok(encode(&wire::DescribeAlarmHistoryOutput {
            alarm_history_items: Some(items),
            next_token,
        }))
    }

    async fn set_actions_enabled(
        &self,
        call: &Call<'_>,
        enabled: bool,
    ) -> Result<Vec<u8>, AwsError> {
        let names = if enabled {
            decode::<wire::EnableAlarmActionsInput>(call)?.alarm_names
        } else {
            decode::<wire::DisableAlarmActionsInput>(call)?.alarm_names
        }
        .unwrap_or_default();
        let region = call.context.region.clone();
        let action = if enabled {
            "cloudwatch:EnableAlarmActions"
        } else {
            "cloudwatch:DisableAlarmActions"
        };
        call.authorize(
            action,
            names.iter().map(|n| self.alarm_arn(&region, n)).collect(),
            Vec::new(),
        )?;
        let _writing = self.metrics.alarm_writes.lock().await;
        // Names of alarms that do not exist are passed over, as on CloudWatch.
        for mut stored in self.metrics.stored_alarms(&region).await.map_err(error)? {
            if names
                .iter()
                .any(|n| stored.alarm.alarm_name.as_ref() == Some(n))
                && stored.alarm.actions_enabled != Some(enabled)
            {
                stored.alarm.actions_enabled = Some(enabled);
                self.metrics
                    .write_alarm(&region, &stored, Vec::new())
                    .await
                    .map_err(error)?;
            }
        }
        Ok(b"{}".to_vec())
    }

    async fn change_tags(
        &self,
        call: &Call<'_>,
        arn: &str,
        change: impl FnOnce(&mut Vec<wire::Tag>) -> Result<(), AwsError>,
    ) -> Result<(), AwsError> {
        let region = call.context.region.clone();
        let name = self.alarm_of_arn(&region, arn)?;
        let _writing = self.metrics.alarm_writes.lock().await;
        let mut stored = self.alarm_named(&region, &name).await?.ok_or_else(|| {
            error(CloudWatchError::ResourceNotFoundException(format!(
                "Resource {arn} does not exist."
            )))
        })?;
        change(&mut stored.tags)?;
        self.metrics
            .write_alarm(&region, &stored, Vec::new())
            .await
            .map_err(error)
    }

    async fn tag_resource(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::TagResourceInput = decode(call)?;
        let arn = request.resource_arn.clone().unwrap_or_default();
        call.authorize(
            "cloudwatch:TagResource",
            vec![arn.clone()],
            tag_conditions(request.tags.as_ref()),
        )?;
        let added = request.tags.unwrap_or_default();
        self.change_tags(call, &arn, |tags| merge_tags(tags, added))
            .await?;
        Ok(b"{}".to_vec())
    }

    async fn untag_resource(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::UntagResourceInput = decode(call)?;
        let arn = request.resource_arn.clone().unwrap_or_default();
        call.authorize("cloudwatch:UntagResource", vec![arn.clone()], Vec::new())?;
        let removed = request.tag_keys.unwrap_or_default();
        self.change_tags(call, &arn, |tags| {
            tags.retain(|t| !removed.iter().any(|k| Some(k) == t.key.as_ref()));
            Ok(())
        })
        .await?;
        Ok(b"{}".to_vec())
    }

    async fn list_tags_for_resource(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::ListTagsForResourceInput = decode(call)?;
        let arn = request.resource_arn.clone().unwrap_or_default();
        call.authorize(
            "cloudwatch:ListTagsForResource",
            vec![arn.clone()],
            Vec::new(),
        )?;
        let region = call.context.region.clone();
        let name = self.alarm_of_arn(&region, &arn)?;
        let stored = self.alarm_named(&region, &name).await?.ok_or_else(|| {
            error(CloudWatchError::ResourceNotFoundException(format!(
                "Resource {arn} does not exist."
            )))
        })?;
        Ok(encode(&wire::ListTagsForResourceOutput {
            tags: Some(stored.tags),
        }))
    }
}

#[async_trait]
impl Service for CloudWatchService {
    fn model(&self) -> &'static ServiceModel {
        &wire::MODEL
    }

    async fn call(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        match call.operation {
            "PutMetricData" => self.put_metric_data(call).await,
            "GetMetricStatistics" => self.get_metric_statistics(call).await,
            "GetMetricData" => self.get_metric_data(call).await,
            "ListMetrics" => self.list_metrics(call).await,
            "PutMetricAlarm" => self.put_metric_alarm(call).await,
            "DescribeAlarms" => self.describe_alarms(call).await,
            "DeleteAlarms" => self.delete_alarms(call).await,
            "SetAlarmState" => self.set_alarm_state(call).await,
            "DescribeAlarmHistory" => self.describe_alarm_history(call).await,
            "EnableAlarmActions" => self.set_actions_enabled(call, true).await,
            "DisableAlarmActions" => self.set_actions_enabled(call, false).await,
            "TagResource" => self.tag_resource(call).await,
            "UntagResource" => self.untag_resource(call).await,
            "ListTagsForResource" => self.list_tags_for_resource(call).await,
            other => {
                call.authorize(&format!("cloudwatch:{other}"), Vec::new(), Vec::new())?;
                Err(AwsError::new(
                    400,
                    "UnknownOperationException",
                    format!("The operation {other} is not supported by Berth's CloudWatch."),
                ))
            }
        }
    }
}
