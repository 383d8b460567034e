//! Tests: webhook_hostile.
