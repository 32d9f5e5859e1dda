//! The CLI's own HTTP client: one request per connection to the control plane (on loopback or
//! a trusted network), signed with the credentials aws-cli would use.

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The body of a GET of `path` on the server, which must answer 200.
pub async fn get(server: &str, path: &str) -> anyhow::Result<String> {
    let authority = authority(server)?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    let (status, body) = exchange(authority, &request).await?;
    if status != 200 {
        bail!("GET {path} answered {status}: {body}");
    }
    Ok(body)
}

fn authority(server: &str) -> anyhow::Result<&str> {
    Ok(server
        .strip_prefix("http://")
        .with_context(|| format!("--server must be an http:// URL, not {server}"))?
        .trim_end_matches('/'))
}

/// Sends one request on a new connection and reads the whole response.
async fn exchange(authority: &str, request: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(authority)
        .await
        .with_context(|| format!("connecting to {authority}"))?;
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("malformed HTTP response")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("malformed HTTP status line")?;
    Ok((status, body.to_string()))
}

/// One HTTP/1.1 POST over plain TCP (the control plane on loopback or a trusted network),
/// signed with the credentials aws-cli would use, as an `ecs` request of `region`.
pub async fn post(
    server: &str,
    path: &str,
    body: &str,
    region: &str,
) -> anyhow::Result<(u16, String)> {
    let authority = authority(server)?;
    let credentials = crate::credentials::client_credentials()?;
    let signed = berth_protocol::sigv4::sign(
        &credentials,
        &berth_protocol::sigv4::Request {
            method: "POST",
            host: authority,
            path,
            headers: &[("content-type", "application/json")],
            body: body.as_bytes(),
        },
        (region, "ecs"),
        berth_protocol::sigv4::now(),
    );
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in signed {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    exchange(authority, &request).await
}

/// One AWS JSON-protocol call (`X-Amz-Target: TARGET.OPERATION`) signed for `service` in
/// `region`; an error answer becomes an error naming its code and message.
pub async fn aws_json(
    server: &str,
    region: &str,
    (service, target, content_type): (&str, &str, &str),
    operation: &str,
    input: &Value,
) -> anyhow::Result<Value> {
    let authority = authority(server)?;
    let credentials = crate::credentials::client_credentials()?;
    let body = input.to_string();
    let target = format!("{target}.{operation}");
    let headers = [
        ("content-type", content_type),
        ("x-amz-target", target.as_str()),
    ];
    let signed = berth_protocol::sigv4::sign(
        &credentials,
        &berth_protocol::sigv4::Request {
            method: "POST",
            host: authority,
            path: "/",
            headers: &headers,
            body: body.as_bytes(),
        },
        (region, service),
        berth_protocol::sigv4::now(),
    );
    let mut request = format!(
        "POST / HTTP/1.1\r\nHost: {authority}\r\nContent-Type: {content_type}\r\nX-Amz-Target: {target}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in signed {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    let (status, answer) = exchange(authority, &request).await?;
    let answer: Value = serde_json::from_str(&answer)
        .with_context(|| format!("{operation}: unreadable answer: {answer}"))?;
    if status != 200 {
        let code = answer["__type"].as_str().unwrap_or("error");
        bail!(
            "{operation}: {}: {}",
            code.rsplit('#').next().unwrap_or(code),
            answer["message"]
                .as_str()
                .or(answer["Message"].as_str())
                .unwrap_or_default()
        );
    }
    Ok(answer)
}

/// ECS (`AmazonEC2ContainerServiceV20141113`, JSON 1.1).
pub const ECS: (&str, &str, &str) = (
    "ecs",
    "AmazonEC2ContainerServiceV20141113",
    "application/x-amz-json-1.1",
);
/// CloudWatch Logs (`Logs_20140328`, JSON 1.1).
pub const LOGS: (&str, &str, &str) = ("logs", "Logs_20140328", "application/x-amz-json-1.1");

/// The answer to a signed GET, read as it arrives: a long-lived (chunked) body such as a
/// Server-Sent Events stream.
pub struct StreamingBody {
    reader: tokio::io::BufReader<TcpStream>,
    chunked: bool,
    /// Body bytes read and not yet handed out as lines.
    pending: Vec<u8>,
    ended: bool,
}

impl StreamingBody {
    /// The next line of the body without its line ending; `None` once the body has ended.
    pub async fn next_line(&mut self) -> anyhow::Result<Option<String>> {
        loop {
            if let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
                let mut line: Vec<u8> = self.pending.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(
                    String::from_utf8(line).context("a line that is not UTF-8")?,
                ));
            }
            if self.ended {
                // What follows the last line ending is a last line of its own.
                if self.pending.is_empty() {
                    return Ok(None);
                }
                let rest = std::mem::take(&mut self.pending);
                return Ok(Some(
                    String::from_utf8(rest).context("a line that is not UTF-8")?,
                ));
            }
            self.fill().await?;
        }
    }

    /// Reads more of the body: the next chunk, or what the connection has.
    async fn fill(&mut self) -> anyhow::Result<()> {
        use tokio::io::AsyncBufReadExt;
        if !self.chunked {
            let mut buffer = [0u8; 8192];
            let read = self.reader.read(&mut buffer).await?;
            self.pending.extend_from_slice(&buffer[..read]);
            self.ended = read == 0;
            return Ok(());
        }
        let mut size_line = String::new();
        if self.reader.read_line(&mut size_line).await? == 0 {
            bail!("the connection closed in the middle of the answer");
        }
        let size = size_line.trim().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size, 16)
            .with_context(|| format!("malformed chunk size {size_line:?}"))?;
        if size == 0 {
            self.ended = true;
            return Ok(());
        }
        let start = self.pending.len();
        self.pending.resize(start + size, 0);
        self.reader.read_exact(&mut self.pending[start..]).await?;
        let mut crlf = [0u8; 2];
        self.reader.read_exact(&mut crlf).await?;
        Ok(())
    }
}

