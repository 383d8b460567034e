//! History benchmark: `cargo bench -p hubhook --bench history`.
//!
//! One hotel (A) with a long history of orders, another (B) with none, on the real `hubhook serve`
//! (a child process on a fresh SQLite file). Measures, in turn: B's new orders alone; A's new orders
//! alone; A's redeliveries of past orders (Duve's retries, each answered `200 duplicate`) alone; and
//! A's redeliveries and B's new orders at once. Targets (issue 16, CONTRACT.md section 8): a
//! redelivery no slower than a new order; while A's redeliveries flow, B keeps at least half its
//! throughput and its p99 within 3x. Prints a Markdown table for `docs/benchmarks.md`.
//!
//! The history is written straight into the SQLite file before the server starts (an order, its
//! task and the task's first event per past order, as the server writes them; the inbound log is not
//! seeded: nothing on the webhook path reads it), which takes seconds where a million webhooks would
//! take minutes.
//!
//! Settings (environment): `BENCH_HISTORY_ORDERS` (past orders of A, default 1,000,000),
//! `BENCH_SECONDS` (measured seconds per phase, default 5), `BENCH_WARMUP` (default 1),
//! `BENCH_CONNECTIONS` (per hotel, default 32), `BENCH_DROP_INDEX=1` (drops `tasks_by_order` after
//! seeding: the plan, and so the cost, of main before this index), `BENCH_HUBHOOK_BIN`.

use std::{
    cell::Cell,
    io::Write as _,
    net::SocketAddr,
    process::Stdio,
    rc::Rc,
    time::{Duration, Instant},
};

use tokio::net::TcpStream;

#[path = "support/mod.rs"]
mod support;
use support::{
    cli_json,
    http1::{read_response, write_all},
    hubhook_cmd, limits_off, loadavg,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() {
    if let Err(e) = run() {
        eprintln!("history bench failed: {e}");
        std::process::exit(1);
    }
}

struct Creds {
    hotel: String,
    access: String,
    password: String,
}

/// Which order numbers a group of connections sends.
#[derive(Clone, Copy)]
enum Orders {
    /// Unique new orders, counting up from a shared counter.
    New,
    /// Past orders 1..=n, picked pseudo-randomly (each a redelivery).
    Past(u64),
}

struct Group {
    creds: Creds,
    orders: Orders,
    connections: usize,
    /// The answer every request of the group should get.
    expect: u16,
}

#[derive(Default)]
struct Stats {
    latencies_us: Vec<u32>,
    other: u64,
    first_error: Option<String>,
}

fn body(n: u64) -> String {
    format!(
        r#"{{"accountId": "6368c35588d770ea9b0ae2e1", "event": "orderCreated", "resource": {{"id": "res{n:012}", "verifiedFirstName": "Bobby", "verifiedLastName": "Smith", "roomNumber": "101", "preferredLanguage": "en", "order": {{"id": "ord{n:012}", "status": 0, "chargeAmount": 0, "notes": "Two extra bath towels, please.", "products": [{{"name": "Towel service", "externalId": "4", "quantity": 2}}]}}}}}}"#
    )
}

fn request(addr: SocketAddr, c: &Creds, n: u64, out: &mut Vec<u8>) {
    let body = body(n);
    out.clear();
    let _ = write!(
        out,
        "POST /webhooks/duve HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         custom_hotel_id: {}\r\ncustom_access_token: {}\r\ncustom_password_token: {}\r\n\
         content-length: {}\r\n\r\n{body}",
        c.hotel,
        c.access,
        c.password,
        body.len()
    );
}

struct Window {
    measure_from: Instant,
    until: Instant,
}

async fn connection(
    addr: SocketAddr,
    group: Rc<Group>,
    next: Rc<Cell<u64>>,
    mut rng: u64,
    w: Rc<Window>,
) -> Stats {
    let mut stats = Stats::default();
    let stream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => {
            stats.first_error = Some(format!("connect: {e}"));
            return stats;
        }
    };
    let _ = stream.set_nodelay(true);
    let (mut out, mut inb) = (Vec::with_capacity(1024), Vec::with_capacity(4096));
    loop {
        let started = Instant::now();
        if started >= w.until {
            break;
        }
        let n = match group.orders {
            Orders::New => {
                let n = next.get();
                next.set(n + 1);
                n
            }
            Orders::Past(max) => {
                // xorshift64
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                1 + rng % max
            }
        };
        request(addr, &group.creds, n, &mut out);
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
        if started < w.measure_from || done > w.until {
            continue;
        }
        stats
            .latencies_us
            .push((done - started).as_micros().min(u32::MAX as u128) as u32);
        if status != group.expect {
            stats.other += 1;
            stats
                .first_error
                .get_or_insert_with(|| format!("status {status}, expected {}", group.expect));
        }
    }
    stats
}

