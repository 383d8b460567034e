//! The HTTP edge under hostile clients (slowloris, stalled bodies, header floods, thousands of
//! malformed requests against the real binary) and at shutdown (SIGTERM to the real binary with
//! requests in flight and clients that never finish).

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use hubhook::domain::Role;
use serde_json::Value;

use crate::helpers::{
    Hotel, LOCAL_RECEIVERS, OUTBOUND_ALLOW_ENV, TestApp, database_url, expect_webhook_error,
    inbound_log, json_of, order, spawn_app_in, task_list,
};
use crate::restart::post_order;

const TIMEOUT_CODE: &str = "REQUEST_TIMEOUT";
const TIMEOUT_MSG: &str = "Request body not received in time.";

async fn app_with(tweak: impl FnOnce(&mut hubhook::config::Config)) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    spawn_app_in(dir, tweak).await
}

fn addr_of(base: &str) -> String {
    base.strip_prefix("http://")
        .expect("http address")
        .to_owned()
}

/// A raw answer: the status line's code (None when the server closed without answering), the
/// head's lines, and the body (as far as it came before the connection closed or went quiet).
#[derive(Debug)]
struct RawAnswer {
    status: Option<u16>,
    head: String,
    body: String,
}

/// Reads whatever the server sends until it closes the connection or `quiet` passes without a
/// byte; a connection reset counts as a close.
fn read_answer(stream: &mut TcpStream, quiet: Duration) -> RawAnswer {
    stream.set_read_timeout(Some(quiet)).expect("read timeout");
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok());
    RawAnswer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// Whether the server has closed `stream` (a read returns end of file or a reset), waiting at most
/// `within`.
fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).expect("read timeout");
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

fn webhook_head(hotel: &Hotel, content_length: usize) -> String {
    format!(
        "POST /webhooks/duve HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         custom_hotel_id: {}\r\ncustom_access_token: {}\r\ncustom_password_token: {}\r\n\
         Content-Length: {content_length}\r\n\r\n",
        hotel.id, hotel.access, hotel.password
    )
}

