//! `POST /webhooks/duve` authentication: the three custom headers (CONTRACT.md §1, row 1).

use hubhook::domain::{HotelId, Role, secret::hash_token, secret::new_token};
use serde_json::Value;

use crate::helpers::{
    Hotel, TestApp, expect_webhook_error, inbound_log, json_of, order, raw_http, spawn_app,
    task_list,
};

const CREDS: &str = "WEB_HUK_INVALID_CREDS";
const CREDS_MSG: &str = "Invalid credentials.";

/// POSTs `body` with exactly the given headers (plus a JSON content type).
async fn send(app: &TestApp, headers: &[(&str, &str)], body: &Value) -> (u16, Value) {
    let mut req = app
        .client
        .post(app.url("/webhooks/duve"))
        .header("content-type", "application/json");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    json_of(req.body(body.to_string()).send().await.expect("request")).await
}

fn headers(hotel: &Hotel) -> [(&'static str, &str); 3] {
    [
        ("custom_hotel_id", hotel.id.as_str()),
        ("custom_access_token", hotel.access.as_str()),
        ("custom_password_token", hotel.password.as_str()),
    ]
}

fn assert_creds_refused(got: &(u16, Value)) {
    expect_webhook_error(got, 400, CREDS, CREDS_MSG);
}

#[tokio::test]
async fn each_missing_header_is_invalid_credentials() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let all = headers(&hotel);
    for skip in 0..3 {
        let some: Vec<(&str, &str)> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, h)| *h)
            .collect();
        let got = send(&app, &some, &order(&format!("o-{skip}"), "101", &["4"])).await;
        assert_creds_refused(&got);
    }
    assert_creds_refused(&send(&app, &[], &order("o-none", "101", &["4"])).await);
    // An empty value is no credential either.
    for blank in 0..3 {
        let mut some = all;
        some[blank].1 = "";
        assert_creds_refused(&send(&app, &some, &order("o-blank", "101", &["4"])).await);
    }
    assert!(task_list(&app, &key).await.is_empty());
    // The complete set works, so the refusals above were about the headers.
    let (s, body) = send(&app, &all, &order("o-ok", "101", &["4"])).await;
    assert_eq!(s, 201, "{body}");
}

#[tokio::test]
async fn unknown_hotel_and_wrong_tokens_are_refused() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let body = order("o-1", "101", &["4"]);

    let unknown = Hotel {
        id: "no-such-hotel".into(),
        ..hotel.clone()
    };
    assert_creds_refused(&app.webhook(&unknown, &body).await);
    let wrong_access = Hotel {
        access: new_token("hhat_"),
        ..hotel.clone()
    };
    assert_creds_refused(&app.webhook(&wrong_access, &body).await);
    let wrong_password = Hotel {
        password: new_token("hhpt_"),
        ..hotel.clone()
    };
    assert_creds_refused(&app.webhook(&wrong_password, &body).await);
    let swapped = Hotel {
        access: hotel.password.clone(),
        password: hotel.access.clone(),
        ..hotel.clone()
    };
    assert_creds_refused(&app.webhook(&swapped, &body).await);
    // A token with one character changed, and a prefix of the right token.
    let mut near = hotel.access.clone().into_bytes();
    let last = near.len() - 1;
    near[last] = if near[last] == b'A' { b'B' } else { b'A' };
    let near_miss = Hotel {
        access: String::from_utf8(near).unwrap(),
        ..hotel.clone()
    };
    assert_creds_refused(&app.webhook(&near_miss, &body).await);
    let prefix = Hotel {
        password: hotel.password[..hotel.password.len() - 1].to_owned(),
        ..hotel.clone()
    };
    assert_creds_refused(&app.webhook(&prefix, &body).await);
    // The hotel id is exact: another case is another id.
    let upper = Hotel {
        id: hotel.id.to_uppercase(),
        ..hotel.clone()
    };
    assert_creds_refused(&app.webhook(&upper, &body).await);

    assert!(task_list(&app, &key).await.is_empty());
    let (s, answer) = app.webhook(&hotel, &body).await;
    assert_eq!(s, 201, "{answer}");
}

