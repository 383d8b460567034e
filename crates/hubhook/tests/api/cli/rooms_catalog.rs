//! `rooms add`, `rooms import` and `rooms list`; `catalog list` and `catalog set` from the default
//! catalog.

use serde_json::{Value, json};

use super::{cli_in, create_hotel, run, temp};

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
