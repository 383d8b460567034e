//! A real HTTP receiver for outbound deliveries: records every request it gets and answers from a
//! script (e.g. "503 twice, then 200"), so tests see exactly what hubhook sent and when.

#![allow(dead_code)]

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
    /// The status this request was answered with.
    pub answered: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("delivery body is JSON")
    }
}

#[derive(Default)]
struct Inner {
    script: VecDeque<(u16, Option<String>)>,
    /// Answer when the script is used up.
    then: u16,
    delay: Duration,
    got: Vec<Received>,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    _server: Arc<tokio::task::JoinHandle<()>>,
}

async fn hook(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap, body: Bytes) -> Response {
    let (status, retry_after, delay) = {
        let mut g = inner.lock().unwrap();
        let (status, retry_after) = g.script.pop_front().unwrap_or((g.then, None));
        g.got.push(Received {
            headers,
            body,
            at: Instant::now(),
            answered: status,
        });
        (status, retry_after, g.delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let status = StatusCode::from_u16(status).unwrap();
    match retry_after {
        Some(r) => (status, [("retry-after", r)], "scripted").into_response(),
        None => (status, "scripted answer").into_response(),
    }
}

impl Receiver {
    /// Answers 200 to everything.
    pub async fn start() -> Self {
        Self::scripted(&[], 200).await
    }

    /// Answers `script` in order, then `then` forever.
    pub async fn scripted(script: &[u16], then: u16) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            script: script.iter().map(|s| (*s, None)).collect(),
            then,
            ..Default::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state(inner.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}/hook"),
            inner,
            _server: Arc::new(server),
        }
    }

    pub fn push(&self, status: u16, retry_after: Option<&str>) {
        self.inner
            .lock()
            .unwrap()
            .script
            .push_back((status, retry_after.map(str::to_owned)));
    }

    pub fn answer_from_now(&self, status: u16) {
        let mut g = self.inner.lock().unwrap();
        g.script.clear();
        g.then = status;
    }

    pub fn set_delay(&self, d: Duration) {
        self.inner.lock().unwrap().delay = d;
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().got.clone()
    }

    /// Waits (up to 10 s) until `n` requests have arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver got {} request(s), expected {n}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Waits (up to 10 s) until `check` holds for the value `poll` returns.
pub async fn eventually<T, F, Fut>(what: &str, mut poll: F, check: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
    T: std::fmt::Debug,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = poll().await;
        if check(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: still {v:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
