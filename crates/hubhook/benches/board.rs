//! The board with a long backlog: `cargo bench -p hubhook --bench board` (SQLite), or with
//! `BENCH_DATABASE_URL=postgres://…` (a schema of its own, dropped at the end).
//!
//! Seeds one hotel with `BOARD_OPEN` tasks on the board (default 100,000: 90% open, 5% accepted,
//! 4% in progress, 1% requests for later; a tenth escalated, a twentieth assigned to the bench's
//! user, spread over five departments and 300 rooms on 10 floors, created over the last ten days)
//! plus 2,000 finished in the last two hours and as many finished long ago as are on the board
//! (the history the board must not read). Then starts the real `hubhook serve`, signs in as a
//! staff user and fetches each page `BENCH_REQUESTS` times (default 200) one after another on one
//! keep-alive connection, after 20 to warm up: the page's size, the time from the request to the
//! last byte of the answer (p50, p99) and the server's CPU time per request (`/proc/PID/stat`).
//! `BENCH_PAGES=dashboard,room` measures only the pages whose label contains one of the words.
//! Prints a Markdown table for `docs/benchmarks.md`.
//!
//! The finished tasks carry `done_at` as the server writes it: the dashboard's time to done reads
//! the 1,800 of them done in the last two hours, and none of those done long ago.

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::Path,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use jiff::{SignedDuration, Timestamp};

#[path = "support/mod.rs"]
mod support;
use support::{cli_json, hubhook_cmd, loadavg, pg::Schema};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const HOTEL: &str = "bench";
const EMAIL: &str = "ana@bench.test";
const PASSWORD: &str = "a long bench passphrase";
const DEPARTMENTS: [&str; 5] = [
    "Housekeeping",
    "Maintenance",
    "Food & Beverage",
    "Front Office",
    "Security",
];

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
        eprintln!("board bench failed: {e}");
        std::process::exit(1);
    }
}

/// One seeded task's columns.
struct Row {
    id: String,
    status: &'static str,
    room: String,
    department: &'static str,
    created: String,
    updated: String,
    due: String,
    requested: Option<String>,
    later_until: Option<String>,
    priority: &'static str,
    escalations: i64,
    assignee: Option<String>,
    /// When it moved to done (`tasks.done_at`), for a done task.
    done: Option<String>,
}

/// The seeded tasks: `open` on the board, then the recently and the long finished.
fn rows(open: u64, user_id: &str) -> Result<Vec<Row>, BoxError> {
    let now = Timestamp::now();
    let ten_days = 10 * 86_400_000i64;
    let mut out = Vec::with_capacity(open as usize * 2 + 2000);
    let at = |ms_ago: i64| now.checked_sub(SignedDuration::from_millis(ms_ago));
    for i in 0..open {
        let created = at(ten_days - (i as i64 * ten_days / open as i64))?;
        let (status, requested, later) = match i % 100 {
            0..90 => ("open", None, None),
            90..95 => ("accepted", None, None),
            95..99 => ("in_progress", None, None),
            _ => {
                // A request for three hours from now, made now: under Later.
                let r = now.checked_add(SignedDuration::from_hours(3))?;
                let l = r.checked_sub(SignedDuration::from_mins(30))?;
                ("open", Some(fmt(r)), Some(fmt(l)))
            }
        };
        let created = if requested.is_some() { now } else { created };
        let due = match &requested {
            Some(r) => r.clone(),
            None => fmt(created.checked_add(SignedDuration::from_mins(20))?),
        };
        let escalated = i % 10 == 0;
        out.push(Row {
            id: format!("seed-open-{i}"),
            status,
            room: (100 + i % 300).to_string(),
            department: DEPARTMENTS[(i % 5) as usize],
            created: fmt(created),
            updated: fmt(created),
            due,
            requested,
            later_until: later,
            priority: if escalated { "high" } else { "normal" },
            escalations: if escalated { 1 } else { 0 },
            assignee: (i % 20 == 0).then(|| user_id.to_owned()),
            done: None,
        });
    }
    for i in 0..(2000 + open) {
        let recent = i < 2000;
        let finished = match recent {
            true => at(i as i64 * 3_000)?,
            false => at(ten_days + i as i64 * 60_000)?,
        };
        let created = finished.checked_sub(SignedDuration::from_mins(30))?;
        let done = i % 10 != 0;
        out.push(Row {
            id: format!("seed-done-{i}"),
            status: if done { "done" } else { "cancelled" },
            room: (100 + i % 300).to_string(),
            department: DEPARTMENTS[(i % 5) as usize],
            created: fmt(created),
            updated: fmt(finished),
            due: fmt(created.checked_add(SignedDuration::from_mins(20))?),
            requested: None,
            later_until: None,
            priority: "normal",
            escalations: 0,
            assignee: None,
            done: done.then(|| fmt(finished)),
        });
    }
    Ok(out)
}

