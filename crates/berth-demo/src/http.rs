//! The pure parts of HTTP/1.1 that the server and `check` need: request and status lines,
//! headers, query strings with percent-decoding, `http://` URLs, and response framing.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine {
    pub method: String,
    pub target: String,
    pub version: Version,
}

/// `GET /path?query HTTP/1.1` (without the line ending).
pub fn parse_request_line(line: &str) -> Result<RequestLine, String> {
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("malformed request line {line:?}"));
    };
    if method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(format!("malformed method {method:?}"));
    }
    if !target.starts_with('/') {
        return Err(format!("unsupported request target {target:?}"));
    }
    let version = match version {
        "HTTP/1.1" => Version::Http11,
        "HTTP/1.0" => Version::Http10,
        other => return Err(format!("unsupported version {other:?}")),
    };
    Ok(RequestLine {
        method: method.to_string(),
        target: target.to_string(),
        version,
    })
}

/// `Name: value` with the name lowercased and the value trimmed.
pub fn parse_header(line: &str) -> Option<(String, String)> {
    let (name, value) = line.split_once(':')?;
    if name.is_empty() || name.contains([' ', '\t']) {
        return None;
    }
    Some((name.to_ascii_lowercase(), value.trim().to_string()))
}

/// Whether a comma-separated header value (such as `Connection`) contains `token`.
pub fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

/// Splits a request target into its path and its query (empty without `?`).
pub fn split_target(target: &str) -> (&str, &str) {
    let target = target.split_once('#').map_or(target, |(before, _)| before);
    target.split_once('?').unwrap_or((target, ""))
}

/// The first value of `name` in a query string, decoded (`%XX` and `+` for space).
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(key, _)| decode_component(key) == name)
        .map(|(_, value)| decode_component(value))
}

/// Percent-decodes a query component. A `%` not followed by two hex digits stays as it is, and
/// bytes that are not UTF-8 become U+FFFD, so that any input yields some line to log.
pub fn decode_component(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' => match (hex(bytes.get(index + 1)), hex(bytes.get(index + 2))) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    index += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(byte: Option<&u8>) -> Option<u8> {
    match byte? {
        digit @ b'0'..=b'9' => Some(digit - b'0'),
        letter @ b'a'..=b'f' => Some(letter - b'a' + 10),
        letter @ b'A'..=b'F' => Some(letter - b'A' + 10),
        _ => None,
    }
}

/// An `http://` URL, split for a plain TCP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// As given, for messages.
    pub text: String,
    /// Without the brackets of an IPv6 literal.
    pub host: String,
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
    /// The `Host` header value.
    pub authority: String,
}

pub fn parse_url(text: &str) -> Result<Url, String> {
    let scheme_end = text
        .find("://")
        .ok_or_else(|| format!("{text:?} is not a URL"))?;
    if !text[..scheme_end].eq_ignore_ascii_case("http") {
        return Err(format!("{text:?}: only http:// URLs are supported"));
    }
    let rest = &text[scheme_end + 3..];
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    if authority.contains('@') {
        return Err(format!("{text:?}: credentials in URLs are not supported"));
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("{text:?}: unclosed IPv6 literal"))?;
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(format!("{text:?}: malformed host")),
            },
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("{text:?}: no host"));
    }
    let port = match port {
        None | Some("") => 80,
        Some(port) => port
            .parse::<u16>()
            .map_err(|_| format!("{text:?}: malformed port {port:?}"))?,
    };
    let path = match path {
        "" => "/".to_string(),
        query if query.starts_with('?') => format!("/{query}"),
        path => path.to_string(),
    };
    Ok(Url {
        text: text.to_string(),
        host: host.to_string(),
        port,
        path,
        authority: authority.to_string(),
    })
}

