//! The application: wires the store, the hotel cache, the HTTP router and the background tasks
//! (outbox dispatcher, retention pruner, archiver), serves until told to stop, then shuts down within the
//! configured bound. `cli serve` and the tests start it; `http` only knows the router and its state.

use std::{future::Future, net::SocketAddr, sync::Arc};

use anyhow::Context;

use crate::{
    cache::HotelCache,
    config::Config,
    http::{self, AppState},
    outbox::Dispatcher,
    store::Store,
};

/// How long the store's final flush may take after the shutdown bound.
const FLUSH_BOUND: std::time::Duration = std::time::Duration::from_secs(2);

/// The service, bound and ready: tests bind port 0 and read [`Application::port`].
pub struct Application {
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
}

impl Application {
    /// Opens the database `config` names (migrating it) and builds the service on it.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let store = crate::store::open(&config.database_url)
            .await
            .with_context(|| {
                format!(
                    "cannot open the database {}",
                    crate::store::display_url(&config.database_url)
                )
            })?;
        Self::with_store(config, store).await
    }

    /// The service on an open store: loads the hotels, binds the listener.
    pub async fn with_store(config: Config, store: Arc<dyn Store>) -> anyhow::Result<Self> {
        let cache = HotelCache::load(store.clone()).await?;
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let state = Arc::new(AppState::new(config, store, cache)?);
        Ok(Self { listener, state })
    }

    /// The address the service listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// On a database without a hotel, opens the one-time setup link (a new token, any earlier one
    /// invalid) and returns it: `http://ADDRESS/setup?token=TOKEN`, with an unspecified listen
    /// address (`0.0.0.0`, `::`) shown as the loopback one. None once a hotel exists.
    pub async fn open_setup(&self) -> anyhow::Result<Option<String>> {
        if !self.state.store.list_hotels().await?.is_empty() {
            return Ok(None);
        }
        let mut addr = self.local_addr()?;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let token = self.state.ui.setup.open();
        Ok(Some(format!("http://{addr}/setup?token={token}")))
    }

    /// The port the service listens on.
    pub fn port(&self) -> u16 {
        self.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves (and delivers the outbox) until `shutdown` resolves, then shuts down within the
    /// configured bound: stops accepting at once, lets the requests in flight finish (their writes
    /// commit and are answered) while live streams and idle connections close and the dispatcher
    /// records the attempts it has in flight; drops whatever is still busy at the bound; flushes
    /// the store.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let dispatcher = Dispatcher::new(
            self.state.store.clone(),
            self.state.config.outbox.clone(),
            self.state.metrics.outbox.clone(),
        )
        .map_err(std::io::Error::other)?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut outbox = tokio::spawn(dispatcher.run(stopped.clone()));
        let archiver = tokio::spawn(
            crate::archive::Archiver::new(
                self.state.store.clone(),
                self.state.config.archive_check,
            )
            .run(stopped.clone()),
        );
        let pruner = self.state.config.retention.map(|age| {
            let metrics = self.state.metrics.retention.clone();
            tokio::spawn(
                crate::retention::Pruner::new(self.state.store.clone(), age, metrics).run(stopped),
            )
        });
        let state = self.state.clone();
        let limits = state.config.http.clone();
        let app = http::router(self.state);
        // Live board streams never end on their own, and the dispatcher has its own attempts to
        // finish: both are told at once, so each gets the whole bound.
        let shutdown = async {
            shutdown.await;
            state.ui.close_streams();
            let _ = stop.send(true);
        };
        let drained = http::server::serve(self.listener, app, &limits, shutdown).await;
        let deadline = drained.began + limits.shutdown_timeout;
        let in_flight = state.metrics.outbox.in_flight();
        match tokio::time::timeout_at(deadline, &mut outbox).await {
            Ok(_) => tracing::info!(in_flight, "shutdown: outbox dispatcher stopped"),
            Err(_) => {
                // Its claims expire with their lease and the attempts are made again: at least once.
                outbox.abort();
                tracing::warn!(
                    in_flight,
                    "shutdown: outbox dispatcher still busy at the bound; its attempts in flight will be retried"
                );
            }
        }
        // The pruner and the archiver end the batch under way (one small transaction).
        if let Some(pruner) = pruner {
            let _ = tokio::time::timeout_at(deadline, pruner).await;
        }
        let _ = tokio::time::timeout_at(deadline, archiver).await;
        // Every answered write has committed; this folds the rest away, briefly bounded so a busy
        // database cannot hold the exit.
        match tokio::time::timeout(FLUSH_BOUND, state.store.flush()).await {
            Ok(Ok(())) => tracing::info!("shutdown: store flushed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "shutdown: store flush failed"),
            Err(_) => tracing::warn!("shutdown: store flush did not finish in time"),
        }
        Ok(())
    }
}
