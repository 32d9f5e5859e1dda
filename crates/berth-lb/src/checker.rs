//! Active health checks: one task per target of a group in use, checking at the group's
//! interval over a fresh connection each time (a target that stops accepting connections is
//! seen at once), and feeding the outcome into the target's health state machine.

use std::sync::{Arc, Weak};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::watch;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;

use crate::config::{HealthCheck, Protocol};
use crate::dataplane::{Shared, TargetState};
use crate::health::Outcome;
use crate::upstream;

pub(crate) async fn run(
    shared: Weak<Shared>,
    target_group: String,
    target: Arc<TargetState>,
    mut settings: watch::Receiver<HealthCheck>,
) {
    let tls = upstream::tls_connector();
    loop {
        let check = settings.borrow_and_update().clone();
        let outcome = check_once(&check, &target, &tls).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if target.observe(&outcome, &check, Instant::now()) {
            tracing::info!(%target_group, target = %target.address, ?outcome, "target health changed");
            shared.health_changed();
        }
        drop(shared);
        tokio::select! {
            _ = tokio::time::sleep(check.interval) => {}
            // New settings (another interval, path, …) take effect at once.
            changed = settings.changed() => if changed.is_err() { return },
        }
    }
}

/// A health check's connection, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

async fn check_once(check: &HealthCheck, target: &TargetState, tls: &TlsConnector) -> Outcome {
    let address = check.port.address_for(target.address);
    let attempt = async {
        let Ok(stream) = TcpStream::connect(address).await else {
            return Outcome::Failed;
        };
        let _ = stream.set_nodelay(true);
        let stream: Box<dyn Io> = match check.protocol {
            Protocol::Http => Box::new(stream),
            Protocol::Https => {
                let name = upstream::server_name(address.ip());
                match tls.connect(name, stream).await {
                    Ok(stream) => Box::new(stream),
                    Err(_) => return Outcome::Failed,
                }
            }
        };
        let Ok((mut sender, connection)) =
            hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream)).await
        else {
            return Outcome::Failed;
        };
        let connection = tokio::spawn(connection);
        let request = http::Request::get(check.path.as_str())
            .header(http::header::HOST, address.to_string())
            .header(http::header::USER_AGENT, "ELB-HealthChecker/2.0")
            .header(http::header::CONNECTION, "close")
            .body(Empty::new());
        let Ok(request) = request else {
            return Outcome::InternalError;
        };
        let outcome = match sender.send_request(request).await {
            Ok(response) => {
                let status = response.status().as_u16();
                if check.matcher.accepts(status) {
                    Outcome::Passed
                } else {
                    Outcome::Mismatch(status)
                }
            }
            Err(_) => Outcome::Failed,
        };
        connection.abort();
        outcome
    };
    tokio::time::timeout(check.timeout, attempt)
        .await
        .unwrap_or(Outcome::TimedOut)
}
