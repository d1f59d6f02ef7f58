//! Several server nodes over one PostgreSQL database: who this node is, whether it runs the
//! shared duties (alerts, retention, expiry, imports), its heartbeat, and the follower that
//! brings events committed through other nodes to this node's desks and member apps.
//!
//! Nothing depends on a notification arriving: PostgreSQL's NOTIFY only rings the bell early.
//! The follower also compares every center's head with what it has seen, every
//! `follow_every` and whenever its listening session is remade, and reads the log for what
//! is new. On SQLite there is one node: it leads, and there is nothing to follow.

pub mod node;

use std::collections::HashMap;

use gymgate_shared::CenterId;
use tokio::sync::mpsc;

use crate::state::AppState;
use crate::store::{self, StoreError, StoredEvent};
use node::ShownNote;

/// Events read from one center's log at a time.
const FOLLOW_PAGE: usize = 500;
/// How far back each look for revocations reaches: a margin for nodes' clocks (the time is
/// the revoking node's) and for a look that failed; ending a revoked desk's connection again
/// costs nothing (it has none: its token is refused at the upgrade).
const REVOKED_LOOKBACK: chrono::Duration = chrono::Duration::minutes(10);

/// Registers this node, starts its heartbeat, and on PostgreSQL the leader election and the
/// follower.
pub async fn start(state: &AppState) -> Result<(), StoreError> {
    let (id, name) = (state.node.id.clone(), state.node.name.clone());
    state
        .store
        .writer
        .write(move |ctx| store::nodes::register(ctx.tx, &id, &name, ctx.now))
        .await?;
    match state.store.postgres_url().map(str::to_owned) {
        None => state.node.lease.set_sole(),
        Some(url) => {
            store::postgres::lead(
                url.clone(),
                state.node.id.clone(),
                state.config.leader_lease,
                state.node.lease.clone(),
                state.shutdown.clone(),
            )?;
            state.hub.remember_local();
            let (heard, hearing) = mpsc::channel(1024);
            store::postgres::listen(
                url,
                move |h| {
                    // Full means the follower is busy catching up: the head check covers it.
                    let _ = heard.try_send(h);
                },
                state.shutdown.clone(),
            )?;
            let known = state.store.read(store::centers::heads).await?;
            tokio::spawn(follow(state.clone(), hearing, known.into_iter().collect()));
            let (shown_out, shown_in) = mpsc::channel(SHOWN_QUEUE);
            state.node.pass_shown_to(shown_out);
            tokio::spawn(pass_on_shown(state.clone(), shown_in));
        }
    }
    tokio::spawn(heartbeat(state.clone()));
    Ok(())
}

/// Marks this node stopped, so it is not reported down and its desks count as offline.
pub async fn stop(state: &AppState) {
    let id = state.node.id.clone();
    if let Err(error) = state
        .store
        .writer
        .write(move |ctx| store::nodes::stop(ctx.tx, &id, ctx.now))
        .await
    {
        tracing::warn!(%error, "cannot mark this node stopped");
    }
}

async fn heartbeat(state: AppState) {
    let mut every = tokio::time::interval(state.config.heartbeat_every);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Nodes sharing a database put what they counted beside their beat, so the leader's
    // alerts and every node's console see the cluster's taps and wrong PINs, not their own.
    let shared = state.store.postgres_url().is_some();
    let mut written = store::nodes::Counts::default();
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = state.shutdown.cancelled() => return,
        }
        let id = state.node.id.clone();
        let counted = counted(&state);
        let new = store::nodes::Counts {
            answered: counted.answered.saturating_sub(written.answered),
            refused: counted.refused.saturating_sub(written.refused),
            failed: counted.failed.saturating_sub(written.failed),
            pin_failures: counted.pin_failures.saturating_sub(written.pin_failures),
        };
        let result = state
            .store
            .writer
            .write(move |ctx| {
                store::nodes::beat(ctx.tx, &id, ctx.now)?;
                if shared && !new.is_zero() {
                    let minute = ctx.now.timestamp().div_euclid(60);
                    store::nodes::add_counts(ctx.tx, &id, minute, new)?;
                }
                Ok::<_, store::StoreError>(())
            })
            .await;
        match result {
            // Not written: the next beat carries these too.
            Err(error) => tracing::warn!(%error, "cannot write this node's heartbeat"),
            Ok(()) => written = counted,
        }
    }
}

/// Notes waiting to be passed on; beyond this, new ones are dropped (they are a courtesy).
const SHOWN_QUEUE: usize = 10_000;
/// Notes are passed on in batches this often: every desk of a center acknowledges every
/// check-in, and one NOTIFY each would cost a transaction per desk per tap.
const SHOWN_EVERY: std::time::Duration = std::time::Duration::from_millis(200);
/// A NOTIFY payload must stay under 8000 bytes.
const SHOWN_PAYLOAD: usize = 7000;

/// Passes the notes on in batches: each check-in once (the first desk to acknowledge it),
/// packed into as few notifications as fit.
async fn pass_on_shown(state: AppState, mut notes: mpsc::Receiver<ShownNote>) {
    loop {
        let first = tokio::select! {
            note = notes.recv() => match note {
                Some(note) => note,
                None => return,
            },
            () = state.shutdown.cancelled() => return,
        };
        tokio::time::sleep(SHOWN_EVERY).await;
        let mut batch = vec![first];
        while batch.len() < SHOWN_QUEUE
            && let Ok(note) = notes.try_recv()
        {
            batch.push(note);
        }
        let mut seen = std::collections::HashSet::new();
        batch.retain(|note| seen.insert(note.shown.checkin_id.clone()));
        let mut payloads = Vec::new();
        let mut current: Vec<String> = Vec::new();
        let mut size = 2;
        for note in &batch {
            let Ok(text) = serde_json::to_string(note) else {
                continue;
            };
            if size + text.len() + 1 > SHOWN_PAYLOAD && !current.is_empty() {
                payloads.push(format!("[{}]", current.join(",")));
                current.clear();
                size = 2;
            }
            size += text.len() + 1;
            current.push(text);
        }
        if !current.is_empty() {
            payloads.push(format!("[{}]", current.join(",")));
        }
        let written = state
            .store
            .writer
            .write(move |ctx| {
                for payload in &payloads {
                    store::postgres::announce_shown(ctx.tx, payload)?;
                }
                Ok::<_, StoreError>(())
            })
            .await;
        if let Err(error) = written {
            tracing::warn!(%error, "cannot pass shown-at-desk notes to the other nodes");
        }
    }
}

