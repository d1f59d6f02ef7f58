//! The live page (desks, open incidents, taps per minute) and incidents with their impact.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use gymgate_shared::CenterId;
use gymgate_shared::api::{
    IncidentImpact, IncidentKind, IncidentView, NewNotice, NowCenter, NowDelta, NowDesk, NowView,
    Severity, TapMinute,
};

use crate::error::AppError;
use crate::extract::AsViewer;
use crate::metrics::Minute;
use crate::state::AppState;
use crate::store::{centers, checkins as stored_checkins, desks, incidents, nodes};

use super::super::admin;

/// How often the live page is computed again for the open consoles.
const NOW_EVERY: Duration = Duration::from_secs(2);

/// Minutes of taps the live page shows.
const TAP_MINUTES: i64 = 15;

pub(super) async fn now_view(state: &AppState) -> Result<NowView, AppError> {
    let at = Utc::now();
    let online = state.hub.online_desks();
    let (all_centers, all_desks, open, min_version) = state
        .store
        .read(|conn| {
            Ok((
                centers::list(conn)?,
                desks::list(conn)?,
                incidents::list(conn, 200)?,
                crate::store::settings::min_desk_version(conn)?,
            ))
        })
        .await?;
    let centers = all_centers
        .into_iter()
        .map(|c| NowCenter {
            desks: all_desks
                .iter()
                .filter(|d| d.center_id == c.id && !d.revoked)
                .map(|d| {
                    let is_online = online.contains(&d.id);
                    let desk = admin::admin_desk(
                        d.clone(),
                        is_online,
                        &state.config.alerts.rules,
                        at,
                        min_version.as_deref(),
                    );
                    NowDesk {
                        // This node's figure from the desk's hello; for a desk connected to
                        // another node, the one its last health report stored.
                        clock_skew_s: state
                            .desk_clock(&d.id)
                            .or_else(|| desk.health.as_ref().and_then(|h| h.clock_skew_s)),
                        desk,
                    }
                })
                .collect(),
            id: c.id,
            name: c.name,
        })
        .collect();
    let open: Vec<_> = open.into_iter().filter(|i| i.ended_at.is_none()).collect();
    let open_incidents = views(state, open).await?;
    let taps = cluster_minutes(state, at - chrono::Duration::minutes(TAP_MINUTES), at)
        .await?
        .into_iter()
        .map(|m| TapMinute {
            at: DateTime::from_timestamp(m.minute * 60, 0).unwrap_or(at),
            answered: m.answered,
            refused: m.refused,
            failed: m.failed,
        })
        .collect();
    Ok(NowView {
        at,
        centers,
        open_incidents,
        taps,
    })
}

pub(super) async fn now(
    State(state): State<AppState>,
    _: AsViewer,
) -> Result<Json<NowView>, AppError> {
    Ok(Json(now_view(&state).await?))
}

/// The live page once for every open console: computed every two seconds while at least one
/// watches, by this task alone, so ten consoles cost the database and the CPU what one does.
pub(crate) async fn feed(state: AppState) {
    loop {
        tokio::time::sleep(NOW_EVERY).await;
        if state.now_feed.receiver_count() == 0 {
            continue;
        }
        let view = now_view(&state)
            .await
            .map(Arc::new)
            .map_err(|error| error.public_message());
        state.now_feed.send_replace(Some(view));
    }
}

/// Where one console's stream stands.
struct Watch {
    state: AppState,
    actor: crate::extract::Actor,
    feed: tokio::sync::watch::Receiver<Option<crate::state::NowFeedItem>>,
    /// The view this console has now (the whole page first, then each change applied).
    last: Option<Arc<NowView>>,
    /// The first page failed: wait a tick before computing it again.
    retry: bool,
    ended: bool,
}

