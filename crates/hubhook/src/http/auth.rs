//! The API caller: `Authorization: Bearer <api key>`, looked up by the key's SHA-256, and its role.
//!
//! Roles (CONTRACT.md section 3): a [`Caller`] (any key of the hotel) works tasks; a route that
//! manages the hotel (subscriptions, deliveries and their answers, the inbound log and its raw
//! bodies) takes a [`Manager`] instead, so a staff key gets 403 before anything else of its request
//! is read. No key, or an unknown one, is 401 either way.

use std::sync::Arc;

use axum::{extract::FromRequestParts, http::request::Parts};

use super::{AppState, error::ApiError};
use crate::{
    domain::{HotelId, Role, secret::hash_token},
    store::ApiKey,
};

/// Any API key of a hotel: staff or manager.
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
        let ApiKey {
            id, hotel_id, role, ..
        } = app
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

/// An API key with the manager role; a staff key is refused with 403 ([`ApiError::Forbidden`]).
pub struct Manager(pub Caller);

impl FromRequestParts<Arc<AppState>> for Manager {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, app).await?;
        match caller.role {
            Role::Manager => Ok(Manager(caller)),
            Role::Staff => Err(ApiError::Forbidden),
        }
    }
}
