//! The canonical request: the exact bytes a signature is over, rebuilt from a request as it
//! arrived.

use crate::RequestParts;

/// Percent-encodes every byte outside RFC 3986's unreserved set (and outside `keep`), with
/// upper-case hex, as AWS and Python's `quote` do.
pub fn encode(input: &[u8], keep: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in input {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) || keep.contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 15)]));
        }
    }
}

/// Decodes a query component as `application/x-www-form-urlencoded` does: `%XY` escapes and
/// `+` for space. botocore puts `AWSRequest.params` on the wire with Python's `urlencode` (which
/// writes a space as `+`) while signing them `quote`d (`%20`), so `+` must read as a space for
/// its requests to verify; no client writes a literal `+` unescaped. A `%` not followed by two
/// hex digits stays as it is.
fn decode_component(input: &str) -> Vec<u8> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|&b| char::from(b).to_digit(16));
        match bytes[i] {
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(high), Some(low)) => {
                    // Two hex digits make at most 0xff.
                    out.push((high * 16 + low) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            byte => out.push(byte),
        }
        i += 1;
    }
    out
}

/// The query string's parameters, decoded, in arrival order.
pub fn query_params(query: &str) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_component(name), decode_component(value))
        })
}

/// The path as AWS canonicalizes it for every service but S3 (botocore's
/// `SigV4Auth._normalize_url_path`): dot segments and empty segments removed, then every byte
/// but `/` and the unreserved ones percent-encoded — so an escape already in the path is
/// encoded a second time (`%20` becomes `%2520`).
pub fn uri(path: &str) -> String {
    let segments = path.split('/').fold(Vec::new(), |mut kept, segment| {
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            _ => kept.push(segment),
        }
        kept
    });
    let mut normalized = String::with_capacity(path.len() + 1);
    if path.starts_with('/') || path.is_empty() {
        normalized.push('/');
    }
    normalized.push_str(&segments.join("/"));
    if path.ends_with('/') && !segments.is_empty() {
        normalized.push('/');
    }
    let mut out = String::with_capacity(normalized.len());
    encode(normalized.as_bytes(), b"/", &mut out);
    out
}

/// Every parameter (but `skip`) decoded and re-encoded with the unreserved set, sorted by name
/// then value, as `name=value` joined by `&`.
pub fn query(query: &str, skip: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = query_params(query)
        .filter(|(name, _)| skip.is_none_or(|skip| name != skip.as_bytes()))
        .map(|(name, value)| {
            let (mut encoded_name, mut encoded_value) = (String::new(), String::new());
            encode(&name, b"", &mut encoded_name);
            encode(&value, b"", &mut encoded_value);
            (encoded_name, encoded_value)
        })
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// A header's value with leading and trailing whitespace removed and every inner run of
/// whitespace collapsed to one space.
fn put_trimmed(value: &[u8], out: &mut Vec<u8>) {
    let already_trimmed = value.first() != Some(&b' ')
        && value.last() != Some(&b' ')
        && !value.windows(2).any(|pair| pair == b"  ")
        && value.iter().all(|&b| b == b' ' || !b.is_ascii_whitespace());
    if already_trimmed {
        // What nearly every client sends: one write instead of one per word.
        out.extend_from_slice(value);
        return;
    }
    for (i, word) in value
        .split(u8::is_ascii_whitespace)
        .filter(|word| !word.is_empty())
        .enumerate()
    {
        if i > 0 {
            out.extend_from_slice(b" ");
        }
        out.extend_from_slice(word);
    }
}

/// Writes the canonical request to `out`, or names the first signed header the request does
/// not carry.
pub fn write_request(
    request: &RequestParts,
    signed_headers: &[impl AsRef<str>],
    query_skip: Option<&str>,
    payload: &str,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    out.extend_from_slice(request.method.as_bytes());
    out.extend_from_slice(b"\n");
    // Nearly every API request goes to `/`, which is its own canonical form.
    if request.path == "/" {
        out.extend_from_slice(b"/");
    } else {
        out.extend_from_slice(uri(request.path).as_bytes());
    }
    out.extend_from_slice(b"\n");
    if !request.query.is_empty() {
        out.extend_from_slice(query(request.query, query_skip).as_bytes());
    }
    out.extend_from_slice(b"\n");
    for name in signed_headers {
        let name = name.as_ref();
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b":");
        let mut found = false;
        for (_, value) in request
            .headers
            .iter()
            .filter(|(header, _)| header.eq_ignore_ascii_case(name))
        {
            if found {
                out.extend_from_slice(b",");
            }
            found = true;
            put_trimmed(value, out);
        }
        if !found {
            return Err(name.to_string());
        }
        out.extend_from_slice(b"\n");
    }
    out.extend_from_slice(b"\n");
    for (i, name) in signed_headers.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b";");
        }
        out.extend_from_slice(name.as_ref().as_bytes());
    }
    out.extend_from_slice(b"\n");
    out.extend_from_slice(payload.as_bytes());
    Ok(())
}

