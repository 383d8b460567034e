use super::*;

#[test]
fn subscription_requests_are_checked() {
    let hotel = crate::domain::HotelId::parse("h1").unwrap();
    let ok = check_subscription(
        hotel.clone(),
        SubscriptionRequest {
            url: "https://example.com/hook".into(),
            headers: Some(vec!["X-Api-Key: abc".into()]),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(ok.events, EventType::defaults(SubscriptionKind::Webhook));
    assert!(ok.secret.as_deref().unwrap().starts_with("whsec_"));
    assert_eq!(ok.headers[0].name, "X-Api-Key");
    let bad = |req: SubscriptionRequest| match check_subscription(hotel.clone(), req) {
        Err(e) => e,
        Ok(_) => panic!("accepted"),
    };
    assert!(matches!(
        bad(SubscriptionRequest {
            url: "ftp://x".into(),
            ..Default::default()
        }),
        SubscriptionError::Format(_)
    ));
    assert!(matches!(
        bad(SubscriptionRequest {
            url: "http://x".into(),
            headers: Some(vec!["webhook-id: 1".into()]),
            ..Default::default()
        }),
        SubscriptionError::ReservedHeader(_)
    ));
    assert!(matches!(
        bad(SubscriptionRequest {
            url: "http://x".into(),
            kind: Some("duve-connect".into()),
            ..Default::default()
        }),
        SubscriptionError::MissingBearer
    ));
    assert!(matches!(
        bad(SubscriptionRequest {
            url: "http://x".into(),
            events: Some(vec!["task.nope".into()]),
            ..Default::default()
        }),
        SubscriptionError::Events(_)
    ));
    let duve = check_subscription(
        hotel,
        SubscriptionRequest {
            url: "https://api.duve.example/connect".into(),
            kind: Some("duve-connect".into()),
            bearer: Some("tok".into()),
            field: Some("task_state".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(duve.secret.is_none());
    assert!(duve.template.unwrap().contains("task_state"));
}

#[test]
fn the_shape_is_checked_whole_before_the_meaning() {
    let hotel = crate::domain::HotelId::parse("h1").unwrap();
    let err = |req: SubscriptionRequest| match check_subscription(hotel.clone(), req) {
        Err(e) => e,
        Ok(_) => panic!("accepted"),
    };
    let url = || "https://example.com/hook".to_owned();
    // The shape: the OpenAPI document says as much (HTTP 400).
    for e in [
        err(SubscriptionRequest {
            url: String::new(),
            ..Default::default()
        }),
        err(SubscriptionRequest {
            url: url(),
            events: Some(vec![" task.created".into()]),
            ..Default::default()
        }),
        err(SubscriptionRequest {
            url: url(),
            events: Some(vec!["task.created,task.completed".into()]),
            ..Default::default()
        }),
        err(SubscriptionRequest {
            url: url(),
            events: Some(vec!["task.created".into(); MAX_EVENT_NAMES + 1]),
            ..Default::default()
        }),
        err(SubscriptionRequest {
            url: url(),
            headers: Some(vec!["X-A: 1".into(); MAX_HEADERS + 1]),
            ..Default::default()
        }),
        err(SubscriptionRequest {
            url: url(),
            bearer: Some("tok".into()),
            ..Default::default()
        }),
        err(SubscriptionRequest {
            url: url(),
            kind: Some("duve-connect".into()),
            bearer: Some("two words".into()),
            ..Default::default()
        }),
        // A reserved header in a request also malformed: the shape is what is reported.
        err(SubscriptionRequest {
            url: "http://x y".into(),
            headers: Some(vec!["Host: x".into()]),
            ..Default::default()
        }),
    ] {
        assert!(e.is_shape(), "{e}");
    }
    // Well formed, but not usable (HTTP 422).
    for e in [
        err(SubscriptionRequest {
            url: "http://example.com:99999/".into(),
            ..Default::default()
        }),
        err(SubscriptionRequest {
            url: url(),
            headers: Some(vec!["Content-Type: text/plain".into()]),
            ..Default::default()
        }),
        err(SubscriptionRequest {
            url: url(),
            kind: Some("duve-connect".into()),
            bearer: Some("tok".into()),
            body_template: Some("{\"a\": {{status}}}".into()),
            ..Default::default()
        }),
    ] {
        assert!(!e.is_shape(), "{e}");
    }
    // Repeated event names count once.
    let ok = check_subscription(
        hotel.clone(),
        SubscriptionRequest {
            url: url(),
            events: Some(vec!["task.created".into(), "task.created".into()]),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(ok.events, [EventType::Created]);
}

#[test]
fn chat_subscriptions_have_no_secret_and_duve_connect_hears_no_report() {
    let hotel = crate::domain::HotelId::parse("h1").unwrap();
    let chat = check_subscription(
        hotel.clone(),
        SubscriptionRequest {
            url: "https://hooks.slack.example/services/T/B/x".into(),
            kind: Some("slack".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(chat.kind, SubscriptionKind::Slack);
    assert!(chat.secret.is_none() && chat.bearer.is_none() && chat.template.is_none());
    assert_eq!(chat.events, EventType::defaults(SubscriptionKind::Slack));
    let refused = |req: SubscriptionRequest| match check_subscription(hotel.clone(), req) {
        Err(e) => e,
        Ok(_) => panic!("accepted"),
    };
    assert_eq!(
        refused(SubscriptionRequest {
            url: "https://x.example".into(),
            kind: Some("slack".into()),
            bearer: Some("t".into()),
            ..Default::default()
        }),
        SubscriptionError::NotForWebhook("bearer")
    );
    assert_eq!(
        refused(SubscriptionRequest {
            url: "https://x.example".into(),
            kind: Some("duve-connect".into()),
            bearer: Some("t".into()),
            events: Some(vec!["task.completed".into(), "report.shift".into()]),
            ..Default::default()
        }),
        SubscriptionError::ReportForDuveConnect
    );
    assert!(matches!(
        refused(SubscriptionRequest {
            url: "https://x.example".into(),
            kind: Some("teams".into()),
            ..Default::default()
        }),
        SubscriptionError::Kind(_)
    ));
    // A webhook may ask for the report.
    let hook = check_subscription(
        hotel,
        SubscriptionRequest {
            url: "https://x.example".into(),
            events: Some(vec!["report.shift".into()]),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(hook.events, [EventType::ShiftReport]);
}
