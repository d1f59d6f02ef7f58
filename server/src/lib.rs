//! The gymgate central server.
//!
//! [`run`] serves the member and admin HTTP API and the desk WebSocket on a listener until
//! `shutdown` resolves, so tests start it on `127.0.0.1:0`.

mod alerts;
mod app_reports;
mod auth;
mod checkins;
mod cli;
mod cluster;
mod config;
mod csv_out;
mod demo;
mod desk;
mod error;
mod extract;
mod http;
mod hub;
mod imports;
mod members;
mod metrics;
mod passes;
mod photos;
mod privacy;
mod releases;
mod server;
mod state;
mod store;
mod visits;

pub use cli::{AdminClient, AdminError, main_exit_code};
pub use config::{
    AlertConfig, Clock, Config, ConnectionLimits, Delivery, Limits, LoginPolicy, Rules,
};
pub use error::AppError;
pub use state::AppState;

/// What benchmarks and tests drive below the HTTP surface.
#[doc(hidden)]
pub mod testing {
    pub use crate::auth::tokens::{hash as hash_token, hash_pin, verify_pin};
    pub use crate::checkins::tap;
    pub use crate::store::lease;
    pub use crate::store::postgres::{PgConn, connect as postgres_session};
    pub use crate::store::postgres_tls::client as postgres_client;
    pub use crate::store::retention::prune_in_chunks;
    pub use crate::store::{Conn, Store, StoreError, WriteCtx, ts};
}

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use auth::{pins, tokens};
use hub::Hub;
use store::{Store, StoreError};

/// How often retention runs.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(3600);
/// Desks get this long to take their close frame before the server stops waiting.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Pending check-ins one expiry job handles at most (one write job each).
const EXPIRY_CHUNK: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("server I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the server cannot start: {0}")]
    Start(String),
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
    raise_descriptor_limit();
    let hub = Arc::new(Hub::default());
    let publisher = hub.clone();
    let on_commit: store::Publisher = Box::new(move |events| publisher.publish(events));
    let node = cluster::node::Node::new(&config.node_name);
    let store = match &config.database_url {
        Some(url) => {
            let (url, node_id) = (url.clone(), node.id.clone());
            let (writers, batch) = (config.postgres_writers, config.postgres_batch);
            // Connecting blocks (the driver's own runtime): off the async threads.
            tokio::task::spawn_blocking(move || {
                Store::open_postgres(&url, &node_id, writers, batch, on_commit)
            })
            .await
            .map_err(|e| ServerError::Start(e.to_string()))??
        }
        None => {
            // Opening migrates (a large rebuild can take seconds): off the async threads too.
            let path = config.db_path.clone();
            tokio::task::spawn_blocking(move || Store::open_sqlite(&path, on_commit))
                .await
                .map_err(|e| ServerError::Start(e.to_string()))??
        }
    };
    let token = CancellationToken::new();
    let pins = pins::PinWorkers::start()?;
    // A PIN that belongs to nobody is checked against this (see `logins`).
    let unknown_member_pin_hash = pins
        .hash(tokens::new_token())
        .await
        .map_err(|e| ServerError::Start(e.to_string()))?;
    let passes = load_pass_keys(&store, &config).await?;
    let state = AppState::new(state::Parts {
        store,
        hub,
        config,
        shutdown: token.clone(),
        pins,
        unknown_member_pin_hash,
        passes,
        node,
    });
    check_integrity(&state).await;
    cluster::start(&state).await?;
    let started_at = state.config.alerts.clock.now();
    // Nodes sharing a database each keep their own restart marks.
    let shared = state.store.postgres_url().map(|_| state.node.name.clone());
    let restart = state
        .store
        .writer
        .write(move |ctx| store::incidents::started(ctx.tx, started_at, shared))
        .await?;
    if let Some(restart) = &restart {
        tracing::warn!(unclean = restart.unclean, down_since = %restart.down_since, "restarted");
    }
    on_start(Started {
        state: state.clone(),
    });

    // Retention runs before serving, so a desk behind it is told to re-sync from the start.
    // (Every node does this once; the sweeps are safe to run side by side. The hourly ones
    // are the leader's.)
    if let Err(error) = prune(&state).await {
        tracing::warn!(%error, "retention run failed; will retry");
    }
    let background = [
        tokio::spawn(maintain(state.clone())),
        tokio::spawn(alerts::watch(state.clone(), restart)),
        tokio::spawn(expire_pending(state.clone())),
        tokio::spawn(watch_integrity(state.clone())),
        tokio::spawn(imports::run(state.clone())),
        tokio::spawn(http::live_feed(state.clone())),
    ];
    let trigger = token.clone();
    tokio::spawn(async move {
        shutdown.await;
        trigger.cancel();
    });
    tracing::info!(addr = %listener.local_addr()?, epoch = state.store.epoch(), "serving");
    let mut limits = state.config.connections.clone();
    limits
        .exempt
        .extend(state.config.trusted_proxies.iter().copied());
    server::serve(listener, http::router(state.clone()), limits, token.clone()).await;

    // Upgraded WebSockets outlive the HTTP connections; wait for their close frames.
    token.cancel();
    state.desk_tasks.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, state.desk_tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("some desk connections did not close in time");
    }
    for task in background {
        task.abort();
    }
    cluster::stop(&state).await;
    let stopped_at = state.config.alerts.clock.now();
    let shared = state.store.postgres_url().map(|_| state.node.name.clone());
    if let Err(error) = state
        .store
        .writer
        .write(move |ctx| store::incidents::stopped(ctx.tx, stopped_at, shared))
        .await
    {
        tracing::warn!(%error, "cannot mark the stop as clean");
    }
    tracing::info!("stopped");
    Ok(())
}

