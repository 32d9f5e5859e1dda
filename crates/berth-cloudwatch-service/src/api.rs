//! [`Metrics`]: CloudWatch metrics and alarms for other crates and for the API — publish
//! datapoints ([`Metrics::put`]; the agent's container stats and the load balancer's
//! counters go through it), follow alarm state changes ([`Metrics::subscribe`]; Application
//! Auto Scaling acts on the `AlarmActions` of the alarms its policies name), and evaluate
//! alarms ([`Metrics::evaluate_due`], which [`Metrics::run`] calls every second).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_aws::Clock;
use berth_cloudwatch::alarm::{self, AlarmRule, Comparison, PeriodValue, StateValue, TreatMissing};
use berth_cloudwatch::stats::{self, Datapoint, Statistic};
use berth_cloudwatch::{CloudWatchError, Dimension, MetricId, Publisher};
use berth_cloudwatch_wire as wire;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::sqlite::SqliteMetricStore;
use crate::store::{HistoryEntry, MetricStore};

/// How the metric store is bounded and swept.
#[derive(Debug, Clone, Copy)]
pub struct MetricsOptions {
    /// The most datapoints kept; past it the oldest go first.
    pub max_points: u64,
    pub sweep_every: Duration,
}

impl Default for MetricsOptions {
    fn default() -> Self {
        MetricsOptions {
            max_points: 50_000_000,
            sweep_every: Duration::from_secs(60),
        }
    }
}

/// An alarm changed state (by evaluation or SetAlarmState).
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmStateChange {
    pub region: String,
    pub alarm_name: String,
    pub alarm_arn: String,
    pub old_state: StateValue,
    pub new_state: StateValue,
    pub reason: String,
    /// When it changed, ms since the epoch.
    pub timestamp_ms: i64,
    /// The actions of the new state (`AlarmActions`, `OKActions` or
    /// `InsufficientDataActions`); empty while the alarm's actions are disabled.
    pub actions: Vec<String>,
}

/// An alarm as stored: the API's own shape, plus its tags.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct StoredAlarm {
    pub alarm: wire::MetricAlarm,
    #[serde(default)]
    pub tags: Vec<wire::Tag>,
}

/// CloudWatch metrics and alarms over the metric store.
#[derive(Clone)]
pub struct Metrics {
    pub(crate) store: Arc<dyn MetricStore>,
    changes: broadcast::Sender<AlarmStateChange>,
    /// Serializes every read-modify-write of alarms (API and evaluator), so an evaluation
    /// never writes back a definition PutMetricAlarm just replaced.
    pub(crate) alarm_writes: Arc<tokio::sync::Mutex<()>>,
    /// The evaluation slot (time / interval) each alarm was last evaluated in.
    evaluated: Arc<Mutex<HashMap<(String, String), i64>>>,
    account_id: String,
    options: MetricsOptions,
}

pub(crate) async fn blocking<R: Send + 'static>(
    work: impl FnOnce() -> Result<R, CloudWatchError> + Send + 'static,
) -> Result<R, CloudWatchError> {
    tokio::task::spawn_blocking(work).await.map_err(|err| {
        CloudWatchError::InternalServiceError(format!("The metric store task failed: {err}"))
    })?
}

fn metric_of(alarm: &wire::MetricAlarm) -> MetricId {
    let dimensions = alarm
        .dimensions
        .iter()
        .flatten()
        .map(|d| Dimension {
            name: d.name.clone().unwrap_or_default(),
            value: d.value.clone().unwrap_or_default(),
        })
        .collect();
    MetricId::new(
        alarm.namespace.as_deref().unwrap_or_default(),
        alarm.metric_name.as_deref().unwrap_or_default(),
        dimensions,
    )
}

