//! What the PostgreSQL plan tests share (built with `HUBHOOK_TEST_POSTGRES_URL`): a migrated schema
//! of their own in the test database, and a statement's plan as a flat list of its nodes.

use serde_json::Value;
use tokio_postgres::{Client, NoTls, types::Type};

use super::PostgresStore;

/// A fresh schema named after `what`, migrated; the store that migrated it and a plain client on it.
pub(super) async fn scratch(what: &str) -> (PostgresStore, Client, String) {
    let admin = std::env::var("HUBHOOK_TEST_POSTGRES_URL").expect("HUBHOOK_TEST_POSTGRES_URL");
    let mut r = [0u8; 4];
    crate::domain::secret::fill_random(&mut r);
    let schema = format!(
        "hh_{}_{:08x}_{what}",
        std::process::id(),
        u32::from_le_bytes(r)
    );
    let sep = if admin.contains('?') { '&' } else { '?' };
    let url = format!("{admin}{sep}options=-csearch_path%3D{schema}");
    let store = PostgresStore::open(&url).await.expect("open");
    let (c, conn) = tokio_postgres::connect(&url, NoTls).await.expect("connect");
    tokio::spawn(conn);
    (store, c, schema)
}

/// Drops a schema made by [`scratch`].
pub(super) async fn drop_schema(c: &Client, schema: &str) {
    c.batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await
        .expect("drop schema");
}

/// Arguments for `sql` as SQL literals: every one NULL (`generic`), or every text one naming the
/// hotel `big` (the seeded hotel with the long history) and the rest NULL.
pub(super) async fn naming_big(c: &Client, sql: &str, generic: bool) -> Vec<String> {
    let types = c.prepare(sql).await.expect("prepare").params().to_vec();
    types
        .iter()
        .map(|t| match (generic, t) {
            (false, &Type::TEXT) => "'big'".to_owned(),
            _ => "NULL".to_owned(),
        })
        .collect()
}

/// Each plan node's type and the index it reads (empty for none), from [`plan`]'s nodes.
pub(super) fn kinds_and_indexes(nodes: &[Value]) -> Vec<(String, String)> {
    nodes
        .iter()
        .map(|n| {
            let s = |k: &str| n[k].as_str().unwrap_or_default().to_owned();
            (s("Node Type"), s("Index Name"))
        })
        .collect()
}

/// Every node of `sql`'s plan (its children taken out into the list), generic or custom with
/// `args` (SQL literals).
pub(super) async fn plan(c: &Client, sql: &str, generic: bool, args: &[String]) -> Vec<Value> {
    let mode = if generic { "generic" } else { "custom" };
    c.batch_execute(&format!(
        "SET plan_cache_mode = force_{mode}_plan; PREPARE plan_check AS {sql}"
    ))
    .await
    .expect("PREPARE");
    let explain = if args.is_empty() {
        "EXPLAIN (FORMAT JSON) EXECUTE plan_check".to_owned()
    } else {
        format!(
            "EXPLAIN (FORMAT JSON) EXECUTE plan_check({})",
            args.join(", ")
        )
    };
    let text = c
        .simple_query(&explain)
        .await
        .expect("EXPLAIN")
        .into_iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .expect("a plan");
    c.batch_execute("DEALLOCATE plan_check")
        .await
        .expect("DEALLOCATE");
    let plan: Value = serde_json::from_str(&text).expect("JSON plan");
    let mut nodes = Vec::new();
    // Init plans and CTEs hang off the top node's `Plans` too: walked here.
    walk(&plan[0]["Plan"], &mut nodes);
    nodes
}

fn walk(node: &Value, found: &mut Vec<Value>) {
    let mut this = node.clone();
    if let Some(o) = this.as_object_mut() {
        o.remove("Plans");
    }
    found.push(this);
    for child in node["Plans"].as_array().into_iter().flatten() {
        walk(child, found);
    }
}