/// The keys that sign offline passes: in files of the data directory on SQLite, in the
/// database on PostgreSQL (every node must sign with keys every desk knows).
async fn load_pass_keys(store: &Store, config: &Config) -> Result<passes::PassSigner, ServerError> {
    let start = |e: &dyn std::fmt::Display| ServerError::Start(e.to_string());
    if store.postgres_url().is_none() {
        // Key files on disk: read off the async threads.
        let dir = config.pass_keys_dir.clone();
        return tokio::task::spawn_blocking(move || passes::PassSigner::load_or_create(&dir))
            .await
            .map_err(|e| start(&e))?
            .map_err(|e| start(&e));
    }
    let mut secrets = store.read(store::pass_keys::all).await?;
    if secrets.is_empty() {
        let (kid, secret) = passes::PassSigner::new_secret();
        store
            .writer
            .write(move |ctx| store::pass_keys::add(ctx.tx, &kid, &secret, ctx.now))
            .await?;
        secrets = store.read(store::pass_keys::all).await?;
    }
    passes::PassSigner::from_secrets(&secrets).map_err(|e| start(&e))
}

/// Every connected desk is one descriptor: take all the process may have (the hard limit)
/// instead of the usual soft 1,024.
fn raise_descriptor_limit() {
    #[cfg(unix)]
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::warn!(%error, "cannot raise the open-file limit");
    }
}

async fn maintain(state: AppState) {
    let mut every = tokio::time::interval_at(
        tokio::time::Instant::now() + MAINTENANCE_EVERY,
        MAINTENANCE_EVERY,
    );
    loop {
        every.tick().await;
        // One node sweeps: the one that runs the shared duties.
        if state.node.leads()
            && let Err(error) = prune(&state).await
        {
            tracing::warn!(%error, "retention run failed; will retry");
        }
    }
}

/// Deletes events past retention (each center remembers the highest pruned seq, so a desk
/// behind it is told to re-sync), expired member tokens and day-old wrong-PIN counts, a chunk
/// per write job.
async fn prune(state: &AppState) -> Result<(), StoreError> {
    let pruned = store::retention::prune(
        &state.store.writer,
        chrono::Utc::now(),
        state.config.retention,
        state.config.logins.window,
    )
    .await?;
    let before = chrono::Utc::now() - state.config.deleted_visits;
    let forgotten = state
        .store
        .writer
        .write(move |ctx| store::retention::forget_deleted_members(ctx.tx, before))
        .await?;
    if forgotten > 0 {
        tracing::info!(
            visits = forgotten,
            "deleted members' visits past their years removed"
        );
    }
    if pruned.events > 0 || pruned.tokens > 0 || pruned.login_failures > 0 || pruned.pass_uses > 0 {
        tracing::info!(
            events = pruned.events,
            tokens = pruned.tokens,
            login_failures = pruned.login_failures,
            pass_uses = pruned.pass_uses,
            jobs = pruned.jobs,
            "retention run"
        );
    }
    Ok(())
}

/// Pending check-ins nobody decided on expire, giving the visit back.
async fn expire_pending(state: AppState) {
    let window = state.config.pending_expiry;
    let mut every = tokio::time::interval(state.config.expiry_check_every);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        // Only while this node leads; each chunk checks the lease in its transaction.
        while let Some(fence) = state.node.fence() {
            let result = state
                .store
                .writer
                .write(move |ctx| {
                    store::lease::check(ctx.tx, &fence)?;
                    checkins::expire_pending(ctx, ctx.now - window, EXPIRY_CHUNK, window)
                })
                .await;
            match result {
                Ok(expired) if expired > 0 => {
                    tracing::info!(expired, "pending check-ins expired");
                    if expired < EXPIRY_CHUNK {
                        break;
                    }
                }
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "cannot expire pending check-ins; will retry");
                    break;
                }
            }
        }
    }
}

/// Checks the database now; on damage `/readyz` fails, the alert rules raise it, and the log
/// says what to do.
async fn check_integrity(state: &AppState) {
    let found = match state.store.check_integrity().await {
        Ok(found) => found,
        Err(error) => {
            tracing::warn!(%error, "cannot check the database for damage; will retry");
            return;
        }
    };
    if let Some(damage) = &found
        && state.store.postgres_url().is_some()
    {
        tracing::error!(
            %damage,
            "EVENTS ARE MISSING FROM A CENTER'S LOG. Its desks cannot resume past the gap. \
             Find when it happened (PostgreSQL's log, a restore) and follow docs/operations.md \
             (runbook: a center's log is not whole)"
        );
    } else if let Some(damage) = &found {
        tracing::error!(
            %damage,
            "THE DATABASE IS DAMAGED. Members on the damaged pages get errors. Stop the server, \
             restore the last backup (gymgate-server backup) as described in docs/operations.md \
             (runbook: damaged database), and start it again"
        );
    } else if state.damage().is_some() {
        tracing::info!("the database passes its integrity check again");
    }
    if let Ok(mut damage) = state.damage.lock() {
        *damage = found;
    }
}

async fn watch_integrity(state: AppState) {
    let every = state.config.integrity_check_every;
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        check_integrity(&state).await;
    }
}
