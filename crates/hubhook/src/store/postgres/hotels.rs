//! The PostgreSQL store's reads of hotels' facts for the cache, their configuration versions, and
//! the per-hotel change notifications between instances (see [`crate::cache`]).

use std::collections::HashMap;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Transaction};
use tokio::sync::broadcast;

use super::tasks::hotel_exists;
use super::{PostgresStore, exec, opt_text, query, query_opt, text};
use crate::domain::{CatalogEntry, HotelFacts, HotelId, RoomSet, default_catalog, time};
use crate::store::{
    ConfigChange, HotelSettings, HotelStore, HotelSummary, NewHotel, Room, StoreError,
    rows::{HOTEL_COLS, catalog_entry, facts_from_row, room_from_row, summary_from_row},
};

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
async fn bump_hotel(
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
async fn hotel_versions<C: GenericClient + Sync>(c: &C) -> Result<Vec<(String, u64)>, StoreError> {
    query(c, "SELECT id, config_version FROM hotels", &[])
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get::<_, i64>(1)? as u64)))
        .collect()
}

/// One hotel's facts: its row, rooms and catalog, each read through its primary key (the caller
/// runs this in one repeatable-read transaction).
async fn hotel_facts(tx: &Transaction<'_>, hotel: &str) -> Result<Option<HotelFacts>, StoreError> {
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
async fn all_hotel_facts(tx: &Transaction<'_>) -> Result<Vec<HotelFacts>, StoreError> {
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
        let all = all_hotel_facts(&tx).await?;
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
        let facts = hotel_facts(&tx, id).await?;
        tx.commit().await?;
        Ok(facts)
    }

    async fn hotel_version(&self, id: &str) -> Result<Option<u64>, StoreError> {
        let client = self.pool.get().await?;
        hotel_version(&client, id).await
    }

    async fn hotel_versions(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let client = self.pool.get().await?;
        hotel_versions(&client).await
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
                    "INSERT INTO catalog (hotel_id, external_id, name, department, sla_minutes)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .await?;
            for e in default_catalog() {
                let sla = e.sla_minutes.map(|m| i32::try_from(m).unwrap_or(i32::MAX));
                tx.execute(
                    &st,
                    &[&h.id.as_str(), &e.external_id, &e.name, &e.department, &sla],
                )
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
                    (SELECT count(*) FROM rooms r WHERE r.hotel_id = h.id),
                    h.escalate_after_secs, h.merge_window_secs, h.shift_ends,
                    h.archive_after_secs
             FROM hotels h ORDER BY h.created_at, h.id",
            &[],
        )
        .await?;
        rows.iter().map(summary_from_row).collect()
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
            bump_hotel(&tx, hotel.as_str(), &self.signals.announce_config()).await
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
                         sync_paid_orders = coalesce($4, sync_paid_orders),
                         escalate_after_secs = coalesce($5, escalate_after_secs),
                         merge_window_secs = coalesce($6, merge_window_secs),
                         shift_ends = coalesce($7, shift_ends),
                         archive_after_secs = coalesce($8, archive_after_secs)
                     WHERE id = $1 AND (name IS DISTINCT FROM coalesce($2, name)
                         OR timezone IS DISTINCT FROM coalesce($3, timezone)
                         OR sync_paid_orders IS DISTINCT FROM coalesce($4, sync_paid_orders)
                         OR escalate_after_secs IS DISTINCT FROM
                             coalesce($5, escalate_after_secs)
                         OR merge_window_secs IS DISTINCT FROM coalesce($6, merge_window_secs)
                         OR shift_ends IS DISTINCT FROM coalesce($7, shift_ends)
                         OR archive_after_secs IS DISTINCT FROM
                             coalesce($8, archive_after_secs))",
                &[
                    &hotel.as_str(),
                    &opt_text(&s.name),
                    &s.timezone,
                    &s.sync_paid_orders,
                    &s.escalate_after_secs
                        .map(|v| i32::try_from(v).unwrap_or(i32::MAX)),
                    &s.merge_window_secs
                        .map(|v| i32::try_from(v).unwrap_or(i32::MAX)),
                    &s.shift_ends,
                    &s.archive_after_secs
                        .map(|v| i32::try_from(v).unwrap_or(i32::MAX)),
                ],
            )
            .await?;
            if n == 0 {
                return hotel_exists(&tx, hotel.as_str()).await.map(|()| None);
            }
            bump_hotel(&tx, hotel.as_str(), &self.signals.announce_config())
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
                _ => Some(bump_hotel(&tx, hotel.as_str(), &self.signals.announce_config()).await?),
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
        rows.iter().map(room_from_row).collect()
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
        rows.iter().map(|r| catalog_entry(r, 0)).collect()
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
            bump_hotel(&tx, hotel.as_str(), &self.signals.announce_config()).await
        })
        .map(|v| self.signals.config_changed(&hotel, v))
    }
}
