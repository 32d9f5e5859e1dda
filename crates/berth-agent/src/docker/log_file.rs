//! A container's log read straight from the engine's disk, in either of the two file formats
//! Docker writes: `json-file` (its default) and `local` (what awslogs containers log to, see
//! `spec`). The Engine API's followed `logs` reads the same file, decodes each entry and encodes
//! it again for the HTTP stream, which holds a follower to about 50,000 lines a second; reading
//! the file takes a fraction of that work. Used when the agent shares the engine's host and may
//! read its data root; otherwise the agent follows the Engine API.
//!
//! json-file holds one JSON object per entry and line, `{"log":"…","stream":"stdout","time":"…"}`;
//! local holds each entry as a protobuf `LogEntry` between two copies of its length (4 bytes,
//! big-endian), so an entry can be found from either end. With `max-size` Docker rotates the file
//! by renaming it `.1` (the older ones moving to `.2`, …) and starting a new one; with `max-file`
//! 1 it truncates it instead. A file is known by its device and inode, which renaming keeps: a
//! reader holding it open reads it to its end and then goes on with its successor. (A file is
//! assumed not to be rotated twice between two looks, 50 ms apart at most: that would take two
//! `max-size`s written in that time.)

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
/// The most bytes an entry takes (it holds at most 16 KiB of output, escaped or framed): how
/// far before a resume offset the entry ending there is looked for, and the largest length a
/// local entry may declare before it is taken for damage.
const ENTRY_MAX_BYTES: u64 = 1 << 20;
/// Rotated files looked for at most (`.1` … `.99`).
const ROTATED_MAX: u32 = 99;
/// A local entry's length prefix and suffix.
const LENGTH_BYTES: usize = 4;

/// How the engine lays the log's entries out on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    JsonFile,
    Local,
}

/// An entry's timestamp (ns) and the bytes written, a line break ending each whole line (so
/// both formats hand on what json-file holds).
type Parsed = (i64, Vec<u8>);

/// What the bytes at a reading position hold.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// An entry taking `length` bytes; `None` when it cannot be read (skipped).
    Entry {
        length: usize,
        parsed: Option<Parsed>,
    },
    /// The start of an entry still being written.
    Incomplete,
}

impl Format {
    fn next(self, bytes: &[u8]) -> Next {
        match self {
            Format::JsonFile => match bytes.iter().position(|b| *b == b'\n') {
                Some(end) => Next::Entry {
                    length: end + 1,
                    parsed: parse_json_entry(&bytes[..end]),
                },
                None => Next::Incomplete,
            },
            Format::Local => match local_frame(bytes) {
                LocalFrame::Whole(length, parsed) => Next::Entry {
                    length,
                    parsed: Some(parsed),
                },
                LocalFrame::Incomplete => Next::Incomplete,
                // The framing does not hold here (an entry cut short by a crash, then written
                // after): skip to the next whole entry. Until one is there, wait for more; only
                // a damaged stretch longer than any entry is let go of meanwhile.
                LocalFrame::Damaged => {
                    let next = (1..bytes.len())
                        .find(|at| matches!(local_frame(&bytes[*at..]), LocalFrame::Whole(..)));
                    match next {
                        Some(length) => Next::Entry {
                            length,
                            parsed: None,
                        },
                        None if bytes.len() as u64 > 2 * ENTRY_MAX_BYTES => Next::Entry {
                            length: bytes.len() - ENTRY_MAX_BYTES as usize,
                            parsed: None,
                        },
                        None => Next::Incomplete,
                    }
                }
            },
        }
    }

    /// The entry that ends where `window` ends.
    fn last_entry(self, window: &[u8]) -> Option<Parsed> {
        match self {
            Format::JsonFile => {
                let body = window.strip_suffix(b"\n")?;
                let start = body.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                parse_json_entry(&body[start..])
            }
            Format::Local => {
                let declared = length_at(window, window.len().checked_sub(LENGTH_BYTES)?)?;
                let start = window.len().checked_sub(declared + 2 * LENGTH_BYTES)?;
                match local_frame(&window[start..]) {
                    LocalFrame::Whole(_, parsed) => Some(parsed),
                    LocalFrame::Incomplete | LocalFrame::Damaged => None,
                }
            }
        }
    }
}

