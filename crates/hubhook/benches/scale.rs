//! Many hotels on one server: `cargo bench -p hubhook --bench scale`.
//!
//! Seeds a fresh SQLite file with N hotels of R rooms each (two hotels, A and B, made by the CLI;
//! the others written with direct SQL into the file, since the CLI at one process per hotel would
//! take minutes), starts the real `hubhook serve` on it and measures: the time from the process's
//! start to its first answer (the cache of every hotel is loaded before it listens), its idle RSS,
//! and hotel A's webhook latency, first quiet, then while hotel B changes its configuration through
//! the CLI (another process) about 10 times a second (a room added, then its settings saved,
//! alternately). Prints a Markdown table for `docs/benchmarks.md`.
//!
//! Settings (environment): `SCALE_HOTELS` (default 1000), `SCALE_ROOMS` (default 100),
//! `BENCH_SECONDS` (seconds per phase, default 10), `SCALE_RATE` (hotel A's webhooks a second,
//! default 200, over 4 connections), `SCALE_CHANGES` (hotel B's changes a second, default 10).

use std::{
    path::Path,
    process::{Child, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

#[path = "support/mod.rs"]
mod support;
use support::{cli_json, hubhook_cmd, limits_off, loadavg};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const WORKERS: u64 = 4;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("scale bench failed: {e}");
        std::process::exit(1);
    }
}

struct Creds {
    id: String,
    access: String,
    password: String,
}

fn create_hotel(db: &str, dir: &Path, id: &str) -> Result<Creds, BoxError> {
    let out = cli_json(db, dir, &["hotel", "create", "--name", id, "--id", id])?;
    // Every order here is a new request: repeated requests are not merged (docs/benchmarks.md).
    cli_json(db, dir, &["hotel", "set", id, "--merge-window", "0"])?;
    let field = |k: &str| -> Result<String, BoxError> {
        Ok(out[k]
            .as_str()
            .ok_or(format!("no {k} in {out}"))?
            .to_owned())
    };
    Ok(Creds {
        id: id.to_owned(),
        access: field("accessToken")?,
        password: field("passwordToken")?,
    })
}

/// Direct SQL into the SQLite file (the server is not running yet): the other hotels with the
/// default catalog (copied from hotel A's), and R rooms for every hotel, A and B included.
fn seed(path: &Path, hotels: u64, rooms: u64) -> Result<(), BoxError> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    let tx = conn.transaction()?;
    {
        let mut hotel = tx.prepare(
            "INSERT INTO hotels (id, name, timezone, access_hash, password_hash, created_at)
             VALUES (?1, ?1, 'Europe/Lisbon', zeroblob(32), zeroblob(32), '2025-01-01T00:00:00Z')",
        )?;
        for n in 2..hotels {
            hotel.execute([format!("hotel-{n}")])?;
        }
        tx.execute(
            "INSERT INTO catalog (hotel_id, external_id, name, department, sla_minutes)
             SELECT h.id, c.external_id, c.name, c.department, c.sla_minutes
             FROM hotels h, catalog c
             WHERE c.hotel_id = 'hotel-a' AND h.id NOT IN ('hotel-a', 'hotel-b')",
            [],
        )?;
        let ids: Vec<String> = tx
            .prepare("SELECT id FROM hotels")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut room = tx.prepare(
            "INSERT INTO rooms (hotel_id, number, floor) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
        )?;
        for id in &ids {
            for r in 0..rooms {
                room.execute(rusqlite::params![
                    id,
                    format!("{}", 100 + r),
                    format!("{}", r / 50)
                ])?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Default)]
struct Phase {
    latencies_us: Vec<u64>,
    non_2xx: u64,
    errors: u64,
}

impl Phase {
    fn pct(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }
}

/// Hotel A's webhooks at `rate` a second for `secs`, over [`WORKERS`] connections.
async fn webhooks(base: &str, a: &Arc<Creds>, tag: &str, rate: u64, secs: u64) -> Phase {
    let client = hubhook::http_client().build().expect("client");
    let interval = Duration::from_micros(1_000_000 * WORKERS / rate.max(1));
    let end = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let (client, a, url, tag) = (
            client.clone(),
            a.clone(),
            format!("{base}/webhooks/duve"),
            tag.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            let mut phase = Phase::default();
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n = 0u64;
            while Instant::now() < end {
                tick.tick().await;
                n += 1;
                let body = serde_json::json!({
                    "accountId": "acc",
                    "event": "orderCreated",
                    "resource": {
                        "id": format!("res-{tag}-{w}-{n}"),
                        "verifiedFirstName": "Bobby",
                        "verifiedLastName": "Smith",
                        "roomNumber": "101",
                        "order": {"id": format!("{tag}-{w}-{n}"), "status": 0, "chargeAmount": 0,
                            "products": [{"name": "Towels", "externalId": "4", "quantity": 1}]}
                    }
                });
                let started = Instant::now();
                let res = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("custom_hotel_id", &a.id)
                    .header("custom_access_token", &a.access)
                    .header("custom_password_token", &a.password)
                    .body(body.to_string())
                    .send()
                    .await;
                match res {
                    Ok(r) => {
                        let status = r.status();
                        let body = r.bytes().await.unwrap_or_default();
                        phase
                            .latencies_us
                            .push(started.elapsed().as_micros() as u64);
                        if !status.is_success() {
                            if phase.non_2xx == 0 {
                                eprintln!("{status}: {}", String::from_utf8_lossy(&body));
                            }
                            phase.non_2xx += 1;
                        }
                    }
                    Err(_) => phase.errors += 1,
                }
            }
            phase
        }));
    }
    let mut all = Phase::default();
    for t in tasks {
        if let Ok(p) = t.await {
            all.latencies_us.extend(p.latencies_us);
            all.non_2xx += p.non_2xx;
            all.errors += p.errors;
        }
    }
    all.latencies_us.sort_unstable();
    all
}

