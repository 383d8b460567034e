//! Tests: webhook_auth.
