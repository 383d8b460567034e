//! The hotel settings that sections 6 and 7 build on (`hotel set --merge-window`, `--shift-ends`,
//! `--archive-after`, and the settings page): their defaults, what is accepted and refused, and that
//! the CLI and the page change the same row the running server reads.

use hubhook::domain::Role;
use serde_json::Value;

use crate::{
    helpers::*,
    operations::cli,
    ui_support::{Page, UiClient, add_user},
};

async fn listed(app: &TestApp) -> Value {
    let (ok, list, err) = cli(app, &["hotel", "list", "--json"]).await;
    assert!(ok, "{err}");
    let list: Value = serde_json::from_str(&list).expect("one JSON document");
    list[0].clone()
}

#[tokio::test]
async fn hotel_set_merge_window_shift_ends_and_archive_after() {
    let app = spawn_app().await;
    app.create_hotel("h1").await;
    let h = listed(&app).await;
    assert_eq!(h["mergeWindow"], "10m", "the default: {h}");
    assert_eq!(h["shiftEnds"], serde_json::json!([]), "the default: {h}");
    assert_eq!(h["archiveAfter"], "0", "the default: {h}");

    let (ok, out, err) = cli(
        &app,
        &[
            "hotel",
            "set",
            "h1",
            "--merge-window",
            "90s",
            "--shift-ends",
            "23:00, 07:00,15:00",
            "--archive-after",
            "3d",
            "--json",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let shown: Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(shown["mergeWindow"], "90s", "{out}");
    assert_eq!(
        shown["shiftEnds"],
        serde_json::json!(["07:00", "15:00", "23:00"]),
        "sorted: {out}"
    );
    assert_eq!(shown["archiveAfter"], "3d", "{out}");
    let facts = app.store.hotel_facts("h1").await.unwrap().unwrap();
    assert_eq!(facts.merge_window_secs, Some(90), "the server reads it");

    // Off, and cleared.
    let (ok, _, err) = cli(
        &app,
        &[
            "hotel",
            "set",
            "h1",
            "--merge-window",
            "0",
            "--shift-ends",
            "",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let h = listed(&app).await;
    assert_eq!(h["mergeWindow"], "0", "{h}");
    assert_eq!(h["shiftEnds"], serde_json::json!([]), "{h}");
    assert_eq!(h["archiveAfter"], "3d", "left alone: {h}");
    let facts = app.store.hotel_facts("h1").await.unwrap().unwrap();
    assert_eq!(facts.merge_window_secs, None);

    for (flag, bad) in [
        ("--merge-window", "8d"),
        ("--merge-window", "soon"),
        ("--shift-ends", "7:00"),
        ("--shift-ends", "07:00,25:00"),
        ("--archive-after", "91d"),
        ("--archive-after", "-1d"),
    ] {
        let arg = format!("{flag}={bad}");
        let (ok, _, err) = cli(&app, &["hotel", "set", "h1", &arg]).await;
        assert!(!ok, "{arg} was accepted");
        assert!(err.contains(flag), "{arg}: {err}");
    }
    app.stop().await;
}

async fn save(ui: &mut UiClient, csrf: &str, merge: &str, shifts: &str, archive: &str) -> Page {
    let form = [
        ("csrf", csrf),
        ("name", "Hotel h1"),
        ("timezone", "Europe/Lisbon"),
        ("escalate_after", "10m"),
        ("merge_window", merge),
        ("shift_ends", shifts),
        ("archive_after", archive),
    ];
    ui.post("/manage/settings", &form).await
}

#[tokio::test]
async fn a_manager_sets_them_on_the_settings_page() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    add_user(&app, &hotel, "max@h1.test", Role::Manager).await;
    let mut max = UiClient::signed_in(&app, "max@h1.test").await;
    let page = max.get("/manage/settings").await.body;
    for field in [
        r#"name="merge_window" required value="10m""#,
        r#"name="shift_ends" value="""#,
        r#"name="archive_after" required value="0""#,
    ] {
        assert!(page.contains(field), "{field}: {page}");
    }
    let csrf = max.csrf().await;
    let res = save(&mut max, &csrf, "5m", "15:00,07:00", "36h").await;
    assert_eq!(res.status, 303, "{}", res.body);
    let h = listed(&app).await;
    assert_eq!(h["mergeWindow"], "5m", "{h}");
    assert_eq!(h["shiftEnds"], serde_json::json!(["07:00", "15:00"]), "{h}");
    assert_eq!(h["archiveAfter"], "36h", "{h}");
    let page = max.get("/manage/settings").await.body;
    assert!(page.contains(r#"value="07:00,15:00""#), "{page}");

    for (merge, shifts, archive, says) in [
        ("forever", "", "0", "merge window"),
        ("5m", "noon", "0", "shift ends"),
        ("5m", "", "100d", "archive after"),
    ] {
        let res = save(&mut max, &csrf, merge, shifts, archive).await;
        assert_eq!(res.status, 400, "{}", res.body);
        assert!(res.body.contains(says), "{says}: {}", res.body);
    }
    let h = listed(&app).await;
    assert_eq!(
        h["mergeWindow"], "5m",
        "a refused form changes nothing: {h}"
    );
    app.stop().await;
}
