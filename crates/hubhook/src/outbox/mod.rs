//! Outbound confirmations: subscriptions, the events they receive, the retry schedule, the Standard
//! Webhooks signer, and the dispatcher that delivers what the store's outbox holds.
//!
//! The store writes a delivery row in the same transaction as the task change that causes it; the
//! dispatcher claims due rows, sends them, and records every attempt. Nothing here decides and does
//! I/O at once: [`classify`] decides what an answer means, the dispatcher acts on it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::TaskStatus;

pub mod dispatcher;
pub mod sign;
pub mod template;

pub use dispatcher::Dispatcher;

/// The code a delivery out of attempts is recorded with (CONTRACT.md section 4).
pub const CODE_ATTEMPTS_EXHAUSTED: &str = "WEB_HUK_REQUEST_ATTEMPT_FAILED";
/// The receiver answered a 4xx other than 408, 410 and 429: the request itself is refused, so
/// sending it again would not help.
pub const CODE_REJECTED: &str = "WEB_HUK_REQUEST_REJECTED";
/// The receiver answered 410 Gone: the subscription is disabled.
pub const CODE_GONE: &str = "WEB_HUK_ENDPOINT_GONE";
/// The URL's address is in the configured deny-list.
pub const CODE_DENIED: &str = "WEB_HUK_DESTINATION_DENIED";

pub fn attempts_exhausted_message(attempts: u32) -> String {
    format!("Operation failed after {attempts} attempt, Please check credentials and request body.")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum EventType {
    #[serde(rename = "task.created")]
    Created,
    #[serde(rename = "task.status_changed")]
    StatusChanged,
    #[serde(rename = "task.completed")]
    Completed,
    #[serde(rename = "task.cancelled")]
    Cancelled,
    #[serde(rename = "task.overdue")]
    Overdue,
}

impl EventType {
    pub const ALL: [EventType; 5] = [
        EventType::Created,
        EventType::StatusChanged,
        EventType::Completed,
        EventType::Cancelled,
        EventType::Overdue,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Created => "task.created",
            EventType::StatusChanged => "task.status_changed",
            EventType::Completed => "task.completed",
            EventType::Cancelled => "task.cancelled",
            EventType::Overdue => "task.overdue",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == raw.trim())
    }

    /// The events a status change raises: always `task.status_changed`, plus `task.completed` or
    /// `task.cancelled` when it ends the task.
    pub fn for_move(to: TaskStatus) -> &'static [EventType] {
        match to {
            TaskStatus::Done => &[EventType::StatusChanged, EventType::Completed],
            TaskStatus::Cancelled => &[EventType::StatusChanged, EventType::Cancelled],
            _ => &[EventType::StatusChanged],
        }
    }
}

/// Parses `task.created,task.completed`; an empty list is refused (a subscription that hears nothing
/// is a mistake), duplicates are folded.
pub fn parse_events(raw: &str) -> Result<Vec<EventType>, String> {
    let mut out = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let e = EventType::parse(part).ok_or_else(|| {
            format!(
                "unknown event {part:?}: expected some of {}",
                EventType::ALL.map(EventType::as_str).join(", ")
            )
        })?;
        if !out.contains(&e) {
            out.push(e);
        }
    }
    if out.is_empty() {
        return Err("no event named".into());
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SubscriptionKind {
    /// A signed Standard Webhooks POST of `{"type", "timestamp", "hotelId", "data": TASK}`.
    Webhook,
    /// A Bearer-authenticated POST of a rendered template into Duve Connect.
    DuveConnect,
}

impl SubscriptionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionKind::Webhook => "webhook",
            SubscriptionKind::DuveConnect => "duve-connect",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "webhook" => Some(SubscriptionKind::Webhook),
            "duve-connect" => Some(SubscriptionKind::DuveConnect),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// Delays between attempts: the first attempt is immediate, attempt `n + 1` comes `delays[n - 1]`
/// after attempt `n`; with the default schedule a delivery gets 8 attempts over about 28 hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self::parse(DEFAULT_RETRY_SCHEDULE).unwrap_or(Self { delays: Vec::new() })
    }
}

pub const DEFAULT_RETRY_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";

impl RetrySchedule {
    /// `1s,1s,2s`, `500ms,5m,2h`: numbers with a unit of ms, s, m, h or d. An empty string means no
    /// retries (one attempt).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut delays = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            delays.push(parse_duration(part)?);
        }
        Ok(Self { delays })
    }

    pub fn max_attempts(&self) -> u32 {
        self.delays.len() as u32 + 1
    }

    /// The delay after attempt `attempts` (1-based) failed, or None when no attempt is left.
    pub fn delay_after(&self, attempts: u32) -> Option<Duration> {
        self.delays.get(attempts.checked_sub(1)? as usize).copied()
    }
}

pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or_else(|| format!("{raw:?}: a duration needs a unit (ms, s, m, h, d)"))?;
    let (num, unit) = raw.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{raw:?}: not a duration"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return Err(format!("{raw:?}: unknown unit {unit:?} (ms, s, m, h, d)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{raw:?}: out of range"))
}

/// Spreads retries of many deliveries that failed together (an endpoint's outage) over ±20% of the
/// delay, so they do not all come back at the same instant.
pub fn jitter(delay: Duration, random: u32) -> Duration {
    let spread = (random % 4001) as f64 / 10_000.0 - 0.2; // -0.2 ..= 0.2
    delay.mul_f64(1.0 + spread)
}

/// A `Retry-After` answer is honoured up to this much, so one receiver cannot park a delivery forever.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(3600);

