//! The SQLite store's reads for a dry run and a replay ([`ReviewStore`]): on a reader connection, so
//! the writer that every webhook waits for is never held.

use async_trait::async_trait;
use rusqlite::params;

use super::{SqliteStore, ingest::order_read};
use crate::{
    domain::HotelId,
    intake::{OrderRead, Plan},
    store::{
        InboundEntry, ReviewStore, Scope, StoreError,
        review::entry_hotel,
        rows::{Columns, INBOUND_COLS, inbound_from_row},
    },
};

#[async_trait]
impl ReviewStore for SqliteStore {
    async fn settlement_rows(&self, hotel: &HotelId, plan: &Plan) -> Result<OrderRead, StoreError> {
        let hotel = hotel.clone();
        let plan = plan.clone();
        self.read(move |c| {
            // One read transaction: the order's state and its tasks from the same snapshot. In WAL
            // mode it waits for no writer and holds none up; dropped, it ends (nothing to undo).
            let tx = c.unchecked_transaction()?;
            order_read(&tx, hotel.as_str(), &plan)
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
