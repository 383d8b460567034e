//! `/api/v1/webhooks` (subscriptions) and `/api/v1/deliveries` (the delivery log with the
//! receivers' answers, and replay): CONTRACT.md section 4. Every route here is a manager's
//! (CONTRACT.md section 3): a staff key is 403.

use std::sync::Arc;

use axum::{
    Json,
    extract::{
        Path, Query, State,
        rejection::{JsonRejection, PathRejection, QueryRejection},
    },
    http::StatusCode,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    AppState,
    auth::Manager,
    error::{ApiError, ErrorBody},
    formats as schema,
};
use crate::{
    domain::{formats, time},
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
    #[schema(format = DateTime)]
    pub previous_secret_until: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", security(("api_key" = [])),
    responses((status = 200, body = SubscriptionList),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one"),
        (status = 403, body = ErrorBody, description = "A staff key: this route is a manager's"),
        (status = 503, body = ErrorBody, description = "UNAVAILABLE: the database is unavailable (Retry-After)")))]
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
    responses((status = 201, body = SubscriptionCreated),
        (status = 400, body = ErrorBody, description = "INVALID_REQUEST: not the document's shape (a field missing, of the wrong type, out of its pattern or length; bearer, bodyTemplate or field on a signed webhook)"),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one"),
        (status = 403, body = ErrorBody, description = "A staff key: this route is a manager's"),
        (status = 409, body = ErrorBody, description = "LIMIT_REACHED: the hotel has the most subscriptions it may have"),
        (status = 413, body = ErrorBody, description = "PAYLOAD_TOO_LARGE: a body over 256 KiB"),
        (status = 415, body = ErrorBody, description = "UNSUPPORTED_MEDIA_TYPE: a body not sent as application/json"),
        (status = 422, body = ErrorBody, description = "WEB_HUK_DESTINATION_DENIED: the URL's host is an address deliveries may not reach (loopback, private, link-local...); UNPROCESSABLE: a URL whose host or port is not valid, a header hubhook sets itself, a body template that is not JSON or names an unknown placeholder"),
        (status = 503, body = ErrorBody, description = "UNAVAILABLE: the database is unavailable (Retry-After)")))]
pub async fn create_webhook(
    State(app): State<Arc<AppState>>,
    Manager(caller): Manager,
    body: Result<Json<SubscriptionRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<SubscriptionCreated>), ApiError> {
    let req = super::api::json(body)?;
    let new = check_subscription(caller.hotel.clone(), req)?;
    check_destination(&new.url, &app.config.outbox.destinations)?;
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

/// A subscription id in the path; anything else names no subscription (404).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SubscriptionPath {
    /// Subscription id
    #[param(schema_with = schema::subscription_id)]
    id: String,
}

impl SubscriptionPath {
    fn id(&self) -> Result<&str, ApiError> {
        Some(self.id.as_str())
            .filter(|id| formats::SUBSCRIPTION_ID.matches(id))
            .ok_or(ApiError::NotFound)
    }
}

/// A delivery id in the path; anything else names no delivery (404).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DeliveryPath {
    /// Delivery id (the webhook-id)
    #[param(schema_with = schema::delivery_id)]
    id: String,
}

impl DeliveryPath {
    fn id(&self) -> Result<&str, ApiError> {
        Some(self.id.as_str())
            .filter(|id| formats::DELIVERY_ID.matches(id))
            .ok_or(ApiError::NotFound)
    }
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(SubscriptionPath), security(("api_key" = [])),
    responses((status = 204, description = "Removed; its pending deliveries end as failed"),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one"),
        (status = 403, body = ErrorBody, description = "A staff key: this route is a manager's"),
        (status = 404, body = ErrorBody, description = "NOT_FOUND: no such subscription in this key's hotel"),
        (status = 503, body = ErrorBody, description = "UNAVAILABLE: the database is unavailable (Retry-After)")))]
