//! CloudWatch Logs behind Berth's gateway: log groups (create, delete, describe, retention,
//! tags), log streams (create, delete, describe) and their events (PutLogEvents,
//! GetLogEvents, FilterLogEvents), per region.
//!
//! Groups, streams and events live in the log store ([`store::LogStore`], embedded as
//! [`sqlite::SqliteLogStore`] in `DATA_DIR/logs.db`), never in the state store: a heavy stream
//! writes its own file on its own thread. [`Logs`] is the same thing for other crates (the
//! awslogs driver): append to a stream, creating it; does a group exist; create a group.
//! StartLiveTail streams what is appended (`live_tail`).

pub mod api;
mod live_tail;
pub mod sqlite;
pub mod store;

use std::collections::BTreeMap;

use async_trait::async_trait;
use berth_aws::{AwsError, ServiceError};
use berth_gateway::{Call, EventStream, Service};
use berth_logs::filter::FilterPattern;
use berth_logs::{LogsError, Position, StreamToken, decode_page_token, encode_page_token};
use berth_logs_wire as wire;
use berth_wire::Validate;
use berth_wire::model::ServiceModel;
use serde::Serialize;
use serde::de::DeserializeOwned;

use api::blocking;
pub use api::{LogEvent, Logs, LogsOptions};
use store::{
    Direction, GroupInfo, GroupScan, LogStore, StreamListing, StreamOrder, StreamRead, TagChange,
};

/// GetLogEvents and FilterLogEvents answer at most 10,000 events and 1 MB of messages.
const MAX_EVENTS_PER_PAGE: usize = 10_000;
const MAX_PAGE_BYTES: usize = 1_048_576;
/// DescribeLogGroups and DescribeLogStreams list at most 50 per page.
const MAX_DESCRIBE: usize = 50;
/// FilterLogEvents reads a group in chunks of this many events, and at most
/// [`FILTER_SCAN_BUDGET`] events per call; a page that stops there carries a nextToken even
/// when it found nothing, as CloudWatch Logs' does.
const FILTER_CHUNK: usize = 1_000;
const FILTER_SCAN_BUDGET: usize = 100_000;

/// CloudWatch Logs for the one account this server serves.
pub struct LogsService {
    logs: Logs,
    account_id: String,
}

fn error(err: LogsError) -> AwsError {
    err.to_aws_error()
}

fn invalid(message: impl Into<String>) -> AwsError {
    error(LogsError::InvalidParameter(message.into()))
}

fn decode<T: DeserializeOwned + Validate>(call: &Call<'_>) -> Result<T, AwsError> {
    let request: T = serde_json::from_slice(call.input)
        .map_err(|err| invalid(format!("Could not read the request: {err}")))?;
    request.check().map_err(invalid)?;
    Ok(request)
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("wire shapes always encode")
}

fn now_ms(call: &Call<'_>) -> i64 {
    (call.context.received_at * 1000.0) as i64
}

/// The condition keys of a request carrying tags, as IAM policies on tagging match them.
fn tag_conditions(tags: Option<&BTreeMap<String, String>>) -> Vec<(String, String)> {
    let Some(tags) = tags.filter(|t| !t.is_empty()) else {
        return Vec::new();
    };
    let mut conditions: Vec<(String, String)> = tags
        .iter()
        .map(|(key, value)| (format!("aws:RequestTag/{key}"), value.clone()))
        .collect();
    let keys: Vec<&str> = tags.keys().map(String::as_str).collect();
    conditions.push(("aws:TagKeys".into(), keys.join(",")));
    conditions
}

fn add_tags(
    tags: &mut BTreeMap<String, String>,
    added: BTreeMap<String, String>,
) -> Result<(), LogsError> {
    tags.extend(added);
    if tags.len() > berth_logs::MAX_TAGS {
        return Err(LogsError::TooManyTags(format!(
            "A resource can have no more than {} tags.",
            berth_logs::MAX_TAGS
        )));
    }
    Ok(())
}

impl LogsService {
    pub fn new(logs: Logs, account_id: String) -> LogsService {
        LogsService { logs, account_id }
    }

