//! Tests: api_inbound.
