//! Docker's json-file log read straight from the engine's disk. The Engine API's followed `logs`
//! reads the same file, decodes each entry and encodes it again for the HTTP stream, which
//! holds a follower to about 50,000 lines a second; reading the file takes a fraction of that
//! work. Used when the agent shares the engine's host and may read its data root; otherwise the
//! agent follows the Engine API.
//!
//! Docker writes one JSON object per entry, `{"log":"…","stream":"stdout","time":"…"}`, and
//! with `max-size` rotates the file by renaming it `.1` (the older ones moving to `.2`, …) and
//! starting a new one; with `max-file` 1 it truncates it instead. A file is known by its device
//! and inode, which renaming keeps: a reader holding it open reads it to its end and then goes
//! on with its successor. (A file is assumed not to be rotated twice between two looks, 50 ms
//! apart at most: that would take two `max-size`s written in that time.)

use std::borrow::Cow;
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use crate::awslogs::cursor::parse_docker_timestamp;
use crate::runtime::{LogFileOffset, LogFrame, LogResume, ReadFrame, RuntimeError};

/// Frames handed on at a time.
const CHUNK_FRAMES: usize = 4096;
const READ_BYTES: usize = 256 * 1024;
/// At the end of the file, how long to wait before looking again: short while the container
/// writes (so lines are handed on within milliseconds), longer once it is idle.
const POLL_MIN: Duration = Duration::from_millis(2);
const POLL_MAX: Duration = Duration::from_millis(50);
/// How far before a resume offset the entry ending there is looked for (an entry holds at most
/// 16 KiB of output, escaped).
const ENTRY_MAX_BYTES: u64 = 1 << 20;
/// Rotated files looked for at most (`.1` … `.99`).
const ROTATED_MAX: u32 = 99;

#[derive(serde::Deserialize)]
struct Entry<'a> {
    #[serde(borrow)]
    log: Cow<'a, str>,
    #[serde(borrow)]
    time: Cow<'a, str>,
}

/// One json-file entry (without its line break): its timestamp and the bytes written.
pub fn parse_entry(line: &[u8]) -> Option<(i64, Vec<u8>)> {
    let entry: Entry = serde_json::from_slice(line).ok()?;
    let timestamp_ns = parse_docker_timestamp(&entry.time)?;
    Some((timestamp_ns, entry.log.into_owned().into_bytes()))
}

/// Where the entry ending at the end of `window` (which ends with its line break) starts.
fn last_entry(window: &[u8]) -> Option<&[u8]> {
    let body = window.strip_suffix(b"\n")?;
    let start = body.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    Some(&body[start..])
}

type Identity = (u64, u64);

fn identity(metadata: &std::fs::Metadata) -> Identity {
    (metadata.dev(), metadata.ino())
}

/// The log's files, newest first: the live one, then `.1`, `.2`, … as long as they exist.
fn files(path: &Path) -> Vec<(PathBuf, Identity)> {
    let mut files = Vec::new();
    if let Ok(metadata) = std::fs::metadata(path) {
        files.push((path.to_path_buf(), identity(&metadata)));
    }
    for n in 1..=ROTATED_MAX {
        let mut name = OsString::from(path.as_os_str());
        name.push(format!(".{n}"));
        let rotated = PathBuf::from(name);
        match std::fs::metadata(&rotated) {
            Ok(metadata) => files.push((rotated, identity(&metadata))),
            Err(_) => break,
        }
    }
    files
}

/// One of the log's files, open, and how far it was read.
pub struct Reader {
    /// The live file's name.
    path: PathBuf,
    file: File,
    identity: Identity,
    /// The end of the last whole entry taken.
    offset: u64,
    /// What was read after `offset`: the start of an entry still being written.
    pending: Vec<u8>,
}

impl Reader {
    fn open(path: &Path, name: &Path, offset: u64) -> std::io::Result<Reader> {
        let mut file = File::open(name)?;
        let identity = identity(&file.metadata()?);
        file.seek(SeekFrom::Start(offset))?;
        Ok(Reader {
            path: path.to_path_buf(),
            file,
            identity,
            offset,
            pending: Vec::new(),
        })
    }

    /// Opens the log at `path` where `resume` left it: at its offset when its file is still
    /// there and the entry ending at that offset has the resume point's timestamp (so a reused
    /// inode is not mistaken for it), answering `true`; else at the start of the oldest file
    /// kept, answering `false`.
    pub fn resume(path: &Path, resume: LogResume) -> std::io::Result<(Reader, bool)> {
        let files = files(path);
        if let Some(at) = resume.file {
            let found = files
                .iter()
                .find(|(_, identity)| *identity == (at.device, at.inode));
            if let Some((name, _)) = found {
                let mut reader = Reader::open(path, name, at.offset)?;
                if reader.timestamp_ending_at(at.offset)? == Some(resume.timestamp_ns) {
                    return Ok((reader, true));
                }
            }
        }
        let oldest = files.last().map_or(path, |(name, _)| name.as_path());
        Ok((Reader::open(path, oldest, 0)?, false))
    }