fn rule_of(alarm: &wire::MetricAlarm) -> Result<(AlarmRule, Statistic), CloudWatchError> {
    let statistic_name = alarm
        .statistic
        .clone()
        .or_else(|| alarm.extended_statistic.clone())
        .unwrap_or_default();
    let statistic = Statistic::parse("Statistic", &statistic_name)?;
    let evaluation_periods = alarm.evaluation_periods.unwrap_or(1).max(1) as u32;
    Ok((
        AlarmRule {
            period: i64::from(alarm.period.unwrap_or(60)),
            evaluation_periods,
            datapoints_to_alarm: alarm
                .datapoints_to_alarm
                .map_or(evaluation_periods, |m| m as u32),
            threshold: alarm.threshold.unwrap_or_default(),
            comparison: Comparison::parse(
                alarm.comparison_operator.as_deref().unwrap_or_default(),
            )?,
            treat_missing: TreatMissing::parse(alarm.treat_missing_data.as_deref())?,
            statistic: statistic_name,
        },
        statistic,
    ))
}

fn state_of(alarm: &wire::MetricAlarm) -> StateValue {
    StateValue::parse(
        "StateValue",
        alarm.state_value.as_deref().unwrap_or_default(),
    )
    .unwrap_or(StateValue::InsufficientData)
}

/// AlarmHistoryItem's data for a state change, as CloudWatch writes it.
fn state_history_data(old: &wire::MetricAlarm, new: &wire::MetricAlarm) -> String {
    let reason_data: Option<serde_json::Value> = new
        .state_reason_data
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok());
    let mut new_state =
        serde_json::json!({"stateValue": new.state_value, "stateReason": new.state_reason});
    if let Some(data) = reason_data {
        new_state["stateReasonData"] = data;
    }
    serde_json::json!({
        "version": "1.0",
        "oldState": {"stateValue": old.state_value, "stateReason": old.state_reason},
        "newState": new_state,
    })
    .to_string()
}

impl Metrics {
    /// Opens the embedded store at `path` (`DATA_DIR/metrics.db`).
    pub fn open(
        path: &Path,
        account_id: String,
        options: MetricsOptions,
    ) -> Result<Metrics, CloudWatchError> {
        let store: Arc<dyn MetricStore> = SqliteMetricStore::open(path, options.max_points)?;
        Ok(Metrics::over(store, account_id, options))
    }

    pub fn over(
        store: Arc<dyn MetricStore>,
        account_id: String,
        options: MetricsOptions,
    ) -> Metrics {
        Metrics {
            store,
            changes: broadcast::channel(1024).0,
            alarm_writes: Arc::new(tokio::sync::Mutex::new(())),
            evaluated: Arc::new(Mutex::new(HashMap::new())),
            account_id,
            options,
        }
    }

    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// Every alarm state change from now on. A receiver that falls more than 1,024 changes
    /// behind is told it lagged (and may re-read alarms with DescribeAlarms' state).
    pub fn subscribe(&self) -> broadcast::Receiver<AlarmStateChange> {
        self.changes.subscribe()
    }

    pub fn alarm_arn(&self, region: &str, name: &str) -> String {
        format!(
            "arn:aws:cloudwatch:{region}:{}:alarm:{name}",
            self.account_id
        )
    }

    /// Publishes datapoints as Berth itself (namespaces under `AWS/` allowed), with the same
    /// name and dimension rules as PutMetricData.
    pub async fn put(
        &self,
        region: &str,
        points: Vec<(MetricId, Datapoint)>,
        now_ms: i64,
    ) -> Result<(), CloudWatchError> {
        for (metric, _) in &points {
            berth_cloudwatch::check_namespace("Namespace", &metric.namespace, Publisher::Berth)?;
            berth_cloudwatch::check_metric("", &metric.name, &metric.dimensions)?;
        }
        let store = self.store.clone();
        let region = region.to_owned();
        blocking(move || store.append(&region, points, now_ms)).await
    }