/// The canonical request, or the first signed header the request does not carry.
#[cfg(test)]
pub fn request(
    request: &RequestParts,
    signed_headers: &[String],
    query_skip: Option<&str>,
    payload: &str,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(512);
    write_request(request, signed_headers, query_skip, payload, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_then_encoded_again() {
        for (path, expected) in [
            ("", "/"),
            ("/", "/"),
            ("//", "/"),
            ("/a//b/", "/a/b/"),
            ("/a/./b/../c", "/a/c"),
            ("/../..", "/"),
            ("/foo%20bar", "/foo%2520bar"),
            ("/service/X/operation/Y", "/service/X/operation/Y"),
            ("/é ~", "/%C3%A9%20~"),
            ("/a=b+c", "/a%3Db%2Bc"),
        ] {
            assert_eq!(uri(path), expected, "{path}");
        }
    }

    #[test]
    fn query_is_decoded_sorted_and_reencoded() {
        assert_eq!(query("", None), "");
        assert_eq!(query("b=2&a=1&a=0", None), "a=0&a=1&b=2");
        assert_eq!(query("flag&x=", None), "flag=&x=");
        assert_eq!(query("a=b+c%2B%7e~&&", None), "a=b%20c%2B~~");
        assert_eq!(query("k=%zz%4", None), "k=%25zz%254");
        assert_eq!(query("%C3%A9=%e2%82%ac", None), "%C3%A9=%E2%82%AC");
        assert_eq!(
            query("X-Amz-Signature=ab&X-Amz-Date=1", Some("X-Amz-Signature")),
            "X-Amz-Date=1"
        );
        // Sorting is by encoded name, byte-wise: upper case before lower case.
        assert_eq!(query("b=1&B=2&_=3", None), "B=2&_=3&b=1");
    }

    #[test]
    fn values_already_trimmed_are_written_as_they_are_and_others_trimmed() {
        for (value, expected) in [
            (&b"example.com"[..], "example.com"),
            (b"a b c", "a b c"),
            (b"", ""),
            (b" a", "a"),
            (b"a ", "a"),
            (b"a  b", "a b"),
            (b"a\tb", "a b"),
            (b"\t", ""),
            (b"a \r\n b", "a b"),
        ] {
            let mut out = Vec::new();
            put_trimmed(value, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), expected, "{value:?}");
        }
    }

    #[test]
    fn header_values_are_trimmed_and_joined() {
        let headers: &[(&str, &[u8])] = &[
            ("Host", b"example.com"),
            ("X-Multi", b"  a   b \t c  "),
            ("x-multi", b"d"),
        ];
        let request = RequestParts {
            method: "GET",
            path: "/",
            query: "",
            headers,
            payload_sha256: "p",
        };
        let canonical = self::request(
            &request,
            &["host".into(), "x-multi".into()],
            None,
            "payload",
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(canonical).unwrap(),
            "GET\n/\n\nhost:example.com\nx-multi:a b c,d\n\nhost;x-multi\npayload"
        );
        assert_eq!(
            self::request(&request, &["x-absent".into()], None, "p"),
            Err("x-absent".to_string())
        );
    }
}
