//! The desk protocol: pairing, the snapshot for desks that cannot resume, member lookup, and
//! the WebSocket session (`session.rs`) that pushes the center's events and takes records.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use gymgate_shared::DeskId;
use gymgate_shared::api::{DeskSnapshot, LookupResult, PairRequest, PairResponse};

use crate::auth::tokens;
use crate::error::AppError;
use crate::extract::{ApiJson, DeskAuth};
use crate::state::AppState;
use crate::store::{StoreError, checkins, desks, members, snapshot};

pub(crate) mod health;
mod logs;
mod releases;
mod session;

const MAX_DESK_NAME: usize = 100;

/// A member's photo for a desk of a center the member has visited; any other member is
/// reported as having no photo (a desk learns nothing about other centers' members).
async fn photo(
    State(state): State<AppState>,
    desk: DeskAuth,
    axum::extract::Path(member_id): axum::extract::Path<String>,
) -> Result<Response, AppError> {
    use axum::response::IntoResponse;
    let member = gymgate_shared::MemberId::new(member_id);
    let center = desk.center_id.clone();
    let jpeg = state
        .store
        .read(move |conn| {
            if !checkins::visited_before(conn, &member, &center, Utc::now())? {
                return Ok(None);
            }
            crate::store::photos::get(conn, &member)
        })
        .await?
        .ok_or_else(|| AppError::not_found("no_photo", "no photo for this member"))?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "image/jpeg"),
            // The URL carries the photo's version: a new photo is a new URL.
            (
                axum::http::header::CACHE_CONTROL,
                "private, max-age=31536000, immutable",
            ),
        ],
        jpeg,
    )
        .into_response())
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/desks/pair", post(pair))
        .route("/api/v1/desk/me", get(me))
        // A center's roster can run to 100,000 members: a browser desk takes it gzipped (the
        // iced desk does not ask for it, and gets it as it was).
        .route(
            "/api/v1/desk/snapshot",
            get(snapshot).layer(tower_http::compression::CompressionLayer::new()),
        )
        .route("/api/v1/desk/lookup", get(lookup))
        .route("/api/v1/desk/statement", get(statement))
        .route("/api/v1/desk/photos/{member_id}", get(photo))
        .route(
            "/api/v1/desk/releases/{version}/installer",
            get(releases::installer),
        )
        .route(
            "/api/v1/desk/logs/{request_id}",
            axum::routing::put(logs::upload)
                .layer(axum::extract::DefaultBodyLimit::max(logs::MAX_UPLOAD_BYTES)),
        )
        .route("/ws/desk", get(websocket))
}

/// Who this token is: the web desk asks when its WebSocket fails before opening (a browser is
/// not told the upgrade's status), to tell an unpaired desk from a server that is down.
async fn me(desk: DeskAuth) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "desk_id": desk.desk_id,
        "center_id": desk.center_id,
        "name": desk.name,
    }))
}

async fn pair(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    ApiJson(request): ApiJson<PairRequest>,
) -> Result<Json<PairResponse>, AppError> {
    // Codes are 10 characters from 32 symbols; limiting attempts per address makes guessing
    // one hopeless.
    let from = state.client_ip(peer, &headers);
    if !state
        .pair_limiter
        .allow(&crate::auth::client_ip::network(from))
    {
        return Err(AppError::RateLimited);
    }
    let from = from.to_string();
    let name = request
        .name
        .trim()
        .chars()
        .take(MAX_DESK_NAME)
        .collect::<String>();
    if name.is_empty() {
        return Err(AppError::bad_request(
            "invalid_name",
            "give this desk a name, e.g. '1층 데스크'",
        ));
    }
    let code_hash = tokens::hash(&tokens::normalize_pairing_code(&request.code));
    let token = tokens::new_token();
    let token_hash = tokens::hash(&token);
    let response = state
        .store
        .writer
        .write(move |ctx| -> Result<PairResponse, AppError> {
            let invalid = |message: &str| AppError::unauthorized("invalid_pairing_code", message);
            let Some(code) = desks::pairing_code(ctx.tx, &code_hash)? else {
                return Err(invalid(
                    "this pairing code is not valid; check it or ask for a new one",
                ));
            };
            if code.used {
                return Err(invalid(
                    "this pairing code was already used; ask for a new one",
                ));
            }
            if code.expires_at <= ctx.now {
                return Err(invalid("this pairing code has expired; ask for a new one"));
            }
            let desk_id = DeskId::generate();
            desks::pair(
                ctx.tx,
                &desk_id,
                &code.center_id,
                &name,
                &token_hash,
                &code_hash,
                ctx.now,
            )?;
            // Who paired what, from where: a desk reads the center's members from now on.
            let subject = crate::store::audit::Subject {
                center_id: Some(code.center_id.clone()),
                target: Some(format!("desk:{desk_id}")),
                ..Default::default()
            };
            let after = serde_json::json!({ "desk_id": desk_id, "name": name, "from": from });
            ctx.audit("pairing-code", "desk.pair", &subject, None, Some(&after))?;
            Ok(PairResponse {
                desk_id,
                center_id: code.center_id,
                token,
            })
        })
        .await?;
    tracing::info!(desk_id = %response.desk_id, center_id = %response.center_id, "desk paired");
    Ok(Json(response))
}

