//! `check URL`: one HTTP GET for container health checks, which cannot use curl in an image
//! without a shell or a libc.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::http::{self, Url};

/// For the whole check: below the 5 s that ECS and Docker give a health check command by default,
/// counting our own start-up.
pub const TIMEOUT: Duration = Duration::from_millis(4500);

/// The status code `url` answers with.
pub fn check(url: &Url, timeout: Duration) -> io::Result<u16> {
    let deadline = Instant::now() + timeout;
    let mut stream = connect(url, deadline)?;
    stream.set_write_timeout(Some(remaining(deadline)?))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: berth-demo-check\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.path, url.authority
    );
    stream.write_all(request.as_bytes())?;
    stream.set_read_timeout(Some(remaining(deadline)?))?;
    let mut status_line = String::new();
    BufReader::new(stream.take(8 * 1024)).read_line(&mut status_line)?;
    http::parse_status_line(&status_line).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not an HTTP response: {:?}", status_line.trim_end()),
        )
    })
}

fn connect(url: &Url, deadline: Instant) -> io::Result<TcpStream> {
    let mut last_error = None;
    for address in addresses(url)? {
        match TcpStream::connect_timeout(&address, remaining(deadline)?) {
            Ok(stream) => return Ok(stream),
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} has no address", url.host),
        )
    }))
}

/// IP literals and `localhost` skip the resolver: a static binary cannot load NSS modules and a
/// scratch image has no nsswitch.conf, so only glibc's built-in sources (glibc 2.34 and later:
/// /etc/hosts and DNS, which Docker provides) answer the other names.
fn addresses(url: &Url) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = url.host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, url.port)]);
    }
    if url.host.eq_ignore_ascii_case("localhost") {
        return Ok(vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), url.port),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), url.port),
        ]);
    }
    Ok((url.host.as_str(), url.port).to_socket_addrs()?.collect())
}

fn remaining(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"))
    } else {
        Ok(left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    fn url(text: &str) -> Url {
        http::parse_url(text).unwrap()
    }

    fn one_shot_server(answer: &'static str) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(answer.as_bytes());
        });
        port
    }

    #[test]
    fn reports_the_status_code() {
        let port = one_shot_server("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
        let status = check(&url(&format!("http://localhost:{port}/health")), TIMEOUT).unwrap();
        assert_eq!(status, 204);
        let port = one_shot_server("HTTP/1.1 503 Service Unavailable\r\n\r\n");
        let status = check(&url(&format!("http://127.0.0.1:{port}/")), TIMEOUT).unwrap();
        assert_eq!(status, 503);
    }

    #[test]
    fn refused_and_silent_servers_are_errors() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let started = Instant::now();
        // Accepted by the kernel's backlog but never answered: the timeout must end it.
        assert!(
            check(
                &url(&format!("http://127.0.0.1:{port}/")),
                Duration::from_millis(300)
            )
            .is_err()
        );
        assert!(started.elapsed() < Duration::from_secs(3));
        drop(listener);
        assert!(check(&url(&format!("http://127.0.0.1:{port}/")), TIMEOUT).is_err());
    }
}
