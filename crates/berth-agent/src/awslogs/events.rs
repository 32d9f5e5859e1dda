//! From Docker's log frames to PutLogEvents batches, as Docker's awslogs driver makes them:
//! frames joined into lines, lines grouped into multi-line events by a pattern, events split at
//! 256 KiB less CloudWatch's 26 bytes of overhead (never inside a UTF-8 character), and batches
//! bounded by CloudWatch Logs' limits.

use super::cursor::{Cursor, SentEvent};
use super::options::MultilinePattern;

/// CloudWatch Logs counts this many bytes per event on top of its message.
pub const EVENT_OVERHEAD_BYTES: usize = 26;
/// A PutLogEvents batch holds at most this many bytes, overhead included.
pub const MAX_BATCH_BYTES: usize = 1_048_576;
pub const MAX_BATCH_EVENTS: usize = 10_000;
/// The longest message one event carries (256 KiB with its overhead).
pub const MAX_EVENT_BYTES: usize = 262_144 - EVENT_OVERHEAD_BYTES;
/// A batch's events span at most 24 hours.
pub const MAX_BATCH_SPAN_MS: i64 = 24 * 60 * 60 * 1000;
/// The JSON request body the control plane reads at most (its gateway's limit): a batch within
/// CloudWatch's byte count can encode larger than that, since JSON escapes and field names do
/// not count there.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Room for the request's other members (group and stream names are at most 512 bytes each).
const BODY_ENVELOPE_BYTES: usize = 2048;
/// `{"message":"","timestamp":-9223372036854775808},` around each message.
const BODY_EVENT_BYTES: usize = 48;

/// One line of a container's output, whole (Docker splits long lines into partial frames).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub timestamp_ns: i64,
    /// Without its line break.
    pub text: String,
    /// The position of the line's last frame.
    pub cursor: Cursor,
}

/// Joins Docker's frames into lines: a frame not ending in a line break is part of a longer
/// line, which goes on in the next frame.
#[derive(Debug, Default)]
pub struct LineJoiner {
    partial: Option<(i64, Vec<u8>)>,
}

impl LineJoiner {
    /// Takes one frame: its timestamp, its bytes (line break included when it ends a line) and
    /// its cursor. Returns the line it completes (a whole line's bytes are moved into it).
    pub fn push(&mut self, timestamp_ns: i64, mut bytes: Vec<u8>, cursor: Cursor) -> Option<Line> {
        let complete = bytes.last() == Some(&b'\n');
        if complete {
            bytes.pop();
        }
        let (started, joined) = match self.partial.take() {
            Some((started, mut joined)) => {
                joined.extend_from_slice(&bytes);
                (started, joined)
            }
            None => (timestamp_ns, bytes),
        };
        if !complete {
            self.partial = Some((started, joined));
            return None;
        }
        Some(Line {
            timestamp_ns: started,
            text: into_text(joined),
            cursor,
        })
    }

    /// The unfinished line when the log ends without a final line break.
    pub fn finish(&mut self, cursor: Cursor) -> Option<Line> {
        self.partial.take().map(|(timestamp_ns, bytes)| Line {
            timestamp_ns,
            text: into_text(bytes),
            cursor,
        })
    }
}

/// A line's bytes as text: moved when they are UTF-8, invalid sequences replaced otherwise.
fn into_text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes)
        .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned())
}

/// One event to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub timestamp_ms: i64,
    pub message: String,
    /// Where the log stands once this event is stored; `None` for the first parts of a split
    /// line, which do not finish it.
    pub cursor: Option<Cursor>,
}

/// Splits a message into events of at most [`MAX_EVENT_BYTES`] at character boundaries; only
/// the last part carries the cursor. A message that fits is moved, not copied.
pub fn split(timestamp_ms: i64, message: String, cursor: Cursor, out: &mut Vec<Event>) {
    if message.len() <= MAX_EVENT_BYTES {
        if !message.is_empty() {
            out.push(Event {
                timestamp_ms,
                message,
                cursor: Some(cursor),
            });
        }
        return;
    }
    let mut rest = message.as_str();
    while !rest.is_empty() {
        let mut end = rest.len().min(MAX_EVENT_BYTES);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (part, after) = rest.split_at(end);
        rest = after;
        out.push(Event {
            timestamp_ms,
            message: part.to_string(),
            cursor: rest.is_empty().then_some(cursor),
        });
    }
}

/// Turns lines into events: one per line, or with a multi-line pattern one per group of lines
/// starting with a line that matches it.
#[derive(Debug)]
pub struct Grouper {
    pattern: Option<MultilinePattern>,
    pending: Option<Pending>,
}

