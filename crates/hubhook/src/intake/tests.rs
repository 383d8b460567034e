//! Unit and property tests of the intake decision.

use std::collections::HashMap;

use duve::{FieldMap, parse_envelope};
use proptest::prelude::*;

use super::*;
use crate::domain::{HotelId, default_catalog, secret::hash_token};

fn hotel() -> HotelFacts {
    hotel_with_rooms(&["101"])
}

/// A test hotel `h1` with these rooms and the default catalog (also the settlement tests' hotel).
pub(super) fn hotel_with_rooms(rooms: &[&str]) -> HotelFacts {
    HotelFacts {
        id: HotelId::parse("h1").unwrap(),
        config_version: 1,
        name: "Test".into(),
        timezone: jiff::tz::TimeZone::UTC,
        sync_paid_orders: false,
        escalate_after_secs: Some(600),
        merge_window_secs: Some(600),
        access_hash: hash_token("a"),
        password_hash: hash_token("p"),
        rooms: rooms.iter().copied().collect(),
        catalog: default_catalog()
            .map(|e| (e.external_id.clone(), e))
            .collect::<HashMap<_, _>>(),
    }
}

fn plan_of(json: &str, hotel: &HotelFacts) -> Plan {
    let env = parse_envelope(json.as_bytes()).unwrap();
    classify(&env, json.as_bytes(), &FieldMap::default(), hotel)
}

