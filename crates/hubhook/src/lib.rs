//! hubhook: Duve guest requests in, durable hotel staff tasks out.
//!
//! `app` and `cli` sit on top, then `http`; `intake` decides, `store` writes, `domain` holds the types
//! they share. scripts/module-cycles checks that no top-level module imports another in a cycle.

pub mod app;
pub mod archive;
pub mod cache;
pub mod cli;
pub mod config;
pub mod domain;
pub mod events;
pub mod http;
pub mod intake;
pub mod memory;
pub mod metrics;
pub mod outbox;
pub mod retention;
pub mod review;
pub mod store;
pub mod telemetry;

pub use app::Application;

/// Every outbound HTTP client starts here: reqwest is built without a default TLS crypto provider
/// (the default, aws-lc, needs a long C build), so ring is installed as the process's provider first.
pub fn http_client() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}
