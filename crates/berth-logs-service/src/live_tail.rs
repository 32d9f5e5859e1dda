//! StartLiveTail: a session that streams the events appended to up to ten log groups, as
//! CloudWatch Logs does: a `sessionStart` event, then every second a `sessionUpdate` with the
//! events ingested since (at most 500, sampled evenly when there are more, `sampled` telling
//! so), until the client goes away or three hours pass (`SessionTimeoutException`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use berth_aws::AwsError;
use berth_gateway::{Call, EventStream, StreamMessage};
use berth_logs::filter::FilterPattern;
use berth_logs_wire as wire;
use futures_util::StreamExt;
use tokio::sync::broadcast::{self, error::TryRecvError};
use tokio::time::Instant;

use crate::api::Appended;
use crate::{LogsService, decode, encode, error, invalid};

/// How often a session sends what arrived.
const UPDATE_EVERY: Duration = Duration::from_secs(1);
/// Events per `sessionUpdate`; more are sampled down to this many.
const MAX_EVENTS_PER_UPDATE: usize = 500;
/// Log groups one session may follow.
const MAX_GROUPS: usize = 10;
/// A session ends after three hours.
const SESSION_LIMIT: Duration = Duration::from_secs(3 * 60 * 60);

/// What one session follows: its groups (by name, with the identifier the client gave), the
/// streams within them, and the filter pattern.
struct Tail {
    region: String,
    groups: BTreeMap<String, String>,
    streams: Streams,
    pattern: FilterPattern,
}

enum Streams {
    All,
    Named(Vec<String>),
    Prefixed(Vec<String>),
}

impl Tail {
    /// The events of `batch` this session shows, as `sessionResults` entries.
    fn select(&self, batch: &Appended) -> Vec<wire::LiveTailSessionLogEvent> {
        if batch.region != self.region {
            return Vec::new();
        }
        let Some(identifier) = self.groups.get(&batch.group) else {
            return Vec::new();
        };
        let stream_matches = match &self.streams {
            Streams::All => true,
            Streams::Named(names) => names.contains(&batch.stream),
            Streams::Prefixed(prefixes) => prefixes.iter().any(|p| batch.stream.starts_with(p)),
        };
        if !stream_matches {
            return Vec::new();
        }
        batch
            .events
            .iter()
            .filter(|(_, message)| self.pattern.matches(message))
            .map(|(timestamp, message)| wire::LiveTailSessionLogEvent {
                log_group_identifier: Some(identifier.clone()),
                log_stream_name: Some(batch.stream.clone()),
                message: Some(message.clone()),
                timestamp: Some(*timestamp),
                ingestion_time: Some(batch.ingestion_time),
            })
            .collect()
    }
}

/// At most `limit` of `events`, evenly spread, and whether any were left out.
fn sample<T>(events: Vec<T>, limit: usize) -> (Vec<T>, bool) {
    let total = events.len();
    if total <= limit {
        return (events, false);
    }
    let kept = events
        .into_iter()
        .enumerate()
        .filter(|(index, _)| index * limit / total != (index + 1) * limit / total)
        .map(|(_, event)| event)
        .collect();
    (kept, true)
}

fn event<T: serde::Serialize>(event_type: &'static str, payload: &T) -> StreamMessage {
    StreamMessage::Event {
        event_type,
        payload: encode(payload),
    }
}

