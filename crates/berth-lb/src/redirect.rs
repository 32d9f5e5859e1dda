//! Redirect actions, pure: the `Location` an ALB redirect sends, from the request's URL parts and
//! the action's, where any part may reuse the request's by `#{protocol}`, `#{host}`, `#{port}`,
//! `#{path}` (without its leading slash) and `#{query}`.

use crate::config::{Protocol, Redirect};

/// The parts of the request URL a redirect may reuse.
#[derive(Debug, Clone, Copy)]
pub struct OriginalUrl<'a> {
    pub protocol: Protocol,
    pub host: &'a str,
    pub port: u16,
    /// With its leading slash.
    pub path: &'a str,
    /// Without `?`.
    pub query: Option<&'a str>,
}

pub fn location(redirect: &Redirect, original: &OriginalUrl<'_>) -> String {
    let port_text = original.port.to_string();
    let protocol_text = match original.protocol {
        Protocol::Http => "HTTP",
        Protocol::Https => "HTTPS",
    };
    let substitute = |template: &str| {
        template
            .replace("#{protocol}", protocol_text)
            .replace("#{host}", original.host)
            .replace("#{port}", &port_text)
            .replace(
                "#{path}",
                original.path.strip_prefix('/').unwrap_or(original.path),
            )
            .replace("#{query}", original.query.unwrap_or(""))
    };
    let protocol = match redirect.protocol.as_deref().map(substitute) {
        Some(p) if p.eq_ignore_ascii_case("HTTPS") => Protocol::Https,
        Some(p) if p.eq_ignore_ascii_case("HTTP") => Protocol::Http,
        _ => original.protocol,
    };
    let host = redirect
        .host
        .as_deref()
        .map_or_else(|| original.host.to_string(), substitute);
    let port = redirect
        .port
        .as_deref()
        .map(substitute)
        .and_then(|p| p.parse::<u16>().ok())
        // A redirect to another protocol without a port goes to that protocol's usual port.
        .unwrap_or(if protocol == original.protocol {
            original.port
        } else {
            protocol.default_port()
        });
    let path = redirect
        .path
        .as_deref()
        .map_or_else(|| original.path.to_string(), substitute);
    let query = redirect
        .query
        .as_deref()
        .map_or_else(|| original.query.unwrap_or("").to_string(), substitute);

    let mut url = format!("{}://{host}", protocol.scheme());
    if port != protocol.default_port() {
        url.push_str(&format!(":{port}"));
    }
    if !path.starts_with('/') {
        url.push('/');
    }
    url.push_str(&path);
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn original() -> OriginalUrl<'static> {
        OriginalUrl {
            protocol: Protocol::Http,
            host: "app.example.com",
            port: 80,
            path: "/a/b",
            query: Some("x=1"),
        }
    }

    fn redirect() -> Redirect {
        Redirect {
            protocol: None,
            host: None,
            port: None,
            path: None,
            query: None,
            permanent: true,
        }
    }

    #[test]
    fn http_to_https_keeps_everything_else_and_drops_the_default_port() {
        let to_https = Redirect {
            protocol: Some("HTTPS".into()),
            port: Some("443".into()),
            ..redirect()
        };
        assert_eq!(
            location(&to_https, &original()),
            "https://app.example.com/a/b?x=1"
        );
        let without_port = Redirect {
            protocol: Some("HTTPS".into()),
            ..redirect()
        };
        assert_eq!(
            location(&without_port, &original()),
            "https://app.example.com/a/b?x=1"
        );
    }

    #[test]
    fn placeholders_reuse_request_parts() {
        let moved = Redirect {
            host: Some("new.#{host}".into()),
            port: Some("#{port}".into()),
            path: Some("/v2/#{path}".into()),
            query: Some("#{query}&from=#{protocol}".into()),
            ..redirect()
        };
        let mut request = original();
        request.port = 8080;
        assert_eq!(
            location(&moved, &request),
            "http://new.app.example.com:8080/v2/a/b?x=1&from=HTTP"
        );
    }

    #[test]
    fn empty_query_has_no_question_mark() {
        let mut request = original();
        request.query = None;
        assert_eq!(
            location(&redirect(), &request),
            "http://app.example.com/a/b"
        );
        let cleared = Redirect {
            query: Some(String::new()),
            ..redirect()
        };
        assert_eq!(
            location(&cleared, &original()),
            "http://app.example.com/a/b"
        );
    }

    #[test]
    fn explicit_port_and_protocol_placeholder() {
        let custom = Redirect {
            protocol: Some("#{protocol}".into()),
            port: Some("9000".into()),
            path: Some("/".into()),
            ..redirect()
        };
        assert_eq!(
            location(&custom, &original()),
            "http://app.example.com:9000/?x=1"
        );
    }
}
