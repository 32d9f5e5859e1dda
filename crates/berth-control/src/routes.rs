//! ECS behind the gateway ([`EcsService`]), and Berth's own routes beside the AWS APIs: the
//! agent channel, the placement dry run and a health check. All of them are authenticated as
//! the AWS APIs are.

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
}

pub fn router(routes: Routes) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(berth_protocol::CONNECT_PATH, get(crate::agents::connect))
        .route(PLAN_RUN_TASK_PATH, post(plan_run_task))
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
