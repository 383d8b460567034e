//! Outbox benchmark: `cargo bench -p hubhook --bench outbox`.
//!
//! Drives the real `hubhook serve` (a child process on a fresh SQLite file) with one signed-webhook
//! subscription pointing at a fast local receiver in this process, and measures:
//!
//! 1. lag, idle queue: orders sent one at a time (`BENCH_LAG_SAMPLES`, default 300, 20 ms apart);
//!    for each, the time from the 201 answer (the commit happened before it) to the receiver
//!    getting the `task.created` delivery, and from sending the order to that delivery;
//! 2. throughput: the receiver holds its answers while `BENCH_DELIVERIES` (default 20,000) orders are
//!    ingested, so their deliveries queue up in the outbox; then it answers, and the bench times how
//!    long the dispatcher takes to deliver them all.
//!
//! Prints a Markdown table for `docs/benchmarks.md`.

use std::{
    collections::HashMap,
    net::SocketAddr,
    process::{Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, routing::post};
use tokio::sync::watch;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Default)]
struct Recv {
    /// Task id -> when its task.created arrived.
    arrivals: Mutex<HashMap<String, Instant>>,
    answered: AtomicU64,
}

async fn hook(
    State((recv, gate)): State<(Arc<Recv>, watch::Receiver<bool>)>,
    body: Bytes,
) -> &'static str {
    let now = Instant::now();
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body)
        && let Some(id) = v["data"]["id"].as_str()
    {
        recv.arrivals
            .lock()
            .unwrap()
            .entry(id.to_owned())
            .or_insert(now);
    }
    let mut gate = gate.clone();
    let _ = gate.wait_for(|open| *open).await;
    recv.answered.fetch_add(1, Ordering::Relaxed);
    "ok"
}

fn cli_json(bin: &str, db: &str, args: &[&str]) -> Result<serde_json::Value, BoxError> {
    let out = Command::new(bin)
        .env("HUBHOOK_DATABASE_URL", db)
        .arg("--json")
        .args(args)
        .output()?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn order(i: u64) -> String {
    format!(
        r#"{{"event": "orderCreated", "resource": {{"sId": "r-{i}", "roomNumber": "101",
        "verifiedFirstName": "Bobby", "verifiedLastName": "Smith",
        "order": {{"id": "ord-{i}", "status": 0, "chargeAmount": 0,
        "products": [{{"name": "Towels", "externalId": "4", "quantity": 1, "price": 0}}]}}}}}}"#
    )
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

struct Creds {
    url: String,
    hotel: String,
    access: String,
    password: String,
}

async fn send(client: &reqwest::Client, c: &Creds, i: u64) -> Result<String, BoxError> {
    let res = client
        .post(&c.url)
        .header("custom_hotel_id", &c.hotel)
        .header("custom_access_token", &c.access)
        .header("custom_password_token", &c.password)
        .header("content-type", "application/json")
        .body(order(i))
        .send()
        .await?;
    let status = res.status();
    let v: serde_json::Value = res.json().await?;
    if status != 201 {
        return Err(format!("order {i}: {status} {v}").into());
    }
    Ok(v["tasks"][0]["id"].as_str().unwrap_or_default().to_owned())
}

