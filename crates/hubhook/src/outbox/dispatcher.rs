//! The dispatcher: claims due deliveries, sends them (at most `max_in_flight` at once, each with its
//! own timeout, over one pooled client), and records every attempt with its verdict.
//!
//! It wakes when a commit queued deliveries, when an attempt ends, or at the next due time (polling
//! at least every second, so work queued by another process, such as the CLI, is seen too). Once a
//! second it also raises what time alone causes: overdue tasks, escalations and the shift reports
//! of hotels whose shift has just ended.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{sync::watch, task::JoinSet};

use super::{
    AttemptResult, RetrySchedule, SubscriptionKind, classify,
    destination::{DestinationDenied, GuardedResolver, check_literal},
    sign,
};
use crate::{
    domain::{outbound::DestinationPolicy, time},
    metrics::OutboxMetrics,
    store::{AttemptRecord, Claimed, Store},
};

/// How long a claim lasts beyond the attempt's own timeout: a process killed mid-attempt leaves
/// its claims to expire, then the delivery is attempted again (at least once, never lost).
const LEASE_MARGIN: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_secs(1);
const MIN_NAP: Duration = Duration::from_millis(100);
/// Tasks escalated per transaction, and transactions per tick at most.
const ESCALATION_BATCH: u32 = 500;
const ESCALATION_BATCHES: usize = 20;
/// Hotels whose shift ended, reported per transaction (each reads its shift's tasks), and
/// transactions per tick at most.
const REPORT_BATCH: u32 = 20;
const REPORT_BATCHES: usize = 10;
const RESPONSE_KEEP: usize = 1024;

pub use crate::domain::outbound::IpRange;

#[derive(Debug, Clone)]
pub struct OutboxConfig {
    pub schedule: RetrySchedule,
    /// Per attempt, connection included.
    pub timeout: Duration,
    pub max_in_flight: usize,
    /// Claimed deliveries one hotel may hold at once, across instances (see
    /// [`crate::domain::outbound::hotel_share`]).
    pub hotel_share: u32,
    /// Where deliveries may connect (`HUBHOOK_OUTBOUND_ALLOW`, `HUBHOOK_OUTBOUND_DENY`).
    pub destinations: Arc<DestinationPolicy>,
}