pub async fn remove_webhook(
    State(app): State<Arc<AppState>>,
    Manager(caller): Manager,
    path: Result<Path<SubscriptionPath>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(path) = path?;
    app.store
        .remove_subscription(Scope::Hotel(caller.hotel.as_str()), path.id()?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", tag = "webhooks",
    params(SubscriptionPath), security(("api_key" = [])),
    responses((status = 200, body = SecretRotated),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one"),
        (status = 403, body = ErrorBody, description = "A staff key: this route is a manager's"),
        (status = 404, body = ErrorBody, description = "NOT_FOUND: no such subscription in this key's hotel"),
        (status = 409, body = ErrorBody, description = "CONFLICT: a Duve Connect subscription, which has no secret"),
        (status = 503, body = ErrorBody, description = "UNAVAILABLE: the database is unavailable (Retry-After)")))]
pub async fn rotate_webhook_secret(
    State(app): State<Arc<AppState>>,
    Manager(caller): Manager,
    path: Result<Path<SubscriptionPath>, PathRejection>,
) -> Result<Json<SecretRotated>, ApiError> {
    let Path(path) = path?;
    let id = path.id()?;
    let secret = sign::new_secret();
    let until = time::now()
        .checked_add(ROTATION_OVERLAP)
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let sub = app
        .store
        .rotate_secret(
            Scope::Hotel(caller.hotel.as_str()),
            id,
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
    /// Only deliveries in this status
    #[param(schema_with = schema::delivery_status)]
    status: Option<String>,
    /// Deliveries on the page (1 to 500, default 50)
    #[param(schema_with = schema::limit)]
    limit: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    /// Newest first
    deliveries: Vec<Delivery>,
}

#[utoipa::path(get, path = "/api/v1/deliveries", tag = "webhooks", params(DeliveryQuery),
    security(("api_key" = [])),
    responses((status = 200, body = DeliveryList),
        (status = 400, body = ErrorBody, description = "INVALID_REQUEST: a parameter out of its type or range"),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one"),
        (status = 403, body = ErrorBody, description = "A staff key: this route is a manager's"),
        (status = 503, body = ErrorBody, description = "UNAVAILABLE: the database is unavailable (Retry-After)")))]
pub async fn list_deliveries(
    State(app): State<Arc<AppState>>,
    Manager(caller): Manager,
    q: Result<Query<DeliveryQuery>, QueryRejection>,
) -> Result<Json<DeliveryList>, ApiError> {
    let q = super::api::query(q)?;
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
    params(DeliveryPath), security(("api_key" = [])),
    responses((status = 200, body = Delivery, description = "With its payload, every attempt and the answers"),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one"),
        (status = 403, body = ErrorBody, description = "A staff key: this route is a manager's"),
        (status = 404, body = ErrorBody, description = "NOT_FOUND: no such delivery in this key's hotel"),
        (status = 503, body = ErrorBody, description = "UNAVAILABLE: the database is unavailable (Retry-After)")))]
pub async fn delivery(
    State(app): State<Arc<AppState>>,
    Manager(caller): Manager,
    path: Result<Path<DeliveryPath>, PathRejection>,
) -> Result<Json<Delivery>, ApiError> {
    let Path(path) = path?;
    app.store
        .delivery(Scope::Hotel(caller.hotel.as_str()), path.id()?)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

#[utoipa::path(post, path = "/api/v1/deliveries/{id}/replay", tag = "webhooks",
    params(DeliveryPath), security(("api_key" = [])),
    responses((status = 202, body = Delivery, description = "Queued again from its first attempt"),
        (status = 401, body = ErrorBody, description = "No API key, or an unknown one"),
        (status = 403, body = ErrorBody, description = "A staff key: this route is a manager's"),
        (status = 404, body = ErrorBody, description = "NOT_FOUND: no such delivery in this key's hotel"),
        (status = 409, body = ErrorBody, description = "CONFLICT: its subscription is gone or disabled, or it is being sent right now; LIMIT_REACHED: too many of the hotel's deliveries are waiting"),
        (status = 503, body = ErrorBody, description = "UNAVAILABLE: the database is unavailable (Retry-After)")))]
pub async fn replay_delivery(
    State(app): State<Arc<AppState>>,
    Manager(caller): Manager,
    path: Result<Path<DeliveryPath>, PathRejection>,
) -> Result<(StatusCode, Json<Delivery>), ApiError> {
    let Path(path) = path?;
    let d = app
        .store
        .replay_delivery(Scope::Hotel(caller.hotel.as_str()), path.id()?)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(d)))
}