fn seed_sqlite(path: &Path, rows: &[Row]) -> Result<(), BoxError> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO rooms (hotel_id, number, floor)
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 299)
         SELECT ?1, CAST(100 + i AS TEXT), CAST(i / 30 AS TEXT) FROM n WHERE true
         ON CONFLICT DO NOTHING",
        [HOTEL],
    )?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO tasks (id, hotel_id, order_key, item_key, order_id, external_id,
                 task_name, room, guest_name, quantity, status, department, created_at,
                 updated_at, due_at, board_at, requested_at, later_until, priority, escalations,
                 assignee_id, done_at)
             VALUES (?1, ?2, ?1, '0', ?1, '4', 'Serve towels', ?3, 'Bobby Smith', 1, ?4, ?5, ?6,
                 ?7, ?8, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )?;
        for r in rows {
            insert.execute(rusqlite::params![
                r.id,
                HOTEL,
                r.room,
                r.status,
                r.department,
                r.created,
                r.updated,
                r.due,
                r.requested,
                r.later_until,
                r.priority,
                r.escalations,
                r.assignee,
                r.done
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

fn seed_postgres(url: &str, rows: &[Row]) -> Result<(), BoxError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        c.execute(
            "INSERT INTO rooms (hotel_id, number, floor)
             SELECT $1, (100 + i)::text, (i / 30)::text FROM generate_series(0, 299) i
             ON CONFLICT DO NOTHING",
            &[&HOTEL],
        )
        .await?;
        for chunk in rows.chunks(10_000) {
            let col = |f: fn(&Row) -> Option<String>| chunk.iter().map(f).collect::<Vec<_>>();
            let escalations: Vec<i32> = chunk.iter().map(|r| r.escalations as i32).collect();
            c.execute(
                "INSERT INTO tasks (id, hotel_id, order_key, item_key, order_id, external_id,
                     task_name, room, guest_name, quantity, status, department, created_at,
                     updated_at, due_at, board_at, requested_at, later_until, priority,
                     escalations, assignee_id, done_at)
                 SELECT id, $1, id, '0', id, '4', 'Serve towels', room, 'Bobby Smith', 1, status,
                     department, created, updated, due, due, requested, later, priority, esc,
                     assignee, done
                 FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::int4[],
                     $13::text[], $14::text[])
                     AS s(id, room, status, department, created, updated, due, requested, later,
                         priority, esc, assignee, done)",
                &[
                    &HOTEL,
                    &col(|r| Some(r.id.clone())),
                    &col(|r| Some(r.room.clone())),
                    &col(|r| Some(r.status.to_owned())),
                    &col(|r| Some(r.department.to_owned())),
                    &col(|r| Some(r.created.clone())),
                    &col(|r| Some(r.updated.clone())),
                    &col(|r| Some(r.due.clone())),
                    &col(|r| r.requested.clone()),
                    &col(|r| r.later_until.clone()),
                    &col(|r| Some(r.priority.to_owned())),
                    &escalations,
                    &col(|r| r.assignee.clone()),
                    &col(|r| r.done.clone()),
                ],
            )
            .await?;
        }
        // As autovacuum would after a load like this one.
        c.batch_execute("ANALYZE tasks, rooms, users").await?;
        Ok::<_, BoxError>(())
    })
}

