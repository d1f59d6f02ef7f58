//! In-server alerting: every `check_every` the server samples its own health (centers whose
//! desks are all offline, tap failures, commit latency), runs the [`engine::Engine`] rules,
//! writes raised and resolved alerts to the incident log, and tells the channels: Slack for
//! everything, the SMS gateway for alerts that last past the escalation time.

pub mod engine;
pub mod webhook;

use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gymgate_shared::CenterId;
use gymgate_shared::api::IncidentKind;
use gymgate_shared::hours::CenterHours;

pub use engine::Change;
pub use engine::{CENTER_OFFLINE, COMMIT_LATENCY, NODE_DOWN, TAP_FAILURES};
pub use webhook::Webhook;

use crate::state::AppState;
use crate::store::incidents::{self, Restart};
use crate::store::{Conn, StoreError};

/// The alive mark is written this often, so a restart knows roughly when the server died.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(30);
/// Lines of one message; the rest are counted.
const MAX_LINES: usize = 50;

/// Runs until shutdown.
pub async fn watch(state: AppState, restart: Option<Restart>) {
    let config = state.config.alerts.clone();
    let channel = |name: &'static str, url: &Option<String>| {
        let url = url.clone()?;
        match Webhook::start(name, url, config.delivery.clone(), state.shutdown.clone()) {
            Ok(hook) => Some(hook),
            Err(error) => {
                tracing::error!(channel = name, %error, "alert channel cannot start");
                None
            }
        }
    };
    let slack = channel("slack", &config.slack_url);
    let sms = channel("sms", &config.sms_url);
    if let (Some(slack), Some(restart)) = (&slack, &restart) {
        slack.send(restart_message(restart));
    }

    let mut engine = engine::Engine::new(config.rules.clone());
    // The other nodes' counts are read over the span the engine's own history covers, so
    // both are rates over the same minutes.
    let watching_since = chrono::Utc::now();
    let shared = state.store.postgres_url().is_some();
    let node_name = shared.then(|| state.node.name.clone());
    let mut every = tokio::time::interval(config.check_every);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heartbeat = tokio::time::Instant::now();
    let mut lookups_read: Option<tokio::time::Instant> = None;
    let mut lookup_outliers = None;
    let mut signals_read: Option<tokio::time::Instant> = None;
    let mut fraud_signals = None;
    let mut adopted = false;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = state.shutdown.cancelled() => return,
        }
        let now = config.clock.now();
        metrics::gauge!(crate::metrics::NODE_LEADS).set(f64::from(u8::from(state.node.leads())));
        if !state.node.leads() {
            // Another node watches (and tells the channels); this one only keeps its mark.
            engine = engine::Engine::new(config.rules.clone());
            adopted = false;
            if last_heartbeat.elapsed() >= HEARTBEAT_EVERY {
                last_heartbeat = tokio::time::Instant::now();
                let node = node_name.clone();
                let written = state
                    .store
                    .writer
                    .write(move |ctx| incidents::heartbeat(ctx.tx, now, node.as_deref()))
                    .await;
                if let Err(error) = written {
                    tracing::warn!(%error, "cannot write this node's alive mark");
                }
            }
            continue;
        }
        if shared && !adopted {
            // Just took the duties over: what the last leader announced is not announced
            // again.
            match state.store.read(incidents::open_alerts).await {
                Ok(open) => {
                    engine = engine::Engine::new(config.rules.clone());
                    engine.adopt(&open, now);
                    adopted = true;
                }
                Err(error) => {
                    tracing::warn!(%error, "alerting cannot read the open alerts this time");
                    continue;
                }
            }
        }
        let nodes = if shared {
            match state.store.read(crate::store::nodes::unstopped).await {
                Ok(nodes) => nodes
                    .into_iter()
                    .map(|n| engine::NodeHealth {
                        id: n.id,
                        name: n.name,
                        beat_at: n.beat_at,
                    })
                    .collect(),
                Err(error) => {
                    tracing::warn!(%error, "alerting cannot read the nodes this time");
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        let centers = match centers_with_desks(&state, now).await {
            Ok(centers) => {
                let online = match online_by_center(&state, now, shared).await {
                    Ok(online) => online,
                    Err(error) => {
                        tracing::warn!(%error, "alerting cannot count the desks online");
                        state.hub.online_by_center()
                    }
                };
                Some(
                    centers
                        .into_iter()
                        .map(|(id, name, hours)| engine::CenterHealth {
                            desks_online: online.get(&id).copied().unwrap_or(0),
                            id,
                            name,
                            hours,
                        })
                        .collect(),
                )
            }
            Err(error) => {
                tracing::warn!(%error, "alerting cannot read the centers this time");
                None
            }
        };
        if lookups_read.is_none_or(|at: tokio::time::Instant| at.elapsed() >= config.lookups_every)
        {
            lookups_read = Some(tokio::time::Instant::now());
            let rules = &config.rules;
            let (floor, factor) = (rules.lookup_floor, rules.lookup_factor);
            lookup_outliers = match state
                .store
                .read(move |conn| crate::store::desks::lookup_outliers(conn, now, floor, factor))
                .await
            {
                Ok(outliers) => Some(outliers),
                Err(error) => {
                    tracing::warn!(%error, "alerting cannot read the desks' lookups this time");
                    None
                }
            };
        }
        if signals_read.is_none_or(|at: tokio::time::Instant| at.elapsed() >= config.signals_every)
        {
            signals_read = Some(tokio::time::Instant::now());
            let rules = config.rules.fraud.clone();
            fraud_signals = match state
                .store
                .read(move |conn| crate::store::signals::fraud_signals(conn, now, &rules))
                .await
            {
                Ok(signals) => Some(signals),
                Err(error) => {
                    tracing::warn!(%error, "alerting cannot read the fraud signals this time");
                    None
                }
            };
        }
        let (since, floor) = (
            now - config.rules.bulk_reads_window,
            config.rules.bulk_reads,
        );
        let bulk_readers = match state
            .store
            .read(move |conn| crate::store::audit::bulk_readers(conn, since, floor))
            .await
        {
            Ok(readers) => Some(readers),
            Err(error) => {
                tracing::warn!(%error, "alerting cannot read the audit log this time");
                None
            }
        };
        let locked_operators = match state
            .store
            .read(move |conn| crate::store::operators::locked(conn, now))
            .await
        {
            Ok(locked) => Some(locked),
            Err(error) => {
                tracing::warn!(%error, "alerting cannot read locked operator accounts this time");
                None
            }
        };
        let troubled_desks = match troubled_desks(&state, now, shared).await {
            Ok(desks) => Some(desks),
            Err(error) => {
                tracing::warn!(%error, "alerting cannot read the desks' health this time");
                None
            }
        };
        let failing_updates = match failing_updates(&state).await {
            Ok(failing) => Some(failing),
            Err(error) => {
                tracing::warn!(%error, "alerting cannot read the rollouts this time");
                None
            }
        };
        let elsewhere = if shared {
            let me = state.node.id.to_string();
            let (from, to) = (
                (now - config.rules.window)
                    .max(watching_since)
                    .timestamp()
                    .div_euclid(60),
                now.timestamp().div_euclid(60),
            );
            match state
                .store
                .read(move |conn| crate::store::nodes::total_elsewhere(conn, &me, from, to))
                .await
            {
                Ok(total) => total,
                Err(error) => {
                    tracing::warn!(%error, "alerting cannot read the other nodes' counts this time");
                    Default::default()
                }
            }
        } else {
            Default::default()
        };
        let stats = &state.store.writer.stats;
        let sample = engine::Sample {
            now,
            centers,
            taps_answered: state.tap_stats.answered.load(Ordering::Relaxed),
            taps_failed: state.tap_stats.failed.load(Ordering::Relaxed),
            commits: stats.commits.load(Ordering::Relaxed),
            commit_micros: stats.commit_micros.load(Ordering::Relaxed),
            login_failures: state.logins.failed_total(),
            elsewhere,
            database_damage: state.damage(),
            nodes,
            lookup_outliers: lookup_outliers.clone(),
            fraud_signals: fraud_signals.clone(),
            bulk_readers,
            locked_operators,
            app_reports: state
                .app_reports
                .by_kind(now - config.rules.window + chrono::Duration::minutes(1)),
            troubled_desks,
            failing_updates,
        };
        let changes = engine.step(&sample);
        let heartbeat = last_heartbeat.elapsed() >= HEARTBEAT_EVERY;
        if heartbeat {
            last_heartbeat = tokio::time::Instant::now();
        }
        if shared && (!changes.is_empty() || heartbeat) {
            // Several nodes: the changes are written under the lease before anyone is told,
            // so a leader that lost the lease (frozen, cut off) tells no one what the new
            // leader tells. A database that fails otherwise delays the log, not the messages.
            let Some(fence) = state.node.fence() else {
                adopted = false;
                continue;
            };
            let log = changes.clone();
            let node = node_name.clone();
            let written = state
                .store
                .writer
                .write(move |ctx| {
                    crate::store::lease::check(ctx.tx, &fence)?;
                    record(ctx.tx, &log, now, heartbeat.then_some(node))
                })
                .await;
            match written {
                Ok(()) => {}
                Err(StoreError::Fenced) => {
                    tracing::warn!(
                        "another node took over the alerts: these changes are its to tell"
                    );
                    adopted = false;
                    continue;
                }
                Err(error) => tracing::warn!(%error, "cannot write alerts to the incident log"),
            }
        } else if !changes.is_empty() || heartbeat {
            // Off the loop: a slow or failing database delays the log, not the messages.
            let log = changes.clone();
            let writer = state.store.writer.clone();
            let node = node_name.clone();
            tokio::spawn(async move {
                let written = writer
                    .write(move |ctx| record(ctx.tx, &log, now, heartbeat.then_some(node)))
                    .await;
                if let Err(error) = written {
                    tracing::warn!(%error, "cannot write alerts to the incident log");
                }
            });
        }
        for change in &changes {
            match change {
                Change::Raised(a) => tracing::warn!(key = a.key, text = a.text_en, "alert raised"),
                Change::Escalated(a) => tracing::warn!(key = a.key, "alert escalated"),
                Change::Resolved { alert, .. } => tracing::info!(key = alert.key, "alert resolved"),
            }
        }
        if let Some(slack) = &slack
            && let Some(text) = slack_message(&changes)
        {
            slack.send(text);
        }
        if let Some(sms) = &sms
            && let Some(text) = sms_message(&changes)
        {
            sms.send(text);
        }
    }
}

/// Writes the alerts raised and resolved; with `heartbeat` (this node's name when nodes share
/// the database), the alive mark too.
fn record(
    conn: &mut dyn Conn,
    changes: &[Change],
    now: DateTime<Utc>,
    heartbeat: Option<Option<String>>,
) -> Result<(), StoreError> {
    for change in changes {
        match change {
            Change::Raised(alert) => {
                let title = format!("{} / {}", alert.text_ko, alert.text_en);
                incidents::open(
                    conn,
                    IncidentKind::Alert,
                    &alert.key,
                    &title,
                    alert.since,
                    None,
                )?;
            }
            Change::Resolved { alert, at } => {
                incidents::close(conn, &alert.key, *at)?;
            }
            Change::Escalated(_) => {}
        }
    }
    if let Some(node) = heartbeat {
        incidents::heartbeat(conn, now, node.as_deref())?;
    }
    Ok(())
}

/// Desks online per center: on one node, its own connections; with several, every node's
/// (each marks the desks it holds), counting only nodes that still beat.
async fn online_by_center(
    state: &AppState,
    now: DateTime<Utc>,
    shared: bool,
) -> Result<std::collections::HashMap<CenterId, usize>, StoreError> {
    if !shared {
        return Ok(state.hub.online_by_center());
    }
    let alive_since = now - state.config.alerts.rules.node_down_after;
    let desks = state
        .store
        .read(move |conn| crate::store::nodes::online_desks(conn, alive_since))
        .await?;
    let mut online = std::collections::HashMap::new();
    for (_, center) in desks {
        *online.entry(center).or_insert(0) += 1;
    }
    Ok(online)
}

/// Paired desks whose health shows something wrong. Connected means held by this node (one
/// node), or by any node that still beats (several).
async fn troubled_desks(
    state: &AppState,
    now: DateTime<Utc>,
    shared: bool,
) -> Result<Vec<engine::TroubledDesk>, StoreError> {
    let alive_since = now - state.config.alerts.rules.node_down_after;
    let (desks, centers, held, min_version) = state
        .store
        .read(move |conn| {
            let held = if shared {
                Some(crate::store::nodes::online_desks(conn, alive_since)?)
            } else {
                None
            };
            Ok((
                crate::store::desks::list(conn)?,
                crate::store::centers::list(conn)?,
                held,
                crate::store::settings::min_desk_version(conn)?,
            ))
        })
        .await?;
    let online: std::collections::HashSet<gymgate_shared::DeskId> = match held {
        Some(held) => held.into_iter().map(|(desk, _)| desk).collect(),
        None => state.hub.online_desks().into_iter().collect(),
    };
    let names: std::collections::HashMap<CenterId, String> =
        centers.into_iter().map(|c| (c.id, c.name)).collect();
    let rules = &state.config.alerts.rules;
    Ok(desks
        .into_iter()
        .filter(|desk| !desk.revoked)
        .filter_map(|desk| {
            let figures = crate::desk::health::Figures::of(&desk);
            let problems = crate::desk::health::problems(
                &figures,
                online.contains(&desk.id),
                now,
                rules,
                min_version.as_deref(),
            );
            (!problems.is_empty()).then(|| engine::TroubledDesk {
                center_name: names.get(&desk.center_id).cloned().unwrap_or_default(),
                desk_id: desk.id,
                desk_name: desk.name,
                problems,
            })
        })
        .collect())
}

/// Releases whose update failed at [`crate::config::Rules::update_failures`] desks or more;
/// an active or paused rollout of one is halted here, by the server, with the reason.
async fn failing_updates(state: &AppState) -> Result<Vec<engine::FailingUpdate>, StoreError> {
    let halted = crate::releases::RolloutState::Halted.as_str();
    // Once halted a rollout offers nothing: its alert said so and resolves. With no rollout
    // under way (most of the time) the desks are not read at all.
    let rollouts: Vec<_> = state
        .store
        .read(crate::store::releases::rollouts)
        .await?
        .into_iter()
        .filter(|r| r.state != halted)
        .collect();
    if rollouts.is_empty() {
        return Ok(Vec::new());
    }
    let desks = state.store.read(crate::store::desks::list).await?;
    // What each desk says of its update, read once for every rollout.
    let updates: Vec<String> = desks
        .iter()
        .filter(|d| !d.revoked)
        .filter_map(|d| d.health.as_ref())
        .filter_map(|(json, _)| serde_json::from_str::<crate::desk::health::Stored>(json).ok())
        .filter_map(|stored| stored.health.update)
        .collect();
    let threshold = state.config.alerts.rules.update_failures.max(1);
    let mut failing = Vec::new();
    for rollout in rollouts {
        let prefix = format!("failed {}", rollout.version);
        let failed = updates
            .iter()
            .filter(|u| **u == prefix || u.starts_with(&format!("{prefix}:")))
            .count() as u64;
        if failed < threshold {
            continue;
        }
        let reason = format!(
            "데스크 {failed}대에서 업데이트 실패로 서버가 자동 중단 / halted by the server: the update failed at {failed} desks"
        );
        if let Err(error) = crate::http::halt_rollout(state, &rollout.version, reason).await {
            tracing::warn!(%error, version = %rollout.version, "cannot halt a failing rollout");
        }
        failing.push(engine::FailingUpdate {
            version: rollout.version,
            desks: failed,
        });
    }
    Ok(failing)
}

type CenterRow = (CenterId, String, CenterHours);

/// Centers with desks and their hours, holidays included: a center closed for Chuseok or for a
/// closure is not paged about.
async fn centers_with_desks(
    state: &AppState,
    now: DateTime<Utc>,
) -> Result<Vec<CenterRow>, StoreError> {
    state
        .store
        .read(move |conn| {
            let holidays = crate::store::holidays::from(
                conn,
                gymgate_shared::kst::date_of(now - chrono::Duration::days(1)),
            )?;
            Ok(crate::store::centers::with_desks(conn)?
                .into_iter()
                .map(|(id, name, schedule)| {
                    let hours = CenterHours {
                        schedule,
                        holidays: holidays.clone(),
                    };
                    (id, name, hours)
                })
                .collect())
        })
        .await
}

fn minutes(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_minutes().max(0)
}

fn capped(lines: Vec<String>) -> Vec<String> {
    let total = lines.len();
    let mut kept: Vec<String> = lines.into_iter().take(MAX_LINES).collect();
    if total > MAX_LINES {
        kept.push(format!("… 외 {n}건 / and {n} more", n = total - MAX_LINES));
    }
    kept
}

/// Everything that changed in one check, as one message.
pub fn slack_message(changes: &[Change]) -> Option<String> {
    if changes.is_empty() {
        return None;
    }
    let count = |f: fn(&Change) -> bool| changes.iter().filter(|c| f(c)).count();
    let raised = count(|c| matches!(c, Change::Raised(_)));
    let resolved = count(|c| matches!(c, Change::Resolved { .. }));
    let escalated = count(|c| matches!(c, Change::Escalated(_)));
    let mut lines = Vec::new();
    for change in changes {
        lines.push(match change {
            Change::Raised(a) => format!("🔴 {} / {}", a.text_ko, a.text_en),
            Change::Escalated(a) => format!(
                "⏫ 계속되어 SMS 발송 / still on, escalated by SMS: {} / {}",
                a.text_ko, a.text_en
            ),
            Change::Resolved { alert, at } => format!(
                "✅ 해소 ({m}분간) / resolved after {m} min: {} / {}",
                alert.text_ko,
                alert.text_en,
                m = minutes(alert.since, *at)
            ),
        });
    }
    let header = format!(
        "[gymgate] 경보 {raised}건 발생 · {escalated}건 상향 · {resolved}건 해소 / \
         {raised} raised · {escalated} escalated · {resolved} resolved"
    );
    Some(
        std::iter::once(header)
            .chain(capped(lines))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// Escalations, and the end of escalated alerts, for the on-call phone.
pub fn sms_message(changes: &[Change]) -> Option<String> {
    let mut lines = Vec::new();
    for change in changes {
        match change {
            Change::Escalated(a) => {
                lines.push(format!("계속 / ongoing: {} / {}", a.text_ko, a.text_en))
            }
            Change::Resolved { alert, .. } if alert.escalated => {
                lines.push(format!(
                    "해소 / resolved: {} / {}",
                    alert.text_ko, alert.text_en
                ));
            }
            _ => {}
        }
    }
    if lines.is_empty() {
        return None;
    }
    Some(
        std::iter::once("[gymgate]".to_owned())
            .chain(capped(lines))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

fn restart_message(restart: &Restart) -> String {
    let down = (restart.up_at - restart.down_since).num_seconds().max(0);
    if restart.unclean {
        format!(
            "🔄 [gymgate] 서버가 비정상 종료 후 다시 시작됨 (약 {down}초 중단) / \
             server restarted after an unclean stop (down about {down} s)"
        )
    } else {
        format!("🔄 [gymgate] 서버 재시작 ({down}초) / server restarted ({down} s down)")
    }
}