#[derive(Clone)]
pub struct Dispatcher {
    store: Arc<dyn Store>,
    client: reqwest::Client,
    config: Arc<OutboxConfig>,
    metrics: OutboxMetrics,
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn Store>,
        config: OutboxConfig,
        metrics: OutboxMetrics,
    ) -> Result<Self, reqwest::Error> {
        let client = crate::http_client()
            // Every name is resolved once, and only to addresses the policy permits; no proxy
            // (from the environment or elsewhere) may connect on the server's behalf.
            .dns_resolver(GuardedResolver::new(config.destinations.clone()))
            .no_proxy()
            .user_agent(concat!("hubhook/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(config.max_in_flight.max(1))
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            store,
            client,
            config: Arc::new(config),
            metrics,
        })
    }

    /// Runs until `stop` turns true, then waits for the attempts in flight to be recorded (each is
    /// bounded by the per-attempt timeout), so a clean shutdown neither loses nor repeats one.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let signal = self.store.outbox_signal();
        let max = self.config.max_in_flight.max(1);
        // Claims are made in batches: a claim is a write, so one per finished attempt would cost
        // as much as the attempts' own records. The dispatcher keeps up to `2 * max` claimed
        // deliveries (in flight or ready) and claims again when told of new work (a commit's
        // signal, or the poll) or once `refill` attempts ended since the last claim: a hotel at
        // its share (`hotel_share`) has room again only as its own attempts end, and a claim
        // every half share keeps a lone busy hotel's sends going.
        let target = 2 * max;
        let refill = (self.config.hotel_share as usize).div_ceil(2).clamp(1, max);
        let mut ended = 0usize;
        let mut ready: std::collections::VecDeque<Claimed> = std::collections::VecDeque::new();
        let mut in_flight: JoinSet<()> = JoinSet::new();
        let lease = self.config.timeout * 2 + LEASE_MARGIN;
        let mut overdue_checked = Instant::now()
            .checked_sub(POLL)
            .unwrap_or_else(Instant::now);
        let mut woken = true;
        loop {
            if *stop.borrow() {
                break;
            }
            if overdue_checked.elapsed() >= POLL {
                overdue_checked = Instant::now();
                if let Err(e) = self.store.raise_overdue(500).await {
                    tracing::warn!(error = %e, "could not check for overdue tasks");
                }
                // A backlog (after a pause, or many deadlines at one moment) is worked off in
                // batches, a bounded number per tick so deliveries keep their turn.
                for _ in 0..ESCALATION_BATCHES {
                    match self.store.raise_escalations(ESCALATION_BATCH).await {
                        Ok(n) if n == ESCALATION_BATCH => continue,
                        Ok(_) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "could not check for tasks to escalate");
                            break;
                        }
                    }
                }
                // Shift ends, as escalations: due hotels in batches (many hotels may share one).
                for _ in 0..REPORT_BATCHES {
                    match self.store.raise_shift_reports(REPORT_BATCH).await {
                        Ok(n) if n == REPORT_BATCH => continue,
                        Ok(_) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "could not send the shift reports due");
                            break;
                        }
                    }
                }
            }
            let held = ready.len() + in_flight.len();
            let mut more = false;
            if held < target && (woken || ended >= refill) {
                let want = target - held;
                ended = 0;
                match self
                    .store
                    .claim_deliveries(want as u32, self.config.hotel_share, lease)
                    .await
                {
                    Ok(batch) => {
                        more = batch.len() == want;
                        ready.extend(batch);
                    }
                    Err(e) => tracing::warn!(error = %e, "could not claim deliveries"),
                }
            }
            woken = false;
            while in_flight.len() < max {
                let Some(claimed) = ready.pop_front() else {
                    break;
                };
                let this = self.clone();
                this.metrics.started();
                in_flight.spawn(async move {
                    this.attempt(claimed).await;
                    this.metrics.finished();
                });
            }
            if more && in_flight.len() < max {
                continue;
            }
            // Busy: the next finished attempt wakes us. Idle: sleep until the next known work.
            let nap = if in_flight.is_empty() {
                self.nap().await
            } else {
                POLL
            };
            tokio::select! {
                _ = signal.notified() => { woken = true; }
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {
                    ended += 1;
                    while in_flight.try_join_next().is_some() {
                        ended += 1;
                    }
                }
                _ = tokio::time::sleep(nap) => { woken = true; }
                _ = stop.changed() => {}
            }
        }
        // Claimed but never started: given back at once rather than left to their lease.
        if !ready.is_empty() {
            let ids: Vec<String> = ready.drain(..).map(|c| c.id).collect();
            if let Err(e) = self.store.release_claims(ids).await {
                tracing::warn!(error = %e, "could not release claims; they expire with their lease");
            }
        }
        while in_flight.join_next().await.is_some() {}
    }

    /// Until the next known work, between [`MIN_NAP`] and [`POLL`].
    async fn nap(&self) -> Duration {
        match self.store.next_outbox_work().await {
            Ok(Some(at)) => {
                let until = at.duration_since(time::now());
                Duration::try_from(until)
                    .unwrap_or(Duration::ZERO)
                    .clamp(MIN_NAP, POLL)
            }
            _ => POLL,
        }
    }

    async fn attempt(&self, c: Claimed) {
        let at = time::now();
        let started = Instant::now();
        let sent = self.send(&c).await;
        let latency = started.elapsed();
        let mut random = [0u8; 4];
        crate::domain::secret::fill_random(&mut random);
        let verdict = classify(
            &sent.result,
            c.attempts + 1,
            &self.config.schedule,
            u32::from_le_bytes(random),
        );
        self.metrics.attempt(&sent.result, &verdict, latency);
        tracing::debug!(
            delivery = %c.id,
            subscription = %c.subscription_id,
            status = ?sent.status,
            latency_ms = latency.as_secs_f64() * 1000.0,
            ?verdict,
            "delivery attempt"
        );
        let record = AttemptRecord {
            delivery: c.id.clone(),
            at,
            status: sent.status,
            error: sent.error,
            latency,
            response: sent.response,
            verdict,
        };
        if let Err(e) = self.store.record_attempt(record).await {
            // The claim expires and the delivery is attempted again: at least once, never lost.
            tracing::warn!(delivery = %c.id, error = %e, "could not record a delivery attempt");
        }
    }

    async fn send(&self, c: &Claimed) -> Sent {
        let url = match reqwest::Url::parse(&c.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            _ => return Sent::no_answer("the subscription's URL is not http(s)".into()),
        };
        if let Err(denied) = check_literal(&url, &self.config.destinations) {
            return Sent::denied(&denied);
        }
        let mut req = self
            .client
            .post(url)
            .timeout(self.config.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for h in &c.headers {
            req = req.header(h.name.as_str(), h.value.as_str());
        }
        match c.kind {
            SubscriptionKind::Webhook => {
                let ts = time::now().as_second();
                let secrets: Vec<&str> = c.secrets.iter().map(String::as_str).collect();
                let signature =
                    match sign::signature_header(&secrets, &c.id, ts, c.payload.as_bytes()) {
                        Ok(s) => s,
                        Err(e) => return Sent::no_answer(e.to_string()),
                    };
                req = req
                    .header("webhook-id", c.id.as_str())
                    .header("webhook-timestamp", ts.to_string())
                    .header("webhook-signature", signature);
            }
            SubscriptionKind::DuveConnect => {
                if let Some(token) = &c.bearer {
                    req = req.bearer_auth(token);
                }
            }
            // A chat's incoming-webhook URL is its credential: nothing to sign or add.
            SubscriptionKind::Slack => {}
        }
        let resp = match req.body(c.payload.clone()).send().await {
            Ok(r) => r,
            Err(e) => match DestinationDenied::find(&e) {
                Some(denied) => return Sent::denied(denied),
                None => return Sent::no_answer(describe(&e)),
            },
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let response = first_bytes(resp).await;
        Sent {
            result: AttemptResult::Answered {
                status,
                retry_after,
            },
            status: Some(status),
            error: None,
            response,
        }
    }
}

struct Sent {
    result: AttemptResult,
    status: Option<u16>,
    error: Option<String>,
    response: String,
}

impl Sent {
    /// Refused by the destination policy, before any connection.
    fn denied(why: &DestinationDenied) -> Self {
        Self {
            result: AttemptResult::Denied,
            status: None,
            error: Some(why.to_string()),
            response: String::new(),
        }
    }

    fn no_answer(error: String) -> Self {
        Self {
            result: AttemptResult::NoAnswer,
            status: None,
            error: Some(error),
            response: String::new(),
        }
    }
}

/// An error without its URL (a URL may carry a token in its query).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_request() {
        "request failed"
    } else {
        "no answer"
    };
    let mut out = kind.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Seconds, or an HTTP date.
pub fn parse_retry_after(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = jiff::fmt::rfc2822::parse(raw).ok()?.timestamp();
    Duration::try_from(when.duration_since(time::now())).ok()
}

async fn first_bytes(mut resp: reqwest::Response) -> String {
    let mut buf: Vec<u8> = Vec::new();
    while buf.len() < RESPONSE_KEEP {
        match resp.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            _ => break,
        }
    }
    buf.truncate(RESPONSE_KEEP);
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("soon"), None);
        let later = time::now()
            .checked_add(jiff::SignedDuration::from_secs(600))
            .unwrap();
        let date = jiff::fmt::rfc2822::to_string(&later.to_zoned(jiff::tz::TimeZone::UTC)).unwrap();
        let d = parse_retry_after(&date).unwrap();
        assert!(
            d > Duration::from_secs(590) && d <= Duration::from_secs(600),
            "{d:?}"
        );
    }
}
