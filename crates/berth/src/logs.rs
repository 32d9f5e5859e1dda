//! `berth logs`: the lines a task's or a service's containers wrote through the awslogs driver,
//! read back from CloudWatch Logs (FilterLogEvents over the streams the driver named), and with
//! `--follow` the new ones as they arrive, for people who don't use aws-cli.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use anyhow::bail;
use serde_json::{Value, json};

use crate::client::{self, ECS, LOGS};

#[derive(clap::Args)]
pub struct LogsArgs {
    /// The control plane's URL (http).
    #[arg(long, default_value = "http://127.0.0.1:9600")]
    server: String,
    /// The region of the cluster (requests are signed for it).
    #[arg(long, env = "AWS_DEFAULT_REGION", default_value = "us-east-1")]
    region: String,
    #[arg(long, default_value = "default")]
    cluster: String,
    /// A task, by id or ARN.
    #[arg(long, required_unless_present = "service", conflicts_with = "service")]
    task: Option<String>,
    /// A service: the lines of its running tasks.
    #[arg(long)]
    service: Option<String>,
    /// Only this container's lines.
    #[arg(long)]
    container: Option<String>,
    /// Keep printing lines as they arrive, until interrupted.
    #[arg(long, short)]
    follow: bool,
}

/// Where one container's lines are: its log group (and the group's region) and stream.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Source {
    region: String,
    group: String,
    stream: String,
    /// What a line is prefixed with: `CONTAINER/TASK-ID`.
    label: String,
}

/// How often `--follow` asks for new lines.
const FOLLOW_EVERY: Duration = Duration::from_millis(500);
/// FilterLogEvents takes at most 100 stream names.
const STREAMS_PER_CALL: usize = 100;

pub async fn run(args: LogsArgs) -> anyhow::Result<()> {
    let tasks = match (&args.task, &args.service) {
        (Some(task), _) => vec![task.clone()],
        (None, Some(service)) => {
            let listed = ecs(
                &args,
                "ListTasks",
                json!({"cluster": args.cluster, "serviceName": service}),
            )
            .await?;
            strings(&listed["taskArns"])
        }
        (None, None) => bail!("name a --task or a --service"),
    };
    if tasks.is_empty() {
        bail!("the service has no running tasks");
    }
    let described = ecs(
        &args,
        "DescribeTasks",
        json!({"cluster": args.cluster, "tasks": tasks}),
    )
    .await?;
    if let Some(failure) = described["failures"].as_array().and_then(|f| f.first()) {
        bail!(
            "{}: {}",
            failure["arn"].as_str().unwrap_or_default(),
            failure["reason"].as_str().unwrap_or_default()
        );
    }
    let mut definitions = BTreeMap::new();
    for task in described["tasks"].as_array().into_iter().flatten() {
        let arn = task["taskDefinitionArn"].as_str().unwrap_or_default();
        if !definitions.contains_key(arn) {
            let definition = ecs(
                &args,
                "DescribeTaskDefinition",
                json!({"taskDefinition": arn}),
            )
            .await?;
            definitions.insert(arn.to_string(), definition["taskDefinition"].clone());
        }
    }
    let sources = sources(
        &described["tasks"],
        &definitions,
        &args.region,
        args.container.as_deref(),
    );
    if sources.is_empty() {
        bail!("no container of these tasks logs with the awslogs driver");
    }
    let mut groups: BTreeMap<(String, String), Vec<Source>> = BTreeMap::new();
    for source in sources {
        groups
            .entry((source.region.clone(), source.group.clone()))
            .or_default()
            .push(source);
    }
    let mut since = 0i64;
    // The ids of the lines printed at `since`: the next pass starts there again (inclusive).
    let mut printed_at_since: HashSet<String> = HashSet::new();
    loop {
        let mut lines = Vec::new();
        for ((region, group), sources) in &groups {
            for chunk in sources.chunks(STREAMS_PER_CALL) {
                lines.extend(read(&args.server, region, group, chunk, since).await?);
            }
        }
        lines.sort_by_key(|line| line.0);
        for (timestamp, id, text) in lines {
            if timestamp > since {
                since = timestamp;
                printed_at_since.clear();
            }
            if timestamp == since && printed_at_since.insert(id) {
                println!("{text}");
            }
        }
        if !args.follow {
            return Ok(());
        }
        tokio::time::sleep(FOLLOW_EVERY).await;
    }
}

