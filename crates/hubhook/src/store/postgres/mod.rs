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
//! in flight at once per instance, default 1).

use crate::store::AccountStore;
use crate::store::HotelStore;
use crate::store::OutboxStore;
use crate::store::RetentionStore;
use crate::store::TaskStore;
use std::{
    borrow::Cow,
    sync::{Arc, Weak},
    time::Duration,
};

use async_trait::async_trait;
use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Transaction,
};
use duve::ReservationFacts;
use jiff::Timestamp;
use sha2::Digest;
use tokio::sync::{Notify, broadcast, mpsc, oneshot};
use tokio_postgres::{NoTls, Row, types::ToSql};

use super::{
    ApiKey, ApiKeyInfo, AttemptRecord, BoardTask, Claimed, Delivery, HotelSettings, HotelSummary,
    InboundEntry, IngestRequest, Ingested, NewHotel, NewSubscription, NewUser, Refused, Room,
    Scope, SessionUser, StatusChange, Store, StoreError, Subscription, TaskDetail, TaskFilter,
    TaskTiming, User,
};
use super::{ConfigBus, ConfigChange};
use crate::{
    domain::outbound::{DeliveryStatus, EventType},
    domain::{
        CatalogEntry, HotelFacts, HotelId, Role, Task, TaskEvent, TaskId, TaskStatus,
        default_catalog, time,
    },
    events::{ChangeKind, EventBus, TaskChange},
    intake::{self, ContextWrite, Enqueue, OrderRead, Outcome, Plan, Settlement, TaskDraft},
};

mod hot;
mod hotels;
mod outbox;

/// Applied in order; the schema's version is the number of migrations applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../schema_postgres.sql"),
    include_str!("../schema_postgres_2_outbox.sql"),
    include_str!("../schema_postgres_3_accounts.sql"),
    include_str!("../schema_postgres_4_retention.sql"),
    include_str!("../schema_postgres_5_indexes.sql"),
    include_str!("../schema_postgres_6_hotel_versions.sql"),
];
/// How often a webhook is decided again after losing a race on a unique key to another instance.
const CONFLICT_RETRIES: usize = 3;

const DEFAULT_POOL_SIZE: usize = 16;
const DEFAULT_POOL_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Whether a database URL names PostgreSQL.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The pool settings taken off a database URL, and the URL that is left for the driver.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSettings {
    pub url: String,
    pub pool_size: usize,
    pub pool_timeout: Duration,
    pub statement_timeout: Duration,
    pub batch_workers: usize,
}

/// `5s`, `500ms`, `2m`, or a bare number of seconds.
fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let (num, unit) = match raw.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => raw.split_at(i),
        None => (raw, "s"),
    };
    let n: u64 = num.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" | "min" => Some(Duration::from_secs(n.checked_mul(60)?)),
        _ => None,
    }
}

pub fn pool_settings(url: &str) -> Result<PoolSettings, StoreError> {
    let mut s = PoolSettings {
        url: url.to_owned(),
        pool_size: DEFAULT_POOL_SIZE,
        pool_timeout: DEFAULT_POOL_TIMEOUT,
        statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
        batch_workers: DEFAULT_BATCH_WORKERS,
    };
    let Some((base, query)) = url.split_once('?') else {
        return Ok(s);
    };
    let bad = |k: &str, v: &str| StoreError::Invalid(format!("database URL: bad {k} {v:?}"));
    let count = |v: &str, max: usize| v.parse().ok().filter(|n| (1..=max).contains(n));
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "pool_size" => s.pool_size = count(v, 1000).ok_or_else(|| bad(k, v))?,
            "batch_workers" => s.batch_workers = count(v, 64).ok_or_else(|| bad(k, v))?,
            "pool_timeout" => s.pool_timeout = parse_duration(v).ok_or_else(|| bad(k, v))?,
            "statement_timeout" => {
                s.statement_timeout = parse_duration(v).ok_or_else(|| bad(k, v))?
            }
            _ => kept.push(pair),
        }
    }
    s.url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok(s)
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.code() {
            Some(c) if c.code().starts_with("23") => StoreError::Conflict(e.to_string()),
            _ => StoreError::Unavailable(match e.as_db_error() {
                Some(db) => format!("{}: {}", db.code().code(), db.message()),
                None => e.to_string(),
            }),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => StoreError::Unavailable(format!("no database connection: {other}")),
        }
    }
}

/// PostgreSQL text cannot hold NUL; what a payload says is stored with U+FFFD in its place.
pub(super) fn text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

fn opt_text(s: &Option<String>) -> Option<Cow<'_, str>> {
    s.as_deref().map(text)
}

fn clean(s: &mut String) {
    if s.contains('\0') {
        *s = s.replace('\0', "\u{FFFD}");
    }
}

fn clean_opt(s: &mut Option<String>) {
    if let Some(s) = s {
        clean(s);
    }
}

fn clean_draft(d: &mut TaskDraft) {
    for s in [&mut d.task_name, &mut d.room] {
        clean(s);
    }
    for s in [
        &mut d.item_key,
        &mut d.external_id,
        &mut d.guest_name,
        &mut d.department,
        &mut d.notes,
        &mut d.language,
        &mut d.order_id,
        &mut d.reservation_id,
    ] {
        clean_opt(s);
    }
}

/// The new tasks of a settlement as stored, and so as answered: the drafts' text cleaned, and the
/// fields the answer takes from them.
fn clean_new_tasks(s: &mut Settlement<'_>) {
    s.new_tasks.iter_mut().for_each(clean_draft);
    if let Outcome::Created { tasks, .. } = &mut s.outcome {
        for t in tasks {
            clean(&mut t.task_name);
            clean(&mut t.room);
            clean_opt(&mut t.external_id);
            clean_opt(&mut t.guest_name);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Small query helpers over the statement cache of deadpool's client and transaction.

pub(super) async fn exec<C: GenericClient + Sync>(
    c: &C,
    sql: &str,
    p: Params<'_>,
) -> Result<u64, StoreError> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.execute(&st, p).await?)
}

pub(super) async fn query<C: GenericClient + Sync>(
    c: &C,
    sql: &str,
    p: Params<'_>,
) -> Result<Vec<Row>, StoreError> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query(&st, p).await?)
}

pub(super) async fn query_opt<C: GenericClient + Sync>(
    c: &C,
    sql: &str,
    p: Params<'_>,
) -> Result<Option<Row>, StoreError> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&st, p).await?)
}

// ---------------------------------------------------------------------------------------------

pub struct PostgresStore {
    pool: Pool,
    batcher: mpsc::Sender<NewOrderJob>,
    signals: Signals,
}

/// What the store shares with its batch workers and its listener: the local wake-ups, and the
/// names under which instances on one database (and schema) tell each other about commits.
#[derive(Clone)]
struct Signals {
    outbox: Arc<Notify>,
    events: EventBus,
    /// This instance's id, in what it announces, so its listener skips its own announcements.
    instance: Arc<str>,
    /// `NOTIFY` channel: deliveries were queued (or made due again).
    outbox_channel: Arc<str>,
    /// `NOTIFY` channel: tasks changed (for the live board of the other instances).
    tasks_channel: Arc<str>,
    /// This instance's hotel cache hears of configuration changes here (its own and, through
    /// `config_channel`, the other instances').
    config: ConfigBus,
    /// `NOTIFY` channel: a hotel's configuration changed (for the other instances' caches).
    config_channel: Arc<str>,
}

impl Signals {
    /// How a transaction tells the other instances of a hotel's new configuration version.
    fn announce_config(&self) -> hotels::Announce<'_> {
        hotels::Announce {
            channel: &self.config_channel,
            instance: &self.instance,
        }
    }

    /// Tells this instance's cache, after the commit, that a hotel is at a new version.
    fn config_changed(&self, hotel: &HotelId, version: u64) {
        self.config.publish(ConfigChange::Hotel {
            id: hotel.as_str().to_owned(),
            version,
        });
    }

    /// Wakes this instance's dispatcher after a commit that queued deliveries.
    fn queued(&self, n: usize) {
        if n > 0 {
            self.outbox.notify_one();
        }
    }
}

/// A `NOTIFY` payload must stay under 8000 bytes.
const NOTIFY_MAX: usize = 7000;

fn change(hotel: &HotelId, t: &Task, kind: ChangeKind) -> TaskChange {
    TaskChange {
        hotel: hotel.clone(),
        task_id: t.id.clone(),
        status: t.status,
        kind,
    }
}