/// The live page while the console is open: the whole page first (`now`), then every two
/// seconds only what changed (`now-delta`, see [`gymgate_shared::api::NowDelta`]); and only
/// while the session that opened it lasts: after a logout, an expiry, a disabled account or
/// a changed role the stream says `ended` and closes (the page then asks for a login).
pub(super) async fn now_stream(
    State(state): State<AppState>,
    AsViewer(actor): AsViewer,
) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>> {
    let shutdown = state.shutdown.clone();
    let start = Watch {
        feed: state.now_feed.subscribe(),
        state,
        actor,
        last: None,
        retry: false,
        ended: false,
    };
    let stream = futures_util::stream::unfold(start, |mut watch| async move {
        if watch.ended {
            return None;
        }
        let fresh = match watch.last {
            // The first page is computed for this console at once, not taken from the feed.
            None => {
                if watch.retry {
                    tokio::time::sleep(NOW_EVERY).await;
                }
                now_view(&watch.state)
                    .await
                    .map(Arc::new)
                    .map_err(|error| error.public_message())
            }
            Some(_) => {
                watch.feed.changed().await.ok()?;
                let item = watch.feed.borrow_and_update().clone();
                item?
            }
        };
        match watch.actor.still_valid(&watch.state).await {
            Ok(true) => {}
            Ok(false) => {
                watch.ended = true;
                let ended = SseEvent::default()
                    .event("ended")
                    .data("로그인이 끝났습니다 / the session ended");
                return Some((Ok(ended), watch));
            }
            Err(error) => {
                watch.retry = true;
                let trouble = SseEvent::default()
                    .event("trouble")
                    .data(error.public_message());
                return Some((Ok(trouble), watch));
            }
        }
        let event = match (fresh, &watch.last) {
            (Err(message), _) => {
                watch.retry = true;
                SseEvent::default().event("trouble").data(message)
            }
            (Ok(view), None) => {
                let event = SseEvent::default().event("now").json_data(&*view);
                watch.last = Some(view);
                event.unwrap_or_else(|_| SseEvent::default().comment("unreadable"))
            }
            (Ok(view), Some(last)) => {
                let delta = NowDelta::between(last, &view);
                watch.last = Some(view);
                SseEvent::default()
                    .event("now-delta")
                    .json_data(&delta)
                    .unwrap_or_else(|_| SseEvent::default().comment("unreadable"))
            }
        };
        Some((Ok(event), watch))
    });
    Sse::new(stream.take_until(shutdown.cancelled_owned()))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// The prepared notice for an incident that affects members, if it does.
pub(super) fn notice_draft(incident: &gymgate_shared::api::Incident) -> Option<NewNotice> {
    let key = incident.key.as_str();
    let server_trouble = incident.kind == IncidentKind::Restart
        || key == crate::alerts::TAP_FAILURES
        || key == crate::alerts::COMMIT_LATENCY
        || key.starts_with(crate::alerts::NODE_DOWN);
    if server_trouble {
        return Some(NewNotice {
            severity: Severity::Warning,
            text_ko: "일시적인 서버 문제로 입장 처리가 늦어지거나 실패할 수 있습니다. 회원님의 정보와 입장 기록은 안전하게 보관되어 있습니다. 앱에서 입장이 안 되면 '오프라인 입장권'을 데스크에 보여 주세요.".into(),
            text_en: "A temporary server problem may slow down or fail check-ins. Your data and visits are safe. If the app cannot check you in, show your offline pass at the desk.".into(),
            ends_at: None,
            center_ids: Vec::new(),
        });
    }
    if let Some(center) = key.strip_prefix(crate::alerts::CENTER_OFFLINE) {
        return Some(NewNotice {
            severity: Severity::Info,
            text_ko: "이 센터 데스크의 인터넷 연결이 끊겼습니다. 입장은 데스크에서 계속 처리되며, 회원님의 입장 기록은 연결이 돌아오면 자동으로 반영됩니다. 앱 대신 회원번호나 '오프라인 입장권'으로 입장해 주세요.".into(),
            text_en: "This center's desk is offline. Check-in continues at the desk, and your visit is recorded once it reconnects. Give your member number or show your offline pass.".into(),
            ends_at: None,
            center_ids: vec![CenterId::new(center)],
        });
    }
    None
}

/// This node's taps by minute, with the other nodes' added when several share the database.
async fn cluster_minutes(
    state: &AppState,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Minute>, AppError> {
    let mut minutes = state.tap_stats.between(from, to);
    if state.store.postgres_url().is_none() {
        return Ok(minutes);
    }
    let me = state.node.id.to_string();
    let span = (
        from.timestamp().div_euclid(60),
        to.timestamp().div_euclid(60),
    );
    let elsewhere = state
        .store
        .read(move |conn| nodes::counts_elsewhere(conn, &me, span.0, span.1))
        .await?;
    let small = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    for (minute, counts) in elsewhere {
        let at = match minutes.iter().position(|m| m.minute >= minute) {
            Some(i) if minutes[i].minute == minute => i,
            found => {
                let i = found.unwrap_or(minutes.len());
                minutes.insert(
                    i,
                    Minute {
                        minute,
                        answered: 0,
                        refused: 0,
                        failed: 0,
                    },
                );
                i
            }
        };
        let m = &mut minutes[at];
        m.answered = m.answered.saturating_add(small(counts.answered));
        m.refused = m.refused.saturating_add(small(counts.refused));
        m.failed = m.failed.saturating_add(small(counts.failed));
    }
    Ok(minutes)
}

pub(super) async fn views(
    state: &AppState,
    list: Vec<gymgate_shared::api::Incident>,
) -> Result<Vec<IncidentView>, AppError> {
    let now = Utc::now();
    let windows: Vec<(DateTime<Utc>, DateTime<Utc>)> = list
        .iter()
        .map(|i| (i.started_at, i.ended_at.unwrap_or(now)))
        .collect();
    let offline_centers: Vec<Option<CenterId>> = list
        .iter()
        .map(|i| {
            i.key
                .strip_prefix(crate::alerts::CENTER_OFFLINE)
                .map(CenterId::new)
        })
        .collect();
    // Several nodes: the taps the others refused or failed in each incident count too.
    let elsewhere_of = state
        .store
        .postgres_url()
        .is_some()
        .then(|| state.node.id.to_string());
    let stored = state
        .store
        .read(move |conn| {
            let mut out = Vec::with_capacity(windows.len());
            for ((from, to), center) in windows.iter().zip(&offline_centers) {
                let offline = stored_checkins::offline_impact(conn, *from, *to)?;
                let center_desks = match center {
                    Some(center) => desks::count_paired(conn, center)?,
                    None => 0,
                };
                let elsewhere = match &elsewhere_of {
                    Some(me) => nodes::total_elsewhere(
                        conn,
                        me,
                        from.timestamp().div_euclid(60),
                        to.timestamp().div_euclid(60),
                    )?,
                    None => nodes::Counts::default(),
                };
                out.push((offline, center_desks, elsewhere));
            }
            Ok(out)
        })
        .await?;
    Ok(list
        .into_iter()
        .zip(stored)
        .map(|(incident, (offline, center_desks, elsewhere))| {
            let to = incident.ended_at.unwrap_or(now);
            let minutes = state.tap_stats.between(incident.started_at, to);
            let is_center = incident.key.starts_with(crate::alerts::CENTER_OFFLINE);
            let impact = IncidentImpact {
                taps_refused: minutes.iter().map(|m| u64::from(m.refused)).sum::<u64>()
                    + elsewhere.refused,
                taps_failed: minutes.iter().map(|m| u64::from(m.failed)).sum::<u64>()
                    + elsewhere.failed,
                centers_affected: offline.centers.max(u64::from(is_center)),
                desks_affected: offline.desks.max(center_desks),
                offline_synced: offline.synced,
                disputes_raised: offline.disputes,
            };
            IncidentView {
                notice_draft: notice_draft(&incident),
                incident,
                impact,
            }
        })
        .collect())
}

#[derive(serde::Deserialize)]
pub(super) struct LimitQuery {
    limit: Option<u32>,
}

pub(super) async fn incident_views(
    State(state): State<AppState>,
    _: AsViewer,
    Query(query): Query<LimitQuery>,
) -> Result<Json<Vec<IncidentView>>, AppError> {
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let list = state
        .store
        .read(move |conn| incidents::list(conn, limit))
        .await?;
    Ok(Json(views(&state, list).await?))
}
