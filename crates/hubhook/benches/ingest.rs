//! Ingest load benchmark: `cargo bench -p hubhook --bench ingest`.
//!
//! Drives the real `hubhook serve` (a child process on a fresh SQLite file) with unique `orderCreated`
//! deliveries over 64 keep-alive connections and, in the same run, a bare axum handler that only
//! parses the same body (this executable re-run with `HUBHOOK_BENCH_BASELINE=ADDR`). Prints a
//! Markdown table (requests/s, latency percentiles, idle and peak RSS, server CPU per request) that
//! can be pasted into `docs/benchmarks.md`.
//!
//! Settings (environment): `BENCH_SECONDS` (measured seconds per run, default 10), `BENCH_WARMUP`
//! (seconds, default 1), `BENCH_CONNECTIONS` (default 64), `BENCH_ONLY` (`hubhook` or `baseline`),
//! `BENCH_PAUSE` (seconds to wait, printing the server's pid, before hubhook's saturated run: time to
//! attach a profiler), `BENCH_HUBHOOK_BIN` (another `hubhook` binary to drive, e.g. a variant build).
//!
//! PostgreSQL: `BENCH_DATABASE_URL=postgres://…` runs hubhook on that database instead of a SQLite
//! file (in a fresh schema of its own, dropped afterwards), and `BENCH_INSTANCES=2` starts that many
//! `hubhook serve` processes on it, the connections spread evenly across them (server CPU and I/O
//! are then the instances' sum; PostgreSQL's own processes are not counted).

use std::{
    cell::Cell,
    io::Write as _,
    net::SocketAddr,
    process::{Command, Stdio},
    rc::Rc,
    time::{Duration, Instant},
};

use tokio::net::TcpStream;

#[path = "support/mod.rs"]
mod support;
use support::{
    cli_json,
    http1::{read_response, write_all},
    hubhook_cmd, limits_off, loadavg, pg,
};

const BASELINE_ENV: &str = "HUBHOOK_BENCH_BASELINE";
const HOTEL: &str = "bench";

fn main() {
    if let Ok(addr) = std::env::var(BASELINE_ENV) {
        baseline::serve(&addr);
        return;
    }
    if let Err(e) = run() {
        eprintln!("ingest bench failed: {e}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------------
// The bare baseline: same runtime flavour as hubhook, a handler that only reads and parses.

mod baseline {
    use axum::{Json, Router, body::Bytes, http::StatusCode, routing::post};

    async fn duve(body: Bytes) -> (StatusCode, Json<serde_json::Value>) {
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(_) => (
                StatusCode::CREATED,
                Json(serde_json::json!({"status": "created"})),
            ),
            Err(_) => (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({"status": "invalid"})),
            ),
        }
    }

    pub fn serve(addr: &str) {
        // The parent holds our stdin: when it goes away, even killed, so do we.
        std::thread::spawn(|| {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            std::process::exit(0);
        });
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .expect("baseline bind");
            let app = Router::new().route("/webhooks/duve", post(duve));
            axum::serve(listener, app).await.expect("baseline serve");
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Child processes, killed on drop (also when the bench panics).

struct Server {
    name: &'static str,
    child: std::process::Child,
    addr: SocketAddr,
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn free_addr() -> Result<SocketAddr, BoxError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

fn wait_listening(server: &mut Server) -> Result<(), BoxError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if std::net::TcpStream::connect(server.addr).is_ok() {
            return Ok(());
        }
        if let Some(status) = server.child.try_wait()? {
            return Err(format!("{} exited early: {status}", server.name).into());
        }
        if Instant::now() > deadline {
            return Err(format!("{} did not listen on {}", server.name, server.addr).into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// `GET /metrics` over a fresh connection; the value of each `name value` line asked for.
fn metrics(addr: SocketAddr, names: &[&str]) -> Option<Vec<f64>> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    names
        .iter()
        .map(|n| {
            text.lines()
                .find_map(|l| l.strip_prefix(n)?.strip_prefix(' ')?.trim().parse().ok())
        })
        .collect()
}

fn writer_stats(addr: SocketAddr) -> Option<(f64, f64)> {
    let v = metrics(
        addr,
        &[
            "hubhook_db_write_batches_total",
            "hubhook_db_write_jobs_total",
        ],
    )?;
    Some((v[0], v[1]))
}

/// `wchar` (bytes handed to write calls) and `syscw` (write calls) from `/proc/<pid>/io`.
fn proc_io(pid: u32) -> Option<(u64, u64)> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    let field = |name: &str| -> Option<u64> {
        io.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
    };
    Some((field("wchar:")?, field("syscw:")?))
}

/// utime + stime of a process, in clock ticks (USER_HZ, 100 on Linux).
fn proc_cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// utime + stime of every process named `postgres` (the server and its backends), in clock ticks.
fn postgres_cpu_ticks() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim_end() == "postgres")
        })
        .filter_map(proc_cpu_ticks)
        .sum()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

// ---------------------------------------------------------------------------------------------
// The load generator: one thread, N keep-alive HTTP/1.1 connections over raw TCP.

struct Request {
    /// Everything before the order number (request line, headers, body start).
    head: Vec<u8>,
    /// Between the first and the second copy of the number (order id, then reservation id).
    middle: Vec<u8>,
    tail: Vec<u8>,
}

/// The number is zero-padded to this width so that every body has the same length.
const NUM_WIDTH: usize = 12;

impl Request {
    fn new(host: SocketAddr, creds: &Creds) -> Self {
        let (b1, b2, b3) = body_parts();
        let body_len = body_len();
        let mut head = format!(
            "POST /webhooks/duve HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n\
             custom_hotel_id: {}\r\ncustom_access_token: {}\r\ncustom_password_token: {}\r\n\
             content-length: {body_len}\r\n\r\n",
            creds.hotel, creds.access, creds.password
        )
        .into_bytes();
        head.extend_from_slice(b1.as_bytes());
        Self {
            head,
            middle: b2.into_bytes(),
            tail: b3.into_bytes(),
        }
    }

    fn write(&self, n: u64, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.head);
        let _ = write!(out, "{n:0NUM_WIDTH$}");
        out.extend_from_slice(&self.middle);
        let _ = write!(out, "{n:0NUM_WIDTH$}");
        out.extend_from_slice(&self.tail);
    }
}

