//! The HTTP edge: the axum router and the state its handlers share (`crate::app` serves it).

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{MatchedPath, Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{Http, HttpAuthScheme, SecurityScheme},
};

use crate::{cache::HotelCache, config::Config, metrics::Metrics, store::Store};

pub mod api;
pub mod auth;
pub mod error;
pub mod formats;
pub mod limits;
mod links;
use links::Links;
pub mod outbound;
pub mod passwords;
pub mod reports;
pub mod review;
mod schemas;
pub mod server;
pub mod ui;
pub mod webhooks;

/// What every handler reaches through `State<Arc<AppState>>`.
pub struct AppState {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub cache: HotelCache,
    pub metrics: Metrics,
    /// Rate limits and failure counts of webhooks and logins.
    pub limits: limits::Limits,
    /// The bound on password checks and hashes in flight.
    pub passwords: passwords::PasswordGate,
    /// The web pages' in-memory state (live streams).
    pub ui: ui::UiState,
    openapi: String,
}

impl AppState {
    /// The state of a server on `store`, with the hotels in `cache` and fresh counters and limits.
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        cache: HotelCache,
    ) -> Result<Self, serde_json::Error> {
        let openapi = openapi().to_json()?;
        let limits = limits::Limits::new(&config.limits);
        let streams = ui::Streams::new(&config.streams, config.http.max_connections);
        Ok(Self {
            config,
            store,
            cache,
            metrics: Metrics::default(),
            limits,
            passwords: passwords::PasswordGate::per_core(),
            ui: ui::UiState::new(streams),
            openapi,
        })
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "hubhook", description = "Duve guest requests in, hotel staff tasks out."),
    paths(
        webhooks::duve,
        api::list_tasks,
        api::task_detail,
        api::create_task,
        api::move_task,
        api::assign_task,
        api::inbound,
        review::dry_run,
        review::replay,
        outbound::list_webhooks,
        outbound::create_webhook,
        outbound::remove_webhook,
        outbound::rotate_webhook_secret,
        outbound::list_deliveries,
        outbound::delivery,
        outbound::replay_delivery,
        reports::shift_report,
        healthz,
        readyz,
        metrics,
    ),
    components(schemas(
        crate::domain::Task,
        crate::domain::TaskEvent,
        crate::domain::TaskStatus,
        api::NewTask,
        api::StatusMove,
        crate::intake::Skipped,
        crate::intake::review::DryRun,
        crate::store::TaskDetail,
        crate::store::InboundEntry,
        error::ErrorBody,
        webhooks::WebhookAnswer,
        crate::outbox::SubscriptionRequest,
        crate::outbox::EventType,
        crate::outbox::SubscriptionKind,
        crate::outbox::DeliveryStatus,
        crate::store::Subscription,
        crate::store::Header,
        crate::store::Delivery,
        crate::store::Attempt,
        outbound::SubscriptionCreated,
        outbound::SubscriptionList,
        outbound::SecretRotated,
        outbound::DeliveryList,
        crate::domain::report::Report,
        crate::domain::report::DepartmentFigures,
        crate::domain::report::ServiceFigures,
    )),
    modifiers(&BearerAuth, &Links)
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The OpenAPI document, generated from the handlers' annotations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process is up")))]
async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok"}))
}

#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "The database answers"),
    (status = 503, description = "The database does not answer", body = error::ErrorBody)))]
async fn readyz(State(app): State<Arc<AppState>>) -> Response {
    match app.store.ping().await {
        Ok(()) => Json(serde_json::json!({"status": "ready"})).into_response(),
        Err(e) => error::ApiError::Unavailable(e.to_string()).into_response(),
    }
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics(State(app): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        app.metrics.scrape(app.store.as_ref()).await,
    )
}

/// Records each API answer's latency under its route template (`hubhook_api_request_duration_seconds`).
async fn observe_api(
    State(app): State<Arc<AppState>>,
    route: MatchedPath,
    req: Request,
    next: Next,
) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let res = next.run(req).await;
    app.metrics.api_answer(
        method.as_str(),
        route.as_str(),
        res.status().as_u16(),
        started.elapsed(),
    );
    res
}

async fn openapi_json(State(app): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        app.openapi.clone(),
    )
}

async fn not_found() -> Response {
    error::ApiError::NotFound.into_response()
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(error::ErrorBody {
            code: "METHOD_NOT_ALLOWED",
            message: "Method not allowed.".into(),
            details: vec![],
        }),
    )
        .into_response()
}

/// Every route of the service, on `state`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/v1/tasks", get(api::list_tasks).post(api::create_task))
        .route("/api/v1/tasks/{id}", get(api::task_detail))
        .route("/api/v1/tasks/{id}/status", post(api::move_task))
        .route("/api/v1/tasks/{id}/assign", post(api::assign_task))
        .route("/api/v1/inbound", get(api::inbound))
        .route("/api/v1/inbound/{id}/replay", post(review::replay))
        .route("/api/v1/dry-run", post(review::dry_run))
        .route(
            "/api/v1/webhooks",
            get(outbound::list_webhooks).post(outbound::create_webhook),
        )
        .route(
            "/api/v1/webhooks/{id}",
            axum::routing::delete(outbound::remove_webhook),
        )
        .route(
            "/api/v1/webhooks/{id}/rotate-secret",
            post(outbound::rotate_webhook_secret),
        )
        .route("/api/v1/deliveries", get(outbound::list_deliveries))
        .route("/api/v1/deliveries/{id}", get(outbound::delivery))
        .route(
            "/api/v1/deliveries/{id}/replay",
            post(outbound::replay_delivery),
        )
        .route("/api/v1/reports/shift", get(reports::shift_report))
        // The routes above are the API's: their bodies are bounded (413 beyond), each answer's
        // latency is recorded by route template.
        .route_layer(axum::extract::DefaultBodyLimit::max(error::API_BODY_LIMIT))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe_api,
        ))
        .route("/webhooks/duve", post(webhooks::duve))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi_json))
        .merge(ui::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}