/// A local entry at the start of some bytes.
enum LocalFrame {
    /// Its length with both length fields, and what it holds.
    Whole(usize, Parsed),
    Incomplete,
    /// Lengths that disagree or that no entry has, or a message that does not decode.
    Damaged,
}

fn local_frame(bytes: &[u8]) -> LocalFrame {
    let Some(declared) = length_at(bytes, 0) else {
        return LocalFrame::Incomplete;
    };
    if declared as u64 > ENTRY_MAX_BYTES {
        return LocalFrame::Damaged;
    }
    let length = declared + 2 * LENGTH_BYTES;
    let Some(entry) = bytes.get(..length) else {
        return LocalFrame::Incomplete;
    };
    if length_at(entry, length - LENGTH_BYTES) != Some(declared) {
        return LocalFrame::Damaged;
    }
    match parse_local_entry(&entry[LENGTH_BYTES..length - LENGTH_BYTES]) {
        Some(parsed) => LocalFrame::Whole(length, parsed),
        None => LocalFrame::Damaged,
    }
}

/// The big-endian length at `at`.
fn length_at(bytes: &[u8], at: usize) -> Option<usize> {
    let field = bytes.get(at..at + LENGTH_BYTES)?;
    Some(u32::from_be_bytes(field.try_into().ok()?) as usize)
}

#[derive(serde::Deserialize)]
struct JsonEntry<'a> {
    #[serde(borrow)]
    log: Cow<'a, str>,
    #[serde(borrow)]
    time: Cow<'a, str>,
}

/// One json-file entry (without its line break).
pub fn parse_json_entry(line: &[u8]) -> Option<Parsed> {
    let entry: JsonEntry = serde_json::from_slice(line).ok()?;
    let timestamp_ns = parse_docker_timestamp(&entry.time)?;
    Some((timestamp_ns, entry.log.into_owned().into_bytes()))
}

