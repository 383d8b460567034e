//! The PostgreSQL store, for several hubhook instances on one database: a connection pool, one
//! transaction per request, and the database's constraints (not a lock in one process) deciding what
//! concurrent requests to different instances may do.
//!
//! - Idempotency: the `orders` primary key. Two deliveries of one order racing on two instances both
//!   try to insert it; the second waits for the first to commit, fails on the key, and is decided
//!   again, now seeing the order: a duplicate.
//! - Caches: every change to a hotel's configuration bumps that hotel's `hotels.config_version` in
//!   its transaction and announces it to the other instances (`NOTIFY`, with the commit); every
//!   webhook's transaction reads its hotel's version, and a handler that decided with another one
//!   is told `Stale`.
//! - Durability: the answer is built only after `COMMIT` returned; a database that cannot be reached
//!   (pool timeout, connect timeout, statement timeout, lost connection) is `StoreError::Unavailable`.
//!
//! Settings ride on the database URL, next to libpq's own (`connect_timeout`, `options`, ...):
//! `pool_size` (connections per instance, default 16), `pool_timeout` (how long a request waits for
//! a connection, default 5s), `statement_timeout` (default 5s) and `batch_workers` (new-order batches
//! in flight at once per instance, default 1); and TLS, `sslmode` and `sslrootcert` as libpq reads
//! them, on rustls (`tls`).
//!
//! One file per resource (`hotels`, `tasks` with the webhook's transaction in `ingest`, `accounts`,
//! `outbox`, `retention`), next to the pool settings (`pool`), the `LISTEN`/`NOTIFY` between
//! instances (`notify`), the new-order batch workers (`batch`) and the webhook path's SQL (`hot`).

use std::{borrow::Cow, sync::Arc};

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use sha2::Digest;
use tokio::sync::{Notify, broadcast, mpsc};
use tokio_postgres::{
    Row,
    types::{ToSql, Type},
};

use crate::events::{EventBus, TaskChange};
use crate::store::{ConfigBus, Store, StoreError, rows::Columns};
use batch::{NewOrderJob, start_batch_workers};
use notify::{Signals, spawn_listener};

/// Applied in order; the schema's version is the number of migrations applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../schema_postgres.sql"),
    include_str!("../schema_postgres_2_outbox.sql"),
    include_str!("../schema_postgres_3_accounts.sql"),
    include_str!("../schema_postgres_4_retention.sql"),
    include_str!("../schema_postgres_5_indexes.sql"),
    include_str!("../schema_postgres_6_hotel_versions.sql"),
    include_str!("../schema_postgres_7_accounts.sql"),
    include_str!("../schema_postgres_8_ship.sql"),
    include_str!("../schema_postgres_9_outbound.sql"),
    include_str!("../schema_postgres_10_escalation.sql"),
    include_str!("../schema_postgres_11_settings.sql"),
    include_str!("../schema_postgres_12_key_owner.sql"),
    include_str!("../schema_postgres_13_replay.sql"),
    include_str!("../schema_postgres_14_merge.sql"),
    include_str!("../schema_postgres_15_reports.sql"),
    include_str!("../schema_postgres_16_assignment.sql"),
    include_str!("../schema_postgres_17_board_predicates.sql"),
    include_str!("../schema_postgres_18_done_at.sql"),
];

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Whether a database URL names PostgreSQL.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

pub use pool::{PoolSettings, pool_settings};

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.code() {
            Some(c) if c.code().starts_with("23") => StoreError::Conflict(e.to_string()),
            _ => StoreError::Unavailable(match e.as_db_error() {
                Some(db) => format!("{}: {}", db.code().code(), db.message()),
                None => with_causes(&e),
            }),
        }
    }
}

