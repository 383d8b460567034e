//! The crash test: many concurrent Duve deliveries, the real server killed with SIGKILL at a random
//! moment, restarted on the same database. Every delivery answered 2xx keeps its tasks (a redelivery
//! names the same ones), and every `task.created` confirmation of those tasks reaches the receiver:
//! at least once, a repeat only ever under the same `webhook-id`.
//!
//! Short form (CI, `cargo test`): [`DEFAULT_TRIALS`] trials. Long form: `HUBHOOK_CRASH_TRIALS=20`
//! (see `scripts/crash-test.sh`). Each trial prints one `crash-trial` line with its figures and its
//! seed; `HUBHOOK_CRASH_SEED=<seed>` replays a trial's kill moment and order mix.

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{
    helpers::{Hotel, json_of, order},
    receiver::Receiver,
    restart::{Server, cli, task_ids},
};

const DEFAULT_TRIALS: u64 = 3;
/// Concurrent senders, each one delivery at a time.
const CLIENTS: usize = 16;
/// The kill comes this long after the senders start: at least the first bound, less than the second.
const KILL_AFTER_MS: (u64, u64) = (150, 1500);
/// Attempt timeout of the server under test: a claim held by the killed process comes back after
/// its lease (twice this plus 15 s), which bounds how long the confirmations take after a restart.
const OUTBOX_TIMEOUT: &str = "1s";
const CONFIRM_DEADLINE: Duration = Duration::from_secs(90);

/// splitmix64: a seeded, replayable sequence without a dependency.
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
        self.next() % n.max(1)
    }
}

/// What happened to one delivery a sender made.
enum Sent {
    /// Answered 2xx, naming these tasks.
    Answered(Value, Vec<String>),
    /// Sent, but the connection died before a whole answer came back: in flight at the kill.
    InFlight(Value),
}

#[derive(Debug, Default)]
struct Figures {
    seed: u64,
    kill_after_ms: u64,
    sent: usize,
    answered: usize,
    in_flight: usize,
    /// In-flight deliveries that had committed before the kill (their redelivery is a duplicate).
    in_flight_committed: usize,
    tasks: usize,
    tasks_lost: usize,
    confirmations_lost: usize,
    /// Receptions beyond the first of a `webhook-id` (at-least-once).
    duplicates: usize,
    restart_to_healthy_ms: u128,
    restart_to_confirmed_ms: u128,
}

