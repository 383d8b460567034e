//! Black-box tests: the real service on a random port with its own SQLite file, talked to over HTTP,
//! and the real `hubhook` binary for the command line. One binary, one module per feature.

mod helpers;
mod webhook_auth;
mod webhook_orders;
mod webhook_events;
mod webhook_hostile;
mod fixtures;
mod api_tasks;
mod api_inbound;
mod ops;
mod cli;
mod restart;
