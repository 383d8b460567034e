//! `orderCreated`: the 201 confirmation, the field checks in the contract's order, idempotency, the
//! paid-order filter and live configuration (CONTRACT.md §1). Here: the error codes, the order
//! bodies and the setup the modules below share.

mod checks;
mod config;
mod confirmation;
mod due_times;
mod idempotency;

use hubhook::domain::{HotelId, Role};
use serde_json::{Value, json};

use crate::helpers::{Hotel, TestApp, spawn_app};

const INVALID_BODY: &str = "WEB_HUK_INVALID_BODY";
const INVALID_BODY_MSG: &str =
    "Please provide the proper Room Number, External Id, and Verified First Name.";
const HUBOS_FAIL: &str = "WEB_HUK_HUBOS_REQUEST_FAIL";

/// An `orderCreated` whose `resource` is exactly `resource`.
fn created(resource: Value) -> Value {
    json!({"accountId": "acc", "event": "orderCreated", "resource": resource})
}

fn tasks_of(answer: &Value) -> Vec<Value> {
    answer["tasks"]
        .as_array()
        .unwrap_or_else(|| panic!("no tasks: {answer}"))
        .clone()
}

fn ids(tasks: &[Value]) -> Vec<String> {
    tasks
        .iter()
        .map(|t| t["id"].as_str().expect("task id").to_owned())
        .collect()
}

async fn setup() -> (TestApp, Hotel, String) {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    (app, hotel, key)
}

fn hotel_id(hotel: &Hotel) -> HotelId {
    HotelId::parse(&hotel.id).unwrap()
}
