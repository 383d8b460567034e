//! Tests: webhook_events.
