//! What the intake fuzz target checks, shared with the stable replay test
//! (`crates/hubhook/tests/fuzz_corpus.rs` includes this file with `#[path]`,
//! next to `duve_checks.rs`, which it uses as `super::duve_checks`).
//!
//! Any panic or failed assertion is a finding.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use arbitrary::{Result, Unstructured};
use duve::{FieldMap, ReservationFacts, parse_envelope};
use hubhook::domain::{CatalogEntry, HotelFacts, HotelId, default_catalog, secret::hash_token};
use hubhook::intake::{
    MAX_TASKS_PER_ORDER, ManualTask, OrderDecision, Plan, RefusalKind, TaskDraft, classify,
    decide_order, manual_task,
};
use jiff::Timestamp;

use super::duve_checks::{Payload, check_envelope};

const ROOMS: &[&str] = &["101", "102", "A-7", "Suite Zoë"];

/// The fixed hotel every input is decided against: four rooms, the default catalog, plus one
/// service with a department and the longest possible SLA; in a +14:00 timezone.
pub fn hotel() -> &'static HotelFacts {
    static HOTEL: OnceLock<HotelFacts> = OnceLock::new();
    HOTEL.get_or_init(|| {
        let mut catalog: HashMap<String, CatalogEntry> = default_catalog()
            .map(|e| (e.external_id.clone(), e))
            .collect();
        catalog.insert(
            "sla-max".into(),
            CatalogEntry {
                external_id: "sla-max".into(),
                name: "Slow service".into(),
                department: Some("Housekeeping".into()),
                sla_minutes: Some(u32::MAX),
            },
        );
        HotelFacts {
            id: HotelId::parse("fuzz-hotel").expect("a constant id"),
            config_version: 1,
            name: "Fuzz".into(),
            timezone: jiff::tz::TimeZone::get("Pacific/Kiritimati").expect("bundled tzdb"),
            sync_paid_orders: false,
            escalate_after_secs: Some(600),
            merge_window_secs: Some(600),
            access_hash: hash_token("a"),
            password_hash: hash_token("p"),
            rooms: ROOMS.iter().collect(),
            catalog,
        }
    })
}

/// Target `intake`: the first byte picks raw bytes or a Duve-shaped payload as the webhook body;
/// the rest also drives a manual task request.
pub fn intake(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut u = Unstructured::new(rest);
    let now = instant(&mut u).unwrap_or(Timestamp::UNIX_EPOCH);
    let body = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        match Payload::generate(&mut u) {
            Ok(p) => p.to_bytes(),
            Err(_) => return,
        }
    };
    webhook(&body, now);
    if let Ok(req) = manual_request(&mut u) {
        check_manual(&req, now);
    }
}

/// One webhook body through both intake steps, with and without reservation context.
pub fn webhook(body: &[u8], now: Timestamp) {
    let hotel = hotel();
    let Ok(env) = parse_envelope(body) else {
        return;
    };
    let map = FieldMap::default();
    check_envelope(&env, &map);
    match classify(&env, body, &map, hotel) {
        Plan::Order(plan) => {
            assert!(!plan.order_key.is_empty());
            if plan.data.order_id.is_none() {
                assert!(plan.order_key.starts_with("sha256:") && plan.order_key.len() == 71);
            }
            // The payload's own facts as context, a registered room as context, and none.
            let own = map.reservation(&env.resource);
            let registered = ReservationFacts {
                room_number: Some(ROOMS[0].to_owned()),
                first_name: Some("Ada".to_owned()),
                ..ReservationFacts::default()
            };
            for ctx in [None, Some(&own), Some(&registered)] {
                let decision = decide_order(&plan, hotel, ctx, now);
                check_decision(&decision, plan.data.items.len(), now);
            }
        }
        Plan::Cancel { order_key } | Plan::Refund { order_key, .. } => {
            assert!(!order_key.is_empty());
        }
        Plan::Refuse(r) => {
            assert!(!r.details.is_empty());
            let _ = (r.code(), r.message());
        }
        Plan::Record { .. } | Plan::Ignore { .. } => {}
    }
}

