//! The one place where errors become status codes and JSON bodies `{"code", "message", "details"}`.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use super::limits::LimitKind;
use crate::{
    domain::{TransitionError, assignment::AssignError},
    intake::{Refusal, RefusalKind, review::NotReplayable},
    store::StoreError,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub code: &'static str,
    pub message: String,
    pub details: Vec<String>,
}

/// Seconds a client is asked to wait before retrying when storage is unavailable.
const RETRY_AFTER_SECS: &str = "5";

/// Seconds a board refused a live stream is asked to wait before it asks again (it polls meanwhile).
const STREAM_RETRY_AFTER_SECS: &str = "60";

/// Answers of the connection layer itself, whatever the route (docs/api.md, "Limits of every route").
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// The request's body did not arrive within `limit` of its headers (a slow or stalled client).
    #[error("the request body did not arrive within {limit:?}")]
    BodyTimeout { limit: std::time::Duration },
}

impl EdgeError {
    /// Whether a body-reading error (as extractors and `to_bytes` report it) is a body timeout.
    pub fn is_body_timeout(e: &axum::Error) -> bool {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(c) = cause {
            if c.downcast_ref::<EdgeError>().is_some() {
                return true;
            }
            cause = c.source();
        }
        false
    }
}

impl IntoResponse for EdgeError {
    fn into_response(self) -> Response {
        match self {
            EdgeError::BodyTimeout { limit } => {
                let mut res = (
                    StatusCode::REQUEST_TIMEOUT,
                    Json(ErrorBody {
                        code: "REQUEST_TIMEOUT",
                        message: "Request body not received in time.".to_owned(),
                        details: vec![format!(
                            "the whole body must arrive within {} s of the headers",
                            limit.as_secs_f64()
                        )],
                    }),
                )
                    .into_response();
                // The rest of the body is still on its way: the connection cannot carry another
                // request.
                res.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                res
            }
        }
    }
}

/// Answers of `POST /webhooks/duve` that are not a 2xx (CONTRACT.md section 1).
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("payload too large")]
    TooLarge { limit: usize },
    #[error("invalid credentials")]
    InvalidCreds,
    #[error("refused: {0:?}")]
    Refused(Refusal),
    #[error("storage unavailable")]
    Unavailable,
    /// An abuse limit (docs/operations.md, "Abuse limits"); the contract is silent on these.
    #[error("rate limited: {}", .kind.detail())]
    RateLimited {
        kind: LimitKind,
        retry_after_secs: u64,
    },
    #[error("body not received in time")]
    BodyTimeout { limit: std::time::Duration },
}