/// The changes an ingested webhook made, as the board sees them.
fn ingest_changes(hotel: &HotelId, done: &Ingested) -> Vec<TaskChange> {
    match done {
        Ingested::Done(Outcome::Created { tasks, .. }) => tasks
            .iter()
            .map(|t| change(hotel, t, ChangeKind::Created))
            .collect(),
        Ingested::Done(Outcome::Cancelled { tasks }) => tasks
            .iter()
            .filter(|t| t.status == TaskStatus::Cancelled)
            .map(|t| change(hotel, t, ChangeKind::StatusChanged))
            .collect(),
        _ => Vec::new(),
    }
}

/// Tells the other instances, with the commit of `c`'s transaction (or at once outside one), which
/// tasks changed and whether deliveries were queued. Lines of `hotel TAB task TAB status TAB kind`
/// after the announcing instance's id, split to fit NOTIFY's payload limit.
async fn announce<C: GenericClient + Sync>(
    c: &C,
    s: &Signals,
    changes: &[TaskChange],
    queued: usize,
) -> Result<(), StoreError> {
    if changes.is_empty() && queued == 0 {
        return Ok(());
    }
    let mut channels: Vec<&str> = Vec::new();
    let mut payloads: Vec<String> = Vec::new();
    let mut current = String::new();
    for ch in changes {
        if current.len() > NOTIFY_MAX {
            channels.push(&s.tasks_channel);
            payloads.push(std::mem::take(&mut current));
        }
        if current.is_empty() {
            current.push_str(&s.instance);
        }
        let kind = match ch.kind {
            ChangeKind::Created => "c",
            ChangeKind::StatusChanged => "s",
        };
        current.push('\n');
        current.push_str(ch.hotel.as_str());
        current.push('\t');
        current.push_str(&ch.task_id);
        current.push('\t');
        current.push_str(ch.status.as_str());
        current.push('\t');
        current.push_str(kind);
    }
    if !current.is_empty() {
        channels.push(&s.tasks_channel);
        payloads.push(current);
    }
    if queued > 0 {
        channels.push(&s.outbox_channel);
        payloads.push(s.instance.to_string());
    }
    exec(c, hot::ANNOUNCE, &[&channels, &payloads]).await?;
    Ok(())
}

/// One task change announced by another instance, or None for a line that does not parse.
fn parse_change(line: &str) -> Option<TaskChange> {
    let mut f = line.split('\t');
    let hotel = HotelId::parse(f.next()?).ok()?;
    let task_id = f.next()?.to_owned();
    let status = TaskStatus::parse(f.next()?)?;
    let kind = match f.next()? {
        "c" => ChangeKind::Created,
        "s" => ChangeKind::StatusChanged,
        _ => return None,
    };
    Some(TaskChange {
        hotel,
        task_id,
        status,
        kind,
    })
}

