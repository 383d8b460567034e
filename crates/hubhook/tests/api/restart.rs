//! What was answered stays answered: tasks and their history survive a restart, graceful (in process)
//! or brutal (SIGKILL of the real binary).

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use hubhook::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{
    Hotel, LOCAL_RECEIVERS, OUTBOUND_ALLOW_ENV, database_url, json_of, order, spawn_app,
    spawn_app_in,
};

#[tokio::test]
async fn tasks_history_and_idempotency_survive_a_restart() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Staff).await;
    let mut answers = Vec::new();
    for (oid, ext) in [
        ("o-1", vec!["4"]),
        ("o-2", vec!["22", "2"]),
        ("o-3", vec!["3"]),
    ] {
        let body = order(oid, "101", &ext);
        let (s, answer) = app.webhook(&hotel, &body).await;
        assert_eq!(s, 201, "{answer}");
        answers.push((body, answer));
    }
    let first = answers[0].1["tasks"][0]["id"].as_str().unwrap().to_owned();
    let (s, _) = app
        .post_api(
            &key,
            &format!("/api/v1/tasks/{first}/status"),
            &json!({"status": "accepted", "note": "before the restart"}),
        )
        .await;
    assert_eq!(s, 200);
    let (_, list_before) = app.get_api(&key, "/api/v1/tasks").await;
    let (_, detail_before) = app.get_api(&key, &format!("/api/v1/tasks/{first}")).await;
    let (_, inbound_before) = app.get_api(&key, "/api/v1/inbound").await;
    assert_eq!(list_before["tasks"].as_array().unwrap().len(), 4);

    let dir = app.dir.clone();
    app.stop().await;
    let app = spawn_app_in(dir, |_| {}).await;

    let (s, list_after) = app.get_api(&key, "/api/v1/tasks").await;
    assert_eq!(s, 200, "the API key survived: {list_after}");
    assert_eq!(list_after, list_before);
    let (_, detail_after) = app.get_api(&key, &format!("/api/v1/tasks/{first}")).await;
    assert_eq!(detail_after, detail_before);
    let events = detail_after["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["note"], "before the restart");
    let (_, inbound_after) = app.get_api(&key, "/api/v1/inbound").await;
    assert_eq!(inbound_after, inbound_before);

    // Redeliveries are still recognised; the hotel's tokens still work.
    for (body, answer) in &answers {
        let (s, again) = app.webhook(&hotel, body).await;
        assert_eq!(s, 200, "{again}");
        assert_eq!(again["status"], "duplicate");
        let ids = |v: &Value| -> Vec<Value> {
            v["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].clone())
                .collect()
        };
        assert_eq!(ids(&again), ids(answer));
    }
    let (s, _) = app.webhook(&hotel, &order("o-4", "102", &["4"])).await;
    assert_eq!(s, 201);
    let (_, list) = app.get_api(&key, "/api/v1/tasks").await;
    assert_eq!(list["tasks"].as_array().unwrap().len(), 5);
    app.stop().await;
}

/// A `hubhook serve` child process, killed (and reaped) when dropped, even if the test fails.
/// Shared with the crash test (`crash.rs`).
pub(crate) struct Server {
    child: Child,
    base: String,
}

impl Server {
    pub(crate) fn start(db: &Path, dir: &Path) -> Server {
        Self::start_with(db, dir, &[])
    }

    /// With extra environment (e.g. `HUBHOOK_RETRY_SCHEDULE`).
    pub(crate) fn start_with(db: &Path, dir: &Path, env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_hubhook"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env(OUTBOUND_ALLOW_ENV, LOCAL_RECEIVERS)
            // Many deliveries a second from one address for one hotel: no abuse limit.
            .env("HUBHOOK_WEBHOOK_IP_RATE", "0")
            .env("HUBHOOK_WEBHOOK_HOTEL_RATE", "0")
            .env("HUBHOOK_WEBHOOK_AUTH_FAILURES", "0")
            .env("HUBHOOK_DATABASE_URL", database_url(db))
            .env_remove("HUBHOOK_CONFIG")
            .env_remove("HUBHOOK_LISTEN")
            .envs(env.iter().copied())
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start hubhook serve");
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Polls `/healthz` (bounded: 10 s), failing early if the process died.
    pub(crate) async fn wait_healthy(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("hubhook serve exited early: {status}");
            }
            if let Ok(res) = client.get(self.url("/healthz")).send().await
                && res.status().is_success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "hubhook serve never became healthy"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no graceful shutdown, no chance to flush anything.
    pub(crate) fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind port 0")
        .local_addr()
        .expect("local addr")
        .port()
}

/// The real binary's `--json` answer, run on the database at `db`.
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

pub(crate) async fn post_order(
    client: &reqwest::Client,
    url: &str,
    hotel: &Hotel,
    body: &Value,
) -> reqwest::Result<(u16, Value)> {
    let res = client
        .post(url)
        .header("content-type", "application/json")
        .header("custom_hotel_id", &hotel.id)
        .header("custom_access_token", &hotel.access)
        .header("custom_password_token", &hotel.password)
        .body(body.to_string())
        .send()
        .await?;
    Ok(json_of(res).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_task_answered_201_survives_a_sigkill_of_the_real_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("x.db");
    let created = cli(
        &db,
        dir.path(),
        &["hotel", "create", "--name", "Crash", "--id", "crash"],
    );
    let hotel = Hotel {
        id: "crash".into(),
        access: created["accessToken"].as_str().unwrap().to_owned(),
        password: created["passwordToken"].as_str().unwrap().to_owned(),
    };
    cli(&db, dir.path(), &["rooms", "add", "crash", "101", "102"]);
    // Each order of these tests is meant to make its tasks: no merging of repeated requests.
    cli(
        &db,
        dir.path(),
        &["hotel", "set", "crash", "--merge-window", "0"],
    );
    let key = cli(&db, dir.path(), &["apikey", "create", "crash"])["apiKey"]
        .as_str()
        .unwrap()
        .to_owned();

    let client = hubhook::http_client()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut server = Server::start(&db, dir.path());
    server.wait_healthy(&client).await;
    let url = server.url("/webhooks/duve");

    // A few orders one after the other, then concurrent senders that are still sending when the
    // process is killed: every order answered 201 must be there after the restart.
    let mut acked: Vec<(Value, Vec<String>)> = Vec::new();
    for i in 0..5 {
        let body = order(&format!("seq-{i}"), "101", &["4", "22"]);
        let (s, answer) = post_order(&client, &url, &hotel, &body)
            .await
            .expect("send");
        assert_eq!(s, 201, "{answer}");
        acked.push((body, task_ids(&answer)));
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut senders = Vec::new();
    for w in 0..4 {
        let (client, url, hotel, tx) = (client.clone(), url.clone(), hotel.clone(), tx.clone());
        senders.push(tokio::spawn(async move {
            for i in 0..500 {
                let body = order(&format!("w{w}-{i}"), "102", &["3"]);
                match post_order(&client, &url, &hotel, &body).await {
                    Ok((201, answer)) => {
                        let _ = tx.send((body, task_ids(&answer)));
                    }
                    Ok((s, answer)) => panic!("unexpected answer {s}: {answer}"),
                    // The server is gone.
                    Err(_) => return,
                }
            }
        }));
    }
    drop(tx);
    for _ in 0..30 {
        acked.push(rx.recv().await.expect("the senders make progress"));
    }
    server.kill();
    for s in senders {
        s.await.expect("a sender failed");
    }
    while let Ok(late) = rx.try_recv() {
        acked.push(late);
    }
    assert!(acked.len() >= 35);

    let mut server = Server::start(&db, dir.path());
    server.wait_healthy(&client).await;
    let mut missing = Vec::new();
    for (_, ids) in &acked {
        for id in ids {
            let res = client
                .get(server.url(&format!("/api/v1/tasks/{id}")))
                .bearer_auth(&key)
                .send()
                .await
                .expect("request");
            let (s, detail) = json_of(res).await;
            if s != 200 {
                missing.push(id.clone());
            } else {
                assert_eq!(detail["status"], "open");
                assert_eq!(detail["events"].as_array().unwrap().len(), 1);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "tasks answered 201 but lost: {missing:?}"
    );
    let res = client
        .get(server.url("/api/v1/tasks?limit=500"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("request");
    let (_, page) = json_of(res).await;
    let listed = page["tasks"].as_array().unwrap().len();
    let answered: usize = acked.iter().map(|(_, ids)| ids.len()).sum();
    assert!(listed >= answered, "{listed} listed, {answered} answered");

    // A redelivery after the crash is a duplicate with the same tasks.
    for (body, ids) in [&acked[0], acked.last().unwrap()] {
        let (s, again) = post_order(&client, &server.url("/webhooks/duve"), &hotel, body)
            .await
            .expect("send");
        assert_eq!(s, 200, "{again}");
        assert_eq!(again["status"], "duplicate");
        assert_eq!(&task_ids(&again), ids);
    }
}

pub(crate) fn task_ids(answer: &Value) -> Vec<String> {
    answer["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_owned())
        .collect()
}
