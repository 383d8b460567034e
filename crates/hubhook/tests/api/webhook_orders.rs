//! Tests: webhook_orders.
