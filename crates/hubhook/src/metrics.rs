//! The Prometheus metrics behind `/metrics`.
//!
//! The metrics are prometheus-client's: each is registered once in [`Metrics::new`], in the
//! registry of one server, and the parts that update them hold handles ([`OutboxMetrics`] for the
//! dispatcher, [`RetentionMetrics`] for the pruner). The writers' batch figures are process-wide
//! (`store::stats`, kept by either backend); the outbox's backlog is read from the store at each
//! scrape. docs/operations.md lists every metric.

use std::time::Duration;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::{
    domain::outbound::{AttemptResult, Verdict},
    domain::time,
    store::Store,
};

/// Every answer `/webhooks/duve` can give, by the code it is counted under.
pub const WEBHOOK_CODES: [&str; 12] = [
    "created",
    "merged",
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

/// Upper bounds of the webhook and API latency buckets, seconds (0.5 ms to 10 s).
pub const REQUEST_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Upper bounds of the delivery attempt buckets, seconds (up to twice the default 15 s timeout).
pub const DELIVERY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 30.0,
];
/// Pending deliveries are counted up to this many at a scrape: the count stays one bounded index
/// scan however large a backlog grows (one that large is an alert already).
pub const PENDING_COUNT_CAP: u64 = 100_000;
/// How long a scrape waits for the store's backlog figures before answering without them.
const SCRAPE_STORE_BOUND: Duration = Duration::from_secs(2);

/// `{code="…"}`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: &'static str,
}

/// `{method="GET", route="/api/v1/tasks/{id}", status="2xx"}`: a route template, never a path, so
/// the set of series is bounded by the router's routes.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
    status: &'static str,
}

/// `{result="delivered"|"retry"|"failed"}`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// `{answer="2xx"|"3xx"|"4xx"|"5xx"|"none"|"denied"}`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnswerLabel {
    answer: &'static str,
}

/// `{table="inbound"|"delivery_attempts"}`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabel {
    table: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn request_histogram() -> Histogram {
    Histogram::new(REQUEST_BUCKETS)
}

fn delivery_histogram() -> Histogram {
    Histogram::new(DELIVERY_BUCKETS)
}

/// One server's metrics: its registry and the handles that update it.
pub struct Metrics {
    registry: Registry,
    webhooks: Family<CodeLabel, Counter>,
    webhook_duration: Histogram,
    api_requests: Counter,
    api_duration: Histograms<RouteLabels>,
    /// Handed to the outbox dispatcher.
    pub outbox: OutboxMetrics,
    /// Handed to the retention pruner.
    pub retention: RetentionMetrics,
    pending: Gauge,
    oldest_pending_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    database_up: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric registered, each labelled series that is known in advance at zero.
    pub fn new() -> Self {
        let mut r = Registry::default();
        let webhooks = Family::<CodeLabel, Counter>::default();
        for code in WEBHOOK_CODES {
            let _ = webhooks.get_or_create(&CodeLabel { code });
        }
        r.register(
            "hubhook_webhooks",
            "Duve webhooks answered, by outcome code",
            webhooks.clone(),
        );
        let webhook_duration = request_histogram();
        r.register(
            "hubhook_webhook_duration_seconds",
            "Time from a webhook's request to its answer",
            webhook_duration.clone(),
        );
        let api_requests = Counter::default();
        r.register(
            "hubhook_api_requests",
            "Authenticated API requests",
            api_requests.clone(),
        );
        let api_duration: Histograms<RouteLabels> = Family::new_with_constructor(request_histogram);
        r.register(
            "hubhook_api_request_duration_seconds",
            "Time from an API request to its answer, by method, route template and status class",
            api_duration.clone(),
        );
        let outbox = OutboxMetrics::register(&mut r);
        let retention = RetentionMetrics::register(&mut r);
        let pending = Gauge::default();
        r.register(
            "hubhook_outbox_pending",
            "Deliveries waiting to be sent (read from the database at each scrape; counted up to 100000)",
            pending.clone(),
        );
        let oldest_pending_age = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        r.register(
            "hubhook_outbox_oldest_pending_age_seconds",
            "Age of the oldest delivery waiting to be sent, 0 when none is (read at each scrape)",
            oldest_pending_age.clone(),
        );
        let database_up = Gauge::default();
        r.register(
            "hubhook_database_up",
            "1 when this scrape could read the database (what /readyz checks), 0 when it could not",
            database_up.clone(),
        );
        crate::store::stats::register(&mut r);
        // Escalations (a later issue) register here: a counter family `hubhook_escalations`
        // labelled by kind (`unaccepted`, `overdue`), with a handle like `OutboxMetrics` for
        // whatever raises them.
        Self {
            registry: r,
            webhooks,
            webhook_duration,
            api_requests,
            api_duration,
            outbox,
            retention,
            pending,
            oldest_pending_age,
            database_up,
        }
    }

    /// Counts one webhook answer under its code, and its latency.
    pub fn webhook(&self, code: &'static str, took: Duration) {
        self.webhooks.get_or_create(&CodeLabel { code }).inc();
        self.webhook_duration.observe(took.as_secs_f64());
    }

