//! HTTP/1.1 towards targets, the part without I/O: request heads written out, response heads
//! parsed, how a response's body is delimited (RFC 9112 §6), and chunked bodies decoded.
//! `pool` moves the bytes.

use std::cell::RefCell;
use std::io::Write as _;
use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Version};

/// Most header fields a target's response may have (hyper's limit too).
const MAX_RESPONSE_HEADERS: usize = 100;
/// Largest response head accepted from a target.
pub(crate) const MAX_RESPONSE_HEAD_BYTES: usize = 64 * 1024;
/// Longest chunk-size line (size and extensions) or trailer section accepted.
const MAX_CHUNK_LINE_BYTES: usize = 4096;

/// Why a target's response could not be read.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub(crate) enum Invalid {
    #[error("malformed response head: {0}")]
    Head(httparse::Error),
    #[error("response head over {MAX_RESPONSE_HEAD_BYTES} bytes")]
    HeadTooLarge,
    #[error("invalid header field in the response")]
    HeaderField,
    #[error("invalid content-length")]
    ContentLength,
    #[error("malformed chunked body")]
    Chunk,
}

/// How the request body goes to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestBody {
    /// No body: nothing follows the head.
    None,
    /// As many bytes as the head's content-length says, passed on as they come.
    Length,
    /// A body of unknown length (a chunked HTTP/1.1 request, an HTTP/2 request without
    /// content-length): sent chunked.
    Chunked,
}

/// What the load balancer tells the target about the client (ALB's X-Forwarded-* fields and
/// trace id), written with the request's head rather than added to its header map: no
/// insertion, hashing or growth of the map per request.
pub(crate) struct Forwarded<'a> {
    /// Appended to the request's X-Forwarded-For.
    pub client_ip: &'a [u8],
    /// X-Forwarded-Proto and X-Forwarded-Port, replacing the request's.
    pub proto: &'static str,
    pub port: &'a [u8],
    /// Makes the X-Amzn-Trace-Id of a request that has none (only then: it reads the clock
    /// and draws random bits).
    pub new_trace_id: fn() -> [u8; TRACE_ID_LEN],
}

/// ALB's trace header: `Root=1-{epoch seconds, 8 hex}-{96 random bits, 24 hex}`, written
/// into a fixed buffer (this is on every request).
pub(crate) fn trace_id(epoch_seconds: u64, random: u128) -> [u8; TRACE_ID_LEN] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = *b"Root=1-00000000-000000000000000000000000";
    let seconds = (epoch_seconds as u32).to_be_bytes();
    let random = random.to_be_bytes();
    // Two digits per byte; the random part is the low 96 bits.
    for (start, bytes) in [(7, &seconds[..]), (16, &random[4..])] {
        for (i, byte) in bytes.iter().enumerate() {
            id[start + 2 * i] = HEX[usize::from(byte >> 4)];
            id[start + 2 * i + 1] = HEX[usize::from(byte & 0xf)];
        }
    }
    id
}

pub(crate) const TRACE_ID_LEN: usize = 40;

/// Writes `METHOD target HTTP/1.1`, the header fields, the forwarded fields and, for a chunked
/// body, the transfer-encoding that says so.
pub(crate) fn write_request_head(
    out: &mut Vec<u8>,
    method: &Method,
    target: &str,
    headers: &HeaderMap,
    forwarded: &Forwarded<'_>,
    body: RequestBody,
) {
    for part in [
        method.as_str(),
        " ",
        if target.is_empty() { "/" } else { target },
        " HTTP/1.1\r\n",
    ] {
        out.extend_from_slice(part.as_bytes());
    }
    let mut field = |name: &str, value: &[u8]| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    };
    let mut forwarded_for = false;
    let mut traced = false;
    for (name, value) in headers {
        match name.as_str() {
            X_FORWARDED_FOR => forwarded_for = true,
            X_AMZN_TRACE_ID => {
                traced = true;
                field(X_AMZN_TRACE_ID, value.as_bytes());
            }
            X_FORWARDED_PROTO | X_FORWARDED_PORT => {}
            name => field(name, value.as_bytes()),
        }
    }
    // ALB appends the client to the addresses the request came through, unless they are not
    // visible ASCII (then the client's address replaces them).
    let previous = forwarded_for.then(|| headers.get_all(X_FORWARDED_FOR));
    if let Some(previous) = previous
        && previous.iter().all(|value| value.to_str().is_ok())
    {
        let mut joined = Vec::with_capacity(64);
        for value in previous {
            joined.extend_from_slice(value.as_bytes());
            joined.extend_from_slice(b", ");
        }
        joined.extend_from_slice(forwarded.client_ip);
        field(X_FORWARDED_FOR, &joined);
    } else {
        field(X_FORWARDED_FOR, forwarded.client_ip);
    }
    field(X_FORWARDED_PROTO, forwarded.proto.as_bytes());
    field(X_FORWARDED_PORT, forwarded.port);
    if !traced {
        field(X_AMZN_TRACE_ID, &(forwarded.new_trace_id)());
    }
    if body == RequestBody::Chunked {
        field("transfer-encoding", b"chunked");
    }
    out.extend_from_slice(b"\r\n");
}

