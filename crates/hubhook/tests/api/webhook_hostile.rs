//! Hostile and broken deliveries: size limit (row 0), bodies that are not a Duve envelope (row 2),
//! pathological JSON; the service answers with the contract's codes, never a 5xx, and keeps no
//! secret in its log (CONTRACT.md §1).

use std::sync::Arc;

use hubhook::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{
    Hotel, TestApp, expect_webhook_error, inbound_log, json_of, order, raw_http, spawn_app,
    spawn_app_in, stored_bytes, task_list,
};

const TOO_LARGE: &str = "WEB_HUK_PAYLOAD_TOO_LARGE";
const TOO_LARGE_MSG: &str = "Payload too large.";
const INVALID_BODY: &str = "WEB_HUK_INVALID_BODY";
const INVALID_BODY_MSG: &str =
    "Please provide the proper Room Number, External Id, and Verified First Name.";
const LIMIT: usize = 1024;

async fn small_limit_app() -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    spawn_app_in(dir, |c| c.body_limit = LIMIT).await
}

/// A valid `reservationCreated` of exactly `len` bytes.
fn padded_event(len: usize) -> String {
    let head = r#"{"accountId":"acc","event":"reservationCreated","resource":{"id":"r"},"pad":""#;
    let tail = r#""}"#;
    let pad = len - head.len() - tail.len();
    let body = format!("{head}{}{tail}", "x".repeat(pad));
    assert_eq!(body.len(), len);
    body
}

async fn send_bytes(app: &TestApp, hotel: &Hotel, body: impl Into<reqwest::Body>) -> (u16, Value) {
    json_of(app.post_webhook(hotel, body).await).await
}

fn raw_head(hotel: &Hotel, framing: &str) -> String {
    format!(
        "POST /webhooks/duve HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         custom_hotel_id: {}\r\ncustom_access_token: {}\r\ncustom_password_token: {}\r\n\
         Connection: close\r\n{framing}\r\n",
        hotel.id, hotel.access, hotel.password
    )
}