async fn healthy(client: &reqwest::Client, base: &str) -> bool {
    match client.get(format!("{base}/healthz")).send().await {
        Ok(res) => res.status().as_u16() == 200,
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_client_is_disconnected_after_the_header_timeout_while_others_are_served() {
    let app = app_with(|c| c.http.header_timeout = Duration::from_secs(1)).await;
    let hotel = app.create_hotel("h1").await;
    let addr = addr_of(&app.address);

    // Half a request line's worth of headers, then nothing.
    let mut slow = TcpStream::connect(&addr).expect("connect");
    slow.write_all(b"POST /webhooks/duve HTTP/1.1\r\nHost: localhost\r\ncustom_hot")
        .expect("write");
    // An idle keep-alive connection, after one answered request.
    let mut idle = TcpStream::connect(&addr).expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("write");
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).expect("an answer");
    assert_eq!(&first, b"HTTP/1.1 200");

    // Others are served meanwhile.
    for i in 0..20 {
        assert!(healthy(&app.client, &app.address).await);
        let (s, answer) = app
            .webhook(&hotel, &order(&format!("o-{i}"), "101", &["4"]))
            .await;
        assert_eq!(s, 201, "{answer}");
    }

    // Both are closed by the server (after about a second; ten is only the test's patience).
    let (slow_closed, idle_closed) = tokio::task::spawn_blocking(move || {
        (
            closed_by_server(&mut slow, Duration::from_secs(10)),
            closed_by_server(&mut idle, Duration::from_secs(10)),
        )
    })
    .await
    .unwrap();
    assert!(slow_closed, "a partial request head held its connection");
    assert!(
        idle_closed,
        "an idle keep-alive connection was never closed"
    );
    assert!(healthy(&app.client, &app.address).await);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_or_trickled_body_is_answered_408_and_nothing_is_recorded() {
    let app = app_with(|c| {
        c.http.body_timeout = Duration::from_secs(1);
        c.http.header_timeout = Duration::from_secs(30);
    })
    .await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let addr = addr_of(&app.address);
    let body = order("o-slow", "101", &["4"]).to_string();

    let (stalled, trickled, api) = {
        let (hotel, addr, body, key) = (hotel.clone(), addr.clone(), body.clone(), key.clone());
        tokio::task::spawn_blocking(move || {
            // Headers and the first bytes, then nothing.
            let mut s = TcpStream::connect(&addr).expect("connect");
            s.write_all(webhook_head(&hotel, body.len()).as_bytes())
                .unwrap();
            s.write_all(&body.as_bytes()[..10]).unwrap();
            let stalled = read_answer(&mut s, Duration::from_secs(10));
            // A byte every 100 ms: each arrives before any per-read timeout would fire, the whole
            // body never arrives in time.
            let mut t = TcpStream::connect(&addr).expect("connect");
            t.write_all(webhook_head(&hotel, body.len()).as_bytes())
                .unwrap();
            for b in body.as_bytes().iter().take(25) {
                if t.write_all(&[*b]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let trickled = read_answer(&mut t, Duration::from_secs(10));
            // The same on the JSON API.
            let mut a = TcpStream::connect(&addr).expect("connect");
            write!(
                a,
                "POST /api/v1/tasks HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"room\""
            )
            .unwrap();
            let api = read_answer(&mut a, Duration::from_secs(10));
            (stalled, trickled, api)
        })
        .await
        .unwrap()
    };
    for (name, got) in [
        ("stalled", &stalled),
        ("trickled", &trickled),
        ("api", &api),
    ] {
        let body: Value =
            serde_json::from_str(&got.body).unwrap_or_else(|_| panic!("{name}: not JSON: {got:?}"));
        expect_webhook_error(
            &(got.status.unwrap_or(0), body),
            408,
            TIMEOUT_CODE,
            TIMEOUT_MSG,
        );
        assert!(
            got.head.to_ascii_lowercase().contains("connection: close"),
            "{name}: {}",
            got.head
        );
    }

    // Nothing was recorded for the hotel, and the server is fine.
    assert!(inbound_log(&app, &key).await.is_empty());
    assert!(task_list(&app, &key).await.is_empty());
    assert!(healthy(&app.client, &app.address).await);
    let (s, answer) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    assert_eq!(s, 201, "{answer}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_flood_is_refused_and_the_server_stays_healthy() {
    let app = app_with(|_| {}).await;
    let hotel = app.create_hotel("h1").await;
    let addr = addr_of(&app.address);

    let answers = tokio::task::spawn_blocking(move || {
        let many: String = (0..5000).map(|i| format!("X-Flood-{i}: {i}\r\n")).collect();
        let huge = format!("X-Huge: {}\r\n", "a".repeat(1024 * 1024));
        let long_uri = format!("/{}", "u".repeat(100 * 1024));
        let requests = [
            format!("GET /healthz HTTP/1.1\r\nHost: localhost\r\n{many}\r\n"),
            format!("GET /healthz HTTP/1.1\r\nHost: localhost\r\n{huge}\r\n"),
            format!("GET {long_uri} HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ];
        requests
            .iter()
            .map(|req| {
                let mut s = TcpStream::connect(&addr).expect("connect");
                // The server may answer and close before the whole flood is written.
                let _ = s.write_all(req.as_bytes());
                read_answer(&mut s, Duration::from_secs(10)).status
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for status in &answers {
        assert!(
            matches!(status, None | Some(400 | 414 | 431)),
            "{answers:?}"
        );
    }
    assert!(
        answers.contains(&Some(431)),
        "a flood is told why: {answers:?}"
    );
    assert!(healthy(&app.client, &app.address).await);
    let (s, answer) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    assert_eq!(s, 201, "{answer}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_until_one_closes() {
    let app = app_with(|c| {
        c.http.max_connections = 1;
        c.http.header_timeout = Duration::from_secs(60);
    })
    .await;
    let addr = addr_of(&app.address);
    // The one connection allowed, held open between requests.
    let mut held = TcpStream::connect(&addr).expect("connect");
    held.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("write");
    let mut first = [0u8; 12];
    held.read_exact(&mut first).expect("an answer");
    assert_eq!(&first, b"HTTP/1.1 200");

    let client = app.client.clone();
    let base = app.address.clone();
    let mut waiting = tokio::spawn(async move { healthy(&client, &base).await });
    // Not served while the held connection is open (the kernel keeps it in the backlog) ...
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut waiting)
            .await
            .is_err(),
        "a connection over the cap was served"
    );
    // ... and served once it closes.
    drop(held);
    let served = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("served after the held connection closed")
        .unwrap();
    assert!(served);
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The real binary.

/// A `hubhook serve` child process with its log in a file, killed (and reaped) when dropped.
pub(crate) struct Served {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Served {
    pub(crate) fn start(db: &Path, dir: &Path, env: &[(&str, &str)]) -> Served {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = dir.join(format!("serve-{port}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hubhook"));
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env(OUTBOUND_ALLOW_ENV, LOCAL_RECEIVERS)
            .env("HUBHOOK_DATABASE_URL", database_url(db))
            // The abuse limits have their own tests (limits.rs); these drive the parsers and the
            // shutdown with more requests per second than the defaults let one address send.
            .env("HUBHOOK_WEBHOOK_IP_RATE", "0")
            .env("HUBHOOK_WEBHOOK_HOTEL_RATE", "0")
            .env("HUBHOOK_WEBHOOK_AUTH_FAILURES", "0")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("HUBHOOK_CONFIG")
            .env_remove("HUBHOOK_LISTEN")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("log file"))
            .stderr(std::fs::File::create(dir.join(format!("serve-{port}.err"))).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Served {
            child: cmd.spawn().expect("start hubhook serve"),
            addr: format!("127.0.0.1:{port}"),
            log,
        }
    }

    pub(crate) fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process logged (stdout and stderr).
    pub(crate) fn logs(&self) -> String {
        let err = self.log.with_extension("err");
        let mut text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.push_str(&std::fs::read_to_string(err).unwrap_or_default());
        text
    }

    pub(crate) async fn wait_healthy(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("hubhook serve exited early: {status}\n{}", self.logs());
            }
            if healthy(client, &self.base()).await {
                return;
            }
            assert!(Instant::now() < deadline, "never healthy:\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill -TERM")
            .success();
        assert!(ok, "kill -TERM failed");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn cli(db: &Path, dir: &Path, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_hubhook"))
        .args(args)
        .arg("--json")
        .env("HUBHOOK_DATABASE_URL", database_url(db))
        .env_remove("HUBHOOK_CONFIG")
        .current_dir(dir)
        .output()
        .expect("run hubhook");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

/// A hotel with rooms 101 and 102 and a manager API key, made with the CLI.
pub(crate) fn cli_hotel(db: &Path, dir: &Path) -> (Hotel, String) {
    let created = cli(
        db,
        dir,
        &["hotel", "create", "--name", "Edge", "--id", "edge"],
    );
    cli(db, dir, &["rooms", "add", "edge", "101", "102"]);
    // Each order of these tests is meant to make its tasks: no merging of repeated requests.
    cli(db, dir, &["hotel", "set", "edge", "--merge-window", "0"]);
    let key = cli(db, dir, &["apikey", "create", "edge", "--role", "manager"])["apiKey"]
        .as_str()
        .expect("api key")
        .to_owned();
    let hotel = Hotel {
        id: "edge".into(),
        access: created["accessToken"].as_str().unwrap().to_owned(),
        password: created["passwordToken"].as_str().unwrap().to_owned(),
    };
    (hotel, key)
}

/// splitmix64: a seeded generator, so a failing run can be replayed with its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// One malformed request; every kind is one a correct server answers with a 4xx (or, for bytes
/// that are not HTTP, by closing). Each is complete as sent: none leaves the server waiting.
fn malformed(rng: &mut Rng, hotel: &Hotel) -> Vec<u8> {
    let tokenish = |rng: &mut Rng, len: usize| -> String {
        (0..len)
            .map(|_| (b'a' + rng.below(26) as u8) as char)
            .collect()
    };
    let req: Vec<u8> = match rng.below(16) {
        // Bytes that are not HTTP at all.
        0 => {
            let len = 1 + rng.below(400) as usize;
            let mut b = rng.bytes(len);
            b.extend_from_slice(b"\r\n\r\n");
            b
        }
        // A method with a byte no token may hold.
        1 => {
            let bad = [0u8, 1, b'(', b'"', 0x7f, 0xff][rng.below(6) as usize];
            let mut b = b"GE".to_vec();
            b.push(bad);
            b.extend_from_slice(b"T /nope HTTP/1.1\r\nHost: x\r\n\r\n");
            b
        }
        // A version that does not exist.
        2 => format!(
            "GET /nope HTTP/{}.{}\r\nHost: x\r\n\r\n",
            2 + rng.below(8),
            rng.below(10)
        )
        .into_bytes(),
        // A target with a space or a control byte in it.
        3 => {
            let mut b = b"GET /no".to_vec();
            b.push([b' ', 0, 0x7f, b'\t'][rng.below(4) as usize]);
            b.extend_from_slice(b"pe x HTTP/1.1\r\nHost: x\r\n\r\n");
            b
        }
        // A header line without a colon, or with a name no token may be.
        4 => format!(
            "GET /nope HTTP/1.1\r\nHost: x\r\n{}\r\n\r\n",
            ["X-Broken header", "Bad(Name: v", "Sp ace: v", ": empty-name"][rng.below(4) as usize]
        )
        .into_bytes(),
        // A header value with a byte values may not hold.
        5 => {
            let mut b = b"GET /nope HTTP/1.1\r\nHost: x\r\nX-Bin: a".to_vec();
            b.push([0u8, 0x7f, b'\r', 0x0b][rng.below(4) as usize]);
            b.extend_from_slice(b"b\r\n\r\n");
            b
        }
        // A body length that is not one.
        6 => format!(
            "POST /webhooks/duve HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            ["abc", "-1", "1,2", "0x10", "99999999999999999999999"][rng.below(5) as usize]
        )
        .into_bytes(),
        // Two lengths that disagree.
        7 => b"POST /webhooks/duve HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"
            .to_vec(),
        // Too many headers.
        8 => {
            let n = 101 + rng.below(400);
            let headers: String = (0..n).map(|i| format!("X-{i}: v\r\n")).collect();
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{headers}\r\n").into_bytes()
        }
        // A request head over the size limit.
        9 => format!(
            "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            tokenish(rng, 70 * 1024)
        )
        .into_bytes(),
        // A webhook without credentials, with a random body.
        10 => {
            let len = rng.below(2000) as usize;
            let body = rng.bytes(len);
            let mut b = format!(
                "POST /webhooks/duve HTTP/1.1\r\nHost: x\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
                ["application/json", "text/plain", "image/png", "x/y; charset=\u{1}"][rng.below(4) as usize],
                body.len()
            )
            .into_bytes();
            b.extend_from_slice(&body);
            b
        }
        // A webhook with the right credentials and a body that is not JSON (truncated, or with
        // bytes that are not UTF-8).
        11 => {
            let full = order(&format!("m-{}", rng.next()), "101", &["4"]).to_string();
            let mut body = full.as_bytes()[..rng.below(full.len() as u64) as usize].to_vec();
            if rng.below(2) == 0 {
                body.push(0xff);
            }
            let mut b = webhook_head(hotel, body.len()).into_bytes();
            b.extend_from_slice(&body);
            b
        }
        // A declared length far over the webhook limit (answered without reading the body).
        12 => {
            let mut b = webhook_head(hotel, 50 * 1024 * 1024).into_bytes();
            b.extend_from_slice(b"{\"event\":");
            b
        }
        // Wrong methods, unknown paths.
        13 => format!(
            "{} {} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            ["DELETE", "PUT", "PATCH", "OPTIONS"][rng.below(4) as usize],
            ["/webhooks/duve", "/healthz", "/api/v1/tasks"][rng.below(3) as usize]
        )
        .into_bytes(),
        14 => {
            let len = 1 + rng.below(50) as usize;
            format!("GET /nope/{} HTTP/1.1\r\nHost: x\r\n\r\n", tokenish(rng, len)).into_bytes()
        }
        // The API and the login form, unauthenticated, with bodies of the wrong type; a chunked
        // body with a broken chunk size; a length and a chunked encoding together.
        _ => match rng.below(4) {
            0 => b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
                .to_vec(),
            1 => b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"a\":\"b\"}"
                .to_vec(),
            2 => b"POST /webhooks/duve HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n"
                .to_vec(),
            _ => b"POST /webhooks/duve HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
                .to_vec(),
        },
    };
    req
}

/// Sends `n` malformed requests one after the other, each on its own connection, and tallies the
/// answers: a status, `closed` (no answer; allowed for what is not HTTP) or `hung`.
fn hammer(addr: &str, hotel: &Hotel, rng: &mut Rng, n: usize) -> BTreeMap<String, usize> {
    let mut tally = BTreeMap::new();
    for _ in 0..n {
        let req = malformed(rng, hotel);
        let mut s = TcpStream::connect(addr).expect("connect");
        let _ = s.write_all(&req);
        // Only the status line matters; the connection is dropped after it.
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        let outcome = loop {
            match s.read(&mut buf) {
                Ok(0) => break None,
                Ok(k) => {
                    got.extend_from_slice(&buf[..k]);
                    if got.len() >= 12 {
                        break Some(String::from_utf8_lossy(&got[9..12]).into_owned());
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break Some("hung".to_owned());
                }
                Err(_) => break None,
            }
        };
        let key = match outcome {
            Some(code) => code,
            None if got.is_empty() => "closed".to_owned(),
            None => "partial".to_owned(),
        };
        *tally.entry(key).or_insert(0) += 1;
    }
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_malformed_requests_leave_the_real_server_healthy_and_its_memory_flat() {
    let n: usize = std::env::var("HUBHOOK_HOSTILE_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let seed: u64 = std::env::var("HUBHOOK_HOSTILE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("hostile HTTP: {n} requests, HUBHOOK_HOSTILE_SEED={seed}");
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("hostile.db");
    let (hotel, key) = cli_hotel(&db, dir.path());
    let client = hubhook::http_client()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut server = Served::start(&db, dir.path(), &[("HUBHOOK_HEADER_TIMEOUT", "2s")]);
    server.wait_healthy(&client).await;

    // Warm up (allocator arenas, connection pools, caches) before the first measurement.
    let addr = server.addr.clone();
    let started = Instant::now();
    let (warm, tally, before) = {
        let hotel = hotel.clone();
        let pid = server.pid();
        tokio::task::spawn_blocking(move || {
            let mut rng = Rng(seed);
            let warm = hammer(&addr, &hotel, &mut rng, 2_000);
            let before = rss_of(pid);
            let tally = hammer(&addr, &hotel, &mut rng, n);
            (warm, tally, before)
        })
        .await
        .unwrap()
    };
    let elapsed = started.elapsed();
    let after = rss_of(server.pid());
    eprintln!(
        "hostile HTTP: warm-up {warm:?}; run {tally:?}; {:.1} s; RSS before {before} KiB, after \
         {after} KiB ({:+} KiB)",
        elapsed.as_secs_f64(),
        after as i64 - before as i64
    );

    let mut bad = tally.clone();
    bad.retain(|k, _| !(k == "closed" || k.starts_with('4')));
    assert!(
        bad.is_empty(),
        "answers other than 4xx or a close: {bad:?} (all: {tally:?}, seed {seed})"
    );
    assert!(
        tally.iter().filter(|(k, _)| k.starts_with('4')).count() >= 5,
        "the mix reached several answers: {tally:?}"
    );
    assert!(
        healthy(&client, &server.base()).await,
        "healthz after the run"
    );
    let res = client
        .get(format!("{}/api/v1/inbound?limit=5", server.base()))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let (s, log) = json_of(res).await;
    assert_eq!(s, 200, "{log}");
    assert!(
        after <= before + before / 2 && after < before + 16 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    let logs = server.logs();
    assert!(!logs.contains("panicked"), "{logs}");
}

/// VmRSS of a process, in KiB.
fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_what_is_in_flight_refuses_new_connections_and_exits_within_the_bound() {
    const BOUND: Duration = Duration::from_secs(3);
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("term.db");
    let (hotel, key) = cli_hotel(&db, dir.path());
    let client = hubhook::http_client()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    // Stuck clients would be waited for a minute; the bound is what ends them.
    let env = [
        ("HUBHOOK_SHUTDOWN_TIMEOUT", "3s"),
        ("HUBHOOK_HEADER_TIMEOUT", "60s"),
        ("HUBHOOK_BODY_TIMEOUT", "60s"),
    ];
    let mut server = Served::start(&db, dir.path(), &env);
    server.wait_healthy(&client).await;
    let url = format!("{}/webhooks/duve", server.base());

    // Clients that never finish: a request head cut short, a body that stalls.
    let mut slowloris = TcpStream::connect(&server.addr).expect("connect");
    slowloris
        .write_all(b"POST /webhooks/duve HTTP/1.1\r\nHost: x\r\ncustom_ho")
        .unwrap();
    let mut stalled = TcpStream::connect(&server.addr).expect("connect");
    stalled
        .write_all(webhook_head(&hotel, 500).as_bytes())
        .unwrap();
    stalled.write_all(b"{\"event\":").unwrap();

    // 32 senders in a loop; every order answered 201 is remembered with its tasks.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<String>>();
    let mut senders = Vec::new();
    for w in 0..32 {
        let (client, url, hotel, tx) = (client.clone(), url.clone(), hotel.clone(), tx.clone());
        senders.push(tokio::spawn(async move {
            let mut other = Vec::new();
            for i in 0..100_000 {
                let body = order(&format!("w{w}-{i}"), "101", &["4", "22"]);
                match post_order(&client, &url, &hotel, &body).await {
                    Ok((201, answer)) => {
                        let ids = answer["tasks"]
                            .as_array()
                            .expect("tasks")
                            .iter()
                            .map(|t| t["id"].as_str().expect("id").to_owned())
                            .collect();
                        let _ = tx.send(ids);
                    }
                    Ok((s, answer)) => other.push(format!("{s} {answer}")),
                    // The server stopped taking requests.
                    Err(_) => return other,
                }
            }
            other
        }));
    }
    drop(tx);
    let mut acked: Vec<Vec<String>> = Vec::new();
    while acked.len() < 200 {
        acked.push(rx.recv().await.expect("the senders make progress"));
    }

    server.sigterm();
    let term = Instant::now();
    // New connections are refused while the process still drains (the stuck clients keep it
    // there until the bound).
    let refused_while_running = loop {
        match TcpStream::connect_timeout(&server.addr.parse().unwrap(), Duration::from_millis(500))
        {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                break server.child.try_wait().expect("try_wait").is_none();
            }
            _ => {
                assert!(term.elapsed() < BOUND, "still accepting connections");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    assert!(
        refused_while_running,
        "refusal seen only after the process had exited"
    );

    // It exits, cleanly, within the bound (plus the final flush and process exit).
    let status = loop {
        if let Some(status) = server.child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            term.elapsed() < BOUND + Duration::from_secs(5),
            "still running {:?} after SIGTERM:\n{}",
            term.elapsed(),
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status}:\n{}", server.logs());
    let exited_after = term.elapsed();

    for s in senders {
        let other = s.await.expect("a sender panicked");
        assert!(other.is_empty(), "answers other than 201: {other:?}");
    }
    while let Ok(late) = rx.try_recv() {
        acked.push(late);
    }
    // The stuck clients were cut off, never answered 2xx.
    let (cut_loris, cut_stalled) = tokio::task::spawn_blocking(move || {
        (
            read_answer(&mut slowloris, Duration::from_secs(5)),
            read_answer(&mut stalled, Duration::from_secs(5)),
        )
    })
    .await
    .unwrap();
    for cut in [&cut_loris, &cut_stalled] {
        assert!(
            !matches!(cut.status, Some(200..=299)),
            "a stuck client got {cut:?}"
        );
    }
    let logs = server.logs();
    for phase in [
        "shutdown: stopped accepting",
        "shutdown: connections closed",
        "shutdown: outbox dispatcher stopped",
        "shutdown: store flushed",
        "hubhook stopped",
    ] {
        assert!(logs.contains(phase), "{phase:?} not logged:\n{logs}");
    }
    drop(server);

    // Every order answered 201 has its tasks after a restart.
    let mut server = Served::start(&db, dir.path(), &[]);
    server.wait_healthy(&client).await;
    let answered: Vec<&String> = acked.iter().flatten().collect();
    let mut missing = Vec::new();
    for id in &answered {
        let res = client
            .get(format!("{}/api/v1/tasks/{id}", server.base()))
            .bearer_auth(&key)
            .send()
            .await
            .expect("request");
        if res.status().as_u16() != 200 {
            missing.push((*id).clone());
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} tasks answered 201 are missing: {missing:?}",
        missing.len(),
        answered.len()
    );
    eprintln!(
        "SIGTERM: exited 0 after {:.2} s (bound {} s, two stuck clients); {} orders answered 201 \
         ({} tasks), all present after the restart",
        exited_after.as_secs_f64(),
        BOUND.as_secs(),
        acked.len(),
        answered.len()
    );
}
