//! `POST /webhooks/duve`: authenticate, parse, decide, store, answer (CONTRACT.md section 1).

use std::{net::SocketAddr, sync::Arc, time::Instant};

use axum::{
    Json,
    body::{Body, Bytes},
    extract::{ConnectInfo, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    AppState,
    error::{EdgeError, WebhookError},
    limits::LimitKind,
};
use crate::{
    domain::{HotelFacts, HotelId, Task, time},
    intake::{self, Outcome, REASON_CANCELLED_EARLY, Refusal, Skipped},
    store::{IngestRequest, Ingested, Refused, StoreError},
};

/// How often a webhook is decided again when its hotel's configuration changed under it.
const STALE_RETRIES: usize = 3;

/// The 2xx answer: also the task confirmation that Duve logs.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAnswer {
    /// created, merged, duplicate, cancelled, recorded or ignored
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub order_id: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<Task>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<Vec<Skipped>>,
}

impl WebhookAnswer {
    fn status(status: &'static str) -> Self {
        Self {
            status,
            reason: None,
            order_id: None,
            tasks: None,
            skipped: None,
        }
    }
}

/// A Duve webhook's body, as the document describes it (`http::formats::duve_webhook`); the handler
/// reads the bytes itself (`duve::parse_envelope`).
pub struct DuveWebhook;

impl utoipa::PartialSchema for DuveWebhook {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        super::formats::duve_webhook()
    }
}

impl ToSchema for DuveWebhook {}

/// The three credential headers, as the document describes them (any case; also with `-` for `_`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct DuveCredentials {
    /// The hotel's id (also custom-hotel-id)
    #[param(schema_with = super::formats::hotel_id)]
    custom_hotel_id: String,
    /// The hotel's access token (also custom-access-token)
    custom_access_token: String,
    /// The hotel's password token (also custom-password-token)
    custom_password_token: String,
}

struct Credentials<'a> {
    hotel_id: &'a str,
    access: &'a str,
    password: &'a str,
}

/// Header names are case-insensitive (the http crate lowercases them); `-` stands in for `_` because
/// nginx and other proxies drop names with underscores.
fn header<'a>(headers: &'a HeaderMap, underscored: &str, dashed: &str) -> Option<&'a str> {
    headers
        .get(underscored)
        .or_else(|| headers.get(dashed))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn credentials(headers: &HeaderMap) -> Option<Credentials<'_>> {
    Some(Credentials {
        hotel_id: header(headers, "custom_hotel_id", "custom-hotel-id")?,
        access: header(headers, "custom_access_token", "custom-access-token")?,
        password: header(headers, "custom_password_token", "custom-password-token")?,
    })
}

fn authenticate(hotel: Option<Arc<HotelFacts>>, c: &Credentials<'_>) -> Option<Arc<HotelFacts>> {
    hotel.filter(|h| h.credentials_match(c.access, c.password))
}

fn unavailable(e: StoreError) -> WebhookError {
    tracing::error!(error = %e, "cannot read the hotel's configuration");
    WebhookError::Unavailable
}