/// Hotel B's configuration changes through the CLI until `stop`: a room added, its settings saved.
fn churn(db: String, dir: std::path::PathBuf, per_sec: u64, stop: Arc<AtomicBool>) -> (u64, u64) {
    let interval = Duration::from_micros(1_000_000 / per_sec.max(1));
    let (mut done, mut failed) = (0u64, 0u64);
    let mut next = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let args: Vec<String> = if done % 2 == 0 {
            ["rooms", "add", "hotel-b", &format!("N{done}")]
                .map(String::from)
                .to_vec()
        } else {
            let sync = if done % 4 == 1 { "true" } else { "false" };
            ["hotel", "set", "hotel-b", "--sync-paid-orders", sync]
                .map(String::from)
                .to_vec()
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match cli_json(&db, &dir, &args) {
            Ok(_) => done += 1,
            Err(e) => {
                failed += 1;
                done += 1;
                eprintln!("change failed: {e}");
            }
        }
        next += interval;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    (done, failed)
}

fn run() -> Result<(), BoxError> {
    let hotels = env_u64("SCALE_HOTELS", 1000).max(2);
    let rooms = env_u64("SCALE_ROOMS", 100).max(2);
    let secs = env_u64("BENCH_SECONDS", 10);
    let rate = env_u64("SCALE_RATE", 200);
    let changes = env_u64("SCALE_CHANGES", 10);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("scale.db");
    let db = format!("sqlite://{}", path.display());

    let seeding = Instant::now();
    let a = Arc::new(create_hotel(&db, dir.path(), "hotel-a")?);
    create_hotel(&db, dir.path(), "hotel-b")?;
    seed(&path, hotels, rooms)?;
    let seeded = seeding.elapsed();
    eprintln!(
        "seeded {hotels} hotels x {rooms} rooms in {:.1}s",
        seeded.as_secs_f64()
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let mut server = Server(
        hubhook_cmd(&db, dir.path())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .envs(limits_off())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let probe = hubhook::http_client()
        .timeout(Duration::from_secs(2))
        .build()?;
    let ready = rt.block_on(async {
        loop {
            if let Some(status) = server.0.try_wait()? {
                return Err::<Duration, BoxError>(format!("serve exited: {status}").into());
            }
            if let Ok(r) = probe.get(format!("{base}/readyz")).send().await
                && r.status().is_success()
            {
                return Ok(started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(120) {
                return Err("serve never became ready".into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })?;
    std::thread::sleep(Duration::from_secs(1));
    let pid = server.0.id();
    let idle_kb = rss_kb(pid).unwrap_or(0);
    eprintln!(
        "ready in {:.2}s, idle RSS {:.1} MB",
        ready.as_secs_f64(),
        idle_kb as f64 / 1024.0
    );

    rt.block_on(webhooks(&base, &a, "warm", rate, 1));
    let quiet = rt.block_on(webhooks(&base, &a, "quiet", rate, secs));
    let stop = Arc::new(AtomicBool::new(false));
    let churner = {
        let (db, dir, stop) = (db.clone(), dir.path().to_owned(), stop.clone());
        std::thread::spawn(move || churn(db, dir, changes, stop))
    };
    let noisy = rt.block_on(webhooks(&base, &a, "noisy", rate, secs));
    stop.store(true, Ordering::SeqCst);
    let (made, failed) = churner.join().map_err(|_| "the churn thread panicked")?;
    let busy_kb = rss_kb(pid).unwrap_or(0);
    let refused = quiet.non_2xx + noisy.non_2xx + quiet.errors + noisy.errors;

    println!(
        "\n{hotels} hotels x {rooms} rooms (SQLite), hotel A at {rate}/s over {WORKERS} \
         connections, {secs}s per phase; hotel B: {made} CLI changes ({:.1}/s, {failed} failed); \
         load {}\n",
        made as f64 / secs.max(1) as f64,
        loadavg()
    );
    println!(
        "| seeded | ready | idle RSS | RSS after | phase | requests | non-2xx | p50 ms | p99 ms | max ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (name, p) in [("quiet", &quiet), ("B changing", &noisy)] {
        println!(
            "| {:.1} s | {:.2} s | {:.1} MB | {:.1} MB | {name} | {} | {} | {:.2} | {:.2} | {:.2} |",
            seeded.as_secs_f64(),
            ready.as_secs_f64(),
            idle_kb as f64 / 1024.0,
            busy_kb as f64 / 1024.0,
            p.latencies_us.len(),
            p.non_2xx + p.errors,
            p.pct(0.5),
            p.pct(0.99),
            p.pct(1.0),
        );
    }
    let ratio = noisy.pct(0.99) / quiet.pct(0.99);
    println!(
        "\nnoisy p99 / quiet p99 = {ratio:.2} (target: within 3x, or noisy p99 under 20 ms); \
         non-2xx answers: {}",
        refused
    );
    Ok(())
}