/// What one attempt's result means for the delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Try again after this long.
    Retry(Duration),
    /// The delivery ends unsent: the code and message to record.
    Fail {
        code: &'static str,
        message: String,
    },
    /// 410: the delivery ends and the subscription is disabled.
    Gone,
}

/// How an attempt ended, as far as [`classify`] needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// An HTTP answer: its status and `Retry-After`, if any and readable.
    Answered {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused, reset, DNS failure, or the per-attempt timeout.
    NoAnswer,
    /// The destination is in the deny-list: never sent.
    Denied,
}

/// Decides what an attempt (the `attempts`-th, 1-based) means: pure, so the rules are unit-tested.
pub fn classify(
    result: &AttemptResult,
    attempts: u32,
    schedule: &RetrySchedule,
    random: u32,
) -> Verdict {
    let retry = |floor: Option<Duration>| match schedule.delay_after(attempts) {
        Some(d) => {
            let d = jitter(d, random);
            Verdict::Retry(match floor {
                Some(f) => f.min(RETRY_AFTER_CAP).max(d),
                None => d,
            })
        }
        None => Verdict::Fail {
            code: CODE_ATTEMPTS_EXHAUSTED,
            message: attempts_exhausted_message(attempts),
        },
    };
    match result {
        AttemptResult::Denied => Verdict::Fail {
            code: CODE_DENIED,
            message: "The destination address is in hubhook's outbound deny-list.".into(),
        },
        AttemptResult::NoAnswer => retry(None),
        AttemptResult::Answered {
            status,
            retry_after,
        } => match *status {
            200..=299 => Verdict::Delivered,
            410 => Verdict::Gone,
            408 | 429 | 500..=599 => retry(*retry_after),
            other => Verdict::Fail {
                code: CODE_REJECTED,
                message: format!("The receiver answered {other}; the delivery is not retried."),
            },
        },
    }
}

/// The body of a signed webhook: `{"type", "timestamp", "hotelId", "data": TASK}`.
pub fn webhook_body(
    event: EventType,
    now: &str,
    hotel: &str,
    task: &crate::domain::Task,
) -> String {
    serde_json::json!({
        "type": event.as_str(),
        "timestamp": now,
        "hotelId": hotel,
        "data": task,
    })
    .to_string()
}

/// The body of a Duve Connect delivery: the subscription's template (or the default) filled in.
pub fn duve_connect_body(
    tmpl: Option<&str>,
    task: &crate::domain::Task,
    order_id: Option<&str>,
    reservation_id: Option<&str>,
    now: &str,
) -> Result<String, template::TemplateError> {
    let default;
    let tmpl = match tmpl {
        Some(t) => t,
        None => {
            default = template::default_template(template::DEFAULT_FIELD);
            &default
        }
    };
    template::render(tmpl, |k| match k {
        "reservationId" => reservation_id,
        "orderId" => order_id,
        "taskId" => Some(task.id.as_str()),
        "taskName" => Some(task.task_name.as_str()),
        "status" => Some(task.status.as_str()),
        "room" => Some(task.room.as_str()),
        "updatedAt" => Some(now),
        _ => None,
    })
}

/// What an attempt's verdict writes on its delivery row; the same on every backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
}

pub fn resolve(
    verdict: &Verdict,
    at: jiff::Timestamp,
    status: Option<u16>,
    error: Option<&str>,
) -> Resolution {
    match verdict {
        Verdict::Delivered => Resolution {
            status: DeliveryStatus::Delivered,
            next_attempt_at: None,
            code: None,
            message: None,
        },
        Verdict::Retry(after) => {
            let next = at
                .checked_add(jiff::SignedDuration::try_from(*after).unwrap_or_default())
                .unwrap_or(at);
            let why = match (status, error) {
                (Some(s), _) => format!("The receiver answered {s}; retrying."),
                (None, Some(e)) => format!("No answer ({e}); retrying."),
                (None, None) => "No answer; retrying.".to_owned(),
            };
            Resolution {
                status: DeliveryStatus::Pending,
                next_attempt_at: Some(crate::domain::time::format(next)),
                code: None,
                message: Some(why),
            }
        }
        Verdict::Fail { code, message } => Resolution {
            status: DeliveryStatus::Failed,
            next_attempt_at: None,
            code: Some((*code).to_owned()),
            message: Some(message.clone()),
        },
        Verdict::Gone => Resolution {
            status: DeliveryStatus::Failed,
            next_attempt_at: None,
            code: Some(CODE_GONE.to_owned()),
            message: Some(
                "The receiver answered 410 Gone: the subscription is disabled.".to_owned(),
            ),
        },
    }
}

/// A subscription as asked for (by the CLI or the API), before it is checked.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscriptionRequest {
    pub url: String,
    /// `webhook` (default) or `duve-connect`
    pub kind: Option<String>,
    /// Event types; all five when absent
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
    #[error("kind {0:?} is not webhook or duve-connect")]
    Kind(String),
    #[error("a duve-connect subscription needs --bearer (the Duve Connect access token)")]
    MissingBearer,
    #[error("{0} applies to duve-connect subscriptions only")]
    NotForWebhook(&'static str),
    #[error(transparent)]
    Template(#[from] template::TemplateError),
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
        None => EventType::ALL.to_vec(),
        Some(list) => parse_events(&list.join(",")).map_err(SubscriptionError::Events)?,
    };
    let mut headers = Vec::new();
    for raw in req.headers.unwrap_or_default() {
        let (name, value) = raw
            .split_once(':')
            .ok_or_else(|| SubscriptionError::Header(raw.clone()))?;
        let (name, value) = (name.trim(), value.trim());
        let valid = axum::http::HeaderName::from_bytes(name.as_bytes()).is_ok()
            && axum::http::HeaderValue::from_str(value).is_ok();
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
