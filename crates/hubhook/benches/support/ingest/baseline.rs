//! The ingest bench's bare baseline: same runtime flavour as hubhook, a handler that only reads and
//! parses.

use axum::{Json, Router, body::Bytes, http::StatusCode, routing::post};

async fn duve(body: Bytes) -> (StatusCode, Json<serde_json::Value>) {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(_) => (
            StatusCode::CREATED,
            Json(serde_json::json!({"status": "created"})),
        ),
        Err(_) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"status": "invalid"})),
        ),
    }
}

/// Serves the baseline on `addr` until the parent process goes away.
pub fn serve(addr: &str) {
    // The parent holds our stdin: when it goes away, even killed, so do we.
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("baseline bind");
        let app = Router::new().route("/webhooks/duve", post(duve));
        axum::serve(listener, app).await.expect("baseline serve");
    });
}
