//! Outbound confirmations: subscriptions, the events they receive, the retry schedule, the Standard
//! Webhooks signer, and the dispatcher that delivers what the store's outbox holds.
//!
//! The store writes a delivery row in the same transaction as the task change that causes it; the
//! dispatcher claims due rows, sends them, and records every attempt. Nothing here decides and does
//! I/O at once: [`classify`] decides what an answer means, the dispatcher acts on it. The pure rules
//! (events, kinds, statuses, the retry schedule, the bodies) live in [`crate::domain::outbound`],
//! below the store, and are re-exported here.

use serde::Deserialize;

use crate::domain::formats::{self, FormatError};

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

/// The most extra headers a subscription may carry.
pub const MAX_HEADERS: usize = 20;

/// The most event names one request may list (a repeated name counts each time).
pub const MAX_EVENT_NAMES: usize = 32;

/// Why a subscription was refused. The request's shape (the formats and lists the OpenAPI
/// document declares) is checked whole before its meaning (a URL the parser cannot use, a header
/// hubhook sets itself, a template, a destination), so the API can tell 400 from 422.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("{0}")]
    Events(String),
    #[error("at most {MAX_HEADERS} headers")]
    TooManyHeaders,
    #[error("header {0:?} is not \"Name: value\" with a valid name and value")]
    Header(String),
    #[error("kind {0:?} is not webhook, duve-connect or slack")]
    Kind(String),
    #[error("a duve-connect subscription needs --bearer (the Duve Connect access token)")]
    MissingBearer,
    #[error("{0} applies to duve-connect subscriptions only")]
    NotForWebhook(&'static str),
    #[error("url {0:?} is not a URL deliveries can use (its host or port is not valid)")]
    Url(String),
    #[error("header {0} is set by hubhook and cannot be overridden")]
    ReservedHeader(String),
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

impl SubscriptionError {
    /// Whether the request's shape is wrong (rather than what it names).
    pub fn is_shape(&self) -> bool {
        match self {
            SubscriptionError::Format(_)
            | SubscriptionError::Events(_)
            | SubscriptionError::TooManyHeaders
            | SubscriptionError::Header(_)
            | SubscriptionError::Kind(_)
            | SubscriptionError::MissingBearer
            | SubscriptionError::NotForWebhook(_) => true,
            SubscriptionError::Url(_)
            | SubscriptionError::ReservedHeader(_)
            | SubscriptionError::Template(_)
            | SubscriptionError::ReportForDuveConnect
            | SubscriptionError::Destination { .. } => false,
        }
    }
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

/// The event names of a request, each exactly one event's name; repeats count once.
fn request_events(list: &[String]) -> Result<Vec<EventType>, SubscriptionError> {
    if list.len() > MAX_EVENT_NAMES {
        return Err(SubscriptionError::Events(format!(
            "at most {MAX_EVENT_NAMES} event names"
        )));
    }
    let mut out = Vec::new();
    for name in list {
        let e = EventType::ALL
            .into_iter()
            .find(|e| e.as_str() == name)
            .ok_or_else(|| {
                SubscriptionError::Events(format!(
                    "unknown event {name:?}: expected some of {}",
                    EventType::ALL.map(EventType::as_str).join(", ")
                ))
            })?;
        if !out.contains(&e) {
            out.push(e);
        }
    }
    if out.is_empty() {
        return Err(SubscriptionError::Events("no event named".into()));
    }
    Ok(out)
}

/// Checks a request and fills in what it leaves out; a webhook gets a new signing secret.
pub fn check_subscription(
    hotel: crate::domain::HotelId,
    req: SubscriptionRequest,
) -> Result<crate::store::NewSubscription, SubscriptionError> {
    // The shape, whole.
    let kind = req.kind.as_deref().unwrap_or("webhook");
    let kind =
        SubscriptionKind::parse(kind).ok_or_else(|| SubscriptionError::Kind(kind.to_owned()))?;
    formats::URL.check(&req.url)?;
    let events = match &req.events {
        None => EventType::defaults(kind),
        Some(list) => request_events(list)?,
    };
    let raw_headers = req.headers.unwrap_or_default();
    if raw_headers.len() > MAX_HEADERS {
        return Err(SubscriptionError::TooManyHeaders);
    }
    let mut headers = Vec::new();
    for raw in raw_headers {
        formats::HEADER.check(&raw)?;
        let (name, value) = raw
            .split_once(':')
            .ok_or_else(|| SubscriptionError::Header(raw.clone()))?;
        let (name, value) = (name.trim(), value.trim());
        let valid = reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok()
            && reqwest::header::HeaderValue::from_str(value).is_ok();
        if !valid || name.is_empty() {
            return Err(SubscriptionError::Header(raw.clone()));
        }
        headers.push(crate::store::Header {
            name: name.to_owned(),
            value: value.to_owned(),
        });
    }
    match kind {
        // A chat's incoming webhook is its own secret (its URL): nothing to sign with or send.
        SubscriptionKind::Slack => {
            if req.bearer.is_some() {
                return Err(SubscriptionError::NotForWebhook("bearer"));
            }
            if req.body_template.is_some() || req.field.is_some() {
                return Err(SubscriptionError::NotForWebhook("a body template or field"));
            }
        }
        SubscriptionKind::Webhook => {
            if req.bearer.is_some() {
                return Err(SubscriptionError::NotForWebhook("bearer"));
            }
            if req.body_template.is_some() || req.field.is_some() {
                return Err(SubscriptionError::NotForWebhook("a body template or field"));
            }
        }
        SubscriptionKind::DuveConnect => {
            formats::BEARER.check(
                req.bearer
                    .as_deref()
                    .ok_or(SubscriptionError::MissingBearer)?,
            )?;
            if let Some(t) = &req.body_template {
                formats::BODY_TEMPLATE.check(t)?;
            }
            if let Some(f) = &req.field {
                formats::FIELD.check(f)?;
            }
        }
    }

    // What it means.
    if kind == SubscriptionKind::DuveConnect && events.contains(&EventType::ShiftReport) {
        return Err(SubscriptionError::ReportForDuveConnect);
    }
    let url = req.url;
    match url::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        _ => return Err(SubscriptionError::Url(url)),
    }
    for h in &headers {
        let lower = h.name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lower.as_str())
            || (kind == SubscriptionKind::DuveConnect && lower == "authorization")
        {
            return Err(SubscriptionError::ReservedHeader(h.name.clone()));
        }
    }
    let (secret, bearer, template) = match kind {
        SubscriptionKind::Slack => (None, None, None),
        SubscriptionKind::Webhook => (Some(sign::new_secret()), None, None),
        SubscriptionKind::DuveConnect => {
            let template = match req.body_template {
                Some(t) => t,
                None => template::default_template(
                    req.field
                        .as_deref()
                        .map_or(template::DEFAULT_FIELD, str::trim),
                ),
            };
            template::check(&template)?;
            (None, req.bearer, Some(template))
        }
    };
    Ok(crate::store::NewSubscription {
        hotel,
        kind,
        url,
        events,
        headers,
        secret,
        bearer,
        template,
    })
}

#[cfg(test)]
mod tests;
