//! The soak run's receiver: refuses a random share of attempts, records what it accepted by
//! webhook-id.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
};

/// What the receiver accepted.
#[derive(Default)]
pub struct Accepted {
    /// webhook-ids answered 2xx at least once.
    pub ids: HashSet<String>,
    /// Task ids whose task.created was accepted.
    pub created: HashSet<String>,
    /// Accepted deliveries (unique webhook-ids) per event type.
    pub by_type: HashMap<String, u64>,
}

/// The receiver's state: its refusal share and counters, and what it accepted.
pub struct Recv {
    pub fail_percent: u64,
    pub rng: AtomicU64,
    pub attempts: AtomicU64,
    pub refused: AtomicU64,
    /// 2xx answers to a webhook-id already accepted (at-least-once shows here).
    pub duplicates: AtomicU64,
    pub accepted: Mutex<Accepted>,
}

impl Recv {
    /// splitmix64 over an atomic counter: uniform enough, lock-free, no extra crate.
    fn roll_percent(&self) -> u64 {
        let mut z = self
            .rng
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % 100
    }

    /// Unique webhook-ids accepted so far.
    pub fn delivered(&self) -> u64 {
        self.accepted.lock().unwrap().ids.len() as u64
    }
}

/// The receiver's handler: 500 on a random share of attempts, else records the delivery.
pub async fn hook(State(recv): State<Arc<Recv>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    recv.attempts.fetch_add(1, Ordering::Relaxed);
    if recv.roll_percent() < recv.fail_percent {
        recv.refused.fetch_add(1, Ordering::Relaxed);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) else {
        return StatusCode::BAD_REQUEST;
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let kind = v["type"].as_str().unwrap_or("?");
    let mut acc = recv.accepted.lock().unwrap();
    if acc.ids.insert(id.to_owned()) {
        *acc.by_type.entry(kind.to_owned()).or_default() += 1;
        if kind == "task.created"
            && let Some(task) = v["data"]["id"].as_str()
        {
            acc.created.insert(task.to_owned());
        }
    } else {
        recv.duplicates.fetch_add(1, Ordering::Relaxed);
    }
    StatusCode::NO_CONTENT
}
