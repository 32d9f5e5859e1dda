//! The task metadata endpoint (v4, and v3 with the same shapes): every container gets
//! `ECS_CONTAINER_METADATA_URI_V4=http://BRIDGE_GATEWAY:PORT/v4/TOKEN` and reads its own and its
//! task's metadata and Docker stats there, as on ECS. Served on the Docker bridge's gateway
//! address, which containers in bridge and host mode both reach.
//!
//! A token is `TASKID-CONTAINER` (task ids are hex, so the first `-` splits it).
//!
//! `ECS_AGENT_URI=…/api/TOKEN` serves the agent API's task scale-in protection,
//! `task-protection/v1/state` (GET, and PUT `{"ProtectionEnabled", "ExpiresInMinutes"}`): the
//! agent calls the control plane's GetTaskProtection/UpdateTaskProtection for the container's
//! task with its own credentials and answers in the ECS agent's shapes — `{"protection":
//! {"ExpirationDate", "ProtectionEnabled", "TaskArn"}}`, `{"failure": {"Arn", "Detail",
//! "Reason"}}`, or `{"error": {"Arn", "Code", "Message"}}` with the call's status.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use berth_ecs_wire::{
    Failure, GetTaskProtectionRequest, GetTaskProtectionResponse, ProtectedTask,
    UpdateTaskProtectionRequest, UpdateTaskProtectionResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::aws_client::{Api, CallError, SignedClient};
use crate::runtime::ContainerRuntime;

/// The ECS API's signing name and target prefix.
const ECS: Api = Api {
    service: "ecs",
    target_prefix: "AmazonEC2ContainerServiceV20141113",
};

/// How the endpoint reaches the ECS API for task protection: the agent's signed client and its
/// region.
#[derive(Clone)]
pub struct ProtectionApi {
    pub client: SignedClient,
    pub region: String,
}

/// What the endpoint knows about one task, kept current by its actor.
#[derive(Debug, Clone, Default)]
pub struct TaskMetadata {
    /// The task object, without `Containers`.
    pub task: Value,
    /// Each container's object and Docker id, by container name.
    pub containers: BTreeMap<String, (Value, Option<String>)>,
}

/// Task metadata by task id.
#[derive(Default)]
pub struct Registry {
    tasks: RwLock<BTreeMap<String, TaskMetadata>>,
}

impl Registry {
    pub fn publish(&self, task_id: &str, metadata: TaskMetadata) {
        self.tasks
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(task_id.to_string(), metadata);
    }

    pub fn forget(&self, task_id: &str) {
        self.tasks
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(task_id);
    }

    fn get(&self, task_id: &str) -> Option<TaskMetadata> {
        self.tasks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(task_id)
            .cloned()
    }
}

#[derive(Clone)]
struct Endpoint {
    registry: Arc<Registry>,
    runtime: Arc<dyn ContainerRuntime>,
    protection: Option<ProtectionApi>,
}

pub fn router(
    registry: Arc<Registry>,
    runtime: Arc<dyn ContainerRuntime>,
    protection: Option<ProtectionApi>,
) -> Router {
    let mut router = Router::new();
    for version in ["v3", "v4"] {
        router = router
            .route(&format!("/{version}/{{token}}"), get(container))
            .route(&format!("/{version}/{{token}}/task"), get(task))
            .route(&format!("/{version}/{{token}}/stats"), get(container_stats))
            .route(&format!("/{version}/{{token}}/task/stats"), get(task_stats));
    }
    router
        .route(
            "/api/{token}/task-protection/v1/state",
            get(get_protection).put(put_protection),
        )
        .with_state(Endpoint {
            registry,
            runtime,
            protection,
        })
}

/// Binds the endpoint on `address` (port 0 picks one) and serves it in the background; returns
/// the base URL containers use.
pub async fn start(
    address: &str,
    registry: Arc<Registry>,
    runtime: Arc<dyn ContainerRuntime>,
    protection: Option<ProtectionApi>,
) -> std::io::Result<String> {
    let listener = TcpListener::bind((address, 0)).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = router(registry, runtime, protection);
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(error = %err, "task metadata endpoint stopped");
        }
    });
    Ok(base)
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "unknown metadata token").into_response()
}

