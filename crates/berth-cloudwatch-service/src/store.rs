//! The metric store's seam: what CloudWatch metrics and alarms need of storage, whatever
//! engine holds it. [`crate::sqlite::SqliteMetricStore`] is the embedded one.

use berth_cloudwatch::CloudWatchError;
use berth_cloudwatch::MetricId;
use berth_cloudwatch::stats::Datapoint;

/// ListMetrics' filter: namespace, name and dimensions (a name alone matches any value), and
/// only metrics with data put since a time (RecentlyActive).
#[derive(Debug, Clone, Default)]
pub struct MetricFilter {
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub dimensions: Vec<(String, Option<String>)>,
    pub active_since_ms: Option<i64>,
}

impl MetricFilter {
    pub fn matches(&self, metric: &MetricId) -> bool {
        self.namespace
            .as_ref()
            .is_none_or(|n| *n == metric.namespace)
            && self.name.as_ref().is_none_or(|n| *n == metric.name)
            && self.dimensions.iter().all(|(name, value)| {
                metric
                    .dimensions
                    .iter()
                    .any(|d| d.name == *name && value.as_ref().is_none_or(|v| *v == d.value))
            })
    }
}

/// One alarm history entry.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub alarm_name: String,
    pub timestamp_ms: i64,
    /// `StateUpdate`, `ConfigurationUpdate` or `Action`.
    pub kind: String,
    pub summary: String,
    pub data: String,
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Datapoints folded into the next, coarser tier as they aged out of theirs (1 second →
    /// 1 minute after 3 hours, → 5 minutes after 15 days, → 1 hour after 63 days).
    pub rolled_up: usize,
    /// Datapoints older than the last tier's 455 days, and history entries past 30 days.
    pub expired: usize,
    /// The oldest datapoints removed to bring the store under its size bound.
    pub evicted: usize,
}

/// Metrics, alarms and alarm history of every region.
pub trait MetricStore: Send + Sync + 'static {
    /// Stores datapoints; `now_ms` marks their metrics active (ListMetrics' RecentlyActive).
    fn append(
        &self,
        region: &str,
        points: Vec<(MetricId, Datapoint)>,
        now_ms: i64,
    ) -> Result<(), CloudWatchError>;

    /// A metric's datapoints with `start_ms <= timestamp < end_ms`, oldest first.
    fn datapoints(
        &self,
        region: &str,
        metric: &MetricId,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Datapoint>, CloudWatchError>;

    /// Metrics matching the filter, in (namespace, name, dimensions) order, after `after`.
    fn list_metrics(
        &self,
        region: &str,
        filter: &MetricFilter,
        after: Option<&MetricId>,
        limit: usize,
    ) -> Result<Vec<MetricId>, CloudWatchError>;

    /// Every alarm of a region as stored (the service's JSON), by name.
    fn alarms(&self, region: &str) -> Result<Vec<(String, String)>, CloudWatchError>;

    /// Regions that have alarms, for the evaluator.
    fn alarm_regions(&self) -> Result<Vec<String>, CloudWatchError>;

    /// Writes an alarm and its history entries in one transaction.
    fn put_alarm(
        &self,
        region: &str,
        name: &str,
        body: String,
        history: Vec<HistoryEntry>,
    ) -> Result<(), CloudWatchError>;

    /// Deletes alarms (their history stays, as on CloudWatch, until it expires).
    fn delete_alarms(&self, region: &str, names: Vec<String>) -> Result<(), CloudWatchError>;

    /// History of one alarm or all, of one kind or all, in `[start_ms, end_ms)`, newest first.
    fn history(
        &self,
        region: &str,
        alarm: Option<&str>,
        kind: Option<&str>,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<HistoryEntry>, CloudWatchError>;

    /// Folds and expires datapoints by CloudWatch's retention tiers
    /// (`berth_cloudwatch::retention`), expires history, then enforces the size bound.
    fn sweep(&self, now_ms: i64) -> Result<SweepReport, CloudWatchError>;
}