/// Finds the hotel the headers name; if the cache says no, re-reads that hotel's version once (and
/// the hotel, if it changed) before refusing.
async fn authenticated(
    app: &AppState,
    c: &Credentials<'_>,
) -> Result<Arc<HotelFacts>, WebhookError> {
    // An id that cannot be a hotel's costs no read.
    if HotelId::parse(c.hotel_id).is_err() {
        return Err(WebhookError::InvalidCreds);
    }
    let cached = app.cache.get(c.hotel_id).await.map_err(unavailable)?;
    let seen = cached.as_ref().map(|h| h.config_version);
    if let Some(h) = authenticate(cached, c) {
        return Ok(h);
    }
    let current = app.cache.current(c.hotel_id).await.map_err(unavailable)?;
    if current.as_ref().map(|h| h.config_version) == seen {
        return Err(WebhookError::InvalidCreds);
    }
    authenticate(current, c).ok_or(WebhookError::InvalidCreds)
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

#[utoipa::path(
    post,
    path = "/webhooks/duve",
    tag = "webhooks",
    request_body(content = DuveWebhook, description = "A Duve outgoing webhook: {\"accountId\", \"event\", \"resource\"}"),
    params(DuveCredentials),
    responses(
        (status = 201, description = "Tasks created", body = WebhookAnswer),
        (status = 200, description = "Duplicate, cancelled, recorded or ignored", body = WebhookAnswer),
        (status = 400, description = "WEB_HUK_INVALID_CREDS or WEB_HUK_HUBOS_REQUEST_FAIL", body = super::error::ErrorBody),
        (status = 403, description = "WEB_HUK_INVALID_BODY", body = super::error::ErrorBody),
        (status = 408, description = "REQUEST_TIMEOUT: the body did not arrive in time", body = super::error::ErrorBody),
        (status = 413, description = "WEB_HUK_PAYLOAD_TOO_LARGE", body = super::error::ErrorBody),
        (status = 429, description = "WEB_HUK_RATE_LIMITED (with Retry-After): an abuse limit of the address or the hotel", body = super::error::ErrorBody),
        (status = 503, description = "WEB_HUK_UNAVAILABLE (with Retry-After)", body = super::error::ErrorBody),
    )
)]
pub async fn duve(
    State(app): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let received_at = time::now();
    let client = app.limits.client(peer, &headers);
    // The address's limits come before anything of the request is read or checked: a flood, or a
    // client guessing tokens, costs one map lookup per request.
    let answer = match app.limits.admit_webhook(client, started) {
        Ok(()) => handle(&app, &headers, body, started, received_at).await,
        Err((kind, retry_after_secs)) => Err(WebhookError::RateLimited {
            kind,
            retry_after_secs,
        }),
    };
    if let Err(WebhookError::InvalidCreds) = &answer {
        app.limits.webhook_auth_failed(client, started);
    }
    let code = match &answer {
        Ok(outcome) => outcome.code(),
        Err(e) => e.code(),
    };
    app.metrics.webhook(code, started.elapsed());
    match answer {
        Ok(outcome) => respond(outcome),
        Err(e) => e.into_response(),
    }
}

/// The body under the webhook's size limit (`None` when over it), as the webhook reads it: a
/// declared length over the limit is not read at all. Also the dry run's.
pub(super) async fn read_body(
    app: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Option<Bytes>, WebhookError> {
    let limit = app.config.body_limit;
    if content_length(headers).is_some_and(|n| n > limit as u64) {
        return Ok(None);
    }
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(Some(bytes)),
        // A slow client is not an oversized body: nothing is recorded for it.
        Err(e) if EdgeError::is_body_timeout(&e) => Err(WebhookError::BodyTimeout {
            limit: app.config.http.body_timeout,
        }),
        Err(_) => Ok(None),
    }
}