fn lookup(registry: &Registry, token: &str) -> Option<(TaskMetadata, String)> {
    let (task_id, container) = token.split_once('-')?;
    Some((registry.get(task_id)?, container.to_string()))
}

async fn container(State(endpoint): State<Endpoint>, Path(token): Path<String>) -> Response {
    match lookup(&endpoint.registry, &token)
        .and_then(|(task, name)| task.containers.get(&name).cloned())
    {
        Some((container, _)) => Json(container).into_response(),
        None => not_found(),
    }
}

async fn task(State(endpoint): State<Endpoint>, Path(token): Path<String>) -> Response {
    let Some((metadata, _)) = lookup(&endpoint.registry, &token) else {
        return not_found();
    };
    let mut task = metadata.task.clone();
    if let Some(object) = task.as_object_mut() {
        let containers: Vec<Value> = metadata
            .containers
            .values()
            .map(|(c, _)| c.clone())
            .collect();
        object.insert("Containers".into(), Value::Array(containers));
    }
    Json(task).into_response()
}

async fn container_stats(State(endpoint): State<Endpoint>, Path(token): Path<String>) -> Response {
    let id = lookup(&endpoint.registry, &token)
        .and_then(|(task, name)| task.containers.get(&name).and_then(|(_, id)| id.clone()));
    let Some(id) = id else { return not_found() };
    match endpoint.runtime.stats(&id).await {
        Ok(stats) => Json(stats).into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}

async fn task_stats(State(endpoint): State<Endpoint>, Path(token): Path<String>) -> Response {
    let Some((metadata, _)) = lookup(&endpoint.registry, &token) else {
        return not_found();
    };
    let mut all = serde_json::Map::new();
    for (_, id) in metadata.containers.values() {
        if let Some(id) = id {
            let stats = endpoint.runtime.stats(id).await.unwrap_or(Value::Null);
            all.insert(id.clone(), stats);
        }
    }
    Json(Value::Object(all)).into_response()
}

/// The agent API's answer to a task protection request, as the ECS agent writes it.
#[derive(Debug, Default, Serialize)]
struct ProtectionAnswer {
    #[serde(rename = "requestID", skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    protection: Option<AgentProtection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<AgentFailure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<AgentError>,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
struct AgentProtection {
    expiration_date: Option<String>,
    protection_enabled: Option<bool>,
    task_arn: Option<String>,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
struct AgentFailure {
    arn: Option<String>,
    detail: Option<String>,
    reason: Option<String>,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
struct AgentError {
    #[serde(skip_serializing_if = "String::is_empty")]
    arn: String,
    code: String,
    message: String,
}

/// PUT's body, as the ECS agent reads it (unknown members refused).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ProtectionRequest {
    protection_enabled: Option<bool>,
    expires_in_minutes: Option<i32>,
}

fn answer(status: StatusCode, body: ProtectionAnswer) -> Response {
    (status, Json(body)).into_response()
}

fn agent_error(status: StatusCode, arn: &str, code: &str, message: &str) -> Response {
    answer(
        status,
        ProtectionAnswer {
            error: Some(AgentError {
                arn: arn.to_string(),
                code: code.to_string(),
                message: message.to_string(),
            }),
            ..ProtectionAnswer::default()
        },
    )
}

/// The cluster and ARN of the task a token names.
fn protected_task(endpoint: &Endpoint, token: &str) -> Result<(String, String), Box<Response>> {
    let task = lookup(&endpoint.registry, token).map(|(metadata, _)| metadata.task);
    let field = |name: &str| {
        task.as_ref()
            .and_then(|t| t.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match (field("Cluster"), field("TaskARN")) {
        (Some(cluster), Some(arn)) => Ok((cluster, arn)),
        _ => Err(Box::new(agent_error(
            StatusCode::NOT_FOUND,
            "",
            "ResourceNotFoundException",
            "Failed to find a task for the request",
        ))),
    }
}

/// The answer for the control plane's reply about task `arn`: its protection, or its failure.
fn protection_answer(
    arn: &str,
    reply: Result<(Vec<ProtectedTask>, Vec<Failure>), CallError>,
) -> Response {
    match reply {
        Ok((_, failures)) if !failures.is_empty() => {
            let failure = failures.into_iter().next().unwrap_or_default();
            answer(
                StatusCode::OK,
                ProtectionAnswer {
                    failure: Some(AgentFailure {
                        arn: failure.arn,
                        detail: failure.detail,
                        reason: failure.reason,
                    }),
                    ..ProtectionAnswer::default()
                },
            )
        }
        Ok((protected, _)) => match protected.into_iter().next() {
            Some(task) => answer(
                StatusCode::OK,
                ProtectionAnswer {
                    protection: Some(AgentProtection {
                        expiration_date: task.expiration_date.map(rfc3339),
                        protection_enabled: task.protection_enabled,
                        task_arn: task.task_arn,
                    }),
                    ..ProtectionAnswer::default()
                },
            ),
            None => agent_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                arn,
                "ServerException",
                "Unexpected error occurred",
            ),
        },
        Err(CallError::Service {
            status,
            code,
            message,
        }) => agent_error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            arn,
            &code,
            &message,
        ),
        Err(other) => agent_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            arn,
            "ServerException",
            &other.to_string(),
        ),
    }
}

fn no_protection_api() -> Response {
    agent_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "",
        "ServerException",
        "the agent has no ECS API client",
    )
}

async fn get_protection(State(endpoint): State<Endpoint>, Path(token): Path<String>) -> Response {
    let (cluster, arn) = match protected_task(&endpoint, &token) {
        Ok(task) => task,
        Err(response) => return *response,
    };
    let Some(api) = &endpoint.protection else {
        return no_protection_api();
    };
    let request = GetTaskProtectionRequest {
        cluster: Some(cluster),
        tasks: Some(vec![arn.clone()]),
    };
    let reply: Result<GetTaskProtectionResponse, CallError> = api
        .client
        .call(ECS, &api.region, "GetTaskProtection", &request)
        .await;
    let reply = reply.map(|r| {
        (
            r.protected_tasks.unwrap_or_default(),
            r.failures.unwrap_or_default(),
        )
    });
    protection_answer(&arn, reply)
}

async fn put_protection(
    State(endpoint): State<Endpoint>,
    Path(token): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Ok(request) = serde_json::from_slice::<ProtectionRequest>(&body) else {
        return agent_error(
            StatusCode::BAD_REQUEST,
            "",
            "InvalidParameterException",
            "UpdateTaskProtection: failed to decode request",
        );
    };
    let (cluster, arn) = match protected_task(&endpoint, &token) {
        Ok(task) => task,
        Err(response) => return *response,
    };
    let Some(enabled) = request.protection_enabled else {
        return agent_error(
            StatusCode::BAD_REQUEST,
            &arn,
            "InvalidParameterException",
            "Invalid request: does not contain 'ProtectionEnabled' field",
        );
    };
    let Some(api) = &endpoint.protection else {
        return no_protection_api();
    };
    let call = UpdateTaskProtectionRequest {
        cluster: Some(cluster),
        tasks: Some(vec![arn.clone()]),
        protection_enabled: Some(enabled),
        expires_in_minutes: request.expires_in_minutes,
    };
    let reply: Result<UpdateTaskProtectionResponse, CallError> = api
        .client
        .call(ECS, &api.region, "UpdateTaskProtection", &call)
        .await;
    let reply = reply.map(|r| {
        (
            r.protected_tasks.unwrap_or_default(),
            r.failures.unwrap_or_default(),
        )
    });
    protection_answer(&arn, reply)
}

/// Epoch seconds as RFC 3339 in UTC with the fraction Go's encoder writes (milliseconds here,
/// trailing zeros dropped): `2023-12-20T21:57:44.837Z`.
fn rfc3339(epoch_seconds: f64) -> String {
    let millis = (epoch_seconds * 1000.0).round() as i64;
    let (seconds, millis) = (millis.div_euclid(1000), millis.rem_euclid(1000));
    let (days, of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let fraction = match millis {
        0 => String::new(),
        m => format!(".{m:03}").trim_end_matches('0').to_string(),
    };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{fraction}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// A JSON value for a container, in the endpoint's PascalCase shape.
#[allow(clippy::too_many_arguments)]
pub fn container_json(
    name: &str,
    arn: Option<&str>,
    docker_id: Option<&str>,
    docker_name: &str,
    image: &str,
    image_id: Option<&str>,
    labels: &BTreeMap<String, String>,
    desired: &str,
    known: &str,
    cpu_shares: Option<i64>,
    memory_mib: Option<i64>,
    network_mode: &str,
    ports: Value,
    exit_code: Option<i32>,
    health: &str,
    log_driver: &str,
    log_options: &BTreeMap<String, String>,
) -> Value {
    let mut container = json!({
        "DockerId": docker_id.unwrap_or_default(),
        "Name": name,
        "DockerName": docker_name,
        "Image": image,
        "ImageID": image_id.unwrap_or_default(),
        "Labels": labels,
        "DesiredStatus": desired,
        "KnownStatus": known,
        "Limits": {"CPU": cpu_shares.unwrap_or(0), "Memory": memory_mib.unwrap_or(0)},
        "Type": "NORMAL",
        "Networks": [{"NetworkMode": network_mode}],
        "Ports": ports,
        "LogDriver": log_driver,
        "Health": {"status": health},
    });
    if let Some(arn) = arn {
        container["ContainerARN"] = json!(arn);
    }
    if let Some(code) = exit_code {
        container["ExitCode"] = json!(code);
    }
    if !log_options.is_empty() {
        container["LogOptions"] = json!(log_options);
    }
    container
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_at_the_first_dash() {
        let registry = Registry::default();
        registry.publish("abc123", TaskMetadata::default());
        let (_, container) = lookup(&registry, "abc123-web-front").unwrap();
        assert_eq!(container, "web-front");
        assert!(lookup(&registry, "nope-web").is_none());
    }

    #[test]
    fn expiration_dates_read_as_go_writes_them() {
        assert_eq!(rfc3339(1_703_109_464.837), "2023-12-20T21:57:44.837Z");
        assert_eq!(rfc3339(1_703_109_464.5), "2023-12-20T21:57:44.5Z");
        assert_eq!(rfc3339(951_782_400.0), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn protection_answers_take_the_ecs_agent_shapes() {
        let body = |response: Response| async move {
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
                .await
                .unwrap();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let protected = ProtectedTask {
                task_arn: Some("arn:t".into()),
                protection_enabled: Some(false),
                expiration_date: None,
            };
            assert_eq!(
                body(protection_answer("arn:t", Ok((vec![protected], vec![])))).await,
                (
                    StatusCode::OK,
                    json!({"protection": {"ExpirationDate": null, "ProtectionEnabled": false, "TaskArn": "arn:t"}})
                )
            );
            let failure = Failure {
                arn: Some("arn:t".into()),
                reason: Some("TASK_NOT_VALID".into()),
                detail: None,
            };
            assert_eq!(
                body(protection_answer("arn:t", Ok((vec![], vec![failure])))).await,
                (
                    StatusCode::OK,
                    json!({"failure": {"Arn": "arn:t", "Detail": null, "Reason": "TASK_NOT_VALID"}})
                )
            );
            let refused = CallError::Service {
                status: 400,
                code: "InvalidParameterException".into(),
                message: "bad".into(),
            };
            assert_eq!(
                body(protection_answer("arn:t", Err(refused))).await,
                (
                    StatusCode::BAD_REQUEST,
                    json!({"error": {"Arn": "arn:t", "Code": "InvalidParameterException", "Message": "bad"}})
                )
            );
        });
    }
}