#[derive(serde::Deserialize)]
struct LookupQuery {
    member_no: Option<String>,
    name: Option<String>,
    phone_last4: Option<String>,
}

/// Any active pass holder, for a member new to this center: by exact member number, or by
/// name and the last four digits of their phone. The answer holds what check-in needs (name,
/// photo, pass) and not what a desk that never saw the member has no need for (birthday,
/// phone digits): those come with the member's first check-in here. Limited per desk per
/// minute and per Korean day; every lookup is kept (desk, kind, when, how many), and every
/// member found is named in the audit log under the desk, so support sees who looked.
async fn lookup(
    State(state): State<AppState>,
    desk: DeskAuth,
    axum::extract::Query(query): axum::extract::Query<LookupQuery>,
) -> Result<Json<Vec<LookupResult>>, AppError> {
    let member_no = query
        .member_no
        .map(|no| no.trim().to_owned())
        .filter(|no| !no.is_empty());
    let name = query
        .name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    let last4 = query.phone_last4.map(|d| d.trim().to_owned());
    let (kind, by_no, by_name) = match (member_no, name, last4) {
        (Some(no), None, _) if crate::auth::logins::plausible_member_no(&no) => {
            ("member_no", Some(no), None)
        }
        (None, Some(name), Some(last4))
            if name.chars().count() <= 50
                && last4.len() == 4
                && last4.chars().all(|c| c.is_ascii_digit()) =>
        {
            ("name_phone", None, Some((name, last4)))
        }
        _ => {
            return Err(AppError::bad_request(
                "invalid_lookup",
                "look up by member_no, or by name and phone_last4 (4 digits)",
            ));
        }
    };
    if !state.lookup_limiter.allow(&desk.desk_id) {
        return Err(AppError::RateLimited);
    }
    let now = Utc::now();
    let (day_start, _) = gymgate_shared::kst::day_bounds(now);
    let desk_id = desk.desk_id.clone();
    let today = state
        .store
        .read(move |conn| desks::lookups_since(conn, &desk_id, day_start))
        .await?;
    if today >= state.config.limits.lookups_per_desk_per_day {
        return Err(AppError::Limited {
            code: "lookup_daily_limit",
            message: format!(
                "오늘 이 데스크의 회원 조회 한도({}회)를 넘었습니다. 내일 다시 되거나, 급하면 운영팀에 \
                 문의해 주세요 / this desk has made its {} lookups for today; ask the operations \
                 team if you need more",
                state.config.limits.lookups_per_desk_per_day,
                state.config.limits.lookups_per_desk_per_day
            ),
        });
    }
    let center = desk.center_id.clone();
    let found = state
        .store
        .read(move |conn| {
            let today = gymgate_shared::kst::date_of(now);
            let members = members::lookup(
                conn,
                by_no.as_deref(),
                by_name.as_ref().map(|(n, d)| (n.as_str(), d.as_str())),
                today,
                LOOKUP_LIMIT,
            )?;
            let mut found = Vec::with_capacity(members.len());
            for member in members {
                let history = checkins::visit_history(conn, &member.id, None, now)?;
                let first = !checkins::visited_before(conn, &member.id, &center, now)?;
                let mut shown = member.roster(&history);
                shown.birthday = None;
                shown.phone_last4 = String::new();
                found.push(LookupResult {
                    // No birthday given, so no birthday flag either.
                    flags: gymgate_shared::policy::flags(
                        first,
                        member.valid_until,
                        None,
                        false,
                        now,
                    ),
                    member: shown,
                });
            }
            Ok(found)
        })
        .await?;
    let (desk_id, results) = (desk.desk_id.clone(), found.len());
    let (center_id, desk_name) = (desk.center_id.clone(), desk.name.clone());
    let found_nos: Vec<String> = found.iter().map(|f| f.member.member_no.clone()).collect();
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            desks::record_lookup(ctx.tx, &desk_id, kind, results, ctx.now)?;
            for member_no in found_nos {
                let subject = crate::store::audit::Subject {
                    member_no: Some(member_no),
                    center_id: Some(center_id.clone()),
                    target: Some(format!("desk:{desk_id}")),
                };
                let after = serde_json::json!({ "kind": kind, "desk": desk_name });
                ctx.audit(
                    &format!("desk:{desk_id}"),
                    "desk.lookup",
                    &subject,
                    None,
                    Some(&after),
                )?;
            }
            Ok(())
        })
        .await?;
    Ok(Json(found))
}