struct Result_ {
    rps: f64,
    p50: u32,
    p99: u32,
    other: u64,
    first_error: Option<String>,
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Runs every group at once against `addr`; one result per group.
fn load(addr: SocketAddr, groups: Vec<Group>, next: &Rc<Cell<u64>>, s: &Settings) -> Vec<Result_> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let local = tokio::task::LocalSet::new();
    let start = Instant::now();
    let w = Rc::new(Window {
        measure_from: start + s.warmup,
        until: start + s.warmup + s.measure,
    });
    let groups: Vec<Rc<Group>> = groups.into_iter().map(Rc::new).collect();
    let per_group = local.block_on(&rt, async {
        let mut handles = Vec::new();
        for (g, group) in groups.iter().enumerate() {
            let hs: Vec<_> = (0..group.connections)
                .map(|i| {
                    let seed = 0x9E37_79B9_7F4A_7C15u64 ^ (((g as u64) << 32) | (i as u64 + 1));
                    tokio::task::spawn_local(connection(
                        addr,
                        group.clone(),
                        next.clone(),
                        seed,
                        w.clone(),
                    ))
                })
                .collect();
            handles.push(hs);
        }
        let mut out = Vec::new();
        for hs in handles {
            let mut all = Vec::new();
            for h in hs {
                all.push(h.await.expect("connection task"));
            }
            out.push(all);
        }
        out
    });
    per_group
        .into_iter()
        .map(|all| {
            let mut lat = Vec::new();
            let (mut other, mut first_error) = (0, None);
            for c in all {
                lat.extend(c.latencies_us);
                other += c.other;
                first_error = first_error.or(c.first_error);
            }
            lat.sort_unstable();
            Result_ {
                rps: lat.len() as f64 / s.measure.as_secs_f64(),
                p50: percentile(&lat, 0.50),
                p99: percentile(&lat, 0.99),
                other,
                first_error,
            }
        })
        .collect()
}

struct Settings {
    warmup: Duration,
    measure: Duration,
    connections: usize,
}

fn env_num(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse::<f64>().ok())
        .unwrap_or(default)
}

fn create_hotel(db_url: &str, dir: &std::path::Path, id: &str) -> Result<Creds, BoxError> {
    let h = cli_json(db_url, dir, &["hotel", "create", "--name", id, "--id", id])?;
    let field = |k: &str| -> Result<String, BoxError> {
        h[k].as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("hotel create: no {k}").into())
    };
    cli_json(db_url, dir, &["rooms", "add", id, "101"])?;
    // Every order here is a new request: repeated requests are not merged (docs/benchmarks.md).
    cli_json(db_url, dir, &["hotel", "set", id, "--merge-window", "0"])?;
    Ok(Creds {
        hotel: field("hotelId")?,
        access: field("accessToken")?,
        password: field("passwordToken")?,
    })
}

/// Writes `n` past orders of `hotel` (one task each, with its first event) into the SQLite file.
fn seed(path: &std::path::Path, hotel: &str, n: u64, drop_index: bool) -> Result<(), BoxError> {
    let conn = rusqlite::Connection::open(path)?;
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;")?;
    let sql = format!(
        "BEGIN;
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n})
         INSERT INTO tasks (id, hotel_id, order_key, item_key, order_id, reservation_id,
             external_id, task_name, room, guest_name, quantity, status, department, notes,
             language, created_at, updated_at)
         SELECT printf('tsk_seed%012d', i), '{hotel}', printf('ord%012d', i), '0:4',
                printf('ord%012d', i), printf('res%012d', i), '4', 'Serve towels', '101',
                'Bobby Smith', 2, CASE WHEN i % 10 = 0 THEN 'open' ELSE 'done' END,
                'Housekeeping', 'Two extra bath towels, please.', 'en',
                '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z'
         FROM s;
         INSERT INTO orders (hotel_id, order_key, order_id, reservation_id, state, created_at)
         SELECT hotel_id, order_key, order_id, reservation_id, 'created', created_at
         FROM tasks WHERE hotel_id = '{hotel}';
         INSERT INTO task_events (task_id, at, actor, from_status, to_status, note)
         SELECT id, created_at, 'duve', NULL, 'open', NULL FROM tasks WHERE hotel_id = '{hotel}';
         COMMIT;"
    );
    conn.execute_batch(&sql)?;
    if drop_index {
        conn.execute_batch("DROP INDEX tasks_by_order")?;
    }
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    Ok(())
}

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ms(us: u32) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