#[derive(Debug)]
struct Pending {
    timestamp_ms: i64,
    text: String,
    cursor: Cursor,
    /// When its first line was written, to flush an event no line follows.
    started_ns: i64,
}

impl Grouper {
    pub fn new(pattern: Option<MultilinePattern>) -> Grouper {
        Grouper {
            pattern,
            pending: None,
        }
    }

    /// Takes a line; appends the events it completes to `out`. Without a pattern an empty
    /// line is no event (Docker sends none). With one, every line keeps its line break, and an
    /// event that would outgrow [`MAX_EVENT_BYTES`] is sent before the line that would.
    pub fn push(&mut self, line: Line, out: &mut Vec<Event>) {
        let timestamp_ms = line.timestamp_ns.div_euclid(1_000_000);
        let Some(pattern) = &self.pattern else {
            split(timestamp_ms, line.text, line.cursor, out);
            return;
        };
        let starts_event = pattern.0.is_match(&line.text);
        let overflows = self
            .pending
            .as_ref()
            .is_some_and(|p| p.text.len() + line.text.len() > MAX_EVENT_BYTES);
        if starts_event || overflows {
            self.flush(out);
        }
        let pending = self.pending.get_or_insert_with(|| Pending {
            timestamp_ms,
            text: String::new(),
            cursor: line.cursor,
            started_ns: line.timestamp_ns,
        });
        pending.text.push_str(&line.text);
        if line.text.len() < MAX_EVENT_BYTES {
            pending.text.push('\n');
        }
        pending.cursor = line.cursor;
    }

    /// Sends the event being grouped if its first line is older than `max_age_ns` at `now_ns`
    /// (Docker waits one flush interval for more lines).
    pub fn flush_older_than(&mut self, now_ns: i64, max_age_ns: i64, out: &mut Vec<Event>) {
        if self
            .pending
            .as_ref()
            .is_some_and(|p| now_ns - p.started_ns >= max_age_ns || now_ns < p.started_ns)
        {
            self.flush(out);
        }
    }

    /// Sends the event being grouped, if any.
    pub fn flush(&mut self, out: &mut Vec<Event>) {
        if let Some(pending) = self.pending.take() {
            split(pending.timestamp_ms, pending.text, pending.cursor, out);
        }
    }
}

/// What JSON makes of a message's length (serde_json escapes quotes, backslashes and control
/// characters, nothing else).
fn json_len(message: &str) -> usize {
    message
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0x00..=0x1f => 6,
            _ => 1,
        })
        .sum()
}

/// Events gathered for one PutLogEvents call, within every limit.
#[derive(Debug)]
pub struct Batch {
    /// The largest JSON body the batch may encode to.
    body_limit: usize,
    events: Vec<Event>,
    counted_bytes: usize,
    body_bytes: usize,
    earliest_ms: i64,
    latest_ms: i64,
}

