//! Ten thousand seeded malformed requests against the real binary: every one answered 4xx or
//! closed, the server healthy and its memory flat.

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use super::{Served, cli_hotel, healthy, webhook_head};
use crate::helpers::{Hotel, json_of, order};

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