/// The status code of `HTTP/1.1 200 OK`.
pub fn parse_status_line(line: &str) -> Option<u16> {
    let mut parts = line.trim_end().splitn(3, ' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let status = parts.next()?;
    if status.len() != 3 {
        return None;
    }
    status.parse().ok()
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// A complete response. `Content-Length` is always the body's length, also for HEAD (whose body is
/// left out), so clients can frame keep-alive connections.
pub fn response(
    status: u16,
    extra_headers: &[(&str, &str)],
    body: &str,
    include_body: bool,
    keep_alive: bool,
) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: {}\r\n",
        reason(status),
        body.len(),
        if keep_alive { "keep-alive" } else { "close" },
    );
    for (name, value) in extra_headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    if include_body {
        bytes.extend_from_slice(body.as_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        assert_eq!(
            parse_request_line("GET /cpu?ms=5 HTTP/1.1"),
            Ok(RequestLine {
                method: "GET".into(),
                target: "/cpu?ms=5".into(),
                version: Version::Http11
            })
        );
        assert_eq!(
            parse_request_line("HEAD / HTTP/1.0").map(|line| line.version),
            Ok(Version::Http10)
        );
        for bad in [
            "",
            "GET",
            "GET /",
            "GET / HTTP/1.1 extra",
            "GET  / HTTP/1.1",
            "GET http://host/ HTTP/1.1",
            "GET / HTTP/2",
            "G(T / HTTP/1.1",
        ] {
            assert!(parse_request_line(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn headers_and_tokens() {
        assert_eq!(
            parse_header("Content-Length:  12 "),
            Some(("content-length".into(), "12".into()))
        );
        assert_eq!(parse_header("no colon"), None);
        assert_eq!(parse_header("Bad Name: x"), None);
        assert!(has_token("keep-alive, Close", "close"));
        assert!(!has_token("closed", "close"));
    }

    #[test]
    fn targets_and_query_strings() {
        assert_eq!(split_target("/log?line=a"), ("/log", "line=a"));
        assert_eq!(split_target("/health"), ("/health", ""));
        assert_eq!(split_target("/x?a=1#frag"), ("/x", "a=1"));
        let query = "code=7&line=hello%20world+again%21&empty=&flag";
        assert_eq!(query_param(query, "code").as_deref(), Some("7"));
        assert_eq!(
            query_param(query, "line").as_deref(),
            Some("hello world again!")
        );
        assert_eq!(query_param(query, "empty").as_deref(), Some(""));
        assert_eq!(query_param(query, "flag").as_deref(), Some(""));
        assert_eq!(query_param(query, "missing"), None);
        assert_eq!(query_param("a=1&a=2", "a").as_deref(), Some("1"));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(decode_component("caf%C3%A9"), "café");
        assert_eq!(decode_component("100%"), "100%");
        assert_eq!(decode_component("%4"), "%4");
        assert_eq!(decode_component("%zz%41"), "%zzA");
        assert_eq!(decode_component("a%2Bb"), "a+b");
        assert_eq!(decode_component("%FF"), "\u{FFFD}");
    }

    #[test]
    fn urls() {
        let url = parse_url("http://127.0.0.1:8080/health").unwrap();
        assert_eq!(
            (
                url.host.as_str(),
                url.port,
                url.path.as_str(),
                url.authority.as_str()
            ),
            ("127.0.0.1", 8080, "/health", "127.0.0.1:8080")
        );
        let url = parse_url("HTTP://localhost").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.path.as_str()),
            ("localhost", 80, "/")
        );
        let url = parse_url("http://[::1]:81?x=1#f").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.path.as_str()),
            ("::1", 81, "/?x=1")
        );
        for bad in [
            "127.0.0.1:8080/health",
            "https://a/",
            "http:///x",
            "http://a:99999/",
            "http://u@a/",
            "http://[::1/",
        ] {
            assert!(parse_url(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line("HTTP/1.1 204 No Content\r\n"), Some(204));
        assert_eq!(parse_status_line("HTTP/1.0 503\r\n"), Some(503));
        assert_eq!(parse_status_line("SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status_line("HTTP/1.1 2000 Big"), None);
    }

    #[test]
    fn head_responses_keep_the_length_and_drop_the_body() {
        let get = String::from_utf8(response(200, &[], "ok", true, true)).unwrap();
        assert!(get.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(get.contains("Content-Length: 2\r\n"));
        assert!(get.contains("Connection: keep-alive\r\n"));
        assert!(get.ends_with("\r\n\r\nok"));
        let head =
            String::from_utf8(response(405, &[("Allow", "GET")], "no", false, false)).unwrap();
        assert!(head.contains("Content-Length: 2\r\nConnection: close\r\nAllow: GET\r\n\r\n"));
        assert!(head.ends_with("\r\n\r\n"));
    }
}
