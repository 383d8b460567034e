//! Soak run: `cargo bench -p hubhook --bench soak` (30 minutes by default).
//!
//! Drives the real `hubhook serve` (a child process on a fresh SQLite file, or PostgreSQL) at a
//! steady, open-loop paced rate of unique `orderCreated` deliveries (one in four orders has three
//! items, the rest one), moves one task in ten through the status API, and has the outbox deliver
//! every `task.created`, `task.status_changed`, `task.completed` and `task.cancelled` to a receiver
//! in this process that answers 500 on a random share of attempts. A short retry schedule makes every
//! failed attempt come back well within the run.
//!
//! Every `SOAK_SAMPLE_SECONDS` it prints a row: the server's RSS (`VmRSS`) and open file descriptors
//! (`/proc/PID/fd`), requests sent and answered, the latency of the window, deliveries the receiver
//! accepted, attempts it refused, and events still owed. At the end it stops the load, waits until
//! the receiver has accepted every event the run caused, and prints a summary with a verdict against
//! the targets (RSS growth ≤ 20% from the first minute after warm-up to the last; no growth of open
//! file descriptors: the last minute's count, all and not sockets, within noise of the first
//! minute's; every event delivered). Exits non-zero on FAIL. On SQLite each row also shows the WAL
//! file's size (it bounds the `-shm` index the server maps).
//!
//! Settings (environment): `SOAK_SECONDS` (load duration, default 1800), `SOAK_RATE` (orders per
//! second, default 200), `SOAK_FAIL_PERCENT` (receiver's 500 share, default 10), `SOAK_WARMUP`
//! (seconds excluded before the first window, default 60, at most a quarter of the run),
//! `SOAK_SAMPLE_SECONDS` (default 10), `SOAK_DRAIN_SECONDS` (deadline for the last deliveries after
//! the load stops, default 300), `SOAK_SETTLE_SECONDS` (idle time after the drain before the last
//! row, default 200: pooled connections close after 90 s idle, checked every 90 s), `SOAK_FD_NOISE`
//! (descriptors the last minute may hold beyond the first, default 16: the SQLite readers' pool
//! keeps up to 8 connections of two descriptors each, and the connection pools grow and shrink with concurrency),
//! `SOAK_CONNECTIONS` (requests in flight at most, so connections, default 64: the pacer does not
//! wait for them, and the latency counts from the scheduled send time), `SOAK_RETRY_SCHEDULE` (the server's
//! `HUBHOOK_RETRY_SCHEDULE`), `BENCH_DATABASE_URL` (`postgres://…`: run on PostgreSQL in a fresh
//! schema, dropped afterwards), `BENCH_HUBHOOK_BIN` (another `hubhook` binary).

use std::{
    collections::HashSet,
    net::SocketAddr,
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, routing::post};

#[path = "support/mod.rs"]
mod support;
use support::{cli_json, hubhook_cmd, limits_off, loadavg, pg};
#[path = "support/soak/load.rs"]
mod load;
use load::{Load, Target, pace};
#[path = "support/soak/receiver.rs"]
mod receiver;
use receiver::{Accepted, Recv, hook};
#[path = "support/soak/sample.rs"]
mod sample;
use sample::{HEADER, RULE, Sample, cpu_ticks, open_fds, rss_kb};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const HOTEL: &str = "soak";
/// Eight attempts: with 10% refusals a delivery fails for good once in 10^8, so a 30-minute run
/// (~450,000 deliveries) never exhausts one by chance; the whole schedule is under two minutes.
const RETRY_SCHEDULE: &str = "1s,2s,5s,10s,30s,30s,30s";

fn main() {
    match run() {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("soak failed: {e}");
            std::process::exit(2);
        }
    }
}

struct Settings {
    seconds: f64,
    rate: f64,
    fail_percent: u64,
    warmup: f64,
    sample: Duration,
    drain: Duration,
    fd_noise: u64,
    connections: usize,
    settle: Duration,
    schedule: String,
}

fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
        .unwrap_or(default)
}

impl Settings {
    fn from_env() -> Self {
        let seconds = env_f64("SOAK_SECONDS", 1800.0).max(1.0);
        Self {
            seconds,
            rate: env_f64("SOAK_RATE", 200.0).max(0.1),
            fail_percent: env_f64("SOAK_FAIL_PERCENT", 10.0).min(100.0) as u64,
            warmup: env_f64("SOAK_WARMUP", 60.0).min(seconds / 4.0),
            sample: Duration::from_secs_f64(env_f64("SOAK_SAMPLE_SECONDS", 10.0).max(1.0)),
            drain: Duration::from_secs_f64(env_f64("SOAK_DRAIN_SECONDS", 300.0)),
            // The SQLite readers' pool keeps up to 8 connections, two descriptors each: growth within
            // that bound is the pool filling, not a leak.
            fd_noise: env_f64("SOAK_FD_NOISE", 16.0) as u64,
            settle: Duration::from_secs_f64(env_f64("SOAK_SETTLE_SECONDS", 200.0)),
            connections: env_f64("SOAK_CONNECTIONS", 64.0).max(1.0) as usize,
            schedule: std::env::var("SOAK_RETRY_SCHEDULE")
                .unwrap_or_else(|_| RETRY_SCHEDULE.into()),
        }
    }

