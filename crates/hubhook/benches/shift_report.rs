//! The shift report over a hotel with a million tasks: `cargo bench -p hubhook --bench
//! shift_report` (SQLite), or with `BENCH_DATABASE_URL=postgres://…` on PostgreSQL (a fresh
//! schema, dropped at the end).
//!
//! Makes the hotel with the real binary's CLI, then seeds (direct SQL, as `escalation.rs` does) its
//! `REPORT_TASKS` tasks (default 1,000,000) spread evenly over the `REPORT_DAYS` days (default 365)
//! up to now, each with its history: made; four in five accepted 1 to 7 minutes later; three in
//! four of those done 5 to 57 minutes after they were made; one in twenty cancelled after 3
//! minutes; one in ten escalated after 10; five services in four departments. Another
//! `REPORT_OTHER_TASKS` (default 100,000) belong to 100 other hotels. Then starts the real
//! `hubhook serve` and times `GET /api/v1/reports/shift` for the last 8 hours and the last 31 days
//! (JSON, then CSV), `REPORT_RUNS` times each (default 20) after two warm-ups, one request at a
//! time on one keep-alive connection. Prints a Markdown table for `docs/benchmarks.md`.
//! `REPORT_KEEP=1` keeps the database (file or schema) afterwards, to look at the plans.

use std::{
    path::Path,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use jiff::{SignedDuration, Timestamp};

#[path = "support/mod.rs"]
mod support;
use support::{cli_json, hubhook_cmd, loadavg};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The seed's shape, the same on both backends.
struct Seed {
    tasks: u64,
    other: u64,
    /// The first task's creation, in milliseconds since the epoch.
    start_ms: i64,
    /// The span the tasks are spread over, in milliseconds.
    span_ms: i64,
}

/// The services the seed cycles through: (external ID, name, department).
const SERVICES: [(&str, &str, &str); 5] = [
    ("4", "Serve towels", "Housekeeping"),
    ("6", "Serve pillows", "Housekeeping"),
    ("22", "Luggage", "Front Office"),
    ("16", "Room service tray", "Food & Beverage"),
    ("11", "Taps purge", "Maintenance"),
];

/// `CASE i % 5 WHEN 0 THEN … END` for column `col` of [`SERVICES`].
fn service_case(col: usize) -> String {
    let arms: Vec<String> = SERVICES
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let v = [s.0, s.1, s.2][col];
            format!("WHEN {k} THEN '{v}'")
        })
        .collect();
    format!("CASE i % 5 {} END", arms.join(" "))
}

