//! The agent's end of the channel: connect, register, send what the journal holds, hand every
//! desired task set to the engine, forget what the control plane acknowledged; reconnect with
//! backoff whenever the connection drops. Tasks keep running while the control plane is away.

use std::sync::Arc;
use std::time::Duration;

use berth_ecs_wire::{Attribute, Resource, VersionInfo};
use berth_protocol::sigv4::{self, Credentials};
use berth_protocol::{AgentMessage, CONNECT_PATH, ContainerStats, ServerMessage};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::engine::DesiredUpdate;
use crate::state::Journal;

/// What the agent tells the control plane about itself when it registers.
#[derive(Debug, Clone)]
pub struct Identity {
    pub cluster: String,
    pub total_resources: Vec<Resource>,
    pub attributes: Vec<Attribute>,
    pub version_info: VersionInfo,
}

/// The agent's container stats: the connection tells the sampler the metric period the
/// control plane names at registration, and sends each batch the sampler publishes.
pub struct Stats {
    pub period: tokio::sync::watch::Sender<Option<Duration>>,
    pub batches: tokio::sync::watch::Receiver<Arc<Vec<ContainerStats>>>,
}

const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The WebSocket URL of the agent channel on the control plane at `server` (`http://HOST:PORT`).
pub fn channel_url(server: &str) -> String {
    let base = server.trim_end_matches('/');
    let base = base
        .strip_prefix("https://")
        .map(|rest| format!("wss://{rest}"))
        .or_else(|| {
            base.strip_prefix("http://")
                .map(|rest| format!("ws://{rest}"))
        })
        .unwrap_or_else(|| format!("ws://{base}"));
    format!("{base}{CONNECT_PATH}")
}

/// Keeps the channel up until `shutdown` fires.
#[allow(clippy::too_many_arguments)]
pub async fn maintain(
    server: String,
    credentials: Credentials,
    region: String,
    identity: Identity,
    journal: Journal,
    desired: mpsc::Sender<DesiredUpdate>,
    mut stats: Stats,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let url = channel_url(&server);
    let mut backoff = BACKOFF_START;
    loop {
        let session = run_session(
            &url,
            &credentials,
            &region,
            &identity,
            &journal,
            &desired,
            &mut stats,
        );
        tokio::select! {
            outcome = session => match outcome {
                Ok(()) => backoff = BACKOFF_START,
                Err(err) => tracing::warn!(error = %err, server = %url, "control plane connection lost"),
            },
            _ = shutdown.changed() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

async fn run_session(
    url: &str,
    credentials: &Credentials,
    region: &str,
    identity: &Identity,
    journal: &Journal,
    desired: &mpsc::Sender<DesiredUpdate>,
    stats: &mut Stats,
) -> Result<(), String> {
    let request = signed_request(url, credentials, region)?;
    // Small buffers: one process may hold thousands of these (`--simulate`).
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0);
    let (socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), false)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, mut receiver) = socket.split();
    let state = journal.snapshot();
    let register = AgentMessage::Register {
        cluster: identity.cluster.clone(),
        container_instance_arn: state.container_instance_arn.clone(),
        host_id: state.host_id.clone(),
        total_resources: identity.total_resources.clone(),
        attributes: identity.attributes.clone(),
        version_info: identity.version_info.clone(),
    };
    sender
        .send(Message::Text(register.to_json().into()))
        .await
        .map_err(|e| e.to_string())?;
    let mut sent_up_to = match next_message(&mut receiver).await? {
        ServerMessage::Registered {
            container_instance_arn,
            acked_sequence,
            metric_period_seconds,
        } => {
            // A control plane that names no period takes no stats: the sampler rests.
            let period = metric_period_seconds
                .filter(|seconds| *seconds > 0)
                .map(Duration::from_secs);
            stats.period.send_if_modified(|current| {
                let changed = *current != period;
                *current = period;
                changed
            });
            if state.container_instance_arn.as_deref() != Some(container_instance_arn.as_str()) {
                journal
                    .set_instance(&container_instance_arn)
                    .map_err(|e| e.to_string())?;
                tracing::info!(instance = %container_instance_arn, "registered");
            }
            journal.acknowledge(acked_sequence);
            acked_sequence
        }
        ServerMessage::Error { message } => return Err(format!("registration refused: {message}")),
        other => return Err(format!("expected a registration answer, got {other:?}")),
    };
    // One batch of reports is in flight at a time: the control plane applies a connection's
    // batches one after another anyway and answers each, in order, with an Ack (or an Error),
    // so what is reported while one is being applied goes out together in the next, in one
    // transaction instead of many.
    let mut awaiting_answer = false;
    // Batches sampled before this connection are stale.
    stats.batches.mark_unchanged();
    let mut sampling = true;
    loop {
        if !awaiting_answer {
            let unsent = journal
                .unsent_after(sent_up_to)
                .map_err(|e| e.to_string())?;
            if let Some(last) = unsent.last() {
                sent_up_to = last.sequence;
                let batch = AgentMessage::StateChanges { changes: unsent };
                sender
                    .send(Message::Text(batch.to_json().into()))
                    .await
                    .map_err(|e| e.to_string())?;
                awaiting_answer = true;
            }
        }
        tokio::select! {
            _ = journal.changed() => {}
            changed = stats.batches.changed(), if sampling => {
                if changed.is_ok() {
                    let containers = stats.batches.borrow_and_update().as_ref().clone();
                    let message = AgentMessage::Stats { containers };
                    sender
                        .send(Message::Text(message.to_json().into()))
                        .await
                        .map_err(|e| e.to_string())?;
                } else {
                    // The sampler is gone (the agent is stopping).
                    sampling = false;
                }
            }
            message = next_message(&mut receiver) => match message? {
                ServerMessage::DesiredTasks { tasks } => {
                    desired.send(DesiredUpdate::Whole(tasks)).await.map_err(|_| "task engine stopped".to_string())?;
                }
                ServerMessage::DesiredTasksChanged { tasks, removed } => {
                    desired.send(DesiredUpdate::Changed { tasks, removed }).await.map_err(|_| "task engine stopped".to_string())?;
                }
                ServerMessage::Ack { sequence } => {
                    journal.acknowledge(sequence);
                    awaiting_answer = false;
                }
                ServerMessage::Error { message } => {
                    tracing::warn!(%message, "control plane reported an error");
                    awaiting_answer = false;
                }
                ServerMessage::Registered { .. } => return Err("registered twice".into()),
            },
        }
    }
}