fn main() -> Result<(), BoxError> {
    let samples: u64 = std::env::var("BENCH_LAG_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let total: u64 = std::env::var("BENCH_DELIVERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let bin = std::env::var("BENCH_HUBHOOK_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_hubhook").to_owned());
    let dir = tempfile::tempdir()?;
    let db = format!("sqlite://{}", dir.path().join("hubhook.db").display());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    let recv = Arc::new(Recv::default());
    let (gate_tx, gate_rx) = watch::channel(true);
    let recv_addr: SocketAddr = rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = l.local_addr()?;
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state((recv.clone(), gate_rx));
        tokio::spawn(async move { axum::serve(l, app).await });
        Ok::<_, BoxError>(addr)
    })?;

    let hotel = cli_json(
        &bin,
        &db,
        &["hotel", "create", "--name", "Bench", "--id", "bench"],
    )?;
    cli_json(&bin, &db, &["rooms", "add", "bench", "101"]).ok();
    // Every order here is a new request: repeated requests are not merged (docs/benchmarks.md).
    cli_json(&bin, &db, &["hotel", "set", "bench", "--merge-window", "0"])?;
    cli_json(
        &bin,
        &db,
        &[
            "webhooks",
            "add",
            "bench",
            "--url",
            &format!("http://{recv_addr}/hook"),
            "--events",
            "task.created",
        ],
    )?;
    let listen = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let mut server = Command::new(&bin)
        .env("HUBHOOK_DATABASE_URL", &db)
        .args(["serve", "--listen", &listen.to_string()])
        // Thousands of webhooks a second from 127.0.0.1 for one hotel: limits off.
        .env("HUBHOOK_WEBHOOK_IP_RATE", "0")
        .env("HUBHOOK_WEBHOOK_HOTEL_RATE", "0")
        .env("HUBHOOK_WEBHOOK_AUTH_FAILURES", "0")
        // The receiver is this process, on loopback: exempted as an on-premise receiver would be.
        .env("HUBHOOK_OUTBOUND_ALLOW", "127.0.0.0/8")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let result = rt.block_on(async {
        let client = hubhook::http_client().build()?;
        let c = Creds {
            url: format!("http://{listen}/webhooks/duve"),
            hotel: hotel["hotelId"].as_str().unwrap_or_default().to_owned(),
            access: hotel["accessToken"].as_str().unwrap_or_default().to_owned(),
            password: hotel["passwordToken"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while client
            .get(format!("http://{listen}/healthz"))
            .send()
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                return Err::<_, BoxError>("hubhook did not start".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // 1. Lag with an idle queue.
        let mut after_ack = Vec::new();
        let mut after_send = Vec::new();
        for i in 0..samples {
            let sent = Instant::now();
            let task = send(&client, &c, i).await?;
            let acked = Instant::now();
            let arrived = loop {
                if let Some(t) = recv.arrivals.lock().unwrap().get(&task) {
                    break *t;
                }
                if acked.elapsed() > Duration::from_secs(10) {
                    return Err(format!("no delivery for {task}").into());
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            };
            after_ack.push(arrived.saturating_duration_since(acked));
            after_send.push(arrived.saturating_duration_since(sent));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        after_ack.sort();
        after_send.sort();

        // 2. Throughput: queue `total` deliveries behind a closed gate, then open it.
        let _ = gate_tx.send(false);
        let base = recv.answered.load(Ordering::Relaxed);
        let next = Arc::new(AtomicU64::new(1_000_000));
        let ingest_started = Instant::now();
        let mut senders = Vec::new();
        for _ in 0..32 {
            let (client, next) = (client.clone(), next.clone());
            let c = Creds {
                url: c.url.clone(),
                hotel: c.hotel.clone(),
                access: c.access.clone(),
                password: c.password.clone(),
            };
            senders.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= 1_000_000 + total {
                        return Ok::<_, BoxError>(());
                    }
                    send(&client, &c, i).await?;
                }
            }));
        }
        for s in senders {
            s.await??;
        }
        let ingest = ingest_started.elapsed();
        let opened = Instant::now();
        let _ = gate_tx.send(true);
        let want = base + total;
        while recv.answered.load(Ordering::Relaxed) < want {
            if opened.elapsed() > Duration::from_secs(300) {
                return Err("deliveries did not finish in 5 minutes".into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let drain = opened.elapsed();
        Ok((after_ack, after_send, ingest, drain))
    });
    let _ = server.kill();
    let _ = server.wait();
    let (after_ack, after_send, ingest, drain) = result?;

    println!();
    println!(
        "Command: `cargo bench -p hubhook --bench outbox` ({samples} lag samples, {total} queued deliveries, default settings: 64 in flight)"
    );
    println!();
    println!("| measure | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|");
    for (name, v) in [
        ("201 answered → delivery received (idle queue)", &after_ack),
        ("order sent → delivery received (idle queue)", &after_send),
    ] {
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} |",
            pct(v, 0.5),
            pct(v, 0.9),
            pct(v, 0.99),
            pct(v, 1.0)
        );
    }
    println!();
    println!(
        "Throughput: {total} deliveries queued in {:.1} s (ingest with 32 connections), then delivered in {:.2} s: **{:.0} deliveries/s**",
        ingest.as_secs_f64(),
        drain.as_secs_f64(),
        total as f64 / drain.as_secs_f64()
    );
    Ok(())
}
