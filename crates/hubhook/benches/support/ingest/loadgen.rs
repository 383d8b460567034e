//! The ingest bench's load generator: one thread, N keep-alive HTTP/1.1 connections over raw TCP,
//! each sending unique `orderCreated` deliveries one after another.

use std::{
    cell::Cell,
    io::Write as _,
    net::SocketAddr,
    rc::Rc,
    time::{Duration, Instant},
};

use tokio::net::TcpStream;

use crate::{
    procs::{Server, postgres_cpu_ticks, proc_cpu_ticks, proc_io},
    support::http1::{read_response, write_all},
};

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

/// The length of every request's body.
pub fn body_len() -> usize {
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

/// The hotel's id and tokens, sent in every request's headers.
pub struct Creds {
    pub hotel: String,
    pub access: String,
    pub password: String,
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

/// What one run measured.
pub struct LoadResult {
    pub requests: u64,
    pub other: u64,
    pub all_created: u64,
    pub first_error: Option<String>,
    pub seconds: f64,
    pub p50: u32,
    pub p90: u32,
    pub p99: u32,
    pub max: u32,
    pub cpu_us_per_req: Option<f64>,
    /// The load generator's own CPU use over the window, in % of one core.
    pub client_cpu_pct: Option<f64>,
    /// CPU of every `postgres` process on this machine per request (any database's, so only
    /// meaningful on a database server that serves the bench alone).
    pub db_cpu_us_per_req: Option<f64>,
    /// The server's bytes written and write calls per request (files and sockets alike).
    pub io_per_req: Option<(f64, f64)>,
}

impl LoadResult {
    /// Requests a second over the measured window.
    pub fn rps(&self) -> f64 {
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

/// The warm-up and measured durations, and the connections of the saturated runs.
pub struct Settings {
    pub warmup: Duration,
    pub measure: Duration,
    pub connections: usize,
}

/// Runs the load against `server`; the order numbers continue from `next` (unique across runs).
pub fn load(
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
