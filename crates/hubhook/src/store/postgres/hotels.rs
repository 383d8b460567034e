//! The PostgreSQL store's reads of hotels' facts for the cache, their configuration versions, and
//! the per-hotel change notifications between instances (see [`crate::cache`]).

use std::collections::HashMap;

use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;

use super::{exec, query, query_opt};
use crate::domain::{
    CatalogEntry, HotelFacts, HotelId, RoomSet, hotel::parse_timezone, secret::hash_from_slice,
};
use crate::store::{ConfigChange, StoreError};

const HOTEL_COLS: &str =
    "id, name, timezone, sync_paid_orders, access_hash, password_hash, config_version";

/// A hotel's row without its rooms and catalog; None (and a warning) for a row that does not parse.
fn facts_from_row(r: &Row) -> Result<Option<HotelFacts>, StoreError> {
    let id: String = r.try_get(0)?;
    let tz: String = r.try_get(2)?;
    let access: Vec<u8> = r.try_get(4)?;
    let password: Vec<u8> = r.try_get(5)?;
    let version: i64 = r.try_get(6)?;
    let (Ok(hotel_id), Some(access_hash), Some(password_hash)) = (
        HotelId::parse(&id),
        hash_from_slice(&access),
        hash_from_slice(&password),
    ) else {
        tracing::warn!(hotel = %id, "skipping a hotel row that does not parse");
        return Ok(None);
    };
    Ok(Some(HotelFacts {
        id: hotel_id,
        config_version: version as u64,
        name: r.try_get(1)?,
        timezone: parse_timezone(&tz).unwrap_or(jiff::tz::TimeZone::UTC),
        sync_paid_orders: r.try_get(3)?,
        access_hash,
        password_hash,
        rooms: RoomSet::default(),
        catalog: Default::default(),
    }))
}

fn catalog_entry(r: &Row, at: usize) -> Result<CatalogEntry, StoreError> {
    let sla: Option<i32> = r.try_get(at + 3)?;
    Ok(CatalogEntry {
        external_id: r.try_get(at)?,
        name: r.try_get(at + 1)?,
        department: r.try_get(at + 2)?,
        sla_minutes: sla.and_then(|m| u32::try_from(m).ok()),
    })
}

/// One hotel's configuration version, or None if it is unknown.
pub(super) async fn hotel_version<C: GenericClient + Sync>(
    c: &C,
    hotel: &str,
) -> Result<Option<u64>, StoreError> {
    let row = query_opt(
        c,
        "SELECT config_version FROM hotels WHERE id = $1",
        &[&hotel],
    )
    .await?;
    Ok(match row {
        Some(r) => Some(r.try_get::<_, i64>(0)? as u64),
        None => None,
    })
}

/// Bumps a hotel's configuration version in the transaction and tells the other instances with its
/// commit (`announce`); returns the new version, or `NotFound` for an unknown hotel.
pub(super) async fn bump_hotel(
    tx: &Transaction<'_>,
    hotel: &str,
    announce: &Announce<'_>,
) -> Result<u64, StoreError> {
    let row = query_opt(
        tx,
        "UPDATE hotels SET config_version = config_version + 1 WHERE id = $1
         RETURNING config_version",
        &[&hotel],
    )
    .await?
    .ok_or(StoreError::NotFound)?;
    let v = row.try_get::<_, i64>(0)? as u64;
    announce.send(tx, hotel, v).await?;
    Ok(v)
}

/// Every hotel's configuration version.
pub(super) async fn hotel_versions<C: GenericClient + Sync>(
    c: &C,
) -> Result<Vec<(String, u64)>, StoreError> {
    query(c, "SELECT id, config_version FROM hotels", &[])
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get::<_, i64>(1)? as u64)))
        .collect()
}

/// One hotel's facts: its row, rooms and catalog, each read through its primary key (the caller
/// runs this in one repeatable-read transaction).
pub(super) async fn hotel_facts(
    tx: &Transaction<'_>,
    hotel: &str,
) -> Result<Option<HotelFacts>, StoreError> {
    let sql = format!("SELECT {HOTEL_COLS} FROM hotels WHERE id = $1");
    let Some(row) = query_opt(tx, &sql, &[&hotel]).await? else {
        return Ok(None);
    };
    let Some(mut facts) = facts_from_row(&row)? else {
        return Ok(None);
    };
    let rooms = query(
        tx,
        "SELECT number FROM rooms WHERE hotel_id = $1",
        &[&hotel],
    )
    .await?;
    facts.rooms = rooms
        .iter()
        .map(|r| r.try_get::<_, &str>(0))
        .collect::<Result<RoomSet, _>>()?;
    let rows = query(
        tx,
        "SELECT external_id, name, department, sla_minutes FROM catalog WHERE hotel_id = $1",
        &[&hotel],
    )
    .await?;
    for r in &rows {
        let e = catalog_entry(r, 0)?;
        facts.catalog.insert(e.external_id.clone(), e);
    }
    Ok(Some(facts))
}

/// Every hotel's facts, for the cache's start (the caller runs this in one repeatable-read
/// transaction): one read per table.
pub(super) async fn all_hotel_facts(tx: &Transaction<'_>) -> Result<Vec<HotelFacts>, StoreError> {
    let sql = format!("SELECT {HOTEL_COLS} FROM hotels");
    let mut hotels = Vec::new();
    for r in &query(tx, &sql, &[]).await? {
        hotels.extend(facts_from_row(r)?);
    }
    let index: HashMap<String, usize> = hotels
        .iter()
        .enumerate()
        .map(|(i, h)| (h.id.as_str().to_owned(), i))
        .collect();
    let mut rooms: Vec<Vec<String>> = vec![Vec::new(); hotels.len()];
    for r in &query(tx, "SELECT hotel_id, number FROM rooms", &[]).await? {
        let hotel: &str = r.try_get(0)?;
        if let Some(&i) = index.get(hotel) {
            rooms[i].push(r.try_get(1)?);
        }
    }
    for (h, rooms) in hotels.iter_mut().zip(rooms) {
        h.rooms = rooms.into_iter().collect();
    }
    let rows = query(
        tx,
        "SELECT hotel_id, external_id, name, department, sla_minutes FROM catalog",
        &[],
    )
    .await?;
    for r in &rows {
        let hotel: &str = r.try_get(0)?;
        if let Some(&i) = index.get(hotel) {
            let e = catalog_entry(r, 1)?;
            hotels[i].catalog.insert(e.external_id.clone(), e);
        }
    }
    Ok(hotels)
}

/// How an instance tells the others that a hotel's configuration changed: a `NOTIFY` on `channel`
/// of `instance`, a newline, then `hotel TAB version`, delivered with the transaction's commit.
pub(super) struct Announce<'a> {
    pub channel: &'a str,
    pub instance: &'a str,
}

impl Announce<'_> {
    async fn send(
        &self,
        tx: &Transaction<'_>,
        hotel: &str,
        version: u64,
    ) -> Result<(), StoreError> {
        let payload = format!("{}\n{hotel}\t{version}", self.instance);
        exec(tx, "SELECT pg_notify($1, $2)", &[&self.channel, &payload]).await?;
        Ok(())
    }
}

/// The change another instance announced, or None for a payload that does not parse.
pub(super) fn parse_announced(lines: &mut std::str::Split<'_, char>) -> Option<ConfigChange> {
    let (id, version) = lines.next()?.split_once('\t')?;
    Some(ConfigChange::Hotel {
        id: id.to_owned(),
        version: version.parse().ok()?,
    })
}
