//! Tests: restart.