    /// Counts one authenticated API request.
    pub fn api_request(&self) {
        self.api_requests.inc();
    }

    /// Records one API answer: its method, route template, HTTP status and latency.
    pub fn api_answer(&self, method: &str, route: &str, status: u16, took: Duration) {
        let labels = RouteLabels {
            method: method_label(method),
            route: route.to_owned(),
            status: status_class(status),
        };
        self.api_duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// The Prometheus text exposition (format 0.0.4), with the outbox's backlog read from `store`
    /// now (bounded: one capped count and one index probe, see [`PENDING_COUNT_CAP`]).
    pub async fn scrape(&self, store: &dyn Store) -> String {
        match tokio::time::timeout(SCRAPE_STORE_BOUND, store.outbox_backlog(PENDING_COUNT_CAP))
            .await
        {
            Ok(Ok(backlog)) => {
                self.pending
                    .set(i64::try_from(backlog.pending).unwrap_or(i64::MAX));
                let age = backlog
                    .oldest_pending
                    .and_then(|t| Duration::try_from(time::now().duration_since(t)).ok())
                    .map_or(0.0, |d| d.as_secs_f64());
                self.oldest_pending_age.set(age);
                self.database_up.set(1);
            }
            // The backlog gauges keep the last values read; `hubhook_database_up` says they are old.
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "metrics: could not read the outbox backlog");
                self.database_up.set(0);
            }
            Err(_) => {
                tracing::warn!("metrics: the outbox backlog took too long to read");
                self.database_up.set(0);
            }
        }
        let mut out = String::with_capacity(16 * 1024);
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            tracing::warn!(error = %e, "metrics: could not encode");
        }
        out
    }
}

/// The content type of [`Metrics::scrape`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// A method as a label value from a fixed set.
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// `2xx`, `4xx`, …
fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The outbox dispatcher's metrics (a handle: clones update the same series).
#[derive(Clone)]
pub struct OutboxMetrics {
    attempts: Family<ResultLabel, Counter>,
    answers: Family<AnswerLabel, Counter>,
    duration: Histograms<ResultLabel>,
    in_flight: Gauge,
}

impl OutboxMetrics {
    fn register(r: &mut Registry) -> Self {
        let m = Self {
            attempts: Family::default(),
            answers: Family::default(),
            duration: Family::new_with_constructor(delivery_histogram),
            in_flight: Gauge::default(),
        };
        for result in ["delivered", "retry", "failed"] {
            let _ = m.attempts.get_or_create(&ResultLabel { result });
            let _ = m.duration.get_or_create(&ResultLabel { result });
        }
        for answer in ["2xx", "3xx", "4xx", "5xx", "none", "denied"] {
            let _ = m.answers.get_or_create(&AnswerLabel { answer });
        }
        r.register(
            "hubhook_outbox_attempts",
            "Outbound delivery attempts, by what they led to",
            m.attempts.clone(),
        );
        r.register(
            "hubhook_outbox_answers",
            "Outbound delivery attempts, by the receiver's answer (status class, none, or denied)",
            m.answers.clone(),
        );
        r.register(
            "hubhook_outbox_attempt_duration_seconds",
            "Time one outbound delivery attempt took, by what it led to",
            m.duration.clone(),
        );
        r.register(
            "hubhook_outbox_in_flight",
            "Delivery attempts in progress",
            m.in_flight.clone(),
        );
        m
    }

    /// Counts one finished attempt: what it led to, how the receiver answered, how long it took.
    pub fn attempt(&self, sent: &AttemptResult, verdict: &Verdict, took: Duration) {
        let result = match verdict {
            Verdict::Delivered => "delivered",
            Verdict::Retry(_) => "retry",
            Verdict::Fail { .. } | Verdict::Gone => "failed",
        };
        let answer = match sent {
            AttemptResult::Answered { status, .. } => status_class(*status),
            AttemptResult::NoAnswer => "none",
            AttemptResult::Denied => "denied",
        };
        self.attempts.get_or_create(&ResultLabel { result }).inc();
        self.answers.get_or_create(&AnswerLabel { answer }).inc();
        self.duration
            .get_or_create(&ResultLabel { result })
            .observe(took.as_secs_f64());
    }

    /// One attempt more in progress.
    pub fn started(&self) {
        self.in_flight.inc();
    }

    /// One attempt fewer in progress.
    pub fn finished(&self) {
        self.in_flight.dec();
    }

    /// Attempts in progress now.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.get()
    }
}

/// The retention pruner's metrics (a handle).
#[derive(Clone, Default)]
pub struct RetentionMetrics {
    pruned: Family<TableLabel, Counter>,
}

impl RetentionMetrics {
    fn register(r: &mut Registry) -> Self {
        let m = Self::default();
        for table in ["inbound", "delivery_attempts"] {
            let _ = m.pruned.get_or_create(&TableLabel { table });
        }
        r.register(
            "hubhook_retention_pruned",
            "Rows deleted by retention since the process started, by table",
            m.pruned.clone(),
        );
        m
    }

    /// Counts `rows` deleted from `table`.
    pub fn pruned(&self, table: &'static str, rows: u64) {
        self.pruned
            .get_or_create(&TableLabel { table })
            .inc_by(rows);
    }
}
