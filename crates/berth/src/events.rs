//! `berth events`: the region's ECS events (EventBridge's "ECS Task State Change" and the
//! others) from the control plane's event stream, one line each; with `--follow`, new ones as
//! they happen, reconnecting after a dropped connection from the last event it printed.

use std::time::Duration;

use serde_json::Value;

use crate::client;

#[derive(clap::Args)]
pub struct EventsArgs {
    /// The control plane's URL (http).
    #[arg(long, default_value = "http://127.0.0.1:9600")]
    server: String,
    /// The region whose events to read (requests are signed for it).
    #[arg(long, env = "AWS_DEFAULT_REGION", default_value = "us-east-1")]
    region: String,
    /// Only this cluster's events (name or ARN).
    #[arg(long)]
    cluster: Option<String>,
    /// Only this service's events and its tasks'.
    #[arg(long)]
    service: Option<String>,
    /// Start after this event id (what an earlier run printed last with --ids).
    #[arg(long)]
    after: Option<String>,
    /// Print each event's id first.
    #[arg(long)]
    ids: bool,
    /// Keep printing events as they happen, until interrupted.
    #[arg(long, short)]
    follow: bool,
}

/// How long `--follow` waits before reconnecting, at first and at most.
const RECONNECT_FIRST: Duration = Duration::from_millis(200);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

pub async fn run(args: EventsArgs) -> anyhow::Result<()> {
    let mut last_id = args.after.clone();
    let mut wait = RECONNECT_FIRST;
    loop {
        match read(&args, &mut last_id).await {
            Ok(()) if !args.follow => return Ok(()),
            Ok(()) => eprintln!("berth events: the stream ended; reconnecting"),
            // A refusal (a bad --after, wrong credentials) is final; a dropped connection is not.
            Err(err) if !args.follow || err.is::<client::Refused>() => return Err(err),
            Err(err) => eprintln!("berth events: {err:#}; reconnecting"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(RECONNECT_MAX);
    }
}

/// Reads the stream until it ends, printing each event and remembering the last id.
async fn read(args: &EventsArgs, last_id: &mut Option<String>) -> anyhow::Result<()> {
    let mut query = form_query(args, last_id.as_deref());
    if !args.follow {
        query.push_str("&follow=false");
    }
    let mut body = client::get_streaming(
        &args.server,
        &args.region,
        berth_control::EVENTS_PATH,
        &query,
        &[],
    )
    .await?;
    let mut message = Message::default();
    while let Some(line) = body.next_line().await? {
        if !line.is_empty() {
            message.add(&line);
            continue;
        }
        let done = std::mem::take(&mut message);
        if done.event.as_deref() == Some("gap") {
            let notice: Value = serde_json::from_str(&done.data).unwrap_or_default();
            eprintln!(
                "berth events: events were lost: {}",
                notice["message"].as_str().unwrap_or(&done.data)
            );
        } else if !done.data.is_empty() {
            let event: Value = serde_json::from_str(&done.data)?;
            let line = describe(&event);
            match (&done.id, args.ids) {
                (Some(id), true) => println!("{id}  {line}"),
                _ => println!("{line}"),
            }
        }
        if done.id.is_some() {
            *last_id = done.id;
        }
    }
    Ok(())
}

/// The query string: the filters, and where to continue.
fn form_query(args: &EventsArgs, after: Option<&str>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in [
        ("after", after),
        ("cluster", args.cluster.as_deref()),
        ("service", args.service.as_deref()),
    ] {
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    query.finish()
}

/// One Server-Sent Events message being read.
#[derive(Default)]
struct Message {
    id: Option<String>,
    event: Option<String>,
    data: String,
}

impl Message {
    fn add(&mut self, line: &str) {
        if line.starts_with(':') {
            return;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => self.id = Some(value.to_string()),
            "event" => self.event = Some(value.to_string()),
            "data" => {
                if !self.data.is_empty() {
                    self.data.push('\n');
                }
                self.data.push_str(value);
            }
            _ => {}
        }
    }
}

/// One line for an event: time, detail-type, the resource, and the state that changed.
fn describe(event: &Value) -> String {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
    let detail = &event["detail"];
    let resource = event["resources"][0]
        .as_str()
        .map(|arn| arn.splitn(6, ':').nth(5).unwrap_or(arn).to_string())
        .unwrap_or_default();
    let mut state = match event["detail-type"].as_str().unwrap_or_default() {
        "ECS Task State Change" => format!(
            "lastStatus={} desiredStatus={}",
            text(&detail["lastStatus"]),
            text(&detail["desiredStatus"])
        ),
        "ECS Container Instance State Change" => format!(
            "status={} agentConnected={}",
            text(&detail["status"]),
            detail["agentConnected"]
        ),
        "ECS Deployment State Change" => format!(
            "{} {}",
            text(&detail["eventName"]),
            text(&detail["deploymentId"])
        ),
        _ => format!(
            "{} ({})",
            text(&detail["eventName"]),
            text(&detail["eventType"])
        ),
    };
    for field in ["stoppedReason", "reason"] {
        if let Some(value) = detail[field].as_str() {
            state.push_str(&format!(" {field}={value:?}"));
        }
    }
    format!(
        "{}  {}  {resource}  {state}",
        text(&event["time"]),
        text(&event["detail-type"])
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_line_names_the_time_kind_resource_and_state() {
        let task = json!({
            "time": "2026-12-06T02:50:01Z",
            "detail-type": "ECS Task State Change",
            "resources": ["arn:aws:ecs:us-east-1:123456789012:task/web/0123"],
            "detail": {"lastStatus": "STOPPED", "desiredStatus": "STOPPED", "stoppedReason": "Task stopped by user"},
        });
        assert_eq!(
            describe(&task),
            "2026-12-06T02:50:01Z  ECS Task State Change  task/web/0123  lastStatus=STOPPED desiredStatus=STOPPED stoppedReason=\"Task stopped by user\""
        );
        let action = json!({
            "time": "2026-12-06T02:50:01Z",
            "detail-type": "ECS Service Action",
            "resources": ["arn:aws:ecs:us-east-1:123456789012:service/web/api"],
            "detail": {"eventName": "SERVICE_STEADY_STATE", "eventType": "INFO"},
        });
        assert_eq!(
            describe(&action),
            "2026-12-06T02:50:01Z  ECS Service Action  service/web/api  SERVICE_STEADY_STATE (INFO)"
        );
    }

    #[test]
    fn messages_gather_their_fields_and_skip_comments() {
        let mut message = Message::default();
        for line in [
            "id: 7-0",
            ": keep-alive",
            "event: gap",
            "data: {\"a\":",
            "data:1}",
        ] {
            message.add(line);
        }
        assert_eq!(message.id.as_deref(), Some("7-0"));
        assert_eq!(message.event.as_deref(), Some("gap"));
        assert_eq!(message.data, "{\"a\":\n1}");
    }
}