fn body_len() -> usize {
    let (b1, b2, b3) = body_parts();
    b1.len() + b2.len() + b3.len() + 2 * NUM_WIDTH
}

/// An `orderCreated` for room 101, service "4" (Serve towels), shaped like Duve's: the order id goes
/// between the first and second part, the reservation id between the second and third.
fn body_parts() -> (String, String, String) {
    let b1 = r#"{"accountId": "6368c35588d770ea9b0ae2e1", "event": "orderCreated", "resource": {"#
        .to_owned()
        + r#""sId": "-FaCfxErX", "externalId": "27e19639-ede9-4649-b6aa-aede00c069ce", "#
        + r#""verifiedFirstName": "Bobby", "verifiedLastName": "Smith", "roomNumber": "101", "#
        + r#""preferredLanguage": "en", "email": "bobby.smith@example.com", "phone": "+351912345678", "#
        + r#""checkInDate": "2026-03-10", "checkOutDate": "2026-03-14", "adults": 2, "children": 0, "#
        + r#""guestAppLink": "https://x.duve.co/g/-FaCfxErX", "order": {"id": "ord"#;
    let b2 = r#"", "orderId": 16801, "status": 0, "chargeAmount": 0, "currency": "USD", "#
        .to_owned()
        + r#""createdAt": "2026-03-11T09:12:44.512Z", "source": "guest-app", "#
        + r#""notes": "Two extra bath towels, please. We are out for dinner until nine, leave them at the door.", "#
        + r#""products": [{"name": "Towel service", "externalId": "4", "quantity": 2, "#
        + r#""price": 0, "category": "Housekeeping", "description": "Fresh bath and hand towels delivered to your room", "#
        + r#""image": "https://cdn.duve.co/img/6368c35588d770ea9b0ae2e1/towels.jpg"}], "#
        + r#""tags": ["housekeeping", "in-stay"], "meta": {"app": "duve-guest", "version": "5.12.0"}}, "#
        + r#""id": "res"#;
    let b3 = r#""}}"#.to_owned();
    (b1, b2, b3)
}

struct Creds {
    hotel: String,
    access: String,
    password: String,
}

#[derive(Default)]
struct ConnStats {
    latencies_us: Vec<u32>,
    other: u64,
    /// Every 201, warm-up included: what the database must hold afterwards.
    all_created: u64,
    first_error: Option<String>,
}

