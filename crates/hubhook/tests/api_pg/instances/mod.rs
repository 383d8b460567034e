//! Several hubhook processes on one PostgreSQL database: a unique key (not a lock in one process)
//! decides which delivery of an order makes its tasks; a change made through one process counts on
//! the others at once; a database out of reach is answered 503 and never with a 2xx. Here: the
//! instances (`Instance`), the CLI and the requests the modules below share, as does
//! `shift_reports.rs`.

mod background;
mod database_down;
mod deliveries;
mod pages;

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::helpers::{Hotel, LOCAL_RECEIVERS, OUTBOUND_ALLOW_ENV, json_of};

/// A `hubhook serve` child process, killed (and reaped) when dropped, even if the test fails.
pub(crate) struct Instance {
    child: Child,
    base: String,
}

impl Instance {
    pub(crate) async fn start(db_url: &str, client: &reqwest::Client) -> Instance {
        Self::start_with(db_url, client, &[]).await
    }

    /// With extra environment (e.g. `HUBHOOK_OUTBOX_TIMEOUT`).
    async fn start_with(db_url: &str, client: &reqwest::Client, env: &[(&str, &str)]) -> Instance {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_hubhook"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env(OUTBOUND_ALLOW_ENV, LOCAL_RECEIVERS)
            // Many deliveries a second from one address for one hotel: no abuse limit.
            .env("HUBHOOK_WEBHOOK_IP_RATE", "0")
            .env("HUBHOOK_WEBHOOK_HOTEL_RATE", "0")
            .env("HUBHOOK_WEBHOOK_AUTH_FAILURES", "0")
            .env("HUBHOOK_DATABASE_URL", db_url)
            .env_remove("HUBHOOK_CONFIG")
            .env_remove("HUBHOOK_LISTEN")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start hubhook serve");
        let mut instance = Instance {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = instance.child.try_wait().expect("try_wait") {
                panic!("hubhook serve exited early: {status}");
            }
            if let Ok(res) = client.get(instance.url("/healthz")).send().await
                && res.status().is_success()
            {
                return instance;
            }
            assert!(Instant::now() < deadline, "hubhook serve never became healthy");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real binary's `--json` answer.
pub(crate) fn cli(db_url: &str, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_hubhook"))
        .args(args)
        .arg("--json")
        .env("HUBHOOK_DATABASE_URL", db_url)
        .env_remove("HUBHOOK_CONFIG")
        .output()
        .expect("run hubhook");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

/// A hotel (rooms 101, 102) and a manager API key (it reads the inbound log), made with the CLI.
/// It does not merge repeated requests: these tests send many orders for room 101's towels, each
/// meant to make its tasks (merging across instances: merge_instances.rs).
pub(crate) fn hotel_with_key(db_url: &str, id: &str) -> (Hotel, String) {
    let created = cli(db_url, &["hotel", "create", "--name", "Multi", "--id", id]);
    cli(db_url, &["hotel", "set", id, "--merge-window", "0"]);
    let hotel = Hotel {
        id: id.to_owned(),
        access: created["accessToken"].as_str().unwrap().to_owned(),
        password: created["passwordToken"].as_str().unwrap().to_owned(),
    };
    let out = Command::new(env!("CARGO_BIN_EXE_hubhook"))
        .args(["rooms", "add", id, "101", "102"])
        .env("HUBHOOK_DATABASE_URL", db_url)
        .env_remove("HUBHOOK_CONFIG")
        .output()
        .expect("run hubhook");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = cli(db_url, &["apikey", "create", id, "--role", "manager"])["apiKey"]
        .as_str()
        .unwrap()
        .to_owned();
    (hotel, key)
}

pub(crate) async fn post(client: &reqwest::Client, url: String, hotel: &Hotel, body: &Value) -> (u16, Value, Option<String>) {
    let res = client
        .post(url)
        .header("content-type", "application/json")
        .header("custom_hotel_id", &hotel.id)
        .header("custom_access_token", &hotel.access)
        .header("custom_password_token", &hotel.password)
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (s, v) = json_of(res).await;
    (s, v, retry_after)
}

async fn get_api(client: &reqwest::Client, url: String, key: &str) -> (u16, Value) {
    let res = client.get(url).bearer_auth(key).send().await.expect("request");
    json_of(res).await
}

fn task_ids(answer: &Value) -> Vec<String> {
    answer["tasks"]
        .as_array()
        .unwrap_or_else(|| panic!("no tasks in {answer}"))
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_owned())
        .collect()
}

pub(crate) fn client() -> reqwest::Client {
    // reqwest has no default crypto provider: hubhook's builder installs one.
    hubhook::http_client()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Attempts an instance counted as delivered (its `/metrics`).
pub(crate) async fn delivered_by(client: &reqwest::Client, instance: &Instance) -> u64 {
    let text = client
        .get(instance.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    text.lines()
        .find_map(|l| l.strip_prefix("hubhook_outbox_attempts_total{result=\"delivered\"} "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no delivered counter in {text}"))
}