/// The seed's statements; `ts(expr)` renders a millisecond count as stored text, `seq(n)` is a
/// table of 0..n called `n(i)`.
fn seed_sql(s: &Seed, ts: impl Fn(&str) -> String, seq: impl Fn(&str) -> String) -> Vec<String> {
    let at = |mins: &str| ts(&format!("(ms + ({mins}) * 60000)"));
    let (ext, name, dept) = (service_case(0), service_case(1), service_case(2));
    let status = "CASE WHEN i % 20 = 0 THEN 'cancelled' WHEN i % 20 <= 15 THEN 'done' \
                  WHEN i % 20 <= 17 THEN 'accepted' ELSE 'open' END";
    vec![
        format!(
            "CREATE TEMPORARY TABLE seed AS SELECT i, {} + i * {} / {} AS ms FROM {}",
            s.start_ms,
            s.span_ms,
            s.tasks,
            seq(&s.tasks.to_string())
        ),
        format!(
            "INSERT INTO tasks (id, hotel_id, order_key, item_key, order_id, external_id,
                 task_name, room, quantity, status, department, created_at, updated_at,
                 escalations)
             SELECT 'seed-' || i, 'bench', 'o-' || i, '0', 'o-' || i, {ext}, {name}, '101', 1,
                    {status}, {dept}, {c}, {c}, CASE WHEN i % 10 = 9 THEN 1 ELSE 0 END
             FROM seed",
            c = at("0")
        ),
        format!(
            "INSERT INTO task_events (task_id, at, actor, from_status, to_status, note)
             SELECT 'seed-' || i, {}, 'duve', NULL, 'open', NULL FROM seed",
            at("0")
        ),
        format!(
            "INSERT INTO task_events (task_id, at, actor, from_status, to_status, note)
             SELECT 'seed-' || i, {}, 'user:staff@bench.test', 'open', 'accepted', NULL
             FROM seed WHERE i % 20 BETWEEN 1 AND 17",
            at("i % 7 + 1")
        ),
        format!(
            "INSERT INTO task_events (task_id, at, actor, from_status, to_status, note)
             SELECT 'seed-' || i, {}, 'user:staff@bench.test', 'accepted', 'done', NULL
             FROM seed WHERE i % 20 BETWEEN 1 AND 15",
            at("i % 53 + 5")
        ),
        format!(
            "INSERT INTO task_events (task_id, at, actor, from_status, to_status, note)
             SELECT 'seed-' || i, {}, 'duve', 'open', 'cancelled', 'order cancelled in Duve'
             FROM seed WHERE i % 20 = 0",
            at("3")
        ),
        format!(
            "INSERT INTO task_events (task_id, at, actor, from_status, to_status, note)
             SELECT 'seed-' || i, {}, 'hubhook', 'open', 'open',
                    'escalated: not accepted within 10m'
             FROM seed WHERE i % 10 = 9",
            at("10")
        ),
        // Other hotels' tasks, over the same span.
        format!(
            "INSERT INTO tasks (id, hotel_id, order_key, item_key, order_id, external_id,
                 task_name, room, quantity, status, department, created_at, updated_at)
             SELECT 'other-' || i, 'other-' || (i % 100), 'o-' || i, '0', 'o-' || i, '4',
                    'Serve towels', '101', 1, 'open', 'Housekeeping', {c}, {c}
             FROM (SELECT i, {} + i * {} / {} AS ms FROM {}) AS o",
            s.start_ms,
            s.span_ms,
            s.other.max(1),
            seq(&s.other.to_string()),
            c = at("0")
        ),
        "DROP TABLE seed".to_owned(),
    ]
}

fn seed_sqlite(path: &Path, s: &Seed) -> Result<(), BoxError> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    let tx = conn.transaction()?;
    let statements = seed_sql(
        s,
        |ms| format!("strftime('%Y-%m-%dT%H:%M:%fZ', {ms} / 1000.0, 'unixepoch')"),
        |n| {
            format!(
                "(WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {n})
                  SELECT i FROM n)"
            )
        },
    );
    for sql in statements {
        tx.execute_batch(&sql)?;
    }
    tx.commit()?;
    Ok(())
}

fn seed_postgres(url: &str, s: &Seed) -> Result<(), BoxError> {
    let statements = seed_sql(
        s,
        |ms| {
            format!(
                "to_char(to_timestamp(({ms})::float8 / 1000.0) AT TIME ZONE 'UTC',
                         'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
            )
        },
        |n| format!("generate_series(0, {n} - 1) AS n(i)"),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        for sql in statements {
            client.batch_execute(&sql).await?;
        }
        // As autovacuum would by the time such a history exists.
        client.batch_execute("ANALYZE tasks, task_events").await?;
        Ok::<_, BoxError>(())
    })
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// One window's timings: (label, tasks in it, p50, p90, max ms, body bytes) for JSON and CSV.
async fn time_window(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    from: Timestamp,
    to: Timestamp,
    runs: usize,
    csv: bool,
) -> Result<(u64, f64, f64, f64, usize), BoxError> {
    let url = format!("{base}/api/v1/reports/shift?from={from:.3}&to={to:.3}");
    let accept = if csv { "text/csv" } else { "application/json" };
    let mut times = Vec::new();
    let mut created = 0;
    let mut bytes = 0;
    for k in 0..runs + 2 {
        let started = Instant::now();
        let res = client
            .get(&url)
            .bearer_auth(key)
            .header("accept", accept)
            .send()
            .await?;
        let status = res.status();
        let body = res.bytes().await?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if !status.is_success() {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&body)).into());
        }
        bytes = body.len();
        if !csv {
            let v: serde_json::Value = serde_json::from_slice(&body)?;
            created = v["created"].as_u64().unwrap_or_default();
        }
        if k >= 2 {
            times.push(ms);
        }
    }
    times.sort_by(f64::total_cmp);
    Ok((
        created,
        pct(&times, 0.5),
        pct(&times, 0.9),
        times[times.len() - 1],
        bytes,
    ))
}