/// A whole chunked request carrying `body` in chunks of at most `chunk` bytes.
fn chunked_request(hotel: &Hotel, body: &str, chunk: usize) -> Vec<u8> {
    let mut req = raw_head(hotel, "Transfer-Encoding: chunked\r\n");
    for piece in body.as_bytes().chunks(chunk) {
        req.push_str(&format!("{:x}\r\n", piece.len()));
        req.push_str(std::str::from_utf8(piece).unwrap());
        req.push_str("\r\n");
    }
    req.push_str("0\r\n\r\n");
    req.into_bytes()
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_with_content_length() {
    let app = small_limit_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;

    let (s, answer) = send_bytes(&app, &hotel, padded_event(LIMIT)).await;
    assert_eq!(s, 200, "exactly the limit is accepted: {answer}");
    let got = send_bytes(&app, &hotel, padded_event(LIMIT + 1)).await;
    expect_webhook_error(&got, 413, TOO_LARGE, TOO_LARGE_MSG);
    let got = send_bytes(&app, &hotel, padded_event(6 * LIMIT)).await;
    expect_webhook_error(&got, 413, TOO_LARGE, TOO_LARGE_MSG);

    // Row 0 comes before the credentials.
    let bad = Hotel {
        access: "wrong".into(),
        ..hotel.clone()
    };
    let got = send_bytes(&app, &bad, padded_event(LIMIT + 1)).await;
    expect_webhook_error(&got, 413, TOO_LARGE, TOO_LARGE_MSG);

    // The hotel sees its own oversized deliveries in its log, not the unauthenticated one.
    let log = inbound_log(&app, &key).await;
    let codes: Vec<&str> = log.iter().map(|e| e["code"].as_str().unwrap()).collect();
    assert_eq!(codes, [TOO_LARGE, TOO_LARGE, "recorded"], "{log:?}");
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_without_the_body() {
    let app = small_limit_app().await;
    let hotel = app.create_hotel("h1").await;
    // Claims 100 MB, sends a few bytes: the answer does not wait for the rest.
    let mut req = raw_head(&hotel, "Content-Length: 100000000\r\n").into_bytes();
    req.extend_from_slice(br#"{"event":"reservationCreated""#);
    let got = raw_http(&app, req).await;
    expect_webhook_error(&got, 413, TOO_LARGE, TOO_LARGE_MSG);
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413() {
    let app = small_limit_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;

    // Under the limit, chunked works like any body.
    let body = order("o-1", "101", &["4"]).to_string();
    assert!(body.len() < LIMIT);
    let (s, answer) = raw_http(&app, chunked_request(&hotel, &body, 50)).await;
    assert_eq!(s, 201, "{answer}");
    let (s, answer) = raw_http(&app, chunked_request(&hotel, &padded_event(LIMIT), 100)).await;
    assert_eq!(s, 200, "{answer}");

    for chunk in [100, 1000, 4000] {
        let got = raw_http(
            &app,
            chunked_request(&hotel, &padded_event(LIMIT + 1), chunk),
        )
        .await;
        expect_webhook_error(&got, 413, TOO_LARGE, TOO_LARGE_MSG);
        let got = raw_http(&app, chunked_request(&hotel, &padded_event(4000), chunk)).await;
        expect_webhook_error(&got, 413, TOO_LARGE, TOO_LARGE_MSG);
    }
    assert_eq!(task_list(&app, &key).await.len(), 1);
    let (s, _) = app.webhook(&hotel, &order("o-2", "101", &["4"])).await;
    assert_eq!(s, 201);
}

#[tokio::test]
async fn malformed_bodies_are_row_2_and_never_5xx() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;

    let deep_array = "[".repeat(100_000);
    let deep_closed = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_in_envelope = format!(
        r#"{{"event":"orderCreated","resource":{{"x":{}{}}}}}"#,
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    let deep_objects = format!("{}1{}", r#"{"a":"#.repeat(30_000), "}".repeat(30_000));
    let invalid: Vec<(&str, Vec<u8>)> = vec![
        ("empty", b"".to_vec()),
        ("whitespace", b"  \n\t\r  ".to_vec()),
        (
            "malformed",
            br#"{"event": "orderCreated", "resource": {"#.to_vec(),
        ),
        ("not json", b"hello".to_vec()),
        (
            "trailing garbage",
            br#"{"event":"reservationCreated"} x"#.to_vec(),
        ),
        ("array", br#"[{"event":"orderCreated"}]"#.to_vec()),
        ("string", br#""orderCreated""#.to_vec()),
        ("number", b"42".to_vec()),
        ("null", b"null".to_vec()),
        ("no event", br#"{"resource":{}}"#.to_vec()),
        ("event null", br#"{"event":null,"resource":{}}"#.to_vec()),
        ("event number", br#"{"event":42,"resource":{}}"#.to_vec()),
        (
            "event object",
            br#"{"event":{"name":"orderCreated"}}"#.to_vec(),
        ),
        (
            "resource string",
            br#"{"event":"orderCreated","resource":"x"}"#.to_vec(),
        ),
        (
            "resource array",
            br#"{"event":"orderCreated","resource":[]}"#.to_vec(),
        ),
        (
            "invalid utf-8",
            b"{\"event\":\"order\xff\xfeCreated\"}".to_vec(),
        ),
        (
            "lone surrogate bytes",
            b"{\"event\":\"\xed\xa0\x80\"}".to_vec(),
        ),
        ("nul", b"\0".to_vec()),
        (
            "bom",
            b"\xef\xbb\xbf{\"event\":\"reservationCreated\"}".to_vec(),
        ),
        ("deep array", deep_array.into_bytes()),
        ("deep closed array", deep_closed.into_bytes()),
        ("deep in envelope", deep_in_envelope.into_bytes()),
        ("deep objects", deep_objects.into_bytes()),
    ];
    let count = invalid.len();
    for (name, body) in invalid {
        let got = send_bytes(&app, &hotel, body).await;
        assert!(got.0 < 500, "{name}: {got:?}");
        expect_webhook_error(&got, 403, INVALID_BODY, INVALID_BODY_MSG);
        assert!(
            !got.1["details"].as_array().unwrap().is_empty(),
            "{name}: details say what is wrong"
        );
    }
    // Each one is in the hotel's log as an invalid body.
    let log = inbound_log(&app, &key).await;
    assert_eq!(log.len(), count);
    assert!(log.iter().all(|e| e["code"] == INVALID_BODY), "{log:?}");
    assert!(task_list(&app, &key).await.is_empty());

    // Still up, and still working.
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let (s, answer) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    assert_eq!(s, 201, "{answer}");
}

#[tokio::test]
async fn odd_but_valid_bodies_are_answered_without_5xx() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;

    // Huge string values, within the 1 MiB default limit.
    let big = "é".repeat(200_000); // 400 KB of UTF-8
    let mut body = order("o-big", "101", &["4"]);
    body["resource"]["order"]["notes"] = json!(big);
    body["resource"]["order"]["products"][0]["name"] = json!(big);
    body["resource"]["somethingElse"] = json!("x".repeat(100_000));
    let text = body.to_string();
    assert!(
        text.len() > 800_000 && text.len() < 1024 * 1024,
        "{}",
        text.len()
    );
    let (s, answer) = send_bytes(&app, &hotel, text).await;
    assert_eq!(s, 201, "{answer}");
    assert_eq!(answer["tasks"][0]["taskName"], "Serve towels");

    // A huge event key is an unknown event; the log keeps a bounded name.
    let long_event = json!({"event": "x".repeat(500_000), "resource": {}});
    let (s, answer) = app.webhook(&hotel, &long_event).await;
    assert_eq!(s, 200, "{answer}");
    assert_eq!(answer["reason"], "unknown event");
    let log = inbound_log(&app, &key).await;
    let logged = log[0]["event"].as_str().unwrap_or_default();
    assert!(
        !logged.is_empty() && logged.len() <= 1000,
        "{}",
        logged.len()
    );

    // Unknown extra fields anywhere are accepted.
    let mut extra = order("o-extra", "101", &["22"]);
    extra["unexpected"] = json!({"nested": [1, 2, 3]});
    extra["resource"]["newDuveField"] = json!(true);
    extra["resource"]["order"]["newOrderField"] = json!(null);
    extra["resource"]["order"]["products"][0]["price"] = json!({"amount": 0, "currency": "EUR"});
    let (s, answer) = app.webhook(&hotel, &extra).await;
    assert_eq!(s, 201, "{answer}");

    // Wrong types where scalars are expected: refused or created, never a 5xx.
    let strange = [
        json!({"event": "orderCreated", "resource": {"id": "r", "verifiedFirstName": {"a": 1},
            "roomNumber": ["101"], "order": {"id": "o-s1", "products": [{"externalId": "4"}]}}}),
        json!({"event": "orderCreated", "resource": {"id": "r", "verifiedFirstName": "A",
            "roomNumber": "1\u{0}1", "order": {"id": "o-s2", "products": [{"externalId": "4"}]}}}),
        json!({"event": "orderCreated", "resource": {"id": "r", "verifiedFirstName": "A",
            "roomNumber": "101", "order": {"id": "o-s3", "products": "4"}}}),
        json!({"event": "orderCreated", "resource": {"id": "r", "verifiedFirstName": "A",
            "roomNumber": "101", "order": {"id": "o-s4", "products": [4, null, "x"]}}}),
        json!({"event": "orderCreated", "resource": {"id": "r", "verifiedFirstName": "A",
            "roomNumber": "101", "order": {"id": "o-s5",
                "products": [{"externalId": "4", "quantity": -1}]}}}),
        json!({"event": "orderCreated", "resource": {"id": "r", "verifiedFirstName": "A",
            "roomNumber": "101", "order": {"id": "o-s6",
                "products": [{"externalId": "4", "quantity": 1e300}]}}}),
        json!({"event": "orderCreated", "resource": {"id": "r", "verifiedFirstName": "A",
            "roomNumber": "101", "order": {"id": {"$oid": "x"}, "chargeAmount": "lots",
                "deliveryTime": "tomorrow-ish", "products": [{"externalId": "4"}]}}}),
        json!({"event": "orderCancelled", "resource": {"order": {"id": ["x"]}}}),
        json!({"event": "orderRefunded", "resource": {"order": {"id": "o", "refundTotal": {"a": 1}}}}),
        json!({"event": "orderCreated", "resource": {"id": "r", "verifiedFirstName": "A",
            "roomNumber": "101", "order": {"id": "o-s7", "products": [{"externalId": "x".repeat(10_000)}]}}}),
    ];
    for body in strange {
        let (s, answer) = app.webhook(&hotel, &body).await;
        assert!(
            [200, 201, 400, 403].contains(&s),
            "{s} for {body}: {answer}"
        );
        if s >= 400 {
            let code = answer["code"].as_str().unwrap_or_default();
            assert!(
                code == INVALID_BODY || code == "WEB_HUK_HUBOS_REQUEST_FAIL",
                "{answer}"
            );
        }
    }

    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let (s, answer) = app.webhook(&hotel, &order("o-after", "101", &["4"])).await;
    assert_eq!(s, 201, "{answer}");
}

#[tokio::test]
async fn tokens_are_never_stored() {
    let app = small_limit_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;

    // Deliveries of every outcome: created, duplicate, refused, invalid, too large, recorded, ignored.
    let sends = [
        order("o-1", "101", &["4"]).to_string(),
        order("o-1", "101", &["4"]).to_string(),
        order("o-2", "999", &["4"]).to_string(),
        order("o-3", "101", &["999"]).to_string(),
        "not json".to_owned(),
        padded_event(LIMIT + 10),
        json!({"event": "preCheckInDone", "resource": {"id": "r", "verifiedFirstName": "A"}})
            .to_string(),
        json!({"event": "whatever", "resource": {}}).to_string(),
    ];
    for body in sends {
        let (s, answer) = send_bytes(&app, &hotel, body).await;
        assert!(s < 500, "{s} {answer}");
    }
    // Dashed headers, and a refused attempt with the real access token but a wrong password.
    let res = app
        .client
        .post(app.url("/webhooks/duve"))
        .header("custom-hotel-id", &hotel.id)
        .header("custom-access-token", &hotel.access)
        .header("custom-password-token", &hotel.password)
        .body(order("o-4", "101", &["22"]).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let half = Hotel {
        password: "wrong".into(),
        ..hotel.clone()
    };
    assert_eq!(send_bytes(&app, &half, "{}").await.0, 400);

    let log = inbound_log(&app, &key).await;
    assert_eq!(log.len(), 9, "{log:?}");
    for entry in &log {
        let text = entry.to_string();
        assert!(!text.contains(&hotel.access), "access token in {text}");
        assert!(!text.contains(&hotel.password), "password token in {text}");
    }

    // Nor anywhere in the database (SQLite's files, the WAL included; PostgreSQL's dump). Read only
    // once the server has stopped: closing any descriptor of a file drops this process's SQLite
    // locks on it.
    let db_path = app.db_path.clone();
    let _dir = app.dir.clone();
    app.stop().await;
    let bytes = stored_bytes(&db_path);
    for token in [&hotel.access, &hotel.password] {
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "a token is stored in {}",
            db_path.display()
        );
    }
    assert!(
        bytes
            .windows(b"preCheckInDone".len())
            .any(|w| w == b"preCheckInDone"),
        "sanity: the scan does find what is stored in plain text"
    );
}

#[tokio::test]
async fn an_oversized_body_with_rotated_tokens_is_not_logged_for_the_hotel() {
    let app = small_limit_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let (s, _) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    assert_eq!(s, 201);
    let access = hubhook::domain::secret::new_token("hhat_");
    let password = hubhook::domain::secret::new_token("hhpt_");
    app.store
        .set_tokens(
            &hubhook::domain::HotelId::parse(&hotel.id).unwrap(),
            hubhook::domain::secret::hash_token(&access),
            hubhook::domain::secret::hash_token(&password),
        )
        .await
        .unwrap();
    // The old tokens no longer authenticate anything: the 413 is answered but not logged.
    let got = send_bytes(&app, &hotel, padded_event(LIMIT + 1)).await;
    expect_webhook_error(&got, 413, TOO_LARGE, TOO_LARGE_MSG);
    let log = inbound_log(&app, &key).await;
    let codes: Vec<&str> = log.iter().map(|e| e["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["created"], "{log:?}");
    // The new ones do.
    let rotated = Hotel {
        id: hotel.id.clone(),
        access,
        password,
    };
    let got = send_bytes(&app, &rotated, padded_event(LIMIT + 1)).await;
    expect_webhook_error(&got, 413, TOO_LARGE, TOO_LARGE_MSG);
    assert_eq!(inbound_log(&app, &key).await[0]["code"], TOO_LARGE);
}