/// Listens on a connection of its own to what the other instances announce: queued deliveries wake
/// this instance's dispatcher, task changes reach its event bus (the live board). Reconnects after
/// an error; ends when the store is gone. The dispatcher polls anyway, so a missed wake-up only
/// delays a delivery by its poll interval.
fn spawn_listener(cfg: tokio_postgres::Config, s: &Signals) {
    let outbox = Arc::downgrade(&s.outbox);
    let s = Signals {
        outbox: Arc::new(Notify::new()),
        ..s.clone()
    };
    tokio::spawn(async move {
        loop {
            if outbox.upgrade().is_none() {
                return;
            }
            if let Err(e) = listen(&cfg, &s, &outbox).await {
                tracing::warn!(error = %e, "PostgreSQL listener lost its connection; reconnecting");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

async fn listen(
    cfg: &tokio_postgres::Config,
    s: &Signals,
    outbox: &Weak<Notify>,
) -> Result<(), StoreError> {
    use futures_util::StreamExt;
    let (client, mut conn) = cfg.connect(NoTls).await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                    if tx.send(n).is_err() {
                        return Ok(());
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    let quote = |c: &str| format!("\"{}\"", c.replace('"', "\"\""));
    client
        .batch_execute(&format!(
            "LISTEN {}; LISTEN {}; LISTEN {}",
            quote(&s.outbox_channel),
            quote(&s.tasks_channel),
            quote(&s.config_channel)
        ))
        .await?;
    // Configuration changes announced while this instance was not listening were missed: the
    // cache checks every hotel's version once.
    s.config.publish(ConfigChange::Unknown);
    // Whatever was queued while this instance was not listening is picked up now.
    if let Some(o) = outbox.upgrade() {
        o.notify_one();
    }
    let mut alive = tokio::time::interval(Duration::from_secs(2));
    let ended = loop {
        tokio::select! {
            n = rx.recv() => {
                let Some(n) = n else { break None };
                let mut lines = n.payload().split('\n');
                if lines.next() == Some(&*s.instance) {
                    continue;
                }
                if n.channel() == &*s.outbox_channel {
                    match outbox.upgrade() {
                        Some(o) => o.notify_one(),
                        None => break Some(()),
                    }
                } else if n.channel() == &*s.config_channel {
                    if let Some(change) = hotels::parse_announced(&mut lines) {
                        s.config.publish(change);
                    }
                } else {
                    s.events.publish(lines.filter_map(parse_change));
                }
            }
            _ = alive.tick() => {
                if outbox.upgrade().is_none() {
                    break Some(());
                }
            }
        }
    };
    drop(client);
    if ended.is_some() {
        driver.abort();
        return Ok(());
    }
    match driver.await {
        Ok(Ok(())) => Err(StoreError::Unavailable(
            "the listening connection closed".into(),
        )),
        Ok(Err(e)) => Err(e.into()),
        Err(e) => Err(StoreError::Unavailable(format!("listener: {e}"))),
    }
}

impl PostgresStore {
    /// Connects, creates the schema the URL's `search_path` names if it is missing, and applies
    /// pending migrations (under an advisory lock: instances starting together migrate once).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let settings = pool_settings(url)?;
        let mut pg: tokio_postgres::Config = settings
            .url
            .parse()
            .map_err(|e| StoreError::Invalid(format!("database URL: {e}")))?;
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
        let listen_cfg = pg.clone();
        let manager = Manager::from_config(
            pg,
            NoTls,
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
        spawn_listener(listen_cfg, &signals);
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

// ---------------------------------------------------------------------------------------------
// SQL, shared by the methods below.

const TASK_COLS: &str =
    "id, external_id, task_name, room, guest_name, quantity, status, due_at, created_at";

fn status_from(raw: &str) -> Result<TaskStatus, StoreError> {
    TaskStatus::parse(raw)
        .ok_or_else(|| StoreError::Unavailable(format!("unknown task status {raw:?} stored")))
}

fn task_from_row(r: &Row) -> Result<Task, StoreError> {
    let quantity: i32 = r.try_get(5)?;
    Ok(Task {
        id: r.try_get(0)?,
        external_id: r.try_get(1)?,
        task_name: r.try_get(2)?,
        room: r.try_get(3)?,
        guest_name: r.try_get(4)?,
        quantity: u32::try_from(quantity).unwrap_or(0),
        status: status_from(r.try_get(6)?)?,
        due_at: r.try_get(7)?,
        created_at: r.try_get(8)?,
    })
}

async fn hotel_exists<C: GenericClient + Sync>(c: &C, hotel: &str) -> Result<(), StoreError> {
    query_opt(c, "SELECT 1 FROM hotels WHERE id = $1", &[&hotel])
        .await?
        .map(|_| ())
        .ok_or(StoreError::NotFound)
}

async fn task_by_id(
    tx: &Transaction<'_>,
    hotel: &str,
    id: &str,
) -> Result<Option<Task>, StoreError> {
    let sql = format!("SELECT {TASK_COLS} FROM tasks WHERE hotel_id = $1 AND id = $2 FOR UPDATE");
    query_opt(tx, &sql, &[&hotel, &id])
        .await?
        .as_ref()
        .map(task_from_row)
        .transpose()
}

async fn order_tasks(
    tx: &Transaction<'_>,
    hotel: &str,
    order_key: &str,
) -> Result<Vec<Task>, StoreError> {
    query(tx, hot::ORDER_TASKS, &[&hotel, &order_key])
        .await?
        .iter()
        .map(task_from_row)
        .collect()
}

async fn order_tasks_locked(
    tx: &Transaction<'_>,
    hotel: &str,
    order_key: &str,
) -> Result<Vec<Task>, StoreError> {
    query(tx, hot::ORDER_TASKS_LOCKED, &[&hotel, &order_key])
        .await?
        .iter()
        .map(task_from_row)
        .collect()
}

/// The hotel's configuration version (None for an unknown hotel) and the order's state, in one
/// round trip.
async fn version_and_order_state(
    tx: &Transaction<'_>,
    hotel: &str,
    order_key: Option<&str>,
) -> Result<(Option<u64>, Option<String>), StoreError> {
    let row = query_opt(tx, hot::VERSION_AND_ORDER_STATE, &[&hotel, &order_key])
        .await?
        .ok_or_else(|| StoreError::Unavailable("no row from a scalar query".into()))?;
    let v: Option<i64> = row.try_get(0)?;
    Ok((v.map(|v| v as u64), row.try_get(1)?))
}

#[allow(clippy::too_many_arguments)]
async fn insert_order(
    tx: &Transaction<'_>,
    hotel: &str,
    order_key: &str,
    plan_order_id: Option<&str>,
    reservation_id: Option<&str>,
    state: &str,
    now: &str,
) -> Result<(), StoreError> {
    exec(
        tx,
        hot::INSERT_ORDER,
        &[
            &hotel,
            &text(order_key),
            &plan_order_id.map(text),
            &reservation_id.map(text),
            &state,
            &now,
        ],
    )
    .await?;
    Ok(())
}

async fn insert_event(
    tx: &Transaction<'_>,
    task: &str,
    at: &str,
    actor: &str,
    from: Option<TaskStatus>,
    to: TaskStatus,
    note: Option<&str>,
) -> Result<(), StoreError> {
    exec(
        tx,
        hot::INSERT_EVENT,
        &[
            &task,
            &at,
            &text(actor),
            &from.map(TaskStatus::as_str),
            &to.as_str(),
            &note.map(text),
        ],
    )
    .await?;
    Ok(())
}

/// Inserts a task (its draft already cleaned) and the first line of its history in one statement.
#[allow(clippy::too_many_arguments)]
async fn insert_task(
    tx: &Transaction<'_>,
    hotel: &str,
    order_key: Option<&str>,
    id: &str,
    d: &TaskDraft,
    actor: &str,
    now: &str,
) -> Result<(), StoreError> {
    let quantity = i32::try_from(d.quantity).unwrap_or(i32::MAX);
    exec(
        tx,
        hot::INSERT_TASK,
        &[
            &id,
            &hotel,
            &order_key.map(text),
            &d.item_key,
            &d.order_id,
            &d.reservation_id,
            &d.external_id,
            &d.task_name,
            &d.room,
            &d.guest_name,
            &quantity,
            &d.department,
            &d.notes,
            &d.language,
            &d.requested_at.map(time::format),
            &d.due_at.map(time::format),
            &now,
            &text(actor),
        ],
    )
    .await?;
    Ok(())
}

async fn load_context(
    tx: &Transaction<'_>,
    hotel: &str,
    reservation: &str,
) -> Result<Option<ReservationFacts>, StoreError> {
    let row = query_opt(tx, hot::LOAD_CONTEXT, &[&hotel, &text(reservation)]).await?;
    let Some(r) = row else {
        return Ok(None);
    };
    Ok(Some(ReservationFacts {
        reservation_id: Some(reservation.to_owned()),
        room_number: r.try_get(0)?,
        first_name: r.try_get(1)?,
        last_name: r.try_get(2)?,
        language: r.try_get(3)?,
        check_in: r.try_get(4)?,
        check_out: r.try_get(5)?,
    }))
}

/// Keeps what an event says about a reservation; a field it does not mention keeps its earlier value.
async fn upsert_context(
    tx: &Transaction<'_>,
    hotel: &str,
    f: &ContextWrite<'_>,
    now: &str,
) -> Result<(), StoreError> {
    exec(
        tx,
        hot::UPSERT_CONTEXT,
        &[
            &hotel,
            &text(f.reservation_id),
            &f.room_number.map(text),
            &f.first_name.map(text),
            &f.last_name.map(text),
            &f.language.map(text),
            &f.check_in.map(text),
            &f.check_out.map(text),
            &now,
        ],
    )
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn insert_inbound<C: GenericClient + Sync>(
    c: &C,
    hotel: &str,
    received_at: &str,
    event: Option<&str>,
    code: &str,
    details: &[String],
    task_ids: &[&str],
    body: &[u8],
    duration_us: u64,
) -> Result<(), StoreError> {
    let details = serde_json::to_string(details).unwrap_or_else(|_| "[]".into());
    let task_ids = serde_json::to_string(task_ids).unwrap_or_else(|_| "[]".into());
    let body = String::from_utf8_lossy(body);
    exec(
        c,
        hot::INSERT_INBOUND,
        &[
            &hotel,
            &received_at,
            &event.map(text),
            &code,
            &text(&details),
            &task_ids,
            &text(&body),
            &(duration_us as i64),
        ],
    )
    .await?;
    Ok(())
}

/// One attempt at a webhook's transaction. `Err` with a unique violation means another instance
/// committed the same order meanwhile: the caller rolls back and decides again.
async fn ingest_tx(
    tx: &Transaction<'_>,
    req: &IngestRequest,
) -> Result<(Ingested, usize), StoreError> {
    let hotel = &*req.hotel;
    let hid = hotel.id.as_str();
    let key = match &req.plan {
        Plan::Order(p) => Some(p.order_key.as_str()),
        Plan::Cancel { order_key } => Some(order_key.as_str()),
        _ => None,
    };
    let key_text = key.map(text);
    let (version, state) = version_and_order_state(tx, hid, key_text.as_deref()).await?;
    if version != Some(req.cache_version) {
        return Ok((Ingested::Stale, 0));
    }
    let state = super::order_state_from(state)?;
    let reads = req.plan.reads(state);
    let tasks = match reads.tasks_of {
        Some(key) if reads.lock_tasks => order_tasks_locked(tx, hid, &text(key)).await?,
        Some(key) => order_tasks(tx, hid, &text(key)).await?,
        None => Vec::new(),
    };
    let context = match reads.context_of {
        Some(reservation) => load_context(tx, hid, reservation).await?,
        None => None,
    };
    let read = OrderRead {
        state,
        tasks,
        context,
    };
    let mut settled = intake::settle(&req.plan, hotel, read, time::now());
    clean_new_tasks(&mut settled);
    let queued = apply(tx, hid, &settled).await?;
    let outcome = settled.outcome;
    insert_inbound(
        tx,
        hid,
        &time::format(req.received_at),
        req.event.as_deref(),
        outcome.code(),
        outcome.details(),
        &outcome.task_ids(),
        &req.body,
        req.started.elapsed().as_micros() as u64,
    )
    .await?;
    Ok((Ingested::Done(outcome), queued))
}

/// Writes a settlement's rows (all but the inbound log's); returns the deliveries queued.
async fn apply(tx: &Transaction<'_>, hid: &str, s: &Settlement<'_>) -> Result<usize, StoreError> {
    let at = s.at.as_str();
    if let Some(o) = &s.order {
        // First, so that a race with another instance is lost before any work.
        insert_order(
            tx,
            hid,
            o.order_key,
            o.order_id,
            o.reservation_id,
            o.state.as_str(),
            at,
        )
        .await?;
    }
    let key = s.order.as_ref().map(|o| o.order_key);
    for (draft, task) in s.new_tasks() {
        insert_task(tx, hid, key, &task.id, draft, intake::ACTOR, at).await?;
    }
    for m in &s.moves {
        exec(tx, hot::MOVE_TASK, &[&m.task_id, &at, &m.to.as_str()]).await?;
    }
    for line in s.moves.iter().chain(&s.notes) {
        insert_event(
            tx,
            &line.task_id,
            at,
            intake::ACTOR,
            Some(line.from),
            line.to,
            Some(line.note),
        )
        .await?;
    }
    let mut queued = 0;
    for (task, raised) in s.deliveries() {
        queued += outbox::enqueue(tx, hid, task, crate::store::raised_events(raised), at).await?;
    }
    if let Some(c) = &s.context {
        upsert_context(tx, hid, c, at).await?;
    }
    Ok(queued)
}

// ---------------------------------------------------------------------------------------------
// New orders, batched: the common webhook (a new order whose tasks need no stored context) goes to
// a few batch workers; each takes whatever has queued up and writes it in one statement (one round
// trip, one commit for the whole batch: group commit, as the SQLite writer does). Only orders that
// are new and decided with the current configuration version are written; the others are handed
// back and take the general path, which reads what it needs first.

/// Enough to amortise one commit over a burst, small enough to keep one batch's latency low.
const MAX_BATCH: usize = 128;
/// Batches in flight at once per instance (each on its own pooled connection), unless the URL's
/// `batch_workers` says otherwise. One: while a batch commits, the next one gathers, so batches
/// are as large as the load makes them and the database pays one commit per batch; more workers
/// overlap commits but split the load into smaller batches, which cost the database more CPU per
/// order (docs/benchmarks.md: one worker was faster for one instance and for two).
const DEFAULT_BATCH_WORKERS: usize = 1;

/// One new order, ready to be written: its settlement, every value already in its column's form.
struct NewOrder {
    hotel_id: String,
    order_key: String,
    order_id: Option<String>,
    reservation_id: Option<String>,
    state: &'static str,
    version: i64,
    now: String,
    task_ids: Vec<String>,
    /// The tasks as the answer and the outbox show them.
    tasks: Vec<Task>,
    /// The deliveries to queue, per task of `tasks`.
    outbox: Vec<Enqueue>,
    /// Per task: item_key, order_id, reservation_id, external_id, task_name, room, guest_name,
    /// department, notes, language, requested_at, due_at.
    task_cols: Vec<[Option<String>; 12]>,
    quantities: Vec<i32>,
    /// Reservation id, room, first name, last name, language, check-in, check-out.
    context: Option<[Option<String>; 7]>,
    received_at: String,
    event: Option<String>,
    /// The inbound log's outcome code.
    code: &'static str,
    task_ids_json: String,
    body: String,
    duration_us: i64,
}

struct NewOrderJob {
    order: NewOrder,
    /// Whether the order was written (false: take the general path).
    reply: oneshot::Sender<Result<bool, StoreError>>,
}

type JobQueue = Arc<tokio::sync::Mutex<mpsc::Receiver<NewOrderJob>>>;

fn start_batch_workers(
    pool: &Pool,
    signals: &Signals,
    workers: usize,
) -> mpsc::Sender<NewOrderJob> {
    let (tx, rx) = mpsc::channel::<NewOrderJob>(4096);
    let rx: JobQueue = Arc::new(tokio::sync::Mutex::new(rx));
    for _ in 0..workers {
        let (pool, rx, signals) = (pool.clone(), rx.clone(), signals.clone());
        tokio::spawn(async move {
            let mut jobs = Vec::with_capacity(MAX_BATCH);
            loop {
                {
                    let mut queue = rx.lock().await;
                    if queue.recv_many(&mut jobs, MAX_BATCH).await == 0 {
                        return;
                    }
                }
                write_batch(&pool, &mut jobs, &signals).await;
            }
        });
    }
    tx
}

async fn write_batch(pool: &Pool, jobs: &mut Vec<NewOrderJob>, signals: &Signals) {
    // One order key, and one reservation's context, at most once per statement: a second one waits
    // for the general path (which finds the first once it has committed).
    let mut keys = std::collections::HashSet::new();
    let mut contexts = std::collections::HashSet::new();
    let mut batch = Vec::with_capacity(jobs.len());
    for job in jobs.drain(..) {
        let o = &job.order;
        let key_free = keys.insert((o.hotel_id.clone(), o.order_key.clone()));
        let context_free = match &o.context {
            Some(c) => contexts.insert((o.hotel_id.clone(), c[0].clone())),
            None => true,
        };
        if key_free && context_free {
            batch.push(job);
        } else {
            let _ = job.reply.send(Ok(false));
        }
    }
    let result = match pool.get().await {
        Ok(mut client) => write_new_orders(&mut client, &batch, signals).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Ok((written, queued)) => {
            signals.queued(queued);
            // The same counters as the SQLite writer's group commits (`/metrics`).
            super::stats::batch_committed(batch.len());
            for job in batch {
                let o = &job.order;
                let done = written.contains(&(o.hotel_id.clone(), o.order_key.clone()));
                let _ = job.reply.send(Ok(done));
            }
        }
        Err(e) => {
            for job in batch {
                let _ = job.reply.send(Err(e.clone()));
            }
        }
    }
}

/// Writes a batch and, in the same transaction, the outbox deliveries its tasks raise; announces
/// the new tasks to the other instances. Returns the orders written and how many deliveries.
async fn write_new_orders(
    client: &mut deadpool_postgres::Client,
    batch: &[NewOrderJob],
    signals: &Signals,
) -> Result<(std::collections::HashSet<(String, String)>, usize), StoreError> {
    let mut hotels: Vec<&str> = batch.iter().map(|j| j.order.hotel_id.as_str()).collect();
    hotels.sort_unstable();
    hotels.dedup();
    let subscribed = query_opt(&*client, hot::BATCH_SUBSCRIBED, &[&hotels])
        .await?
        .is_some();
    let changes = |written: &std::collections::HashSet<(String, String)>| {
        let mut changes = Vec::new();
        for job in batch {
            let o = &job.order;
            if !written.contains(&(o.hotel_id.clone(), o.order_key.clone())) {
                continue;
            }
            let Ok(hotel) = HotelId::parse(&o.hotel_id) else {
                continue;
            };
            changes.extend(
                o.tasks
                    .iter()
                    .map(|t| change(&hotel, t, ChangeKind::Created)),
            );
        }
        changes
    };
    if !subscribed {
        // No outbox work: one statement, its own transaction; the announcement follows its commit.
        let written = insert_new_orders(&*client, batch, false).await?;
        if let Err(e) = announce(&*client, signals, &changes(&written), 0).await {
            tracing::warn!(error = %e, "could not announce new tasks to the other instances");
        }
        return Ok((written, 0));
    }
    let tx = client.transaction().await?;
    let result: Result<_, StoreError> = async {
        let written = insert_new_orders(&tx, batch, true).await?;
        let mut queued = 0;
        for job in batch {
            let o = &job.order;
            if !written.contains(&(o.hotel_id.clone(), o.order_key.clone())) {
                continue;
            }
            for (t, raised) in intake::deliveries(&o.outbox, &o.tasks) {
                let events = crate::store::raised_events(raised);
                queued += outbox::enqueue(&tx, &o.hotel_id, t, events, &o.now).await?;
            }
        }
        announce(&tx, signals, &changes(&written), queued).await?;
        Ok((written, queued))
    }
    .await;
    match result {
        Ok(r) => {
            tx.commit().await?;
            Ok(r)
        }
        Err(e) => {
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

/// `with_outbox`: the caller queues the deliveries in the same transaction; without it, an order of
/// a hotel with a subscription is not written (the general path takes it).
async fn insert_new_orders<C: GenericClient + Sync>(
    client: &C,
    batch: &[NewOrderJob],
    with_outbox: bool,
) -> Result<std::collections::HashSet<(String, String)>, StoreError> {
    let orders: Vec<&NewOrder> = batch.iter().map(|j| &j.order).collect();
    let col = |f: fn(&NewOrder) -> Option<String>| orders.iter().map(|o| f(o)).collect::<Vec<_>>();
    let o_hotel = col(|o| Some(o.hotel_id.clone()));
    let o_key = col(|o| Some(o.order_key.clone()));
    let o_order_id = col(|o| o.order_id.clone());
    let o_res = col(|o| o.reservation_id.clone());
    let o_now = col(|o| Some(o.now.clone()));
    let o_version: Vec<i64> = orders.iter().map(|o| o.version).collect();
    let o_state = col(|o| Some(o.state.to_owned()));
    let (mut t_id, mut t_hotel, mut t_key, mut t_now) = (vec![], vec![], vec![], vec![]);
    let mut t_cols: [Vec<Option<String>>; 12] = Default::default();
    let mut t_qty = vec![];
    let mut t_n: Vec<i32> = vec![];
    let mut c: [Vec<Option<String>>; 9] = Default::default();
    for o in &orders {
        for ((id, cols), qty) in o.task_ids.iter().zip(&o.task_cols).zip(&o.quantities) {
            t_id.push(id.clone());
            t_hotel.push(o.hotel_id.clone());
            t_key.push(o.order_key.clone());
            t_now.push(o.now.clone());
            for (dst, v) in t_cols.iter_mut().zip(cols) {
                dst.push(v.clone());
            }
            t_qty.push(*qty);
            t_n.push(t_n.len() as i32);
        }
        if let Some(ctx) = &o.context {
            c[0].push(Some(o.hotel_id.clone()));
            c[1].push(Some(o.order_key.clone()));
            for (dst, v) in c[2..].iter_mut().zip(ctx) {
                dst.push(v.clone());
            }
        }
    }
    let i_received = col(|o| Some(o.received_at.clone()));
    let i_event = col(|o| o.event.clone());
    let i_task_ids = col(|o| Some(o.task_ids_json.clone()));
    let i_body = col(|o| Some(o.body.clone()));
    let i_duration: Vec<i64> = orders.iter().map(|o| o.duration_us).collect();
    let i_code = col(|o| Some(o.code.to_owned()));
    let rows = query(
        client,
        hot::INSERT_NEW_ORDERS,
        &[
            &o_hotel,
            &o_key,
            &o_order_id,
            &o_res,
            &o_now,
            &o_version,
            &t_id,
            &t_hotel,
            &t_key,
            &t_cols[0],
            &t_cols[1],
            &t_cols[2],
            &t_cols[3],
            &t_cols[4],
            &t_cols[5],
            &t_cols[6],
            &t_cols[7],
            &t_cols[8],
            &t_cols[9],
            &t_cols[10],
            &t_cols[11],
            &t_qty,
            &t_now,
            &t_n,
            &c[0],
            &c[1],
            &c[2],
            &c[3],
            &c[4],
            &c[5],
            &c[6],
            &i_received,
            &i_event,
            &i_task_ids,
            &i_body,
            &i_duration,
            &with_outbox,
            &o_state,
            &c[7],
            &c[8],
            &i_code,
        ],
    )
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// Hands a new order to the batch workers; `None` when the plan is not such an order, or it was not
/// written (not new, or decided with an outdated configuration): the general path decides then.
///
/// The order is settled as new, as if the store had read no row of it: the batch's insert of its
/// `orders` row checks that (an order seen before is handed back). One whose settlement needs more
/// read (a reservation's context) takes the general path at once.
async fn ingest_new_order(
    batcher: &mpsc::Sender<NewOrderJob>,
    req: &IngestRequest,
) -> Result<Option<Outcome>, StoreError> {
    if !matches!(req.plan, Plan::Order(_)) || !req.plan.reads(None).is_empty() {
        return Ok(None);
    }
    let hotel = &*req.hotel;
    let mut settled = intake::settle(&req.plan, hotel, OrderRead::default(), time::now());
    let (Outcome::Created { .. }, Some(row)) = (&settled.outcome, settled.order) else {
        return Ok(None);
    };
    clean_new_tasks(&mut settled);
    let Settlement {
        outcome,
        at,
        new_tasks,
        outbox: deliveries,
        context,
        ..
    } = settled;
    let t = |s: Option<&str>| s.map(|s| text(s).into_owned());
    let n = new_tasks.len();
    let mut order = NewOrder {
        hotel_id: hotel.id.as_str().to_owned(),
        order_key: text(row.order_key).into_owned(),
        order_id: t(row.order_id),
        reservation_id: t(row.reservation_id),
        state: row.state.as_str(),
        version: req.cache_version as i64,
        now: at,
        task_ids: Vec::with_capacity(n),
        tasks: outcome.tasks().to_vec(),
        outbox: deliveries,
        task_cols: Vec::with_capacity(n),
        quantities: Vec::with_capacity(n),
        context: context.map(|c| {
            [
                t(Some(c.reservation_id)),
                t(c.room_number),
                t(c.first_name),
                t(c.last_name),
                t(c.language),
                t(c.check_in),
                t(c.check_out),
            ]
        }),
        received_at: time::format(req.received_at),
        event: req.event.as_deref().map(|s| text(s).into_owned()),
        code: outcome.code(),
        task_ids_json: String::new(),
        body: text(&String::from_utf8_lossy(&req.body)).into_owned(),
        duration_us: 0,
    };
    for (d, task) in new_tasks.into_iter().zip(outcome.tasks()) {
        order
            .quantities
            .push(i32::try_from(d.quantity).unwrap_or(i32::MAX));
        order.task_cols.push([
            d.item_key,
            d.order_id,
            d.reservation_id,
            d.external_id,
            Some(d.task_name),
            Some(d.room),
            d.guest_name,
            d.department,
            d.notes,
            d.language,
            d.requested_at.map(time::format),
            d.due_at.map(time::format),
        ]);
        order.task_ids.push(task.id.clone());
    }
    order.task_ids_json = serde_json::to_string(&order.task_ids).unwrap_or_else(|_| "[]".into());
    order.duration_us = req.started.elapsed().as_micros() as i64;
    let (reply, answer) = oneshot::channel();
    let stopped = || StoreError::Unavailable("the batch writer has stopped".into());
    batcher
        .send(NewOrderJob { order, reply })
        .await
        .map_err(|_| stopped())?;
    let written = answer.await.map_err(|_| stopped())??;
    Ok(written.then_some(outcome))
}

fn inbound_from_row(r: &Row) -> Result<InboundEntry, StoreError> {
    let details: String = r.try_get(4)?;
    let task_ids: String = r.try_get(5)?;
    let micros: i64 = r.try_get(6)?;
    Ok(InboundEntry {
        id: r.try_get(0)?,
        received_at: r.try_get(1)?,
        event: r.try_get(2)?,
        code: r.try_get(3)?,
        details: serde_json::from_str(&details).unwrap_or_default(),
        task_ids: serde_json::from_str(&task_ids).unwrap_or_default(),
        duration_ms: micros as f64 / 1000.0,
        body: r.try_get(7)?,
    })
}

#[async_trait]
impl HotelStore for PostgresStore {
    async fn all_hotel_facts(&self) -> Result<Vec<HotelFacts>, StoreError> {
        let mut client = self.pool.get().await?;
        // One consistent view: each hotel's version is the version of the rows read.
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let all = hotels::all_hotel_facts(&tx).await?;
        tx.commit().await?;
        Ok(all)
    }

    async fn hotel_facts(&self, id: &str) -> Result<Option<HotelFacts>, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let facts = hotels::hotel_facts(&tx, id).await?;
        tx.commit().await?;
        Ok(facts)
    }

    async fn hotel_version(&self, id: &str) -> Result<Option<u64>, StoreError> {
        let client = self.pool.get().await?;
        hotels::hotel_version(&client, id).await
    }

    async fn hotel_versions(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let client = self.pool.get().await?;
        hotels::hotel_versions(&client).await
    }

    fn config_changes(&self) -> broadcast::Receiver<ConfigChange> {
        self.signals.config.subscribe()
    }

    async fn create_hotel(&self, h: NewHotel) -> Result<(), StoreError> {
        in_tx!(self, |tx| {
            let now = time::format(time::now());
            let inserted = exec(
                &tx,
                "INSERT INTO hotels (id, name, timezone, access_hash, password_hash, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
                &[
                    &h.id.as_str(),
                    &text(&h.name),
                    &h.timezone,
                    &&h.access_hash[..],
                    &&h.password_hash[..],
                    &now,
                ],
            )
            .await?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!(
                    "hotel {} already exists",
                    h.id
                )));
            }
            let st = tx
                .prepare_cached(
                    "INSERT INTO catalog (hotel_id, external_id, name) VALUES ($1, $2, $3)",
                )
                .await?;
            for e in default_catalog() {
                tx.execute(&st, &[&h.id.as_str(), &e.external_id, &e.name])
                    .await?;
            }
            Ok(())
        })?;
        self.signals.config_changed(&h.id, 1);
        Ok(())
    }

    async fn list_hotels(&self) -> Result<Vec<HotelSummary>, StoreError> {
        let client = self.pool.get().await?;
        let rows = query(
            &client,
            "SELECT h.id, h.name, h.timezone, h.sync_paid_orders, h.created_at,
                    (SELECT count(*) FROM rooms r WHERE r.hotel_id = h.id)
             FROM hotels h ORDER BY h.created_at, h.id",
            &[],
        )
        .await?;
        rows.iter()
            .map(|r| {
                let rooms: i64 = r.try_get(5)?;
                Ok(HotelSummary {
                    hotel_id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    timezone: r.try_get(2)?,
                    sync_paid_orders: r.try_get(3)?,
                    created_at: r.try_get(4)?,
                    rooms: rooms as u64,
                })
            })
            .collect()
    }

    async fn set_tokens(
        &self,
        hotel: &HotelId,
        access_hash: [u8; 32],
        password_hash: [u8; 32],
    ) -> Result<(), StoreError> {
        let hotel = hotel.clone();
        in_tx!(self, |tx| {
            let n = exec(
                &tx,
                "UPDATE hotels SET access_hash = $2, password_hash = $3 WHERE id = $1",
                &[&hotel.as_str(), &&access_hash[..], &&password_hash[..]],
            )
            .await?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            hotels::bump_hotel(&tx, hotel.as_str(), &self.signals.announce_config()).await
        })
        .map(|v| self.signals.config_changed(&hotel, v))
    }

    async fn update_hotel(&self, hotel: &HotelId, s: HotelSettings) -> Result<(), StoreError> {
        let hotel = hotel.clone();
        let changed = in_tx!(self, |tx| {
            // A save that changes nothing leaves the version alone: nothing cached is outdated.
            let n = exec(
                &tx,
                "UPDATE hotels SET name = coalesce($2, name), timezone = coalesce($3, timezone),
                         sync_paid_orders = coalesce($4, sync_paid_orders)
                     WHERE id = $1 AND (name IS DISTINCT FROM coalesce($2, name)
                         OR timezone IS DISTINCT FROM coalesce($3, timezone)
                         OR sync_paid_orders IS DISTINCT FROM coalesce($4, sync_paid_orders))",
                &[
                    &hotel.as_str(),
                    &opt_text(&s.name),
                    &s.timezone,
                    &s.sync_paid_orders,
                ],
            )
            .await?;
            if n == 0 {
                return hotel_exists(&tx, hotel.as_str()).await.map(|()| None);
            }
            hotels::bump_hotel(&tx, hotel.as_str(), &self.signals.announce_config())
                .await
                .map(Some)
        })?;
        if let Some(v) = changed {
            self.signals.config_changed(&hotel, v);
        }
        Ok(())
    }

    async fn add_rooms(&self, hotel: &HotelId, rooms: Vec<Room>) -> Result<u64, StoreError> {
        let hotel = hotel.clone();
        in_tx!(self, |tx| {
            hotel_exists(&tx, hotel.as_str()).await?;
            let insert = tx
                .prepare_cached(
                    "INSERT INTO rooms (hotel_id, number, floor) VALUES ($1, $2, $3)
                         ON CONFLICT (hotel_id, number) DO NOTHING",
                )
                .await?;
            let mut added = 0;
            for room in &rooms {
                let number = text(&room.room);
                let floor = opt_text(&room.floor);
                let n = tx
                    .execute(&insert, &[&hotel.as_str(), &number, &floor])
                    .await?;
                added += n;
                if n == 0 && floor.is_some() {
                    exec(
                        &tx,
                        "UPDATE rooms SET floor = $3 WHERE hotel_id = $1 AND number = $2",
                        &[&hotel.as_str(), &number, &floor],
                    )
                    .await?;
                }
            }
            // Only new rooms change what the caches know (they keep no floors).
            let version = match added {
                0 => None,
                _ => Some(
                    hotels::bump_hotel(&tx, hotel.as_str(), &self.signals.announce_config())
                        .await?,
                ),
            };
            Ok((added, version))
        })
        .map(|(added, version)| {
            if let Some(v) = version {
                self.signals.config_changed(&hotel, v);
            }
            added
        })
    }

    async fn list_rooms(&self, hotel: &HotelId) -> Result<Vec<Room>, StoreError> {
        let client = self.pool.get().await?;
        hotel_exists(&client, hotel.as_str()).await?;
        let rows = query(
            &client,
            "SELECT number, floor FROM rooms WHERE hotel_id = $1
             ORDER BY length(number), number COLLATE \"C\"",
            &[&hotel.as_str()],
        )
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Room {
                    room: r.try_get(0)?,
                    floor: r.try_get(1)?,
                })
            })
            .collect()
    }

    async fn list_catalog(&self, hotel: &HotelId) -> Result<Vec<CatalogEntry>, StoreError> {
        let client = self.pool.get().await?;
        hotel_exists(&client, hotel.as_str()).await?;
        let rows = query(
            &client,
            "SELECT external_id, name, department, sla_minutes FROM catalog WHERE hotel_id = $1
             ORDER BY length(external_id), external_id COLLATE \"C\"",
            &[&hotel.as_str()],
        )
        .await?;
        rows.iter()
            .map(|r| {
                let sla: Option<i32> = r.try_get(3)?;
                Ok(CatalogEntry {
                    external_id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    department: r.try_get(2)?,
                    sla_minutes: sla.and_then(|m| u32::try_from(m).ok()),
                })
            })
            .collect()
    }

    async fn set_catalog(&self, hotel: &HotelId, e: CatalogEntry) -> Result<(), StoreError> {
        let hotel = hotel.clone();
        in_tx!(self, |tx| {
            hotel_exists(&tx, hotel.as_str()).await?;
            let sla = e.sla_minutes.map(|m| i32::try_from(m).unwrap_or(i32::MAX));
            exec(
                &tx,
                "INSERT INTO catalog AS c (hotel_id, external_id, name, department, sla_minutes)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (hotel_id, external_id) DO UPDATE SET name = excluded.name,
                         department = coalesce(excluded.department, c.department),
                         sla_minutes = coalesce(excluded.sla_minutes, c.sla_minutes)",
                &[
                    &hotel.as_str(),
                    &text(&e.external_id),
                    &text(&e.name),
                    &opt_text(&e.department),
                    &sla,
                ],
            )
            .await?;
            hotels::bump_hotel(&tx, hotel.as_str(), &self.signals.announce_config()).await
        })
        .map(|v| self.signals.config_changed(&hotel, v))
    }
}

#[async_trait]
impl TaskStore for PostgresStore {
    async fn ingest(&self, req: IngestRequest) -> Result<Ingested, StoreError> {
        let hotel = &req.hotel.id;
        if let Some(outcome) = ingest_new_order(&self.batcher, &req).await? {
            // Written and committed by a batch worker, which also woke the dispatcher.
            let done = Ingested::Done(outcome);
            self.signals.events.publish(ingest_changes(hotel, &done));
            return Ok(done);
        }
        let mut client = self.pool.get().await?;
        let mut attempt = 0;
        loop {
            let tx = client.transaction().await?;
            let result = match ingest_tx(&tx, &req).await {
                Ok((done, queued)) => {
                    let changes = ingest_changes(hotel, &done);
                    announce(&tx, &self.signals, &changes, queued)
                        .await
                        .map(|()| (done, changes, queued))
                }
                Err(e) => Err(e),
            };
            let error = match result {
                Ok((done, changes, queued)) => {
                    tx.commit().await?;
                    // Only after the commit: what is published is durable.
                    self.signals.queued(queued);
                    self.signals.events.publish(changes);
                    return Ok(done);
                }
                Err(e) => e,
            };
            let _ = tx.rollback().await;
            attempt += 1;
            match error {
                // Another instance committed this order first: decide again, seeing its row.
                StoreError::Conflict(_) if attempt <= CONFLICT_RETRIES => continue,
                e => return Err(e),
            }
        }
    }

    async fn record_refusal(&self, r: Refused) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        insert_inbound(
            &client,
            r.hotel.as_str(),
            &time::format(r.received_at),
            r.event.as_deref(),
            r.code,
            &r.details,
            &[],
            b"",
            r.started.elapsed().as_micros() as u64,
        )
        .await
    }

    async fn list_tasks(
        &self,
        hotel: &HotelId,
        f: TaskFilter,
    ) -> Result<(Vec<Task>, Option<i64>), StoreError> {
        let client = self.pool.get().await?;
        let sql = format!(
            "SELECT {TASK_COLS}, seq FROM tasks
             WHERE hotel_id = $1 AND ($2::text IS NULL OR status = $2)
               AND ($3::text IS NULL OR room = $3)
               AND ($4::text IS NULL OR created_at >= $4) AND ($5::bigint IS NULL OR seq < $5)
             ORDER BY seq DESC LIMIT $6"
        );
        let room = f.room.as_deref().map(text);
        let since = f.since.as_deref().map(text);
        let rows = query(
            &client,
            &sql,
            &[
                &hotel.as_str(),
                &f.status.map(TaskStatus::as_str),
                &room,
                &since,
                &f.cursor,
                &(i64::from(f.limit) + 1),
            ],
        )
        .await?;
        let mut page = rows
            .iter()
            .map(|r| Ok((task_from_row(r)?, r.try_get::<_, i64>(9)?)))
            .collect::<Result<Vec<(Task, i64)>, StoreError>>()?;
        let next = if page.len() > f.limit as usize {
            page.truncate(f.limit as usize);
            page.last().map(|(_, seq)| *seq)
        } else {
            None
        };
        Ok((page.into_iter().map(|(t, _)| t).collect(), next))
    }

    async fn task_detail(
        &self,
        hotel: &HotelId,
        id: &str,
    ) -> Result<Option<TaskDetail>, StoreError> {
        let client = self.pool.get().await?;
        let id = text(id);
        let sql = format!(
            "SELECT {TASK_COLS}, order_id, reservation_id, department, notes, language,
                    requested_at, updated_at
             FROM tasks WHERE hotel_id = $1 AND id = $2"
        );
        let Some(r) = query_opt(&client, &sql, &[&hotel.as_str(), &id]).await? else {
            return Ok(None);
        };
        let mut detail = TaskDetail {
            task: task_from_row(&r)?,
            order_id: r.try_get(9)?,
            reservation_id: r.try_get(10)?,
            department: r.try_get(11)?,
            notes: r.try_get(12)?,
            language: r.try_get(13)?,
            requested_at: r.try_get(14)?,
            updated_at: r.try_get(15)?,
            events: Vec::new(),
        };
        let rows = query(
            &client,
            "SELECT at, actor, from_status, to_status, note FROM task_events
             WHERE task_id = $1 ORDER BY seq",
            &[&id],
        )
        .await?;
        for r in &rows {
            let from: Option<String> = r.try_get(2)?;
            let to: String = r.try_get(3)?;
            detail.events.push(TaskEvent {
                at: r.try_get(0)?,
                actor: r.try_get(1)?,
                from: from.as_deref().map(status_from).transpose()?,
                to: status_from(&to)?,
                note: r.try_get(4)?,
            });
        }
        Ok(Some(detail))
    }

    async fn create_task(
        &self,
        hotel: HotelId,
        cache_version: u64,
        mut draft: TaskDraft,
        actor: String,
    ) -> Result<Option<Task>, StoreError> {
        clean_draft(&mut draft);
        let created = in_tx!(self, |tx| {
            if hotels::hotel_version(&tx, hotel.as_str()).await? != Some(cache_version) {
                return Ok(None);
            }
            let now = time::format(time::now());
            let id = TaskId::generate().into_string();
            insert_task(&tx, hotel.as_str(), None, &id, &draft, &actor, &now).await?;
            let task = draft.to_task(id, now.clone());
            let queued =
                outbox::enqueue(&tx, hotel.as_str(), &task, &[EventType::Created], &now).await?;
            let changes = [change(&hotel, &task, ChangeKind::Created)];
            announce(&tx, &self.signals, &changes, queued).await?;
            Ok(Some((task, changes, queued)))
        })?;
        Ok(created.map(|(task, changes, queued)| {
            self.signals.queued(queued);
            self.signals.events.publish(changes);
            task
        }))
    }

    async fn move_task(&self, ch: StatusChange) -> Result<Task, StoreError> {
        let (task, changes, queued) = in_tx!(self, |tx| {
            let hotel = ch.hotel.as_str();
            // FOR UPDATE: two instances moving one task take turns; the second sees the first's move.
            let task = task_by_id(&tx, hotel, &text(&ch.task))
                .await?
                .ok_or(StoreError::NotFound)?;
            task.status.check_move(ch.to)?;
            let now = time::format(time::now());
            exec(
                &tx,
                "UPDATE tasks SET status = $2, updated_at = $3 WHERE id = $1",
                &[&task.id, &ch.to.as_str(), &now],
            )
            .await?;
            insert_event(
                &tx,
                &task.id,
                &now,
                &ch.actor,
                Some(task.status),
                ch.to,
                ch.note.as_deref(),
            )
            .await?;
            let task = Task {
                status: ch.to,
                ..task
            };
            let queued =
                outbox::enqueue(&tx, hotel, &task, EventType::for_move(ch.to), &now).await?;
            let changes = [change(&ch.hotel, &task, ChangeKind::StatusChanged)];
            announce(&tx, &self.signals, &changes, queued).await?;
            Ok((task, changes, queued))
        })?;
        self.signals.queued(queued);
        self.signals.events.publish(changes);
        Ok(task)
    }

    async fn list_inbound(
        &self,
        hotel: &HotelId,
        limit: u32,
    ) -> Result<Vec<InboundEntry>, StoreError> {
        let client = self.pool.get().await?;
        let rows = query(
            &client,
            "SELECT seq, received_at, event, code, details, task_ids, duration_us, body
             FROM inbound WHERE hotel_id = $1 ORDER BY seq DESC LIMIT $2",
            &[&hotel.as_str(), &i64::from(limit)],
        )
        .await?;
        rows.iter().map(inbound_from_row).collect()
    }

    async fn board_tasks(
        &self,
        hotel: &HotelId,
        finished_since: Timestamp,
    ) -> Result<Vec<BoardTask>, StoreError> {
        let client = self.pool.get().await?;
        let rows = query(
            &client,
            "SELECT t.id, t.external_id, t.task_name, t.room, t.guest_name, t.quantity,
                    t.status, t.due_at, t.created_at, t.department, r.floor, t.requested_at,
                    t.notes, t.updated_at
             FROM tasks t LEFT JOIN rooms r ON r.hotel_id = t.hotel_id AND r.number = t.room
             WHERE t.hotel_id = $1
               AND (t.status NOT IN ('done', 'cancelled') OR t.updated_at >= $2)
             ORDER BY t.seq",
            &[&hotel.as_str(), &time::format(finished_since)],
        )
        .await?;
        rows.iter()
            .map(|r| {
                Ok(BoardTask {
                    task: task_from_row(r)?,
                    department: r.try_get(9)?,
                    floor: r.try_get(10)?,
                    requested_at: r.try_get(11)?,
                    notes: r.try_get(12)?,
                    updated_at: r.try_get(13)?,
                })
            })
            .collect()
    }

    async fn task_timings(
        &self,
        hotel: &HotelId,
        since: Timestamp,
    ) -> Result<Vec<TaskTiming>, StoreError> {
        let client = self.pool.get().await?;
        let rows = query(
            &client,
            "SELECT t.task_name, t.status, t.created_at, t.due_at,
                    (SELECT min(e.at) FROM task_events e
                     WHERE e.task_id = t.id AND e.to_status = 'done')
             FROM tasks t WHERE t.hotel_id = $1 AND t.created_at >= $2 ORDER BY t.seq",
            &[&hotel.as_str(), &time::format(since)],
        )
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TaskTiming {
                    task_name: r.try_get(0)?,
                    status: status_from(r.try_get(1)?)?,
                    created_at: r.try_get(2)?,
                    due_at: r.try_get(3)?,
                    done_at: r.try_get(4)?,
                })
            })
            .collect()
    }

    async fn task_origin(
        &self,
        hotel: &HotelId,
        task_id: &str,
    ) -> Result<Option<InboundEntry>, StoreError> {
        let client = self.pool.get().await?;
        // Task ids are UUIDs (checked by the caller); as on SQLite, the newest entries are read
        // first, so a recent task's origin is found after a short scan.
        let pattern = format!("%\"{}\"%", text(task_id));
        let row = query_opt(
            &client,
            "SELECT seq, received_at, event, code, details, task_ids, duration_us, body
             FROM inbound WHERE hotel_id = $1 AND code = 'created' AND task_ids LIKE $2
             ORDER BY seq DESC LIMIT 1",
            &[&hotel.as_str(), &pattern],
        )
        .await?;
        row.as_ref().map(inbound_from_row).transpose()
    }
}

#[async_trait]
impl AccountStore for PostgresStore {
    async fn create_api_key(&self, key: ApiKey, hash: [u8; 32]) -> Result<(), StoreError> {
        in_tx!(self, |tx| {
            hotel_exists(&tx, key.hotel_id.as_str()).await?;
            exec(
                &tx,
                "INSERT INTO api_keys (id, hotel_id, hash, role, created_at)
                     VALUES ($1, $2, $3, $4, $5)",
                &[
                    &key.id,
                    &key.hotel_id.as_str(),
                    &&hash[..],
                    &key.role.as_str(),
                    &time::format(time::now()),
                ],
            )
            .await?;
            Ok(())
        })
    }

    async fn find_api_key(&self, hash: [u8; 32]) -> Result<Option<ApiKey>, StoreError> {
        let client = self.pool.get().await?;
        let row = query_opt(
            &client,
            "SELECT id, hotel_id, role FROM api_keys WHERE hash = $1",
            &[&&hash[..]],
        )
        .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        let (id, hotel, role): (String, String, String) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        Ok((|| {
            Some(ApiKey {
                id,
                hotel_id: HotelId::parse(&hotel).ok()?,
                role: Role::parse(&role)?,
            })
        })())
    }

    async fn create_user(&self, u: NewUser) -> Result<(), StoreError> {
        in_tx!(self, |tx| {
            hotel_exists(&tx, u.hotel.as_str()).await?;
            let inserted = exec(
                &tx,
                "INSERT INTO users (id, hotel_id, email, role, password_hash, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                &[
                    &u.id,
                    &u.hotel.as_str(),
                    &text(&u.email),
                    &u.role.as_str(),
                    &u.password_hash,
                    &time::format(time::now()),
                ],
            )
            .await?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!(
                    "an account with the email {} already exists",
                    u.email
                )));
            }
            Ok(())
        })
    }

    async fn find_user(&self, email: &str) -> Result<Option<User>, StoreError> {
        let client = self.pool.get().await?;
        let row = query_opt(
            &client,
            "SELECT id, hotel_id, email, role, password_hash FROM users
             WHERE lower(email) = lower($1)",
            &[&text(email)],
        )
        .await?;
        let Some(r) = row else { return Ok(None) };
        let hotel: String = r.try_get(1)?;
        let role: String = r.try_get(3)?;
        let (Ok(hotel), Some(role)) = (HotelId::parse(&hotel), Role::parse(&role)) else {
            return Ok(None);
        };
        Ok(Some(User {
            id: r.try_get(0)?,
            hotel,
            email: r.try_get(2)?,
            role,
            password_hash: r.try_get(4)?,
        }))
    }

    async fn create_session(
        &self,
        token_hash: [u8; 32],
        user_id: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        in_tx!(self, |tx| {
            let now = time::format(time::now());
            exec(&tx, "DELETE FROM sessions WHERE expires_at <= $1", &[&now]).await?;
            exec(
                &tx,
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at)
                 VALUES ($1, $2, $3, $4)",
                &[
                    &&token_hash[..],
                    &text(user_id),
                    &now,
                    &time::format(expires_at),
                ],
            )
            .await?;
            Ok(())
        })
    }

    async fn find_session(
        &self,
        token_hash: [u8; 32],
        now: Timestamp,
    ) -> Result<Option<SessionUser>, StoreError> {
        let client = self.pool.get().await?;
        let row = query_opt(
            &client,
            "SELECT u.id, u.email, u.hotel_id, u.role FROM sessions s
             JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND s.expires_at > $2",
            &[&&token_hash[..], &time::format(now)],
        )
        .await?;
        let Some(r) = row else { return Ok(None) };
        let hotel: String = r.try_get(2)?;
        let role: String = r.try_get(3)?;
        let (Ok(hotel), Some(role)) = (HotelId::parse(&hotel), Role::parse(&role)) else {
            return Ok(None);
        };
        Ok(Some(SessionUser {
            user_id: r.try_get(0)?,
            email: r.try_get(1)?,
            hotel,
            role,
        }))
    }

    async fn delete_session(&self, token_hash: [u8; 32]) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        exec(
            &client,
            "DELETE FROM sessions WHERE token_hash = $1",
            &[&&token_hash[..]],
        )
        .await?;
        Ok(())
    }

    async fn list_api_keys(&self, hotel: &HotelId) -> Result<Vec<ApiKeyInfo>, StoreError> {
        let client = self.pool.get().await?;
        let rows = query(
            &client,
            "SELECT id, role, created_at FROM api_keys WHERE hotel_id = $1 ORDER BY created_at, id",
            &[&hotel.as_str()],
        )
        .await?;
        let mut keys = Vec::with_capacity(rows.len());
        for r in &rows {
            let role: String = r.try_get(1)?;
            if let Some(role) = Role::parse(&role) {
                keys.push(ApiKeyInfo {
                    id: r.try_get(0)?,
                    role,
                    created_at: r.try_get(2)?,
                });
            }
        }
        Ok(keys)
    }

    async fn delete_api_key(&self, hotel: &HotelId, id: &str) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        let n = exec(
            &client,
            "DELETE FROM api_keys WHERE hotel_id = $1 AND id = $2",
            &[&hotel.as_str(), &text(id)],
        )
        .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

