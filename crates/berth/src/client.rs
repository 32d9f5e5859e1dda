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
