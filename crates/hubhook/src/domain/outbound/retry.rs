//! The retry schedule and what one attempt's result means for its delivery: [`classify`] turns an
//! answer into a [`Verdict`], [`resolve`] turns a verdict into what the delivery row becomes.

use std::time::Duration;

use super::{
    CODE_ATTEMPTS_EXHAUSTED, CODE_DENIED, CODE_GONE, CODE_REJECTED, DeliveryStatus,
    attempts_exhausted_message,
};
use crate::domain::time::{self, parse_duration};

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

/// The schedule a server uses unless told otherwise.
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

    /// How many attempts a delivery gets in all.
    pub fn max_attempts(&self) -> u32 {
        self.delays.len() as u32 + 1
    }

    /// The delay after attempt `attempts` (1-based) failed, or None when no attempt is left.
    pub fn delay_after(&self, attempts: u32) -> Option<Duration> {
        self.delays.get(attempts.checked_sub(1)? as usize).copied()
    }
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
    /// A 2xx answer: done.
    Delivered,
    /// Try again after this long.
    Retry(Duration),
    /// The delivery ends unsent: the code and message to record.
    Fail {
        /// The code recorded on the delivery.
        code: &'static str,
        /// The message recorded on the delivery.
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
        /// The answer's HTTP status.
        status: u16,
        /// The answer's `Retry-After`, if readable.
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused, reset, DNS failure, or the per-attempt timeout.
    NoAnswer,
    /// Every address of the destination is refused by the destination policy: never sent.
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
            message: "The destination is not a public address, or is in HUBHOOK_OUTBOUND_DENY; \
                      it is never sent (see HUBHOOK_OUTBOUND_ALLOW)."
                .into(),
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

/// What an attempt's verdict writes on its delivery row; the same on every backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The delivery's new status.
    pub status: DeliveryStatus,
    /// When to try again (a retry only).
    pub next_attempt_at: Option<String>,
    /// The code recorded (an ended delivery only).
    pub code: Option<String>,
    /// The message recorded: why it ended, or why it is retried.
    pub message: Option<String>,
}

/// What the verdict of an attempt made `at` (answered `status`, or failed with `error`) writes.
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
                next_attempt_at: Some(time::format(next)),
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