async fn connection(
    addr: SocketAddr,
    req: Rc<Request>,
    next: Rc<Cell<u64>>,
    measure_from: Instant,
    until: Instant,
) -> ConnStats {
    let mut stats = ConnStats {
        latencies_us: Vec::with_capacity(1 << 16),
        ..Default::default()
    };
    let stream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => {
            stats.first_error = Some(format!("connect: {e}"));
            return stats;
        }
    };
    let _ = stream.set_nodelay(true);
    let mut out = Vec::with_capacity(2048);
    let mut inb = Vec::with_capacity(4096);
    loop {
        let started = Instant::now();
        if started >= until {
            break;
        }
        let n = next.get();
        next.set(n + 1);
        req.write(n, &mut out);
        let result = match write_all(&stream, &out).await {
            Ok(()) => read_response(&stream, &mut inb).await,
            Err(e) => Err(e.into()),
        };
        let done = Instant::now();
        let status = match result {
            Ok(s) => s,
            Err(e) => {
                stats.other += 1;
                stats.first_error.get_or_insert_with(|| e.to_string());
                break;
            }
        };
        if status == 201 {
            stats.all_created += 1;
        }
        if started < measure_from || done > until {
            continue;
        }
        stats
            .latencies_us
            .push((done - started).as_micros().min(u32::MAX as u128) as u32);
        if status != 201 {
            stats.other += 1;
            stats
                .first_error
                .get_or_insert_with(|| format!("status {status}"));
        }
    }
    stats
}

struct LoadResult {
    requests: u64,
    other: u64,
    all_created: u64,
    first_error: Option<String>,
    seconds: f64,
    p50: u32,
    p90: u32,
    p99: u32,
    max: u32,
    cpu_us_per_req: Option<f64>,
    /// The load generator's own CPU use over the window, in % of one core.
    client_cpu_pct: Option<f64>,
    /// CPU of every `postgres` process on this machine per request (any database's, so only
    /// meaningful on a database server that serves the bench alone).
    db_cpu_us_per_req: Option<f64>,
    /// The server's bytes written and write calls per request (files and sockets alike).
    io_per_req: Option<(f64, f64)>,
}