fn run() -> Result<(), BoxError> {
    let s = Settings {
        warmup: Duration::from_secs_f64(env_num("BENCH_WARMUP", 1.0)),
        measure: Duration::from_secs_f64(env_num("BENCH_SECONDS", 5.0)),
        connections: env_num("BENCH_CONNECTIONS", 32.0) as usize,
    };
    let history = env_num("BENCH_HISTORY_ORDERS", 1_000_000.0) as u64;
    let drop_index = std::env::var("BENCH_DROP_INDEX").is_ok_and(|v| v == "1");
    let load_before = loadavg();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("hubhook.db");
    let db_url = format!("sqlite://{}", path.display());
    let a = create_hotel(&db_url, dir.path(), "hist")?;
    let b = create_hotel(&db_url, dir.path(), "other")?;
    let started = Instant::now();
    seed(&path, "hist", history, drop_index)?;
    eprintln!(
        "history bench: {history} past orders seeded in {:.1} s{}",
        started.elapsed().as_secs_f64(),
        if drop_index {
            " (tasks_by_order dropped)"
        } else {
            ""
        }
    );

    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let log = std::fs::File::create(dir.path().join("serve.log"))?;
    let mut server = Server(
        hubhook_cmd(&db_url, dir.path())
            .args(["serve", "--listen", &addr.to_string()])
            .envs(limits_off())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?,
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(addr).is_err() {
        if let Some(st) = server.0.try_wait()? {
            return Err(format!("hubhook exited early: {st}").into());
        }
        if Instant::now() > deadline {
            return Err("hubhook did not listen".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // New orders are numbered past the history, so they are new for A and for B alike.
    let next = Rc::new(Cell::new(history + 1));
    let c = s.connections;
    let group = |creds: &Creds, orders, expect| Group {
        creds: Creds {
            hotel: creds.hotel.clone(),
            access: creds.access.clone(),
            password: creds.password.clone(),
        },
        orders,
        connections: c,
        expect,
    };
    let mut rows: Vec<(&str, Result_)> = Vec::new();
    eprintln!("B's new orders alone…");
    let mut r = load(addr, vec![group(&b, Orders::New, 201)], &next, &s);
    rows.push(("B: new orders, alone", r.remove(0)));
    eprintln!("A's new orders alone…");
    let mut r = load(addr, vec![group(&a, Orders::New, 201)], &next, &s);
    rows.push(("A: new orders, alone", r.remove(0)));
    eprintln!("A's redeliveries alone…");
    let mut r = load(addr, vec![group(&a, Orders::Past(history), 200)], &next, &s);
    rows.push(("A: redeliveries of past orders, alone", r.remove(0)));
    eprintln!("A's redeliveries with B's new orders…");
    let mut r = load(
        addr,
        vec![
            group(&a, Orders::Past(history), 200),
            group(&b, Orders::New, 201),
        ],
        &next,
        &s,
    );
    let b_mixed = r.remove(1);
    rows.push(("A: redeliveries, while B sends new orders", r.remove(0)));
    rows.push(("B: new orders, while A's redeliveries flow", b_mixed));
    drop(server);

    println!(
        "\n{} past orders of A{}; {c} connections per hotel; {:?} warm-up + {:?} measured per \
         phase; load average before: {load_before}\n",
        history,
        if drop_index {
            ", `tasks_by_order` dropped (main's plan)"
        } else {
            ""
        },
        s.warmup,
        s.measure
    );
    println!("| phase | req/s | p50 ms | p99 ms | unexpected answers |");
    println!("|---|---|---|---|---|");
    for (name, r) in &rows {
        println!(
            "| {name} | {:.0} | {} | {} | {} |",
            r.rps,
            ms(r.p50),
            ms(r.p99),
            r.other
        );
        if let Some(e) = &r.first_error {
            eprintln!("{name}: first unexpected answer: {e}");
        }
    }
    let (b_alone, b_mixed) = (&rows[0].1, &rows[4].1);
    let (a_new, a_dup) = (&rows[1].1, &rows[2].1);
    println!(
        "\nredelivery vs new order (A alone): {:.2}x the throughput, p99 {} vs {} ms; B while A's \
         redeliveries flow: {:.0}% of its throughput, p99 {:.1}x",
        a_dup.rps / a_new.rps.max(1.0),
        ms(a_dup.p99),
        ms(a_new.p99),
        100.0 * b_mixed.rps / b_alone.rps.max(1.0),
        b_mixed.p99 as f64 / b_alone.p99.max(1) as f64
    );
    Ok(())
}
