//! How the refusals of the layers below, and of axum's extractors, become [`ApiError`]s: the
//! request's shape is a 400, what a well-formed request names a 422 (docs/api.md, "What the
//! document promises").

use axum::{
    extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection},
    http::StatusCode,
};

use super::{ApiError, CODE_UNPROCESSABLE, EdgeError};
use crate::{
    intake::ManualTaskError, outbox::SubscriptionError, review::ReplayError, store::StoreError,
};

/// A body the JSON extractor refused: 415 when it is not sent as JSON, 413 when it is too large,
/// 408 when it came too slowly, otherwise 400 (not JSON, or not the document's shape).
impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        match e {
            JsonRejection::MissingJsonContentType(e) => {
                ApiError::UnsupportedMediaType(e.body_text())
            }
            JsonRejection::BytesRejection(ref b) => {
                if let Some(limit) = body_timeout(b) {
                    ApiError::Edge(EdgeError::BodyTimeout { limit })
                } else if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::TooLarge
                } else {
                    ApiError::InvalidRequest(e.body_text())
                }
            }
            e => ApiError::InvalidRequest(e.body_text()),
        }
    }
}

/// The body timeout behind a body-reading error, if that is what it was.
fn body_timeout(e: &BytesRejection) -> Option<std::time::Duration> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(EdgeError::BodyTimeout { limit }) = c.downcast_ref::<EdgeError>() {
            return Some(*limit);
        }
        cause = c.source();
    }
    None
}

impl From<ManualTaskError> for ApiError {
    fn from(e: ManualTaskError) -> Self {
        let (code, message) = match e {
            ManualTaskError::Format(_) | ManualTaskError::NoName | ManualTaskError::Quantity => {
                return ApiError::InvalidRequest(e.to_string());
            }
            ManualTaskError::UnknownRoom(_) => ("UNKNOWN_ROOM", "Unknown room"),
            ManualTaskError::UnknownService(_) => ("UNKNOWN_SERVICE", "Unknown service"),
            ManualTaskError::NotATime(_) => {
                (CODE_UNPROCESSABLE, "The request cannot be carried out.")
            }
        };
        ApiError::Unprocessable {
            code,
            message,
            detail: e.to_string(),
        }
    }
}

impl From<SubscriptionError> for ApiError {
    fn from(e: SubscriptionError) -> Self {
        if e.is_shape() {
            return ApiError::InvalidRequest(e.to_string());
        }
        let (code, message) = match e {
            SubscriptionError::Destination { .. } => {
                (crate::outbox::CODE_DENIED, "Destination not allowed.")
            }
            _ => (CODE_UNPROCESSABLE, "The request cannot be carried out."),
        };
        ApiError::Unprocessable {
            code,
            message,
            detail: e.to_string(),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        ApiError::InvalidRequest(e.body_text())
    }
}

/// A path segment that cannot be decoded names nothing: 404, as an unknown id would.
impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        ApiError::NotFound
    }
}

impl From<ReplayError> for ApiError {
    fn from(e: ReplayError) -> Self {
        match e {
            ReplayError::NotFound(_) => ApiError::NotFound,
            ReplayError::NotReplayable(n) => ApiError::NotReplayable(n),
            ReplayError::Store(s) => s.into(),
        }
    }
}

impl From<crate::domain::report::WindowError> for ApiError {
    fn from(e: crate::domain::report::WindowError) -> Self {
        use crate::domain::report::WindowError;
        match e {
            // Not what the document's format says: 400.
            WindowError::NotAnInstant { .. } | WindowError::NotALocalTime { .. } => {
                ApiError::InvalidRequest(e.to_string())
            }
            // Two valid instants that make no window the report takes: 422.
            WindowError::Empty { .. } | WindowError::TooLong { .. } | WindowError::OutOfRange => {
                ApiError::Unprocessable {
                    code: CODE_UNPROCESSABLE,
                    message: "The request cannot be carried out.",
                    detail: e.to_string(),
                }
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Transition(t) => ApiError::Transition(t),
            StoreError::Assign(a) => ApiError::Assign(a),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::Limit(m) => ApiError::Limit(m),
            StoreError::Invalid(m) => ApiError::InvalidRequest(m),
            StoreError::Unavailable(m) => ApiError::Unavailable(m),
        }
    }
}