impl LoadResult {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

struct Settings {
    warmup: Duration,
    measure: Duration,
    connections: usize,
}

/// Runs the load against `server`; the order numbers continue from `next` (unique across runs).
fn load(
    servers: &[&Server],
    creds: &Creds,
    connections: usize,
    s: &Settings,
    next: &Rc<Cell<u64>>,
) -> LoadResult {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let reqs: Vec<Rc<Request>> = servers
        .iter()
        .map(|server| Rc::new(Request::new(server.addr, creds)))
        .collect();
    let pids: Vec<u32> = servers.iter().map(|server| server.pid()).collect();
    let cpu_ticks = || pids.iter().map(|&p| proc_cpu_ticks(p)).sum::<Option<u64>>();
    let io = || {
        pids.iter()
            .map(|&p| proc_io(p))
            .try_fold((0, 0), |acc, x| x.map(|(b, c)| (acc.0 + b, acc.1 + c)))
    };
    let local = tokio::task::LocalSet::new();
    let (all, cpu, io, db_ticks) = local.block_on(&rt, async {
        let start = Instant::now();
        let measure_from = start + s.warmup;
        let until = measure_from + s.measure;
        let handles: Vec<_> = (0..connections)
            .map(|i| {
                let k = i % servers.len();
                tokio::task::spawn_local(connection(
                    servers[k].addr,
                    reqs[k].clone(),
                    next.clone(),
                    measure_from,
                    until,
                ))
            })
            .collect();
        tokio::time::sleep_until(measure_from.into()).await;
        let me = std::process::id();
        let cpu_from = cpu_ticks().zip(proc_cpu_ticks(me));
        let io_from = io();
        let db_from = postgres_cpu_ticks();
        tokio::time::sleep_until(until.into()).await;
        let cpu_to = cpu_ticks().zip(proc_cpu_ticks(me));
        let io_to = io();
        let db_ticks = postgres_cpu_ticks().saturating_sub(db_from);
        let mut all = Vec::with_capacity(connections);
        for h in handles {
            all.push(h.await.expect("connection task"));
        }
        (
            all,
            cpu_from.zip(cpu_to).map(|(a, b)| (b.0 - a.0, b.1 - a.1)),
            io_from.zip(io_to).map(|(a, b)| (b.0 - a.0, b.1 - a.1)),
            db_ticks,
        )
    });
    let mut lat: Vec<u32> = Vec::new();
    let (mut other, mut all_created, mut first_error) = (0, 0, None);
    for c in all {
        lat.extend(c.latencies_us);
        all_created += c.all_created;
        other += c.other;
        if first_error.is_none() {
            first_error = c.first_error;
        }
    }
    lat.sort_unstable();
    let requests = lat.len() as u64;
    LoadResult {
        requests,
        other,
        all_created,
        first_error,
        seconds: s.measure.as_secs_f64(),
        p50: percentile(&lat, 0.50),
        p90: percentile(&lat, 0.90),
        p99: percentile(&lat, 0.99),
        max: lat.last().copied().unwrap_or(0),
        // 100 ticks a second: one tick is 10 ms of CPU.
        cpu_us_per_req: cpu
            .filter(|_| requests > 0)
            .map(|(t, _)| t as f64 * 10_000.0 / requests as f64),
        client_cpu_pct: cpu.map(|(_, t)| t as f64 / s.measure.as_secs_f64()),
        db_cpu_us_per_req: (db_ticks > 0 && requests > 0)
            .then(|| db_ticks as f64 * 10_000.0 / requests as f64),
        io_per_req: io
            .filter(|_| requests > 0)
            .map(|(b, c)| (b as f64 / requests as f64, c as f64 / requests as f64)),
    }
}

// ---------------------------------------------------------------------------------------------

struct Row {
    name: String,
    conns: usize,
    r: LoadResult,
    idle_kb: Option<u64>,
    peak_kb: Option<u64>,
}

fn ms(us: u32) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

fn mb(kb: Option<u64>) -> String {
    kb.map(|k| format!("{:.1}", k as f64 / 1024.0))
        .unwrap_or_else(|| "–".into())
}

fn print_row(row: &Row) {
    let r = &row.r;
    println!(
        "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        row.name,
        row.conns,
        r.rps(),
        ms(r.p50),
        ms(r.p90),
        ms(r.p99),
        ms(r.max),
        r.other,
        r.cpu_us_per_req
            .map(|c| format!("{c:.0}"))
            .unwrap_or_else(|| "–".into()),
        mb(row.idle_kb),
        mb(row.peak_kb),
        r.client_cpu_pct
            .map(|c| format!("{c:.0}%"))
            .unwrap_or_else(|| "–".into()),
    );
}

fn env_secs(name: &str, default: f64) -> Duration {
    let v = std::env::var(name)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(default);
    Duration::from_secs_f64(v)
}

fn run() -> Result<(), BoxError> {
    let s = Settings {
        warmup: env_secs("BENCH_WARMUP", 1.0),
        measure: env_secs("BENCH_SECONDS", 10.0),
        connections: std::env::var("BENCH_CONNECTIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(64),
    };
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let pause = env_secs("BENCH_PAUSE", 0.0);
    let load_before = loadavg();
    let date = jiff::Timestamp::now()
        .strftime("%Y-%m-%d %H:%M UTC")
        .to_string();

    let dir = tempfile::tempdir()?;
    let instances: usize = std::env::var("BENCH_INSTANCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n >= 1)
        .unwrap_or(1);
    let pg = std::env::var("BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .map(|url| pg::Schema::fresh(&url, "bench"))
        .transpose()?;
    let db_url = match &pg {
        Some(schema) => schema.url.clone(),
        None => format!("sqlite://{}", dir.path().join("hubhook.db").display()),
    };
    let backend = if pg.is_some() { "PostgreSQL" } else { "SQLite" };
    if instances > 1 && pg.is_none() {
        return Err("BENCH_INSTANCES > 1 needs BENCH_DATABASE_URL=postgres://…".into());
    }
    let hotel = cli_json(
        &db_url,
        dir.path(),
        &["hotel", "create", "--name", "Bench", "--id", HOTEL],
    )?;
    let field = |k: &str| -> Result<String, BoxError> {
        hotel[k]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("hotel create: no {k}").into())
    };
    let creds = Creds {
        hotel: field("hotelId")?,
        access: field("accessToken")?,
        password: field("passwordToken")?,
    };
    cli_json(&db_url, dir.path(), &["rooms", "add", HOTEL, "101"])?;
    // Every order here is a new request: repeated requests are not merged (docs/benchmarks.md).
    cli_json(
        &db_url,
        dir.path(),
        &["hotel", "set", HOTEL, "--merge-window", "0"],
    )?;
    let next = Rc::new(Cell::new(1u64));
    let body_len = body_len();

    eprintln!(
        "ingest bench: {} connections, {:?} warm-up + {:?} measured per run, body {body_len} bytes",
        s.connections, s.warmup, s.measure
    );
    let mut rows = Vec::new();

    if only.is_empty() || only == "baseline" {
        let addr = free_addr()?;
        let mut server = Server {
            name: "baseline",
            child: Command::new(std::env::current_exe()?)
                .env(BASELINE_ENV, addr.to_string())
                .stdin(Stdio::piped())
                .spawn()?,
            addr,
        };
        wait_listening(&mut server)?;
        std::thread::sleep(Duration::from_millis(300));
        let idle = proc_status_kb(server.pid(), "VmRSS:");
        eprintln!(
            "baseline (pid {}): {} connections…",
            server.pid(),
            s.connections
        );
        let r = load(&[&server], &creds, s.connections, &s, &next);
        let peak = proc_status_kb(server.pid(), "VmHWM:");
        rows.push(Row {
            name: "bare axum (parse only)".into(),
            conns: s.connections,
            r,
            idle_kb: idle,
            peak_kb: peak,
        });
        eprintln!("baseline: 1 connection…");
        let r = load(&[&server], &creds, 1, &s, &next);
        rows.push(Row {
            name: "bare axum (parse only)".into(),
            conns: 1,
            r,
            idle_kb: None,
            peak_kb: None,
        });
        server.kill();
    }

    let mut durable = None;
    let mut batching: Option<(f64, f64)> = None;
    if only.is_empty() || only == "hubhook" {
        let mut servers = Vec::new();
        for n in 0..instances {
            let addr = free_addr()?;
            let log = std::fs::File::create(dir.path().join(format!("serve-{n}.log")))?;
            let mut server = Server {
                name: "hubhook",
                child: hubhook_cmd(&db_url, dir.path())
                    .args(["serve", "--listen", &addr.to_string()])
                    .envs(limits_off())
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()?,
                addr,
            };
            wait_listening(&mut server)?;
            servers.push(server);
        }
        std::thread::sleep(Duration::from_millis(300));
        let idle = proc_status_kb(servers[0].pid(), "VmRSS:");
        if !pause.is_zero() {
            eprintln!("hubhook pid {}: pausing {pause:?}", servers[0].pid());
            std::thread::sleep(pause);
        }
        let name = match (backend, instances) {
            ("SQLite", _) => "hubhook (durable ingest)".to_owned(),
            (b, 1) => format!("hubhook (durable ingest, {b})"),
            (b, n) => format!("hubhook (durable ingest, {b}, {n} instances)"),
        };
        let pids: Vec<u32> = servers.iter().map(Server::pid).collect();
        eprintln!("hubhook (pids {pids:?}): {} connections…", s.connections);
        let all: Vec<&Server> = servers.iter().collect();
        let w0 = writer_stats(servers[0].addr);
        let r = load(&all, &creds, s.connections, &s, &next);
        let peak = proc_status_kb(servers[0].pid(), "VmHWM:");
        let w1 = writer_stats(servers[0].addr);
        if let (Some((b0, j0)), Some((b1, j1))) = (w0, w1)
            && b1 > b0
        {
            batching = Some((b1 - b0, (j1 - j0) / (b1 - b0).max(1.0)));
        }
        let mut created = r.all_created;
        rows.push(Row {
            name: name.clone(),
            conns: s.connections,
            r,
            idle_kb: idle,
            peak_kb: peak,
        });
        eprintln!("hubhook: 1 connection…");
        let r = load(&all[..1], &creds, 1, &s, &next);
        created += r.all_created;
        rows.push(Row {
            name,
            conns: 1,
            r,
            idle_kb: None,
            peak_kb: None,
        });
        // SIGKILL, no graceful shutdown: every 201 must already be on disk.
        for server in &mut servers {
            server.kill();
        }
        let tasks = match &pg {
            Some(schema) => schema.count_tasks()?,
            None => {
                let conn = rusqlite::Connection::open(dir.path().join("hubhook.db"))?;
                let tasks: i64 = conn.query_row("SELECT count(*) FROM tasks", [], |r| r.get(0))?;
                tasks as u64
            }
        };
        durable = Some((created, tasks));
    }

    println!();
    println!("Machine: {} × {}", nproc(), cpu_model());
    println!(
        "Date: {date}; load average before the run: {load_before}, after: {}",
        loadavg()
    );
    let pg_env = match &pg {
        Some(_) => format!("BENCH_DATABASE_URL=postgres://… BENCH_INSTANCES={instances} "),
        None => String::new(),
    };
    println!(
        "Command: `{pg_env}BENCH_SECONDS={} cargo bench -p hubhook --bench ingest` ({:?} warm-up, body {body_len} bytes, \
         one unique orderCreated per request; database: {backend})",
        s.measure.as_secs_f64(),
        s.warmup
    );
    println!();
    println!(
        "| server | conns | req/s | p50 ms | p90 ms | p99 ms | max ms | non-201 | server CPU µs/req | idle RSS MB | peak RSS MB | load-gen CPU |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in &rows {
        print_row(row);
    }
    println!();
    let find = |name: &str, conns: usize| {
        rows.iter()
            .find(|r| r.name.starts_with(name) && r.conns == conns)
    };
    if let (Some(b), Some(h)) = (find("bare", s.connections), find("hubhook", s.connections)) {
        println!(
            "Throughput ratio hubhook / bare axum: {:.1}% (target ≥ 20%)",
            100.0 * h.r.rps() / b.r.rps()
        );
    }
    if let Some(h) = find("hubhook", s.connections) {
        println!(
            "hubhook p99 at saturation: {} ms (target < 10 ms); idle RSS: {} MB (target < 20 MB)",
            ms(h.r.p99),
            mb(h.idle_kb)
        );
    }
    for row in rows.iter().filter(|r| r.name.starts_with("hubhook")) {
        if let Some((bytes, calls)) = row.r.io_per_req {
            println!(
                "hubhook at {} connection(s): {:.1} KiB in {calls:.1} write calls per request \
                 (/proc/<pid>/io wchar, syscw: database files and sockets)",
                row.conns,
                bytes / 1024.0
            );
        }
    }
    for row in rows.iter().filter(|r| r.name.starts_with("hubhook")) {
        if let (Some(db), true) = (row.r.db_cpu_us_per_req, pg.is_some()) {
            println!(
                "PostgreSQL's processes at {} connection(s): {db:.0} µs CPU per request \
                 (every postgres process on this machine)",
                row.conns
            );
        }
    }
    if let Some((batches, per)) = batching {
        println!(
            "hubhook's writer at {} connections: {batches:.0} group commits (warm-up included), \
             {per:.1} requests per commit on average",
            s.connections
        );
    }
    if pg.is_none() && (only.is_empty() || only == "hubhook") {
        let wal = std::fs::metadata(dir.path().join("hubhook.db-wal")).map_or(0, |m| m.len());
        let log = std::fs::read_to_string(dir.path().join("serve-0.log")).unwrap_or_default();
        println!(
            "SQLite WAL file at the end: {:.1} MiB; WAL restarts under sustained load: {}",
            wal as f64 / (1024.0 * 1024.0),
            log.matches("WAL restarted").count()
        );
    }
    if let Some((created, tasks)) = durable {
        println!(
            "Durability check: {created} answers 201 (warm-up included), {tasks} task rows in the \
             database after SIGKILL{}",
            if created == tasks {
                " (equal)"
            } else {
                " (MISMATCH)"
            }
        );
        if created != tasks {
            return Err("acknowledged tasks missing from the database".into());
        }
    }
    let failed: Vec<_> = rows
        .iter()
        .filter(|r| r.r.other > 0 || r.r.requests == 0)
        .collect();
    for r in &failed {
        eprintln!(
            "{} ({} conns): {} non-201 answers, first: {}",
            r.name,
            r.conns,
            r.r.other,
            r.r.first_error.as_deref().unwrap_or("no request completed")
        );
    }
    if !failed.is_empty() {
        return Err("some requests were not answered 201".into());
    }
    Ok(())
}

fn nproc() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
