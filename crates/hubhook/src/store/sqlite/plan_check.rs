//! What the SQLite plan tests share: a database file migrated by the store itself, and a
//! statement's `EXPLAIN QUERY PLAN` lines.

use rusqlite::{Connection, ToSql, params_from_iter, types::Value};

/// A fresh database file named `name` in a new temporary directory, migrated by
/// [`super::SqliteStore::open`], and a plain connection to it (keep the directory alive).
pub(super) fn migrated(name: &str) -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    drop(super::SqliteStore::open(&path).expect("open"));
    let conn = Connection::open(&path).expect("connect");
    (dir, conn)
}

/// The lines of `EXPLAIN QUERY PLAN` for `sql`, every parameter bound to NULL.
pub(super) fn plan(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap_or_else(|e| panic!("cannot prepare {sql}: {e}"));
    let nulls = vec![Value::Null; stmt.parameter_count()];
    lines(&mut stmt, params_from_iter(nulls))
}

/// The lines of `EXPLAIN QUERY PLAN` for `sql` with `args` bound.
pub(super) fn plan_with<P: ToSql>(conn: &Connection, sql: &str, args: Vec<P>) -> Vec<String> {
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap_or_else(|e| panic!("cannot prepare {sql}: {e}"));
    lines(&mut stmt, params_from_iter(args))
}

/// Each plan row's description.
fn lines(stmt: &mut rusqlite::Statement<'_>, params: impl rusqlite::Params) -> Vec<String> {
    stmt.query_map(params, |r| r.get::<_, String>(3))
        .expect("plan")
        .collect::<Result<_, _>>()
        .expect("plan rows")
}