fn order(resource: &str) -> String {
    format!(r#"{{"accountId":"a","event":"orderCreated","resource":{resource}}}"#)
}

fn decide(json: &str, hotel: &HotelFacts, ctx: Option<&ReservationFacts>) -> OrderDecision {
    match plan_of(json, hotel) {
        Plan::Order(p) => decide_order(&p, hotel, ctx, jiff::Timestamp::UNIX_EPOCH),
        other => panic!("not an order plan: {other:?}"),
    }
}

#[test]
fn a_complete_order_becomes_one_task_per_item() {
    let h = hotel();
    let json = order(
        r#"{"id":"r1","roomNumber":101,"verifiedFirstName":"Bo","verifiedLastName":"Li","order":{"id":"o1","products":[{"name":"Towels","externalId":4,"quantity":"2"},{"name":"x"},{"name":"y","externalId":"999"}]}}"#,
    );
    let OrderDecision::Create { drafts, skipped } = decide(&json, &h, None) else {
        panic!()
    };
    assert_eq!(drafts.len(), 1);
    assert_eq!(drafts[0].task_name, "Serve towels");
    assert_eq!(drafts[0].quantity, 2);
    assert_eq!(drafts[0].room, "101");
    assert_eq!(drafts[0].guest_name.as_deref(), Some("Bo Li"));
    assert_eq!(skipped.len(), 2);
    assert_eq!(skipped[0].reason, "no external ID");
    assert_eq!(skipped[1].reason, "unknown service");
}

#[test]
fn the_contracts_refusal_order_holds() {
    let h = hotel();
    let no_name =
        order(r#"{"roomNumber":"101","order":{"id":"o","products":[{"externalId":"4"}]}}"#);
    assert!(
        matches!(decide(&no_name, &h, None), OrderDecision::Refuse(r) if r.kind == RefusalKind::InvalidBody)
    );
    let bad_room = order(
        r#"{"roomNumber":"999","firstName":"A","order":{"id":"o","products":[{"externalId":"999"}]}}"#,
    );
    assert!(
        matches!(decide(&bad_room, &h, None), OrderDecision::Refuse(r) if r.kind == RefusalKind::UnknownRoom)
    );
    let bad_service = order(
        r#"{"roomNumber":"101","firstName":"A","order":{"id":"o","products":[{"externalId":"999"}]}}"#,
    );
    assert!(
        matches!(decide(&bad_service, &h, None), OrderDecision::Refuse(r) if r.kind == RefusalKind::UnknownService)
    );
    let no_ext = order(
        r#"{"roomNumber":"999","firstName":"A","order":{"id":"o","products":[{"name":"x"}]}}"#,
    );
    assert!(
        matches!(decide(&no_ext, &h, None), OrderDecision::Refuse(r) if r.kind == RefusalKind::InvalidBody)
    );
}

#[test]
fn reservation_context_fills_missing_room_and_name() {
    let h = hotel();
    let json = order(r#"{"id":"r1","order":{"id":"o","products":[{"externalId":"4"}]}}"#);
    let ctx = ReservationFacts {
        reservation_id: Some("r1".into()),
        room_number: Some("101".into()),
        first_name: Some("Bo".into()),
        ..Default::default()
    };
    let OrderDecision::Create { drafts, .. } = decide(&json, &h, Some(&ctx)) else {
        panic!()
    };
    assert_eq!(drafts[0].room, "101");
    assert_eq!(drafts[0].guest_name.as_deref(), Some("Bo"));
}

#[test]
fn paid_orders_are_ignored_unless_the_hotel_syncs_them() {
    let mut h = hotel();
    let json = order(r#"{"order":{"id":"o","chargeAmount":"12.5"}}"#);
    assert_eq!(
        plan_of(&json, &h),
        Plan::Ignore {
            reason: REASON_PAID
        }
    );
    h.sync_paid_orders = true;
    assert!(matches!(plan_of(&json, &h), Plan::Order(_)));
}

#[test]
fn an_order_without_id_is_keyed_by_its_body_hash() {
    let h = hotel();
    let Plan::Order(p) = plan_of(&order(r#"{"roomNumber":"101"}"#), &h) else {
        panic!()
    };
    assert!(p.order_key.starts_with("sha256:"));
    assert_eq!(p.order_key.len(), 71);
}

#[test]
fn unknown_events_are_ignored_and_known_ones_recorded() {
    let h = hotel();
    assert_eq!(
        plan_of(r#"{"event":"somethingNew","resource":{}}"#, &h),
        Plan::Ignore {
            reason: REASON_UNKNOWN_EVENT
        }
    );
    assert!(matches!(
        plan_of(r#"{"event":"preCheckInDone","resource":{"id":"r"}}"#, &h),
        Plan::Record { .. }
    ));
    assert!(matches!(
        plan_of(r#"{"event":"orderCancelled","resource":{}}"#, &h),
        Plan::Refuse(_)
    ));
}

#[test]
fn manual_tasks_follow_the_catalog_and_rooms() {
    let h = hotel();
    let req = ManualTask {
        room: "101".into(),
        external_id: Some("22".into()),
        name: None,
        quantity: 1,
        notes: None,
        due_at: None,
    };
    assert_eq!(
        manual_task(&h, &req, jiff::Timestamp::UNIX_EPOCH)
            .unwrap()
            .task_name,
        "Luggage"
    );
    let bad = ManualTask {
        room: "7".into(),
        ..req.clone()
    };
    assert_eq!(
        manual_task(&h, &bad, jiff::Timestamp::UNIX_EPOCH)
            .unwrap_err()
            .kind,
        RefusalKind::UnknownRoom
    );
    let nameless = ManualTask {
        external_id: None,
        ..req
    };
    assert_eq!(
        manual_task(&h, &nameless, jiff::Timestamp::UNIX_EPOCH)
            .unwrap_err()
            .kind,
        RefusalKind::InvalidBody
    );
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        "[a-zA-Z0-9 ._-]{0,12}".prop_map(serde_json::Value::from),
        prop_oneof![Just("101"), Just("4"), Just("0"), Just("-1"), Just("2.5")]
            .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        let keys = prop_oneof![
            Just("id".to_owned()),
            Just("order".to_owned()),
            Just("products".to_owned()),
            Just("items".to_owned()),
            Just("externalId".to_owned()),
            Just("quantity".to_owned()),
            Just("roomNumber".to_owned()),
            Just("verifiedFirstName".to_owned()),
            Just("chargeAmount".to_owned()),
            Just("deliveryTime".to_owned()),
            "[a-z]{1,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(keys, inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn no_resource_makes_intake_panic(resource in json_value(), event in prop_oneof![Just("orderCreated"), Just("orderCancelled"), Just("orderRefunded"), Just("preCheckInDone"), Just("x")]) {
        let mut h = hotel();
        h.sync_paid_orders = true;
        let body = serde_json::json!({"event": event, "resource": resource}).to_string();
        if let Ok(env) = parse_envelope(body.as_bytes())
            && let Plan::Order(p) = classify(&env, body.as_bytes(), &FieldMap::default(), &h)
        {
            let ctx = FieldMap::default().reservation(&env.resource);
            let _ = decide_order(&p, &h, Some(&ctx), jiff::Timestamp::now());
            let _ = decide_order(&p, &h, None, jiff::Timestamp::now());
        }
    }

    #[test]
    fn no_bytes_make_classification_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(env) = parse_envelope(&body) {
            let _ = classify(&env, &body, &FieldMap::default(), &hotel());
        }
    }
}

#[test]
fn one_order_makes_at_most_the_bounded_number_of_tasks() {
    let h = hotel();
    let products: Vec<String> = (0..150)
        .map(|_| r#"{"externalId":"4"}"#.to_owned())
        .collect();
    let json = order(&format!(
        r#"{{"roomNumber":"101","firstName":"A","order":{{"id":"o","products":[{}]}}}}"#,
        products.join(",")
    ));
    let OrderDecision::Create { drafts, skipped } = decide(&json, &h, None) else {
        panic!()
    };
    assert_eq!(drafts.len(), MAX_TASKS_PER_ORDER);
    assert_eq!(skipped.len(), 50);
    assert_eq!(skipped[0].reason, "too many items in one order");
}
