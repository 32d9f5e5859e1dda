//! CloudWatch Logs' rules, without I/O: log group and stream names, what PutLogEvents accepts
//! of a batch, filter patterns ([`filter`]), GetLogEvents' forward and backward tokens, the
//! retention periods PutRetentionPolicy allows, and [`LogsError`] with CloudWatch Logs' codes.
//! Time is always an argument (milliseconds since the epoch, as the API counts it).

pub mod filter;

use berth_aws::ServiceError;

/// Milliseconds in an hour and a day, the units of PutLogEvents' windows.
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// PutLogEvents takes at most this many events in one batch.
pub const MAX_BATCH_EVENTS: usize = 10_000;
/// A batch counts its messages' UTF-8 bytes plus [`EVENT_OVERHEAD_BYTES`] per event, and may
/// be at most this large; a single event is bounded by the same figure.
pub const MAX_BATCH_BYTES: usize = 1_048_576;
pub const EVENT_OVERHEAD_BYTES: usize = 26;
/// Events more than this far in the future are rejected (`tooNewLogEventStartIndex`).
pub const MAX_FUTURE_MS: i64 = 2 * HOUR_MS;
/// Events more than this far in the past are rejected (`tooOldLogEventEndIndex`).
pub const MAX_PAST_MS: i64 = 14 * DAY_MS;
/// The accepted events of one batch may span at most this long.
pub const MAX_BATCH_SPAN_MS: i64 = DAY_MS;

/// A log group carries at most this many tags.
pub const MAX_TAGS: usize = 50;

/// The retention periods, in days, PutRetentionPolicy allows.
pub const RETENTION_DAYS: &[i32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// CloudWatch Logs' errors, with its codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogsError {
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceAlreadyExists(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    TooManyTags(String),
    /// The log store cannot take or answer the request now (its disk is full, its file is
    /// unreadable); the request may be retried.
    #[error("{0}")]
    ServiceUnavailable(String),
}

impl ServiceError for LogsError {
    fn code(&self) -> &str {
        match self {
            LogsError::ResourceNotFound(_) => "ResourceNotFoundException",
            LogsError::ResourceAlreadyExists(_) => "ResourceAlreadyExistsException",
            LogsError::InvalidParameter(_) => "InvalidParameterException",
            LogsError::LimitExceeded(_) => "LimitExceededException",
            LogsError::TooManyTags(_) => "TooManyTagsException",
            LogsError::ServiceUnavailable(_) => "ServiceUnavailableException",
        }
    }

    fn status(&self) -> u16 {
        match self {
            LogsError::ServiceUnavailable(_) => 500,
            _ => 400,
        }
    }
}

impl LogsError {
    pub fn group_not_found() -> LogsError {
        LogsError::ResourceNotFound("The specified log group does not exist.".into())
    }

    pub fn stream_not_found() -> LogsError {
        LogsError::ResourceNotFound("The specified log stream does not exist.".into())
    }

    pub fn group_exists() -> LogsError {
        LogsError::ResourceAlreadyExists("The specified log group already exists".into())
    }

    pub fn stream_exists() -> LogsError {
        LogsError::ResourceAlreadyExists("The specified log stream already exists".into())
    }
}

fn validation(value: &str, member: &str, constraint: &str) -> LogsError {
    LogsError::InvalidParameter(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
    ))
}