/// The driver's message names the step ("error performing TLS handshake", "invalid connection
/// string"); its causes say why (an unknown issuer, a server without TLS, a refused connection, the
/// option that is wrong). None of them quotes the URL.
fn with_causes(e: &tokio_postgres::Error) -> String {
    let mut message = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        message.push_str(&format!(": {c}"));
        cause = c.source();
    }
    message
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => StoreError::Unavailable(format!("no database connection: {other}")),
        }
    }
}

impl Columns for Row {
    fn text(&self, i: usize) -> Result<String, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        Ok(self.opt_int(i)?.unwrap_or_default())
    }
    /// PostgreSQL's integers have a width each (`INTEGER`, `BIGINT`); any is read as an `i64`.
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        Ok(match self.columns().get(i).map(|c| c.type_()) {
            Some(&Type::INT2) => self.try_get::<_, Option<i16>>(i)?.map(i64::from),
            Some(&Type::INT4) => self.try_get::<_, Option<i32>>(i)?.map(i64::from),
            _ => self.try_get(i)?,
        })
    }
    fn flag(&self, i: usize) -> Result<bool, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn opt_flag(&self, i: usize) -> Result<Option<bool>, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        Ok(self.try_get(i)?)
    }
}

/// PostgreSQL text cannot hold NUL; what a payload says is stored with U+FFFD in its place.
fn text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

fn opt_text(s: &Option<String>) -> Option<Cow<'_, str>> {
    s.as_deref().map(text)
}

// ---------------------------------------------------------------------------------------------
// Small query helpers over the statement cache of deadpool's client and transaction.

/// Runs a statement (prepared once per connection); returns the rows it touched.
async fn exec<C: GenericClient + Sync>(c: &C, sql: &str, p: Params<'_>) -> Result<u64, StoreError> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.execute(&st, p).await?)
}

/// Runs a query (prepared once per connection); returns its rows.
async fn query<C: GenericClient + Sync>(
    c: &C,
    sql: &str,
    p: Params<'_>,
) -> Result<Vec<Row>, StoreError> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query(&st, p).await?)
}

/// Runs a query (prepared once per connection); returns its row, if any.
async fn query_opt<C: GenericClient + Sync>(
    c: &C,
    sql: &str,
    p: Params<'_>,
) -> Result<Option<Row>, StoreError> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&st, p).await?)
}

/// The PostgreSQL store: a connection pool, the batch workers' queue, and the signals it shares
/// with them and with its listener.
pub struct PostgresStore {
    pool: Pool,
    batcher: mpsc::Sender<NewOrderJob>,
    signals: Signals,
}

impl PostgresStore {
    /// Connects, creates the schema the URL's `search_path` names if it is missing, and applies
    /// pending migrations (under an advisory lock: instances starting together migrate once).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let settings = pool_settings(url)?;
        let mut pg: tokio_postgres::Config = settings
            .url
            .parse()
            .map_err(|e| StoreError::Invalid(format!("database URL: {}", with_causes(&e))))?;
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(settings.pool_timeout);
        }
        // Every statement of every connection is bounded; the option rides on the startup packet.
        let timeout = format!(
            "-c statement_timeout={}",
            settings.statement_timeout.as_millis()
        );
        let options = match pg.get_options() {
            Some(o) if !o.is_empty() => format!("{o} {timeout}"),
            _ => timeout,
        };
        pg.options(&options);
        if pg.get_application_name().is_none() {
            pg.application_name("hubhook");
        }
        pg.ssl_mode(settings.tls.driver_mode());
        let tls = settings.tls.connector()?;
        let listen_cfg = pg.clone();
        let manager = Manager::from_config(
            pg,
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size)
            .wait_timeout(Some(settings.pool_timeout))
            .create_timeout(Some(settings.pool_timeout))
            .recycle_timeout(Some(settings.pool_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Invalid(format!("database pool: {e}")))?;
        let mut signals = Signals {
            outbox: Arc::new(Notify::new()),
            events: EventBus::new(),
            instance: uuid::Uuid::now_v7().simple().to_string().into(),
            outbox_channel: "".into(),
            tasks_channel: "".into(),
            config: ConfigBus::default(),
            config_channel: "".into(),
        };
        let schema = migrate(&pool).await?;
        // Channels are per database: the schema's digest keeps deployments in other schemas apart.
        let digest = sha2::Sha256::digest(schema.as_bytes());
        let tag: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        signals.outbox_channel = format!("hubhook_outbox_{tag}").into();
        signals.tasks_channel = format!("hubhook_tasks_{tag}").into();
        signals.config_channel = format!("hubhook_config_{tag}").into();
        let batcher = start_batch_workers(&pool, &signals, settings.batch_workers);
        spawn_listener(listen_cfg, tls, &signals);
        Ok(Self {
            pool,
            batcher,
            signals,
        })
    }
}