const X_FORWARDED_FOR: &str = "x-forwarded-for";
const X_FORWARDED_PROTO: &str = "x-forwarded-proto";
const X_FORWARDED_PORT: &str = "x-forwarded-port";
const X_AMZN_TRACE_ID: &str = "x-amzn-trace-id";

/// Writes one chunk of a chunked body (`data` must not be empty: an empty chunk ends the body).
pub(crate) fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    // Into the buffer directly: no string per chunk.
    let _ = write!(out, "{:x}\r\n", data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The end of a chunked body: the last chunk and an empty trailer section.
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// A parsed response head.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    /// What the fields that delimit the body and keep the connection said, gathered while the
    /// head was parsed (looking them up in `headers` afterwards would hash each again).
    connection: ConnectionFields,
}

#[derive(Debug)]
struct ConnectionFields {
    /// Content-Length: `Err` when its values are not one length.
    content_length: Result<Option<u64>, Invalid>,
    /// Transfer-Encoding, and whether its last coding is chunked.
    transfer_encoding: bool,
    chunked: bool,
    /// Connection's close and keep-alive options.
    close: bool,
    keep_alive: bool,
}

impl Default for ConnectionFields {
    fn default() -> Self {
        ConnectionFields {
            content_length: Ok(None),
            transfer_encoding: false,
            chunked: false,
            close: false,
            keep_alive: false,
        }
    }
}

impl ConnectionFields {
    fn observe(&mut self, name: &HeaderName, value: &HeaderValue) {
        if name == header::CONTENT_LENGTH {
            self.content_length = merge_length(self.content_length.clone(), value);
        } else if name == header::TRANSFER_ENCODING {
            // Chunked only when it is the last coding of the last field.
            self.transfer_encoding = true;
            self.chunked = value
                .to_str()
                .ok()
                .and_then(|value| value.rsplit(',').next())
                .is_some_and(|coding| coding.trim().eq_ignore_ascii_case("chunked"));
        } else if name == header::CONNECTION {
            for token in value.to_str().unwrap_or_default().split(',') {
                let token = token.trim();
                self.close |= token.eq_ignore_ascii_case("close");
                self.keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        }
    }
}

/// The length so far and one more Content-Length value: `a, a` and repeated fields of one
/// value are one length (RFC 9110 §8.6); anything else is invalid.
fn merge_length(
    length: Result<Option<u64>, Invalid>,
    value: &HeaderValue,
) -> Result<Option<u64>, Invalid> {
    let mut length = length?;
    for part in value
        .to_str()
        .map_err(|_| Invalid::ContentLength)?
        .split(',')
    {
        let part = part.trim();
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid::ContentLength);
        }
        let parsed: u64 = part.parse().map_err(|_| Invalid::ContentLength)?;
        if length.is_some_and(|previous| previous != parsed) {
            return Err(Invalid::ContentLength);
        }
        length = Some(parsed);
    }
    Ok(length)
}

