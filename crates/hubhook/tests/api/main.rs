//! Black-box tests: the real service on a random port with its own SQLite file, talked to over HTTP,
//! and the real `hubhook` binary for the command line. One binary, one module per feature.
//!
//! `tests/api_pg/main.rs` runs these same modules against PostgreSQL: a new module is listed there
//! too, and the one place that knows the backend is `helpers.rs` (via [`BACKEND`]).

/// The database this binary runs the suite on.
const BACKEND: helpers::Backend = helpers::Backend::Sqlite;

mod accounts;
mod api_document;
mod api_inbound;
mod api_tasks;
mod archive;
mod assignment;
mod board_views;
mod cli;
mod contrib;
mod crash;
mod dashboard;
mod dry_run;
mod escalation;
mod files;
mod fixtures;
mod fuzz_corpus;
mod helpers;
mod hotel_settings;
mod http_edge;
mod limits;
mod local_time;
mod login_bursts;
mod many_hotels;
mod merge;
mod metrics;
mod operations;
mod ops;
mod outbound_destinations;
mod outbound_fairness;
mod outbox;
mod page_sizes;
mod raw_receiver;
mod receiver;
mod replay;
mod reports;
mod restart;
mod retention;
mod roles;
mod secrets;
mod session_cookies;
mod setup;
mod slack;
mod streams;
mod ui_board_browser;
mod ui_browser;
mod ui_dry_run;
mod ui_pages;
mod ui_reports;
mod ui_support;
mod ui_webhooks;
mod webhook_auth;
mod webhook_events;
mod webhook_hostile;
mod webhook_orders;

// The fuzz targets' checks (fuzz/src), shared so `fuzz_corpus` replays the committed corpus on stable.
#[allow(dead_code)]
#[path = "../../../../fuzz/src/duve_checks.rs"]
mod duve_checks;
#[allow(dead_code)]
#[path = "../../../../fuzz/src/intake_checks.rs"]
mod intake_checks;