impl Figures {
    fn line(&self) -> String {
        format!(
            "crash-trial seed={} kill_after_ms={} sent={} answered_2xx={} in_flight={} \
             in_flight_committed={} tasks={} tasks_lost={} confirmations_lost={} duplicates={} \
             restart_to_healthy_ms={} restart_to_confirmed_ms={}",
            self.seed,
            self.kill_after_ms,
            self.sent,
            self.answered,
            self.in_flight,
            self.in_flight_committed,
            self.tasks,
            self.tasks_lost,
            self.confirmations_lost,
            self.duplicates,
            self.restart_to_healthy_ms,
            self.restart_to_confirmed_ms
        )
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let raw = std::env::var(name).ok()?;
    Some(
        raw.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={raw:?} is not a number")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_deliveries_keep_their_tasks_and_confirmations_across_sigkills() {
    let trials = env_u64("HUBHOOK_CRASH_TRIALS").unwrap_or(DEFAULT_TRIALS);
    let seed = env_u64("HUBHOOK_CRASH_SEED").unwrap_or_else(|| {
        let mut r = [0u8; 8];
        hubhook::domain::secret::fill_random(&mut r);
        u64::from_le_bytes(r) >> 1
    });
    eprintln!("crash test: {trials} trial(s), first seed {seed} (HUBHOOK_CRASH_SEED replays it)");
    let mut all = Vec::new();
    for t in 0..trials {
        let figures = trial(seed.wrapping_add(t)).await;
        eprintln!("{}", figures.line());
        all.push(figures);
    }
    let sum = |f: fn(&Figures) -> usize| all.iter().map(f).sum::<usize>();
    let max = |f: fn(&Figures) -> u128| all.iter().map(f).max().unwrap_or(0);
    eprintln!(
        "crash-summary trials={} sent={} answered_2xx={} in_flight={} in_flight_committed={} \
         tasks={} tasks_lost={} confirmations_lost={} duplicates={} max_restart_to_healthy_ms={} \
         max_restart_to_confirmed_ms={}",
        all.len(),
        sum(|f| f.sent),
        sum(|f| f.answered),
        sum(|f| f.in_flight),
        sum(|f| f.in_flight_committed),
        sum(|f| f.tasks),
        sum(|f| f.tasks_lost),
        sum(|f| f.confirmations_lost),
        sum(|f| f.duplicates),
        max(|f| f.restart_to_healthy_ms),
        max(|f| f.restart_to_confirmed_ms),
    );
}

/// A Duve delivery and what came back: 2xx with the named tasks, or nothing whole (`None`). Any
/// other answer fails the test: these orders are new and valid.
async fn deliver(
    client: &reqwest::Client,
    url: &str,
    hotel: &Hotel,
    body: &Value,
) -> Option<(u16, Vec<String>)> {
    let res = client
        .post(url)
        .header("content-type", "application/json")
        .header("custom_hotel_id", &hotel.id)
        .header("custom_access_token", &hotel.access)
        .header("custom_password_token", &hotel.password)
        .body(body.to_string())
        .send()
        .await
        .ok()?;
    let status = res.status().as_u16();
    // A status line without its whole body is no answer Duve could act on.
    let bytes = res.bytes().await.ok()?;
    let answer: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("{status}: not JSON: {}", String::from_utf8_lossy(&bytes)));
    assert!(
        (200..300).contains(&status),
        "a valid new order answered {status}: {answer}"
    );
    Some((status, task_ids(&answer)))
}

async fn trial(seed: u64) -> Figures {
    let mut rng = Rng(seed);
    let mut f = Figures {
        seed,
        kill_after_ms: KILL_AFTER_MS.0 + rng.below(KILL_AFTER_MS.1 - KILL_AFTER_MS.0),
        ..Default::default()
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("crash.db");
    let (hotel, key) = setup(&db, dir.path());
    let rx = Receiver::start().await;
    cli(
        &db,
        dir.path(),
        &[
            "webhooks",
            "add",
            "crash",
            "--url",
            &rx.url,
            "--events",
            "task.created",
        ],
    );
    let env = [
        ("HUBHOOK_RETRY_SCHEDULE", "100ms,200ms,500ms,1s,1s,2s,2s,5s"),
        ("HUBHOOK_OUTBOX_TIMEOUT", OUTBOX_TIMEOUT),
    ];
    let client = hubhook::http_client()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let mut server = Server::start_with(&db, dir.path(), &env);
    server.wait_healthy(&client).await;
    let url = server.url("/webhooks/duve");

    // Senders, each with its own replayable mix of one- and two-item orders, until the server dies.
    let mut senders = Vec::new();
    for c in 0..CLIENTS {
        let (client, url, hotel) = (client.clone(), url.clone(), hotel.clone());
        let mut rng = Rng(seed ^ ((c as u64 + 1) << 32));
        senders.push(tokio::spawn(async move {
            let mut log = Vec::new();
            for i in 0.. {
                let items: &[&str] = if rng.below(3) == 0 {
                    &["4", "22"]
                } else {
                    &["3"]
                };
                let body = order(&format!("c{c}-{i}"), "101", items);
                match deliver(&client, &url, &hotel, &body).await {
                    Some((_, ids)) => log.push(Sent::Answered(body, ids)),
                    None => {
                        log.push(Sent::InFlight(body));
                        break;
                    }
                }
            }
            log
        }));
    }
    tokio::time::sleep(Duration::from_millis(f.kill_after_ms)).await;
    server.kill();
    let mut answered = Vec::new();
    let mut in_flight = Vec::new();
    for s in senders {
        for sent in s.await.expect("a sender failed") {
            match sent {
                Sent::Answered(body, ids) => answered.push((body, ids)),
                Sent::InFlight(body) => in_flight.push(body),
            }
        }
    }
    f.answered = answered.len();
    f.in_flight = in_flight.len();
    f.sent = f.answered + f.in_flight;
    assert!(
        f.answered > 0,
        "seed {seed}: nothing was answered before the kill"
    );

    let restarted = Instant::now();
    let mut server = Server::start_with(&db, dir.path(), &env);
    server.wait_healthy(&client).await;
    f.restart_to_healthy_ms = restarted.elapsed().as_millis();
    let url = server.url("/webhooks/duve");

    // Every answered order's tasks exist, and a redelivery names the same ones.
    let mut expected: HashSet<String> = HashSet::new();
    for (body, ids) in &answered {
        for id in ids {
            let res = client
                .get(server.url(&format!("/api/v1/tasks/{id}")))
                .bearer_auth(&key)
                .send()
                .await
                .expect("task detail");
            let (status, detail) = json_of(res).await;
            if status != 200 {
                f.tasks_lost += 1;
                eprintln!("seed {seed}: task {id} answered 2xx but lost: {status} {detail}");
            }
        }
        let (status, again) = deliver(&client, &url, &hotel, body)
            .await
            .expect("the restarted server answers");
        assert_eq!(status, 200, "seed {seed}: a redelivery is a duplicate");
        assert_eq!(
            &again, ids,
            "seed {seed}: a redelivery names the same tasks"
        );
        expected.extend(ids.iter().cloned());
    }
    assert_eq!(f.tasks_lost, 0, "seed {seed}: tasks answered 2xx were lost");
    // What was in flight at the kill either committed (a duplicate now) or not (created now);
    // Duve would deliver it again, so its tasks are owed a confirmation too.
    for body in &in_flight {
        let (status, ids) = deliver(&client, &url, &hotel, body)
            .await
            .expect("the restarted server answers");
        if status == 200 {
            f.in_flight_committed += 1;
        }
        expected.extend(ids);
    }
    f.tasks = expected.len();

    // Every task.created reaches the receiver, one webhook-id per task.
    let deadline = Instant::now() + CONFIRM_DEADLINE;
    let got = loop {
        let got = rx.received();
        let confirmed: HashSet<String> = got.iter().filter_map(task_of).collect();
        if expected.is_subset(&confirmed) {
            f.restart_to_confirmed_ms = restarted.elapsed().as_millis();
            break got;
        }
        if Instant::now() >= deadline {
            f.confirmations_lost = expected.difference(&confirmed).count();
            panic!(
                "seed {seed}: {} of {} confirmations never arrived: {}",
                f.confirmations_lost,
                expected.len(),
                f.line()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut ids_of_task: HashMap<String, HashSet<String>> = HashMap::new();
    let mut seen_ids = HashSet::new();
    for r in &got {
        let id = r.header("webhook-id");
        if !seen_ids.insert(id.clone()) {
            f.duplicates += 1;
        }
        if let Some(task) = task_of(r) {
            ids_of_task.entry(task).or_default().insert(id);
        }
    }
    for (task, ids) in &ids_of_task {
        assert_eq!(
            ids.len(),
            1,
            "seed {seed}: task {task} confirmed under several webhook-ids: {ids:?}"
        );
    }
    // The outbox agrees: nothing left pending, nothing failed.
    let pending = wait_no_pending(&db, dir.path()).await;
    assert!(pending, "seed {seed}: deliveries still pending");
    let failed = cli(
        &db,
        dir.path(),
        &["deliveries", "list", "crash", "--status", "failed"],
    );
    assert_eq!(
        failed,
        Value::Array(vec![]),
        "seed {seed}: failed deliveries"
    );
    f
}

/// The confirmed task of a `task.created` reception.
fn task_of(r: &crate::receiver::Received) -> Option<String> {
    let body = r.json();
    (body["type"] == "task.created")
        .then(|| body["data"]["id"].as_str().map(str::to_owned))
        .flatten()
}

/// A hotel (rooms 101, 102) and a staff API key, made with the CLI.
fn setup(db: &Path, dir: &Path) -> (Hotel, String) {
    let created = cli(
        db,
        dir,
        &["hotel", "create", "--name", "Crash", "--id", "crash"],
    );
    let hotel = Hotel {
        id: "crash".into(),
        access: created["accessToken"].as_str().expect("token").to_owned(),
        password: created["passwordToken"].as_str().expect("token").to_owned(),
    };
    cli(db, dir, &["rooms", "add", "crash", "101", "102"]);
    // Each order of these tests is meant to make its tasks: no merging of repeated requests.
    cli(db, dir, &["hotel", "set", "crash", "--merge-window", "0"]);
    let key = cli(db, dir, &["apikey", "create", "crash"])["apiKey"]
        .as_str()
        .expect("api key")
        .to_owned();
    (hotel, key)
}

/// Waits (up to 20 s: the receiver has answered, the attempts are being recorded) until the hotel
/// has no pending delivery.
async fn wait_no_pending(db: &Path, dir: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pending = cli(
            db,
            dir,
            &["deliveries", "list", "crash", "--status", "pending"],
        );
        if pending.as_array().is_some_and(Vec::is_empty) {
            return true;
        }
        if Instant::now() >= deadline {
            eprintln!("still pending: {pending}");
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
