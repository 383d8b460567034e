//! Live streams across instances on one PostgreSQL database: a board connected to one instance
//! ends within the session check when its session signs out through another.

use std::{sync::Arc, time::Duration};

use hubhook::domain::Role;

use crate::{
    helpers::spawn_app_in,
    ui_support::{UiClient, add_user},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_through_one_instance_ends_the_sessions_stream_on_another() {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let check = Duration::from_secs(1);
    let a = spawn_app_in(dir.clone(), |c| c.streams.session_check = check).await;
    // The same database (the same schema for the same directory).
    let b = spawn_app_in(dir, |c| c.streams.session_check = check).await;
    let hotel = a.create_hotel("h1").await;
    add_user(&a, &hotel, "ana@h1.test", Role::Staff).await;
    let mut on_a = UiClient::signed_in(&a, "ana@h1.test").await;
    let cookie = format!("hubhook_session={}", on_a.cookies["hubhook_session"]);

    let mut stream = b
        .client
        .get(b.url("/board/events"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("a stream on B");
    assert_eq!(stream.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
        .await
        .expect("the ready event")
        .expect("stream");
    assert!(first.is_some());

    let csrf = on_a.csrf().await;
    assert_eq!(on_a.post("/logout", &[("csrf", &csrf)]).await.status, 303);
    let ended = tokio::time::timeout(5 * check, async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "B's stream outlived the session A signed out");
    a.stop().await;
    b.stop().await;
}
