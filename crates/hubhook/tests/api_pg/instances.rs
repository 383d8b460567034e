//! Several hubhook processes on one PostgreSQL database: a unique key (not a lock in one process)
//! decides which delivery of an order makes its tasks; a change made through one process counts on
//! the others at once; a database out of reach is answered 503 and never with a 2xx.

use std::{
    collections::HashSet,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{
    helpers::{
        Hotel, LOCAL_RECEIVERS, OUTBOUND_ALLOW_ENV, database_url, expect_webhook_error, json_of,
        order, postgres,
    },
    receiver::Receiver,
};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicate_deliveries_split_across_two_instances_make_one_task() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_url(&dir.path().join("x.db"));
    let (hotel, key) = hotel_with_key(&db, "multi");
    let client = client();
    let a = Instance::start(&db, &client).await;
    let b = Instance::start(&db, &client).await;

    const ORDERS: usize = 25;
    const COPIES: usize = 8;
    let mut sends = Vec::new();
    for o in 0..ORDERS {
        let body = order(&format!("dup-{o}"), "101", &["4", "22"]);
        for copy in 0..COPIES {
            // Half of the copies of each order go to each instance, all at once.
            let url = if copy % 2 == 0 { a.url("/webhooks/duve") } else { b.url("/webhooks/duve") };
            let (client, hotel, body) = (client.clone(), hotel.clone(), body.clone());
            sends.push(tokio::spawn(async move {
                let (s, answer, _) = post(&client, url, &hotel, &body).await;
                (o, s, answer)
            }));
        }
    }
    let mut by_order: Vec<Vec<(u16, Value)>> = vec![Vec::new(); ORDERS];
    for s in sends {
        let (o, status, answer) = s.await.expect("sender");
        by_order[o].push((status, answer));
    }
    let mut all_ids = HashSet::new();
    for (o, answers) in by_order.iter().enumerate() {
        let created: Vec<&(u16, Value)> = answers.iter().filter(|(s, _)| *s == 201).collect();
        assert_eq!(created.len(), 1, "order {o}: {answers:?}");
        let ids = task_ids(&created[0].1);
        assert_eq!(ids.len(), 2);
        for (s, answer) in answers.iter().filter(|(s, _)| *s != 201) {
            assert_eq!(*s, 200, "{answer}");
            assert_eq!(answer["status"], "duplicate", "{answer}");
            assert_eq!(task_ids(answer), ids, "a duplicate names the same tasks");
        }
        all_ids.extend(ids);
    }

    // What the database holds, seen through either instance: exactly the tasks answered 201.
    for instance in [&a, &b] {
        let (s, page) = get_api(&client, instance.url("/api/v1/tasks?limit=500"), &key).await;
        assert_eq!(s, 200, "{page}");
        let listed: HashSet<String> = page["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(listed, all_ids);
        let (_, log) = get_api(&client, instance.url("/api/v1/inbound?limit=500"), &key).await;
        let entries = log["entries"].as_array().unwrap();
        assert_eq!(entries.len(), ORDERS * COPIES, "every delivery is logged once");
        let created = entries.iter().filter(|e| e["code"] == "created").count();
        assert_eq!(created, ORDERS);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_added_or_tokens_rotated_through_one_process_count_on_the_others_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_url(&dir.path().join("x.db"));
    let (hotel, _key) = hotel_with_key(&db, "cfg");
    let client = client();
    let a = Instance::start(&db, &client).await;
    let b = Instance::start(&db, &client).await;
    let hook = |i: &Instance| i.url("/webhooks/duve");

    // Both instances have the hotel in their caches, and neither knows room 103.
    for (n, i) in [&a, &b].into_iter().enumerate() {
        let (s, body, _) = post(&client, hook(i), &hotel, &order(&format!("warm-{n}"), "101", &["4"])).await;
        assert_eq!(s, 201, "{body}");
        let (s, body, _) = post(&client, hook(i), &hotel, &order(&format!("r103-{n}"), "103", &["4"])).await;
        expect_webhook_error(&(s, body), 400, "WEB_HUK_HUBOS_REQUEST_FAIL", "Unknown room");
    }

    // Another process adds the room: both instances take it from the next request on.
    let out = Command::new(env!("CARGO_BIN_EXE_hubhook"))
        .args(["rooms", "add", "cfg", "103"])
        .env("HUBHOOK_DATABASE_URL", &db)
        .env_remove("HUBHOOK_CONFIG")
        .output()
        .expect("run hubhook");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for (n, i) in [&b, &a].into_iter().enumerate() {
        let (s, body, _) = post(&client, hook(i), &hotel, &order(&format!("added-{n}"), "103", &["4"])).await;
        assert_eq!(s, 201, "{body}");
        assert_eq!(body["tasks"][0]["room"], "103");
    }

    // A catalog entry set by the CLI, likewise.
    let out = Command::new(env!("CARGO_BIN_EXE_hubhook"))
        .args(["catalog", "set", "cfg", "900", "Champagne on ice"])
        .env("HUBHOOK_DATABASE_URL", &db)
        .env_remove("HUBHOOK_CONFIG")
        .output()
        .expect("run hubhook");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (s, body, _) = post(&client, hook(&b), &hotel, &order("cat-1", "101", &["900"])).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["tasks"][0]["taskName"], "Champagne on ice");

    // Tokens rotated: the old ones stop working on both instances at once, the new ones work on both.
    let rotated = cli(&db, &["hotel", "rotate-tokens", "cfg"]);
    let fresh = Hotel {
        id: "cfg".into(),
        access: rotated["accessToken"].as_str().unwrap().to_owned(),
        password: rotated["passwordToken"].as_str().unwrap().to_owned(),
    };
    for (n, i) in [&a, &b].into_iter().enumerate() {
        let (s, body, _) = post(&client, hook(i), &hotel, &order(&format!("old-{n}"), "101", &["4"])).await;
        expect_webhook_error(&(s, body), 400, "WEB_HUK_INVALID_CREDS", "Invalid credentials.");
        let (s, body, _) = post(&client, hook(i), &fresh, &order(&format!("new-{n}"), "101", &["4"])).await;
        assert_eq!(s, 201, "{body}");
    }
}

/// `URL` with its database name replaced.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (authority, after) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let query = after.find('?').map(|i| &after[i..]).unwrap_or("");
    format!("{scheme}://{authority}/{name}{query}")
}