async fn ecs(args: &LogsArgs, operation: &str, input: Value) -> anyhow::Result<Value> {
    client::aws_json(&args.server, &args.region, ECS, operation, &input).await
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// The streams the awslogs driver wrote the tasks' containers to: `PREFIX/CONTAINER/TASK-ID`,
/// or the container's runtime id when the definition names no prefix (as on ECS with EC2).
fn sources(
    tasks: &Value,
    definitions: &BTreeMap<String, Value>,
    default_region: &str,
    only: Option<&str>,
) -> Vec<Source> {
    let mut sources = Vec::new();
    for task in tasks.as_array().into_iter().flatten() {
        let task_id = task["taskArn"]
            .as_str()
            .and_then(|arn| arn.rsplit('/').next())
            .unwrap_or_default();
        let Some(definition) =
            definitions.get(task["taskDefinitionArn"].as_str().unwrap_or_default())
        else {
            continue;
        };
        for container in definition["containerDefinitions"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let name = container["name"].as_str().unwrap_or_default();
            let log = &container["logConfiguration"];
            if only.is_some_and(|only| only != name) || log["logDriver"] != "awslogs" {
                continue;
            }
            let options = &log["options"];
            let stream = match options["awslogs-stream-prefix"].as_str() {
                Some(prefix) => format!("{prefix}/{name}/{task_id}"),
                None => {
                    let runtime_id = task["containers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|c| c["name"] == name)
                        .and_then(|c| c["runtimeId"].as_str());
                    match runtime_id {
                        Some(id) => id.to_string(),
                        None => continue,
                    }
                }
            };
            sources.push(Source {
                region: options["awslogs-region"]
                    .as_str()
                    .unwrap_or(default_region)
                    .to_string(),
                group: options["awslogs-group"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                stream,
                label: format!("{name}/{task_id}"),
            });
        }
    }
    sources
}

/// Every line of `sources` (streams of one group) from `since` on: (timestamp, event id, the
/// line as printed).
async fn read(
    server: &str,
    region: &str,
    group: &str,
    sources: &[Source],
    since: i64,
) -> anyhow::Result<Vec<(i64, String, String)>> {
    let labels: BTreeMap<&str, &str> = sources
        .iter()
        .map(|s| (s.stream.as_str(), s.label.as_str()))
        .collect();
    let mut input = json!({
        "logGroupName": group,
        "logStreamNames": labels.keys().collect::<Vec<_>>(),
        "startTime": since,
    });
    let mut lines = Vec::new();
    loop {
        let page = match client::aws_json(server, region, LOGS, "FilterLogEvents", &input).await {
            Ok(page) => page,
            // A stream the driver has not created yet (the container is starting): nothing yet.
            Err(err) if err.to_string().contains("ResourceNotFoundException") => return Ok(lines),
            Err(err) => return Err(err),
        };
        for event in page["events"].as_array().into_iter().flatten() {
            let stream = event["logStreamName"].as_str().unwrap_or_default();
            lines.push((
                event["timestamp"].as_i64().unwrap_or_default(),
                event["eventId"].as_str().unwrap_or_default().to_string(),
                format!(
                    "{} {}",
                    labels.get(stream).copied().unwrap_or(stream),
                    event["message"].as_str().unwrap_or_default()
                ),
            ));
        }
        match page["nextToken"].as_str() {
            Some(token) => input["nextToken"] = json!(token),
            None => return Ok(lines),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_named_as_the_awslogs_driver_names_them() {
        let definition = json!({"containerDefinitions": [
            {"name": "web", "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/ecs/web", "awslogs-stream-prefix": "ecs"}}},
            {"name": "sidecar", "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/ecs/side", "awslogs-region": "eu-west-1"}}},
            {"name": "quiet", "logConfiguration": {"logDriver": "json-file"}},
        ]});
        let definitions = BTreeMap::from([("arn:td/web:1".to_string(), definition)]);
        let tasks = json!([{
            "taskArn": "arn:aws:ecs:us-east-1:1:task/default/abc123",
            "taskDefinitionArn": "arn:td/web:1",
            "containers": [{"name": "web", "runtimeId": "d0cker1"}, {"name": "sidecar", "runtimeId": "d0cker2"}],
        }]);
        let source = |region: &str, group: &str, stream: &str, label: &str| Source {
            region: region.into(),
            group: group.into(),
            stream: stream.into(),
            label: label.into(),
        };
        assert_eq!(
            sources(&tasks, &definitions, "us-east-1", None),
            [
                source("us-east-1", "/ecs/web", "ecs/web/abc123", "web/abc123"),
                source("eu-west-1", "/ecs/side", "d0cker2", "sidecar/abc123"),
            ]
        );
        assert_eq!(
            sources(&tasks, &definitions, "us-east-1", Some("sidecar")),
            [source(
                "eu-west-1",
                "/ecs/side",
                "d0cker2",
                "sidecar/abc123"
            )]
        );
    }
}