/// A log group name as CloudWatch Logs defines it: 1 to 512 of `A-Za-z0-9._-/#`, and not in
/// the `aws/` namespace AWS keeps for its own services.
pub fn check_group_name(name: &str) -> Result<(), LogsError> {
    if name.is_empty() || name.chars().count() > 512 {
        return Err(validation(
            name,
            "logGroupName",
            "Member must have length less than or equal to 512 and greater than or equal to 1",
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._-/#".contains(c);
    if !name.chars().all(allowed) {
        return Err(validation(
            name,
            "logGroupName",
            "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+",
        ));
    }
    if name.starts_with("aws/") {
        return Err(LogsError::InvalidParameter(
            "Log group names can't start with the string aws/".into(),
        ));
    }
    Ok(())
}

/// A log stream name: 1 to 512 characters, neither `:` nor `*`.
pub fn check_stream_name(name: &str) -> Result<(), LogsError> {
    if name.is_empty() || name.chars().count() > 512 {
        return Err(validation(
            name,
            "logStreamName",
            "Member must have length less than or equal to 512 and greater than or equal to 1",
        ));
    }
    if name.contains([':', '*']) {
        return Err(validation(
            name,
            "logStreamName",
            "Member must satisfy regular expression pattern: [^:*]*",
        ));
    }
    Ok(())
}

/// Whether `days` is a retention period PutRetentionPolicy accepts.
pub fn check_retention(days: i32) -> Result<(), LogsError> {
    if RETENTION_DAYS.contains(&days) {
        return Ok(());
    }
    let allowed: Vec<String> = RETENTION_DAYS.iter().map(i32::to_string).collect();
    Err(validation(
        &days.to_string(),
        "retentionInDays",
        &format!(
            "Member must satisfy enum value set: [{}]",
            allowed.join(", ")
        ),
    ))
}

/// The oldest timestamp a group with `retention_days` keeps at `now_ms`.
pub fn retention_cutoff(now_ms: i64, retention_days: i32) -> i64 {
    now_ms - i64::from(retention_days) * DAY_MS
}

/// What PutLogEvents does with a batch: the events in `accepted` (a range of the batch's
/// indexes) are stored; the others are reported in `rejectedLogEventsInfo` with these indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchVerdict {
    pub accepted: std::ops::Range<usize>,
    /// Events before this index are more than 14 days old (exclusive end).
    pub too_old_end: Option<usize>,
    /// Events before this index precede the group's retention period (exclusive end).
    pub expired_end: Option<usize>,
    /// Events from this index on are more than 2 hours in the future (inclusive start).
    pub too_new_start: Option<usize>,
}

/// Judges a batch of `(timestamp, message)` as PutLogEvents does at `now_ms`, for a group
/// keeping `retention_days` (None: forever). The batch is refused whole when it is empty, has
/// too many events, is too large, is out of chronological order, or its acceptable events
/// span more than 24 hours; events too old, expired or too new are rejected one by one and the
/// rest stored.
pub fn judge_batch(
    events: &[(i64, &str)],
    now_ms: i64,
    retention_days: Option<i32>,
) -> Result<BatchVerdict, LogsError> {
    if events.is_empty() || events.len() > MAX_BATCH_EVENTS {
        return Err(validation(
            &format!("{} events", events.len()),
            "logEvents",
            "Member must have length less than or equal to 10000 and greater than or equal to 1",
        ));
    }
    let size: usize = events
        .iter()
        .map(|(_, message)| message.len() + EVENT_OVERHEAD_BYTES)
        .sum();
    if size > MAX_BATCH_BYTES {
        return Err(LogsError::InvalidParameter(format!(
            "Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}"
        )));
    }
    if events.windows(2).any(|pair| pair[1].0 < pair[0].0) {
        return Err(LogsError::InvalidParameter(
            "Log events in a single PutLogEvents request must be in chronological order.".into(),
        ));
    }
    // The batch is sorted, so each rejected kind is a prefix or a suffix.
    let too_old = events
        .iter()
        .take_while(|(ts, _)| *ts < now_ms - MAX_PAST_MS)
        .count();
    let expired = match retention_days {
        Some(days) => events
            .iter()
            .take_while(|(ts, _)| *ts < retention_cutoff(now_ms, days))
            .count(),
        None => 0,
    };
    let too_new_start = events
        .iter()
        .position(|(ts, _)| *ts > now_ms + MAX_FUTURE_MS)
        .unwrap_or(events.len());
    let start = too_old.max(expired).min(too_new_start);
    let accepted = start..too_new_start;
    if let (Some(first), Some(last)) = (
        events[accepted.clone()].first(),
        events[accepted.clone()].last(),
    ) && last.0 - first.0 > MAX_BATCH_SPAN_MS
    {
        return Err(LogsError::InvalidParameter(
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours."
                .into(),
        ));
    }
    Ok(BatchVerdict {
        accepted,
        too_old_end: (too_old > 0).then_some(too_old),
        expired_end: (expired > 0).then_some(expired),
        too_new_start: (too_new_start < events.len()).then_some(too_new_start),
    })
}

/// A place in a log stream's events, between two of them: events are ordered by timestamp,
/// then by the order they were stored in (`sequence`, unique in the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub timestamp: i64,
    pub sequence: i64,
}

impl Position {
    /// Before every event.
    pub const START: Position = Position {
        timestamp: 0,
        sequence: 0,
    };
}

/// GetLogEvents' paging tokens: `f/…` reads on forward, after the position; `b/…` reads
/// backward, before it. Clients treat them as opaque, and compare them: reading on from the
/// end of a stream gives the same token back, which is how they know they are done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamToken {
    Forward(Position),
    Backward(Position),
}

impl StreamToken {
    pub fn encode(&self) -> String {
        let (direction, position) = match self {
            StreamToken::Forward(position) => ('f', position),
            StreamToken::Backward(position) => ('b', position),
        };
        format!(
            "{direction}/{:020}{:020}",
            position.timestamp, position.sequence
        )
    }

    pub fn decode(token: &str) -> Result<StreamToken, LogsError> {
        let invalid = || LogsError::InvalidParameter("The specified nextToken is invalid.".into());
        let (direction, digits) = token.split_once('/').ok_or_else(invalid)?;
        if digits.len() != 40 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let number = |text: &str| text.parse::<i64>().map_err(|_| invalid());
        let position = Position {
            timestamp: number(&digits[..20])?,
            sequence: number(&digits[20..])?,
        };
        match direction {
            "f" => Ok(StreamToken::Forward(position)),
            "b" => Ok(StreamToken::Backward(position)),
            _ => Err(invalid()),
        }
    }
}

/// FilterLogEvents' and the listings' paging token: where the previous page stopped, as an
/// opaque string (`position` for events, the last name listed for groups and streams).
pub fn encode_page_token(kind: &str, after: &str) -> String {
    format!("{kind}:{after}")
}

/// The `after` of a token [`encode_page_token`] made for `kind`.
pub fn decode_page_token<'a>(kind: &str, token: &'a str) -> Result<&'a str, LogsError> {
    token
        .strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(':'))
        .ok_or_else(|| LogsError::InvalidParameter("The specified nextToken is invalid.".into()))
}

#[cfg(test)]
mod tests;
