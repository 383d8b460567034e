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
    process::{Command, Stdio},
    rc::Rc,
    time::Duration,
};

#[path = "support/mod.rs"]
mod support;
use support::{cli_json, hubhook_cmd, limits_off, loadavg, pg};
#[path = "support/ingest/baseline.rs"]
mod baseline;
#[path = "support/ingest/loadgen.rs"]
mod loadgen;
use loadgen::{Creds, LoadResult, Settings, body_len, load};
#[path = "support/ingest/procs.rs"]
mod procs;
use procs::{Server, cpu_model, free_addr, proc_status_kb, wait_listening, writer_stats};

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

type BoxError = Box<dyn std::error::Error + Send + Sync>;

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