impl WebhookError {
    pub fn code(&self) -> &'static str {
        match self {
            WebhookError::TooLarge { .. } => crate::intake::CODE_TOO_LARGE,
            WebhookError::InvalidCreds => "WEB_HUK_INVALID_CREDS",
            WebhookError::Refused(r) => r.code(),
            WebhookError::Unavailable => "WEB_HUK_UNAVAILABLE",
            WebhookError::RateLimited { .. } => "WEB_HUK_RATE_LIMITED",
            WebhookError::BodyTimeout { .. } => "REQUEST_TIMEOUT",
        }
    }
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        let code = self.code();
        let mut retry_after = None;
        let (status, message, details) = match self {
            WebhookError::TooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                crate::intake::MESSAGE_TOO_LARGE,
                vec![format!("the limit is {limit} bytes")],
            ),
            WebhookError::InvalidCreds => (
                StatusCode::BAD_REQUEST,
                "Invalid credentials.",
                vec![
                    "custom_hotel_id, custom_access_token and custom_password_token must match a hotel"
                        .to_owned(),
                ],
            ),
            WebhookError::Refused(r) => {
                let status =
                    StatusCode::from_u16(r.kind.status()).unwrap_or(StatusCode::BAD_REQUEST);
                (status, r.message(), r.details)
            }
            WebhookError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable, retry later.",
                vec!["the request was not stored; deliver it again".to_owned()],
            ),
            WebhookError::RateLimited {
                kind,
                retry_after_secs,
            } => {
                retry_after = Some(retry_after_secs);
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many requests, retry later.",
                    vec![
                        kind.detail().to_owned(),
                        "the request was not read; deliver it again after Retry-After seconds"
                            .to_owned(),
                    ],
                )
            }
            WebhookError::BodyTimeout { limit } => {
                return EdgeError::BodyTimeout { limit }.into_response();
            }
        };
        let mut res = (
            status,
            Json(ErrorBody {
                code,
                message: message.to_owned(),
                details,
            }),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        if let Some(secs) = retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

/// Errors of the `/api/v1` JSON API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or unknown API key")]
    Unauthorized,
    #[error("this needs a manager key")]
    Forbidden,
    #[error("not found")]
    NotFound,
    /// The request does not have the shape the OpenAPI document gives it: 400 `INVALID_REQUEST`.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A body sent as something other than `application/json`: 415.
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// A body over [`API_BODY_LIMIT`]: 413.
    #[error("payload too large")]
    TooLarge,
    /// The body did not arrive in time: 408 (see [`EdgeError`]).
    #[error(transparent)]
    Edge(#[from] EdgeError),
    /// The request has the document's shape but names what the hotel cannot act on (an unknown
    /// room, a destination deliveries may not reach): 422 with its own code.
    #[error("unprocessable ({code}): {detail}")]
    Unprocessable {
        code: &'static str,
        message: &'static str,
        detail: String,
    },
    #[error("refused: {0:?}")]
    Refused(Refusal),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// An assignment refused (unknown or disabled assignee, someone else's task).
    #[error(transparent)]
    Assign(#[from] AssignError),
    #[error("conflict: {0}")]
    Conflict(String),
    /// A per-hotel bound (subscriptions, replays): 409 `LIMIT_REACHED`.
    #[error("limit reached: {0}")]
    Limit(String),
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// An inbound entry that may not be replayed: 409 `NOT_REPLAYABLE` or `BODY_INCOMPLETE`.
    #[error("not replayable: {0:?}")]
    NotReplayable(NotReplayable),
}

/// The largest body an `/api/v1` route reads (its OpenAPI operations list 413 beyond it).
pub const API_BODY_LIMIT: usize = 256 * 1024;

/// The 422 code of a request that is well formed but that the hotel cannot act on, when no more
/// specific code says why.
pub const CODE_UNPROCESSABLE: &str = "UNPROCESSABLE";

mod from;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, details) = match self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "Missing or unknown API key.".to_owned(),
                vec!["send Authorization: Bearer <api key>".to_owned()],
            ),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "This needs a manager API key.".to_owned(),
                vec![],
            ),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "Not found.".to_owned(),
                vec![],
            ),
            ApiError::InvalidRequest(m) => (
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "Invalid request.".to_owned(),
                vec![m],
            ),
            ApiError::UnsupportedMediaType(m) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "Send the body as application/json.".to_owned(),
                vec![m],
            ),
            ApiError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "Payload too large.".to_owned(),
                vec![format!("the limit is {API_BODY_LIMIT} bytes")],
            ),
            ApiError::Edge(e) => return e.into_response(),
            ApiError::Unprocessable {
                code,
                message,
                detail,
            } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                code,
                message.to_owned(),
                vec![detail],
            ),
            ApiError::Refused(r) => {
                let (status, code) = match r.kind {
                    RefusalKind::InvalidBody => (StatusCode::BAD_REQUEST, "INVALID_REQUEST"),
                    RefusalKind::UnknownRoom => (StatusCode::UNPROCESSABLE_ENTITY, "UNKNOWN_ROOM"),
                    RefusalKind::UnknownService => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "UNKNOWN_SERVICE")
                    }
                };
                let message = match r.kind {
                    RefusalKind::InvalidBody => "Invalid request.",
                    _ => r.message(),
                };
                (status, code, message.to_owned(), r.details)
            }
            ApiError::Transition(t) => (
                StatusCode::CONFLICT,
                "INVALID_TRANSITION",
                "This status change is not allowed.".to_owned(),
                vec![t.to_string()],
            ),
            ApiError::Assign(a) => {
                let (status, code, message) = assign_answer(&a);
                (status, code, message.to_owned(), vec![a.to_string()])
            }
            ApiError::Conflict(m) => (
                StatusCode::CONFLICT,
                "CONFLICT",
                "Not possible in the resource's current state.".to_owned(),
                vec![m],
            ),
            ApiError::Limit(m) => (
                StatusCode::CONFLICT,
                crate::domain::outbound::CODE_LIMIT,
                "A limit of the hotel is reached.".to_owned(),
                vec![m],
            ),
            ApiError::NotReplayable(n) => (
                StatusCode::CONFLICT,
                n.code(),
                n.message().to_owned(),
                n.details(),
            ),
            ApiError::Unavailable(m) => {
                // The cause is for the operator's log, not for the caller.
                tracing::error!(error = %m, "storage unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "UNAVAILABLE",
                    "Temporarily unavailable, retry later.".to_owned(),
                    vec![],
                )
            }
        };
        let mut res = (
            status,
            Json(ErrorBody {
                code,
                message,
                details,
            }),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        res
    }
}