fn check_decision(decision: &OrderDecision, items: usize, now: Timestamp) {
    match decision {
        OrderDecision::Create { drafts, skipped } => {
            assert!(!drafts.is_empty(), "a created decision has tasks");
            assert!(drafts.len() <= MAX_TASKS_PER_ORDER);
            assert_eq!(
                drafts.len() + skipped.len(),
                items,
                "every item is a task or skipped"
            );
            let mut keys = HashSet::new();
            for d in drafts {
                check_draft(d, now);
                let key = d
                    .item_key
                    .as_deref()
                    .expect("webhook tasks carry their item key");
                assert!(keys.insert(key), "item {key} made two tasks");
            }
            for s in skipped {
                assert!(!s.reason.is_empty());
            }
        }
        OrderDecision::Refuse(r) => {
            assert!(!r.details.is_empty(), "a refusal says why");
            let _ = (r.code(), r.message());
        }
    }
}

/// A task names a registered room and, when it has one, a catalog service; its quantity is bounded.
fn check_draft(d: &TaskDraft, now: Timestamp) {
    let hotel = hotel();
    assert!(
        hotel.rooms.contains(&d.room),
        "unregistered room {:?}",
        d.room
    );
    assert!(
        (1..=10_000).contains(&d.quantity),
        "quantity {}",
        d.quantity
    );
    assert!(!d.task_name.trim().is_empty(), "a task has a name");
    if let Some(ext) = &d.external_id {
        let entry = hotel
            .catalog
            .get(ext)
            .expect("external id from the catalog");
        assert_eq!(d.department, entry.department);
    }
    if d.requested_at.is_some() {
        assert_eq!(d.due_at, d.requested_at, "a requested time is the due time");
    }
    let task = d.to_task("id".into(), hubhook::domain::time::format(now));
    assert_eq!(task.room, d.room);
}

fn instant(u: &mut Unstructured<'_>) -> Result<Timestamp> {
    let (min, max) = (Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
    let secs = if u.ratio(1, 8)? {
        *u.choose(&[min, max, 0])?
    } else {
        u.int_in_range(min..=max)?
    };
    Ok(Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH))
}

fn manual_request(u: &mut Unstructured<'_>) -> Result<ManualTask> {
    let hotel = hotel();
    let mut ids: Vec<&str> = hotel.catalog.keys().map(String::as_str).collect();
    ids.sort_unstable();
    let pick_or_any = |u: &mut Unstructured<'_>, known: &[&str]| -> Result<String> {
        Ok(match u.int_in_range(0..=3)? {
            0 | 1 => (*u.choose(known)?).to_owned(),
            2 => format!(" {} ", u.choose(known)?),
            _ => u.arbitrary()?,
        })
    };
    Ok(ManualTask {
        room: pick_or_any(u, ROOMS)?,
        external_id: if u.arbitrary()? {
            Some(pick_or_any(u, &ids)?)
        } else {
            None
        },
        name: u.arbitrary()?,
        quantity: if u.arbitrary()? {
            u.int_in_range(0..=10_001)?
        } else {
            u.arbitrary()?
        },
        notes: u.arbitrary()?,
        due_at: if u.arbitrary()? {
            Some(pick_or_any(
                u,
                &["2023-01-14T15:30:00Z", "2023-01-14T15:30", "23:59", "24:00"],
            )?)
        } else {
            None
        },
    })
}

/// The manual-task validation: whatever it accepts obeys the same rules as a webhook's tasks.
pub fn check_manual(req: &ManualTask, now: Timestamp) {
    match manual_task(hotel(), req, now) {
        Ok(d) => {
            check_draft(&d, now);
            assert!(
                (1..=10_000).contains(&req.quantity),
                "quantity {} accepted",
                req.quantity
            );
            assert_eq!(d.quantity, req.quantity);
            assert!(d.task_name.chars().count() <= 200 || req.name.is_none());
            assert_eq!(d.external_id.is_some(), req.external_id.is_some());
            assert_eq!(d.requested_at.is_some(), req.due_at.is_some());
        }
        Err(r) => {
            assert!(!r.details.is_empty(), "a refusal says why");
            let _ = (
                r.code(),
                r.message(),
                matches!(r.kind, RefusalKind::InvalidBody),
            );
        }
    }
}
