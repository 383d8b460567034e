//! The escalation checker with many hotels and open tasks: `cargo bench -p hubhook --bench
//! escalation`.
//!
//! Seeds a fresh SQLite file with N hotels and M open tasks spread over them (direct SQL, as
//! `scale.rs` does), each with an escalation deadline hours ahead, then a trickle of tasks whose
//! deadlines fall, R a second, in a window that starts once the server has been quiet for a while.
//! It first times, on the seeded file, the checker's query when nothing is due against a count of
//! the open tasks (what a scan per tick would at least read); then starts the real `hubhook serve`
//! and reads the process's CPU time (`/proc/PID/stat`) over the quiet phase (nothing due: the cost of
//! a tick) and over the trickle (the cost of escalating); stops it and reads, for every trickle task,
//! the time its escalation was written (its history line, in the transaction that queued
//! `task.escalated`) minus its deadline. Prints a Markdown table for `docs/benchmarks.md`.
//!
//! Settings (environment): `ESC_HOTELS` (default 10000), `ESC_TASKS` (default 1000000), `ESC_RATE`
//! (deadlines a second in the trickle, default 20), `BENCH_SECONDS` (seconds per phase, default 20).

use std::{
    io::{Read, Write},
    path::Path,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use jiff::{SignedDuration, Timestamp};

#[path = "support/mod.rs"]
mod support;
use support::{cli_json, hubhook_cmd, loadavg};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The hotels' escalate-after (the default): a trickle task's deadline is its creation plus this.
const ESCALATE_AFTER: i64 = 600;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn fmt(ts: Timestamp) -> String {
    format!("{ts:.3}")
}

fn main() {
    if let Err(e) = run() {
        eprintln!("escalation bench failed: {e}");
        std::process::exit(1);
    }
}

/// N-1 more hotels and M open tasks (deadlines 1 to 11 hours ahead), in one transaction.
fn seed(path: &Path, hotels: u64, tasks: u64) -> Result<(), BoxError> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    let tx = conn.transaction()?;
    tx.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO hotels (id, name, timezone, access_hash, password_hash, created_at)
         SELECT 'hotel-' || i, 'hotel-' || i, 'Europe/Lisbon', zeroblob(32), zeroblob(32),
                '2025-01-01T00:00:00.000Z' FROM n",
        [hotels.saturating_sub(1)],
    )?;
    let now = Timestamp::now();
    let base = now.as_millisecond();
    // created_at and due_at follow from the deadline; strftime builds the fixed-width text.
    tx.execute(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?2)
         INSERT INTO tasks (id, hotel_id, order_key, item_key, order_id, external_id, task_name,
             room, quantity, status, department, created_at, updated_at, due_at, escalate_at)
         SELECT 'seed-' || i, CASE WHEN i % ?3 = 0 THEN 'hotel-a' ELSE 'hotel-' || (i % ?3) END,
                'o-' || i, '0', 'o-' || i, '4', 'Serve towels', '101', 1, 'open', 'Housekeeping',
                c, c, d, e
         FROM (SELECT i,
                      strftime('%Y-%m-%dT%H:%M:%fZ', (?1 + 3600000 + i * 36000000 / ?2
                          - 600000) / 1000.0, 'unixepoch') AS c,
                      strftime('%Y-%m-%dT%H:%M:%fZ', (?1 + 3600000 + i * 36000000 / ?2
                          + 600000) / 1000.0, 'unixepoch') AS d,
                      strftime('%Y-%m-%dT%H:%M:%fZ', (?1 + 3600000 + i * 36000000 / ?2)
                          / 1000.0, 'unixepoch') AS e
               FROM n)",
        rusqlite::params![base, tasks as i64, hotels as i64],
    )?;
    tx.commit()?;
    Ok(())
}

/// The trickle: `rate` deadlines a second for `secs` seconds from `start`, over every hotel; returns
/// each task's deadline.
fn trickle(
    path: &Path,
    hotels: u64,
    rate: u64,
    secs: u64,
    start: Timestamp,
) -> Result<Vec<(String, Timestamp)>, BoxError> {
    let mut conn = rusqlite::Connection::open(path)?;
    let tx = conn.transaction()?;
    let mut out = Vec::new();
    {
        let mut insert = tx.prepare(
            "INSERT INTO tasks (id, hotel_id, order_key, item_key, order_id, external_id,
                 task_name, room, quantity, status, department, created_at, updated_at, due_at,
                 escalate_at)
             VALUES (?1, ?2, ?1, '0', ?1, '4', 'Serve towels', '101', 1, 'open', 'Housekeeping',
                 ?3, ?3, ?4, ?5)",
        )?;
        for k in 0..rate * secs {
            let deadline = start.checked_add(SignedDuration::from_micros(
                (k * 1_000_000 / rate.max(1)) as i64,
            ))?;
            let created = deadline.checked_sub(SignedDuration::from_secs(ESCALATE_AFTER))?;
            let due = deadline.checked_add(SignedDuration::from_mins(10))?;
            let id = format!("trickle-{k}");
            let hotel = match (k * 7919) % hotels {
                0 => "hotel-a".to_owned(),
                h => format!("hotel-{h}"),
            };
            insert.execute(rusqlite::params![
                id,
                hotel,
                fmt(created),
                fmt(due),
                fmt(deadline)
            ])?;
            out.push((id, deadline));
        }
    }
    tx.commit()?;
    Ok(out)
}

/// The median time of `sql` over `n` runs, in milliseconds.
fn time_query(
    conn: &rusqlite::Connection,
    sql: &str,
    now: &str,
    n: usize,
) -> Result<f64, BoxError> {
    let mut times = Vec::new();
    for _ in 0..n {
        let started = Instant::now();
        let mut stmt = conn.prepare_cached(sql)?;
        let mut rows = stmt.query([now])?;
        while rows.next()?.is_some() {}
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// User plus system CPU time of `pid`, in milliseconds.
fn cpu_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks * 1000.0 / hz)
}