    /// The timestamp of the entry that ends at `offset`; leaves the file at `offset`.
    fn timestamp_ending_at(&mut self, offset: u64) -> std::io::Result<Option<i64>> {
        let start = offset.saturating_sub(ENTRY_MAX_BYTES);
        let mut window = vec![0; (offset - start) as usize];
        self.file.seek(SeekFrom::Start(start))?;
        let complete = self.file.read_exact(&mut window).is_ok();
        self.file.seek(SeekFrom::Start(offset))?;
        Ok(complete
            .then(|| last_entry(&window))
            .flatten()
            .and_then(parse_entry)
            .map(|(timestamp_ns, _)| timestamp_ns))
    }

    /// Reads to the current end of the file, handing on every whole entry (in chunks of at most
    /// [`CHUNK_FRAMES`]); answers whether anything was read, or `None` once `hand_on` says no
    /// one takes frames any more.
    fn read_on(
        &mut self,
        hand_on: &mut dyn FnMut(Vec<ReadFrame>) -> bool,
    ) -> std::io::Result<Option<bool>> {
        let mut any = false;
        let mut frames = Vec::new();
        loop {
            let filled = self.pending.len();
            self.pending.resize(filled + READ_BYTES, 0);
            let read = self.file.read(&mut self.pending[filled..])?;
            self.pending.truncate(filled + read);
            if read == 0 {
                break;
            }
            any = true;
            let mut taken = 0;
            while let Some(end) = self.pending[taken..].iter().position(|b| *b == b'\n') {
                let line = &self.pending[taken..taken + end];
                taken += end + 1;
                let Some((timestamp_ns, bytes)) = parse_entry(line) else {
                    tracing::warn!(
                        file = %self.path.display(),
                        entry = %String::from_utf8_lossy(&line[..line.len().min(80)]),
                        "unreadable json-file log entry skipped"
                    );
                    continue;
                };
                frames.push(ReadFrame {
                    frame: LogFrame {
                        timestamp_ns,
                        bytes,
                    },
                    file: Some(LogFileOffset {
                        device: self.identity.0,
                        inode: self.identity.1,
                        offset: self.offset + taken as u64,
                    }),
                });
                if frames.len() >= CHUNK_FRAMES && !hand_on(std::mem::take(&mut frames)) {
                    return Ok(None);
                }
            }
            self.pending.drain(..taken);
            self.offset += taken as u64;
        }
        if !frames.is_empty() && !hand_on(frames) {
            return Ok(None);
        }
        Ok(Some(any))
    }

    /// At the end of the file: whether Docker has moved on to another file. A file truncated
    /// under the reader (`max-file` 1) is read again from its start: what it held past the
    /// reader's offset is lost, as it is for `docker logs`.
    fn moved_on(&mut self) -> std::io::Result<bool> {
        if self.file.metadata()?.len() < self.offset + self.pending.len() as u64 {
            tracing::warn!(file = %self.path.display(), "json-file log truncated under its reader; reading it from its start");
            self.file.seek(SeekFrom::Start(0))?;
            self.offset = 0;
            self.pending.clear();
        }
        // Missing, the live file is being replaced (or the container removed, which its
        // wait answers).
        Ok(std::fs::metadata(&self.path).is_ok_and(|live| identity(&live) != self.identity))
    }

    /// Goes on with the file that followed this one: the next newer rotated file, or the live
    /// one.
    fn next_file(&mut self) -> std::io::Result<()> {
        let files = files(&self.path);
        let position = files.iter().position(|(_, id)| *id == self.identity);
        let next = match position {
            Some(at) if at > 0 => &files[at - 1].0,
            _ => &self.path,
        };
        if !self.pending.is_empty() {
            tracing::warn!(file = %self.path.display(), bytes = self.pending.len(), "json-file log rotated after an unfinished entry; dropped");
        }
        *self = Reader::open(&self.path, next, 0)?;
        Ok(())
    }
}

/// How the container's run ended, as the engine's wait answers it.
pub enum Ending {
    Exited,
    Removed(String),
    Failed(String),
}

