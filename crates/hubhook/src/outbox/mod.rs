//! Outbound confirmations: subscriptions, the events they receive, the retry schedule, the Standard
//! Webhooks signer, and the dispatcher that delivers what the store's outbox holds.
//!
//! The store writes a delivery row in the same transaction as the task change that causes it; the
//! dispatcher claims due rows, sends them, and records every attempt. Nothing here decides and does
//! I/O at once: [`classify`] decides what an answer means, the dispatcher acts on it. The pure rules
//! (events, kinds, statuses, the retry schedule, the bodies) live in [`crate::domain::outbound`],
//! below the store, and are re-exported here.

use serde::Deserialize;

pub mod destination;
pub mod dispatcher;
pub mod sign;

pub use crate::domain::outbound::{
    AttemptResult, CODE_ATTEMPTS_EXHAUSTED, CODE_DENIED, CODE_GONE, CODE_REJECTED, CODE_REMOVED,
    DEFAULT_RETRY_SCHEDULE, DeliveryStatus, EventType, RETRY_AFTER_CAP, Resolution, RetrySchedule,
    SubscriptionKind, Verdict, attempts_exhausted_message, classify, duve_connect_body, jitter,
    parse_events, resolve, template, webhook_body,
};
pub use crate::domain::time::parse_duration;
pub use dispatcher::Dispatcher;

/// A subscription as asked for (by the CLI or the API), before it is checked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscriptionRequest {
    pub url: String,
    /// `webhook` (default), `duve-connect` or `slack`
    pub kind: Option<String>,
    /// Event types; when absent, every task event (a `slack` subscription: `task.created`,
    /// `task.status_changed`, `task.escalated` and `report.shift`)
    pub events: Option<Vec<String>>,
    /// Extra headers sent with every delivery, as `Name: value`
    pub headers: Option<Vec<String>>,
    /// Duve Connect: the Bearer token
    pub bearer: Option<String>,
    /// Duve Connect: the body template (placeholders `{{reservationId}}`, `{{orderId}}`,
    /// `{{taskId}}`, `{{taskName}}`, `{{status}}`, `{{room}}`, `{{updatedAt}}`)
    pub body_template: Option<String>,
    /// Duve Connect: the additional field the default template writes (default `hubhook_task_status`)
    pub field: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionError {
    #[error("url {0:?} is not an absolute http(s) URL")]
    Url(String),
    #[error("{0}")]
    Events(String),
    #[error("header {0:?} is not \"Name: value\" with a valid name and value")]
    Header(String),
    #[error("header {0} is set by hubhook and cannot be overridden")]
    ReservedHeader(String),
    #[error("kind {0:?} is not webhook, duve-connect or slack")]
    Kind(String),
    #[error("a duve-connect subscription needs --bearer (the Duve Connect access token)")]
    MissingBearer,
    #[error("{0} applies to duve-connect subscriptions only")]
    NotForWebhook(&'static str),
    #[error(
        "a duve-connect subscription cannot hear report.shift (its template has no place for a \
         report): use a webhook or slack subscription"
    )]
    ReportForDuveConnect,
    #[error(transparent)]
    Template(#[from] template::TemplateError),
    #[error("url {url:?} is refused: {why}; deliveries go to public addresses only")]
    Destination { url: String, why: String },
}

/// Refuses a URL whose host is an address deliveries may not reach (`http://127.0.0.1/`,
/// `http://[::ffff:10.0.0.1]/`), so a mistake shows at once. Names are not resolved here: the
/// dispatcher's resolver judges every address a delivery would connect to, which is the guard.
pub fn check_destination(
    url: &str,
    policy: &crate::domain::outbound::DestinationPolicy,
) -> Result<(), SubscriptionError> {
    let Ok(parsed) = url::Url::parse(url.trim()) else {
        return Err(SubscriptionError::Url(url.to_owned()));
    };
    destination::check_literal(&parsed, policy).map_err(|e| SubscriptionError::Destination {
        url: url.trim().to_owned(),
        why: match e.refused.first() {
            Some((ip, why)) => format!("{ip} is {why}"),
            None => "it has no host".to_owned(),
        },
    })
}

const RESERVED_HEADERS: [&str; 6] = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-type",
    "content-length",
    "host",
];

/// Checks a request and fills in what it leaves out; a webhook gets a new signing secret.
pub fn check_subscription(
    hotel: crate::domain::HotelId,
    req: SubscriptionRequest,
) -> Result<crate::store::NewSubscription, SubscriptionError> {
    let kind = req.kind.as_deref().unwrap_or("webhook");
    let kind =
        SubscriptionKind::parse(kind).ok_or_else(|| SubscriptionError::Kind(kind.to_owned()))?;
    let url = req.url.trim();
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        _ => return Err(SubscriptionError::Url(url.to_owned())),
    }
    let events = match &req.events {
        None => EventType::defaults(kind),
        Some(list) => parse_events(&list.join(",")).map_err(SubscriptionError::Events)?,
    };
    if kind == SubscriptionKind::DuveConnect && events.contains(&EventType::ShiftReport) {
        return Err(SubscriptionError::ReportForDuveConnect);
    }
    let mut headers = Vec::new();
    for raw in req.headers.unwrap_or_default() {
        let (name, value) = raw
            .split_once(':')
            .ok_or_else(|| SubscriptionError::Header(raw.clone()))?;
        let (name, value) = (name.trim(), value.trim());
        let valid = reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok()
            && reqwest::header::HeaderValue::from_str(value).is_ok();
        if !valid || name.is_empty() {
            return Err(SubscriptionError::Header(raw.clone()));
        }
        let lower = name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lower.as_str())
            || (kind == SubscriptionKind::DuveConnect && lower == "authorization")
        {
            return Err(SubscriptionError::ReservedHeader(name.to_owned()));
        }
        headers.push(crate::store::Header {
            name: name.to_owned(),
            value: value.to_owned(),
        });
    }
    let (secret, bearer, template) = match kind {
        // A chat's incoming webhook is its own secret (its URL): nothing to sign with or send.
        SubscriptionKind::Slack => {
            if req.bearer.is_some() {
                return Err(SubscriptionError::NotForWebhook("bearer"));
            }
            if req.body_template.is_some() || req.field.is_some() {
                return Err(SubscriptionError::NotForWebhook("a body template or field"));
            }
            (None, None, None)
        }
        SubscriptionKind::Webhook => {
            if req.bearer.is_some() {
                return Err(SubscriptionError::NotForWebhook("bearer"));
            }
            if req.body_template.is_some() || req.field.is_some() {
                return Err(SubscriptionError::NotForWebhook("a body template or field"));
            }
            (Some(sign::new_secret()), None, None)
        }
        SubscriptionKind::DuveConnect => {
            let bearer = req
                .bearer
                .filter(|b| !b.trim().is_empty())
                .ok_or(SubscriptionError::MissingBearer)?;
            let template = match req.body_template {
                Some(t) => t,
                None => template::default_template(
                    req.field.as_deref().unwrap_or(template::DEFAULT_FIELD),
                ),
            };
            template::check(&template)?;
            (None, Some(bearer.trim().to_owned()), Some(template))
        }
    };
    Ok(crate::store::NewSubscription {
        hotel,
        kind,
        url: url.to_owned(),
        events,
        headers,
        secret,
        bearer,
        template,
    })
}

#[cfg(test)]
mod tests;
