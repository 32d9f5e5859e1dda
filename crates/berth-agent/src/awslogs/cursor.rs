//! Where a container's shipping stands: the cursor of the last log line CloudWatch Logs
//! acknowledged, and the batch in flight, kept in one small file per container under the
//! agent's data directory (replaced atomically once per batch, never once per line).
//!
//! A line's place in Docker's log is its timestamp (nanoseconds) and how many lines before it
//! carry the same timestamp, so a cursor names one line exactly even though Docker's `since`
//! only takes whole seconds: the follower asks from the cursor's second and skips what the
//! cursor covers. A line read from Docker's log file also knows where it ends there (file and
//! offset), so a follower that finds the file again starts right after it instead.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::runtime::{LogFileOffset, LogResume};

/// A line in a container's log: its Docker timestamp and its rank among the lines with that
/// timestamp (1 for the first), and where it ends in Docker's log file when it was read from
/// there. The default cursor is before every line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cursor {
    pub timestamp_ns: i64,
    pub lines_at_timestamp: u32,
    /// Absent in cursors written before the agent read log files, and for lines read through
    /// the Engine API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<LogFileOffset>,
}

impl Cursor {
    /// Where following the log picks up after this line.
    pub fn resume(&self) -> LogResume {
        LogResume {
            timestamp_ns: self.timestamp_ns,
            file: self.file,
        }
    }

    /// The line's order in the log, by time.
    fn order(&self) -> (i64, u32) {
        (self.timestamp_ns, self.lines_at_timestamp)
    }
}

/// Gives each line of a followed log its [`Cursor`] and says which lines a resume cursor
/// already covers.
#[derive(Debug, Clone)]
pub struct Positions {
    last: Cursor,
    resume_after: Cursor,
    /// The log goes on right after `resume_after`: every line is new.
    exact: bool,
}

impl Positions {
    /// Positions for a log followed from `resume_after`: `exact` when it goes on right after
    /// it, else from the start of its second (or earlier).
    pub fn after(resume_after: Cursor, exact: bool) -> Positions {
        Positions {
            last: if exact {
                resume_after
            } else {
                Cursor::default()
            },
            resume_after,
            exact,
        }
    }

    /// The cursor of the next line, which has `timestamp_ns` and ends at `file` (when read from
    /// the log file), and whether it is new (not covered by the resume cursor).
    pub fn next(&mut self, timestamp_ns: i64, file: Option<LogFileOffset>) -> (Cursor, bool) {
        let lines_at_timestamp = if timestamp_ns == self.last.timestamp_ns {
            self.last.lines_at_timestamp + 1
        } else {
            1
        };
        self.last = Cursor {
            timestamp_ns,
            lines_at_timestamp,
            file,
        };
        let new = self.exact || self.last.order() > self.resume_after.order();
        (self.last, new)
    }
}

/// The last event of a batch, as GetLogEvents answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentEvent {
    pub timestamp: i64,
    pub message: String,
}

/// A batch sent (or about to be) whose answer was not seen yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InFlight {
    /// The cursor the batch ends at: once it landed, everything up to here is shipped.
    pub last: Cursor,
    /// The batch's last event, to recognise it as the stream's last after a crash.
    pub last_event: SentEvent,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippingState {
    /// Every line up to here is in CloudWatch Logs (or was dropped by the non-blocking buffer).
    pub acknowledged: Cursor,
    pub in_flight: Option<InFlight>,
}