/// A GET of `path?query` signed as an `ecs` request of `region`, with `headers`, whose body is
/// read as it arrives; an answer other than 200 is an error carrying its body.
pub async fn get_streaming(
    server: &str,
    region: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
) -> anyhow::Result<StreamingBody> {
    use tokio::io::AsyncBufReadExt;
    let authority = authority(server)?;
    let credentials = crate::credentials::client_credentials()?;
    let signed = berth_protocol::sigv4::sign_with_query(
        &credentials,
        &berth_protocol::sigv4::Request {
            method: "GET",
            host: authority,
            path,
            headers,
            body: b"",
        },
        query,
        (region, "ecs"),
        berth_protocol::sigv4::now(),
    );
    let target = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    };
    let mut request =
        format!("GET {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (name, value) in headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .chain(signed)
    {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut stream = TcpStream::connect(authority)
        .await
        .with_context(|| format!("connecting to {authority}"))?;
    stream.write_all(request.as_bytes()).await?;
    let mut reader = tokio::io::BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).await?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("malformed HTTP status line")?;
    let mut chunked = false;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).await? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            chunked |= name.trim().eq_ignore_ascii_case("transfer-encoding")
                && value.trim().eq_ignore_ascii_case("chunked");
        }
    }
    let mut body = StreamingBody {
        reader,
        chunked,
        pending: Vec::new(),
        ended: false,
    };
    if status != 200 {
        let mut text = Vec::new();
        while let Some(line) = body.next_line().await? {
            text.push(line);
        }
        return Err(Refused {
            status,
            body: text.join("\n"),
        }
        .into());
    }
    Ok(body)
}

/// The server answered a request with an error status: asking again the same way will not help.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub body: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the server answered {}: {}", self.status, self.body)
    }
}

impl std::error::Error for Refused {}