impl LogsService {
    pub(crate) async fn start_live_tail(&self, call: &Call<'_>) -> Result<EventStream, AwsError> {
        let request: wire::StartLiveTailRequest = decode(call)?;
        let region = call.context.region.clone();
        let identifiers = request.log_group_identifiers.clone().unwrap_or_default();
        call.authorize("logs:StartLiveTail", identifiers.clone(), Vec::new())?;
        if identifiers.is_empty() || identifiers.len() > MAX_GROUPS {
            return Err(invalid(format!(
                "logGroupIdentifiers must name 1 to {MAX_GROUPS} log groups."
            )));
        }
        let streams = match (&request.log_stream_names, &request.log_stream_name_prefixes) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "logStreamNames and logStreamNamePrefixes are mutually exclusive parameters.",
                ));
            }
            (Some(names), None) => Streams::Named(names.clone()),
            (None, Some(prefixes)) => Streams::Prefixed(prefixes.clone()),
            (None, None) => Streams::All,
        };
        if !matches!(streams, Streams::All) && identifiers.len() > 1 {
            return Err(invalid(
                "logStreamNames and logStreamNamePrefixes can only be used with a single log group.",
            ));
        }
        let mut groups = BTreeMap::new();
        for identifier in &identifiers {
            if !identifier.starts_with("arn:") || identifier.ends_with('*') {
                return Err(invalid(format!(
                    "Log group identifiers must be log group ARNs without a trailing '*': {identifier}"
                )));
            }
            let name = self.group_of_arn(&region, identifier)?;
            if !self
                .logs
                .group_exists(&region, &name)
                .await
                .map_err(error)?
            {
                return Err(error(berth_logs::LogsError::group_not_found()));
            }
            groups.insert(name, identifier.clone());
        }
        let pattern =
            FilterPattern::parse(request.log_event_filter_pattern.as_deref().unwrap_or(""))
                .map_err(error)?;
        // Subscribed before the session starts, so nothing appended after the answer is missed.
        let appended = self.logs.subscribe();
        let start = wire::LiveTailSessionStart {
            request_id: Some(call.context.request_id.clone()),
            session_id: Some(uuid::Uuid::new_v4().to_string()),
            log_group_identifiers: Some(identifiers),
            log_stream_names: request.log_stream_names,
            log_stream_name_prefixes: request.log_stream_name_prefixes,
            log_event_filter_pattern: request.log_event_filter_pattern,
        };
        let tail = Arc::new(Tail {
            region,
            groups,
            streams,
            pattern,
        });
        let started = Instant::now();
        let updates = futures_util::stream::unfold(
            Session {
                appended,
                next_update: started + UPDATE_EVERY,
                ends_at: started + SESSION_LIMIT,
                ended: false,
            },
            move |mut session| {
                let tail = tail.clone();
                async move {
                    if session.ended {
                        return None;
                    }
                    if session.next_update >= session.ends_at {
                        tokio::time::sleep_until(session.ends_at).await;
                        session.ended = true;
                        let timeout = wire::SessionTimeoutException {
                            message: Some("The Live Tail session timed out after 3 hours.".into()),
                        };
                        let message = StreamMessage::Exception {
                            exception_type: "SessionTimeoutException",
                            payload: encode(&timeout),
                        };
                        return Some((message, session));
                    }
                    tokio::time::sleep_until(session.next_update).await;
                    session.next_update += UPDATE_EVERY;
                    let update = session.update(&tail);
                    Some((event("sessionUpdate", &update), session))
                }
            },
        );
        Ok(
            futures_util::stream::once(async move { event("sessionStart", &start) })
                .chain(updates)
                .boxed(),
        )
    }
}

struct Session {
    appended: broadcast::Receiver<Arc<Appended>>,
    next_update: Instant,
    ends_at: Instant,
    ended: bool,
}

impl Session {
    /// What arrived since the last update, for this session.
    fn update(&mut self, tail: &Tail) -> wire::LiveTailSessionUpdate {
        let mut results = Vec::new();
        let mut missed = false;
        loop {
            match self.appended.try_recv() {
                Ok(batch) => results.extend(tail.select(&batch)),
                Err(TryRecvError::Lagged(_)) => missed = true,
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        let (results, sampled) = sample(results, MAX_EVENTS_PER_UPDATE);
        wire::LiveTailSessionUpdate {
            session_metadata: Some(wire::LiveTailSessionMetadata {
                sampled: Some(sampled || missed),
            }),
            session_results: Some(results),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_evenly_down_to_the_limit() {
        assert_eq!(sample(vec![1, 2, 3], 5), (vec![1, 2, 3], false));
        let (kept, sampled) = sample((0..1000).collect::<Vec<_>>(), 500);
        assert!(sampled);
        assert_eq!(kept.len(), 500);
        assert_eq!(&kept[..3], &[1, 3, 5]);
        let (kept, _) = sample((0..10).collect::<Vec<_>>(), 3);
        assert_eq!(kept, vec![3, 6, 9]);
    }

    #[test]
    fn selects_the_groups_streams_and_pattern_of_the_session() {
        let tail = Tail {
            region: "us-east-1".into(),
            groups: BTreeMap::from([(
                "web".into(),
                "arn:aws:logs:us-east-1:1:log-group:web".into(),
            )]),
            streams: Streams::Prefixed(vec!["ecs/app/".into()]),
            pattern: FilterPattern::parse("ERROR").unwrap(),
        };
        let batch = |region: &str, group: &str, stream: &str| Appended {
            region: region.into(),
            group: group.into(),
            stream: stream.into(),
            events: vec![
                (1, "ERROR one".into()),
                (2, "fine".into()),
                (3, "ERROR two".into()),
            ],
            ingestion_time: 9,
        };
        let selected = tail.select(&batch("us-east-1", "web", "ecs/app/t1"));
        let messages: Vec<_> = selected
            .iter()
            .map(|e| e.message.clone().unwrap())
            .collect();
        assert_eq!(messages, ["ERROR one", "ERROR two"]);
        assert_eq!(
            selected[0].log_group_identifier.as_deref(),
            Some("arn:aws:logs:us-east-1:1:log-group:web")
        );
        assert_eq!(selected[1].timestamp, Some(3));
        assert_eq!(selected[1].ingestion_time, Some(9));
        assert!(
            tail.select(&batch("us-east-1", "web", "other/t1"))
                .is_empty()
        );
        assert!(
            tail.select(&batch("us-east-1", "api", "ecs/app/t1"))
                .is_empty()
        );
        assert!(
            tail.select(&batch("eu-west-1", "web", "ecs/app/t1"))
                .is_empty()
        );
    }
}
