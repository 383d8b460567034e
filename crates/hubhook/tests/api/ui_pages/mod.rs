//! The web pages over plain HTTP (no browser): login, sessions, CSRF, the rate limit, roles, hotel
//! scoping, the live feed, the manager pages and `hubhook user add`. Here: reading the live feed's
//! event stream, shared by the modules below and by `merge.rs`.

mod board;
mod dashboard;
mod manager;
mod sessions;

use std::time::Duration;

/// Reads the event stream until `needle` shows up (or the time runs out); returns what was read.
pub(crate) async fn read_stream_until(res: &mut reqwest::Response, needle: &str) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(needle) {
        let chunk = tokio::time::timeout_at(deadline, res.chunk())
            .await
            .unwrap_or_else(|_| panic!("{needle:?} not in the stream; got {seen:?}"))
            .expect("stream")
            .expect("stream open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}