/// This node's running totals.
fn counted(state: &AppState) -> store::nodes::Counts {
    use std::sync::atomic::Ordering::Relaxed;
    store::nodes::Counts {
        answered: state.tap_stats.answered.load(Relaxed),
        refused: state.tap_stats.refused.load(Relaxed),
        failed: state.tap_stats.failed.load(Relaxed),
        pin_failures: state.logins.failed_total(),
    }
}

/// Brings other nodes' events to this node's hub. `seen` holds each center's head as far as
/// this node has read it.
async fn follow(
    state: AppState,
    mut hearing: mpsc::Receiver<store::postgres::Heard>,
    mut seen: HashMap<CenterId, u64>,
) {
    let mut every = tokio::time::interval(state.config.follow_every);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut due: Vec<CenterId> = Vec::new();
        let mut check_all = false;
        tokio::select! {
            heard = hearing.recv() => match heard {
                Some(store::postgres::Heard::Events(events)) => {
                    for (center, seq, node) in events {
                        let known = seen.get(&center).copied().unwrap_or(0);
                        if node == state.node.id && seq == known + 1 {
                            // This node's own event, published at its commit, and the next
                            // in order: nothing to read.
                            seen.insert(center, seq);
                        } else if seq > known {
                            due.push(center);
                        }
                    }
                }
                // A desk revoked through any node: its connections here end now.
                Some(store::postgres::Heard::Revoked(desks)) => {
                    for desk in desks {
                        state.hub.disconnect_desk(&desk);
                    }
                }
                // A member's sessions ended through any node: forgotten here, feeds closed.
                // (Missed, a remembered token is read again within `member_sessions::RECHECK`.)
                Some(store::postgres::Heard::SessionsEnded(members)) => {
                    for member in members {
                        state.end_member_sessions(&member);
                    }
                }
                // A desk on another node has the member's check-in on screen.
                Some(store::postgres::Heard::Shown(payloads)) => {
                    for payload in payloads {
                        match serde_json::from_str::<Vec<ShownNote>>(&payload) {
                            Ok(notes) => {
                                for note in notes.into_iter().filter(|n| n.node != state.node.id) {
                                    state.hub.shown(&note.member_id, note.shown);
                                }
                            }
                            Err(error) => tracing::warn!(%error, "shown-at-desk notes did not parse"),
                        }
                    }
                }
                // Notifications sent while the listener was away are lost: look at every
                // center's head.
                Some(store::postgres::Heard::Listening) => check_all = true,
                None => return,
            },
            _ = every.tick() => check_all = true,
            () = state.shutdown.cancelled() => return,
        }
        if check_all {
            match state.store.read(store::centers::heads).await {
                Ok(heads) => {
                    for (center, head) in heads {
                        if seen.get(&center).is_none_or(|known| head > *known) {
                            due.push(center);
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "cannot read the centers' heads"),
            }
            // And for revocations a lost notification did not bring.
            let since = chrono::Utc::now() - REVOKED_LOOKBACK;
            match state
                .store
                .read(move |c| store::desks::revoked_since(c, since))
                .await
            {
                Ok(desks) => {
                    for desk in desks {
                        state.hub.disconnect_desk(&desk);
                    }
                }
                Err(error) => tracing::warn!(%error, "cannot read revoked desks"),
            }
        }
        due.sort();
        due.dedup();
        for center in due {
            if let Err(error) = catch_up(&state, &center, &mut seen).await {
                tracing::warn!(%error, %center, "cannot read another node's events");
            }
        }
    }
}

/// Reads `center`'s events after what was seen and publishes those another node committed.
async fn catch_up(
    state: &AppState,
    center: &CenterId,
    seen: &mut HashMap<CenterId, u64>,
) -> Result<(), StoreError> {
    loop {
        let after = seen.get(center).copied().unwrap_or(0);
        // Nobody here follows this center or any member: only the head matters.
        let wanted = state.hub.follows(center) || state.hub.watches_members();
        let id = center.clone();
        let events = state
            .store
            .read(move |conn| {
                if wanted {
                    store::events::after(conn, &id, after, FOLLOW_PAGE)
                } else {
                    Ok(Vec::new())
                }
            })
            .await?;
        if !wanted {
            let id = center.clone();
            let head = state
                .store
                .read(move |conn| store::centers::head(conn, &id))
                .await?;
            seen.insert(center.clone(), head.unwrap_or(after).max(after));
            return Ok(());
        }
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok(());
        };
        seen.insert(center.clone(), last);
        let full = events.len() == FOLLOW_PAGE;
        let theirs: Vec<StoredEvent> = events
            .into_iter()
            .filter(|e| !state.hub.was_local(&e.center_id, e.seq))
            .map(crate::hub::with_member)
            .collect();
        if !theirs.is_empty() {
            state.hub.publish_followed(theirs);
        }
        if !full {
            return Ok(());
        }
    }
}