    /// A log group's ARN as IAM and DescribeLogGroups' `arn` name it (`…:log-group:NAME:*`).
    /// Runs `work` on the log store off the async runtime, its error as CloudWatch Logs'.
    async fn on_store<R: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn LogStore) -> Result<R, LogsError> + Send + 'static,
    ) -> Result<R, AwsError> {
        let store = self.logs.store().clone();
        blocking(move || work(&*store)).await.map_err(error)
    }

    fn group_arn(&self, region: &str, group: &str) -> String {
        format!("{}:*", self.group_arn_bare(region, group))
    }

    /// The ARN without the trailing `:*`, as `logGroupArn` and the tagging actions use it.
    fn group_arn_bare(&self, region: &str, group: &str) -> String {
        format!(
            "arn:aws:logs:{region}:{}:log-group:{group}",
            self.account_id
        )
    }

    fn stream_arn(&self, region: &str, group: &str, stream: &str) -> String {
        format!(
            "arn:aws:logs:{region}:{}:log-group:{group}:log-stream:{stream}",
            self.account_id
        )
    }

    /// The group a request names by `logGroupName` or `logGroupIdentifier` (a name or an ARN
    /// of this region and account).
    fn group_named(
        &self,
        region: &str,
        name: Option<&String>,
        identifier: Option<&String>,
    ) -> Result<String, AwsError> {
        match (name, identifier) {
            (Some(_), Some(_)) => Err(invalid(
                "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
            )),
            (Some(name), None) => Ok(name.clone()),
            (None, Some(identifier)) if identifier.starts_with("arn:") => {
                self.group_of_arn(region, identifier)
            }
            (None, Some(identifier)) => Ok(identifier.clone()),
            (None, None) => Err(invalid(
                "Either logGroupName or logGroupIdentifier must be specified.",
            )),
        }
    }

    /// The group name in a log group ARN (`…:log-group:NAME` or `…:log-group:NAME:*`); a group
    /// of another region or account does not exist here.
    fn group_of_arn(&self, region: &str, arn: &str) -> Result<String, AwsError> {
        let prefix = format!("arn:aws:logs:{region}:{}:log-group:", self.account_id);
        let Some(rest) = arn.strip_prefix(&prefix) else {
            return if arn.starts_with("arn:aws:logs:") {
                Err(error(LogsError::group_not_found()))
            } else {
                Err(invalid(format!("Invalid ARN: {arn}")))
            };
        };
        let name = rest.strip_suffix(":*").unwrap_or(rest);
        if name.is_empty() || name.contains(':') {
            return Err(invalid(format!("Invalid ARN: {arn}")));
        }
        Ok(name.to_owned())
    }

    fn describe_group(&self, region: &str, info: GroupInfo) -> wire::LogGroup {
        wire::LogGroup {
            arn: Some(self.group_arn(region, &info.name)),
            log_group_arn: Some(self.group_arn_bare(region, &info.name)),
            creation_time: Some(info.creation_time),
            retention_in_days: info.retention_days,
            metric_filter_count: Some(0),
            stored_bytes: Some(info.stored_bytes),
            log_group_class: Some("STANDARD".into()),
            log_group_name: Some(info.name),
            ..Default::default()
        }
    }

    async fn create_log_group(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::CreateLogGroupRequest = decode(call)?;
        let region = call.context.region.clone();
        let name = request.log_group_name.clone().unwrap_or_default();
        call.authorize(
            "logs:CreateLogGroup",
            vec![self.group_arn(&region, &name)],
            tag_conditions(request.tags.as_ref()),
        )?;
        berth_logs::check_group_name(&name).map_err(error)?;
        if request.deletion_protection_enabled == Some(true) {
            return Err(invalid(
                "Berth does not offer deletion protection for log groups yet; create the group without it.",
            ));
        }
        if request.kms_key_id.is_some() {
            return Err(invalid(
                "Berth does not encrypt log groups with KMS keys; create the group without kmsKeyId.",
            ));
        }
        if request
            .log_group_class
            .as_deref()
            .is_some_and(|class| class != "STANDARD")
        {
            return Err(invalid("Berth serves only the STANDARD log group class."));
        }
        let mut tags = BTreeMap::new();
        add_tags(&mut tags, request.tags.unwrap_or_default()).map_err(error)?;
        let now = now_ms(call);
        self.on_store(move |store| store.create_group(&region, &name, now, tags))
            .await?;
        Ok(b"{}".to_vec())
    }

    async fn delete_log_group(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DeleteLogGroupRequest = decode(call)?;
        let region = call.context.region.clone();
        let name = request.log_group_name.unwrap_or_default();
        call.authorize(
            "logs:DeleteLogGroup",
            vec![self.group_arn(&region, &name)],
            Vec::new(),
        )?;
        self.on_store(move |store| store.delete_group(&region, &name))
            .await?;
        Ok(b"{}".to_vec())
    }

    /// Groups in name order, by prefix or by a case-insensitive substring pattern; the token
    /// is the last name listed.
    async fn describe_log_groups(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeLogGroupsRequest = decode(call)?;
        let region = call.context.region.clone();
        call.authorize(
            "logs:DescribeLogGroups",
            vec![format!(
                "arn:aws:logs:{region}:{}:log-group:*",
                self.account_id
            )],
            Vec::new(),
        )?;
        if request.log_group_name_prefix.is_some() && request.log_group_name_pattern.is_some() {
            return Err(invalid(
                "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.",
            ));
        }
        let after = match &request.next_token {
            Some(token) => Some(
                decode_page_token("groups", token)
                    .map_err(error)?
                    .to_owned(),
            ),
            None => None,
        };
        let limit = request.limit.map_or(MAX_DESCRIBE, |l| l as usize);
        let (prefix, pattern, listed_region) = (
            request.log_group_name_prefix.clone(),
            request.log_group_name_pattern.clone(),
            region.clone(),
        );
        // Only STANDARD groups exist here.
        if request
            .log_group_class
            .as_deref()
            .is_some_and(|class| class != "STANDARD")
        {
            return Ok(encode(&wire::DescribeLogGroupsResponse {
                log_groups: Some(Vec::new()),
                next_token: None,
            }));
        }
        let named: Option<Vec<String>> = request
            .log_group_identifiers
            .as_ref()
            .map(|identifiers| {
                identifiers
                    .iter()
                    .map(|identifier| {
                        if identifier.starts_with("arn:") {
                            self.group_of_arn(&region, identifier)
                        } else {
                            Ok(identifier.clone())
                        }
                    })
                    .collect::<Result<_, _>>()
            })
            .transpose()?;
        let mut groups = self
            .on_store(move |store| match named {
                // The groups named, in name order, those that exist.
                Some(mut names) => {
                    names.sort();
                    names.dedup();
                    let mut found = Vec::new();
                    for name in names
                        .iter()
                        .filter(|name| after.as_ref().is_none_or(|after| *name > after))
                    {
                        found.extend(store.group(&listed_region, name)?);
                        if found.len() > limit {
                            break;
                        }
                    }
                    Ok(found)
                }
                None => store.groups(
                    &listed_region,
                    prefix.as_deref(),
                    pattern.as_deref(),
                    after.as_deref(),
                    limit + 1,
                ),
            })
            .await?;
        let next_token = (groups.len() > limit).then(|| {
            groups.truncate(limit);
            encode_page_token("groups", &groups[limit - 1].name)
        });
        let log_groups = groups
            .into_iter()
            .map(|info| self.describe_group(&region, info))
            .collect();
        Ok(encode(&wire::DescribeLogGroupsResponse {
            log_groups: Some(log_groups),
            next_token,
        }))
    }

    async fn create_log_stream(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::CreateLogStreamRequest = decode(call)?;
        let region = call.context.region.clone();
        let group = request.log_group_name.unwrap_or_default();
        let stream = request.log_stream_name.unwrap_or_default();
        call.authorize(
            "logs:CreateLogStream",
            vec![self.stream_arn(&region, &group, &stream)],
            Vec::new(),
        )?;
        berth_logs::check_stream_name(&stream).map_err(error)?;
        let now = now_ms(call);
        self.on_store(move |store| store.create_stream(&region, &group, &stream, now))
            .await?;
        Ok(b"{}".to_vec())
    }

    async fn delete_log_stream(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DeleteLogStreamRequest = decode(call)?;
        let region = call.context.region.clone();
        let group = request.log_group_name.unwrap_or_default();
        let stream = request.log_stream_name.unwrap_or_default();
        call.authorize(
            "logs:DeleteLogStream",
            vec![self.stream_arn(&region, &group, &stream)],
            Vec::new(),
        )?;
        self.on_store(move |store| store.delete_stream(&region, &group, &stream))
            .await?;
        Ok(b"{}".to_vec())
    }

    /// A group's streams by name or by last event time, either way up or down; the token
    /// counts the streams already listed.
    async fn describe_log_streams(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DescribeLogStreamsRequest = decode(call)?;
        let region = call.context.region.clone();
        let group = self.group_named(
            &region,
            request.log_group_name.as_ref(),
            request.log_group_identifier.as_ref(),
        )?;
        call.authorize(
            "logs:DescribeLogStreams",
            vec![self.group_arn(&region, &group)],
            Vec::new(),
        )?;
        let order = match request.order_by.as_deref() {
            Some("LastEventTime") => StreamOrder::LastEventTime,
            _ => StreamOrder::Name,
        };
        if order == StreamOrder::LastEventTime && request.log_stream_name_prefix.is_some() {
            return Err(invalid(
                "Cannot order by LastEventTime with a logStreamNamePrefix.",
            ));
        }
        let offset = match &request.next_token {
            Some(token) => decode_page_token("streams", token)
                .map_err(error)?
                .parse::<usize>()
                .map_err(|_| invalid("The specified nextToken is invalid."))?,
            None => 0,
        };
        let limit = request.limit.map_or(MAX_DESCRIBE, |l| l as usize);
        let listing = StreamListing {
            prefix: request.log_stream_name_prefix.clone(),
            order,
            descending: request.descending.unwrap_or(false),
            offset,
            limit: limit + 1,
        };
        let (listed_region, listed_group) = (region.clone(), group.clone());
        let mut streams = self
            .on_store(move |store| store.streams(&listed_region, &listed_group, &listing))
            .await?;
        let next_token = (streams.len() > limit).then(|| {
            streams.truncate(limit);
            encode_page_token("streams", &(offset + limit).to_string())
        });
        let log_streams = streams
            .into_iter()
            .map(|info| wire::LogStream {
                arn: Some(self.stream_arn(&region, &group, &info.name)),
                creation_time: Some(info.creation_time),
                first_event_timestamp: info.first_event_timestamp,
                last_event_timestamp: info.last_event_timestamp,
                last_ingestion_time: info.last_ingestion_time,
                stored_bytes: Some(info.stored_bytes),
                log_stream_name: Some(info.name),
                ..Default::default()
            })
            .collect();
        Ok(encode(&wire::DescribeLogStreamsResponse {
            log_streams: Some(log_streams),
            next_token,
        }))
    }

    /// Stores the events CloudWatch Logs would accept; the sequence token is ignored, as it
    /// now is, and the rejected ones are reported by index.
    async fn put_log_events(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::PutLogEventsRequest = decode(call)?;
        let region = call.context.region.clone();
        let group = request.log_group_name.unwrap_or_default();
        let stream = request.log_stream_name.unwrap_or_default();
        call.authorize(
            "logs:PutLogEvents",
            vec![self.stream_arn(&region, &group, &stream)],
            Vec::new(),
        )?;
        let events: Vec<LogEvent> = request
            .log_events
            .unwrap_or_default()
            .into_iter()
            .map(|event| LogEvent {
                timestamp: event.timestamp.unwrap_or_default(),
                message: event.message.unwrap_or_default(),
            })
            .collect();
        let verdict = self
            .logs
            .put(&region, &group, &stream, events, now_ms(call), false)
            .await
            .map_err(error)?;
        let index = |i: Option<usize>| i.map(|i| i as i32);
        let rejected = (verdict.too_old_end.is_some()
            || verdict.expired_end.is_some()
            || verdict.too_new_start.is_some())
        .then(|| wire::RejectedLogEventsInfo {
            too_old_log_event_end_index: index(verdict.too_old_end),
            expired_log_event_end_index: index(verdict.expired_end),
            too_new_log_event_start_index: index(verdict.too_new_start),
        });
        Ok(encode(&wire::PutLogEventsResponse {
            rejected_log_events_info: rejected,
            ..Default::default()
        }))
    }

    /// A stream's events in a time range: from the head (`startFromHead`), from the tail (the
    /// default: the last events), or on from a token. `nextForwardToken` follows the last
    /// event returned and `nextBackwardToken` precedes the first; a read that finds nothing
    /// hands back the position it started from, so clients see the same token and stop.
    async fn get_log_events(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::GetLogEventsRequest = decode(call)?;
        let region = call.context.region.clone();
        let group = self.group_named(
            &region,
            request.log_group_name.as_ref(),
            request.log_group_identifier.as_ref(),
        )?;
        let stream = request.log_stream_name.clone().unwrap_or_default();
        call.authorize(
            "logs:GetLogEvents",
            vec![self.stream_arn(&region, &group, &stream)],
            Vec::new(),
        )?;
        let end_of_stream = Position {
            timestamp: i64::MAX,
            sequence: i64::MAX,
        };
        let (from, direction) = match &request.next_token {
            Some(token) => match StreamToken::decode(token).map_err(error)? {
                StreamToken::Forward(position) => (position, Direction::Forward),
                StreamToken::Backward(position) => (position, Direction::Backward),
            },
            None if request.start_from_head.unwrap_or(false) => {
                (Position::START, Direction::Forward)
            }
            None => (end_of_stream, Direction::Backward),
        };
        let read = StreamRead {
            from,
            direction,
            start: request.start_time.unwrap_or(0),
            end: request.end_time.unwrap_or(i64::MAX),
            limit: request.limit.map_or(MAX_EVENTS_PER_PAGE, |l| l as usize),
        };
        let mut events = self
            .on_store(move |store| store.read_stream(&region, &group, &stream, &read))
            .await?;
        // Keep within the response's size, dropping the events farthest from where the read
        // started.
        let mut bytes = 0;
        let fits = |e: &store::StoredEvent, bytes: &mut usize| {
            *bytes += e.message.len() + berth_logs::EVENT_OVERHEAD_BYTES;
            *bytes <= MAX_PAGE_BYTES
        };
        match direction {
            Direction::Forward => {
                let keep = events.iter().take_while(|e| fits(e, &mut bytes)).count();
                events.truncate(keep);
            }
            Direction::Backward => {
                let keep = events
                    .iter()
                    .rev()
                    .take_while(|e| fits(e, &mut bytes))
                    .count();
                events.drain(..events.len() - keep);
            }
        }
        let (forward, backward) = match (events.first(), events.last()) {
            (Some(first), Some(last)) => (last.position, first.position),
            _ => (from, from),
        };
        Ok(encode(&wire::GetLogEventsResponse {
            events: Some(
                events
                    .into_iter()
                    .map(|e| wire::OutputLogEvent {
                        timestamp: Some(e.position.timestamp),
                        message: Some(e.message),
                        ingestion_time: Some(e.ingestion_time),
                    })
                    .collect(),
            ),
            next_forward_token: Some(StreamToken::Forward(forward).encode()),
            next_backward_token: Some(StreamToken::Backward(backward).encode()),
        }))
    }

    /// A group's events matching a filter pattern, interleaved by time across the chosen
    /// streams. The token is where the previous page stopped reading.
    async fn filter_log_events(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::FilterLogEventsRequest = decode(call)?;
        let region = call.context.region.clone();
        let group = self.group_named(
            &region,
            request.log_group_name.as_ref(),
            request.log_group_identifier.as_ref(),
        )?;
        call.authorize(
            "logs:FilterLogEvents",
            vec![self.group_arn(&region, &group)],
            Vec::new(),
        )?;
        if request.log_stream_names.is_some() && request.log_stream_name_prefix.is_some() {
            return Err(invalid(
                "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.",
            ));
        }
        let pattern =
            FilterPattern::parse(request.filter_pattern.as_deref().unwrap_or("")).map_err(error)?;
        let after = match &request.next_token {
            Some(token) => {
                match StreamToken::decode(decode_page_token("events", token).map_err(error)?)
                    .map_err(error)?
                {
                    StreamToken::Forward(position) => position,
                    StreamToken::Backward(_) => {
                        return Err(invalid("The specified nextToken is invalid."));
                    }
                }
            }
            None => Position::START,
        };
        let limit = request.limit.map_or(MAX_EVENTS_PER_PAGE, |l| l as usize);
        let mut scan = GroupScan {
            streams: request.log_stream_names.clone(),
            stream_prefix: request.log_stream_name_prefix.clone(),
            start: request.start_time.unwrap_or(0),
            end: request.end_time.unwrap_or(i64::MAX),
            after,
            limit: FILTER_CHUNK,
        };
        let (scan_region, scan_group) = (region.clone(), group.clone());
        let (found, next) = self
            .on_store(move |store| {
                let mut found = Vec::new();
                let mut bytes = 0;
                let mut scanned = 0;
                loop {
                    let chunk = store.scan_group(&scan_region, &scan_group, &scan)?;
                    let exhausted = chunk.len() < scan.limit;
                    for event in chunk {
                        scanned += 1;
                        scan.after = event.position;
                        if pattern.matches(&event.message) {
                            bytes += event.message.len() + berth_logs::EVENT_OVERHEAD_BYTES;
                            found.push(event);
                            if found.len() == limit || bytes >= MAX_PAGE_BYTES {
                                return Ok((found, Some(scan.after)));
                            }
                        }
                    }
                    if exhausted {
                        return Ok((found, None));
                    }
                    if scanned >= FILTER_SCAN_BUDGET {
                        return Ok((found, Some(scan.after)));
                    }
                }
            })
            .await?;
        let listing = StreamListing {
            prefix: request.log_stream_name_prefix.clone(),
            order: StreamOrder::Name,
            descending: false,
            offset: 0,
            limit: 10_000,
        };
        let searched_group = group.clone();
        let searched = self
            .on_store(move |store| store.streams(&region, &searched_group, &listing))
            .await?
            .into_iter()
            .filter(|s| {
                request
                    .log_stream_names
                    .as_ref()
                    .is_none_or(|names| names.contains(&s.name))
            })
            .map(|s| wire::SearchedLogStream {
                log_stream_name: Some(s.name),
                searched_completely: Some(next.is_none()),
            })
            .collect();
        Ok(encode(&wire::FilterLogEventsResponse {
            events: Some(
                found
                    .into_iter()
                    .map(|e| wire::FilteredLogEvent {
                        event_id: Some(format!(
                            "{:020}{:020}",
                            e.position.timestamp, e.position.sequence
                        )),
                        log_stream_name: Some(e.stream),
                        timestamp: Some(e.position.timestamp),
                        message: Some(e.message),
                        ingestion_time: Some(e.ingestion_time),
                    })
                    .collect(),
            ),
            searched_log_streams: Some(searched),
            next_token: next.map(|position| {
                encode_page_token("events", &StreamToken::Forward(position).encode())
            }),
        }))
    }

    async fn put_retention_policy(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::PutRetentionPolicyRequest = decode(call)?;
        let region = call.context.region.clone();
        let group = request.log_group_name.unwrap_or_default();
        call.authorize(
            "logs:PutRetentionPolicy",
            vec![self.group_arn(&region, &group)],
            Vec::new(),
        )?;
        let days = request.retention_in_days.unwrap_or_default();
        berth_logs::check_retention(days).map_err(error)?;
        self.on_store(move |store| store.set_retention(&region, &group, Some(days)))
            .await?;
        self.logs.request_sweep();
        Ok(b"{}".to_vec())
    }

    async fn delete_retention_policy(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::DeleteRetentionPolicyRequest = decode(call)?;
        let region = call.context.region.clone();
        let group = request.log_group_name.unwrap_or_default();
        call.authorize(
            "logs:DeleteRetentionPolicy",
            vec![self.group_arn(&region, &group)],
            Vec::new(),
        )?;
        self.on_store(move |store| store.set_retention(&region, &group, None))
            .await?;
        Ok(b"{}".to_vec())
    }

    async fn change_tags(
        &self,
        region: String,
        group: String,
        change: TagChange,
    ) -> Result<Vec<u8>, AwsError> {
        self.on_store(move |store| store.update_tags(&region, &group, change))
            .await?;
        Ok(b"{}".to_vec())
    }

    async fn group_tags(
        &self,
        region: String,
        group: String,
    ) -> Result<BTreeMap<String, String>, AwsError> {
        let info = self
            .on_store(move |store| store.group(&region, &group))
            .await?
            .ok_or_else(|| error(LogsError::group_not_found()))?;
        Ok(info.tags)
    }

    async fn tag_log_group(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::TagLogGroupRequest = decode(call)?;
        let region = call.context.region.clone();
        let group = request.log_group_name.unwrap_or_default();
        call.authorize(
            "logs:TagLogGroup",
            vec![self.group_arn(&region, &group)],
            tag_conditions(request.tags.as_ref()),
        )?;
        let added = request.tags.unwrap_or_default();
        self.change_tags(region, group, Box::new(move |tags| add_tags(tags, added)))
            .await
    }

    async fn untag_log_group(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::UntagLogGroupRequest = decode(call)?;
        let region = call.context.region.clone();
        let group = request.log_group_name.unwrap_or_default();
        call.authorize(
            "logs:UntagLogGroup",
            vec![self.group_arn(&region, &group)],
            Vec::new(),
        )?;
        let removed = request.tags.unwrap_or_default();
        self.change_tags(
            region,
            group,
            Box::new(move |tags| {
                tags.retain(|key, _| !removed.contains(key));
                Ok(())
            }),
        )
        .await
    }

    async fn list_tags_log_group(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::ListTagsLogGroupRequest = decode(call)?;
        let region = call.context.region.clone();
        let group = request.log_group_name.unwrap_or_default();
        call.authorize(
            "logs:ListTagsLogGroup",
            vec![self.group_arn(&region, &group)],
            Vec::new(),
        )?;
        let tags = self.group_tags(region, group).await?;
        Ok(encode(&wire::ListTagsLogGroupResponse { tags: Some(tags) }))
    }

    async fn tag_resource(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::TagResourceRequest = decode(call)?;
        let region = call.context.region.clone();
        let arn = request.resource_arn.clone().unwrap_or_default();
        call.authorize(
            "logs:TagResource",
            vec![arn.clone()],
            tag_conditions(request.tags.as_ref()),
        )?;
        let group = self.group_of_arn(&region, &arn)?;
        let added = request.tags.unwrap_or_default();
        self.change_tags(region, group, Box::new(move |tags| add_tags(tags, added)))
            .await
    }

    async fn untag_resource(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::UntagResourceRequest = decode(call)?;
        let region = call.context.region.clone();
        let arn = request.resource_arn.clone().unwrap_or_default();
        call.authorize("logs:UntagResource", vec![arn.clone()], Vec::new())?;
        let group = self.group_of_arn(&region, &arn)?;
        let removed = request.tag_keys.unwrap_or_default();
        self.change_tags(
            region,
            group,
            Box::new(move |tags| {
                tags.retain(|key, _| !removed.contains(key));
                Ok(())
            }),
        )
        .await
    }

    async fn list_tags_for_resource(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let request: wire::ListTagsForResourceRequest = decode(call)?;
        let region = call.context.region.clone();
        let arn = request.resource_arn.clone().unwrap_or_default();
        call.authorize("logs:ListTagsForResource", vec![arn.clone()], Vec::new())?;
        let group = self.group_of_arn(&region, &arn)?;
        let tags = self.group_tags(region, group).await?;
        Ok(encode(&wire::ListTagsForResourceResponse {
            tags: Some(tags),
        }))
    }
}