/// The upgrade request, signed with SigV4 as the control plane requires.
fn signed_request(
    url: &str,
    credentials: &Credentials,
    region: &str,
) -> Result<tokio_tungstenite::tungstenite::handshake::client::Request, String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    let host = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_default();
    let signed = sigv4::sign(
        credentials,
        &sigv4::Request {
            method: "GET",
            host: &host,
            path: CONNECT_PATH,
            headers: &[],
            body: b"",
        },
        (region, "ecs"),
        sigv4::now(),
    );
    let headers = request.headers_mut();
    headers.insert(
        "host",
        host.parse()
            .map_err(|_| "invalid host header".to_string())?,
    );
    for (name, value) in &signed {
        headers.insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("invalid header name {name}"))?,
            value
                .parse()
                .map_err(|_| format!("invalid {name} header"))?,
        );
    }
    Ok(request)
}

/// The next protocol message, skipping WebSocket control frames (tungstenite answers pings).
async fn next_message<S>(receiver: &mut S) -> Result<ServerMessage, String>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match receiver.next().await {
            Some(Ok(Message::Text(body))) => {
                return serde_json::from_str(&body).map_err(|e| format!("unreadable message: {e}"));
            }
            Some(Ok(Message::Close(_))) | None => return Err("connection closed".into()),
            Some(Ok(_)) => {}
            Some(Err(err)) => return Err(err.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Outbox;
    use berth_protocol::TaskStateChange;

    async fn next_agent_message(
        socket: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    ) -> AgentMessage {
        loop {
            match socket.next().await.unwrap().unwrap() {
                Message::Text(body) => return serde_json::from_str(&body).unwrap(),
                _ => continue,
            }
        }
    }

    async fn send(
        socket: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
        message: &ServerMessage,
    ) {
        socket
            .send(Message::Text(message.to_json().into()))
            .await
            .unwrap();
    }

    fn sequences(message: AgentMessage) -> Vec<u64> {
        match message {
            AgentMessage::StateChanges { changes } => changes.iter().map(|c| c.sequence).collect(),
            other => panic!("expected state changes, got {other:?}"),
        }
    }

    /// While a batch waits for its answer nothing else is sent; what was reported meanwhile
    /// goes out as one batch once the answer comes.
    #[tokio::test]
    async fn reports_made_while_a_batch_is_unanswered_go_out_together() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = format!("http://{}", listener.local_addr().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path(), Outbox::Volatile, || "i-test".into()).unwrap();
        let (desired, _engine) = mpsc::channel(4);
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let identity = Identity {
            cluster: "default".into(),
            total_resources: Vec::new(),
            attributes: Vec::new(),
            version_info: VersionInfo::default(),
        };
        let credentials = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "secret".into(),
        };
        let agent = tokio::spawn(maintain(
            server,
            credentials,
            "us-east-1".into(),
            identity,
            journal.clone(),
            desired,
            Stats {
                period: tokio::sync::watch::channel(None).0,
                batches: tokio::sync::watch::channel(Arc::new(Vec::new())).1,
            },
            stopping,
        ));
        let (connection, _) = listener.accept().await.unwrap();
        let mut socket = tokio_tungstenite::accept_async(connection).await.unwrap();
        assert!(matches!(
            next_agent_message(&mut socket).await,
            AgentMessage::Register { .. }
        ));
        let registered = ServerMessage::Registered {
            container_instance_arn: "arn:instance".into(),
            acked_sequence: 0,
            metric_period_seconds: None,
        };
        send(&mut socket, &registered).await;
        let report = |arn: &str| {
            journal.report(TaskStateChange {
                task_arn: arn.into(),
                ..Default::default()
            })
        };

        let first = report("a");
        assert_eq!(sequences(next_agent_message(&mut socket).await), [first]);
        let (second, third) = (report("b"), report("c"));
        let early = tokio::time::timeout(Duration::from_millis(300), socket.next()).await;
        assert!(
            early.is_err(),
            "nothing is sent before the answer: {early:?}"
        );
        send(&mut socket, &ServerMessage::Ack { sequence: first }).await;
        assert_eq!(
            sequences(next_agent_message(&mut socket).await),
            [second, third]
        );

        stop.send(true).unwrap();
        agent.await.unwrap();
    }

    #[test]
    fn channel_urls_follow_the_server_scheme() {
        assert_eq!(
            channel_url("http://127.0.0.1:9600"),
            "ws://127.0.0.1:9600/agent/v1/connect"
        );
        assert_eq!(
            channel_url("https://berth.example/"),
            "wss://berth.example/agent/v1/connect"
        );
        assert_eq!(
            channel_url("127.0.0.1:9600"),
            "ws://127.0.0.1:9600/agent/v1/connect"
        );
    }
}