    pub(crate) async fn stored_alarms(
        &self,
        region: &str,
    ) -> Result<Vec<StoredAlarm>, CloudWatchError> {
        let store = self.store.clone();
        let region = region.to_owned();
        let bodies = blocking(move || store.alarms(&region)).await?;
        Ok(bodies
            .into_iter()
            .filter_map(|(_, body)| serde_json::from_str(&body).ok())
            .collect())
    }

    pub(crate) async fn write_alarm(
        &self,
        region: &str,
        alarm: &StoredAlarm,
        history: Vec<HistoryEntry>,
    ) -> Result<(), CloudWatchError> {
        let store = self.store.clone();
        let region = region.to_owned();
        let name = alarm.alarm.alarm_name.clone().unwrap_or_default();
        let body = serde_json::to_string(alarm).expect("alarms encode");
        blocking(move || store.put_alarm(&region, &name, body, history)).await
    }

    /// Forgets when an alarm was last evaluated, so the evaluator's next tick evaluates it.
    pub(crate) fn evaluate_soon(&self, region: &str, name: &str) {
        self.evaluated
            .lock()
            .expect("evaluation slots")
            .remove(&(region.to_owned(), name.to_owned()));
    }

    /// Moves an alarm to a new state: writes it with its StateUpdate history entry and tells
    /// subscribers. Call with `alarm_writes` held.
    pub(crate) async fn change_state(
        &self,
        region: &str,
        mut stored: StoredAlarm,
        state: StateValue,
        reason: String,
        reason_data: Option<String>,
        now_ms: i64,
    ) -> Result<(), CloudWatchError> {
        let old = stored.alarm.clone();
        let now = now_ms as f64 / 1000.0;
        let name = old.alarm_name.clone().unwrap_or_default();
        stored.alarm.state_value = Some(state.as_str().into());
        stored.alarm.state_reason = Some(reason.clone());
        stored.alarm.state_reason_data = reason_data;
        stored.alarm.state_updated_timestamp = Some(now);
        stored.alarm.state_transitioned_timestamp = Some(now);
        let history = HistoryEntry {
            alarm_name: name.clone(),
            timestamp_ms: now_ms,
            kind: "StateUpdate".into(),
            summary: format!(
                "Alarm updated from {} to {}",
                state_of(&old).as_str(),
                state.as_str()
            ),
            data: state_history_data(&old, &stored.alarm),
        };
        self.write_alarm(region, &stored, vec![history]).await?;
        let actions = if stored.alarm.actions_enabled.unwrap_or(true) {
            match state {
                StateValue::Alarm => stored.alarm.alarm_actions.clone(),
                StateValue::Ok => stored.alarm.ok_actions.clone(),
                StateValue::InsufficientData => stored.alarm.insufficient_data_actions.clone(),
            }
            .unwrap_or_default()
        } else {
            Vec::new()
        };
        // Nobody listening is fine: the change is in the store and its history.
        let _ = self.changes.send(AlarmStateChange {
            region: region.to_owned(),
            alarm_arn: self.alarm_arn(region, &name),
            alarm_name: name,
            old_state: state_of(&old),
            new_state: state,
            reason,
            timestamp_ms: now_ms,
            actions,
        });
        Ok(())
    }

    /// An alarm's rule, the start of its evaluation window at `now_ms` and the statistic of
    /// each period in the window (the last `EvaluationPeriods` complete periods).
    async fn window(
        &self,
        region: &str,
        alarm: &wire::MetricAlarm,
        now_ms: i64,
    ) -> Result<(AlarmRule, i64, Vec<PeriodValue>), CloudWatchError> {
        let (rule, statistic) = rule_of(alarm)?;
        let (start, end) = alarm::evaluation_window(&rule, now_ms);
        let metric = metric_of(alarm);
        let store = self.store.clone();
        let owned_region = region.to_owned();
        let mut points =
            blocking(move || store.datapoints(&owned_region, &metric, start, end)).await?;
        if let Some(unit) = &alarm.unit {
            points.retain(|p| p.unit.as_deref() == Some(unit.as_str()));
        }
        let by_period: HashMap<i64, stats::Aggregate> =
            stats::by_period(&points, start, end, rule.period)
                .into_iter()
                .collect();
        let periods: Vec<PeriodValue> = stats::period_starts(start, end, rule.period)
            .into_iter()
            .map(|at| PeriodValue {
                timestamp_ms: at,
                value: by_period
                    .get(&at)
                    .and_then(|a| Some((a.statistic(&statistic)?, a.sample_count))),
            })
            .collect();
        Ok((rule, start, periods))
    }

