//! The real `hubhook` binary (CONTRACT.md §2): hotels, rooms, catalog, API keys, `send`, and changes
//! made while `serve` runs on the same database.

use std::{path::Path, process::Command};

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::{
    BACKEND, Backend, Hotel, TestApp, database_url, order, spawn_app, stored_bytes,
};

const DEFAULT_CATALOG: [(&str, &str); 25] = [
    ("2", "Change bed sheets"),
    ("3", "Request cleaning"),
    ("4", "Serve towels"),
    ("5", "Check minibar"),
    ("6", "Serve pillows"),
    ("7", "Serve amenities"),
    ("8", "Install baby cot"),
    ("9", "Install extra bed"),
    ("10", "Deep cleaning"),
    ("11", "Taps purge"),
    ("12", "Turndown service"),
    ("13", "Other task"),
    ("14", "Zip beds"),
    ("15", "Separate beds"),
    ("16", "Room service tray"),
    ("17", "Check"),
    ("18", "Review"),
    ("19", "Ventilate"),
    ("20", "Minibar restocking"),
    ("21", "Bellboy"),
    ("22", "Luggage"),
    ("23", "Ice bucket"),
    ("24", "Laundry"),
    ("25", "Valet"),
    ("26", "Security"),
];

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Out {
    /// stdout must be exactly one JSON document (whitespace around it aside).
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    fn success(self) -> Self {
        assert!(
            self.ok,
            "the command failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    fn failure(self) -> Self {
        assert!(
            !self.ok,
            "the command should have failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Runs the binary off the async runtime, so that a server in the same test keeps answering.
async fn run(mut cmd: Command, args: &[&str]) -> Out {
    cmd.args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("the hubhook binary runs");
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

/// The binary on `<dir>/x.db`, with no settings file or listen address from the environment.
fn cli_in(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hubhook"));
    cmd.env("HUBHOOK_DATABASE_URL", database_url(&dir.join("x.db")))
        .env_remove("HUBHOOK_CONFIG")
        .env_remove("HUBHOOK_LISTEN")
        .current_dir(dir);
    cmd
}

fn temp() -> TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn create_hotel(cmd: Command, extra: &[&str]) -> Hotel {
    let mut args = vec!["hotel", "create", "--json"];
    args.extend_from_slice(extra);
    let v = run(cmd, &args).await.success().json();
    Hotel {
        id: v["hotelId"].as_str().expect("hotelId").to_owned(),
        access: v["accessToken"].as_str().expect("accessToken").to_owned(),
        password: v["passwordToken"]
            .as_str()
            .expect("passwordToken")
            .to_owned(),
    }
}

fn assert_long_random(token: &str) {
    // 128 bits in base64 is at least 22 characters, in hex 32.
    assert!(token.len() >= 32, "token too short: {token:?}");
    let distinct: std::collections::HashSet<char> = token.chars().collect();
    assert!(
        distinct.len() >= 12,
        "token does not look random: {token:?}"
    );
    assert!(
        token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.~+/=".contains(c)),
        "token is not header-safe: {token:?}"
    );
}

#[tokio::test]
async fn hotel_create_json_prints_one_document_and_tokens_are_never_stored() {
    let dir = temp();
    let out = run(
        cli_in(dir.path()),
        &[
            "hotel",
            "create",
            "--name",
            "Grand Lisboa",
            "--id",
            "grand-lisboa",
            "--timezone",
            "Europe/Lisbon",
            "--json",
        ],
    )
    .await
    .success();
    let v = out.json();
    let keys: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        {
            let mut k = keys.clone();
            k.sort();
            k
        },
        vec!["accessToken", "hotelId", "passwordToken"]
    );
    assert_eq!(v["hotelId"], "grand-lisboa");
    let access = v["accessToken"].as_str().unwrap();
    let password = v["passwordToken"].as_str().unwrap();
    assert_long_random(access);
    assert_long_random(password);
    assert_ne!(access, password);

    // A second hotel gets other tokens.
    let other = create_hotel(cli_in(dir.path()), &["--name", "Other", "--id", "other"]).await;
    assert_ne!(other.access, access);
    assert_ne!(other.password, password);

    // An API key is shown once too.
    let key = run(
        cli_in(dir.path()),
        &["apikey", "create", "grand-lisboa", "--json"],
    )
    .await
    .success()
    .json();
    let api_key = key["apiKey"].as_str().expect("apiKey");
    assert_long_random(api_key);
    assert_eq!(key["role"], "staff", "{key}");

    // The database holds the hotel, never the tokens or the key.
    let bytes = stored_bytes(&dir.path().join("x.db"));
    assert!(
        contains(&bytes, b"Grand Lisboa"),
        "the search would find text"
    );
    for token in [access, password, &other.access, &other.password, api_key] {
        assert!(!contains(&bytes, token.as_bytes()), "{token} is stored");
    }

    // hotel list --json
    let list = run(cli_in(dir.path()), &["hotel", "list", "--json"])
        .await
        .success()
        .json();
    let hotels = list.as_array().expect("a list");
    assert_eq!(hotels.len(), 2, "{list}");
    let grand = hotels
        .iter()
        .find(|h| h["hotelId"] == "grand-lisboa")
        .expect("grand-lisboa listed");
    assert_eq!(grand["name"], "Grand Lisboa");
    assert_eq!(grand["timezone"], "Europe/Lisbon");
    assert_eq!(grand["syncPaidOrders"], false);
    assert!(hotels.iter().any(|h| h["hotelId"] == "other"));
    // Listing never shows secrets.
    assert!(!list.to_string().contains(access));

    // Text mode says where the tokens go.
    let text = run(
        cli_in(dir.path()),
        &["hotel", "create", "--name", "Texty", "--id", "texty"],
    )
    .await
    .success();
    assert!(text.stdout.contains("texty"), "{}", text.stdout);
    assert!(serde_json::from_str::<Value>(&text.stdout).is_err());
}

#[tokio::test]
async fn hotel_ids_are_generated_duplicates_and_bad_timezones_are_refused() {
    let dir = temp();
    let generated = create_hotel(cli_in(dir.path()), &["--name", "No id"]).await;
    assert!(!generated.id.is_empty());
    assert!(
        generated
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
        "{}",
        generated.id
    );
    let again = create_hotel(cli_in(dir.path()), &["--name", "No id either"]).await;
    assert_ne!(generated.id, again.id);

    create_hotel(cli_in(dir.path()), &["--name", "First", "--id", "dup"]).await;
    let out = run(
        cli_in(dir.path()),
        &[
            "hotel", "create", "--name", "Second", "--id", "dup", "--json",
        ],
    )
    .await
    .failure();
    assert!(out.stdout.trim().is_empty(), "{}", out.stdout);
    assert!(out.stderr.contains("dup"), "{}", out.stderr);
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);

    let out = run(
        cli_in(dir.path()),
        &[
            "hotel",
            "create",
            "--name",
            "Nowhere",
            "--id",
            "nowhere",
            "--timezone",
            "Mars/Olympus",
        ],
    )
    .await
    .failure();
    assert!(out.stderr.contains("timezone"), "{}", out.stderr);
    assert!(out.stderr.contains("Mars/Olympus"), "{}", out.stderr);

    let out = run(
        cli_in(dir.path()),
        &["hotel", "create", "--name", "Bad id", "--id", "has space"],
    )
    .await
    .failure();
    assert!(out.stderr.contains("has space"), "{}", out.stderr);

    let list = run(cli_in(dir.path()), &["hotel", "list", "--json"])
        .await
        .success()
        .json();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hotelId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(ids.contains(&generated.id.as_str()) && ids.contains(&"dup"));
    let dup = list
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hotelId"] == "dup")
        .unwrap();
    assert_eq!(dup["name"], "First", "the duplicate changed nothing");
    assert!(!ids.contains(&"nowhere"));
}

#[tokio::test]
async fn rooms_add_import_and_list() {
    let dir = temp();
    create_hotel(cli_in(dir.path()), &["--name", "R", "--id", "r"]).await;
    run(cli_in(dir.path()), &["rooms", "add", "r", "201", "202"])
        .await
        .success();
    let csv = dir.path().join("rooms.csv");
    std::fs::write(&csv, "room,floor\n301,3\n302,3\n\n303,\n").unwrap();
    run(
        cli_in(dir.path()),
        &["rooms", "import", "r", csv.to_str().unwrap()],
    )
    .await
    .success();

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "room,floor\n401,4\n,4\n402,4\n").unwrap();
    let out = run(
        cli_in(dir.path()),
        &["rooms", "import", "r", bad.to_str().unwrap()],
    )
    .await
    .failure();
    assert!(out.stderr.contains("line 3"), "{}", out.stderr);

    let no_header = dir.path().join("no-header.csv");
    std::fs::write(&no_header, "number\n501\n").unwrap();
    let out = run(
        cli_in(dir.path()),
        &["rooms", "import", "r", no_header.to_str().unwrap()],
    )
    .await
    .failure();
    assert!(out.stderr.contains("room"), "{}", out.stderr);

    let rooms = run(cli_in(dir.path()), &["rooms", "list", "r", "--json"])
        .await
        .success()
        .json();
    let rooms = rooms.as_array().expect("a list");
    let numbers: Vec<&str> = rooms.iter().map(|r| r["room"].as_str().unwrap()).collect();
    assert_eq!(numbers, vec!["201", "202", "301", "302", "303"]);
    let r301 = rooms.iter().find(|r| r["room"] == "301").unwrap();
    assert_eq!(r301["floor"], "3");
    let r201 = rooms.iter().find(|r| r["room"] == "201").unwrap();
    assert_eq!(r201["floor"], Value::Null);
    let r303 = rooms.iter().find(|r| r["room"] == "303").unwrap();
    assert_eq!(r303["floor"], Value::Null);

    // Adding a known room again is harmless.
    let out = run(
        cli_in(dir.path()),
        &["rooms", "add", "r", "201", "203", "--json"],
    )
    .await
    .success()
    .json();
    assert_eq!(out["added"], 1, "{out}");
    let rooms = run(cli_in(dir.path()), &["rooms", "list", "r", "--json"])
        .await
        .success()
        .json();
    assert_eq!(rooms.as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn catalog_list_and_set() {
    let dir = temp();
    let default = run(cli_in(dir.path()), &["catalog", "list", "--json"])
        .await
        .success()
        .json();
    let entries = default.as_array().expect("a list");
    assert_eq!(entries.len(), 25);
    let pairs: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["externalId"].as_str().unwrap(),
                e["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(pairs, DEFAULT_CATALOG.to_vec());

    create_hotel(cli_in(dir.path()), &["--name", "C", "--id", "c"]).await;
    let hotel = run(cli_in(dir.path()), &["catalog", "list", "c", "--json"])
        .await
        .success()
        .json();
    assert_eq!(
        hotel, default,
        "a new hotel starts with the default catalog"
    );

    run(
        cli_in(dir.path()),
        &[
            "catalog",
            "set",
            "c",
            "99",
            "Flowers",
            "--department",
            "Concierge",
            "--sla-minutes",
            "30",
        ],
    )
    .await
    .success();
    run(
        cli_in(dir.path()),
        &["catalog", "set", "c", "4", "Fresh towels"],
    )
    .await
    .success();
    let hotel = run(cli_in(dir.path()), &["catalog", "list", "c", "--json"])
        .await
        .success()
        .json();
    let entries = hotel.as_array().unwrap();
    assert_eq!(entries.len(), 26);
    let flowers = entries.iter().find(|e| e["externalId"] == "99").unwrap();
    assert_eq!(
        *flowers,
        json!({"externalId": "99", "name": "Flowers", "department": "Concierge", "slaMinutes": 30})
    );
    let towels = entries.iter().find(|e| e["externalId"] == "4").unwrap();
    assert_eq!(towels["name"], "Fresh towels");
    // The default catalog itself is untouched.
    let default_again = run(cli_in(dir.path()), &["catalog", "list", "--json"])
        .await
        .success()
        .json();
    assert_eq!(default_again, default);
}

#[tokio::test]
async fn commands_on_an_unknown_hotel_fail_with_a_message() {
    let dir = temp();
    create_hotel(cli_in(dir.path()), &["--name", "Known", "--id", "known"]).await;
    let csv = dir.path().join("rooms.csv");
    std::fs::write(&csv, "room\n1\n").unwrap();
    let csv = csv.to_str().unwrap();
    let commands: [&[&str]; 8] = [
        &["rooms", "add", "ghost", "101"],
        &["rooms", "import", "ghost", csv],
        &["rooms", "list", "ghost"],
        &["catalog", "list", "ghost"],
        &["catalog", "set", "ghost", "99", "Flowers"],
        &["apikey", "create", "ghost"],
        &["hotel", "set", "ghost", "--sync-paid-orders", "true"],
        &["hotel", "rotate-tokens", "ghost"],
    ];
    for args in commands {
        let out = run(cli_in(dir.path()), args).await.failure();
        assert!(
            out.stderr.contains("no hotel ghost"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(out.stdout.trim().is_empty(), "{args:?}: {}", out.stdout);
    }
}

#[tokio::test]
async fn the_database_is_created_on_first_use_in_the_default_location() {
    let dir = temp();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hubhook"));
    cmd.env_remove("HUBHOOK_DATABASE_URL")
        .env_remove("HUBHOOK_CONFIG")
        .current_dir(dir.path());
    assert!(!dir.path().join("hubhook.db").exists());
    let list = run(cmd, &["hotel", "list", "--json"])
        .await
        .success()
        .json();
    assert_eq!(list, json!([]));
    assert!(dir.path().join("hubhook.db").exists());
    // And it is a real database that keeps what is written to it.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hubhook"));
    cmd.env_remove("HUBHOOK_DATABASE_URL")
        .env_remove("HUBHOOK_CONFIG")
        .current_dir(dir.path());
    create_hotel(cmd, &["--name", "Default", "--id", "default-db"]).await;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hubhook"));
    cmd.env_remove("HUBHOOK_DATABASE_URL")
        .env_remove("HUBHOOK_CONFIG")
        .current_dir(dir.path());
    let list = run(cmd, &["hotel", "list", "--json"])
        .await
        .success()
        .json();
    assert_eq!(list[0]["hotelId"], "default-db");
    // --database-url wins over the default.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hubhook"));
    cmd.env_remove("HUBHOOK_DATABASE_URL")
        .env_remove("HUBHOOK_CONFIG")
        .current_dir(dir.path());
    let other = database_url(&dir.path().join("other.db"));
    let list = run(
        cmd,
        &["--database-url", other.as_str(), "hotel", "list", "--json"],
    )
    .await
    .success()
    .json();
    assert_eq!(list, json!([]));
    if BACKEND == Backend::Sqlite {
        assert!(dir.path().join("other.db").exists());
    }
}

async fn api_list(app: &TestApp, key: &str) -> Vec<Value> {
    let (status, body) = app.get_api(key, "/api/v1/tasks?limit=500").await;
    assert_eq!(status, 200, "{body}");
    body["tasks"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_by_the_cli_take_effect_on_the_running_server_at_once() {
    let app = spawn_app().await;
    // Make the server load its configuration before the CLI changes it.
    let seed = app.create_hotel("seed").await;
    let (s, _) = app.webhook(&seed, &order("seed-1", "101", &["4"])).await;
    assert_eq!(s, 201);

    // A hotel created by the CLI is known at once.
    let hotel = create_hotel(
        app.cli(),
        &[
            "--name",
            "Live",
            "--id",
            "live",
            "--timezone",
            "Europe/Lisbon",
        ],
    )
    .await;
    let (s, body) = app.webhook(&hotel, &order("l-1", "301", &["4"])).await;
    assert_eq!(s, 400, "credentials accepted, room unknown: {body}");
    assert_eq!(body["code"], "WEB_HUK_HUBOS_REQUEST_FAIL");
    assert_eq!(body["message"], "Unknown room");

    // A room added by the CLI is known at once.
    run(app.cli(), &["rooms", "add", "live", "301"])
        .await
        .success();
    let (s, body) = app.webhook(&hotel, &order("l-2", "301", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["tasks"][0]["room"], "301");

    // A catalog entry set by the CLI is known at once, with its SLA.
    let (s, body) = app.webhook(&hotel, &order("l-3", "301", &["99"])).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["message"], "Unknown service");
    run(
        app.cli(),
        &[
            "catalog",
            "set",
            "live",
            "99",
            "Flowers",
            "--department",
            "Concierge",
            "--sla-minutes",
            "30",
        ],
    )
    .await
    .success();
    let (s, body) = app.webhook(&hotel, &order("l-4", "301", &["99"])).await;
    assert_eq!(s, 201, "{body}");
    let task = &body["tasks"][0];
    assert_eq!(task["taskName"], "Flowers");
    let created: jiff::Timestamp = task["createdAt"].as_str().unwrap().parse().unwrap();
    let due: jiff::Timestamp = task["dueAt"]
        .as_str()
        .expect("an SLA gives a due time")
        .parse()
        .unwrap();
    assert_eq!(due.as_second() - created.as_second(), 30 * 60, "{task}");

    // An API key made by the CLI works against the server, and sees this hotel only.
    let key = run(
        app.cli(),
        &["apikey", "create", "live", "--role", "manager", "--json"],
    )
    .await
    .success()
    .json();
    let api_key = key["apiKey"].as_str().expect("apiKey");
    assert_long_random(api_key);
    let tasks = api_list(&app, api_key).await;
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    assert!(tasks.iter().all(|t| t["room"] == "301"));
    let (s, moved) = app
        .post_api(
            api_key,
            &format!("/api/v1/tasks/{}/status", tasks[0]["id"].as_str().unwrap()),
            &json!({"status": "accepted"}),
        )
        .await;
    assert_eq!(s, 200, "{moved}");

    // Paid orders are synced from the moment the setting is on.
    let mut paid = order("l-paid-1", "301", &["4"]);
    paid["resource"]["order"]["chargeAmount"] = json!(12.5);
    let (s, body) = app.webhook(&hotel, &paid).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "ignored");
    // (And no merging: each order here is meant to make its task.)
    run(
        app.cli(),
        &[
            "hotel",
            "set",
            "live",
            "--sync-paid-orders",
            "true",
            "--merge-window",
            "0",
        ],
    )
    .await
    .success();
    let listed = run(app.cli(), &["hotel", "list", "--json"])
        .await
        .success()
        .json();
    let live = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hotelId"] == "live")
        .unwrap();
    assert_eq!(live["syncPaidOrders"], true);
    paid["resource"]["order"]["id"] = json!("l-paid-2");
    let (s, body) = app.webhook(&hotel, &paid).await;
    assert_eq!(s, 201, "{body}");

    // Rotated tokens: the old ones are refused at once, the new ones accepted.
    let rotated = run(app.cli(), &["hotel", "rotate-tokens", "live", "--json"])
        .await
        .success()
        .json();
    let new = Hotel {
        id: "live".into(),
        access: rotated["accessToken"].as_str().unwrap().to_owned(),
        password: rotated["passwordToken"].as_str().unwrap().to_owned(),
    };
    assert_long_random(&new.access);
    assert_ne!(new.access, hotel.access);
    assert_ne!(new.password, hotel.password);
    let (s, body) = app.webhook(&hotel, &order("l-5", "301", &["4"])).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["code"], "WEB_HUK_INVALID_CREDS");
    assert_eq!(body["message"], "Invalid credentials.");
    // Half old, half new is refused too.
    let mixed = Hotel {
        password: hotel.password.clone(),
        ..new.clone()
    };
    let (s, body) = app.webhook(&mixed, &order("l-6", "301", &["4"])).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["code"], "WEB_HUK_INVALID_CREDS");
    let (s, body) = app.webhook(&new, &order("l-7", "301", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    // The API key survives the rotation.
    assert_eq!(api_list(&app, api_key).await.len(), 4);
    // The other hotel was not disturbed.
    let (s, body) = app.webhook(&seed, &order("seed-2", "102", &["22"])).await;
    assert_eq!(s, 201, "{body}");
}

fn send_args<'a>(url: &'a str, hotel: &'a Hotel) -> Vec<&'a str> {
    vec![
        "send",
        "orderCreated",
        "--url",
        url,
        "--hotel-id",
        &hotel.id,
        "--access-token",
        &hotel.access,
        "--password-token",
        &hotel.password,
        "--json",
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_delivers_an_order_and_reports_the_answer() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, hubhook::domain::Role::Staff).await;
    let url = app.url("/webhooks/duve");
    let mut args = send_args(&url, &hotel);
    args.extend(["--room", "101", "--external-id", "4", "--first-name", "Ana"]);
    let report = run(app.cli(), &args).await.success().json();
    assert_eq!(report["status"], 201, "{report}");
    assert_eq!(report["code"], "created", "{report}");
    let task = &report["response"]["tasks"][0];
    assert_eq!(task["taskName"], "Serve towels");
    assert_eq!(
        task["guestName"].as_str().map(|g| g.contains("Ana")),
        Some(true)
    );
    let id = task["id"].as_str().expect("task id");
    let (s, detail) = app.get_api(&key, &format!("/api/v1/tasks/{id}")).await;
    assert_eq!(s, 200, "{detail}");
    assert_eq!(detail["room"], "101");
    assert_eq!(detail["externalId"], "4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_with_a_wrong_token_fails_with_the_attempt_failed_report() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, hubhook::domain::Role::Staff).await;
    let url = app.url("/webhooks/duve");
    let wrong = Hotel {
        access: "hhat_wrong".into(),
        ..hotel.clone()
    };
    let mut args = send_args(&url, &wrong);
    args.extend(["--room", "101", "--external-id", "4", "--first-name", "Ana"]);
    let out = run(app.cli(), &args).await.failure();
    let report = out.json();
    assert_eq!(report["code"], "WEB_HUK_REQUEST_ATTEMPT_FAILED", "{report}");
    assert_eq!(
        report["message"],
        "Operation failed after 1 attempt, Please check credentials and request body."
    );
    assert_eq!(report["status"], 403);
    assert_eq!(report["lastStatus"], 400);
    assert_eq!(report["response"]["code"], "WEB_HUK_INVALID_CREDS");
    // Nothing was created.
    let (_, page) = app.get_api(&key, "/api/v1/tasks").await;
    assert_eq!(page["tasks"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_to_a_closed_port_gives_up_after_the_attempts() {
    // A port that was free a moment ago and on which nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/webhooks/duve");
    let hotel = Hotel {
        id: "h1".into(),
        access: "a".into(),
        password: "p".into(),
    };
    let dir = temp();
    let mut args = send_args(&url, &hotel);
    args.extend(["--room", "101", "--attempts", "2"]);
    let out = run(cli_in(dir.path()), &args).await.failure();
    let report = out.json();
    assert_eq!(report["code"], "WEB_HUK_REQUEST_ATTEMPT_FAILED", "{report}");
    assert_eq!(
        report["message"],
        "Operation failed after 2 attempt, Please check credentials and request body."
    );
    assert_eq!(report["status"], 403);
    assert_eq!(report["attempts"], 2);
    assert!(
        report.get("lastStatus").is_none_or(Value::is_null),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_body_sends_the_file_as_is() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, hubhook::domain::Role::Manager).await;
    let url = app.url("/webhooks/duve");
    let fixture = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../duve/tests/fixtures/orderCreated.hubos.json");
    let file_bytes = std::fs::read(&fixture).expect("fixture");
    let mut args = send_args(&url, &hotel);
    args.extend(["--body", fixture.to_str().unwrap()]);
    let report = run(app.cli(), &args).await.success().json();
    assert_eq!(report["status"], 201, "{report}");
    assert_eq!(report["code"], "created");
    assert_eq!(report["response"]["orderId"], "63be7b757c2370fadee27bd2");
    assert_eq!(report["response"]["tasks"][0]["quantity"], 2);
    // The server received exactly the file's bytes.
    let (_, inbound) = app.get_api(&key, "/api/v1/inbound").await;
    assert_eq!(
        inbound["entries"][0]["body"].as_str().unwrap().as_bytes(),
        &file_bytes[..]
    );
    // Sent again: Duve's retry, a duplicate, still a success.
    let report = run(app.cli(), &args).await.success().json();
    assert_eq!(report["status"], 200, "{report}");
    assert_eq!(report["code"], "duplicate");
    let (_, page) = app.get_api(&key, "/api/v1/tasks").await;
    assert_eq!(page["tasks"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn webhooks_and_deliveries_commands_manage_what_the_running_server_sends() {
    use crate::receiver::Receiver;
    use hubhook::outbox::sign;

    let dir = std::sync::Arc::new(temp());
    let app = crate::helpers::spawn_app_in(dir.clone(), |c| {
        c.outbox = crate::helpers::outbox_settings(hubhook::config::ServeSettings {
            retry_schedule: Some("50ms".into()),
            ..Default::default()
        });
    })
    .await;
    let hotel = app.create_hotel("h1").await;
    let rx = Receiver::start().await;
    let cli = || app.cli();

    let added = run(
        cli(),
        &[
            "webhooks",
            "add",
            "h1",
            "--url",
            &rx.url,
            "--events",
            "task.created",
            "--header",
            "X-Team: housekeeping",
            "--json",
        ],
    )
    .await
    .success()
    .json();
    let sub = added["id"].as_str().unwrap().to_owned();
    let secret = added["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let listed = run(cli(), &["webhooks", "list", "h1", "--json"])
        .await
        .success();
    assert!(
        !listed.stdout.contains(&secret),
        "the secret is shown only once"
    );
    let listed = listed.json();
    assert_eq!(listed[0]["id"], sub.as_str());
    assert_eq!(listed[0]["events"], json!(["task.created"]));
    assert_eq!(listed[0]["headers"][0]["name"], "X-Team");

    // The running server sees the new subscription at once.
    let (status, _) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    assert_eq!(status, 201);
    let r = rx.wait_for(1).await.remove(0);
    assert_eq!(r.header("x-team"), "housekeeping");
    let ts: i64 = r.header("webhook-timestamp").parse().unwrap();
    let msg = r.header("webhook-id");
    assert_eq!(
        r.header("webhook-signature"),
        sign::sign(&secret, &msg, ts, &r.body).unwrap()
    );
    let delivered = crate::receiver::eventually(
        "the delivery is recorded",
        || async {
            run(cli(), &["deliveries", "list", "h1", "--json"])
                .await
                .success()
                .json()
        },
        |v| v[0]["status"] == "delivered",
    )
    .await;
    assert_eq!(delivered[0]["id"], msg.as_str());
    let failed = run(
        cli(),
        &["deliveries", "list", "h1", "--status", "failed", "--json"],
    )
    .await
    .success()
    .json();
    assert_eq!(failed, json!([]));

    // Rotation, then a replay from the CLI: sent again, signed with both secrets.
    let rotated = run(cli(), &["webhooks", "rotate-secret", &sub, "--json"])
        .await
        .success()
        .json();
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    run(cli(), &["deliveries", "replay", &msg, "--json"])
        .await
        .success();
    let again = rx.wait_for(2).await.remove(1);
    assert_eq!(again.header("webhook-id"), msg);
    let ts: i64 = again.header("webhook-timestamp").parse().unwrap();
    assert_eq!(
        again.header("webhook-signature"),
        format!(
            "{} {}",
            sign::sign(&new_secret, &msg, ts, &again.body).unwrap(),
            sign::sign(&secret, &msg, ts, &again.body).unwrap()
        )
    );

    run(cli(), &["webhooks", "remove", &sub]).await.success();
    let out = run(cli(), &["webhooks", "remove", &sub]).await.failure();
    assert!(out.stderr.contains("no subscription"), "{}", out.stderr);
    let out = run(cli(), &["webhooks", "add", "h1", "--url", "ftp://nowhere"])
        .await
        .failure();
    assert!(out.stderr.contains("http(s)"), "{}", out.stderr);
    let out = run(cli(), &["deliveries", "replay", "msg_nope"])
        .await
        .failure();
    assert!(out.stderr.contains("no delivery"), "{}", out.stderr);
    app.stop().await;
}
