//! Due times: from the order's delivery time or the service's SLA, and a bare local delivery time
//! read in the hotel's timezone.

use hubhook::{domain::CatalogEntry, store::HotelSettings};
use serde_json::{Value, json};

use super::{hotel_id, setup, tasks_of};
use crate::helpers::order;

#[tokio::test]
async fn due_time_comes_from_the_delivery_time_or_the_sla() {
    let (app, hotel, key) = setup().await;
    app.store
        .set_catalog(
            &hotel_id(&hotel),
            CatalogEntry {
                external_id: "22".into(),
                name: "Luggage".into(),
                department: Some("Bell desk".into()),
                sla_minutes: Some(30),
            },
        )
        .await
        .unwrap();

    // A delivery time wins over the SLA and over having none.
    let mut timed = order("o-1", "101", &["4", "22"]);
    timed["resource"]["order"]["deliveryTime"] = json!("2023-01-14T15:30:00.000Z");
    let (s, answer) = app.webhook(&hotel, &timed).await;
    assert_eq!(s, 201, "{answer}");
    for t in tasks_of(&answer) {
        assert_eq!(t["dueAt"], "2023-01-14T15:30:00.000Z", "{t}");
    }

    // No delivery time: the SLA from the task's creation; none without an SLA (a service the
    // hotel added without one).
    app.store
        .set_catalog(
            &hotel_id(&hotel),
            CatalogEntry {
                external_id: "99".into(),
                name: "Flowers".into(),
                department: None,
                sla_minutes: None,
            },
        )
        .await
        .unwrap();
    let (s, answer) = app
        .webhook(&hotel, &order("o-2", "101", &["99", "22"]))
        .await;
    assert_eq!(s, 201, "{answer}");
    let tasks = tasks_of(&answer);
    assert_eq!(tasks[0]["dueAt"], Value::Null, "{answer}");
    assert_eq!(tasks[0]["department"], Value::Null, "{answer}");
    let created: jiff::Timestamp = tasks[1]["createdAt"].as_str().unwrap().parse().unwrap();
    let due: jiff::Timestamp = tasks[1]["dueAt"]
        .as_str()
        .unwrap_or_else(|| panic!("dueAt from the SLA: {answer}"))
        .parse()
        .unwrap();
    assert_eq!(
        due.duration_since(created),
        jiff::SignedDuration::from_mins(30)
    );

    // The API shows the same due time.
    let (_, detail) = app
        .get_api(
            &key,
            &format!("/api/v1/tasks/{}", tasks[1]["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(detail["dueAt"], tasks[1]["dueAt"]);
    assert_eq!(detail["department"], "Bell desk");
}

#[tokio::test]
async fn a_bare_local_delivery_time_is_read_in_the_hotels_timezone() {
    let (app, hotel, _) = setup().await;
    app.store
        .update_hotel(
            &hotel_id(&hotel),
            HotelSettings {
                timezone: Some("Europe/Lisbon".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut body = order("o-1", "101", &["4"]);
    body["resource"]["order"]["deliveryTime"] = json!("2023-07-01T15:30:00");
    let (s, answer) = app.webhook(&hotel, &body).await;
    assert_eq!(s, 201, "{answer}");
    assert_eq!(answer["tasks"][0]["dueAt"], "2023-07-01T14:30:00.000Z");
}