    /// Evaluates one alarm at `now_ms` and writes a state change if there is one.
    async fn evaluate_alarm(
        &self,
        region: &str,
        stored: StoredAlarm,
        now_ms: i64,
    ) -> Result<(), CloudWatchError> {
        let (rule, start, periods) = self.window(region, &stored.alarm, now_ms).await?;
        let Some(evaluation) = alarm::evaluate(&rule, &periods, start, now_ms) else {
            return Ok(());
        };
        if evaluation.state == state_of(&stored.alarm) {
            return Ok(());
        }
        self.change_state(
            region,
            stored,
            evaluation.state,
            evaluation.reason,
            Some(evaluation.reason_data),
            now_ms,
        )
        .await
    }

    /// Every alarm of a region, in the API's shape (with its state): Application Auto Scaling
    /// finds the alarms acting on its policies here.
    pub async fn alarms(&self, region: &str) -> Result<Vec<wire::MetricAlarm>, CloudWatchError> {
        Ok(self
            .stored_alarms(region)
            .await?
            .into_iter()
            .map(|stored| stored.alarm)
            .collect())
    }

    /// The values an alarm evaluates at `now_ms`: its statistic in each of its last
    /// `EvaluationPeriods` complete periods that has data, oldest first — what a scaling policy
    /// the alarm triggers acts on.
    pub async fn alarm_values(
        &self,
        region: &str,
        alarm: &wire::MetricAlarm,
        now_ms: i64,
    ) -> Result<Vec<f64>, CloudWatchError> {
        let (_, _, periods) = self.window(region, alarm, now_ms).await?;
        Ok(periods
            .iter()
            .filter_map(|period| period.value.map(|(value, _)| value))
            .collect())
    }

    /// Creates or replaces an alarm another service manages (Application Auto Scaling's target
    /// tracking alarms), as PutMetricAlarm would, but with any period the metrics are published
    /// at (down to 1 s; PutMetricAlarm takes 10, 30 or multiples of 60), so alarms follow
    /// `--metric-period`. A replaced alarm keeps its state and tags.
    pub async fn put_managed_alarm(
        &self,
        region: &str,
        mut alarm: wire::MetricAlarm,
        now_ms: i64,
    ) -> Result<(), CloudWatchError> {
        rule_of(&alarm)?;
        let name = alarm.alarm_name.clone().unwrap_or_default();
        let now = now_ms as f64 / 1000.0;
        alarm.alarm_arn = Some(self.alarm_arn(region, &name));
        alarm.alarm_configuration_updated_timestamp = Some(now);
        let _writing = self.alarm_writes.lock().await;
        let existing = self
            .stored_alarms(region)
            .await?
            .into_iter()
            .find(|stored| stored.alarm.alarm_name.as_deref() == Some(name.as_str()));
        let (stored, data, summary) = match existing {
            Some(previous) => {
                alarm.state_value = previous.alarm.state_value.clone();
                alarm.state_reason = previous.alarm.state_reason.clone();
                alarm.state_reason_data = previous.alarm.state_reason_data.clone();
                alarm.state_updated_timestamp = previous.alarm.state_updated_timestamp;
                alarm.state_transitioned_timestamp = previous.alarm.state_transitioned_timestamp;
                let data = serde_json::json!({"version": "1.0", "type": "Update", "updatedAlarm": &alarm, "originalAlarm": &previous.alarm});
                (
                    StoredAlarm {
                        alarm,
                        tags: previous.tags,
                    },
                    data,
                    format!("Alarm \"{name}\" updated"),
                )
            }
            None => {
                alarm.state_value = Some(StateValue::InsufficientData.as_str().into());
                alarm.state_reason = Some("Unchecked: Initial alarm creation".into());
                alarm.state_updated_timestamp = Some(now);
                alarm.state_transitioned_timestamp = Some(now);
                let data =
                    serde_json::json!({"version": "1.0", "type": "Create", "createdAlarm": &alarm});
                (
                    StoredAlarm {
                        alarm,
                        tags: Vec::new(),
                    },
                    data,
                    format!("Alarm \"{name}\" created"),
                )
            }
        };
        let entry = HistoryEntry {
            alarm_name: name.clone(),
            timestamp_ms: now_ms,
            kind: "ConfigurationUpdate".into(),
            summary,
            data: data.to_string(),
        };
        self.write_alarm(region, &stored, vec![entry]).await?;
        self.evaluate_soon(region, &name);
        Ok(())
    }

