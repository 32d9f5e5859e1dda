//! The log store: where log groups, their streams and their events live, apart from the state
//! store, so that a heavy stream never waits behind (or slows) the ECS API's transactions.
//! [`LogStore`] is what the API and other crates need of it; [`crate::sqlite::SqliteLogStore`]
//! is the embedded implementation. Every call blocks until it is done (writes: until durable),
//! so async callers run it on the blocking pool.

use std::collections::BTreeMap;

use berth_logs::{LogsError, Position};

/// A log group as the store keeps it. Times are milliseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    pub name: String,
    pub creation_time: i64,
    pub retention_days: Option<i32>,
    pub tags: BTreeMap<String, String>,
    /// The UTF-8 bytes of the messages it holds.
    pub stored_bytes: i64,
}

/// A log stream as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    pub name: String,
    pub creation_time: i64,
    pub first_event_timestamp: Option<i64>,
    pub last_event_timestamp: Option<i64>,
    pub last_ingestion_time: Option<i64>,
    pub stored_bytes: i64,
}

/// One stored event; `position` orders it within its stream and its group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub stream: String,
    pub position: Position,
    pub ingestion_time: i64,
    pub message: String,
}

/// How DescribeLogStreams orders a group's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOrder {
    Name,
    /// By the last event's timestamp (streams without events first), then name.
    LastEventTime,
}

/// Which of a group's streams to list, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamListing {
    pub prefix: Option<String>,
    pub order: StreamOrder,
    pub descending: bool,
    /// Skip this many streams of the ordered listing (the paging token).
    pub offset: usize,
    pub limit: usize,
}

/// Which way a stream is read from a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The events after the position, oldest first.
    Forward,
    /// The last events before the position (still answered oldest first).
    Backward,
}

/// Events of one stream: those in `[start, end)` of timestamps, from `from` in `direction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamRead {
    pub from: Position,
    pub direction: Direction,
    pub start: i64,
    pub end: i64,
    pub limit: usize,
}

/// Events of a group, interleaved by timestamp across its streams: those in `[start, end)`
/// after `after`, oldest first; `streams` names the streams to read (None: all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupScan {
    pub streams: Option<Vec<String>>,
    pub stream_prefix: Option<String>,
    pub start: i64,
    pub end: i64,
    pub after: Position,
    pub limit: usize,
}

/// What a sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Events older than their group's retention.
    pub expired_events: u64,
    /// The oldest events, removed to bring the store under its size bound.
    pub evicted_events: u64,
}

/// What a tagging action does to a group's tags, inside the store's write.
pub type TagChange = Box<dyn FnOnce(&mut BTreeMap<String, String>) -> Result<(), LogsError> + Send>;

/// The log store of every region; `region` scopes each call, as a namespace does.
pub trait LogStore: Send + Sync + 'static {
    /// Creates a group; [`LogsError::ResourceAlreadyExists`] when it exists.
    fn create_group(
        &self,
        region: &str,
        name: &str,
        now: i64,
        tags: BTreeMap<String, String>,
    ) -> Result<(), LogsError>;
    /// Deletes a group with its streams and events.
    fn delete_group(&self, region: &str, name: &str) -> Result<(), LogsError>;
    fn group(&self, region: &str, name: &str) -> Result<Option<GroupInfo>, LogsError>;
    /// Groups in name order, after `after`, whose names start with `prefix` or contain
    /// `pattern` (case-insensitively, as DescribeLogGroups' logGroupNamePattern matches).
    fn groups(
        &self,
        region: &str,
        prefix: Option<&str>,
        pattern: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GroupInfo>, LogsError>;
    fn set_retention(&self, region: &str, name: &str, days: Option<i32>) -> Result<(), LogsError>;
    /// Replaces the group's tags with what `change` makes of them.
    fn update_tags(&self, region: &str, name: &str, change: TagChange) -> Result<(), LogsError>;

    fn create_stream(
        &self,
        region: &str,
        group: &str,
        name: &str,
        now: i64,
    ) -> Result<(), LogsError>;
    fn delete_stream(&self, region: &str, group: &str, name: &str) -> Result<(), LogsError>;
    fn streams(
        &self,
        region: &str,
        group: &str,
        listing: &StreamListing,
    ) -> Result<Vec<StreamInfo>, LogsError>;

    /// Appends `(timestamp, message)` events, in order, to a stream (created first when
    /// `create_stream` and missing), recording `now` as their ingestion time; returns once
    /// they are durable.
    fn append(
        &self,
        region: &str,
        group: &str,
        stream: &str,
        events: Vec<(i64, String)>,
        now: i64,
        create_stream: bool,
    ) -> Result<(), LogsError>;
    fn read_stream(
        &self,
        region: &str,
        group: &str,
        stream: &str,
        read: &StreamRead,
    ) -> Result<Vec<StoredEvent>, LogsError>;
    fn scan_group(
        &self,
        region: &str,
        group: &str,
        scan: &GroupScan,
    ) -> Result<Vec<StoredEvent>, LogsError>;

    /// Removes events older than their group's retention at `now`, then the oldest events
    /// until the store holds at most `max_bytes` of messages.
    fn sweep(&self, now: i64, max_bytes: u64) -> Result<SweepReport, LogsError>;
}
