//! Tests: api_tasks.