    /// Deletes alarms another service manages; names that do not exist are passed over.
    pub async fn delete_managed_alarms(
        &self,
        region: &str,
        names: Vec<String>,
    ) -> Result<(), CloudWatchError> {
        let _writing = self.alarm_writes.lock().await;
        for name in &names {
            self.evaluate_soon(region, name);
        }
        let store = self.store.clone();
        let region = region.to_owned();
        blocking(move || store.delete_alarms(&region, names)).await
    }

    /// Evaluates every alarm of every region whose evaluation slot has come: each period for
    /// alarms of 10 and 30 s, each minute otherwise (CloudWatch's cadence). Returns how many
    /// alarms it evaluated.
    pub async fn evaluate_due(&self, now_ms: i64) -> Result<usize, CloudWatchError> {
        let store = self.store.clone();
        let regions = blocking(move || store.alarm_regions()).await?;
        let mut evaluated = 0;
        for region in regions {
            let _writing = self.alarm_writes.lock().await;
            for stored in self.stored_alarms(&region).await? {
                let name = stored.alarm.alarm_name.clone().unwrap_or_default();
                let interval_ms = i64::from(stored.alarm.period.unwrap_or(60).clamp(1, 60)) * 1000;
                let slot = now_ms.div_euclid(interval_ms);
                let key = (region.clone(), name.clone());
                if self.evaluated.lock().expect("evaluation slots").get(&key) == Some(&slot) {
                    continue;
                }
                if let Err(err) = self.evaluate_alarm(&region, stored, now_ms).await {
                    tracing::warn!(%region, alarm = %name, %err, "alarm evaluation failed");
                }
                self.evaluated
                    .lock()
                    .expect("evaluation slots")
                    .insert(key, slot);
                evaluated += 1;
            }
        }
        Ok(evaluated)
    }

    /// The evaluator and sweeper: evaluates due alarms every second and sweeps the store
    /// every `sweep_every`, until `shutdown` resolves.
    pub async fn run(self, clock: Arc<dyn Clock>, shutdown: impl std::future::Future<Output = ()>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut last_sweep = std::time::Instant::now();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tick.tick() => {}
            }
            let now_ms = (clock.now() * 1000.0) as i64;
            if let Err(err) = self.evaluate_due(now_ms).await {
                tracing::warn!(%err, "alarm evaluation pass failed");
            }
            if last_sweep.elapsed() >= self.options.sweep_every {
                last_sweep = std::time::Instant::now();
                let store = self.store.clone();
                match blocking(move || store.sweep(now_ms)).await {
                    Ok(report) => tracing::debug!(?report, "metric store swept"),
                    Err(err) => tracing::warn!(%err, "metric store sweep failed"),
                }
            }
        }
    }
}
