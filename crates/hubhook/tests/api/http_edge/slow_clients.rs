//! Slow and greedy clients on the in-process server: slowloris headers, stalled or trickled bodies
//! (408, nothing recorded), header floods, connections over the cap.

use std::{
    io::{Read, Write},
    net::TcpStream,
    sync::Arc,
    time::Duration,
};

use hubhook::domain::Role;
use serde_json::Value;

use super::{healthy, read_answer, webhook_head};
use crate::helpers::{TestApp, expect_webhook_error, inbound_log, order, spawn_app_in, task_list};

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
