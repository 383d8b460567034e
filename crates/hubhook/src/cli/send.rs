//! `hubhook send`: a Duve-shaped sender. It posts a fixture or a payload it builds, with the three
//! custom headers, retries network errors, 5xx and 429 with backoff, and reports the answer's code.

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use serde_json::{Value, json};

use super::Ctx;
use crate::domain::secret::fill_random;

#[derive(Debug, Args)]
pub struct SendArgs {
    /// The Duve event key, e.g. orderCreated
    pub event: String,
    /// Where to send it, e.g. http://127.0.0.1:8080/webhooks/duve
    #[arg(long)]
    pub url: String,
    #[arg(long)]
    pub hotel_id: String,
    #[arg(long)]
    pub access_token: String,
    #[arg(long)]
    pub password_token: String,
    #[arg(long)]
    pub room: Option<String>,
    /// The ordered service's external ID (default 4, "Serve towels")
    #[arg(long)]
    pub external_id: Option<String>,
    #[arg(long)]
    pub first_name: Option<String>,
    /// The order id (default: a new random one, so every send is a new order)
    #[arg(long)]
    pub order_id: Option<String>,
    /// The reservation id (resource.id)
    #[arg(long)]
    pub reservation_id: Option<String>,
    #[arg(long, default_value_t = 1)]
    pub quantity: u32,
    /// How many times to try before giving up
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub attempts: u32,
    /// Send this file's bytes as the body instead of building one
    #[arg(long)]
    pub body: Option<PathBuf>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    /// The answer's code: its `code`, or its `status` word for a 2xx
    code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    /// The delivery's status: the answer's, or 403 when every attempt failed
    status: u16,
    attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_status: Option<u16>,
    response: Value,
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    fill_random(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A payload shaped like Duve's, with the data points the Hub OS integration reads.
pub fn build_payload(args: &SendArgs) -> Value {
    let mut resource = serde_json::Map::new();
    resource.insert(
        "id".into(),
        json!(
            args.reservation_id
                .clone()
                .unwrap_or_else(|| random_hex(12))
        ),
    );
    if let Some(room) = &args.room {
        resource.insert("roomNumber".into(), json!(room));
    }
    if let Some(first) = &args.first_name {
        resource.insert("verifiedFirstName".into(), json!(first));
    }
    if args.event.to_ascii_lowercase().contains("order") {
        let order_id = args.order_id.clone().unwrap_or_else(|| random_hex(12));
        let external_id = args.external_id.clone().unwrap_or_else(|| "4".into());
        resource.insert(
            "order".into(),
            json!({
                "id": order_id,
                "status": 0,
                "chargeAmount": 0,
                "currency": "USD",
                "products": [{"name": "Guest request", "externalId": external_id, "quantity": args.quantity}],
            }),
        );
    }
    json!({"accountId": "hubhook-send", "event": args.event, "resource": resource})
}

fn retryable(status: reqwest::StatusCode) -> bool {
    status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS
}

pub async fn run(ctx: &Ctx, args: SendArgs) -> anyhow::Result<()> {
    let body = match &args.body {
        Some(path) => {
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
        }
        None => serde_json::to_vec(&build_payload(&args))?,
    };
    let client = crate::http_client()
        .timeout(Duration::from_secs(15))
        .build()?;
    let mut last: Option<(u16, Value)> = None;
    let mut attempts = 0;
    let mut delay = Duration::from_millis(250);
    while attempts < args.attempts {
        attempts += 1;
        let sent = client
            .post(&args.url)
            .header("content-type", "application/json")
            .header("custom_hotel_id", &args.hotel_id)
            .header("custom_access_token", &args.access_token)
            .header("custom_password_token", &args.password_token)
            .body(body.clone())
            .send()
            .await;
        let retry = match sent {
            Ok(res) => {
                let status = res.status();
                let text = res.text().await.unwrap_or_default();
                let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
                last = Some((status.as_u16(), value));
                if status.is_success() {
                    break;
                }
                retryable(status)
            }
            Err(e) => {
                if !ctx.json {
                    eprintln!("attempt {attempts}: {e}");
                }
                true
            }
        };
        if !retry {
            break;
        }
        if attempts < args.attempts {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
    let report = match last {
        Some((status, response)) if (200..300).contains(&status) => Report {
            code: response["status"].as_str().unwrap_or("ok").to_owned(),
            message: None,
            status,
            attempts,
            last_status: None,
            response,
        },
        other => {
            let (last_status, response) = match other {
                Some((s, r)) => (Some(s), r),
                None => (None, Value::Null),
            };
            let answered = response["code"].as_str().map(str::to_owned);
            Report {
                code: "WEB_HUK_REQUEST_ATTEMPT_FAILED".into(),
                message: Some(format!(
                    "Operation failed after {attempts} attempt, Please check credentials and request body."
                )),
                status: 403,
                attempts,
                last_status,
                response: match answered {
                    Some(_) => response,
                    None => response,
                },
            }
        }
    };
    let ok = (200..300).contains(&report.status) && report.last_status.is_none();
    ctx.print(&report, || {
        let mut out = match (&report.message, report.last_status) {
            (None, _) => format!(
                "{} {} after {} attempt(s)",
                report.status, report.code, report.attempts
            ),
            (Some(m), Some(s)) => format!(
                "{} {}: {m}\nlast answer: {s} {}",
                report.status,
                report.code,
                report.response["code"].as_str().unwrap_or("")
            ),
            (Some(m), None) => format!(
                "{} {}: {m}\nno answer from {}",
                report.status, report.code, args.url
            ),
        };
        if !report.response.is_null() {
            out.push('\n');
            out.push_str(&serde_json::to_string_pretty(&report.response).unwrap_or_default());
        }
        out
    })?;
    if ok { Ok(()) } else { Err(Silent.into()) }
}

/// A failure already reported on stdout: main exits non-zero without printing it again.
#[derive(Debug, thiserror::Error)]
#[error("the delivery failed")]
pub struct Silent;