/// Parses the response head at the start of `buffer`, taking it out of the buffer; `None` while
/// the head is incomplete. Header values share the head's bytes rather than being copied.
pub(crate) fn parse_response_head(buffer: &mut BytesMut) -> Result<Option<ResponseHead>, Invalid> {
    let mut fields = [const { MaybeUninit::uninit() }; MAX_RESPONSE_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buffer,
        &mut fields,
    );
    let length = match parsed {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) if buffer.len() > MAX_RESPONSE_HEAD_BYTES => {
            return Err(Invalid::HeadTooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(Invalid::Head(error)),
    };
    if length > MAX_RESPONSE_HEAD_BYTES {
        return Err(Invalid::HeadTooLarge);
    }
    let status = response
        .code
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or(Invalid::Head(httparse::Error::Status))?;
    let version = match response.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    // The fields' places in the head, so that names and values can be cut from it once it is
    // taken out of the buffer (the parser's slices borrow the buffer). Kept per thread: a
    // vector per response would be an allocation, an array on the stack a 100-entry memset.
    let start = buffer.as_ptr().addr();
    let place = |part: &[u8]| {
        let from = part.as_ptr().addr() - start;
        (from, from + part.len())
    };
    FIELD_PLACES.with_borrow_mut(|places| {
        places.clear();
        places.extend(
            response
                .headers
                .iter()
                .map(|field| (place(field.name.as_bytes()), place(field.value))),
        );
    });
    let head = buffer.split_to(length).freeze();
    let headers = FIELD_PLACES.with_borrow(|places| {
        let mut headers = HeaderMap::with_capacity(places.len());
        let mut connection = ConnectionFields::default();
        for &((name_from, name_to), (from, to)) in places {
            let name = HeaderName::from_bytes(&head[name_from..name_to])
                .map_err(|_| Invalid::HeaderField)?;
            let value = HeaderValue::from_maybe_shared(head.slice(from..to))
                .map_err(|_| Invalid::HeaderField)?;
            connection.observe(&name, &value);
            headers.append(name, value);
        }
        Ok((headers, connection))
    })?;
    let (headers, connection) = headers;
    Ok(Some(ResponseHead {
        status,
        version,
        headers,
        connection,
    }))
}

/// A field's name and value as ranges of its head.
type FieldPlace = ((usize, usize), (usize, usize));

thread_local! {
    static FIELD_PLACES: RefCell<Vec<FieldPlace>> = const { RefCell::new(Vec::new()) };
}
/// How a response's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseBody {
    /// No body (a HEAD request's response, 1xx, 204, 304).
    None,
    Length(u64),
    Chunked,
    /// Everything until the target closes the connection.
    UntilClose,
}

impl ResponseBody {
    /// RFC 9112 §6.3, for the response to a `HEAD` request or not.
    pub fn of(head_request: bool, response: &ResponseHead) -> Result<ResponseBody, Invalid> {
        let status = response.status;
        if head_request
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            return Ok(ResponseBody::None);
        }
        let fields = &response.connection;
        if fields.transfer_encoding {
            return Ok(if fields.chunked {
                ResponseBody::Chunked
            } else {
                ResponseBody::UntilClose
            });
        }
        let length = fields.content_length.clone()?;
        Ok(match length {
            Some(0) => ResponseBody::None,
            Some(length) => ResponseBody::Length(length),
            None => ResponseBody::UntilClose,
        })
    }
}

/// Whether the target keeps the connection open after this response (its version's default,
/// or what its Connection header says).
pub(crate) fn keeps_alive(response: &ResponseHead) -> bool {
    let fields = &response.connection;
    !fields.close && (response.version == Version::HTTP_11 || fields.keep_alive)
}

/// A chunked body, decoded as its bytes arrive.
#[derive(Debug, Default)]
pub(crate) struct ChunkedDecoder {
    state: ChunkState,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// At a chunk-size line.
    #[default]
    Size,
    /// Inside a chunk, this many bytes to go.
    Data(u64),
    /// After a chunk's data: its CRLF.
    DataEnd,
    /// After the last chunk: the trailer section up to its empty line.
    Trailers,
    Done,
}

/// What a chunked body yields.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    Data(Bytes),
    /// The body is complete; its bytes are out of the buffer.
    End,
}

