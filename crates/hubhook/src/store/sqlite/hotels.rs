//! The SQLite store's hotels: reads of hotels' facts for the cache, and their configuration versions
//! (see [`crate::cache`]): one hotel by its id through the primary keys, or every hotel at start;
//! and [`HotelStore`]'s jobs (hotels, rooms, the catalog, tokens).

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStore, hotel_exists};
use crate::{
    domain::{CatalogEntry, HotelFacts, HotelId, RoomSet, default_catalog, time},
    store::{
        ConfigChange, HotelSettings, HotelStore, HotelSummary, NewHotel, Room, StoreError,
        rows::{HOTEL_COLS, catalog_entry, facts_from_row, room_from_row, summary_from_row},
    },
};

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
            .query_and_then([hotel], |r| facts_from_row(r))?
            .next()
            .transpose()?
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
            .query_and_then([], |r| facts_from_row(r))?
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

#[async_trait]
impl HotelStore for SqliteStore {
    async fn all_hotel_facts(&self) -> Result<Vec<HotelFacts>, StoreError> {
        self.read(all_hotel_facts).await
    }

    async fn hotel_facts(&self, id: &str) -> Result<Option<HotelFacts>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| hotel_facts(c, &id)).await
    }

    async fn hotel_version(&self, id: &str) -> Result<Option<u64>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| hotel_version(c, &id)).await
    }

    async fn hotel_versions(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.read(hotel_versions).await
    }

    fn config_changes(&self) -> tokio::sync::broadcast::Receiver<ConfigChange> {
        self.config.subscribe()
    }

    async fn create_hotel(&self, h: NewHotel) -> Result<(), StoreError> {
        self.write(move |c| {
            let now = time::format(time::now());
            let inserted = c
                .prepare_cached(
                    "INSERT INTO hotels (id, name, timezone, access_hash, password_hash, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING",
                )?
                .execute(params![
                    h.id.as_str(),
                    h.name,
                    h.timezone,
                    &h.access_hash[..],
                    &h.password_hash[..],
                    now
                ])?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!(
                    "hotel {} already exists",
                    h.id
                )));
            }
            let mut stmt = c.prepare_cached(
                "INSERT INTO catalog (hotel_id, external_id, name, department, sla_minutes)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for e in default_catalog() {
                stmt.execute(params![
                    h.id.as_str(),
                    e.external_id,
                    e.name,
                    e.department,
                    e.sla_minutes
                ])?;
            }
            Ok(h.id)
        })
        .await
        .map(|id| self.changed(&id, 1))
    }

    async fn list_hotels(&self) -> Result<Vec<HotelSummary>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT h.id, h.name, h.timezone, h.sync_paid_orders, h.created_at,
                        (SELECT count(*) FROM rooms r WHERE r.hotel_id = h.id),
                        h.escalate_after_secs, h.merge_window_secs, h.shift_ends,
                    h.archive_after_secs
                 FROM hotels h ORDER BY h.created_at, h.id",
            )?;
            stmt.query_and_then([], |r| summary_from_row(r))?.collect()
        })
        .await
    }

    async fn set_tokens(
        &self,
        hotel: &HotelId,
        access_hash: [u8; 32],
        password_hash: [u8; 32],
    ) -> Result<(), StoreError> {
        let hotel = hotel.clone();
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE hotels SET access_hash = ?2, password_hash = ?3 WHERE id = ?1",
                )?
                .execute(params![
                    hotel.as_str(),
                    &access_hash[..],
                    &password_hash[..]
                ])?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            bump_hotel(c, hotel.as_str()).map(|v| (hotel, v))
        })
        .await
        .map(|(hotel, v)| self.changed(&hotel, v))
    }

    async fn update_hotel(&self, hotel: &HotelId, s: HotelSettings) -> Result<(), StoreError> {
        let hotel = hotel.clone();
        self.write(move |c| {
            // A save that changes nothing leaves the version alone: nothing cached is outdated.
            let n = c
                .prepare_cached(
                    "UPDATE hotels SET name = coalesce(?2, name), timezone = coalesce(?3, timezone),
                         sync_paid_orders = coalesce(?4, sync_paid_orders),
                         escalate_after_secs = coalesce(?5, escalate_after_secs),
                         merge_window_secs = coalesce(?6, merge_window_secs),
                         shift_ends = coalesce(?7, shift_ends),
                         archive_after_secs = coalesce(?8, archive_after_secs),
                         config_version = config_version + 1
                     WHERE id = ?1 AND (name IS NOT coalesce(?2, name)
                         OR timezone IS NOT coalesce(?3, timezone)
                         OR sync_paid_orders IS NOT coalesce(?4, sync_paid_orders)
                         OR escalate_after_secs IS NOT coalesce(?5, escalate_after_secs)
                         OR merge_window_secs IS NOT coalesce(?6, merge_window_secs)
                         OR shift_ends IS NOT coalesce(?7, shift_ends)
                         OR archive_after_secs IS NOT coalesce(?8, archive_after_secs))
                     RETURNING config_version",
                )?
                .query_row(
                    params![
                        hotel.as_str(),
                        s.name,
                        s.timezone,
                        s.sync_paid_orders,
                        s.escalate_after_secs,
                        s.merge_window_secs,
                        s.shift_ends,
                        s.archive_after_secs
                    ],
                    |r| r.get::<_, i64>(0),
                )
                .optional()?;
            match n {
                Some(v) => Ok(Some((hotel, v as u64))),
                None => hotel_exists(c, hotel.as_str()).map(|()| None),
            }
        })
        .await
        .map(|changed| {
            if let Some((hotel, v)) = changed {
                self.changed(&hotel, v);
            }
        })
    }

    async fn add_rooms(&self, hotel: &HotelId, rooms: Vec<Room>) -> Result<u64, StoreError> {
        let hotel = hotel.clone();
        self.write(move |c| {
            hotel_exists(c, hotel.as_str())?;
            let mut added = 0;
            for room in &rooms {
                let n = c
                    .prepare_cached(
                        "INSERT INTO rooms (hotel_id, number, floor) VALUES (?1, ?2, ?3)
                         ON CONFLICT (hotel_id, number) DO NOTHING",
                    )?
                    .execute(params![hotel.as_str(), room.room, room.floor])?;
                added += n as u64;
                if n == 0 && room.floor.is_some() {
                    c.prepare_cached(
                        "UPDATE rooms SET floor = ?3 WHERE hotel_id = ?1 AND number = ?2",
                    )?
                    .execute(params![
                        hotel.as_str(),
                        room.room,
                        room.floor
                    ])?;
                }
            }
            // Only new rooms change what the cache knows (it keeps no floors).
            let version = match added {
                0 => None,
                _ => Some(bump_hotel(c, hotel.as_str())?),
            };
            Ok((added, version, hotel))
        })
        .await
        .map(|(added, version, hotel)| {
            if let Some(v) = version {
                self.changed(&hotel, v);
            }
            added
        })
    }

    async fn list_rooms(&self, hotel: &HotelId) -> Result<Vec<Room>, StoreError> {
        let hotel = hotel.clone();
        self.read(move |c| {
            hotel_exists(c, hotel.as_str())?;
            let mut stmt = c.prepare_cached(
                "SELECT number, floor FROM rooms WHERE hotel_id = ?1
                 ORDER BY length(number), number",
            )?;
            stmt.query_and_then([hotel.as_str()], |r| room_from_row(r))?
                .collect()
        })
        .await
    }

    async fn list_catalog(&self, hotel: &HotelId) -> Result<Vec<CatalogEntry>, StoreError> {
        let hotel = hotel.clone();
        self.read(move |c| {
            hotel_exists(c, hotel.as_str())?;
            let mut stmt = c.prepare_cached(
                "SELECT external_id, name, department, sla_minutes FROM catalog WHERE hotel_id = ?1
                 ORDER BY length(external_id), external_id",
            )?;
            stmt.query_and_then([hotel.as_str()], |r| catalog_entry(r, 0))?
                .collect()
        })
        .await
    }

    async fn set_catalog(&self, hotel: &HotelId, e: CatalogEntry) -> Result<(), StoreError> {
        let hotel = hotel.clone();
        self.write(move |c| {
            hotel_exists(c, hotel.as_str())?;
            c.prepare_cached(
                "INSERT INTO catalog (hotel_id, external_id, name, department, sla_minutes)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (hotel_id, external_id) DO UPDATE SET name = excluded.name,
                     department = coalesce(excluded.department, department),
                     sla_minutes = coalesce(excluded.sla_minutes, sla_minutes)",
            )?
            .execute(params![
                hotel.as_str(),
                e.external_id,
                e.name,
                e.department,
                e.sla_minutes
            ])?;
            bump_hotel(c, hotel.as_str()).map(|v| (hotel, v))
        })
        .await
        .map(|(hotel, v)| self.changed(&hotel, v))
    }
}