#[async_trait]
impl OutboxStore for PostgresStore {
    fn outbox_signal(&self) -> Arc<Notify> {
        self.signals.outbox.clone()
    }

    async fn create_subscription(&self, sub: NewSubscription) -> Result<Subscription, StoreError> {
        in_tx!(self, |tx| {
            hotel_exists(&tx, sub.hotel.as_str()).await?;
            let now = time::format(time::now());
            outbox::insert_subscription(
                &tx,
                &sub,
                &crate::domain::outbound::new_subscription_id(),
                &now,
            )
            .await
        })
    }

    async fn list_subscriptions(&self, scope: Scope<'_>) -> Result<Vec<Subscription>, StoreError> {
        let client = self.pool.get().await?;
        outbox::list_subscriptions(&client, scope).await
    }

    async fn remove_subscription(&self, scope: Scope<'_>, id: &str) -> Result<(), StoreError> {
        in_tx!(self, |tx| {
            let now = time::format(time::now());
            outbox::remove_subscription(&tx, scope, id, &now).await
        })
    }

    async fn rotate_secret(
        &self,
        scope: Scope<'_>,
        id: &str,
        secret: String,
        keep_old_until: Timestamp,
    ) -> Result<Subscription, StoreError> {
        in_tx!(self, |tx| {
            let until = time::format(keep_old_until);
            outbox::rotate_secret(&tx, scope, id, &secret, &until).await
        })
    }

