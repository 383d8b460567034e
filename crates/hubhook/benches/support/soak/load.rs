//! The soak run's load: open-loop paced orders, and a status move for one task in ten.

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// The status moves, in turn, one per tenth task: (target status, index in `Load::moves`).
const MOVES: [&str; 4] = ["accepted", "in_progress", "done", "cancelled"];

/// Where the load sends, as whom: the webhook and API addresses, the hotel's tokens, an API key.
pub struct Target {
    pub webhook: String,
    pub api: String,
    pub hotel: String,
    pub access: String,
    pub password: String,
    pub api_key: String,
}

/// The load's counters, shared by the pacer and every request it spawns.
pub struct Load {
    /// Caps the requests in flight, so the client's connections (and the server's sockets and
    /// buffers) do not follow every latency spike of a shared machine.
    pub connections: tokio::sync::Semaphore,
    pub orders: AtomicU64,
    pub sent: AtomicU64,
    pub ok: AtomicU64,
    /// Non-2xx answers and transport errors, orders and moves alike.
    pub errors: AtomicU64,
    pub in_flight: AtomicU64,
    /// Status moves answered 200, per entry of `MOVES`.
    pub moves: [AtomicU64; 4],
    /// Latencies of the orders sent in the current window (from the scheduled send time, so a
    /// stalled server is not hidden by the pacer waiting for it), µs.
    pub window: Mutex<Vec<u32>>,
    /// Every task id an order's 201 named.
    pub created: Mutex<HashSet<String>>,
    pub first_error: Mutex<Option<String>>,
}

impl Load {
    fn error(&self, e: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.first_error.lock().unwrap().get_or_insert(e);
    }

    /// Events the run has caused so far that the receiver must get.
    pub fn owed(&self) -> u64 {
        let moves: u64 = self.moves.iter().map(|m| m.load(Ordering::Relaxed)).sum();
        let ends = self.moves[2].load(Ordering::Relaxed) + self.moves[3].load(Ordering::Relaxed);
        self.created.lock().unwrap().len() as u64 + moves + ends
    }
}

fn order(i: u64) -> String {
    let products = if i.is_multiple_of(4) {
        r#"[{"name": "Bed sheets", "externalId": "2", "quantity": 1, "price": 0},
            {"name": "Pillows", "externalId": "6", "quantity": 2, "price": 0},
            {"name": "Amenities", "externalId": "7", "quantity": 1, "price": 0}]"#
    } else {
        r#"[{"name": "Towels", "externalId": "4", "quantity": 2, "price": 0}]"#
    };
    let room = 101 + i % 3;
    format!(
        r#"{{"event": "orderCreated", "resource": {{"sId": "soak-{i}", "roomNumber": "{room}",
        "verifiedFirstName": "Bobby", "verifiedLastName": "Smith", "preferredLanguage": "en",
        "order": {{"id": "soak-ord-{i}", "status": 0, "chargeAmount": 0,
        "notes": "Please leave them at the door.", "products": {products}}}}}}}"#
    )
}

async fn send_order(client: reqwest::Client, t: Arc<Target>, load: Arc<Load>, i: u64, at: Instant) {
    load.orders.fetch_add(1, Ordering::Relaxed);
    load.in_flight.fetch_add(1, Ordering::Relaxed);
    // A connection per permit at most; waiting for one counts in the latency (measured from `at`).
    // The semaphore is never closed, so the permit always comes.
    if let Ok(_permit) = load.connections.acquire().await {
        order_and_move(&client, &t, &load, i, at).await;
    }
    load.in_flight.fetch_sub(1, Ordering::Relaxed);
}

async fn order_and_move(client: &reqwest::Client, t: &Target, load: &Load, i: u64, at: Instant) {
    load.sent.fetch_add(1, Ordering::Relaxed);
    let res = client
        .post(&t.webhook)
        .header("custom_hotel_id", &t.hotel)
        .header("custom_access_token", &t.access)
        .header("custom_password_token", &t.password)
        .header("content-type", "application/json")
        .body(order(i))
        .send()
        .await;
    let answer = match res {
        Ok(r) => {
            let status = r.status();
            r.json::<serde_json::Value>().await.map(|v| (status, v))
        }
        Err(e) => Err(e),
    };
    let took = at.elapsed().as_micros().min(u32::MAX as u128) as u32;
    load.window.lock().unwrap().push(took);
    let tasks: Vec<String> = match answer {
        Ok((status, v)) if status == 201 => {
            load.ok.fetch_add(1, Ordering::Relaxed);
            v["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["id"].as_str().map(str::to_owned))
                .collect()
        }
        Ok((status, v)) => {
            load.error(format!("order {i}: {status} {v}"));
            Vec::new()
        }
        Err(e) => {
            load.error(format!("order {i}: {e}"));
            Vec::new()
        }
    };
    load.created.lock().unwrap().extend(tasks.iter().cloned());
    if i % 10 == 5
        && let Some(task) = tasks.first()
    {
        let which = (i / 10) as usize % MOVES.len();
        move_task(client, t, load, task, which).await;
    }
}

async fn move_task(client: &reqwest::Client, t: &Target, load: &Load, task: &str, which: usize) {
    load.sent.fetch_add(1, Ordering::Relaxed);
    let res = client
        .post(format!("{}/tasks/{task}/status", t.api))
        .bearer_auth(&t.api_key)
        .json(&serde_json::json!({"status": MOVES[which], "note": "soak"}))
        .send()
        .await;
    match res {
        Ok(r) if r.status() == 200 => {
            load.ok.fetch_add(1, Ordering::Relaxed);
            load.moves[which].fetch_add(1, Ordering::Relaxed);
        }
        Ok(r) => load.error(format!("move {task}: {}", r.status())),
        Err(e) => load.error(format!("move {task}: {e}")),
    }
}

/// Sends order `i` at `start + i / rate` whatever the earlier ones are doing (open loop).
pub async fn pace(
    client: reqwest::Client,
    t: Arc<Target>,
    load: Arc<Load>,
    rate: f64,
    until: Instant,
) {
    let start = Instant::now();
    for i in 0u64.. {
        let at = start + Duration::from_secs_f64(i as f64 / rate);
        if at >= until {
            break;
        }
        tokio::time::sleep_until(at.into()).await;
        tokio::spawn(send_order(client.clone(), t.clone(), load.clone(), i, at));
    }
}