/// Docker's `LogEntry` message as the local driver writes it; the source (field 1) and the
/// attributes (6) are not needed and skipped.
#[derive(Clone, PartialEq, prost::Message)]
struct LocalEntry {
    #[prost(int64, tag = "2")]
    time_nano: i64,
    #[prost(bytes = "vec", tag = "3")]
    line: Vec<u8>,
    #[prost(bool, tag = "4")]
    partial: bool,
    #[prost(message, optional, tag = "5")]
    partial_log_metadata: Option<PartialLogMetadata>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PartialLogMetadata {
    #[prost(bool, tag = "1")]
    last: bool,
}

/// One local entry (the message between its lengths). Docker stores the line without its
/// break and marks the pieces of a line it split (over 16 KiB, or cut off when the output
/// ended) as partial; json-file ends every line but the pieces before the last with a break,
/// and so does this.
fn parse_local_entry(message: &[u8]) -> Option<Parsed> {
    let entry = <LocalEntry as prost::Message>::decode(message).ok()?;
    let mut line = entry.line;
    let last_piece = entry.partial_log_metadata.is_some_and(|piece| piece.last);
    if !entry.partial || last_piece {
        line.push(b'\n');
    }
    Some((entry.time_nano, line))
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
    format: Format,
    file: File,
    identity: Identity,
    /// The end of the last whole entry taken.
    offset: u64,
    /// What was read after `offset`: the start of an entry still being written.
    pending: Vec<u8>,
}

impl Reader {
    fn open(path: &Path, format: Format, name: &Path, offset: u64) -> std::io::Result<Reader> {
        let mut file = File::open(name)?;
        let identity = identity(&file.metadata()?);
        file.seek(SeekFrom::Start(offset))?;
        Ok(Reader {
            path: path.to_path_buf(),
            format,
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
    pub fn resume(
        path: &Path,
        format: Format,
        resume: LogResume,
    ) -> std::io::Result<(Reader, bool)> {
        let files = files(path);
        if let Some(at) = resume.file {
            let found = files
                .iter()
                .find(|(_, identity)| *identity == (at.device, at.inode));
            if let Some((name, _)) = found {
                let mut reader = Reader::open(path, format, name, at.offset)?;
                if reader.timestamp_ending_at(at.offset)? == Some(resume.timestamp_ns) {
                    return Ok((reader, true));
                }
            }
        }
        let oldest = files.last().map_or(path, |(name, _)| name.as_path());
        Ok((Reader::open(path, format, oldest, 0)?, false))
    }

    /// The timestamp of the entry that ends at `offset`; leaves the file at `offset`.
    fn timestamp_ending_at(&mut self, offset: u64) -> std::io::Result<Option<i64>> {
        let start = offset.saturating_sub(ENTRY_MAX_BYTES);
        let mut window = vec![0; (offset - start) as usize];
        self.file.seek(SeekFrom::Start(start))?;
        let complete = self.file.read_exact(&mut window).is_ok();
        self.file.seek(SeekFrom::Start(offset))?;
        Ok(complete
            .then(|| self.format.last_entry(&window))
            .flatten()
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
        let mut unreadable = Unreadable::default();
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
            while let Next::Entry { length, parsed } = self.format.next(&self.pending[taken..]) {
                let entry = &self.pending[taken..taken + length];
                taken += length;
                let Some((timestamp_ns, bytes)) = parsed else {
                    unreadable.note(entry);
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
        unreadable.report(&self.path);
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
            tracing::warn!(file = %self.path.display(), "container log truncated under its reader; reading it from its start");
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
            tracing::warn!(file = %self.path.display(), bytes = self.pending.len(), "container log rotated after an unfinished entry; dropped");
        }
        *self = Reader::open(&self.path, self.format, next, 0)?;
        Ok(())
    }
}

#[cfg(test)]
/// A local entry as Docker's local driver frames it.
pub(super) fn local_entry(text: &str, time_nano: i64, piece: Option<bool>) -> Vec<u8> {
    let message = LocalEntry {
        time_nano,
        line: text.as_bytes().to_vec(),
        partial: piece.is_some(),
        partial_log_metadata: piece.map(|last| PartialLogMetadata { last }),
    };
    let body = prost::Message::encode_to_vec(&message);
    let length = (body.len() as u32).to_be_bytes();
    [&length[..], &body, &length].concat()
}

/// Bytes skipped as unreadable in one read, told once: a damaged local file is stepped
/// through a byte at a time.
#[derive(Default)]
struct Unreadable {
    bytes: usize,
    first: Option<String>,
}

impl Unreadable {
    fn note(&mut self, entry: &[u8]) {
        self.bytes += entry.len();
        self.first
            .get_or_insert_with(|| String::from_utf8_lossy(&entry[..entry.len().min(80)]).into());
    }

    fn report(self, path: &Path) {
        if let Some(first) = self.first {
            tracing::warn!(file = %path.display(), bytes = self.bytes, first = %first, "unreadable container log entries skipped");
        }
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

    fn append_bytes(path: &Path, bytes: &[u8]) {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
            .write_all(bytes)
            .unwrap();
    }

    fn append(path: &Path, text: &str) {
        append_bytes(path, text.as_bytes());
    }

    /// A reader at the start of the oldest file kept, as for a container never read before.
    fn from_start(path: &Path, format: Format) -> Reader {
        let start = LogResume {
            timestamp_ns: 0,
            file: None,
        };
        Reader::resume(path, format, start).unwrap().0
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
            parse_json_entry(line.trim_end().as_bytes()),
            Some((
                1_796_524_800_500_000_000,
                "héllo \"x\"\n".as_bytes().to_vec()
            ))
        );
        let partial = r#"{"log":"no break","stream":"stderr","attrs":{"a":"b"},"time":"2026-12-06T02:40:00.000000001Z"}"#;
        assert_eq!(
            parse_json_entry(partial.as_bytes()),
            Some((1_796_524_800_000_000_001, b"no break".to_vec()))
        );
        assert_eq!(parse_json_entry(b"{\"log\":\"x\"}"), None);
        assert_eq!(parse_json_entry(b"{\"log\":\"x\",\"time\":\"soon\"}"), None);
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
            Format::JsonFile,
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
        let (mut resumed, exact) = Reader::resume(&path, Format::JsonFile, resume).unwrap();
        assert!(exact);
        assert_eq!(texts(&read_all(&mut resumed)), ["three\n"]);
        // An offset whose entry has another time is not trusted (an inode used again).
        let wrong_time = LogResume {
            timestamp_ns: 5,
            ..resume
        };
        let (mut reread, exact) = Reader::resume(&path, Format::JsonFile, wrong_time).unwrap();
        assert!(!exact);
        assert_eq!(texts(&read_all(&mut reread)).len(), 3);
    }

    #[test]
    fn a_rotated_file_is_read_to_its_end_before_its_successor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        append(&path, &entry("a\n", "2026-12-06T00:00:01Z"));
        let mut reader = from_start(&path, Format::JsonFile);
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
        let mut fresh = from_start(&path, Format::JsonFile);
        assert_eq!(texts(&read_all(&mut fresh)), ["a\n", "b\n"]);
        assert!(fresh.moved_on().unwrap());
        fresh.next_file().unwrap();
        assert_eq!(texts(&read_all(&mut fresh)), ["c\n"]);
    }

    #[test]
    fn a_truncated_file_is_read_again_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        append(&path, &entry("old\n", "2026-12-06T00:00:01Z"));
        let mut reader = from_start(&path, Format::JsonFile);
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

    #[test]
    fn local_entries_read_as_json_file_entries_do() {
        // Copied from a file Docker 28's local driver wrote for `line 1` on stdout (the source
        // field included, which the reader skips).
        let written = [
            0x00, 0x00, 0x00, 0x1a, 0x0a, 0x06, b's', b't', b'd', b'o', b'u', b't', 0x10, 0xa2,
            0xba, 0xb2, 0xfd, 0x88, 0xaa, 0xb2, 0xf7, 0x18, 0x1a, 0x06, b'l', b'i', b'n', b'e',
            b' ', b'1', 0x00, 0x00, 0x00, 0x1a,
        ];
        assert_eq!(
            Format::Local.next(&written),
            Next::Entry {
                length: written.len(),
                parsed: Some((1_796_594_649_212_427_554, b"line 1\n".to_vec()))
            }
        );
        assert_eq!(Format::Local.next(&written[..20]), Next::Incomplete);
        assert_eq!(
            Format::Local.last_entry(&[&b"earlier"[..], &written].concat()),
            Some((1_796_594_649_212_427_554, b"line 1\n".to_vec()))
        );
        // The pieces of a split line: a break only after the last, as json-file writes them.
        let first = local_entry("first piece ", 5, Some(false));
        let last = local_entry("last piece", 6, Some(true));
        let parsed = |bytes: &[u8]| match Format::Local.next(bytes) {
            Next::Entry { parsed, .. } => parsed,
            Next::Incomplete => panic!("whole entry"),
        };
        assert_eq!(parsed(&first), Some((5, b"first piece ".to_vec())));
        assert_eq!(parsed(&last), Some((6, b"last piece\n".to_vec())));
    }

    #[test]
    fn a_damaged_local_file_is_stepped_through_to_the_next_whole_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("container.log");
        // An entry cut short (Docker stopped mid-write), then written on after it.
        let cut = local_entry("lost", 1, None);
        append_bytes(&path, &cut[..cut.len() - 3]);
        append_bytes(&path, &local_entry("after", 2, None));
        // A length no entry has.
        append_bytes(&path, &[0xff, 0xff, 0xff, 0xff]);
        append_bytes(&path, &local_entry("last", 3, None));
        let mut reader = from_start(&path, Format::Local);
        let frames = read_all(&mut reader);
        assert_eq!(texts(&frames), ["after\n", "last\n"]);
        assert_eq!(
            frames[1].file.unwrap().offset,
            std::fs::metadata(&path).unwrap().len()
        );
    }

    #[test]
    fn a_local_log_resumes_after_the_entry_it_stopped_at() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("container.log");
        append_bytes(&path, &local_entry("one", 10, None));
        let mut reader = from_start(&path, Format::Local);
        let frames = read_all(&mut reader);
        // Half an entry is not taken until the rest is there.
        let two = local_entry("two", 20, None);
        append_bytes(&path, &two[..5]);
        assert!(read_all(&mut reader).is_empty());
        append_bytes(&path, &two[5..]);
        assert_eq!(texts(&read_all(&mut reader)), ["two\n"]);

        append_bytes(&path, &local_entry("three", 30, None));
        let resume = LogResume {
            timestamp_ns: 10,
            file: frames[0].file,
        };
        let (mut resumed, exact) = Reader::resume(&path, Format::Local, resume).unwrap();
        assert!(exact);
        assert_eq!(texts(&read_all(&mut resumed)), ["two\n", "three\n"]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_follower_hands_on_lines_until_the_run_ended_and_all_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        append(&path, &entry("1\n", "2026-12-06T00:00:01Z"));
        let reader = from_start(&path, Format::JsonFile);
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