impl Batch {
    /// An empty batch whose JSON body stays within `body_limit` bytes ([`MAX_BODY_BYTES`] for
    /// Berth's control plane).
    pub fn new(body_limit: usize) -> Batch {
        Batch {
            body_limit,
            events: Vec::new(),
            counted_bytes: 0,
            body_bytes: 0,
            earliest_ms: 0,
            latest_ms: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Adds an event if the batch can take it; gives it back when the batch is full for it.
    pub fn add(&mut self, event: Event) -> Result<(), Event> {
        let counted = event.message.len() + EVENT_OVERHEAD_BYTES;
        let body = json_len(&event.message) + BODY_EVENT_BYTES;
        if !self.events.is_empty() {
            let earliest = self.earliest_ms.min(event.timestamp_ms);
            let latest = self.latest_ms.max(event.timestamp_ms);
            if self.events.len() >= MAX_BATCH_EVENTS
                || self.counted_bytes + counted > MAX_BATCH_BYTES
                || BODY_ENVELOPE_BYTES + self.body_bytes + body > self.body_limit
                || latest - earliest > MAX_BATCH_SPAN_MS
            {
                return Err(event);
            }
            self.earliest_ms = earliest;
            self.latest_ms = latest;
        } else {
            self.earliest_ms = event.timestamp_ms;
            self.latest_ms = event.timestamp_ms;
        }
        self.counted_bytes += counted;
        self.body_bytes += body;
        self.events.push(event);
        Ok(())
    }

    /// The batch as it is sent: events in chronological order (ties keep their order, as
    /// CloudWatch Logs requires and Docker sorts), with the cursor the batch ends at (`None`
    /// when it only holds the first parts of a split line) and its last event.
    pub fn seal(self) -> Sealed {
        let cursor = self.events.iter().rev().find_map(|e| e.cursor);
        let mut events: Vec<(i64, String)> = self
            .events
            .into_iter()
            .map(|e| (e.timestamp_ms, e.message))
            .collect();
        events.sort_by_key(|(timestamp, _)| *timestamp);
        Sealed { events, cursor }
    }
}

/// A batch ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// `(timestamp in ms, message)`, chronological.
    pub events: Vec<(i64, String)>,
    pub cursor: Option<Cursor>,
}

impl Sealed {
    pub fn last_event(&self) -> Option<SentEvent> {
        self.events.last().map(|(timestamp, message)| SentEvent {
            timestamp: *timestamp,
            message: message.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(timestamp_ns: i64) -> Cursor {
        Cursor {
            timestamp_ns,
            lines_at_timestamp: 1,
            file: None,
        }
    }

    fn line(timestamp_ms: i64, text: &str) -> Line {
        Line {
            timestamp_ns: timestamp_ms * 1_000_000,
            text: text.into(),
            cursor: at(timestamp_ms * 1_000_000),
        }
    }

    fn event(timestamp_ms: i64, message: &str) -> Event {
        Event {
            timestamp_ms,
            message: message.into(),
            cursor: Some(at(timestamp_ms * 1_000_000)),
        }
    }

    #[test]
    fn partial_frames_join_into_one_line_at_the_first_frames_time() {
        let mut joiner = LineJoiner::default();
        assert_eq!(joiner.push(1, b"hel".to_vec(), at(1)), None);
        assert_eq!(joiner.push(2, b"lo".to_vec(), at(2)), None);
        assert_eq!(
            joiner.push(3, b" world\n".to_vec(), at(3)),
            Some(Line {
                timestamp_ns: 1,
                text: "hello world".into(),
                cursor: at(3)
            })
        );
        assert_eq!(
            joiner.push(4, b"\xffok\n".to_vec(), at(4)).unwrap().text,
            "\u{fffd}ok"
        );
        assert_eq!(joiner.push(5, b"tail".to_vec(), at(5)), None);
        assert_eq!(joiner.finish(at(5)).unwrap().text, "tail");
        assert_eq!(joiner.finish(at(5)), None);
    }

    #[test]
    fn long_messages_split_at_character_boundaries_and_only_the_last_part_moves_the_cursor() {
        let long = format!("{}é{}", "a".repeat(MAX_EVENT_BYTES - 1), "b".repeat(10));
        let mut parts = Vec::new();
        split(7, long, at(9), &mut parts);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].message.len(), MAX_EVENT_BYTES - 1, "é is not cut");
        assert_eq!(parts[1].message, format!("é{}", "b".repeat(10)));
        assert_eq!((parts[0].cursor, parts[1].cursor), (None, Some(at(9))));
        assert!(parts.iter().all(|p| p.timestamp_ms == 7));
        let mut none = Vec::new();
        split(1, String::new(), at(1), &mut none);
        assert_eq!(none, Vec::new(), "an empty line is no event");
        let mut one = Vec::new();
        split(2, "short".into(), at(2_000_000), &mut one);
        assert_eq!(
            one,
            vec![event(2, "short")],
            "a message that fits is one event"
        );
    }

    #[test]
    fn without_a_pattern_each_line_is_an_event() {
        let mut grouper = Grouper::new(None);
        let mut out = Vec::new();
        grouper.push(line(1, "one"), &mut out);
        grouper.push(line(2, ""), &mut out);
        grouper.push(line(3, "three"), &mut out);
        assert_eq!(out, vec![event(1, "one"), event(3, "three")]);
    }

    #[test]
    fn a_pattern_groups_lines_until_the_next_match_or_the_flush_age() {
        let pattern = MultilinePattern(regex::Regex::new(r"^\d{4}-").unwrap());
        let mut grouper = Grouper::new(Some(pattern));
        let mut out = Vec::new();
        grouper.push(line(1, "2026-12-06 boom"), &mut out);
        grouper.push(line(2, "  at a"), &mut out);
        grouper.push(line(3, "  at b"), &mut out);
        assert!(out.is_empty(), "the event is still open");
        grouper.push(line(4, "2026-12-06 next"), &mut out);
        assert_eq!(
            out,
            vec![Event {
                timestamp_ms: 1,
                message: "2026-12-06 boom\n  at a\n  at b\n".into(),
                cursor: Some(at(3_000_000)),
            }]
        );
        out.clear();
        grouper.flush_older_than(4_000_000 + 999, 1_000, &mut out);
        assert!(out.is_empty(), "younger than the flush age");
        grouper.flush_older_than(4_000_000 + 1_000, 1_000, &mut out);
        assert_eq!(
            out,
            vec![Event {
                timestamp_ms: 4,
                message: "2026-12-06 next\n".into(),
                cursor: Some(at(4_000_000)),
            }]
        );
        out.clear();
        // Lines before any match form an event of their own.
        grouper.push(line(5, "orphan"), &mut out);
        grouper.flush(&mut out);
        assert_eq!(out, vec![event(5, "orphan\n")]);
    }

    #[test]
    fn a_group_that_would_outgrow_an_event_is_sent_first() {
        let pattern = MultilinePattern(regex::Regex::new("^start").unwrap());
        let mut grouper = Grouper::new(Some(pattern));
        let mut out = Vec::new();
        let half = "x".repeat(MAX_EVENT_BYTES / 2);
        grouper.push(line(1, "start"), &mut out);
        grouper.push(line(2, &half), &mut out);
        grouper.push(line(3, &half), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].message, format!("start\n{half}\n"));
        grouper.flush(&mut out);
        assert_eq!(out[1].message, format!("{half}\n"));
        assert_eq!(out[1].timestamp_ms, 3);
    }

