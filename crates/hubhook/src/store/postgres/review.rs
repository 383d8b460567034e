//! The PostgreSQL store's reads for a dry run and a replay ([`ReviewStore`]).

use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use tokio_postgres::IsolationLevel;

use super::{
    PostgresStore,
    ingest::{order_read, slot_holders, version_and_order_state},
    query_opt,
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
impl ReviewStore for PostgresStore {
    async fn settlement_rows(
        &self,
        hotel: &Arc<HotelFacts>,
        plan: &Plan,
        now: Timestamp,
    ) -> Result<OrderRead, StoreError> {
        let mut client = self.pool.get().await?;
        // The webhook's reads, from one snapshot (repeatable read), in a read-only transaction:
        // no row is locked (the tasks a cancellation would move included), nothing is written.
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let hid = hotel.id.as_str();
        let (_, state) = version_and_order_state(&tx, hid, plan).await?;
        let mut read = order_read(&tx, hid, plan, state, false).await?;
        let keys = slot_keys(plan, hotel, &read, now);
        read.holders = slot_holders(&tx, hid, &keys, false).await?;
        tx.rollback().await?;
        Ok(read)
    }

    async fn inbound_entry(
        &self,
        scope: Scope<'_>,
        id: i64,
    ) -> Result<Option<(HotelId, InboundEntry)>, StoreError> {
        let client = self.pool.get().await?;
        let row = query_opt(
            &client,
            &format!(
                "SELECT {INBOUND_COLS}, body, hotel_id FROM inbound
                 WHERE seq = $1 AND ($2::text IS NULL OR hotel_id = $2)"
            ),
            &[&id, &scope.hotel()],
        )
        .await?;
        row.map(|r| Ok((entry_hotel(&r.text(9)?)?, inbound_from_row(&r)?)))
            .transpose()
    }
}
