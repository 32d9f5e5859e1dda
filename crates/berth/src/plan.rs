//! `berth plan run-task`: asks the control plane where a RunTask request would place its tasks
//! and why each container instance would or would not take one — without starting anything.

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::client;

#[derive(clap::Args)]
pub struct PlanRunTaskArgs {
    /// The control plane's URL (http).
    #[arg(long, default_value = "http://127.0.0.1:9600")]
    server: String,
    /// The region the cluster is in (the request is signed for it).
    #[arg(long, env = "AWS_DEFAULT_REGION", default_value = "us-east-1")]
    region: String,
    #[arg(long, default_value = "default")]
    cluster: String,
    /// family, family:revision or a task definition ARN.
    #[arg(long)]
    task_definition: String,
    #[arg(long, default_value_t = 1)]
    count: i32,
    #[arg(long)]
    group: Option<String>,
    /// As aws-cli takes it: a JSON list of {type, expression}.
    #[arg(long)]
    placement_constraints: Option<String>,
    /// As aws-cli takes it: a JSON list of {type, field}.
    #[arg(long)]
    placement_strategy: Option<String>,
}

pub async fn run_task(args: PlanRunTaskArgs) -> anyhow::Result<()> {
    let mut request = json!({
        "cluster": args.cluster,
        "taskDefinition": args.task_definition,
        "count": args.count,
    });
    if let Some(group) = args.group {
        request["group"] = json!(group);
    }
    for (field, text) in [
        ("placementConstraints", args.placement_constraints),
        ("placementStrategy", args.placement_strategy),
    ] {
        if let Some(text) = text {
            request[field] =
                serde_json::from_str(&text).with_context(|| format!("--{field} is not JSON"))?;
        }
    }
    let (status, body) = client::post(
        &args.server,
        berth_control::PLAN_RUN_TASK_PATH,
        &request.to_string(),
        &args.region,
    )
    .await?;
    let response: Value =
        serde_json::from_str(&body).with_context(|| format!("unreadable answer: {body}"))?;
    if status != 200 {
        bail!(
            "{}: {}",
            response["__type"].as_str().unwrap_or("error"),
            response["message"].as_str().unwrap_or_default()
        );
    }
    print!("{}", render(&response));
    Ok(())
}

/// The plan for people: where tasks go, then every candidate with its verdict.
fn render(plan: &Value) -> String {
    let mut out = String::new();
    let placements = plan["placements"].as_object().cloned().unwrap_or_default();
    let placed: u64 = placements.values().filter_map(Value::as_u64).sum();
    out.push_str(&format!("would place {placed} task(s)"));
    match plan["unplaced"].as_u64() {
        Some(0) | None => out.push('\n'),
        Some(unplaced) => out.push_str(&format!("; {unplaced} would find no instance\n")),
    }
    for (instance, count) in &placements {
        out.push_str(&format!("  {instance}  x{count}\n"));
    }
    out.push_str("candidates:\n");
    for candidate in plan["candidates"].as_array().into_iter().flatten() {
        let arn = candidate["containerInstanceArn"]
            .as_str()
            .unwrap_or_default();
        if candidate["eligible"].as_bool() == Some(true) {
            out.push_str(&format!("  {arn}  eligible\n"));
        } else {
            out.push_str(&format!(
                "  {arn}  rejected: {} ({})\n",
                candidate["reason"].as_str().unwrap_or_default(),
                candidate["detail"].as_str().unwrap_or_default()
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_placements_and_rejections() {
        let plan = json!({
            "placements": {"arn:i/1": 2},
            "unplaced": 1,
            "candidates": [
                {"containerInstanceArn": "arn:i/1", "eligible": true},
                {"containerInstanceArn": "arn:i/2", "eligible": false, "reason": "RESOURCE:MEMORY", "detail": "needs 512 MiB, 256 remain"}
            ],
            "failures": []
        });
        assert_eq!(
            render(&plan),
            "would place 2 task(s); 1 would find no instance\n  arn:i/1  x2\ncandidates:\n  arn:i/1  eligible\n  arn:i/2  rejected: RESOURCE:MEMORY (needs 512 MiB, 256 remain)\n"
        );
    }
}
