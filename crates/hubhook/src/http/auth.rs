//! The API caller: `Authorization: Bearer <api key>`, looked up by the key's SHA-256.

use std::sync::Arc;

use axum::{extract::FromRequestParts, http::request::Parts};

use super::{AppState, error::ApiError};
use crate::{
    domain::{HotelId, Role, secret::hash_token},
    store::ApiKey,
};

pub struct Caller {
    pub key_id: String,
    pub hotel: HotelId,
    pub role: Role,
}

impl Caller {
    /// How the caller appears in a task's history.
    pub fn actor(&self) -> String {
        format!("api:{}", self.key_id)
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let key = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            // The scheme name is case-insensitive (RFC 9110 section 11.1).
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key.trim())
            .filter(|k| !k.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        // The lookup is by hash: the key itself is never stored, and an index probe on a hash
        // reveals nothing useful about the key through its timing.
        let ApiKey { id, hotel_id, role } = app
            .store
            .find_api_key(hash_token(key))
            .await?
            .ok_or(ApiError::Unauthorized)?;
        app.metrics.api_request();
        Ok(Caller {
            key_id: id,
            hotel: hotel_id,
            role,
        })
    }
}