/// Reads on to the end of the log, going on with the next file whenever Docker has rotated
/// one; answers whether anything was read, or `None` once no one takes frames any more.
fn read_through(
    reader: &mut Reader,
    hand_on: &mut dyn FnMut(Vec<ReadFrame>) -> bool,
) -> std::io::Result<Option<bool>> {
    let mut any = false;
    loop {
        let Some(read) = reader.read_on(hand_on)? else {
            return Ok(None);
        };
        any |= read;
        if !reader.moved_on()? {
            return Ok(Some(any));
        }
        // What was written before the rename is read now, then the next file.
        let Some(read) = reader.read_on(hand_on)? else {
            return Ok(None);
        };
        any |= read;
        reader.next_file()?;
    }
}

/// Follows the log from `reader` on (a thread of its own) until the container's run ended
/// (`ended`) and everything it wrote was read, handing frames to `chunks`. Ends early when
/// `chunks` or `ended` is dropped.
pub fn follow(
    mut reader: Reader,
    ended: Receiver<Ending>,
    chunks: tokio::sync::mpsc::Sender<Result<Vec<ReadFrame>, RuntimeError>>,
) {
    let mut hand_on = |frames| chunks.blocking_send(Ok(frames)).is_ok();
    let mut ending = None;
    let mut poll = POLL_MIN;
    loop {
        let read = match read_through(&mut reader, &mut hand_on) {
            Ok(Some(read)) => read,
            Ok(None) => return,
            Err(err) => {
                let _ = chunks.blocking_send(Err(unreadable(&reader, &err)));
                return;
            }
        };
        // Docker has written everything by the time it answers the wait, and this read began
        // after the answer: the log is read whole.
        if let Some(end) = ending {
            let outcome = match end {
                Ending::Exited => return,
                Ending::Removed(message) => RuntimeError::NotFound(message),
                Ending::Failed(message) => RuntimeError::Engine(message),
            };
            let _ = chunks.blocking_send(Err(outcome));
            return;
        }
        if chunks.is_closed() {
            return;
        }
        poll = if read {
            POLL_MIN
        } else {
            (poll * 2).min(POLL_MAX)
        };
        match ended.recv_timeout(poll) {
            Ok(end) => ending = Some(end),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn unreadable(reader: &Reader, err: &std::io::Error) -> RuntimeError {
    RuntimeError::Engine(format!("reading {}: {err}", reader.path.display()))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn entry(text: &str, time: &str) -> String {
        format!(
            "{}\n",
            serde_json::json!({"log": text, "stream": "stdout", "time": time})
        )
    }

    fn append(path: &Path, text: &str) {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }

    fn read_all(reader: &mut Reader) -> Vec<ReadFrame> {
        let mut all = Vec::new();
        reader
            .read_on(&mut |frames| {
                all.extend(frames);
                true
            })
            .unwrap();
        all
    }

    fn texts(frames: &[ReadFrame]) -> Vec<String> {
        frames
            .iter()
            .map(|f| String::from_utf8(f.frame.bytes.clone()).unwrap())
            .collect()
    }

    #[test]
    fn entries_parse_to_their_time_and_bytes() {
        let line = entry("héllo \"x\"\n", "2026-12-06T02:40:00.5Z");
        assert_eq!(
            parse_entry(line.trim_end().as_bytes()),
            Some((
                1_796_524_800_500_000_000,
                "héllo \"x\"\n".as_bytes().to_vec()
            ))
        );
        let partial = r#"{"log":"no break","stream":"stderr","attrs":{"a":"b"},"time":"2026-12-06T02:40:00.000000001Z"}"#;
        assert_eq!(
            parse_entry(partial.as_bytes()),
            Some((1_796_524_800_000_000_001, b"no break".to_vec()))
        );
        assert_eq!(parse_entry(b"{\"log\":\"x\"}"), None);
        assert_eq!(parse_entry(b"{\"log\":\"x\",\"time\":\"soon\"}"), None);
    }

    #[test]
    fn only_whole_entries_are_taken_and_each_knows_where_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let first = entry("one\n", "2026-12-06T00:00:01Z");
        append(&path, &first);
        let second = entry("two\n", "2026-12-06T00:00:02Z");
        append(&path, &second[..10]);
        let (mut reader, exact) = Reader::resume(
            &path,
            LogResume {
                timestamp_ns: 0,
                file: None,
            },
        )
        .unwrap();
        assert!(!exact);
        let frames = read_all(&mut reader);
        assert_eq!(texts(&frames), ["one\n"]);
        assert_eq!(frames[0].file.unwrap().offset, first.len() as u64);
        append(&path, &second[10..]);
        let frames = read_all(&mut reader);
        assert_eq!(texts(&frames), ["two\n"]);
        let end = frames[0].file.unwrap();
        assert_eq!(end.offset, (first.len() + second.len()) as u64);

        // Resumed at an entry's end, the reader goes on right after it.
        append(&path, &entry("three\n", "2026-12-06T00:00:03Z"));
        let resume = LogResume {
            timestamp_ns: frames[0].frame.timestamp_ns,
            file: Some(end),
        };
        let (mut resumed, exact) = Reader::resume(&path, resume).unwrap();
        assert!(exact);
        assert_eq!(texts(&read_all(&mut resumed)), ["three\n"]);
        // An offset whose entry has another time is not trusted (an inode used again).
        let wrong_time = LogResume {
            timestamp_ns: 5,
            ..resume
        };
        let (mut from_start, exact) = Reader::resume(&path, wrong_time).unwrap();
        assert!(!exact);
        assert_eq!(texts(&read_all(&mut from_start)).len(), 3);
    }

    #[test]
    fn a_rotated_file_is_read_to_its_end_before_its_successor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        append(&path, &entry("a\n", "2026-12-06T00:00:01Z"));
        let (mut reader, _) = Reader::resume(
            &path,
            LogResume {
                timestamp_ns: 0,
                file: None,
            },
        )
        .unwrap();
        assert_eq!(texts(&read_all(&mut reader)), ["a\n"]);
        assert!(!reader.moved_on().unwrap());
        // Docker writes more, then rotates (renames, starts a new file), and writes on.
        append(&path, &entry("b\n", "2026-12-06T00:00:02Z"));
        std::fs::rename(&path, dir.path().join("c-json.log.1")).unwrap();
        append(&path, &entry("c\n", "2026-12-06T00:00:03Z"));
        assert!(reader.moved_on().unwrap());
        assert_eq!(texts(&read_all(&mut reader)), ["b\n"]);
        reader.next_file().unwrap();
        assert_eq!(texts(&read_all(&mut reader)), ["c\n"]);
        assert!(!reader.moved_on().unwrap());

        // Resuming in a rotated file goes on through the newer ones; from no position, the
        // oldest file kept is read first.
        let fresh = LogResume {
            timestamp_ns: 0,
            file: None,
        };
        let (mut from_start, _) = Reader::resume(&path, fresh).unwrap();
        assert_eq!(texts(&read_all(&mut from_start)), ["a\n", "b\n"]);
        assert!(from_start.moved_on().unwrap());
        from_start.next_file().unwrap();
        assert_eq!(texts(&read_all(&mut from_start)), ["c\n"]);
    }

    #[test]
    fn a_truncated_file_is_read_again_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        append(&path, &entry("old\n", "2026-12-06T00:00:01Z"));
        let (mut reader, _) = Reader::resume(
            &path,
            LogResume {
                timestamp_ns: 0,
                file: None,
            },
        )
        .unwrap();
        read_all(&mut reader);
        std::fs::write(
            &path,
            &entry("new\n", "2026-12-06T00:00:02Z").as_bytes()[..5],
        )
        .unwrap();
        assert!(!reader.moved_on().unwrap(), "the same file, truncated");
        append(&path, &entry("new\n", "2026-12-06T00:00:02Z")[5..]);
        assert_eq!(texts(&read_all(&mut reader)), ["new\n"]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_follower_hands_on_lines_until_the_run_ended_and_all_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        append(&path, &entry("1\n", "2026-12-06T00:00:01Z"));
        let (reader, _) = Reader::resume(
            &path,
            LogResume {
                timestamp_ns: 0,
                file: None,
            },
        )
        .unwrap();
        let (end, ended) = std::sync::mpsc::channel();
        let (chunks, mut received) = tokio::sync::mpsc::channel(4);
        let follower = tokio::task::spawn_blocking(move || follow(reader, ended, chunks));
        let first = received.recv().await.unwrap().unwrap();
        assert_eq!(texts(&first), ["1\n"]);
        append(&path, &entry("2\n", "2026-12-06T00:00:02Z"));
        let second = tokio::time::timeout(Duration::from_secs(1), received.recv())
            .await
            .expect("a line written is handed on within the poll")
            .unwrap()
            .unwrap();
        assert_eq!(texts(&second), ["2\n"]);
        // Written just before the run ends: still read.
        append(&path, &entry("3\n", "2026-12-06T00:00:03Z"));
        end.send(Ending::Removed("gone".into())).unwrap();
        let mut rest = Vec::new();
        let mut outcome = None;
        while let Some(item) = received.recv().await {
            match item {
                Ok(frames) => rest.extend(frames),
                Err(err) => outcome = Some(err),
            }
        }
        assert_eq!(texts(&rest), ["3\n"]);
        assert!(matches!(outcome, Some(RuntimeError::NotFound(_))));
        follower.await.unwrap();
    }
}