/// Applies pending migrations; returns the schema the store uses.
async fn migrate(pool: &Pool) -> Result<String, StoreError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // The schema the URL's search_path names (e.g. `options=-csearch_path%3Dhotel_a`) is
    // created if it does not exist yet; an existing one needs no CREATE right on the database.
    let row = tx
        .query_one(
            "SELECT current_schema(),
                    trim(both '\"' from trim(split_part(current_setting('search_path'), ',', 1)))",
            &[],
        )
        .await?;
    let (current, first): (Option<String>, String) = (row.try_get(0)?, row.try_get(1)?);
    let schema = current.clone().unwrap_or(first);
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('hubhook.migrate.' || $1::text))",
        &[&schema],
    )
    .await?;
    if current.is_none() {
        if schema.is_empty() || schema == "$user" {
            return Err(StoreError::Invalid(
                "the database URL's search_path names no schema to use".into(),
            ));
        }
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS \"{}\"",
            schema.replace('"', "\"\"")
        ))
        .await?;
    }
    tx.batch_execute("CREATE TABLE IF NOT EXISTS hubhook_schema (version INTEGER NOT NULL)")
        .await?;
    let current: i64 = tx
        .query_one(
            "SELECT coalesce(max(version), 0)::bigint FROM hubhook_schema",
            &[],
        )
        .await?
        .get(0);
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(StoreError::Invalid(format!(
            "the database is at schema version {current}, newer than this hubhook knows ({known})"
        )));
    }
    for m in &MIGRATIONS[current as usize..] {
        tx.batch_execute(m).await?;
    }
    tx.execute("DELETE FROM hubhook_schema", &[]).await?;
    tx.execute(
        "INSERT INTO hubhook_schema (version) VALUES ($1::bigint::integer)",
        &[&known],
    )
    .await?;
    tx.commit().await?;
    Ok(schema)
}

/// Runs a block in one transaction of a pooled connection and commits; its `?` rolls back. Nothing
/// the block returns is seen before the commit.
macro_rules! in_tx {
    ($store:expr, |$tx:ident| $body:block) => {{
        let mut client = $store.pool.get().await?;
        let $tx = client.transaction().await?;
        let result: Result<_, StoreError> = async { $body }.await;
        match result {
            Ok(r) => {
                $tx.commit().await?;
                Ok(r)
            }
            Err(e) => {
                let _ = $tx.rollback().await;
                Err(e)
            }
        }
    }};
}

mod accounts;
mod batch;
mod board;
mod claim;
mod dashboard;
mod escalation;
mod hot;
mod hotels;
mod ingest;
mod notify;
mod outbox;
#[cfg(all(test, hubhook_pg_tests))]
mod plan_check;
mod pool;
mod reports;
mod retention;
mod review;
mod stats;
mod tasks;
mod tls;

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client.simple_query("SELECT 1").await?;
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<TaskChange> {
        self.signals.events.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_never_reaches_the_database() {
        assert_eq!(text("a\0b"), "a\u{FFFD}b");
        assert!(matches!(text("plain"), Cow::Borrowed("plain")));
    }
}