impl ShippingState {
    /// Settles a batch left in flight by a previous run, given the stream's last event: when it
    /// is the batch's last event, the batch landed.
    pub fn settle(&mut self, stream_last_event: Option<&SentEvent>) {
        if let Some(in_flight) = self.in_flight.take()
            && stream_last_event == Some(&in_flight.last_event)
        {
            self.acknowledged = in_flight.last;
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CursorFileError {
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is corrupt")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("writing {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The file holding one container's [`ShippingState`].
pub fn state_path(dir: &Path, container_id: &str) -> PathBuf {
    dir.join(format!("{container_id}.json"))
}

/// Reads a container's shipping state; a container never shipped starts at the beginning.
pub fn load(path: &Path) -> Result<ShippingState, CursorFileError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| CursorFileError::Corrupt {
            path: path.to_path_buf(),
            source,
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(ShippingState::default()),
        Err(source) => Err(CursorFileError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Replaces the state atomically: write a temporary file, rename it over the old one.
///
/// Not fsynced: what the cursor promises is no loss and no repeat across restarts of the
/// agent, and a killed process's writes are in the kernel already. It is written before every
/// batch is sent, so two fsyncs here were two disk flushes on every batch's path (behind the
/// engine's own unflushed log writes, which an ext4 journal commit flushes first). After a
/// crash of the host itself the file may be older than the last batch, never newer (or
/// unreadable, then the log is shipped from its start): shipping resumes from an earlier line
/// and what follows it is sent again — at least once, still never lost.
pub fn store(path: &Path, state: &ShippingState) -> Result<(), CursorFileError> {
    let failed = |source| CursorFileError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(failed)?;
    let temporary = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec(state).expect("shipping state always encodes");
    std::fs::write(&temporary, bytes).map_err(failed)?;
    std::fs::rename(&temporary, path).map_err(failed)
}

/// Parses Docker's timestamp (RFC 3339 in UTC with up to nanoseconds, as the Engine API prints
/// it before each line) into nanoseconds since the epoch.
pub fn parse_docker_timestamp(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        if part.bytes().all(|b| b.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[10] != b'T' {
        return None;
    }
    if bytes[13] != b':' || bytes[16] != b':' {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let mut rest = &text[19..];
    let mut nanos = 0i64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let len = fraction
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(fraction.len());
        if len == 0 || len > 9 {
            return None;
        }
        nanos = fraction[..len].parse::<i64>().ok()? * 10i64.pow(9 - len as u32);
        rest = &fraction[len..];
    }
    let offset_seconds = match rest {
        "Z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (hours, minutes) = rest[1..].split_once(':')?;
            sign * (hours.parse::<i64>().ok()? * 3600 + minutes.parse::<i64>().ok()? * 60)
        }
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let days = berth_wire::codec::time::days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(seconds * 1_000_000_000 + nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(timestamp_ns: i64, lines_at_timestamp: u32) -> Cursor {
        Cursor {
            timestamp_ns,
            lines_at_timestamp,
            file: None,
        }
    }

    #[test]
    fn docker_timestamps_parse_to_nanoseconds() {
        assert_eq!(
            parse_docker_timestamp("1970-01-01T00:00:01.000000002Z"),
            Some(1_000_000_002)
        );
        assert_eq!(
            parse_docker_timestamp("2026-12-06T02:40:00.123456789Z"),
            Some(1_796_524_800_123_456_789)
        );
        assert_eq!(
            parse_docker_timestamp("2026-12-06T02:40:00.5Z"),
            Some(1_796_524_800_500_000_000)
        );
        assert_eq!(
            parse_docker_timestamp("2026-12-06T04:40:00+02:00"),
            Some(1_796_524_800_000_000_000)
        );
        assert_eq!(
            parse_docker_timestamp("2000-02-29T00:00:00Z"),
            Some(951_782_400_000_000_000)
        );
        assert_eq!(parse_docker_timestamp("yesterday"), None);
        assert_eq!(parse_docker_timestamp("2026-13-06T02:40:00Z"), None);
        assert_eq!(parse_docker_timestamp("2026-12-06T02:40:00.Z"), None);
    }

    #[test]
    fn positions_count_lines_sharing_a_timestamp_and_skip_what_the_cursor_covers() {
        let mut positions = Positions::after(at(20, 2), false);
        assert_eq!(positions.next(10, None), (at(10, 1), false));
        assert_eq!(positions.next(20, None), (at(20, 1), false));
        assert_eq!(positions.next(20, None), (at(20, 2), false));
        assert_eq!(positions.next(20, None), (at(20, 3), true));
        assert_eq!(positions.next(30, None), (at(30, 1), true));
        assert_eq!(positions.next(30, None), (at(30, 2), true));
        let mut fresh = Positions::after(Cursor::default(), false);
        assert_eq!(fresh.next(5, None), (at(5, 1), true));
        assert_eq!(at(1_999_999_999, 1).resume().timestamp_ns, 1_999_999_999);
    }

    #[test]
    fn a_log_going_on_right_after_the_cursor_counts_on_from_it() {
        let offset = |offset| LogFileOffset {
            device: 1,
            inode: 2,
            offset,
        };
        let resume = Cursor {
            file: Some(offset(100)),
            ..at(20, 2)
        };
        let mut positions = Positions::after(resume, true);
        assert_eq!(
            positions.next(20, Some(offset(150))),
            (
                Cursor {
                    file: Some(offset(150)),
                    ..at(20, 3)
                },
                true
            )
        );
        // Even a clock gone back: the file says the line is new.
        assert!(positions.next(10, Some(offset(190))).1);
        assert_eq!(resume.resume().file, Some(offset(100)));
    }

    #[test]
    fn cursors_written_before_log_files_were_read_still_load() {
        let old: Cursor =
            serde_json::from_str(r#"{"timestampNs":5,"linesAtTimestamp":2}"#).unwrap();
        assert_eq!(old, at(5, 2));
        assert_eq!(
            serde_json::to_string(&old).unwrap(),
            r#"{"timestampNs":5,"linesAtTimestamp":2}"#
        );
    }

    #[test]
    fn a_batch_in_flight_counts_only_when_it_is_the_streams_last() {
        let in_flight = InFlight {
            last: at(50, 1),
            last_event: SentEvent {
                timestamp: 0,
                message: "last".into(),
            },
        };
        let before = ShippingState {
            acknowledged: at(40, 1),
            in_flight: Some(in_flight.clone()),
        };
        let mut landed = before.clone();
        landed.settle(Some(&in_flight.last_event));
        assert_eq!(
            landed,
            ShippingState {
                acknowledged: at(50, 1),
                in_flight: None
            }
        );
        let mut lost = before.clone();
        let older = SentEvent {
            timestamp: 0,
            message: "earlier".into(),
        };
        lost.settle(Some(&older));
        assert_eq!(lost.acknowledged, at(40, 1));
        assert_eq!(lost.in_flight, None);
        let mut empty_stream = before;
        empty_stream.settle(None);
        assert_eq!(empty_stream.acknowledged, at(40, 1));
    }

    #[test]
    fn the_state_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = state_path(&dir.path().join("awslogs"), "c0ffee");
        assert_eq!(load(&path).unwrap(), ShippingState::default());
        let state = ShippingState {
            acknowledged: at(7, 3),
            in_flight: Some(InFlight {
                last: at(9, 1),
                last_event: SentEvent {
                    timestamp: 0,
                    message: "m".into(),
                },
            }),
        };
        store(&path, &state).unwrap();
        assert_eq!(load(&path).unwrap(), state);
    }
}
