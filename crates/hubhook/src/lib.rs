//! hubhook: Duve guest requests in, durable hotel staff tasks out.
//!
//! `http` and `cli` sit on top; `intake` decides, `store` writes, `domain` holds the types they share.

pub mod cache;
pub mod cli;
pub mod config;
pub mod domain;
pub mod events;
pub mod http;
pub mod intake;
pub mod store;
pub mod telemetry;

pub use http::Application;