async fn handle(
    app: &AppState,
    headers: &HeaderMap,
    body: Body,
    started: Instant,
    received_at: jiff::Timestamp,
) -> Result<Outcome, WebhookError> {
    let limit = app.config.body_limit;
    let bytes = read_body(app, headers, body).await?;
    let creds = credentials(headers);
    let Some(bytes) = bytes else {
        // Row 0 comes first; a hotel whose credentials were right still sees it in its inbound log.
        // No write checks this against stale facts, so the hotel is read as it is now: otherwise
        // tokens rotated a moment ago would still get a refusal into the hotel's log.
        if let Some(c) = &creds
            && HotelId::parse(c.hotel_id).is_ok()
            && let Ok(current) = app.cache.current(c.hotel_id).await
            && let Some(hotel) = authenticate(current, c)
        {
            let refused = Refused {
                hotel: hotel.id.clone(),
                code: "WEB_HUK_PAYLOAD_TOO_LARGE",
                details: vec![format!("body larger than {limit} bytes")],
                event: None,
                received_at,
                started,
            };
            if let Err(e) = app.store.record_refusal(refused).await {
                tracing::warn!(error = %e, "could not record a refused webhook");
            }
        }
        return Err(WebhookError::TooLarge { limit });
    };
    let creds = creds.ok_or(WebhookError::InvalidCreds)?;
    let mut hotel = authenticated(app, &creds).await?;
    // Only authenticated requests spend a hotel's budget: knowing its id is not enough to exhaust it.
    // A refusal here is not written to the inbound log (a flood would otherwise become writes).
    app.limits
        .admit_hotel(&hotel.id, started)
        .map_err(|retry_after_secs| WebhookError::RateLimited {
            kind: LimitKind::Hotel,
            retry_after_secs,
        })?;
    let envelope = duve::parse_envelope(&bytes);
    let event = intake::event_name(&envelope);
    for _ in 0..=STALE_RETRIES {
        let plan = intake::plan_of(&envelope, &bytes, &app.config.fields, &hotel);
        let req = IngestRequest {
            hotel: hotel.clone(),
            cache_version: hotel.config_version,
            plan,
            event: event.clone(),
            body: bytes.clone(),
            received_at,
            started,
            replay_of: None,
        };
        match app.store.ingest(req).await {
            Ok(Ingested::Done(outcome)) => return Ok(outcome),
            Ok(Ingested::Stale) => {
                // This hotel's configuration changed: it alone is read again, and the credentials
                // are checked again against what the database now says.
                let fresh = app
                    .cache
                    .refresh(creds.hotel_id, Some(hotel.config_version))
                    .await
                    .map_err(unavailable)?;
                hotel = authenticate(fresh, &creds).ok_or(WebhookError::InvalidCreds)?;
            }
            Err(e) => {
                tracing::error!(error = %e, hotel = %hotel.id, "webhook not stored");
                return Err(WebhookError::Unavailable);
            }
        }
    }
    tracing::error!(hotel = %hotel.id, "the hotel's configuration kept changing; webhook not stored");
    Err(WebhookError::Unavailable)
}

/// The webhook's answer to `outcome`: also what a replay answers (CONTRACT.md section 7).
pub fn respond(outcome: Outcome) -> Response {
    let status = StatusCode::from_u16(outcome.status()).unwrap_or(StatusCode::OK);
    match answer_of(outcome) {
        Ok(answer) => (status, Json(answer)).into_response(),
        Err(r) => WebhookError::Refused(r).into_response(),
    }
}

/// The 2xx answer's body for `outcome`, or the refusal it is answered with.
pub fn answer_of(outcome: Outcome) -> Result<WebhookAnswer, Refusal> {
    Ok(match outcome {
        Outcome::Created {
            order_id,
            tasks,
            skipped,
        } => WebhookAnswer {
            order_id: Some(order_id),
            tasks: Some(tasks),
            skipped: Some(skipped),
            ..WebhookAnswer::status("created")
        },
        // Every item merged into a task made before (CONTRACT.md section 7): no new task.
        Outcome::Merged {
            order_id,
            tasks,
            skipped,
        } => WebhookAnswer {
            order_id: Some(order_id),
            tasks: Some(tasks),
            skipped: (!skipped.is_empty()).then_some(skipped),
            ..WebhookAnswer::status("merged")
        },
        Outcome::Duplicate { order_id, tasks } => WebhookAnswer {
            order_id: Some(order_id),
            tasks: Some(tasks),
            ..WebhookAnswer::status("duplicate")
        },
        Outcome::CancelledBeforeArrival => WebhookAnswer {
            reason: Some(REASON_CANCELLED_EARLY),
            tasks: Some(Vec::new()),
            ..WebhookAnswer::status("cancelled")
        },
        Outcome::Cancelled { tasks } => WebhookAnswer {
            tasks: Some(tasks),
            ..WebhookAnswer::status("cancelled")
        },
        Outcome::Recorded => WebhookAnswer::status("recorded"),
        Outcome::Ignored { reason } => WebhookAnswer {
            reason: Some(reason),
            ..WebhookAnswer::status("ignored")
        },
        Outcome::Refused(r) => return Err(r),
    })
}