#[derive(serde::Deserialize)]
struct StatementQuery {
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
}

/// Days a statement check may ask for at once (a month's statement and the month before).
const STATEMENT_DAYS: i64 = 62;

/// The desk's own center's statement for the Korean days in `[from, to)`, with what each day
/// counted, so the desk can say per day whether its own record matches and what differs.
async fn statement(
    State(state): State<AppState>,
    desk: DeskAuth,
    axum::extract::Query(query): axum::extract::Query<StatementQuery>,
) -> Result<Json<Vec<gymgate_shared::settlement::StatementDay>>, AppError> {
    if query.to <= query.from || (query.to - query.from).num_days() > STATEMENT_DAYS {
        return Err(AppError::bad_request(
            "invalid_range",
            format!("from must be before to, at most {STATEMENT_DAYS} days"),
        ));
    }
    let center = desk.center_id.clone();
    let (from, to) = (
        gymgate_shared::kst::start_of(query.from),
        gymgate_shared::kst::start_of(query.to),
    );
    let rows = state
        .store
        .read(move |conn| checkins::of_center_between(conn, &center, from, to))
        .await?;
    let counted: Vec<gymgate_shared::settlement::Counted> = rows
        .into_iter()
        .map(|row| gymgate_shared::settlement::Counted {
            id: row.id.to_string(),
            at: row.at,
            status: row.status,
        })
        .collect();
    Ok(Json(gymgate_shared::settlement::statement_days(
        &desk.center_id,
        &counted,
    )))
}

/// Pass holders one lookup answers at most.
const LOOKUP_LIMIT: usize = 10;

async fn snapshot(
    State(state): State<AppState>,
    desk: DeskAuth,
) -> Result<Json<DeskSnapshot>, AppError> {
    let epoch = state.store.log_epoch(&desk.center_id);
    let center = desk.center_id.clone();
    let snapshot = state
        .store
        .read(move |conn| snapshot::load(conn, &center, Utc::now()))
        .await?
        .ok_or_else(|| StoreError::Corrupt("desk's center is missing".into()))?;
    let snapshot = DeskSnapshot {
        epoch,
        head_seq: snapshot.center.head_seq,
        center: snapshot.center.public(),
        roster: snapshot.roster,
        today: snapshot.today,
        notices: snapshot.notices,
    };
    Ok(Json(snapshot))
}

/// The desk's live connection. The token is checked by `DeskAuth` before the upgrade, so a
/// bad token gets a plain HTTP 401.
async fn websocket(
    State(state): State<AppState>,
    desk: DeskAuth,
    slot: Option<axum::Extension<crate::server::ClientSlot>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let limits = &state.config.limits;
    // tungstenite's defaults (128 KiB read buffer, 128 KiB write buffer) would cost each idle
    // desk ~256 KiB. Desks send small frames (acks, ~40 bytes); a larger one just takes more
    // reads. Measured: 4 KiB → 1 KiB saved ~3 KB per idle desk (docs/benchmarks.md).
    upgrade
        // A browser desk offered `gymgate.desk.v1` (and its token): it must hear the
        // protocol back, and only that one (the token is never echoed).
        .protocols([crate::extract::DESK_PROTOCOL])
        .read_buffer_size(256)
        .write_buffer_size(0)
        .max_write_buffer_size(limits.max_frame_bytes * 4)
        .max_message_size(limits.max_frame_bytes)
        .max_frame_size(limits.max_frame_bytes)
        .on_upgrade(move |socket| {
            let tasks = state.desk_tasks.clone();
            tasks.track_future(async move {
                // Behind a proxy, the desk's place in its address's count lasts as long as
                // its socket.
                let _slot = slot;
                session::serve(socket, desk, state).await
            })
        })
}
