//! `serve`: the HTTP workload (`/`, `/health`, `/cpu`, `/alloc`, `/log`, `/exit`) on std::net, one thread per
//! connection, HTTP/1.1 keep-alive.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::http::{self, Version};

const MAX_HEAD_BYTES: u64 = 16 * 1024;
const MAX_BODY_BYTES: u64 = 1024 * 1024;
/// Idle keep-alive connections are dropped after this, so abandoned clients do not pin threads.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Ten minutes of CPU is already far beyond any test; the cap stops a typo from wedging a thread
/// for days.
const MAX_CPU_MS: u64 = 600_000;

pub struct State {
    healthy: AtomicBool,
    hostname: String,
}

impl State {
    pub fn new(hostname: String) -> State {
        State {
            healthy: AtomicBool::new(true),
            hostname,
        }
    }
}

pub fn serve(port: u16) -> io::Result<()> {
    let listener = TcpListener::bind(("0.0.0.0", port))?;
    let state = Arc::new(State::new(hostname()));
    eprintln!(
        "berth-demo serving http on 0.0.0.0:{port} as {}",
        state.hostname
    );
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let state = Arc::clone(&state);
                let spawned = thread::Builder::new()
                    .name("connection".into())
                    .spawn(move || {
                        // A failed connection only concerns its client.
                        let _ = connection(stream, &state);
                    });
                if let Err(err) = spawned {
                    eprintln!("berth-demo: cannot start a connection thread: {err}");
                }
            }
            Err(err) => {
                // Usually out of file descriptors: back off instead of spinning.
                eprintln!("berth-demo: accept: {err}");
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
    Ok(())
}

/// The name `GET /` reports: the container's hostname in a container.
fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_string())
        .find(|name| !name.is_empty())
        .or_else(|| {
            std::env::var("HOSTNAME")
                .ok()
                .filter(|name| !name.is_empty())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

struct Request {
    method: String,
    path: String,
    query: String,
    keep_alive: bool,
}

enum Incoming {
    Request(Request),
    /// The client closed (or went idle) between requests.
    Closed,
    /// Answer with this status and close: the connection cannot be framed any further.
    Reject(u16, String),
}

fn connection(stream: TcpStream, state: &State) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let request = match read_request(&mut reader)? {
            Incoming::Request(request) => request,
            Incoming::Closed => return Ok(()),
            Incoming::Reject(status, message) => {
                writer.write_all(&http::response(status, &[], &message, true, false))?;
                return Ok(());
            }
        };
        let reply = route(&request.method, &request.path, &request.query, state);
        let keep_alive = request.keep_alive && reply.exit_code.is_none();
        let headers: Vec<(&str, &str)> =
            reply.allow.iter().map(|allow| ("Allow", *allow)).collect();
        writer.write_all(&http::response(
            reply.status,
            &headers,
            &reply.body,
            request.method != "HEAD",
            keep_alive,
        ))?;
        writer.flush()?;
        if let Some(code) = reply.exit_code {
            exit_after_reply(&writer, code);
        }
        if !keep_alive {
            return Ok(());
        }
    }
}

/// Exits only once the client has had the reply: closing our side first and waiting briefly for
/// the client to close its side keeps the kernel from resetting the connection under it.
fn exit_after_reply(stream: &TcpStream, code: i32) -> ! {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut sink = [0u8; 512];
    let mut reader = stream;
    while matches!(reader.read(&mut sink), Ok(read) if read > 0) {}
    std::process::exit(code)
}

