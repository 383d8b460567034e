//! Many hotels on one server (CONTRACT.md section 8): one hotel's configuration changes (rooms,
//! settings) never refuse another hotel's webhooks, and each hotel's changes count at once for its
//! own next webhook, whether made through the pages or by the CLI in another process.

use std::{
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use hubhook::domain::Role;
use serde_json::Value;

use crate::{
    helpers::{TestApp, order, spawn_app},
    ui_support::{UiClient, add_user},
};

/// Runs the real binary off the async runtime (the server in the same test keeps answering);
/// panics with its output if it fails.
async fn cli(app: &TestApp, args: &[&str]) -> Value {
    let mut cmd: Command = app.cli();
    cmd.args(args).arg("--json");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run hubhook");
    assert!(
        out.status.success(),
        "hubhook failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

/// The settings form of the manager pages, saved as a browser would.
async fn save_settings(ui: &mut UiClient, csrf: &str, name: &str, sync_paid: bool) {
    let mut fields = vec![("csrf", csrf), ("name", name), ("timezone", "UTC")];
    if sync_paid {
        fields.push(("sync_paid_orders", "on"));
    }
    let res = ui.post("/manage/settings", &fields).await;
    assert_eq!(res.status, 303, "{}", res.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hotels_rooms_import_and_settings_saves_never_refuse_another_hotels_webhooks() {
    let app = spawn_app().await;
    let calm = app.create_hotel("calm").await;
    let busy = app.create_hotel("busy").await;
    add_user(&app, &busy, "boss@busy.test", Role::Manager).await;
    let mut ui = UiClient::signed_in(&app, "boss@busy.test").await;
    let csrf = ui.csrf().await;
    let csv = app.dir.path().join("rooms.csv");
    let mut text = String::from("room,floor\n");
    for n in 0..20_000 {
        text.push_str(&format!("B{n},{}\n", n / 100));
    }
    std::fs::write(&csv, text).expect("write the CSV");

    let churning = Arc::new(AtomicBool::new(true));
    let churn = {
        let churning = churning.clone();
        let csv = csv.to_str().expect("utf-8 path").to_owned();
        let app = &app;
        async move {
            let imported = cli(app, &["rooms", "import", "busy", &csv]).await;
            assert_eq!(imported["added"], 20_000, "{imported}");
            for n in 0..30 {
                save_settings(&mut ui, &csrf, &format!("Busy {}", n % 3), n % 2 == 0).await;
            }
            churning.store(false, Ordering::SeqCst);
        }
    };
    let webhooks = async {
        let mut sent = 0;
        while churning.load(Ordering::SeqCst) || sent < 50 {
            let (s, body) = app
                .webhook(&calm, &order(&format!("calm-{sent}"), "101", &["4"]))
                .await;
            assert_eq!(s, 201, "webhook {sent} of the calm hotel: {body}");
            sent += 1;
        }
        sent
    };
    let ((), sent) = tokio::join!(churn, webhooks);
    assert!(sent >= 50);

    // The busy hotel's own webhooks see its 20,000 rooms.
    let (s, body) = app.webhook(&busy, &order("busy-1", "B19999", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["tasks"][0]["room"], "B19999");
}

#[tokio::test]
async fn a_room_added_by_the_cli_counts_for_that_hotels_next_webhook() {
    let app = spawn_app().await;
    let a = app.create_hotel("hotel-a").await;
    let b = app.create_hotel("hotel-b").await;
    // Both hotels are cached (each has answered), and B has no room 301.
    for h in [&a, &b] {
        let (s, body) = app
            .webhook(h, &order(&format!("{}-0", h.id), "101", &["4"]))
            .await;
        assert_eq!(s, 201, "{body}");
    }
    let (s, body) = app.webhook(&b, &order("b-unknown", "301", &["4"])).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["message"], "Unknown room");

    cli(&app, &["rooms", "add", "hotel-b", "301"]).await;
    let (s, body) = app.webhook(&b, &order("b-1", "301", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["tasks"][0]["room"], "301");
    // A never had the room: the change was B's alone.
    let (s, body) = app.webhook(&a, &order("a-1", "301", &["4"])).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["message"], "Unknown room");
}

#[tokio::test]
async fn a_settings_save_that_changes_nothing_leaves_the_hotels_version_alone() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("steady").await;
    add_user(&app, &hotel, "boss@steady.test", Role::Manager).await;
    let mut ui = UiClient::signed_in(&app, "boss@steady.test").await;
    let csrf = ui.csrf().await;
    let version = || async { app.store.hotel_version("steady").await.expect("version") };

    save_settings(&mut ui, &csrf, "Steady", false).await;
    let changed = version().await;
    save_settings(&mut ui, &csrf, "Steady", false).await;
    save_settings(&mut ui, &csrf, "Steady", false).await;
    assert_eq!(version().await, changed, "a save with nothing new");
    save_settings(&mut ui, &csrf, "Steady", true).await;
    assert!(version().await > changed, "a save that changes a setting");

    // Rooms already known change nothing either; a new one does.
    let before = version().await;
    cli(&app, &["rooms", "add", "steady", "101", "102"]).await;
    assert_eq!(version().await, before);
    cli(&app, &["rooms", "add", "steady", "103"]).await;
    assert!(version().await > before);
    let (s, body) = app.webhook(&hotel, &order("s-1", "103", &["4"])).await;
    assert_eq!(s, 201, "{body}");
}
