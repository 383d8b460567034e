//! Archiving with two instances on one PostgreSQL database: both archivers look at once, and each
//! task is archived once (one history line each), as the escalation checker escalates once.

use std::{collections::HashMap, sync::Arc, time::Duration};

use hubhook::domain::Role;

use crate::{
    archive::{archive_after, quick_archiver},
    helpers::order,
    receiver::eventually,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_archive_each_task_once() {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let a = quick_archiver(dir.clone()).await;
    // The same database (the same schema for the same directory).
    let b = quick_archiver(dir).await;
    let hotel = a.create_hotel("h1").await;
    let key = a.api_key(&hotel, Role::Manager).await;
    const ORDERS: usize = 100;
    for o in 0..ORDERS {
        let app = if o % 2 == 0 { &a } else { &b };
        let (s, body) = app
            .webhook(&hotel, &order(&format!("arc-{o}"), "101", &["4", "6", "7"]))
            .await;
        assert_eq!(s, 201, "{body}");
    }
    // Every task is due at once for both archivers.
    archive_after(&a, "h1", 1).await;
    let list = eventually(
        "every task archived",
        || async {
            let (_, body) = a.get_api(&key, "/api/v1/tasks?limit=500").await;
            body["tasks"].as_array().cloned().unwrap_or_default()
        },
        |tasks| tasks.len() == ORDERS * 3 && tasks.iter().all(|t| t["archived"] == true),
    )
    .await;
    // Room for a second archiving of any of them, had there been one (none: they are archived).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut lines: HashMap<String, usize> = HashMap::new();
    for t in &list {
        let id = t["id"].as_str().expect("id");
        let (s, detail) = b.get_api(&key, &format!("/api/v1/tasks/{id}")).await;
        assert_eq!(s, 200, "{detail}");
        let n = detail["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["note"].as_str().is_some_and(|n| n.starts_with("archived:")))
            .count();
        lines.insert(id.to_owned(), n);
    }
    let twice: Vec<_> = lines.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "archived other than once: {twice:?}");
    a.stop().await;
    b.stop().await;
}
