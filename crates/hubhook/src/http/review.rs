//! `POST /api/v1/dry-run` and `POST /api/v1/inbound/{id}/replay` (CONTRACT.md section 7), for
//! managers: what a Duve body would do, and a refused delivery decided again. Both run the
//! webhook's own code (`crate::review`).

use std::sync::Arc;

use axum::{
    Json,
    body::Body,
    extract::{Path, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
};

use super::{
    AppState,
    auth::Manager,
    error::{ApiError, ErrorBody, WebhookError},
    webhooks::{WebhookAnswer, read_body, respond},
};
use crate::{intake::review::DryRun, store::Scope};

#[utoipa::path(post, path = "/api/v1/dry-run", tag = "inbound",
    request_body(content = Option<serde_json::Value>, content_type = "application/json",
        description = "A Duve webhook body, exactly as Duve would send it to `/webhooks/duve` \
            (no credential headers: the hotel is the key's). Optional, as for the webhook: no \
            body is answered with the webhook's refusal of an empty body. At most the webhook's body limit \
            (`HUBHOOK_BODY_LIMIT`, 1 MiB by default); a larger one is answered 200 with the \
            webhook's 413 inside."),
    security(("api_key" = [])),
    responses(
        (status = 200, body = DryRun, description = "What the webhook would do for this hotel \
            now; nothing was stored, queued or raised"),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one"),
        (status = 403, body = ErrorBody, description = "A staff key: this route is a manager's"),
        (status = 404, body = ErrorBody, description = "The key's hotel no longer exists"),
        (status = 408, body = ErrorBody, description = "REQUEST_TIMEOUT: the body did not arrive in time"),
        (status = 503, body = ErrorBody, description = "UNAVAILABLE (with Retry-After): the database did not answer"),
    ))]
/// What a Duve body would do for the key's hotel, stored nowhere.
pub async fn dry_run(
    State(app): State<Arc<AppState>>,
    Manager(caller): Manager,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bytes = match read_body(&app, &headers, body).await {
        Ok(b) => b,
        Err(e @ WebhookError::BodyTimeout { .. }) => return e.into_response(),
        Err(_) => None,
    };
    let limit = app.config.body_limit;
    let answer = async {
        let Some(bytes) = bytes else {
            return Ok(crate::intake::review::too_large(limit));
        };
        let hotel = app
            .cache
            .current(caller.hotel.as_str())
            .await?
            .ok_or(ApiError::NotFound)?;
        let run = crate::review::dry_run(
            app.store.as_ref(),
            &hotel,
            &app.config.fields,
            &bytes,
            limit,
        )
        .await?;
        Ok::<_, ApiError>(run)
    };
    match answer.await {
        Ok(run) => Json(run).into_response(),
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(post, path = "/api/v1/inbound/{id}/replay", tag = "inbound",
    params(("id" = i64, Path, minimum = 1,
        description = "The inbound log entry's id (`id` in `GET /api/v1/inbound`)")),
    security(("api_key" = [])),
    responses(
        (status = 201, body = WebhookAnswer, description = "`created`: the webhook's answer; its \
            tasks were made now. The log gains an entry with `replayOf` = id"),
        (status = 200, body = WebhookAnswer, description = "`duplicate` (the order was received \
            since, or replayed already: no new task) or `cancelled` (its cancellation came first)"),
        (status = 400, body = ErrorBody, description = "WEB_HUK_HUBOS_REQUEST_FAIL: still an \
            unknown room, or no item of a known service (recorded in the log as a replay)"),
        (status = 403, body = ErrorBody, description = "FORBIDDEN: a staff key (this route is a \
            manager's); or WEB_HUK_INVALID_BODY: the room number, verified first name or service \
            external ID is still missing (recorded in the log as a replay)"),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one"),
        (status = 404, body = ErrorBody, description = "NOT_FOUND: no such entry in this hotel's log"),
        (status = 409, body = ErrorBody, description = "NOT_REPLAYABLE: not a refusal for data the \
            hotel can fix (an accepted delivery, or a body that is not a Duve webhook); \
            BODY_INCOMPLETE: the body was not kept whole (over the size limit)"),
        (status = 503, body = ErrorBody, description = "UNAVAILABLE (with Retry-After): nothing was stored"),
    ))]
/// A refused delivery of the key's hotel decided again; the webhook's answer now.
pub async fn replay(
    State(app): State<Arc<AppState>>,
    Manager(caller): Manager,
    Path(id): Path<String>,
) -> Response {
    let Some(id) = id.parse::<i64>().ok().filter(|n| *n > 0) else {
        return ApiError::NotFound.into_response();
    };
    let scope = Scope::Hotel(caller.hotel.as_str());
    match crate::review::replay(app.store.as_ref(), scope, id, &app.config.fields).await {
        Ok(done) => respond(done.outcome),
        Err(e) => ApiError::from(e).into_response(),
    }
}
