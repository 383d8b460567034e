//! The SQLite store's reads of hotels' facts for the cache, and their configuration versions (see
//! [`crate::cache`]): one hotel by its id through the primary keys, or every hotel at start.

use rusqlite::{Connection, OptionalExtension, Row};

use crate::domain::{
    CatalogEntry, HotelFacts, HotelId, RoomSet, hotel::parse_timezone, secret::hash_from_slice,
};
use crate::store::StoreError;

const HOTEL_COLS: &str =
    "id, name, timezone, sync_paid_orders, access_hash, password_hash, config_version";

/// A hotel's row without its rooms and catalog; None (and a warning) for a row that does not parse.
fn facts_from_row(r: &Row<'_>) -> rusqlite::Result<Option<HotelFacts>> {
    let id: String = r.get(0)?;
    let tz: String = r.get(2)?;
    let access: Vec<u8> = r.get(4)?;
    let password: Vec<u8> = r.get(5)?;
    let version: i64 = r.get(6)?;
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
        name: r.get(1)?,
        timezone: parse_timezone(&tz).unwrap_or(jiff::tz::TimeZone::UTC),
        sync_paid_orders: r.get(3)?,
        access_hash,
        password_hash,
        rooms: RoomSet::default(),
        catalog: Default::default(),
    }))
}

fn catalog_entry(r: &Row<'_>, at: usize) -> rusqlite::Result<CatalogEntry> {
    Ok(CatalogEntry {
        external_id: r.get(at)?,
        name: r.get(at + 1)?,
        department: r.get(at + 2)?,
        sla_minutes: r.get(at + 3)?,
    })
}

/// Runs `f` in one read transaction: the rows read belong to one version of each hotel.
fn consistent<R>(
    conn: &Connection,
    f: impl FnOnce() -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    conn.execute_batch("BEGIN")?;
    let result = f();
    let _ = conn.execute_batch("COMMIT");
    result
}

/// One hotel's configuration version, or None if it is unknown.
pub(super) fn hotel_version(conn: &Connection, hotel: &str) -> Result<Option<u64>, StoreError> {
    let v: Option<i64> = conn
        .prepare_cached(super::hot::HOTEL_VERSION)?
        .query_row([hotel], |r| r.get(0))
        .optional()?;
    Ok(v.map(|v| v as u64))
}

/// Bumps a hotel's configuration version in the caller's transaction; returns the new one, or
/// `NotFound` for an unknown hotel.
pub(super) fn bump_hotel(conn: &Connection, hotel: &str) -> Result<u64, StoreError> {
    let v: Option<i64> = conn
        .prepare_cached(
            "UPDATE hotels SET config_version = config_version + 1 WHERE id = ?1
             RETURNING config_version",
        )?
        .query_row([hotel], |r| r.get(0))
        .optional()?;
    v.map(|v| v as u64).ok_or(StoreError::NotFound)
}

/// Every hotel's configuration version.
pub(super) fn hotel_versions(conn: &Connection) -> Result<Vec<(String, u64)>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id, config_version FROM hotels")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One hotel's facts: its row, rooms and catalog, each read through its primary key.
pub(super) fn hotel_facts(
    conn: &Connection,
    hotel: &str,
) -> Result<Option<HotelFacts>, StoreError> {
    consistent(conn, || {
        let sql = format!("SELECT {HOTEL_COLS} FROM hotels WHERE id = ?1");
        let Some(Some(mut facts)) = conn
            .prepare_cached(&sql)?
            .query_row([hotel], facts_from_row)
            .optional()?
        else {
            return Ok(None);
        };
        let mut stmt = conn.prepare_cached("SELECT number FROM rooms WHERE hotel_id = ?1")?;
        let rooms = stmt.query_map([hotel], |r| r.get::<_, String>(0))?;
        facts.rooms = rooms.collect::<Result<RoomSet, _>>()?;
        let mut stmt = conn.prepare_cached(
            "SELECT external_id, name, department, sla_minutes FROM catalog WHERE hotel_id = ?1",
        )?;
        let mut rows = stmt.query([hotel])?;
        while let Some(r) = rows.next()? {
            let e = catalog_entry(r, 0)?;
            facts.catalog.insert(e.external_id.clone(), e);
        }
        Ok(Some(facts))
    })
}

/// Every hotel's facts, for the cache's start: one pass over each table in key order, so a hotel's
/// rooms are gathered one hotel at a time.
pub(super) fn all_hotel_facts(conn: &Connection) -> Result<Vec<HotelFacts>, StoreError> {
    consistent(conn, || {
        let sql = format!("SELECT {HOTEL_COLS} FROM hotels ORDER BY id");
        let mut stmt = conn.prepare(&sql)?;
        let mut hotels: Vec<HotelFacts> = stmt
            .query_map([], facts_from_row)?
            .filter_map(Result::transpose)
            .collect::<Result<_, _>>()?;
        let index: std::collections::HashMap<String, usize> = hotels
            .iter()
            .enumerate()
            .map(|(i, h)| (h.id.as_str().to_owned(), i))
            .collect();
        let mut stmt = conn.prepare("SELECT hotel_id, number FROM rooms ORDER BY hotel_id")?;
        let mut rows = stmt.query([])?;
        let mut current: Option<(String, Vec<String>)> = None;
        let flush = |done: Option<(String, Vec<String>)>, hotels: &mut Vec<HotelFacts>| {
            if let Some((hotel, rooms)) = done
                && let Some(&i) = index.get(&hotel)
            {
                hotels[i].rooms = rooms.into_iter().collect();
            }
        };
        while let Some(r) = rows.next()? {
            let hotel: String = r.get(0)?;
            let number: String = r.get(1)?;
            match &mut current {
                Some((h, rooms)) if *h == hotel => rooms.push(number),
                _ => {
                    let done = current.replace((hotel, vec![number]));
                    flush(done, &mut hotels);
                }
            }
        }
        flush(current, &mut hotels);
        let mut stmt = conn
            .prepare("SELECT hotel_id, external_id, name, department, sla_minutes FROM catalog")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let hotel: String = r.get(0)?;
            if let Some(&i) = index.get(&hotel) {
                let e = catalog_entry(r, 1)?;
                hotels[i].catalog.insert(e.external_id.clone(), e);
            }
        }
        Ok(hotels)
    })
}
