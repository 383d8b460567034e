//! `/api/v1/webhooks` (subscriptions) and `/api/v1/deliveries` (the delivery log with the
//! receivers' answers, and replay): CONTRACT.md section 4. Every route here is a manager's
//! (CONTRACT.md section 3): a staff key is 403.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Path, Query, State, rejection::JsonRejection, rejection::QueryRejection},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    AppState,
    auth::Manager,
    error::{ApiError, ErrorBody},
};
use crate::{
    domain::time,
    outbox::{DeliveryStatus, SubscriptionRequest, check_destination, check_subscription, sign},
    store::{Delivery, Scope, Subscription},
};

/// How long a rotated-out secret keeps signing next to the new one.
pub const ROTATION_OVERLAP: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionCreated {
    pub id: String,
    /// The signing secret (`whsec_…`), shown only here; absent for duve-connect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub subscription: Subscription,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionList {
    subscriptions: Vec<Subscription>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRotated {
    pub id: String,
    pub secret: String,
    /// Until then, deliveries are signed with both secrets.
    pub previous_secret_until: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", security(("api_key" = [])),
    responses((status = 200, body = SubscriptionList),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one"),
        (status = 403, body = ErrorBody, description = "A staff key: this route is a manager's")))]
pub async fn list_webhooks(
    State(app): State<Arc<AppState>>,
    Manager(caller): Manager,
) -> Result<Json<SubscriptionList>, ApiError> {
    let subscriptions = app
        .store
        .list_subscriptions(Scope::Hotel(caller.hotel.as_str()))
        .await?;
    Ok(Json(SubscriptionList { subscriptions }))
}

#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body = SubscriptionRequest,
    security(("api_key" = [])),
    responses((status = 201, body = SubscriptionCreated), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one"),
        (status = 403, body = ErrorBody, description = "A staff key: this route is a manager's"),
        (status = 409, body = ErrorBody, description = "LIMIT_REACHED: the hotel has the most subscriptions it may have")))]
pub async fn create_webhook(
    State(app): State<Arc<AppState>>,
    Manager(caller): Manager,
    body: Result<Json<SubscriptionRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<SubscriptionCreated>), ApiError> {
    let req = body
        .map(|Json(b)| b)
        .map_err(|e| ApiError::InvalidRequest(e.body_text()))?;
    let new = check_subscription(caller.hotel.clone(), req)
        .and_then(|new| check_destination(&new.url, &app.config.outbox.destinations).map(|()| new))
        .map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
    let secret = new.secret.clone();
    let subscription = app
        .store
        .create_subscription(new, app.config.max_subscriptions)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SubscriptionCreated {
            id: subscription.id.clone(),
            secret,
            subscription,
        }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Subscription id")), security(("api_key" = [])),
    responses((status = 204, description = "Removed; its pending deliveries end as failed"),
        (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one"),
        (status = 403, body = ErrorBody, description = "A staff key: this route is a manager's")))]
pub async fn remove_webhook(
    State(app): State<Arc<AppState>>,
    Manager(caller): Manager,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.store
        .remove_subscription(Scope::Hotel(caller.hotel.as_str()), &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", tag = "webhooks",
    params(("id" = String, Path, description = "Subscription id")), security(("api_key" = [])),
    responses((status = 200, body = SecretRotated), (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one"),
        (status = 403, body = ErrorBody, description = "A staff key: this route is a manager's")))]
pub async fn rotate_webhook_secret(
    State(app): State<Arc<AppState>>,
    Manager(caller): Manager,
    Path(id): Path<String>,
) -> Result<Json<SecretRotated>, ApiError> {
    let secret = sign::new_secret();
    let until = time::now()
        .checked_add(ROTATION_OVERLAP)
        .map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
    let sub = app
        .store
        .rotate_secret(
            Scope::Hotel(caller.hotel.as_str()),
            &id,
            secret.clone(),
            until,
        )
        .await?;
    Ok(Json(SecretRotated {
        id: sub.id,
        secret,
        previous_secret_until: sub.previous_secret_until,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// pending, delivered or failed
    status: Option<String>,
    /// 1 to 500, default 50
    limit: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    /// Newest first
    deliveries: Vec<Delivery>,
}

#[utoipa::path(get, path = "/api/v1/deliveries", tag = "webhooks", params(DeliveryQuery),
    security(("api_key" = [])),
    responses((status = 200, body = DeliveryList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one"),
        (status = 403, body = ErrorBody, description = "A staff key: this route is a manager's")))]
pub async fn list_deliveries(
    State(app): State<Arc<AppState>>,
    Manager(caller): Manager,
    q: Result<Query<DeliveryQuery>, QueryRejection>,
) -> Result<Json<DeliveryList>, ApiError> {
    let q = q
        .map(|Query(q)| q)
        .map_err(|e| ApiError::InvalidRequest(e.body_text()))?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(DeliveryStatus::parse(s).ok_or_else(|| {
            ApiError::InvalidRequest(format!(
                "status {s:?} is not one of pending, delivered, failed"
            ))
        })?),
    };
    let limit = super::api::limit(q.limit.as_deref())?;
    let deliveries = app
        .store
        .list_deliveries(Scope::Hotel(caller.hotel.as_str()), status, limit)
        .await?;
    Ok(Json(DeliveryList { deliveries }))
}

#[utoipa::path(get, path = "/api/v1/deliveries/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Delivery id (the webhook-id)")),
    security(("api_key" = [])),
    responses((status = 200, body = Delivery, description = "With its payload, every attempt and the answers"),
        (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one"),
        (status = 403, body = ErrorBody, description = "A staff key: this route is a manager's")))]
pub async fn delivery(
    State(app): State<Arc<AppState>>,
    Manager(caller): Manager,
    Path(id): Path<String>,
) -> Result<Json<Delivery>, ApiError> {
    app.store
        .delivery(Scope::Hotel(caller.hotel.as_str()), &id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

#[utoipa::path(post, path = "/api/v1/deliveries/{id}/replay", tag = "webhooks",
    params(("id" = String, Path, description = "Delivery id")), security(("api_key" = [])),
    responses((status = 202, body = Delivery, description = "Queued again from its first attempt"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Its subscription is gone or disabled, or it is being sent right now; LIMIT_REACHED: too many of the hotel's deliveries are waiting"),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one"),
        (status = 403, body = ErrorBody, description = "A staff key: this route is a manager's")))]
pub async fn replay_delivery(
    State(app): State<Arc<AppState>>,
    Manager(caller): Manager,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Delivery>), ApiError> {
    let d = app
        .store
        .replay_delivery(Scope::Hotel(caller.hotel.as_str()), &id)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(d)))
}
