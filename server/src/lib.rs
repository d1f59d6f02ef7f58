//! The gymgate central server.
//!
//! [`run`] serves the member and admin HTTP API and the desk WebSocket on a listener until
//! `shutdown` resolves, so tests start it on `127.0.0.1:0`.

pub mod admin_client;
pub mod alerts;
pub mod checkins;
pub mod cli;
pub mod config;
pub mod demo;
pub mod desk_socket;
pub mod error;
pub mod http;
pub mod hub;
pub mod incidents;
pub mod member_sessions;
pub mod metrics;
pub mod model;
pub mod pins;
pub mod rate_limit;
pub mod retention;
pub mod store;
pub mod tokens;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{Config, Limits};
use http::AppState;
use hub::Hub;
use store::{Store, StoreError};

/// How often retention runs.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(3600);
/// Desks get this long to take their close frame before the server stops waiting.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("server I/O failed: {0}")]
    Io(#[from] std::io::Error),
}

/// A started server: its state, for callers (the demo) that act on it in-process.
pub struct Started {
    pub state: AppState,
}

/// Opens the database and serves on `listener` until `shutdown` resolves; then tells every
/// desk to come back later (close 1001), and lets the writer finish what it was given.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    run_with(listener, config, shutdown, |_| {}).await
}

/// [`run`], calling `on_start` once the database is open and before serving.
pub async fn run_with(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_start: impl FnOnce(Started),
) -> Result<(), ServerError> {
    metrics::handle();
    let hub = Arc::new(Hub::default());
    let publisher = hub.clone();
    let store = Store::open(
        &config.db_path,
        Box::new(move |events| publisher.publish(events)),
    )?;
    let token = CancellationToken::new();
    let pins = pins::PinWorkers::start()?;
    let state = AppState::new(store, hub, config, token.clone(), pins);
    let started_at = state.config.alerts.clock.now();
    let restart = state
        .store
        .writer
        .write(move |ctx| incidents::started(ctx.tx, started_at))
        .await?;
    if let Some(restart) = &restart {
        tracing::warn!(unclean = restart.unclean, down_since = %restart.down_since, "restarted");
    }
    on_start(Started {
        state: state.clone(),
    });

    // Retention runs before serving, so a desk behind it is told to re-sync from the start.
    if let Err(error) = prune(&state).await {
        tracing::warn!(%error, "retention run failed; will retry");
    }
    let maintenance = tokio::spawn(maintain(state.clone()));
    let alerting = tokio::spawn(alerts::watch(state.clone(), restart));
    let trigger = token.clone();
    tokio::spawn(async move {
        shutdown.await;
        trigger.cancel();
    });
    tracing::info!(addr = %listener.local_addr()?, epoch = state.store.epoch(), "serving");
    let app = http::router(state.clone());
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(token.clone().cancelled_owned())
    .await?;

    // Upgraded WebSockets outlive axum's graceful shutdown; wait for their close frames.
    token.cancel();
    state.desk_tasks.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, state.desk_tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("some desk connections did not close in time");
    }
    maintenance.abort();
    alerting.abort();
    let stopped_at = state.config.alerts.clock.now();
    if let Err(error) = state
        .store
        .writer
        .write(move |ctx| incidents::stopped(ctx.tx, stopped_at))
        .await
    {
        tracing::warn!(%error, "cannot mark the stop as clean");
    }
    tracing::info!("stopped");
    Ok(())
}

async fn maintain(state: AppState) {
    let mut every = tokio::time::interval_at(
        tokio::time::Instant::now() + MAINTENANCE_EVERY,
        MAINTENANCE_EVERY,
    );
    loop {
        every.tick().await;
        if let Err(error) = prune(&state).await {
            tracing::warn!(%error, "retention run failed; will retry");
        }
    }
}

/// Deletes events past retention (each center remembers the highest pruned seq, so a desk
/// behind it is told to re-sync) and expired member tokens, a chunk per write job.
async fn prune(state: &AppState) -> Result<(), StoreError> {
    let pruned = retention::prune(
        &state.store.writer,
        chrono::Utc::now(),
        state.config.retention,
    )
    .await?;
    if pruned.events > 0 || pruned.tokens > 0 {
        tracing::info!(
            events = pruned.events,
            tokens = pruned.tokens,
            jobs = pruned.jobs,
            "retention run"
        );
    }
    Ok(())
}
