//! ECS behind the gateway ([`EcsService`]), and Berth's own routes beside the AWS APIs: the
//! agent channel, the placement dry run, the event stream and a health check. All of them but
//! the health check are authenticated as the AWS APIs are.

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use berth_aws::AwsError;
use berth_ecs_wire::Operation;
use berth_gateway::{Call, Gateway, Protocol, Service};
use berth_wire::model::ServiceModel;

use crate::error::ApiError;
use crate::{Regions, ecs};

/// Berth's placement dry run: a RunTask request in, where it would go out.
pub const PLAN_RUN_TASK_PATH: &str = "/berth/v1/plan/run-task";
/// The region's ECS events as Server-Sent Events (`?cluster=&service=&after=&follow=`).
pub const EVENTS_PATH: &str = "/berth/v1/events";
/// The server's own region (`--region`), as plain text: where agents that name none join.
pub const REGION_PATH: &str = "/berth/v1/region";

/// The ECS API (`AmazonEC2ContainerServiceV20141113`, AWS JSON 1.1), each request served by
/// the control plane of its region.
pub struct EcsService {
    pub regions: Arc<Regions>,
}

#[async_trait]
impl Service for EcsService {
    fn model(&self) -> &'static ServiceModel {
        &berth_ecs_wire::MODEL
    }

    async fn call(&self, call: &Call<'_>) -> Result<Vec<u8>, AwsError> {
        let operation = Operation::from_name(call.operation).ok_or_else(|| {
            AwsError::new(
                400,
                "UnknownOperationException",
                format!("Unknown operation {}", call.operation),
            )
        })?;
        let cp = self.regions.region(&call.context.region).await?;
        Ok(ecs::call(&cp, call, operation).await?)
    }
}

/// What Berth's own routes share.
#[derive(Clone)]
pub struct Routes {
    pub regions: Arc<Regions>,
    pub gateway: Arc<Gateway>,
    /// The server's `--region`.
    pub home_region: String,
    /// Turns true when the server begins to shut down: open event streams end then, rather
    /// than holding the shutdown until its bound for requests in flight.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

pub fn router(routes: Routes) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(berth_protocol::CONNECT_PATH, get(crate::agents::connect))
        .route(PLAN_RUN_TASK_PATH, post(plan_run_task))
        .route(EVENTS_PATH, get(events))
        .route(
            REGION_PATH,
            get(|State(routes): State<Routes>| async move { routes.home_region }),
        )
        .with_state(routes)
}

async fn plan_run_task(State(routes): State<Routes>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let plan = async {
        let body = routes.gateway.read_body(&parts, body).await?;
        let context = routes.gateway.authenticate(&parts, &body, "ecs").await?;
        let cp = routes.regions.region(&context.region).await?;
        let request: berth_ecs_wire::RunTaskRequest =
            serde_json::from_slice(&body).map_err(|err| {
                ApiError::serialization(format!("Could not parse the request body: {err}"))
            })?;
        berth_wire::Validate::check(&request).map_err(berth_ecs::EcsError::InvalidParameter)?;
        ecs::tasks::plan(&cp, request).await
    };
    match plan.await {
        Ok(plan) => (StatusCode::OK, axum::Json(plan)).into_response(),
        Err(err) => Protocol::json_1_1().error_response(&err.into(), ""),
    }
}

/// `GET /berth/v1/events`, signed as an `ecs` request of the region whose events it streams:
/// the kept events after `after` (or the `Last-Event-ID` header, which a reconnecting SSE client
/// sends and which wins), all kept ones without either, then each new one as it happens;
/// `follow=false` ends the stream once it has caught up. `cluster` and `service` filter.
async fn events(State(routes): State<Routes>, request: Request<Body>) -> Response {
    let (parts, _) = request.into_parts();
    let opened = async {
        let context = routes.gateway.authenticate(&parts, b"", "ecs").await?;
        let cp = routes.regions.region(&context.region).await?;
        let mut filter = crate::events::Filter::default();
        let mut after = None;
        let mut follow = true;
        let query = parts.uri.query().unwrap_or_default();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*name {
                "cluster" => filter.cluster = Some(value.into_owned()),
                "service" => filter.service = Some(value.into_owned()),
                "after" => after = Some(value.into_owned()),
                "follow" => {
                    follow = match &*value {
                        "true" => true,
                        "false" => false,
                        other => {
                            return Err(berth_ecs::EcsError::InvalidParameter(format!(
                                "follow must be true or false, not {other:?}"
                            ))
                            .into());
                        }
                    }
                }
                _ => {}
            }
        }
        let header = parts
            .headers
            .get("last-event-id")
            .and_then(|v| v.to_str().ok());
        let after = header
            .map(str::to_string)
            .or(after)
            .map(|id| id.parse::<berth_ecs::events::EventId>())
            .transpose()
            .map_err(|err| berth_ecs::EcsError::InvalidParameter(err.to_string()))?;
        let reading = crate::events::Reading {
            filter,
            after,
            follow,
        };
        Ok::<_, ApiError>(crate::events::stream(
            cp.events.clone(),
            reading,
            routes.stopping.clone(),
        ))
    };
    match opened.await {
        Ok(stream) => Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "text/event-stream")
            .header("cache-control", "no-cache")
            .body(Body::from_stream(stream))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()),
        Err(err) => Protocol::json_1_1().error_response(&err.into(), ""),
    }
}