    #[test]
    fn batches_stop_at_cloudwatchs_limits() {
        let mut batch = Batch::new(usize::MAX);
        for i in 0..MAX_BATCH_EVENTS {
            batch.add(event(i as i64, "x")).unwrap();
        }
        assert!(batch.add(event(0, "x")).is_err(), "10,000 events");

        // 1,048,576 bytes counting 26 per event: four events of 262,118 bytes fit exactly
        // CloudWatch's count, and a fifth byte does not.
        let mut by_bytes = Batch::new(usize::MAX);
        let big = "y".repeat(MAX_EVENT_BYTES);
        for _ in 0..4 {
            by_bytes.add(event(1, &big)).unwrap();
        }
        assert!(by_bytes.add(event(1, "!")).is_err());
        // Berth's gateway reads 1 MiB of body: the fourth event's JSON does not fit it.
        let mut by_body = Batch::new(MAX_BODY_BYTES);
        for _ in 0..3 {
            by_body.add(event(1, &big)).unwrap();
        }
        assert!(by_body.add(event(1, &big)).is_err());
        let mut counted = Batch::new(usize::MAX);
        let message = "z".repeat(1_000 - EVENT_OVERHEAD_BYTES);
        for _ in 0..1_000 {
            counted.add(event(1, &message)).unwrap();
        }
        assert_eq!(counted.len(), 1_000);
        assert!(
            counted
                .add(event(1, &"z".repeat(48_577 - EVENT_OVERHEAD_BYTES)))
                .is_err(),
            "one byte over 1,048,576"
        );
        counted
            .add(event(
                1,
                &"z".repeat(1_048_576 - 1_000_000 - EVENT_OVERHEAD_BYTES),
            ))
            .unwrap_or_else(|_| panic!("exactly 1,048,576 bytes fit CloudWatch's count"));

        let mut span = Batch::new(usize::MAX);
        span.add(event(0, "a")).unwrap();
        span.add(event(MAX_BATCH_SPAN_MS, "b")).unwrap();
        assert!(
            span.add(event(MAX_BATCH_SPAN_MS + 1, "c")).is_err(),
            "24 hours"
        );
    }

    #[test]
    fn escapes_count_towards_the_body() {
        assert_eq!(json_len("a\"b\\c\nd\u{1}"), 1 + 2 + 1 + 2 + 1 + 2 + 1 + 6);
        let mut batch = Batch::new(MAX_BODY_BYTES);
        let quotes = "\"".repeat(200_000);
        batch.add(event(1, &quotes)).unwrap();
        batch.add(event(1, &quotes)).unwrap();
        assert!(
            batch.add(event(1, &quotes)).is_err(),
            "600,000 counted bytes, but 1.2 MB of JSON"
        );
    }

    #[test]
    fn sealing_sorts_by_time_and_keeps_the_furthest_cursor() {
        let mut batch = Batch::new(MAX_BODY_BYTES);
        batch.add(event(5, "late stdout")).unwrap();
        batch.add(event(3, "early stderr")).unwrap();
        batch.add(event(5, "also late")).unwrap();
        batch
            .add(Event {
                timestamp_ms: 6,
                message: "split head".into(),
                cursor: None,
            })
            .unwrap();
        let sealed = batch.seal();
        assert_eq!(
            sealed.events,
            vec![
                (3, "early stderr".to_string()),
                (5, "late stdout".to_string()),
                (5, "also late".to_string()),
                (6, "split head".to_string()),
            ]
        );
        assert_eq!(sealed.cursor, Some(at(5_000_000)));
        assert_eq!(
            sealed.last_event(),
            Some(SentEvent {
                timestamp: 6,
                message: "split head".into()
            })
        );
    }
}