#[tokio::test]
async fn dashed_header_names_are_accepted() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let dashed = [
        ("custom-hotel-id", hotel.id.as_str()),
        ("custom-access-token", hotel.access.as_str()),
        ("custom-password-token", hotel.password.as_str()),
    ];
    let (s, body) = send(&app, &dashed, &order("o-1", "101", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    // Both spellings mixed in one request.
    let mixed = [
        ("custom_hotel_id", hotel.id.as_str()),
        ("custom-access-token", hotel.access.as_str()),
        ("custom_password_token", hotel.password.as_str()),
    ];
    let (s, body) = send(&app, &mixed, &order("o-2", "101", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    // The dashed form with a wrong token is still refused.
    let wrong = [
        ("custom-hotel-id", hotel.id.as_str()),
        ("custom-access-token", hotel.password.as_str()),
        ("custom-password-token", hotel.password.as_str()),
    ];
    assert_creds_refused(&send(&app, &wrong, &order("o-3", "101", &["4"])).await);
}

fn raw_request(header_lines: &[String], body: &str) -> Vec<u8> {
    let mut req = String::from("POST /webhooks/duve HTTP/1.1\r\nHost: localhost\r\n");
    req.push_str("Content-Type: application/json\r\nConnection: close\r\n");
    for h in header_lines {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    req.into_bytes()
}

#[tokio::test]
async fn header_names_are_case_insensitive_on_the_wire() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let spellings = [
        [
            "Custom_Hotel_Id",
            "Custom_Access_Token",
            "Custom_Password_Token",
        ],
        [
            "CUSTOM_HOTEL_ID",
            "CUSTOM_ACCESS_TOKEN",
            "CUSTOM_PASSWORD_TOKEN",
        ],
        [
            "Custom-Hotel-Id",
            "CUSTOM-ACCESS-TOKEN",
            "cUsToM-pAsSwOrD-tOkEn",
        ],
    ];
    for (i, names) in spellings.iter().enumerate() {
        let lines = [
            format!("{}: {}", names[0], hotel.id),
            format!("{}: {}", names[1], hotel.access),
            format!("{}: {}", names[2], hotel.password),
        ];
        let body = order(&format!("o-{i}"), "101", &["4"]).to_string();
        let (s, answer) = raw_http(&app, raw_request(&lines, &body)).await;
        assert_eq!(s, 201, "{names:?}: {answer}");
        assert_eq!(answer["status"], "created");
    }
    // The same spelling with a wrong password is refused.
    let lines = [
        format!("CUSTOM_HOTEL_ID: {}", hotel.id),
        format!("Custom-Access-Token: {}", hotel.access),
        format!("Custom_Password_Token: {}", hotel.access),
    ];
    let body = order("o-x", "101", &["4"]).to_string();
    let got = raw_http(&app, raw_request(&lines, &body)).await;
    assert_creds_refused(&got);
}

#[tokio::test]
async fn another_hotels_tokens_are_refused() {
    let app = spawn_app().await;
    let a = app.create_hotel("hotel-a").await;
    let b = app.create_hotel("hotel-b").await;
    let key_a = app.api_key(&a, Role::Manager).await;
    let key_b = app.api_key(&b, Role::Manager).await;
    let body = order("o-1", "101", &["4"]);

    let b_tokens_for_a = Hotel {
        id: a.id.clone(),
        ..b.clone()
    };
    assert_creds_refused(&app.webhook(&b_tokens_for_a, &body).await);
    let half = Hotel {
        password: b.password.clone(),
        ..a.clone()
    };
    assert_creds_refused(&app.webhook(&half, &body).await);
    let other_half = Hotel {
        access: b.access.clone(),
        ..a.clone()
    };
    assert_creds_refused(&app.webhook(&other_half, &body).await);

    assert!(task_list(&app, &key_a).await.is_empty());
    assert!(task_list(&app, &key_b).await.is_empty());
    assert!(inbound_log(&app, &key_a).await.is_empty());
    assert!(inbound_log(&app, &key_b).await.is_empty());

    // Each hotel with its own tokens is accepted, and its task lands in its own list only.
    let (s, answer) = app.webhook(&b, &body).await;
    assert_eq!(s, 201, "{answer}");
    assert_eq!(task_list(&app, &key_b).await.len(), 1);
    assert!(task_list(&app, &key_a).await.is_empty());
}

#[tokio::test]
async fn a_hotel_created_after_start_is_accepted_at_once() {
    let app = spawn_app().await;
    // The server has answered once, so its configuration snapshot predates the new hotel.
    let first = app.create_hotel("first").await;
    let (s, _) = app.webhook(&first, &order("o-0", "101", &["4"])).await;
    assert_eq!(s, 201);

    let late = app.create_hotel("late-hotel").await;
    let (s, answer) = app.webhook(&late, &order("o-1", "101", &["22"])).await;
    assert_eq!(s, 201, "{answer}");
    assert_eq!(answer["tasks"][0]["taskName"], "Luggage");
    let key = app.api_key(&late, Role::Staff).await;
    assert_eq!(task_list(&app, &key).await.len(), 1);
}

#[tokio::test]
async fn rotated_tokens_take_effect_immediately() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let (s, answer) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    assert_eq!(s, 201, "{answer}");

    let rotated = Hotel {
        id: hotel.id.clone(),
        access: new_token("hhat_"),
        password: new_token("hhpt_"),
    };
    app.store
        .set_tokens(
            &HotelId::parse(&hotel.id).unwrap(),
            hash_token(&rotated.access),
            hash_token(&rotated.password),
        )
        .await
        .expect("set tokens");

    // The old pair is refused at once, even for a body that would make a task.
    assert_creds_refused(&app.webhook(&hotel, &order("o-2", "101", &["4"])).await);
    // A mix of old and new is refused too.
    let mixed = Hotel {
        access: rotated.access.clone(),
        ..hotel.clone()
    };
    assert_creds_refused(&app.webhook(&mixed, &order("o-2", "101", &["4"])).await);

    let (s, answer) = app.webhook(&rotated, &order("o-2", "101", &["4"])).await;
    assert_eq!(s, 201, "{answer}");
    // And the old pair stays refused afterwards (the refreshed snapshot does not bring it back).
    assert_creds_refused(&app.webhook(&hotel, &order("o-3", "101", &["4"])).await);

    assert_eq!(task_list(&app, &key).await.len(), 2);
    let log = inbound_log(&app, &key).await;
    let codes: Vec<&str> = log.iter().map(|e| e["code"].as_str().unwrap()).collect();
    assert_eq!(
        codes,
        ["created", "created"],
        "refusals are not logged: {log:?}"
    );
}

#[tokio::test]
async fn only_authenticated_requests_enter_the_inbound_log() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let other = app.create_hotel("h2").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let other_key = app.api_key(&other, Role::Manager).await;

    // Refused at authentication: nothing is logged, for either hotel.
    let wrong = Hotel {
        password: other.password.clone(),
        ..hotel.clone()
    };
    assert_creds_refused(&app.webhook(&wrong, &order("o-1", "101", &["4"])).await);
    let missing = [
        ("custom_hotel_id", hotel.id.as_str()),
        ("custom_access_token", hotel.access.as_str()),
    ];
    assert_creds_refused(&send(&app, &missing, &order("o-1", "101", &["4"])).await);
    assert!(inbound_log(&app, &key).await.is_empty());
    assert!(inbound_log(&app, &other_key).await.is_empty());

    // Authenticated but refused: logged with the contract's code, so the hotel can see why.
    let got = app.webhook(&hotel, &order("o-2", "999", &["4"])).await;
    expect_webhook_error(&got, 400, "WEB_HUK_HUBOS_REQUEST_FAIL", "Unknown room");
    let got = app
        .webhook(&hotel, &serde_json::json!({"resource": {}}))
        .await;
    expect_webhook_error(
        &got,
        403,
        "WEB_HUK_INVALID_BODY",
        "Please provide the proper Room Number, External Id, and Verified First Name.",
    );
    let log = inbound_log(&app, &key).await;
    let codes: Vec<&str> = log.iter().map(|e| e["code"].as_str().unwrap()).collect();
    assert_eq!(
        codes,
        ["WEB_HUK_INVALID_BODY", "WEB_HUK_HUBOS_REQUEST_FAIL"],
        "{log:?}"
    );
    assert!(
        log.iter()
            .all(|e| e["details"].as_array().is_some_and(|d| !d.is_empty())),
        "a refusal says why: {log:?}"
    );
    assert!(inbound_log(&app, &other_key).await.is_empty());
}

#[tokio::test]
async fn credentials_are_checked_before_the_body() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let bad = Hotel {
        access: "nope".into(),
        ..hotel.clone()
    };
    for body in ["", "not json", "[]", r#"{"resource":{}}"#] {
        let res = app.post_webhook(&bad, body.to_owned()).await;
        assert_creds_refused(&json_of(res).await);
    }
    assert_creds_refused(&app.webhook(&bad, &order("o-1", "999", &["999"])).await);
}
