use super::*;

#[test]
fn schedules_parse_and_bound_the_attempts() {
    let s = RetrySchedule::default();
    assert_eq!(s.max_attempts(), 8);
    assert_eq!(s.delay_after(1), Some(Duration::from_secs(5)));
    assert_eq!(s.delay_after(7), Some(Duration::from_secs(36_000)));
    assert_eq!(s.delay_after(8), None);
    let t = RetrySchedule::parse("1s, 1s,2s").unwrap();
    assert_eq!(t.max_attempts(), 4);
    assert_eq!(
        RetrySchedule::parse("500ms").unwrap().delay_after(1),
        Some(Duration::from_millis(500))
    );
    assert_eq!(RetrySchedule::parse("").unwrap().max_attempts(), 1);
    assert!(RetrySchedule::parse("5").is_err());
    assert!(RetrySchedule::parse("5y").is_err());
    assert!(RetrySchedule::parse("-1s").is_err());
}

#[test]
fn jitter_stays_within_a_fifth() {
    let d = Duration::from_secs(100);
    for r in [0, 1, 2000, 4000, 4001, u32::MAX] {
        let j = jitter(d, r);
        assert!(
            j >= Duration::from_secs(80) && j <= Duration::from_secs(120),
            "{j:?}"
        );
    }
}

#[test]
fn answers_are_classified_as_the_contract_says() {
    let s = RetrySchedule::parse("10s,10s").unwrap();
    let answered = |status| AttemptResult::Answered {
        status,
        retry_after: None,
    };
    assert_eq!(classify(&answered(200), 1, &s, 0), Verdict::Delivered);
    assert_eq!(classify(&answered(204), 1, &s, 0), Verdict::Delivered);
    assert_eq!(classify(&answered(410), 1, &s, 0), Verdict::Gone);
    for status in [500, 503, 429, 408] {
        assert!(matches!(
            classify(&answered(status), 1, &s, 0),
            Verdict::Retry(_)
        ));
    }
    assert!(matches!(
        classify(&AttemptResult::NoAnswer, 2, &s, 0),
        Verdict::Retry(_)
    ));
    for status in [400, 401, 404, 301] {
        assert!(matches!(
            classify(&answered(status), 1, &s, 0),
            Verdict::Fail {
                code: CODE_REJECTED,
                ..
            }
        ));
    }
    // Out of attempts: the contract's code and message.
    assert_eq!(
        classify(&AttemptResult::NoAnswer, 3, &s, 0),
        Verdict::Fail {
            code: CODE_ATTEMPTS_EXHAUSTED,
            message: "Operation failed after 3 attempt, Please check credentials and request body."
                .into()
        }
    );
    assert!(matches!(
        classify(&AttemptResult::Denied, 1, &s, 0),
        Verdict::Fail {
            code: CODE_DENIED,
            ..
        }
    ));
}

#[test]
fn retry_after_is_honoured_and_capped() {
    let s = RetrySchedule::parse("1s").unwrap();
    let v = classify(
        &AttemptResult::Answered {
            status: 429,
            retry_after: Some(Duration::from_secs(30)),
        },
        1,
        &s,
        0,
    );
    assert_eq!(v, Verdict::Retry(Duration::from_secs(30)));
    let v = classify(
        &AttemptResult::Answered {
            status: 503,
            retry_after: Some(Duration::from_secs(86_400)),
        },
        1,
        &s,
        0,
    );
    assert_eq!(v, Verdict::Retry(RETRY_AFTER_CAP));
}

#[test]
fn events_parse_and_moves_raise_the_right_ones() {
    assert_eq!(
        parse_events("task.created, task.completed,task.created").unwrap(),
        vec![EventType::Created, EventType::Completed]
    );
    assert!(parse_events("task.nope").is_err());
    assert!(parse_events(" , ").is_err());
    assert_eq!(
        EventType::for_move(TaskStatus::Done),
        &[EventType::StatusChanged, EventType::Completed]
    );
    assert_eq!(
        EventType::for_move(TaskStatus::Accepted),
        &[EventType::StatusChanged]
    );
}

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
    assert_eq!(ok.events.len(), 5);
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
        SubscriptionError::Url(_)
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