impl ChunkedDecoder {
    /// The next piece of the body from `buffer`, taken out of it; `None` when the buffer holds
    /// too little to say.
    pub fn decode(&mut self, buffer: &mut BytesMut) -> Result<Option<Decoded>, Invalid> {
        loop {
            match self.state {
                // httparse takes a line without digits for size 0; RFC 9112 wants one at least.
                ChunkState::Size if buffer.first().is_some_and(|b| !b.is_ascii_hexdigit()) => {
                    return Err(Invalid::Chunk);
                }
                ChunkState::Size => match httparse::parse_chunk_size(buffer) {
                    Ok(httparse::Status::Complete((line, size))) => {
                        let _ = buffer.split_to(line);
                        self.state = if size == 0 {
                            ChunkState::Trailers
                        } else {
                            ChunkState::Data(size)
                        };
                    }
                    Ok(httparse::Status::Partial) if buffer.len() > MAX_CHUNK_LINE_BYTES => {
                        return Err(Invalid::Chunk);
                    }
                    Ok(httparse::Status::Partial) => return Ok(None),
                    Err(_) => return Err(Invalid::Chunk),
                },
                ChunkState::Data(remaining) => {
                    if buffer.is_empty() {
                        return Ok(None);
                    }
                    let taken = buffer
                        .len()
                        .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    let left = remaining - taken as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                    return Ok(Some(Decoded::Data(buffer.split_to(taken).freeze())));
                }
                ChunkState::DataEnd => {
                    if buffer.len() < 2 {
                        return Ok(None);
                    }
                    if &buffer[..2] != b"\r\n" {
                        return Err(Invalid::Chunk);
                    }
                    let _ = buffer.split_to(2);
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailers => {
                    // Trailer fields are not passed on: the section is skipped to its empty line.
                    let end = if buffer.starts_with(b"\r\n") {
                        Some(2)
                    } else {
                        buffer
                            .windows(4)
                            .position(|window| window == b"\r\n\r\n")
                            .map(|at| at + 4)
                    };
                    match end {
                        Some(end) => {
                            let _ = buffer.split_to(end);
                            self.state = ChunkState::Done;
                        }
                        None if buffer.len() > MAX_CHUNK_LINE_BYTES => return Err(Invalid::Chunk),
                        None => return Ok(None),
                    }
                }
                ChunkState::Done => return Ok(Some(Decoded::End)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> ResponseHead {
        let mut buffer = BytesMut::from(text);
        parse_response_head(&mut buffer).unwrap().unwrap()
    }

    #[test]
    fn trace_ids_have_albs_shape() {
        assert_eq!(
            &trace_id(0x5759_e988, 0xffff_0123_4567_89ab_cdef_0123_4567),
            b"Root=1-5759e988-0123456789abcdef01234567"
        );
        assert_eq!(&trace_id(1, 0), b"Root=1-00000001-000000000000000000000000");
    }

    #[test]
    fn request_heads_carry_method_target_fields_forwarded_fields_and_framing() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("example.com"));
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        headers.append("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        headers.append("x-forwarded-for", HeaderValue::from_static("10.0.0.2"));
        headers.append("x-forwarded-proto", HeaderValue::from_static("gopher"));
        headers.append("x-forwarded-port", HeaderValue::from_static("70"));
        let forwarded = Forwarded {
            client_ip: b"192.0.2.7",
            proto: "https",
            port: b"443",
            new_trace_id: || trace_id(0x5759_e988, 0xffff_0123_4567_89ab_cdef_0123_4567),
        };
        let mut out = Vec::new();
        let post = Method::POST;
        write_request_head(
            &mut out,
            &post,
            "/p?q=1",
            &headers,
            &forwarded,
            RequestBody::Chunked,
        );
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "POST /p?q=1 HTTP/1.1\r\nhost: example.com\r\nx-a: 1\r\nx-a: 2\r\n\
             x-forwarded-for: 10.0.0.1, 10.0.0.2, 192.0.2.7\r\nx-forwarded-proto: https\r\n\
             x-forwarded-port: 443\r\n\
             x-amzn-trace-id: Root=1-5759e988-0123456789abcdef01234567\r\n\
             transfer-encoding: chunked\r\n\r\n"
        );
        // Addresses that are not visible ASCII are replaced; a trace id the request has stays.
        let mut headers = HeaderMap::new();
        let not_ascii = HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap();
        headers.insert("x-forwarded-for", not_ascii);
        headers.insert("x-amzn-trace-id", HeaderValue::from_static("Root=1-mine"));
        out.clear();
        write_request_head(
            &mut out,
            &Method::GET,
            "",
            &headers,
            &forwarded,
            RequestBody::None,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "GET / HTTP/1.1\r\nx-amzn-trace-id: Root=1-mine\r\nx-forwarded-for: 192.0.2.7\r\n\
             x-forwarded-proto: https\r\nx-forwarded-port: 443\r\n\r\n"
        );
        let mut out = Vec::new();
        write_chunk(&mut out, &[b'x'; 26]);
        assert_eq!(&out[..4], b"1a\r\n");
        assert_eq!(&out[30..], b"\r\n");
    }

    #[test]
    fn response_heads_are_parsed_and_taken_out_of_the_buffer() {
        let mut buffer = BytesMut::from(
            "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nX-A: 1\r\nx-a: 2\r\n\r\nhi",
        );
        let head = parse_response_head(&mut buffer).unwrap().unwrap();
        assert_eq!(head.status, StatusCode::NOT_FOUND);
        assert_eq!(head.version, Version::HTTP_11);
        assert_eq!(head.headers["content-length"], "2");
        let values: Vec<_> = head.headers.get_all("x-a").iter().collect();
        assert_eq!(values, ["1", "2"]);
        assert_eq!(&buffer[..], b"hi");

        let mut partial = BytesMut::from("HTTP/1.1 200 OK\r\nContent-Le");
        assert_eq!(
            parse_response_head(&mut partial).unwrap().map(|h| h.status),
            None
        );
        assert_eq!(partial.len(), 27);

        let mut garbage = BytesMut::from("SSH-2.0-OpenSSH\r\n\r\n");
        assert!(matches!(
            parse_response_head(&mut garbage),
            Err(Invalid::Head(_))
        ));
        let mut endless = BytesMut::from("HTTP/1.1 200 OK\r\n");
        endless.extend(std::iter::repeat_n(b'x', MAX_RESPONSE_HEAD_BYTES));
        assert!(matches!(
            parse_response_head(&mut endless),
            Err(Invalid::HeadTooLarge)
        ));
    }

    #[test]
    fn bodies_are_delimited_as_rfc_9112_says() {
        let of = |head_request, text: &str| ResponseBody::of(head_request, &head(text));
        assert_eq!(
            of(false, "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"),
            Ok(ResponseBody::Length(5))
        );
        assert_eq!(
            of(true, "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"),
            Ok(ResponseBody::None)
        );
        assert_eq!(
            of(
                false,
                "HTTP/1.1 304 Not Modified\r\ncontent-length: 5\r\n\r\n"
            ),
            Ok(ResponseBody::None)
        );
        assert_eq!(
            of(false, "HTTP/1.1 204 No Content\r\n\r\n"),
            Ok(ResponseBody::None)
        );
        assert_eq!(
            of(false, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"),
            Ok(ResponseBody::None)
        );
        assert_eq!(
            of(
                false,
                "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\ncontent-length: 5\r\n\r\n"
            ),
            Ok(ResponseBody::Chunked)
        );
        assert_eq!(
            of(false, "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n"),
            Ok(ResponseBody::UntilClose)
        );
        assert_eq!(
            of(false, "HTTP/1.0 200 OK\r\n\r\n"),
            Ok(ResponseBody::UntilClose)
        );
        assert_eq!(
            of(
                false,
                "HTTP/1.1 200 OK\r\ncontent-length: 7, 7\r\ncontent-length: 7\r\n\r\n"
            ),
            Ok(ResponseBody::Length(7))
        );
        for bad in ["7, 8", "-1", "+7", "", "0x10", "99999999999999999999999"] {
            assert_eq!(
                of(
                    false,
                    &format!("HTTP/1.1 200 OK\r\ncontent-length: {bad}\r\n\r\n")
                ),
                Err(Invalid::ContentLength),
                "{bad}"
            );
        }
    }

    #[test]
    fn connections_are_kept_as_the_version_and_connection_header_say() {
        assert!(keeps_alive(&head("HTTP/1.1 200 OK\r\n\r\n")));
        assert!(!keeps_alive(&head(
            "HTTP/1.1 200 OK\r\nConnection: Close\r\n\r\n"
        )));
        assert!(!keeps_alive(&head("HTTP/1.0 200 OK\r\n\r\n")));
        assert!(keeps_alive(&head(
            "HTTP/1.0 200 OK\r\nconnection: keep-alive\r\n\r\n"
        )));
    }

    #[test]
    fn chunked_bodies_decode_however_their_bytes_are_split() {
        let wire = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";
        // Every split of the wire into two reads gives the same body and leaves the next
        // response's bytes in the buffer.
        for split in 0..wire.len() {
            let mut decoder = ChunkedDecoder::default();
            let mut buffer = BytesMut::new();
            let mut body = Vec::new();
            let mut ended = false;
            for part in [&wire[..split], &wire[split..]] {
                buffer.extend_from_slice(part);
                while let Some(decoded) = decoder.decode(&mut buffer).unwrap() {
                    match decoded {
                        Decoded::Data(data) => body.extend_from_slice(&data),
                        Decoded::End => {
                            ended = true;
                            break;
                        }
                    }
                }
            }
            assert!(ended, "split at {split}");
            assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.", "split at {split}");
            assert_eq!(&buffer[..], b"NEXT", "split at {split}");
        }
        for bad in [&b"zz\r\n"[..], b"3\r\nabcX\r\n", b"\r\n"] {
            let mut buffer = BytesMut::from(bad);
            let mut decoder = ChunkedDecoder::default();
            let result =
                std::iter::from_fn(|| decoder.decode(&mut buffer).transpose()).find(Result::is_err);
            assert_eq!(result, Some(Err(Invalid::Chunk)), "{bad:?}");
        }
        let mut endless = BytesMut::from(&b"1"[..]);
        endless.extend(std::iter::repeat_n(b'0', MAX_CHUNK_LINE_BYTES));
        assert_eq!(
            ChunkedDecoder::default().decode(&mut endless),
            Err(Invalid::Chunk)
        );
    }
}