fn read_request(reader: &mut BufReader<TcpStream>) -> io::Result<Incoming> {
    let mut lines = Vec::new();
    let mut limited = reader.by_ref().take(MAX_HEAD_BYTES);
    loop {
        let mut line = Vec::new();
        match limited.read_until(b'\n', &mut line) {
            Ok(_) => {}
            // The idle timeout between requests is a normal end of a keep-alive connection.
            Err(err)
                if lines.is_empty()
                    && matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
            {
                return Ok(Incoming::Closed);
            }
            Err(err) => return Err(err),
        }
        if !line.ends_with(b"\n") {
            return Ok(if limited.limit() == 0 {
                Incoming::Reject(431, "request head too large\n".into())
            } else {
                Incoming::Closed
            });
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        if line.is_empty() {
            // Blank lines before a request line are allowed (RFC 9112 §2.2).
            if lines.is_empty() {
                continue;
            }
            break;
        }
        match String::from_utf8(line) {
            Ok(line) => lines.push(line),
            Err(_) => return Ok(Incoming::Reject(400, "request head is not UTF-8\n".into())),
        }
    }
    let request_line = match http::parse_request_line(&lines[0]) {
        Ok(request_line) => request_line,
        Err(message) => return Ok(Incoming::Reject(400, format!("{message}\n"))),
    };
    let mut content_length = 0u64;
    let mut connection = String::new();
    for line in &lines[1..] {
        let Some((name, value)) = http::parse_header(line) else {
            return Ok(Incoming::Reject(
                400,
                format!("malformed header {line:?}\n"),
            ));
        };
        match name.as_str() {
            "content-length" => match value.parse::<u64>() {
                Ok(length) => content_length = length,
                Err(_) => return Ok(Incoming::Reject(400, "malformed Content-Length\n".into())),
            },
            "transfer-encoding" => {
                return Ok(Incoming::Reject(
                    501,
                    "request bodies must have a Content-Length\n".into(),
                ));
            }
            "connection" => connection = value,
            _ => {}
        }
    }
    if content_length > MAX_BODY_BYTES {
        return Ok(Incoming::Reject(413, "request body too large\n".into()));
    }
    // No route reads a body; it is drained so the next request on the connection starts clean.
    let drained = io::copy(&mut reader.by_ref().take(content_length), &mut io::sink())?;
    if drained != content_length {
        return Ok(Incoming::Closed);
    }
    let keep_alive = match request_line.version {
        Version::Http11 => !http::has_token(&connection, "close"),
        Version::Http10 => http::has_token(&connection, "keep-alive"),
    };
    let (path, query) = http::split_target(&request_line.target);
    Ok(Incoming::Request(Request {
        path: path.to_string(),
        query: query.to_string(),
        method: request_line.method,
        keep_alive,
    }))
}

#[derive(Debug, PartialEq)]
pub struct Reply {
    status: u16,
    body: String,
    allow: Option<&'static str>,
    /// Exit the process with this code once the reply is sent.
    exit_code: Option<i32>,
}

impl Reply {
    fn new(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            body: body.into(),
            allow: None,
            exit_code: None,
        }
    }
}

pub fn route(method: &str, path: &str, query: &str, state: &State) -> Reply {
    let read_only = matches!(method, "GET" | "HEAD");
    match path {
        "/" | "/health" | "/cpu" | "/alloc" | "/log" | "/exit" if !read_only => Reply {
            allow: Some("GET, HEAD"),
            ..Reply::new(405, "method not allowed\n")
        },
        "/health/fail" | "/health/ok" if method != "POST" => Reply {
            allow: Some("POST"),
            ..Reply::new(405, "method not allowed\n")
        },
        "/" => Reply::new(200, format!("berth-demo on {}\n", state.hostname)),
        "/health" => {
            if state.healthy.load(Ordering::SeqCst) {
                Reply::new(200, "ok")
            } else {
                Reply::new(503, "failing")
            }
        }
        "/health/fail" => {
            state.healthy.store(false, Ordering::SeqCst);
            Reply::new(200, "health now failing\n")
        }
        "/health/ok" => {
            state.healthy.store(true, Ordering::SeqCst);
            Reply::new(200, "health now ok\n")
        }
        "/cpu" => match http::query_param(query, "ms").map(|ms| ms.parse::<u64>()) {
            Some(Ok(ms)) if ms <= MAX_CPU_MS => {
                burn_cpu(Duration::from_millis(ms));
                Reply::new(200, format!("burned {ms} ms of cpu\n"))
            }
            _ => Reply::new(400, format!("cpu needs ms=0..{MAX_CPU_MS}\n")),
        },
        "/alloc" => match http::query_param(query, "mb").map(|mb| mb.parse::<usize>()) {
            Some(Ok(mb)) if mb <= MAX_ALLOC_MB => {
                hold_memory(mb);
                Reply::new(200, format!("holding {mb} MiB more\n"))
            }
            _ => Reply::new(400, format!("alloc needs mb=0..{MAX_ALLOC_MB}\n")),
        },
        "/log" => match http::query_param(query, "line") {
            Some(line) => {
                let mut stdout = io::stdout().lock();
                let _ = writeln!(stdout, "{line}");
                let _ = stdout.flush();
                Reply::new(200, "logged\n")
            }
            None => Reply::new(400, "log needs line=TEXT\n"),
        },
        "/exit" => {
            let code = http::query_param(query, "code");
            match code.as_deref().map_or(Ok(0), str::parse::<u8>) {
                Ok(code) => Reply {
                    exit_code: Some(i32::from(code)),
                    ..Reply::new(200, format!("exiting with code {code}\n"))
                },
                Err(_) => Reply::new(400, "exit needs code=0..255\n"),
            }
        }
        _ => Reply::new(404, "not found\n"),
    }
}

