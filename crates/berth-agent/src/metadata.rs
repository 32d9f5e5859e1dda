//! The task metadata endpoint (v4, and v3 with the same shapes): every container gets
//! `ECS_CONTAINER_METADATA_URI_V4=http://BRIDGE_GATEWAY:PORT/v4/TOKEN` and reads its own and its
//! task's metadata and Docker stats there, as on ECS. Served on the Docker bridge's gateway
//! address, which containers in bridge and host mode both reach.
//!
//! A token is `TASKID-CONTAINER` (task ids are hex, so the first `-` splits it).

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::runtime::ContainerRuntime;

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
}

pub fn router(registry: Arc<Registry>, runtime: Arc<dyn ContainerRuntime>) -> Router {
    let mut router = Router::new();
    for version in ["v3", "v4"] {
        router = router
            .route(&format!("/{version}/{{token}}"), get(container))
            .route(&format!("/{version}/{{token}}/task"), get(task))
            .route(&format!("/{version}/{{token}}/stats"), get(container_stats))
            .route(&format!("/{version}/{{token}}/task/stats"), get(task_stats));
    }
    router.with_state(Endpoint { registry, runtime })
}

/// Binds the endpoint on `address` (port 0 picks one) and serves it in the background; returns
/// the base URL containers use.
pub async fn start(
    address: &str,
    registry: Arc<Registry>,
    runtime: Arc<dyn ContainerRuntime>,
) -> std::io::Result<String> {
    let listener = TcpListener::bind((address, 0)).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = router(registry, runtime);
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
        "LogDriver": "json-file",
        "Health": {"status": health},
    });
    if let Some(arn) = arn {
        container["ContainerARN"] = json!(arn);
    }
    if let Some(code) = exit_code {
        container["ExitCode"] = json!(code);
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
}