fn ready(port: u16) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).is_ok() && buf.ends_with(b"200")
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sleep_until(at: Timestamp) {
    let left = at.duration_since(Timestamp::now());
    if let Ok(d) = Duration::try_from(left) {
        std::thread::sleep(d);
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn run() -> Result<(), BoxError> {
    let hotels = env_u64("ESC_HOTELS", 10_000).max(1);
    let tasks = env_u64("ESC_TASKS", 1_000_000).max(1);
    let rate = env_u64("ESC_RATE", 20).max(1);
    let secs = env_u64("BENCH_SECONDS", 20).max(5);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("esc.db");
    let db = format!("sqlite://{}", path.display());
    cli_json(
        &db,
        dir.path(),
        &["hotel", "create", "--name", "A", "--id", "hotel-a"],
    )?;
    let started = Instant::now();
    seed(&path, hotels, tasks)?;
    let seeded = started.elapsed();
    eprintln!("seeded {hotels} hotels and {tasks} open tasks in {seeded:.1?}");

    let (probe, scan) = {
        let conn = rusqlite::Connection::open(&path)?;
        let now = fmt(Timestamp::now());
        let probe = time_query(
            &conn,
            "SELECT seq FROM tasks WHERE escalate_at IS NOT NULL AND escalate_at <= ?1
             ORDER BY escalate_at LIMIT 500",
            &now,
            50,
        )?;
        let scan = time_query(
            &conn,
            "SELECT count(*) FROM tasks WHERE status = 'open' AND created_at <= ?1",
            &now,
            5,
        )?;
        (probe, scan)
    };

    // Quiet for `secs` once the server is up, then the trickle's deadlines for `secs`.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let quiet_from = Timestamp::now().checked_add(SignedDuration::from_secs(8))?;
    let trickle_from = quiet_from.checked_add(SignedDuration::from_secs(secs as i64 + 1))?;
    let due = trickle(&path, hotels, rate, secs, trickle_from)?;
    let server = Server(
        hubhook_cmd(&db, dir.path())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let pid = server.0.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready(port) {
        if Instant::now() > deadline {
            return Err("the server never became ready".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if Timestamp::now() > quiet_from {
        return Err("the server took longer than 8 s to start: raise the lead time".into());
    }
    sleep_until(quiet_from);
    let cpu0 = cpu_ms(pid).ok_or("no /proc stat")?;
    let quiet_to = quiet_from.checked_add(SignedDuration::from_secs(secs as i64))?;
    sleep_until(quiet_to);
    let cpu1 = cpu_ms(pid).ok_or("no /proc stat")?;
    let load_quiet = loadavg();
    sleep_until(trickle_from);
    let cpu2 = cpu_ms(pid).ok_or("no /proc stat")?;
    let end = trickle_from.checked_add(SignedDuration::from_secs(secs as i64 + 3))?;
    sleep_until(end);
    let cpu3 = cpu_ms(pid).ok_or("no /proc stat")?;
    let load_trickle = loadavg();
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    let mut server = server;
    let _ = server.0.wait();

    let conn = rusqlite::Connection::open(&path)?;
    let mut delays = Vec::new();
    let mut wrong = 0u64;
    {
        let mut stmt = conn.prepare(
            "SELECT e.task_id, e.at FROM task_events e WHERE e.actor = 'hubhook'
             AND e.note LIKE 'escalated:%'",
        )?;
        let mut rows = stmt.query([])?;
        let deadlines: std::collections::HashMap<&str, Timestamp> =
            due.iter().map(|(id, at)| (id.as_str(), *at)).collect();
        while let Some(r) = rows.next()? {
            let id: String = r.get(0)?;
            let at: Timestamp = r.get::<_, String>(1)?.parse()?;
            match deadlines.get(id.as_str()) {
                Some(d) => delays.push(at.duration_since(*d).as_secs_f64() * 1000.0),
                None => wrong += 1,
            }
        }
    }
    delays.sort_by(f64::total_cmp);
    let quiet_per_tick = (cpu1 - cpu0) / secs as f64;
    let trickle_ms = cpu3 - cpu2;
    let trickle_per_tick = trickle_ms / (secs + 3) as f64;
    let per_escalation =
        (trickle_ms - quiet_per_tick * (secs + 3) as f64) / delays.len().max(1) as f64;

    println!();
    println!(
        "hotels: {hotels}, open tasks: {tasks} (+{} in the trickle, {rate}/s), {secs} s a phase; \
         seeded in {:.1} s",
        due.len(),
        seeded.as_secs_f64()
    );
    println!("load average: quiet {load_quiet}; trickle {load_trickle}");
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!("| the checker's query, nothing due (median of 50) | {probe:.3} ms |");
    println!("| a count of the open tasks, for comparison (median of 5) | {scan:.1} ms |");
    println!(
        "| server CPU per second, nothing due (a tick and the idle server) | {quiet_per_tick:.2} ms |"
    );
    println!("| server CPU per second, {rate} escalations a second | {trickle_per_tick:.2} ms |");
    println!("| server CPU per escalation (above the quiet rate) | {per_escalation:.2} ms |");
    println!(
        "| escalated / expected, others escalated | {} / {}, {wrong} |",
        delays.len(),
        due.len()
    );
    println!(
        "| deadline to escalation written: p50 / p99 / max | {:.0} / {:.0} / {:.0} ms |",
        pct(&delays, 0.5),
        pct(&delays, 0.99),
        delays.last().copied().unwrap_or(f64::NAN)
    );
    Ok(())
}