#[async_trait]
impl Service for LogsService {
    fn model(&self) -> &'static ServiceModel {
        &wire::MODEL
    }

    fn streams(&self, operation: &str) -> bool {
        operation == "StartLiveTail"
    }

    async fn stream(&self, call: &Call<'_>) -> Result<EventStream, AwsError> {
        self.start_live_tail(call).await
    }

    async fn call(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        match call.operation {
            "CreateLogGroup" => self.create_log_group(call).await,
            "DeleteLogGroup" => self.delete_log_group(call).await,
            "DescribeLogGroups" => self.describe_log_groups(call).await,
            "CreateLogStream" => self.create_log_stream(call).await,
            "DeleteLogStream" => self.delete_log_stream(call).await,
            "DescribeLogStreams" => self.describe_log_streams(call).await,
            "PutLogEvents" => self.put_log_events(call).await,
            "GetLogEvents" => self.get_log_events(call).await,
            "FilterLogEvents" => self.filter_log_events(call).await,
            "PutRetentionPolicy" => self.put_retention_policy(call).await,
            "DeleteRetentionPolicy" => self.delete_retention_policy(call).await,
            "TagLogGroup" => self.tag_log_group(call).await,
            "UntagLogGroup" => self.untag_log_group(call).await,
            "ListTagsLogGroup" => self.list_tags_log_group(call).await,
            "TagResource" => self.tag_resource(call).await,
            "UntagResource" => self.untag_resource(call).await,
            "ListTagsForResource" => self.list_tags_for_resource(call).await,
            other => {
                call.authorize(&format!("logs:{other}"), Vec::new(), Vec::new())?;
                Err(AwsError::new(
                    400,
                    "UnknownOperationException",
                    format!("The operation {other} is not supported by Berth's CloudWatch Logs."),
                ))
            }
        }
    }
}