/// Errors of the web pages: HTML answers, or a redirect to the login page.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// No session, or an expired one: the browser is sent to `/login`.
    #[error("not signed in")]
    SignIn,
    #[error("forbidden")]
    Forbidden,
    /// The form's CSRF token is missing or does not belong to the session.
    #[error("CSRF token missing or wrong")]
    Csrf,
    #[error("not found")]
    NotFound,
    #[error("invalid request: {0}")]
    BadRequest(String),
    #[error("too many login attempts")]
    RateLimited { retry_after_secs: u64 },
    /// Too many password checks at once (`http::passwords`): answered 503 with `Retry-After`.
    #[error("too many password checks at once")]
    Busy,
    /// A live stream beyond a cap (per session, per hotel, in all); the text says which.
    #[error("too many live streams: {0}")]
    TooManyStreams(&'static str),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// An assignment refused (unknown or disabled assignee, someone else's task).
    #[error(transparent)]
    Assign(#[from] AssignError),
    #[error("conflict: {0}")]
    Conflict(String),
    /// A per-hotel bound (subscriptions, replays).
    #[error("limit reached: {0}")]
    Limit(String),
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

impl From<crate::http::passwords::PasswordError> for UiError {
    fn from(e: crate::http::passwords::PasswordError) -> Self {
        match e {
            crate::http::passwords::PasswordError::Busy => UiError::Busy,
            crate::http::passwords::PasswordError::Failed(m) => UiError::Unavailable(m),
        }
    }
}

impl From<StoreError> for UiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => UiError::NotFound,
            StoreError::Transition(t) => UiError::Transition(t),
            StoreError::Assign(a) => UiError::Assign(a),
            StoreError::Conflict(m) => UiError::Conflict(m),
            StoreError::Limit(m) => UiError::Limit(m),
            StoreError::Invalid(m) => UiError::BadRequest(m),
            StoreError::Unavailable(m) => UiError::Unavailable(m),
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let (status, title, text) = match self {
            UiError::SignIn => {
                return (
                    StatusCode::SEE_OTHER,
                    [
                        (header::LOCATION, "/login"),
                        (header::CACHE_CONTROL, "no-store"),
                    ],
                )
                    .into_response();
            }
            UiError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Forbidden",
                "This page is for the hotel's managers.".to_owned(),
            ),
            UiError::Csrf => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "The form was not sent from this session. Reload the page and try again."
                    .to_owned(),
            ),
            UiError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here.".to_owned(),
            ),
            UiError::BadRequest(m) => (StatusCode::BAD_REQUEST, "Invalid request", m),
            UiError::RateLimited { retry_after_secs } => {
                let mut res = error_page(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many attempts",
                    &format!(
                        "Too many failed logins. Try again in {} minutes.",
                        retry_after_secs.div_ceil(60)
                    ),
                );
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                return res;
            }
            UiError::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Busy",
                "Too many sign-ins at this moment. Try again in a few seconds.".to_owned(),
            ),
            UiError::TooManyStreams(detail) => {
                let mut res = error_page(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many live boards",
                    detail,
                );
                let h = res.headers_mut();
                h.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(STREAM_RETRY_AFTER_SECS),
                );
                // The browser keeps no idle connection for it: a refused stream frees its slot.
                h.insert(header::CONNECTION, HeaderValue::from_static("close"));
                return res;
            }
            UiError::Transition(t) => (
                StatusCode::CONFLICT,
                "Not allowed",
                format!("{t}. Someone may have changed it meanwhile: reload the board."),
            ),
            UiError::Assign(a) => {
                let (status, _, message) = assign_answer(&a);
                (
                    status,
                    message,
                    format!("{a}. Reload the board to see who has it now."),
                )
            }
            UiError::Conflict(m) => (StatusCode::CONFLICT, "Already exists", m),
            UiError::Limit(m) => (StatusCode::CONFLICT, "Limit reached", m),
            UiError::Unavailable(m) => {
                tracing::error!(error = %m, "storage unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Temporarily unavailable",
                    "Temporarily unavailable, retry later.".to_owned(),
                )
            }
        };
        let mut res = error_page(status, title, &text);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        res
    }
}

/// The status, code and message of a refused assignment (docs/api.md, "Assignment").
fn assign_answer(a: &AssignError) -> (StatusCode, &'static str, &'static str) {
    match a {
        AssignError::UnknownAssignee(_) => (
            StatusCode::NOT_FOUND,
            "UNKNOWN_ASSIGNEE",
            "No such user in this hotel.",
        ),
        AssignError::Disabled(_) => (
            StatusCode::CONFLICT,
            "ASSIGNEE_DISABLED",
            "The user is disabled.",
        ),
        AssignError::NotYours => (
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "Staff claim tasks only for themselves.",
        ),
        AssignError::AssignedToOther(_) => (
            StatusCode::CONFLICT,
            "ALREADY_ASSIGNED",
            "The task is assigned to someone else.",
        ),
    }
}

fn error_page(status: StatusCode, title: &str, text: &str) -> Response {
    let page = maud::html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · hubhook" }
                link rel="stylesheet" href="/static/app.css";
            }
            body {
                main.narrow {
                    h1 { (title) }
                    p.error-text { (text) }
                    p { a href="/board" { "Back to the board" } }
                }
            }
        }
    };
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        page.into_string(),
    )
        .into_response()
}
