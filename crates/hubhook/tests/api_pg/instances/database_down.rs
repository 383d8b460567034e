//! A database out of reach or too slow: answered 503 with Retry-After, `/readyz` fails, and nothing
//! half-stored.

use super::{Instance, client, get_api, hotel_with_key, post};
use crate::helpers::{database_url, expect_webhook_error, order, postgres};

/// `URL` with its database name replaced.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (authority, after) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let query = after.find('?').map(|i| &after[i..]).unwrap_or("");
    format!("{scheme}://{authority}/{name}{query}")
}

/// A database of its own (this test makes it refuse connections), dropped at the end.
struct OwnDatabase(String);

impl OwnDatabase {
    fn create() -> Self {
        let mut r = [0u8; 4];
        hubhook::domain::secret::fill_random(&mut r);
        let name = format!("hh_{}_{:08x}_db", std::process::id(), u32::from_le_bytes(r));
        postgres::admin_sql(format!("CREATE DATABASE \"{name}\"")).expect("create database");
        OwnDatabase(name)
    }

    fn url(&self) -> String {
        with_database(&postgres::admin_url(), &self.0)
    }

    fn allow_connections(&self, allow: bool) {
        postgres::admin_sql(format!(
            "ALTER DATABASE \"{}\" ALLOW_CONNECTIONS {allow}",
            self.0
        ))
        .expect("alter database");
        if !allow {
            postgres::admin_sql(format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
                self.0
            ))
            .expect("terminate backends");
        }
    }
}

impl Drop for OwnDatabase {
    fn drop(&mut self) {
        let _ = postgres::admin_sql(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_answered_503_with_retry_after_and_readyz_fails() {
    let own = OwnDatabase::create();
    // Short waits, so that the test does not sit through the 5 s defaults.
    let db = format!("{}?pool_timeout=1s&connect_timeout=1", own.url());
    let (hotel, key) = hotel_with_key(&db, "down");
    let client = client();
    let server = Instance::start(&db, &client).await;
    let hook = server.url("/webhooks/duve");
    let (s, body, _) = post(&client, hook.clone(), &hotel, &order("before", "101", &["4"])).await;
    assert_eq!(s, 201, "{body}");

    own.allow_connections(false);
    let (s, body, retry_after) = post(&client, hook.clone(), &hotel, &order("during", "101", &["4"])).await;
    expect_webhook_error(
        &(s, body),
        503,
        "WEB_HUK_UNAVAILABLE",
        "Temporarily unavailable, retry later.",
    );
    let secs: u64 = retry_after
        .expect("Retry-After on a 503")
        .parse()
        .expect("Retry-After in seconds");
    assert!(secs > 0);
    let res = client.get(server.url("/readyz")).send().await.expect("request");
    assert_eq!(res.status().as_u16(), 503);
    let res = client.get(server.url("/healthz")).send().await.expect("request");
    assert_eq!(res.status().as_u16(), 200, "the process itself is up");
    let (s, _) = get_api(&client, server.url("/api/v1/tasks"), &key).await;
    assert_eq!(s, 503);

    // Back: the same instance recovers without a restart, and what was refused was not stored.
    own.allow_connections(true);
    let res = client.get(server.url("/readyz")).send().await.expect("request");
    assert_eq!(res.status().as_u16(), 200);
    let (s, body, _) = post(&client, hook.clone(), &hotel, &order("after", "101", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    let (s, page) = get_api(&client, server.url("/api/v1/tasks"), &key).await;
    assert_eq!(s, 200);
    assert_eq!(page["tasks"].as_array().unwrap().len(), 2, "{page}");
    // Duve's retry of the refused delivery now makes its task.
    let (s, body, _) = post(&client, hook, &hotel, &order("during", "101", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_over_the_timeout_is_answered_503_and_not_stored() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = database_url(&dir.path().join("x.db"));
    let (hotel, key) = hotel_with_key(&db, "slow");
    let client = client();
    let server = Instance::start(&format!("{db}&statement_timeout=300ms"), &client).await;
    let hook = server.url("/webhooks/duve");

    // Another session holds the orders table: every webhook's statements wait on it.
    let schema = db
        .rsplit("search_path%3D")
        .next()
        .expect("a schema in the URL")
        .to_owned();
    let (locker, conn) = tokio_postgres::connect(&postgres::admin_url(), tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    locker
        .batch_execute(&format!(
            "BEGIN; LOCK TABLE \"{schema}\".orders IN ACCESS EXCLUSIVE MODE"
        ))
        .await
        .expect("lock");
    let (s, body, retry_after) = post(&client, hook.clone(), &hotel, &order("slow-1", "101", &["4"])).await;
    expect_webhook_error(
        &(s, body),
        503,
        "WEB_HUK_UNAVAILABLE",
        "Temporarily unavailable, retry later.",
    );
    assert!(retry_after.is_some());
    locker.batch_execute("ROLLBACK").await.expect("unlock");

    let (s, page) = get_api(&client, server.url("/api/v1/tasks"), &key).await;
    assert_eq!(s, 200);
    assert_eq!(page["tasks"].as_array().unwrap().len(), 0, "{page}");
    let (s, body, _) = post(&client, hook, &hotel, &order("slow-1", "101", &["4"])).await;
    assert_eq!(s, 201, "{body}");
}
