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
    assert_eq!(ok.events, EventType::ALL);
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
