//! SIGTERM to the real binary: what is in flight is answered, new connections are refused, and it
//! exits within the bound.

use std::{
    io::Write,
    net::TcpStream,
    time::{Duration, Instant},
};

use super::{Served, cli_hotel, read_answer, webhook_head};
use crate::{helpers::order, restart::post_order};

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