    /// Length of the first and last windows compared: a minute, less on short runs.
    fn window(&self) -> f64 {
        ((self.seconds - self.warmup) / 2.0).min(60.0)
    }
}

// ---------------------------------------------------------------------------------------------
// The server process.

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn field(v: &serde_json::Value, k: &str) -> Result<String, BoxError> {
    v[k].as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no {k} in {v}").into())
}

fn mean(v: &[u64]) -> f64 {
    v.iter().sum::<u64>() as f64 / v.len().max(1) as f64
}

// ---------------------------------------------------------------------------------------------

fn run() -> Result<bool, BoxError> {
    let s = Settings::from_env();
    let date = jiff::Timestamp::now()
        .strftime("%Y-%m-%d %H:%M UTC")
        .to_string();
    let load_before = loadavg();
    let dir = tempfile::tempdir()?;
    let pg = std::env::var("BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .map(|url| pg::Schema::fresh(&url, "soak"))
        .transpose()?;
    let db_url = match &pg {
        Some(schema) => schema.url.clone(),
        None => format!("sqlite://{}", dir.path().join("hubhook.db").display()),
    };
    let backend = if pg.is_some() { "PostgreSQL" } else { "SQLite" };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let recv = Arc::new(Recv {
        fail_percent: s.fail_percent,
        rng: AtomicU64::new(
            jiff::Timestamp::now().as_nanosecond() as u64 ^ u64::from(std::process::id()),
        ),
        attempts: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        duplicates: AtomicU64::new(0),
        accepted: Mutex::new(Accepted::default()),
    });
    let recv_addr: SocketAddr = rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = l.local_addr()?;
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state(recv.clone());
        tokio::spawn(async move { axum::serve(l, app).await });
        Ok::<_, BoxError>(addr)
    })?;

    let hotel = cli_json(
        &db_url,
        dir.path(),
        &["hotel", "create", "--name", "Soak", "--id", HOTEL],
    )?;
    cli_json(
        &db_url,
        dir.path(),
        &["rooms", "add", HOTEL, "101", "102", "103"],
    )?;
    // Every order here is a new request: repeated requests are not merged (docs/benchmarks.md).
    cli_json(
        &db_url,
        dir.path(),
        &["hotel", "set", HOTEL, "--merge-window", "0"],
    )?;
    cli_json(
        &db_url,
        dir.path(),
        &[
            "webhooks",
            "add",
            HOTEL,
            "--url",
            &format!("http://{recv_addr}/hook"),
            "--events",
            "task.created,task.status_changed,task.completed,task.cancelled",
        ],
    )?;
    let key = cli_json(&db_url, dir.path(), &["apikey", "create", HOTEL])?;
    let listen = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let log_path = dir.path().join("serve.log");
    let wal = pg.is_none().then(|| dir.path().join("hubhook.db-wal"));
    let mut server = Server(
        hubhook_cmd(&db_url, dir.path())
            .envs(limits_off())
            .env("HUBHOOK_RETRY_SCHEDULE", &s.schedule)
            // The receivers are this process, on loopback: exempted as on-premise ones would be.
            .env("HUBHOOK_OUTBOUND_ALLOW", "127.0.0.0/8")
            .args(["serve", "--listen", &listen.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path)?)
            .spawn()?,
    );
    let pid = server.0.id();
    let target = Arc::new(Target {
        webhook: format!("http://{listen}/webhooks/duve"),
        api: format!("http://{listen}/api/v1"),
        hotel: field(&hotel, "hotelId")?,
        access: field(&hotel, "accessToken")?,
        password: field(&hotel, "passwordToken")?,
        api_key: field(&key, "apiKey")?,
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(listen).is_err() {
        if let Some(status) = server.0.try_wait()? {
            return Err(format!("hubhook exited early: {status}").into());
        }
        if Instant::now() > deadline {
            return Err("hubhook did not start".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let idle_kb = rss_kb(pid);
    let (idle_fds, idle_sockets) = open_fds(pid);

    eprintln!(
        "soak: hubhook pid {pid} on {backend}, {} orders/s for {} s, receiver refuses {}%, \
         retry schedule {}; idle RSS {:.1} MB, {idle_fds} FDs ({idle_sockets} sockets)",
        s.rate,
        s.seconds,
        s.fail_percent,
        s.schedule,
        idle_kb as f64 / 1024.0
    );
    println!("{HEADER}");
    println!("{RULE}");

    let load = Arc::new(Load {
        connections: tokio::sync::Semaphore::new(s.connections),
        orders: AtomicU64::new(0),
        sent: AtomicU64::new(0),
        ok: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        in_flight: AtomicU64::new(0),
        moves: Default::default(),
        window: Mutex::new(Vec::new()),
        created: Mutex::new(HashSet::new()),
        first_error: Mutex::new(None),
    });
    let client = hubhook::http_client()
        .timeout(Duration::from_secs(30))
        .build()?;
    let (samples, drained, after) = rt.block_on(async {
        let started = Instant::now();
        let until = started + Duration::from_secs_f64(s.seconds);
        let pacer = tokio::spawn(pace(
            client.clone(),
            target.clone(),
            load.clone(),
            s.rate,
            until,
        ));
        let mut samples = Vec::new();
        let mut ticks = (cpu_ticks(pid), Instant::now());
        let mut next = started + s.sample;
        // Load phase: a row every sample period.
        while next <= until + Duration::from_millis(1) {
            tokio::time::sleep_until(next.into()).await;
            let row = Sample::take(
                pid,
                started.elapsed().as_secs_f64(),
                &load,
                &recv,
                &mut ticks,
                wal.as_deref(),
            );
            println!("{}", row.row());
            samples.push(row);
            next += s.sample;
        }
        let _ = pacer.await;
        // Let the last answers in, then wait for the outbox to catch up.
        let quiet = Instant::now() + Duration::from_secs(35);
        while load.in_flight.load(Ordering::Relaxed) > 0 && Instant::now() < quiet {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let drain_from = Instant::now();
        let mut last_print = Instant::now();
        let drained = loop {
            let owed = load.owed();
            if recv.delivered() >= owed && missing(&load, &recv) == 0 {
                break Some(drain_from.elapsed());
            }
            if drain_from.elapsed() > s.drain {
                break None;
            }
            if last_print.elapsed() >= s.sample {
                let row = Sample::take(
                    pid,
                    started.elapsed().as_secs_f64(),
                    &load,
                    &recv,
                    &mut ticks,
                    wal.as_deref(),
                );
                println!("{} (draining)", row.row());
                last_print = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        // Idle again: close the load's connections and outlast the dispatcher's pooled ones
        // (reqwest closes a connection idle for 90 s): every socket the load opened must be gone.
        drop(client);
        tokio::time::sleep(s.settle).await;
        let after = Sample::take(
            pid,
            started.elapsed().as_secs_f64(),
            &load,
            &recv,
            &mut ticks,
            wal.as_deref(),
        );
        println!("{} (idle after drain)", after.row());
        (samples, drained, after)
    });
    let alive = server.0.try_wait()?.is_none();
    drop(server);

    // ---- Summary.
    let w = s.window();
    let first: Vec<&Sample> = samples
        .iter()
        .filter(|x| x.t > s.warmup && x.t <= s.warmup + w + 0.5)
        .collect();
    let last: Vec<&Sample> = samples
        .iter()
        .filter(|x| x.t > s.seconds - w - 0.5)
        .collect();
    let rss = |v: &[&Sample]| mean(&v.iter().map(|x| x.rss_kb).collect::<Vec<_>>());
    let fds_max = |v: &[&Sample]| v.iter().map(|x| x.fds).max().unwrap_or(0);
    let files_max = |v: &[&Sample]| v.iter().map(|x| x.fds - x.sockets).max().unwrap_or(0);
    let (files_first, files_last) = (files_max(&first), files_max(&last));
    let (rss_first, rss_last) = (rss(&first), rss(&last));
    let rss_max = samples.iter().map(|x| x.rss_kb).max().unwrap_or(0);
    let growth = 100.0 * (rss_last - rss_first) / rss_first.max(1.0);
    let (fd_first, fd_last) = (fds_max(&first), fds_max(&last));
    let fd_min = samples.iter().map(|x| x.fds).min().unwrap_or(0);
    let fd_all_max = samples.iter().map(|x| x.fds).max().unwrap_or(0);
    let acc = recv.accepted.lock().unwrap();
    let by = |k: &str| acc.by_type.get(k).copied().unwrap_or(0);
    let created = load.created.lock().unwrap();
    let missing_created = created.iter().filter(|t| !acc.created.contains(*t)).count();
    let moves: Vec<u64> = load
        .moves
        .iter()
        .map(|m| m.load(Ordering::Relaxed))
        .collect();
    let moves_total: u64 = moves.iter().sum();
    let attempts = recv.attempts.load(Ordering::Relaxed);
    let refused = recv.refused.load(Ordering::Relaxed);
    let duplicates = recv.duplicates.load(Ordering::Relaxed);
    let errors = load.errors.load(Ordering::Relaxed);
    let orders = load.orders.load(Ordering::Relaxed);

    let rss_ok = growth <= 20.0;
    let fd_ok = fd_last <= fd_first + s.fd_noise && files_last <= files_first + s.fd_noise;
    let delivered_ok = drained.is_some()
        && missing_created == 0
        && by("task.status_changed") >= moves_total
        && by("task.completed") >= moves[2]
        && by("task.cancelled") >= moves[3];
    let load_ok = errors == 0 && alive;

    println!();
    println!("Condensed (every 5 minutes, or every fifth row on shorter runs):");
    println!();
    println!("{HEADER}");
    println!("{RULE}");
    let every = if s.seconds >= 600.0 {
        (300.0 / s.sample.as_secs_f64()).round().max(1.0) as usize
    } else {
        5
    };
    for (n, x) in samples.iter().enumerate() {
        if (n + 1) % every == 0 || n == 0 || n + 1 == samples.len() {
            println!("{}", x.row());
        }
    }
    println!("{} (idle after drain)", after.row());
    println!();
    let pg_env = if pg.is_some() {
        "BENCH_DATABASE_URL=postgres://… "
    } else {
        ""
    };
    println!(
        "Command: `{pg_env}SOAK_SECONDS={} SOAK_RATE={} SOAK_FAIL_PERCENT={} cargo bench -p hubhook --bench soak` \
         ({} connections at most)",
        s.seconds, s.rate, s.fail_percent, s.connections
    );
    println!(
        "Date: {date}; database: {backend}; retry schedule {}; load average before: {load_before}, after: {}",
        s.schedule,
        loadavg()
    );
    println!(
        "Requests: {} ({orders} orders, 1 in 4 with 3 items; {moves_total} status moves: {} accepted, \
         {} in_progress, {} done, {} cancelled), {} answered 2xx, {errors} errors{}",
        after.sent,
        moves[0],
        moves[1],
        moves[2],
        moves[3],
        after.ok,
        load.first_error
            .lock()
            .unwrap()
            .as_ref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    );
    println!(
        "Tasks created: {}; events delivered (unique webhook-ids): {} ({} task.created, {} \
         task.status_changed, {} task.completed, {} task.cancelled)",
        created.len(),
        acc.ids.len(),
        by("task.created"),
        by("task.status_changed"),
        by("task.completed"),
        by("task.cancelled")
    );
    println!(
        "Delivery attempts: {attempts}; refused with 500: {refused} ({:.1}%), each retried; \
         2xx for an already accepted webhook-id: {duplicates}; {}",
        100.0 * refused as f64 / attempts.max(1) as f64,
        match drained {
            Some(d) => format!(
                "last delivery {:.1} s after the load stopped",
                d.as_secs_f64()
            ),
            None => format!(
                "NOT drained {} s after the load stopped: {missing_created} task.created missing",
                s.drain.as_secs()
            ),
        }
    );
    println!(
        "RSS: idle {:.1} MB; first window after {:.0} s warm-up ({:.0} s) {:.1} MB; last window {:.1} MB; \
         max {:.1} MB; growth {growth:+.1}% (target ≤ 20%) {}",
        idle_kb as f64 / 1024.0,
        s.warmup,
        w,
        rss_first / 1024.0,
        rss_last / 1024.0,
        rss_max as f64 / 1024.0,
        verdict(rss_ok)
    );
    println!(
        "FDs: idle {idle_fds}; first window max {fd_first}; last window max {fd_last}; range during \
         load {fd_min}–{fd_all_max}; not sockets: first window max {files_first}, last {files_last} \
         (target for both: last ≤ first + {}) {}; {:.0} s after the drain {} ({} sockets)",
        s.fd_noise,
        verdict(fd_ok),
        s.settle.as_secs_f64(),
        after.fds,
        after.sockets
    );
    println!(
        "Every event delivered: {}; every request answered 2xx and the server alive: {}",
        verdict(delivered_ok),
        verdict(load_ok)
    );
    let pass = rss_ok && fd_ok && delivered_ok && load_ok;
    println!("Verdict: {}", if pass { "PASS" } else { "FAIL" });
    if !pass && let Ok(log) = std::fs::read_to_string(&log_path) {
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        eprintln!("last lines of hubhook's log:");
        for l in tail.iter().rev() {
            eprintln!("  {l}");
        }
    }
    Ok(pass)
}

fn missing(load: &Load, recv: &Recv) -> usize {
    let acc = recv.accepted.lock().unwrap();
    let created = load.created.lock().unwrap();
    created.iter().filter(|t| !acc.created.contains(*t)).count()
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}
