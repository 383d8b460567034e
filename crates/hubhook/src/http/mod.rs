//! The HTTP edge: the axum router, its shared state, and the [`Application`] that serves it.

use std::{future::Future, net::SocketAddr, sync::Arc};

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{Http, HttpAuthScheme, SecurityScheme},
};

use crate::{
    cache::HotelCache, config::Config, outbox::Dispatcher, store::Store, telemetry::Metrics,
};

pub mod api;
pub mod auth;
pub mod error;
pub mod limits;
pub mod outbound;
pub mod server;
pub mod ui;
pub mod webhooks;

pub struct AppState {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub cache: HotelCache,
    pub metrics: Metrics,
    /// Rate limits and failure counts of webhooks and logins.
    pub limits: limits::Limits,
    /// The web pages' in-memory state (live streams).
    pub ui: ui::UiState,
    openapi: String,
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
        api::inbound,
        outbound::list_webhooks,
        outbound::create_webhook,
        outbound::remove_webhook,
        outbound::rotate_webhook_secret,
        outbound::list_deliveries,
        outbound::delivery,
        outbound::replay_delivery,
        healthz,
        readyz,
        metrics,
    ),
    components(schemas(
        crate::domain::Task,
        crate::domain::TaskEvent,
        crate::domain::TaskStatus,
        crate::intake::Skipped,
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
    )),
    modifiers(&BearerAuth)
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
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
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

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/webhooks/duve", post(webhooks::duve))
        .route("/api/v1/tasks", get(api::list_tasks).post(api::create_task))
        .route("/api/v1/tasks/{id}", get(api::task_detail))
        .route("/api/v1/tasks/{id}/status", post(api::move_task))
        .route("/api/v1/inbound", get(api::inbound))
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
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi_json))
        .merge(ui::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// How long the store's final flush may take after the shutdown bound.
const FLUSH_BOUND: std::time::Duration = std::time::Duration::from_secs(2);

/// The service, bound and ready: tests bind port 0 and read [`Application::port`].
pub struct Application {
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let store = crate::store::open(&config.database_url).await?;
        Self::with_store(config, store).await
    }

    pub async fn with_store(config: Config, store: Arc<dyn Store>) -> anyhow::Result<Self> {
        let cache = HotelCache::load(store.clone()).await?;
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let openapi = openapi().to_json()?;
        let limits = limits::Limits::new(&config.limits);
        let state = Arc::new(AppState {
            config,
            store,
            cache,
            metrics: Metrics::default(),
            limits,
            ui: ui::UiState::default(),
            openapi,
        });
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn port(&self) -> u16 {
        self.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves (and delivers the outbox) until `shutdown` resolves, then shuts down within the
    /// configured bound: stops accepting at once, lets the requests in flight finish (their writes
    /// commit and are answered) while live streams and idle connections close and the dispatcher
    /// records the attempts it has in flight; drops whatever is still busy at the bound; flushes
    /// the store.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let dispatcher =
            Dispatcher::new(self.state.store.clone(), self.state.config.outbox.clone())
                .map_err(std::io::Error::other)?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut outbox = tokio::spawn(dispatcher.run(stopped.clone()));
        let pruner = self.state.config.retention.map(|age| {
            tokio::spawn(crate::retention::Pruner::new(self.state.store.clone(), age).run(stopped))
        });
        let state = self.state.clone();
        let limits = state.config.http.clone();
        let app = router(self.state);
        // Live board streams never end on their own, and the dispatcher has its own attempts to
        // finish: both are told at once, so each gets the whole bound.
        let shutdown = async {
            shutdown.await;
            state.ui.close_streams();
            let _ = stop.send(true);
        };
        let drained = server::serve(self.listener, app, &limits, shutdown).await;
        let deadline = drained.began + limits.shutdown_timeout;
        let in_flight =
            crate::outbox::dispatcher::IN_FLIGHT.load(std::sync::atomic::Ordering::Relaxed);
        match tokio::time::timeout_at(deadline, &mut outbox).await {
            Ok(_) => tracing::info!(in_flight, "shutdown: outbox dispatcher stopped"),
            Err(_) => {
                // Its claims expire with their lease and the attempts are made again: at least once.
                outbox.abort();
                tracing::warn!(
                    in_flight,
                    "shutdown: outbox dispatcher still busy at the bound; its attempts in flight will be retried"
                );
            }
        }
        // The pruner ends the batch under way (one small statement).
        if let Some(pruner) = pruner {
            let _ = tokio::time::timeout_at(deadline, pruner).await;
        }
        // Every answered write has committed; this folds the rest away, briefly bounded so a busy
        // database cannot hold the exit.
        match tokio::time::timeout(FLUSH_BOUND, state.store.flush()).await {
            Ok(Ok(())) => tracing::info!("shutdown: store flushed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "shutdown: store flush failed"),
            Err(_) => tracing::warn!("shutdown: store flush did not finish in time"),
        }
        Ok(())
    }
}