fn run() -> Result<(), BoxError> {
    let tasks = env_u64("REPORT_TASKS", 1_000_000);
    let days = env_u64("REPORT_DAYS", 365);
    let other = env_u64("REPORT_OTHER_TASKS", 100_000);
    let runs = env_u64("REPORT_RUNS", 20) as usize;
    let dir = tempfile::tempdir()?;
    let pg = std::env::var("BENCH_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"));
    let schema = pg
        .as_deref()
        .map(|admin| support::pg::Schema::fresh(admin, "report"))
        .transpose()?;
    let (db, backend) = match &schema {
        Some(s) => (s.url.clone(), "PostgreSQL"),
        None => (
            format!("sqlite://{}", dir.path().join("report.db").display()),
            "SQLite",
        ),
    };
    cli_json(
        &db,
        dir.path(),
        &[
            "hotel",
            "create",
            "--id",
            "bench",
            "--name",
            "Bench",
            "--timezone",
            "Europe/Lisbon",
        ],
    )?;
    let key = cli_json(
        &db,
        dir.path(),
        &["apikey", "create", "bench", "--role", "manager"],
    )?["apiKey"]
        .as_str()
        .ok_or("no API key")?
        .to_owned();
    let now = Timestamp::now();
    let span = SignedDuration::from_hours(24 * days as i64);
    let seed = Seed {
        tasks,
        other,
        start_ms: now.checked_sub(span)?.as_millisecond(),
        span_ms: span.as_millis() as i64,
    };
    eprintln!("seeding {tasks} tasks over {days} days ({backend}) ...");
    let seeded = Instant::now();
    match &schema {
        Some(s) => seed_postgres(&s.url, &seed)?,
        None => seed_sqlite(&dir.path().join("report.db"), &seed)?,
    }
    eprintln!("seeded in {:.0} s", seeded.elapsed().as_secs_f64());

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = hubhook_cmd(&db, dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let _server = Server(child);
    let base = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let rows = rt.block_on(async {
        let client = hubhook::http_client()
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(120))
            .build()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(format!("{base}/readyz")).send().await
                && r.status().is_success()
            {
                break;
            }
            if Instant::now() > deadline {
                return Err::<_, BoxError>("hubhook serve never became ready".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let to = Timestamp::now();
        let mut rows = Vec::new();
        for (label, hours) in [("last 8 hours", 8), ("last 31 days", 31 * 24)] {
            let from = to.checked_sub(SignedDuration::from_hours(hours))?;
            for csv in [false, true] {
                let t = time_window(&client, &base, &key, from, to, runs, csv).await?;
                rows.push((label, csv, t));
            }
        }
        Ok(rows)
    })?;

    println!(
        "\n{backend}, {tasks} tasks of one hotel over {days} days (+{other} of 100 other \
         hotels); {runs} runs per row after 2 warm-ups; load average before: {}\n",
        loadavg()
    );
    println!("| window | format | tasks in it | p50 ms | p90 ms | max ms | body bytes |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    let mut created = 0;
    for (label, csv, (n, p50, p90, max, bytes)) in rows {
        if !csv {
            created = n;
        }
        println!(
            "| {label} | {} | {created} | {p50:.1} | {p90:.1} | {max:.1} | {bytes} |",
            if csv { "CSV" } else { "JSON" }
        );
    }
    if std::env::var("REPORT_KEEP").is_ok_and(|v| v == "1") {
        // For a look at the plans afterwards (psql, sqlite3): the schema or file stays.
        match schema {
            Some(s) => {
                eprintln!("kept: {}", s.url);
                std::mem::forget(s);
            }
            None => eprintln!("kept: {}", dir.keep().join("report.db").display()),
        }
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("shift_report bench failed: {e}");
        std::process::exit(1);
    }
}
