//! The shift report with two instances on one PostgreSQL database: at a shift end every hotel's
//! report is sent once, whichever instance's checker finds it first (`hotels.report_at` claimed
//! with `FOR NO KEY UPDATE SKIP LOCKED`); the shift ends set with the CLI while both run.

use std::{collections::HashMap, time::Duration};

use jiff::{SignedDuration, tz::TimeZone};

use crate::{
    helpers::{database_url, order},
    instances::{Instance, cli, client, delivered_by, hotel_with_key, post},
    receiver::Receiver,
    reports::{hhmm, next_minute, sleep_until},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_send_each_hotels_shift_report_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_url(&dir.path().join("x.db"));
    let rx = Receiver::start().await;
    let client = client();
    let a = Instance::start(&db, &client).await;
    let b = Instance::start(&db, &client).await;

    // Hotels with a task each, made through either instance, and a subscription to the report.
    const HOTELS: usize = 24;
    let mut hotels = Vec::new();
    for i in 0..HOTELS {
        let id = format!("shift-{i}");
        let (hotel, _key) = hotel_with_key(&db, &id);
        cli(
            &db,
            &["webhooks", "add", &id, "--url", &rx.url, "--events", "report.shift"],
        );
        let via = if i % 2 == 0 { &a } else { &b };
        let (s, answer, _) =
            post(&client, via.url("/webhooks/duve"), &hotel, &order("o-1", "101", &["4"])).await;
        assert_eq!(s, 201, "{answer}");
        hotels.push(id);
    }

    // Every hotel's shift ends at the same moment, set through the CLI while both instances run.
    let tz = TimeZone::get("Europe/Lisbon").unwrap();
    let end = next_minute(Duration::from_secs(3 + HOTELS as u64 / 2));
    let start = end.checked_sub(SignedDuration::from_hours(8)).unwrap();
    let ends = format!("{},{}", hhmm(start, &tz), hhmm(end, &tz));
    for id in &hotels {
        cli(
            &db,
            &["hotel", "set", id, "--timezone", "Europe/Lisbon", "--shift-ends", &ends],
        );
    }
    assert!(jiff::Timestamp::now() < end, "the hotels were set up after their shift end");
    sleep_until(end).await;
    rx.wait_for(HOTELS).await;
    // Both instances check again, twice, meanwhile: nothing is sent again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let got = rx.received();
    let mut per_hotel: HashMap<String, usize> = HashMap::new();
    for r in &got {
        let body = r.json();
        assert_eq!(body["type"], "report.shift", "{body}");
        assert_eq!(body["data"]["to"], format!("{end:.3}"), "{body}");
        assert_eq!(body["data"]["created"], 1, "{body}");
        *per_hotel
            .entry(body["hotelId"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(got.len(), HOTELS, "each report sent once: {per_hotel:?}");
    assert!(per_hotel.values().all(|n| *n == 1), "{per_hotel:?}");
    assert_eq!(per_hotel.len(), HOTELS);
    let sent = delivered_by(&client, &a).await + delivered_by(&client, &b).await;
    assert_eq!(sent, HOTELS as u64, "deliveries counted by the two instances");
}