/// A database of its own (this test makes it refuse connections), dropped at the end.
struct OwnDatabase(String);

impl OwnDatabase {
    fn create() -> Self {
        let mut r = [0u8; 4];
        hubhook::domain::secret::fill_random(&mut r);
        let name = format!("hh_{}_{:08x}_db", std::process::id(), u32::from_le_bytes(r));
        postgres::admin_sql(format!("CREATE DATABASE \"{name}\"")).expect("create database");
        OwnDatabase(name)
    }

    fn url(&self) -> String {
        with_database(&postgres::admin_url(), &self.0)
    }

    fn allow_connections(&self, allow: bool) {
        postgres::admin_sql(format!(
            "ALTER DATABASE \"{}\" ALLOW_CONNECTIONS {allow}",
            self.0
        ))
        .expect("alter database");
        if !allow {
            postgres::admin_sql(format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
                self.0
            ))
            .expect("terminate backends");
        }
    }
}

impl Drop for OwnDatabase {
    fn drop(&mut self) {
        let _ = postgres::admin_sql(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_answered_503_with_retry_after_and_readyz_fails() {
    let own = OwnDatabase::create();
    // Short waits, so that the test does not sit through the 5 s defaults.
    let db = format!("{}?pool_timeout=1s&connect_timeout=1", own.url());
    let (hotel, key) = hotel_with_key(&db, "down");
    let client = client();
    let server = Instance::start(&db, &client).await;
    let hook = server.url("/webhooks/duve");
    let (s, body, _) = post(&client, hook.clone(), &hotel, &order("before", "101", &["4"])).await;
    assert_eq!(s, 201, "{body}");

    own.allow_connections(false);
    let (s, body, retry_after) = post(&client, hook.clone(), &hotel, &order("during", "101", &["4"])).await;
    expect_webhook_error(
        &(s, body),
        503,
        "WEB_HUK_UNAVAILABLE",
        "Temporarily unavailable, retry later.",
    );
    let secs: u64 = retry_after
        .expect("Retry-After on a 503")
        .parse()
        .expect("Retry-After in seconds");
    assert!(secs > 0);
    let res = client.get(server.url("/readyz")).send().await.expect("request");
    assert_eq!(res.status().as_u16(), 503);
    let res = client.get(server.url("/healthz")).send().await.expect("request");
    assert_eq!(res.status().as_u16(), 200, "the process itself is up");
    let (s, _) = get_api(&client, server.url("/api/v1/tasks"), &key).await;
    assert_eq!(s, 503);

    // Back: the same instance recovers without a restart, and what was refused was not stored.
    own.allow_connections(true);
    let res = client.get(server.url("/readyz")).send().await.expect("request");
    assert_eq!(res.status().as_u16(), 200);
    let (s, body, _) = post(&client, hook.clone(), &hotel, &order("after", "101", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    let (s, page) = get_api(&client, server.url("/api/v1/tasks"), &key).await;
    assert_eq!(s, 200);
    assert_eq!(page["tasks"].as_array().unwrap().len(), 2, "{page}");
    // Duve's retry of the refused delivery now makes its task.
    let (s, body, _) = post(&client, hook, &hotel, &order("during", "101", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_over_the_timeout_is_answered_503_and_not_stored() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_url(&dir.path().join("x.db"));
    let (hotel, key) = hotel_with_key(&db, "slow");
    let client = client();
    let server = Instance::start(&format!("{db}&statement_timeout=300ms"), &client).await;
    let hook = server.url("/webhooks/duve");

    // Another session holds the orders table: every webhook's statements wait on it.
    let schema = db
        .rsplit("search_path%3D")
        .next()
        .expect("a schema in the URL")
        .to_owned();
    let (locker, conn) = tokio_postgres::connect(&postgres::admin_url(), tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    locker
        .batch_execute(&format!(
            "BEGIN; LOCK TABLE \"{schema}\".orders IN ACCESS EXCLUSIVE MODE"
        ))
        .await
        .expect("lock");
    let (s, body, retry_after) = post(&client, hook.clone(), &hotel, &order("slow-1", "101", &["4"])).await;
    expect_webhook_error(
        &(s, body),
        503,
        "WEB_HUK_UNAVAILABLE",
        "Temporarily unavailable, retry later.",
    );
    assert!(retry_after.is_some());
    locker.batch_execute("ROLLBACK").await.expect("unlock");

    let (s, page) = get_api(&client, server.url("/api/v1/tasks"), &key).await;
    assert_eq!(s, 200);
    assert_eq!(page["tasks"].as_array().unwrap().len(), 0, "{page}");
    let (s, body, _) = post(&client, hook, &hotel, &order("slow-1", "101", &["4"])).await;
    assert_eq!(s, 201, "{body}");
}

/// A subscription to `url` for `task.created`, made with the CLI.
fn subscribe(db_url: &str, hotel: &str, url: &str) -> String {
    let added = cli(
        db_url,
        &["webhooks", "add", hotel, "--url", url, "--events", "task.created"],
    );
    added["id"].as_str().expect("subscription id").to_owned()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_outbox_and_deliver_each_confirmation_exactly_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_url(&dir.path().join("x.db"));
    let (hotel, _key) = hotel_with_key(&db, "outbox");
    let rx = Receiver::start().await;
    subscribe(&db, "outbox", &rx.url);
    let client = client();
    let a = Instance::start(&db, &client).await;
    let b = Instance::start(&db, &client).await;

    const ORDERS: usize = 40;
    let mut sends = Vec::new();
    for o in 0..ORDERS {
        let url = if o % 2 == 0 { a.url("/webhooks/duve") } else { b.url("/webhooks/duve") };
        let body = order(&format!("out-{o}"), "101", &["4"]);
        let (client, hotel) = (client.clone(), hotel.clone());
        sends.push(tokio::spawn(async move { post(&client, url, &hotel, &body).await }));
    }
    let mut created = HashSet::new();
    for s in sends {
        let (status, answer, _) = s.await.expect("sender");
        assert_eq!(status, 201, "{answer}");
        created.extend(task_ids(&answer));
    }
    assert_eq!(created.len(), ORDERS);

    rx.wait_for(ORDERS).await;
    // Room for a second sending, had there been one.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = rx.received();
    let ids: HashSet<String> = got.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(got.len(), ORDERS, "each delivery sent once: {} sendings", got.len());
    assert_eq!(ids.len(), ORDERS);
    let tasks: HashSet<String> = got
        .iter()
        .map(|r| r.json()["data"]["id"].as_str().expect("task id").to_owned())
        .collect();
    assert_eq!(tasks, created, "one task.created per task made, through either instance");

    let (by_a, by_b) = (delivered_by(&client, &a).await, delivered_by(&client, &b).await);
    assert_eq!(by_a + by_b, ORDERS as u64, "a: {by_a}, b: {by_b}");
    assert!(by_a > 0 && by_b > 0, "both instances delivered (a: {by_a}, b: {by_b})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_claimed_by_a_killed_instance_are_sent_by_another_once_the_lease_expires() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_url(&dir.path().join("x.db"));
    let (hotel, _key) = hotel_with_key(&db, "killed");
    // A slow receiver: attempts are under way (claimed, not recorded) when the instance is killed.
    let rx = Receiver::start().await;
    rx.set_delay(Duration::from_millis(1500));
    subscribe(&db, "killed", &rx.url);
    let client = client();
    // Lease: twice the 2 s timeout plus 15 s.
    let env = [("HUBHOOK_OUTBOX_TIMEOUT", "2s")];
    let mut a = Instance::start_with(&db, &client, &env).await;

    const ORDERS: usize = 6;
    for o in 0..ORDERS {
        let (status, answer, _) = post(
            &client,
            a.url("/webhooks/duve"),
            &hotel,
            &order(&format!("k-{o}"), "101", &["4"]),
        )
        .await;
        assert_eq!(status, 201, "{answer}");
    }
    let before = rx.wait_for(1).await;
    a.child.kill().expect("SIGKILL");
    let _ = a.child.wait();
    let killed = Instant::now();
    let in_flight: HashSet<String> = before.iter().map(|r| r.header("webhook-id")).collect();
    rx.set_delay(Duration::ZERO);

    let b = Instance::start_with(&db, &client, &env).await;
    // Longer than `eventually` waits: the lease (19 s) has to run out first.
    let deadline = Instant::now() + Duration::from_secs(60);
    let all = loop {
        let v = cli(&db, &["deliveries", "list", "killed", "--limit", "100"]);
        let done = v.as_array().is_some_and(|d| {
            d.len() == ORDERS && d.iter().all(|d| d["status"] == "delivered")
        });
        if done {
            break v;
        }
        assert!(Instant::now() < deadline, "not all delivered: {v}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(all.as_array().unwrap().len(), ORDERS);
    let got = rx.received();
    for id in &in_flight {
        let times: Vec<Instant> = got
            .iter()
            .filter(|r| &r.header("webhook-id") == id)
            .map(|r| r.at)
            .collect();
        assert!(times.len() >= 2, "{id}: sent again after the kill");
        let last = *times.iter().max().unwrap();
        assert!(
            last >= killed + Duration::from_secs(10),
            "{id}: not sent again before its lease ran out ({:?} after the kill)",
            last - killed
        );
    }
    assert!(delivered_by(&client, &b).await >= in_flight.len() as u64);
}

/// Reads an event stream until `needle` shows up (or fails after 10 s).
async fn read_until(res: &mut reqwest::Response, needle: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    while !seen.contains(needle) {
        let chunk = tokio::time::timeout_at(deadline, res.chunk())
            .await
            .unwrap_or_else(|_| panic!("{needle:?} not in the stream; got {seen:?}"))
            .expect("stream")
            .expect("stream open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

/// The cookies a response sets, as `name=value`.
fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_changed_through_one_instance_reaches_the_live_board_of_another() {
    use crate::ui_support::{PASSWORD, csrf_of, form_body};
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_url(&dir.path().join("x.db"));
    let (hotel, key) = hotel_with_key(&db, "live");
    add_user(&db, "usr_live", "live", "ana@live.test", hubhook::domain::Role::Staff).await;
    let client = client();
    let a = Instance::start(&db, &client).await;
    let b = Instance::start(&db, &client).await;

    // Signed in on B.
    let browser = hubhook::http_client()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let form = browser.get(b.url("/login")).send().await.expect("login page");
    let mut cookies = set_cookies(&form);
    let csrf = csrf_of(&form.text().await.expect("login page"));
    let signed = browser
        .post(b.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookies.join("; "))
        .body(form_body(&[
            ("email", "ana@live.test"),
            ("password", PASSWORD),
            ("csrf", &csrf),
        ]))
        .send()
        .await
        .expect("login");
    assert_eq!(signed.status(), 303);
    cookies.extend(set_cookies(&signed));
    let session = cookies
        .iter()
        .rev()
        .find(|c| c.starts_with("hubhook_session="))
        .expect("a session cookie")
        .clone();
    let mut events = browser
        .get(b.url("/board/events"))
        .header("cookie", &session)
        .send()
        .await
        .expect("event stream");
    assert_eq!(events.status(), 200);
    read_until(&mut events, "event: ready").await;

    // A Duve order and a staff move, both through A.
    let (status, answer, _) = post(&client, a.url("/webhooks/duve"), &hotel, &order("live-1", "101", &["4"])).await;
    assert_eq!(status, 201, "{answer}");
    let id = task_ids(&answer).remove(0);
    let seen = read_until(&mut events, &id).await;
    assert!(seen.contains(r#""kind":"created""#), "{seen}");
    let moved = client
        .post(a.url(&format!("/api/v1/tasks/{id}/status")))
        .bearer_auth(&key)
        .json(&serde_json::json!({"status": "accepted"}))
        .send()
        .await
        .expect("move");
    assert_eq!(moved.status(), 200);
    read_until(&mut events, r#""status":"accepted""#).await;
}

/// Rows an instance's pruner deleted from `table` (its `/metrics`).
async fn pruned_by(client: &reqwest::Client, instance: &Instance, table: &str) -> u64 {
    let text = client
        .get(instance.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    let prefix = format!("hubhook_retention_pruned_total{{table=\"{table}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_prune_one_backlog_together_each_row_once() {
    const BACKLOG: u64 = 10_000;
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_url(&dir.path().join("x.db"));
    let (hotel, key) = hotel_with_key(&db, "prune");
    {
        // Refusals logged 90 days ago, written straight through the store (no server runs yet).
        let store = hubhook::store::open(&db).await.expect("open the store");
        let long_ago = jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::from_hours(24 * 90))
            .unwrap();
        let mut writers = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let store = store.clone();
            writers.spawn(async move {
                for _ in 0..BACKLOG / 16 {
                    store
                        .record_refusal(hubhook::store::Refused {
                            hotel: hubhook::domain::HotelId::parse("prune").unwrap(),
                            code: "WEB_HUK_INVALID_BODY",
                            details: vec![],
                            event: None,
                            received_at: long_ago,
                            started: Instant::now(),
                        })
                        .await
                        .expect("log a refusal");
                }
            });
        }
        while let Some(done) = writers.join_next().await {
            done.expect("writer");
        }
    }
    let client = client();
    let (a, b) = tokio::join!(Instance::start(&db, &client), Instance::start(&db, &client));
    // Both keep answering while they prune.
    for (i, instance) in [&a, &b].into_iter().enumerate() {
        let (s, body, _) = post(
            &client,
            instance.url("/webhooks/duve"),
            &hotel,
            &order(&format!("p-{i}"), "101", &["4"]),
        )
        .await;
        assert_eq!(s, 201, "{body}");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let (by_a, by_b) = loop {
        let by = (
            pruned_by(&client, &a, "inbound").await,
            pruned_by(&client, &b, "inbound").await,
        );
        if by.0 + by.1 >= BACKLOG {
            break by;
        }
        assert!(Instant::now() < deadline, "pruned so far: {by:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!("pruned by a: {by_a}, by b: {by_b}");
    assert_eq!(by_a + by_b, BACKLOG, "each row deleted once (a: {by_a}, b: {by_b})");
    let (s, log) = get_api(&client, a.url("/api/v1/inbound?limit=500"), &key).await;
    assert_eq!(s, 200, "{log}");
    let entries = log["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2, "only the two new deliveries are left: {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_added_through_one_instances_pages_counts_on_the_other_at_once() {
    use crate::ui_support::{PASSWORD, UiClient};
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_url(&dir.path().join("x.db"));
    let (hotel, _key) = hotel_with_key(&db, "paged");
    let (other, _) = hotel_with_key(&db, "other");
    add_user(&db, "usr_paged", "paged", "boss@paged.test", hubhook::domain::Role::Manager).await;
    let client = client();
    let a = Instance::start(&db, &client).await;
    let b = Instance::start(&db, &client).await;
    let hook = |i: &Instance| i.url("/webhooks/duve");

    // B has the hotel cached, without room 404.
    let (s, body, _) = post(&client, hook(&b), &hotel, &order("warm", "101", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    let (s, body, _) = post(&client, hook(&b), &hotel, &order("early", "404", &["4"])).await;
    expect_webhook_error(&(s, body), 400, "WEB_HUK_HUBOS_REQUEST_FAIL", "Unknown room");

    // The manager adds the room through A's pages.
    let mut ui = UiClient::at(&a.base);
    let res = ui.login("boss@paged.test", PASSWORD).await;
    assert_eq!(res.status, 303, "{}", res.body);
    let csrf = ui.csrf().await;
    let res = ui
        .post("/manage/rooms", &[("csrf", &csrf), ("rooms", "404"), ("floor", "4")])
        .await;
    assert_eq!(res.status, 303, "{}", res.body);

    // B takes it from its next webhook on; the other hotel's webhooks on B never noticed.
    let (s, body, _) = post(&client, hook(&b), &hotel, &order("late", "404", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["tasks"][0]["room"], "404");
    let (s, body, _) = post(&client, hook(&b), &other, &order("other-1", "101", &["4"])).await;
    assert_eq!(s, 201, "{body}");
}

/// An account of `hotel` with the UI tests' password, written straight into the store.
async fn add_user(db: &str, id: &str, hotel: &str, email: &str, role: hubhook::domain::Role) {
    let store = hubhook::store::open(db).await.expect("open the store");
    store
        .create_user(hubhook::store::NewUser {
            id: id.into(),
            hotel: hubhook::domain::HotelId::parse(hotel).expect("hotel id"),
            email: email.into(),
            role,
            department: None,
            password_hash: hubhook::domain::password::hash(crate::ui_support::PASSWORD)
                .expect("hash"),
        })
        .await
        .expect("create user");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_escalate_each_task_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_url(&dir.path().join("x.db"));
    let (hotel, _key) = hotel_with_key(&db, "esc");
    cli(&db, &["hotel", "set", "esc", "--escalate-after", "1s"]);
    let rx = Receiver::start().await;
    let added = cli(
        &db,
        &["webhooks", "add", "esc", "--url", &rx.url, "--events", "task.escalated"],
    );
    assert!(added["id"].is_string(), "{added}");
    let client = client();
    let a = Instance::start(&db, &client).await;
    let b = Instance::start(&db, &client).await;

    // Many tasks whose deadlines fall within the same second, made through either instance: both
    // dispatchers find them due at once.
    const ORDERS: usize = 100;
    let mut sends = Vec::new();
    for o in 0..ORDERS {
        let url = if o % 2 == 0 { a.url("/webhooks/duve") } else { b.url("/webhooks/duve") };
        let body = order(&format!("esc-{o}"), "101", &["4", "6", "7"]);
        let (client, hotel) = (client.clone(), hotel.clone());
        sends.push(tokio::spawn(async move { post(&client, url, &hotel, &body).await }));
    }
    let mut created = HashSet::new();
    for s in sends {
        let (status, answer, _) = s.await.expect("sender");
        assert_eq!(status, 201, "{answer}");
        created.extend(task_ids(&answer));
    }
    assert_eq!(created.len(), ORDERS * 3);

    rx.wait_for(created.len()).await;
    // Room for a second escalation of any of them, had there been one.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let got = rx.received();
    assert_eq!(got.len(), created.len(), "one task.escalated per task: {} sent", got.len());
    let escalated: HashSet<String> = got
        .iter()
        .map(|r| {
            let b = r.json();
            assert_eq!(b["reason"], "unaccepted", "{b}");
            b["data"]["id"].as_str().expect("task id").to_owned()
        })
        .collect();
    assert_eq!(escalated, created, "each task escalated, each once");
}