    async fn claim_deliveries(
        &self,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        let client = self.pool.get().await?;
        let now = time::now();
        let until = now
            .checked_add(jiff::SignedDuration::try_from(lease).unwrap_or_default())
            .unwrap_or(now);
        // One statement: the rows are locked, leased and returned in its own transaction.
        outbox::claim(&client, &time::format(now), &time::format(until), limit).await
    }

    async fn record_attempt(&self, attempt: AttemptRecord) -> Result<(), StoreError> {
        in_tx!(self, |tx| { outbox::record(&tx, &attempt).await })
    }

    async fn release_claims(&self, ids: Vec<String>) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        exec(
            &client,
            "UPDATE deliveries SET claimed_until = NULL WHERE id = ANY($1) AND status = 'pending'",
            &[&ids],
        )
        .await?;
        // Another instance may take them at once.
        announce(&client, &self.signals, &[], ids.len()).await
    }

    async fn list_deliveries(
        &self,
        scope: Scope<'_>,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let client = self.pool.get().await?;
        outbox::list_deliveries(&client, scope, status, limit).await
    }

    async fn delivery(&self, scope: Scope<'_>, id: &str) -> Result<Option<Delivery>, StoreError> {
        let client = self.pool.get().await?;
        outbox::delivery(&client, scope, id).await
    }

    async fn replay_delivery(&self, scope: Scope<'_>, id: &str) -> Result<Delivery, StoreError> {
        let d = in_tx!(self, |tx| {
            let now = time::format(time::now());
            let d = outbox::replay(&tx, scope, id, &now).await?;
            announce(&tx, &self.signals, &[], 1).await?;
            Ok(d)
        })?;
        self.signals.queued(1);
        Ok(d)
    }

    async fn raise_overdue(&self, limit: u32) -> Result<u32, StoreError> {
        let (n, queued) = in_tx!(self, |tx| {
            let r = outbox::raise_overdue(&tx, &time::format(time::now()), limit).await?;
            announce(&tx, &self.signals, &[], r.1).await?;
            Ok(r)
        })?;
        self.signals.queued(queued);
        Ok(n)
    }

    async fn next_outbox_work(&self) -> Result<Option<Timestamp>, StoreError> {
        let client = self.pool.get().await?;
        let next = outbox::next_work(&client).await?;
        Ok(next.and_then(|t| time::parse_instant(&t)))
    }
}