/// Busy work that the optimiser cannot remove, so that CPU metrics and scaling see real load.
/// The most `/alloc` takes in one request.
const MAX_ALLOC_MB: usize = 4096;

/// Allocates `mb` MiB, writes every page so the kernel really backs it, and keeps it for the
/// life of the process: how tests drive a container past its memory limit (OOM kill).
fn hold_memory(mb: usize) {
    let mut block = vec![0u8; mb << 20];
    for page in block.chunks_mut(4096) {
        page[0] = 1;
    }
    std::mem::forget(std::hint::black_box(block));
}

fn burn_cpu(duration: Duration) {
    let deadline = Instant::now() + duration;
    let mut state = 1u64;
    while Instant::now() < deadline {
        for _ in 0..10_000 {
            state = std::hint::black_box(
                state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        State::new("box".into())
    }

    #[test]
    fn root_names_the_host() {
        assert_eq!(
            route("GET", "/", "", &state()),
            Reply::new(200, "berth-demo on box\n")
        );
    }

    #[test]
    fn health_fails_and_recovers() {
        let state = state();
        assert_eq!(route("GET", "/health", "", &state).status, 200);
        assert_eq!(route("POST", "/health/fail", "", &state).status, 200);
        assert_eq!(
            route("GET", "/health", "", &state),
            Reply::new(503, "failing")
        );
        assert_eq!(route("HEAD", "/health", "", &state).status, 503);
        assert_eq!(route("POST", "/health/ok", "", &state).status, 200);
        assert_eq!(route("GET", "/health", "", &state), Reply::new(200, "ok"));
    }

    #[test]
    fn wrong_methods_name_the_allowed_ones() {
        let reply = route("POST", "/health", "", &state());
        assert_eq!((reply.status, reply.allow), (405, Some("GET, HEAD")));
        let reply = route("GET", "/health/fail", "", &state());
        assert_eq!((reply.status, reply.allow), (405, Some("POST")));
    }

    #[test]
    fn cpu_burns_for_the_asked_time() {
        let start = Instant::now();
        assert_eq!(route("GET", "/cpu", "ms=30", &state()).status, 200);
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert_eq!(route("GET", "/cpu", "", &state()).status, 400);
        assert_eq!(route("GET", "/alloc", "mb=1", &state()).status, 200);
        assert_eq!(route("GET", "/alloc", "mb=lots", &state()).status, 400);
        assert_eq!(route("GET", "/cpu", "ms=-1", &state()).status, 400);
        assert_eq!(route("GET", "/cpu", "ms=999999999", &state()).status, 400);
    }

    #[test]
    fn exit_replies_first_then_exits_with_the_code() {
        let reply = route("GET", "/exit", "code=7", &state());
        assert_eq!((reply.status, reply.exit_code), (200, Some(7)));
        assert_eq!(
            route("GET", "/exit", "", &state()).exit_code,
            Some(0),
            "no code means 0"
        );
        assert_eq!(route("GET", "/exit", "code=300", &state()).status, 400);
    }

    #[test]
    fn log_needs_a_line_and_unknown_paths_are_404() {
        assert_eq!(route("GET", "/log", "", &state()).status, 400);
        assert_eq!(route("GET", "/nope", "", &state()).status, 404);
        assert_eq!(route("DELETE", "/nope", "", &state()).status, 404);
    }
}
