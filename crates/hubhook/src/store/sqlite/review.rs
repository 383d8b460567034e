//! The SQLite store's reads for a dry run and a replay ([`ReviewStore`]): on a reader connection, so
//! the writer that every webhook waits for is never held.

use async_trait::async_trait;
use rusqlite::params;

use std::sync::Arc;

use jiff::Timestamp;

use super::{
    SqliteStore,
    ingest::{order_read, slot_holders},
};
use crate::{
    domain::{HotelFacts, HotelId},
    intake::{OrderRead, Plan, slot_keys},
    store::{
        InboundEntry, ReviewStore, Scope, StoreError,
        review::entry_hotel,
        rows::{Columns, INBOUND_COLS, inbound_from_row},
    },
};

#[async_trait]
impl ReviewStore for SqliteStore {
    async fn settlement_rows(
        &self,
        hotel: &Arc<HotelFacts>,
        plan: &Plan,
        now: Timestamp,
    ) -> Result<OrderRead, StoreError> {
        let hotel = hotel.clone();
        let plan = plan.clone();
        self.read(move |c| {
            // One read transaction: the order's state, its tasks and the slots' holders from the
            // same snapshot. In WAL mode it waits for no writer and holds none up; dropped, it ends
            // (nothing to undo).
            let tx = c.unchecked_transaction()?;
            let hid = hotel.id.as_str();
            let mut read = order_read(&tx, hid, &plan)?;
            read.holders = slot_holders(&tx, hid, &slot_keys(&plan, &hotel, &read, now))?;
            Ok(read)
        })
        .await
    }

    async fn inbound_entry(
        &self,
        scope: Scope<'_>,
        id: i64,
    ) -> Result<Option<(HotelId, InboundEntry)>, StoreError> {
        let hotel = scope.hotel().map(str::to_owned);
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {INBOUND_COLS}, body, hotel_id FROM inbound
                 WHERE seq = ?1 AND (?2 IS NULL OR hotel_id = ?2)"
            ))?
            .query_and_then(params![id, hotel], |r| {
                Ok((entry_hotel(&r.text(9)?)?, inbound_from_row(r)?))
            })?
            .next()
            .transpose()
        })
        .await
    }
}