/// A keep-alive HTTP/1.1 connection to the server, with the session's cookie.
struct Client {
    port: u16,
    stream: TcpStream,
    cookie: String,
}

/// One answer: status, headers (lower-cased names), body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Client {
    fn connect(port: u16) -> Result<Self, BoxError> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Self {
            port,
            stream,
            cookie: String::new(),
        })
    }

    fn send(&mut self, method: &str, path: &str, body: Option<&str>) -> Result<Answer, BoxError> {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nCookie: {}\r\n",
            self.port, self.cookie
        );
        if let Some(b) = body {
            req.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(body.unwrap_or(""));
        self.stream.write_all(req.as_bytes())?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if self.stream.read(&mut byte)? == 0 {
                return Err("connection closed".into());
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or("no status line")?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let mut answer = Answer {
            status,
            headers,
            body: Vec::new(),
        };
        if let Some(n) = answer.header("content-length") {
            let mut body = vec![0u8; n.parse()?];
            self.stream.read_exact(&mut body)?;
            answer.body = body;
        } else if answer.header("transfer-encoding") == Some("chunked") {
            loop {
                let mut line = Vec::new();
                while !line.ends_with(b"\r\n") {
                    self.stream.read_exact(&mut byte)?;
                    line.push(byte[0]);
                }
                let size = usize::from_str_radix(String::from_utf8_lossy(&line).trim(), 16)?;
                let mut chunk = vec![0u8; size + 2];
                self.stream.read_exact(&mut chunk)?;
                if size == 0 {
                    break;
                }
                answer.body.extend_from_slice(&chunk[..size]);
            }
        }
        for (k, v) in &answer.headers {
            if k == "set-cookie"
                && let Some(pair) = v.split(';').next()
            {
                let name = pair.split('=').next().unwrap_or_default();
                let kept: Vec<&str> = self
                    .cookie
                    .split("; ")
                    .filter(|c| !c.is_empty() && !c.starts_with(&format!("{name}=")))
                    .collect();
                self.cookie = kept
                    .into_iter()
                    .chain([pair])
                    .collect::<Vec<_>>()
                    .join("; ");
            }
        }
        Ok(answer)
    }

    /// Signs in through the login form (its CSRF cookie and field).
    fn login(&mut self) -> Result<(), BoxError> {
        let page = self.send("GET", "/login", None)?;
        let html = String::from_utf8_lossy(&page.body);
        let marker = "name=\"csrf\" value=\"";
        let at = html.find(marker).ok_or("no csrf field")? + marker.len();
        let csrf = &html[at..at + html[at..].find('"').ok_or("csrf")?];
        let body = format!(
            "email={}&password={}&csrf={csrf}",
            EMAIL.replace('@', "%40"),
            PASSWORD.replace(' ', "+")
        );
        let answer = self.send("POST", "/login", Some(&body))?;
        if answer.status != 303 {
            return Err(format!("login answered {}", answer.status).into());
        }
        Ok(())
    }
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

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The `href` of the open column's next-page link in a board page.
fn next_page(html: &str) -> Option<String> {
    let at = html.find("data-more=\"open\"")?;
    let href = html[..at].rfind("href=\"")? + 6;
    Some(html[href..href + html[href..].find('"')?].replace("&amp;", "&"))
}

fn run() -> Result<(), BoxError> {
    let open = env_u64("BOARD_OPEN", 100_000).max(100);
    let requests = env_u64("BENCH_REQUESTS", 200).max(10);
    let dir = tempfile::tempdir()?;
    let pg = match std::env::var("BENCH_DATABASE_URL") {
        Ok(admin) if admin.starts_with("postgres") => Some(Schema::fresh(&admin, "board")?),
        _ => None,
    };
    let path = dir.path().join("board.db");
    let db = match &pg {
        Some(s) => s.url.clone(),
        None => format!("sqlite://{}", path.display()),
    };
    let backend = if pg.is_some() { "PostgreSQL" } else { "SQLite" };
    cli_json(
        &db,
        dir.path(),
        &["hotel", "create", "--name", "Bench", "--id", HOTEL],
    )?;
    let mut add = hubhook_cmd(&db, dir.path())
        .args(["user", "add", HOTEL, "--email", EMAIL, "--role", "staff"])
        .args(["--department", "Housekeeping", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    add.stdin
        .take()
        .ok_or("stdin")?
        .write_all(format!("{PASSWORD}\n").as_bytes())?;
    if !add.wait()?.success() {
        return Err("user add failed".into());
    }
    let users = cli_json(&db, dir.path(), &["user", "list", HOTEL])?;
    let user_id = users[0]["id"].as_str().ok_or("user id")?.to_owned();
    let started = Instant::now();
    let rows = rows(open, &user_id)?;
    match &pg {
        Some(s) => seed_postgres(&s.url, &rows)?,
        None => seed_sqlite(&path, &rows)?,
    }
    eprintln!(
        "{backend}: seeded {} tasks ({open} on the board) in {:.1?}",
        rows.len(),
        started.elapsed()
    );
    drop(rows);

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let server = Server(
        hubhook_cmd(&db, dir.path())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let pid = server.0.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut client = loop {
        if let Ok(mut c) = Client::connect(port)
            && c.send("GET", "/readyz", None).map(|a| a.status).ok() == Some(200)
        {
            break c;
        }
        if Instant::now() > deadline {
            return Err("the server never became ready".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    client.login()?;
    let first = client.send("GET", "/board", None)?;
    if first.status != 200 {
        return Err(format!("/board answered {}", first.status).into());
    }
    let next = next_page(&String::from_utf8_lossy(&first.body)).ok_or("no next-page link")?;
    let pages = [
        ("/board", "/board".to_owned()),
        ("/board/cards (a live update)", "/board/cards".to_owned()),
        ("/board?view=mine", "/board?view=mine".to_owned()),
        (
            "/board?department=Housekeeping",
            "/board?department=Housekeeping".to_owned(),
        ),
        ("/board?floor=3", "/board?floor=3".to_owned()),
        ("/board?room=101", "/board?room=101".to_owned()),
        ("open column, page 2", next),
        ("/dashboard", "/dashboard".to_owned()),
    ];
    let only: Vec<String> = std::env::var("BENCH_PAGES")
        .map(|v| v.split(',').map(|w| w.trim().to_owned()).collect())
        .unwrap_or_default();
    let load_before = loadavg();
    let mut table = Vec::new();
    for (label, path) in &pages {
        if !only.is_empty() && !only.iter().any(|w| label.contains(w.as_str())) {
            continue;
        }
        for _ in 0..20 {
            client.send("GET", path, None)?;
        }
        let cpu0 = cpu_ms(pid).ok_or("no /proc stat")?;
        let mut times = Vec::with_capacity(requests as usize);
        let mut size = 0;
        for _ in 0..requests {
            let t = Instant::now();
            let a = client.send("GET", path, None)?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            if a.status != 200 {
                return Err(format!("{path} answered {}", a.status).into());
            }
            size = a.body.len();
        }
        let cpu = (cpu_ms(pid).ok_or("no /proc stat")? - cpu0) / requests as f64;
        times.sort_by(f64::total_cmp);
        table.push(format!(
            "| {label} | {:.1} KB | {:.2} | {:.2} | {cpu:.2} |",
            size as f64 / 1000.0,
            pct(&times, 0.5),
            pct(&times, 0.99)
        ));
    }
    println!();
    println!(
        "{backend}: {open} tasks on the board of one hotel (+{} finished), {requests} requests a \
         page on one connection; load average before {load_before}, after {}",
        open + 2000,
        loadavg()
    );
    println!();
    println!("| page | size | p50 ms | p99 ms | server CPU ms/request |");
    println!("|---|---:|---:|---:|---:|");
    for line in table {
        println!("{line}");
    }
    drop(server);
    Ok(())
}
