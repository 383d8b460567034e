//! The black-box suite of `tests/api` (the same files, one test body for both backends) against
//! PostgreSQL, plus what only several instances on one database can show (`instances/`, and for
//! the shift report `shift_reports.rs`), TLS to
//! the server (`tls.rs`) and database URLs with passwords (`database_urls.rs`).
//!
//! It needs `HUBHOOK_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`) when the
//! tests are built: every test then gets a schema of its own in that database. Without the variable
//! the suite is not built and the one test below says so; with it, a test that cannot reach
//! PostgreSQL fails (it never skips). `.ci/run` always sets it.
//!
//! A module added to `tests/api/main.rs` is listed here too, but for `files` (SQLite's files).

/// The database this binary runs the suite on.
#[cfg(hubhook_pg_tests)]
const BACKEND: helpers::Backend = helpers::Backend::Postgres;

#[cfg(not(hubhook_pg_tests))]
#[test]
fn postgresql_suite_skipped_set_hubhook_test_postgres_url() {
    eprintln!(
        "SKIPPED: the PostgreSQL suite is not built because HUBHOOK_TEST_POSTGRES_URL was not set \
         when the tests were compiled"
    );
}

/// Each item only when the PostgreSQL suite is built.
macro_rules! postgres_suite {
    ($($item:item)*) => { $( #[cfg(hubhook_pg_tests)] $item )* };
}

postgres_suite! {
    #[path = "../api/accounts.rs"]
    mod accounts;
    #[path = "../api/api_document.rs"]
    mod api_document;
    #[path = "../api/api_inbound.rs"]
    mod api_inbound;
    #[path = "../api/api_tasks/mod.rs"]
    mod api_tasks;
    #[path = "../api/archive.rs"]
    mod archive;
    #[path = "../api/assignment.rs"]
    mod assignment;
    #[path = "../api/board_views.rs"]
    mod board_views;
    #[path = "../api/cli/mod.rs"]
    mod cli;
    #[path = "../api/crash.rs"]
    mod crash;
    #[path = "../api/dashboard.rs"]
    mod dashboard;
    #[path = "../api/dry_run.rs"]
    mod dry_run;
    #[path = "../api/escalation.rs"]
    mod escalation;
    #[path = "../api/fixtures.rs"]
    mod fixtures;
    #[path = "../api/helpers.rs"]
    mod helpers;
    #[path = "../api/hotel_settings.rs"]
    mod hotel_settings;
    #[path = "../api/limits.rs"]
    mod limits;
    #[path = "../api/local_time.rs"]
    mod local_time;
    #[path = "../api/login_bursts.rs"]
    mod login_bursts;
    #[path = "../api/many_hotels.rs"]
    mod many_hotels;
    #[path = "../api/merge.rs"]
    mod merge;
    #[path = "../api/metrics.rs"]
    mod metrics;
    #[path = "../api/http_edge/mod.rs"]
    mod http_edge;
    #[path = "../api/operations.rs"]
    mod operations;
    #[path = "../api/ops.rs"]
    mod ops;
    #[path = "../api/outbound_destinations.rs"]
    mod outbound_destinations;
    #[path = "../api/outbound_fairness.rs"]
    mod outbound_fairness;
    #[path = "../api/outbox.rs"]
    mod outbox;
    #[path = "../api/page_sizes.rs"]
    mod page_sizes;
    #[path = "../api/raw_receiver.rs"]
    mod raw_receiver;
    #[path = "../api/receiver.rs"]
    mod receiver;
    #[path = "../api/replay.rs"]
    mod replay;
    #[path = "../api/reports.rs"]
    mod reports;
    #[path = "../api/restart.rs"]
    mod restart;
    #[path = "../api/retention.rs"]
    mod retention;
    #[path = "../api/roles.rs"]
    mod roles;
    #[path = "../api/secrets.rs"]
    mod secrets;
    #[path = "../api/session_cookies.rs"]
    mod session_cookies;
    #[path = "../api/slack.rs"]
    mod slack;
    #[path = "../api/streams.rs"]
    mod streams;
    #[path = "../api/setup.rs"]
    mod setup;
    #[path = "../api/ui_board_browser.rs"]
    mod ui_board_browser;
    #[path = "../api/ui_browser/mod.rs"]
    mod ui_browser;
    #[path = "../api/ui_dry_run.rs"]
    mod ui_dry_run;
    #[path = "../api/ui_pages/mod.rs"]
    mod ui_pages;
    #[path = "../api/ui_reports.rs"]
    mod ui_reports;
    #[path = "../api/ui_support.rs"]
    mod ui_support;
    #[path = "../api/ui_webhooks.rs"]
    mod ui_webhooks;
    #[path = "../api/webhook_auth.rs"]
    mod webhook_auth;
    #[path = "../api/webhook_events.rs"]
    mod webhook_events;
    #[path = "../api/webhook_hostile.rs"]
    mod webhook_hostile;
    #[path = "../api/webhook_orders/mod.rs"]
    mod webhook_orders;
    mod archive_instances;
    mod database_urls;
    mod instances;
    mod merge_instances;
    mod shift_reports;
    mod tls;
    mod streams_instances;
}
