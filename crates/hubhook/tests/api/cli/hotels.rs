//! `hotel create` and `hotel list`: the JSON document and its tokens, ids and timezones, unknown
//! hotels, and the database made on first use.

use std::process::Command;

use serde_json::{Value, json};

use super::{assert_long_random, cli_in, contains, create_hotel, run, temp};
use crate::helpers::{BACKEND, Backend, database_url, stored_bytes};

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
