//! Logs (tracing, text or JSON) and the Prometheus counters behind `/metrics`.

use std::{
    fmt::Write,
    sync::atomic::{AtomicU64, Ordering},
};

use crate::config::LogFormat;

pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env(crate::config::LOG_FILTER_ENV)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Every answer `/webhooks/duve` can give, by the code it is counted under.
pub const WEBHOOK_CODES: [&str; 11] = [
    "created",
    "duplicate",
    "cancelled",
    "recorded",
    "ignored",
    "WEB_HUK_PAYLOAD_TOO_LARGE",
    "WEB_HUK_INVALID_CREDS",
    "WEB_HUK_INVALID_BODY",
    "WEB_HUK_HUBOS_REQUEST_FAIL",
    "WEB_HUK_UNAVAILABLE",
    "WEB_HUK_RATE_LIMITED",
];

#[derive(Default)]
pub struct Metrics {
    webhooks: [AtomicU64; WEBHOOK_CODES.len()],
    webhook_micros: AtomicU64,
    api_requests: AtomicU64,
}

impl Metrics {
    pub fn webhook(&self, code: &str, micros: u64) {
        if let Some(i) = WEBHOOK_CODES.iter().position(|c| *c == code) {
            self.webhooks[i].fetch_add(1, Ordering::Relaxed);
        }
        self.webhook_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn api_request(&self) {
        self.api_requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        out.push_str("# HELP hubhook_webhooks_total Duve webhooks answered, by outcome code.\n");
        out.push_str("# TYPE hubhook_webhooks_total counter\n");
        let mut total = 0;
        for (code, n) in WEBHOOK_CODES.iter().zip(&self.webhooks) {
            let n = n.load(Ordering::Relaxed);
            total += n;
            let _ = writeln!(out, "hubhook_webhooks_total{{code=\"{code}\"}} {n}");
        }
        out.push_str("# HELP hubhook_webhook_duration_seconds Time from request to answer.\n");
        out.push_str("# TYPE hubhook_webhook_duration_seconds summary\n");
        let micros = self.webhook_micros.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "hubhook_webhook_duration_seconds_sum {}\nhubhook_webhook_duration_seconds_count {total}",
            micros as f64 / 1e6
        );
        out.push_str("# HELP hubhook_api_requests_total Authenticated API requests.\n");
        out.push_str("# TYPE hubhook_api_requests_total counter\n");
        let _ = writeln!(
            out,
            "hubhook_api_requests_total {}",
            self.api_requests.load(Ordering::Relaxed)
        );
        out.push_str("# HELP hubhook_db_write_batches_total Group commits made by the writer.\n");
        out.push_str("# TYPE hubhook_db_write_batches_total counter\n");
        let _ = writeln!(
            out,
            "hubhook_db_write_batches_total {}",
            crate::store::stats::writer_batches()
        );
        out.push_str("# HELP hubhook_db_write_jobs_total Writes committed through the writer.\n");
        out.push_str("# TYPE hubhook_db_write_jobs_total counter\n");
        let _ = writeln!(
            out,
            "hubhook_db_write_jobs_total {}",
            crate::store::stats::writer_jobs()
        );
        use crate::outbox::dispatcher as d;
        out.push_str(
            "# HELP hubhook_outbox_attempts_total Outbound delivery attempts by what they led to.\n",
        );
        out.push_str("# TYPE hubhook_outbox_attempts_total counter\n");
        for (result, n) in [
            ("delivered", &d::ATTEMPTS_DELIVERED),
            ("retry", &d::ATTEMPTS_RETRIED),
            ("failed", &d::ATTEMPTS_FAILED),
        ] {
            let _ = writeln!(
                out,
                "hubhook_outbox_attempts_total{{result=\"{result}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        out.push_str(
            "# HELP hubhook_retention_pruned_total Rows deleted by retention, by table.\n",
        );
        out.push_str("# TYPE hubhook_retention_pruned_total counter\n");
        for (table, n) in [
            ("inbound", &crate::retention::PRUNED_INBOUND),
            ("delivery_attempts", &crate::retention::PRUNED_ATTEMPTS),
        ] {
            let _ = writeln!(
                out,
                "hubhook_retention_pruned_total{{table=\"{table}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP hubhook_outbox_in_flight Delivery attempts in progress.\n");
        out.push_str("# TYPE hubhook_outbox_in_flight gauge\n");
        let _ = writeln!(
            out,
            "hubhook_outbox_in_flight {}",
            d::IN_FLIGHT.load(Ordering::Relaxed)
        );
        out
    }
}