#[async_trait]
impl RetentionStore for PostgresStore {
    async fn prune_inbound(&self, before: Timestamp, limit: u32) -> Result<u64, StoreError> {
        // Several instances may prune at once: each takes rows the others have not locked.
        let client = self.pool.get().await?;
        exec(
            &client,
            "DELETE FROM inbound WHERE seq IN (
                 SELECT seq FROM inbound WHERE received_at < $1
                 ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
            &[&time::format(before), &i64::from(limit)],
        )
        .await
    }

    async fn prune_attempts(&self, before: Timestamp, limit: u32) -> Result<u64, StoreError> {
        let client = self.pool.get().await?;
        exec(
            &client,
            "DELETE FROM delivery_attempts WHERE seq IN (
                 SELECT a.seq FROM delivery_attempts a
                 WHERE a.at < $1 AND NOT EXISTS (
                     SELECT 1 FROM deliveries d
                     WHERE d.id = a.delivery_id AND d.status = 'pending')
                 ORDER BY a.at LIMIT $2 FOR UPDATE OF a SKIP LOCKED)",
            &[&time::format(before), &i64::from(limit)],
        )
        .await
    }
}

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
    fn pool_settings_are_taken_off_the_url_and_the_rest_is_kept() {
        let s = pool_settings(
            "postgres://u@h/db?pool_size=4&sslmode=disable&statement_timeout=250ms&pool_timeout=2&batch_workers=2",
        )
        .unwrap();
        assert_eq!(s.batch_workers, 2);
        assert_eq!(s.url, "postgres://u@h/db?sslmode=disable");
        assert_eq!(s.pool_size, 4);
        assert_eq!(s.statement_timeout, Duration::from_millis(250));
        assert_eq!(s.pool_timeout, Duration::from_secs(2));
        let d = pool_settings("postgres://u@h/db").unwrap();
        assert_eq!(d.url, "postgres://u@h/db");
        assert_eq!(d.pool_size, DEFAULT_POOL_SIZE);
        assert_eq!(d.batch_workers, DEFAULT_BATCH_WORKERS);
        assert!(pool_settings("postgres://h/db?pool_size=0").is_err());
        assert!(pool_settings("postgres://h/db?batch_workers=0").is_err());
        assert!(pool_settings("postgres://h/db?statement_timeout=soon").is_err());
    }

    #[test]
    fn nul_never_reaches_the_database() {
        assert_eq!(text("a\0b"), "a\u{FFFD}b");
        assert!(matches!(text("plain"), Cow::Borrowed("plain")));
    }
}
