//! The operators' API (bearer admin token): centers, pairing codes, desks, members, notices,
//! the incident log.

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use gymgate_shared::api::{
    AdminCenter, AdminDesk, BlockRequest, ImportError, ImportReport, Incident, IncidentKind,
    IncidentNotes, NewCenter, NewMember, NewNotice, Notice, PairingCode,
};
use gymgate_shared::policy::OpeningHours;
use gymgate_shared::protocol::EventPayload;
use gymgate_shared::{CenterId, DeskId, MemberId, NoticeId};
use rusqlite::OptionalExtension;

use super::{AdminAuth, ApiJson, AppState};
use crate::error::AppError;
use crate::incidents;
use crate::model::{self, CenterRow};
use crate::store::{WriteCtx, parse_ts, ts};
use crate::tokens;

pub fn routes(max_import_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/centers", get(list_centers).post(add_center))
        .route(
            "/api/v1/admin/centers/{id}/pairing-codes",
            post(new_pairing_code),
        )
        .route("/api/v1/admin/desks", get(list_desks))
        .route("/api/v1/admin/desks/{id}/revoke", post(revoke_desk))
        .route("/api/v1/admin/members", post(add_member))
        .route(
            "/api/v1/admin/members/import",
            post(import_members).layer(DefaultBodyLimit::max(max_import_bytes)),
        )
        .route(
            "/api/v1/admin/members/{member_no}/block",
            post(block_member),
        )
        .route("/api/v1/admin/notices", get(list_notices).post(post_notice))
        .route(
            "/api/v1/admin/notices/{id}",
            axum::routing::delete(clear_notice),
        )
        .route("/api/v1/admin/incidents", get(list_incidents))
        .route(
            "/api/v1/admin/incidents/{id}",
            axum::routing::patch(annotate_incident),
        )
}

fn admin_center(c: CenterRow) -> AdminCenter {
    AdminCenter {
        hours: c.hours.to_string(),
        id: c.id,
        name: c.name,
        address: c.address,
        requires_approval: c.requires_approval,
        head_seq: c.head_seq,
    }
}

async fn list_centers(
    State(state): State<AppState>,
    _: AdminAuth,
) -> Result<Json<Vec<AdminCenter>>, AppError> {
    let centers = state.store.read(model::list_centers).await?;
    Ok(Json(centers.into_iter().map(admin_center).collect()))
}

async fn add_center(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiJson(new): ApiJson<NewCenter>,
) -> Result<(StatusCode, Json<AdminCenter>), AppError> {
    let name = new.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::bad_request(
            "invalid_name",
            "a center needs a name of 1 to 100 characters",
        ));
    }
    let hours = match new.hours.as_deref() {
        None => OpeningHours::ALWAYS,
        Some(text) => OpeningHours::parse(text).ok_or_else(|| {
            AppError::bad_request(
                "invalid_hours",
                "hours look like \"06:00-23:00\" or \"24h\"",
            )
        })?,
    };
    let id = CenterId::generate();
    let center = state
        .store
        .writer
        .write(move |ctx| -> Result<CenterRow, AppError> {
            ctx.tx.execute(
                "INSERT INTO centers (id, name, address, opens, closes, requires_approval, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                rusqlite::params![
                    id.as_str(),
                    name,
                    new.address.trim(),
                    hours.opens,
                    hours.closes,
                    new.requires_approval,
                    ts(ctx.now)
                ],
            )?;
            model::load_center(ctx.tx, &id)?
                .ok_or_else(|| AppError::Internal("center vanished".into()))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(admin_center(center))))
}

/// Issues a single-use pairing code for a center. Only its hash is kept.
pub async fn issue_pairing_code(
    state: &AppState,
    center_id: CenterId,
    code: String,
) -> Result<PairingCode, AppError> {
    let ttl = state.config.pairing_code_ttl;
    let hash = tokens::hash(&tokens::normalize_pairing_code(&code));
    state
        .store
        .writer
        .write(move |ctx| -> Result<PairingCode, AppError> {
            if model::load_center(ctx.tx, &center_id)?.is_none() {
                return Err(AppError::not_found("unknown_center", "no such center"));
            }
            let expires_at = ctx.now + ttl;
            // A used or expired code of the same text is replaced; the demo re-issues its code.
            ctx.tx.execute(
                "INSERT OR REPLACE INTO pairing_codes (code_hash, center_id, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![hash, center_id.as_str(), ts(ctx.now), ts(expires_at)],
            )?;
            Ok(PairingCode {
                center_id,
                code,
                expires_at,
            })
        })
        .await
}

async fn new_pairing_code(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<PairingCode>), AppError> {
    let code = issue_pairing_code(&state, CenterId::new(id), tokens::new_pairing_code()).await?;
    Ok((StatusCode::CREATED, Json(code)))
}

async fn list_desks(
    State(state): State<AppState>,
    _: AdminAuth,
) -> Result<Json<Vec<AdminDesk>>, AppError> {
    let online = state.hub.online_desks();
    let desks = state
        .store
        .read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT id, center_id, name, paired_at, revoked_at, last_seen, acked_seq,
                        app_version, outbox_backlog
                 FROM desks ORDER BY center_id, name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, u64>(6)?,
                    r.get::<_, Option<String>>(7)?,
                    r.get::<_, u64>(8)?,
                ))
            })?;
            let mut desks = Vec::new();
            for row in rows {
                let (
                    id,
                    center_id,
                    name,
                    paired_at,
                    revoked_at,
                    last_seen,
                    acked_seq,
                    app_version,
                    outbox_backlog,
                ) = row?;
                let id = DeskId::new(id);
                let is_online = online.contains(&id);
                let last_seen = last_seen.as_deref().map(parse_ts).transpose()?;
                desks.push(AdminDesk {
                    online: is_online,
                    offline_since: if is_online { None } else { last_seen },
                    app_version,
                    outbox_backlog,
                    id,
                    center_id: CenterId::new(center_id),
                    name,
                    paired_at: parse_ts(&paired_at)?,
                    revoked: revoked_at.is_some(),
                    last_seen,
                    acked_seq,
                });
            }
            Ok(desks)
        })
        .await?;
    Ok(Json(desks))
}

async fn revoke_desk(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let desk_id = DeskId::new(id);
    let target = desk_id.clone();
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            let changed = ctx.tx.execute(
                "UPDATE desks SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                rusqlite::params![target.as_str(), ts(ctx.now)],
            )?;
            if changed == 0 {
                return Err(AppError::not_found("unknown_desk", "no such desk"));
            }
            Ok(())
        })
        .await?;
    state.hub.disconnect_desk(&desk_id);
    Ok(StatusCode::NO_CONTENT)
}

/// A member record checked and ready to store (PIN already hashed).
pub(crate) struct ValidMember {
    pub(crate) new: NewMember,
    pub(crate) pin_hash: String,
}

fn validate_member(new: NewMember) -> Result<NewMember, String> {
    let member_no = new.member_no.trim().to_owned();
    if member_no.is_empty()
        || member_no.len() > 20
        || !member_no
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err("member_no must be 1 to 20 letters, digits or '-'".into());
    }
    let name = new.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 50 {
        return Err("name must be 1 to 50 characters".into());
    }
    let phone = new.phone.trim().to_owned();
    if phone.chars().filter(char::is_ascii_digit).count() < 4
        || !phone
            .chars()
            .all(|c| c.is_ascii_digit() || c == '-' || c == ' ' || c == '+')
    {
        return Err("phone must hold at least 4 digits".into());
    }
    if !(4..=8).contains(&new.pin.len()) || !new.pin.chars().all(|c| c.is_ascii_digit()) {
        return Err("pin must be 4 to 8 digits".into());
    }
    let plan = new.plan.trim().to_owned();
    if plan.is_empty() || plan.chars().count() > 50 {
        return Err("plan must be 1 to 50 characters".into());
    }
    if new.valid_from > new.valid_until {
        return Err("valid_from is after valid_until".into());
    }
    Ok(NewMember {
        member_no,
        name,
        phone,
        plan,
        ..new
    })
}

async fn hash_members(
    state: &AppState,
    members: Vec<NewMember>,
) -> Result<Vec<ValidMember>, AppError> {
    use futures_util::StreamExt;
    // As many at once as there are PIN workers; `buffered` keeps the CSV's order.
    futures_util::stream::iter(members)
        .map(|new| async move {
            let pin_hash = state.pins.hash(new.pin.clone()).await?;
            Ok(ValidMember { new, pin_hash })
        })
        .buffered(2)
        .collect::<Vec<Result<ValidMember, AppError>>>()
        .await
        .into_iter()
        .collect()
}

fn plan_id(ctx: &WriteCtx<'_>, name: &str, visits: Option<u32>) -> Result<i64, AppError> {
    let existing: Option<(i64, Option<u32>)> = ctx
        .tx
        .query_row(
            "SELECT id, visits_per_month FROM plans WHERE name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match existing {
        Some((id, stored)) if stored == visits => Ok(id),
        Some(_) => Err(AppError::conflict(
            "plan_mismatch",
            format!("plan {name:?} exists with a different number of visits per month"),
        )),
        None => {
            ctx.tx.execute(
                "INSERT INTO plans (name, visits_per_month) VALUES (?1, ?2)",
                rusqlite::params![name, visits],
            )?;
            Ok(ctx.tx.last_insert_rowid())
        }
    }
}

/// Inserts or (with `update`) updates a member; true when created. Updated members are
/// announced to the desks whose roster holds them.
pub(crate) fn store_member(
    ctx: &mut WriteCtx<'_>,
    m: &ValidMember,
    update: bool,
) -> Result<bool, AppError> {
    let new = &m.new;
    let plan = plan_id(ctx, &new.plan, new.visits_per_month)?;
    let existing: Option<String> = ctx
        .tx
        .query_row(
            "SELECT id FROM members WHERE member_no = ?1",
            [&new.member_no],
            |r| r.get(0),
        )
        .optional()?;
    match existing {
        Some(_) if !update => Err(AppError::conflict(
            "member_exists",
            format!("member {} already exists", new.member_no),
        )),
        Some(id) => {
            ctx.tx.execute(
                "UPDATE members SET name = ?2, phone = ?3, pin_hash = ?4, plan_id = ?5,
                 valid_from = ?6, valid_until = ?7, birthday = ?8 WHERE id = ?1",
                rusqlite::params![
                    id,
                    new.name,
                    new.phone,
                    m.pin_hash,
                    plan,
                    new.valid_from.to_string(),
                    new.valid_until.to_string(),
                    new.birthday.map(|b| b.to_string()),
                ],
            )?;
            announce_member(ctx, &MemberId::new(id))?;
            Ok(false)
        }
        None => {
            ctx.tx.execute(
                "INSERT INTO members (id, member_no, name, phone, pin_hash, plan_id, valid_from,
                                      valid_until, birthday, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                rusqlite::params![
                    MemberId::generate().as_str(),
                    new.member_no,
                    new.name,
                    new.phone,
                    m.pin_hash,
                    plan,
                    new.valid_from.to_string(),
                    new.valid_until.to_string(),
                    new.birthday.map(|b| b.to_string()),
                    ts(ctx.now),
                ],
            )?;
            Ok(true)
        }
    }
}

/// Sends a `member` event to every center whose desks have this member in their roster.
fn announce_member(ctx: &mut WriteCtx<'_>, id: &MemberId) -> Result<(), AppError> {
    let Some(member) = model::load_member(ctx.tx, id)? else {
        return Ok(());
    };
    let history = model::visit_history(ctx.tx, id, None, ctx.now)?;
    let payload = EventPayload::Member(member.roster(&history));
    for center in model::centers_visited_by(ctx.tx, id, ctx.now)? {
        ctx.append_event(&center, &payload)?;
    }
    Ok(())
}

async fn add_member(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiJson(new): ApiJson<NewMember>,
) -> Result<StatusCode, AppError> {
    let new = validate_member(new).map_err(|m| AppError::bad_request("invalid_member", m))?;
    let mut hashed = hash_members(&state, vec![new]).await?;
    let member = hashed
        .pop()
        .ok_or_else(|| AppError::Internal("no member to store".into()))?;
    state
        .store
        .writer
        .write(move |ctx| store_member(ctx, &member, false))
        .await?;
    Ok(StatusCode::CREATED)
}

/// CSV with a header row: member_no,name,phone,pin,plan,visits_per_month,valid_from,
/// valid_until,birthday. Existing member numbers are updated. Bad rows are reported by line
/// and skipped; good rows are stored together.
async fn import_members(
    State(state): State<AppState>,
    _: AdminAuth,
    body: String,
) -> Result<Json<ImportReport>, AppError> {
    // Up to 8 MiB of CSV: parsed on a blocking thread, not on the executor.
    let (valid, mut errors) = tokio::task::spawn_blocking(move || parse_members_csv(&body))
        .await
        .map_err(|e| AppError::Internal(format!("the import task failed: {e}")))?;
    let hashed = hash_members(&state, valid).await?;
    let (created, updated, store_errors) = state
        .store
        .writer
        .write(move |ctx| -> Result<(u32, u32, Vec<String>), AppError> {
            let (mut created, mut updated, mut failed) = (0, 0, Vec::new());
            for member in &hashed {
                match store_member(ctx, member, true) {
                    Ok(true) => created += 1,
                    Ok(false) => updated += 1,
                    Err(AppError::Store(e)) => return Err(AppError::Store(e)),
                    Err(e) => failed.push(format!("{}: {e}", member.new.member_no)),
                }
            }
            Ok((created, updated, failed))
        })
        .await?;
    errors.extend(
        store_errors
            .into_iter()
            .map(|message| ImportError { line: 0, message }),
    );
    Ok(Json(ImportReport {
        created,
        updated,
        errors,
    }))
}

/// The rows of a member import: the valid ones, and an error (with its line) for each other.
fn parse_members_csv(body: &str) -> (Vec<NewMember>, Vec<ImportError>) {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(body.as_bytes());
    let mut valid = Vec::new();
    let mut errors = Vec::new();
    for (index, row) in reader.deserialize::<CsvMember>().enumerate() {
        // Line 1 is the header.
        let line = index as u64 + 2;
        match row {
            Ok(row) => match row.into_new_member().and_then(validate_member) {
                Ok(member) => valid.push(member),
                Err(message) => errors.push(ImportError { line, message }),
            },
            Err(e) => errors.push(ImportError {
                line,
                message: e.to_string(),
            }),
        }
    }
    (valid, errors)
}

#[derive(serde::Deserialize)]
struct CsvMember {
    member_no: String,
    name: String,
    phone: String,
    pin: String,
    plan: String,
    #[serde(default)]
    visits_per_month: Option<String>,
    valid_from: String,
    valid_until: String,
    #[serde(default)]
    birthday: Option<String>,
}

impl CsvMember {
    fn into_new_member(self) -> Result<NewMember, String> {
        let date = |field: &str, text: &str| {
            text.parse()
                .map_err(|_| format!("{field} {text:?} is not a date like 2026-03-01"))
        };
        let visits_per_month = match self.visits_per_month.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(
                text.parse()
                    .map_err(|_| format!("visits_per_month {text:?} is not a number"))?,
            ),
        };
        let birthday = match self.birthday.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(date("birthday", text)?),
        };
        Ok(NewMember {
            valid_from: date("valid_from", &self.valid_from)?,
            valid_until: date("valid_until", &self.valid_until)?,
            member_no: self.member_no,
            name: self.name,
            phone: self.phone,
            pin: self.pin,
            plan: self.plan,
            visits_per_month,
            birthday,
        })
    }
}

async fn block_member(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(member_no): Path<String>,
    ApiJson(request): ApiJson<BlockRequest>,
) -> Result<StatusCode, AppError> {
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            let member = model::load_member_by_no(ctx.tx, &member_no)?
                .ok_or_else(|| AppError::not_found("unknown_member", "no such member"))?;
            ctx.tx.execute(
                "UPDATE members SET blocked = ?2, blocked_reason = ?3 WHERE id = ?1",
                rusqlite::params![member.id.as_str(), request.blocked, request.reason],
            )?;
            announce_member(ctx, &member.id)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_notices(
    State(state): State<AppState>,
    _: AdminAuth,
) -> Result<Json<Vec<Notice>>, AppError> {
    let notices = state
        .store
        .read(|conn| model::active_notices(conn, Utc::now()))
        .await?;
    Ok(Json(notices))
}

/// Appends a notice event to every center's log, so every desk hears it now or on resume.
fn broadcast_notice(ctx: &mut WriteCtx<'_>, notice: &Notice) -> Result<(), AppError> {
    let payload = EventPayload::Notice(notice.clone());
    for center in model::list_centers(ctx.tx)? {
        ctx.append_event(&center.id, &payload)?;
    }
    Ok(())
}

async fn post_notice(
    State(state): State<AppState>,
    _: AdminAuth,
    ApiJson(new): ApiJson<NewNotice>,
) -> Result<(StatusCode, Json<Notice>), AppError> {
    if new.text_ko.trim().is_empty() || new.text_en.trim().is_empty() {
        return Err(AppError::bad_request(
            "invalid_notice",
            "a notice needs Korean and English text",
        ));
    }
    if new.text_ko.chars().count() > 1000 || new.text_en.chars().count() > 1000 {
        return Err(AppError::bad_request(
            "invalid_notice",
            "a notice is at most 1000 characters",
        ));
    }
    let notice = state
        .store
        .writer
        .write(move |ctx| -> Result<Notice, AppError> {
            let notice = Notice {
                id: NoticeId::generate(),
                severity: new.severity,
                text_ko: new.text_ko.trim().to_owned(),
                text_en: new.text_en.trim().to_owned(),
                starts_at: ctx.now,
                ends_at: new.ends_at,
                cleared: false,
            };
            model::insert_notice(ctx.tx, &notice)?;
            broadcast_notice(ctx, &notice)?;
            incidents::open(
                ctx.tx,
                IncidentKind::Notice,
                &notice_key(&notice.id),
                &format!("{} / {}", notice.text_ko, notice.text_en),
                notice.starts_at,
                notice.ends_at,
            )?;
            Ok(notice)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(notice)))
}

async fn clear_notice(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = NoticeId::new(id);
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            let mut notice = model::load_notice(ctx.tx, &id)?
                .ok_or_else(|| AppError::not_found("unknown_notice", "no such notice"))?;
            if notice.cleared {
                return Ok(());
            }
            ctx.tx.execute(
                "UPDATE notices SET cleared_at = ?2 WHERE id = ?1",
                rusqlite::params![id.as_str(), ts(ctx.now)],
            )?;
            notice.cleared = true;
            incidents::close(ctx.tx, &notice_key(&id), ctx.now)?;
            broadcast_notice(ctx, &notice)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn notice_key(id: &NoticeId) -> String {
    format!("notice:{id}")
}

#[derive(serde::Deserialize)]
struct IncidentQuery {
    #[serde(default = "default_incident_limit")]
    limit: u32,
}

fn default_incident_limit() -> u32 {
    100
}

/// The incident log, newest first.
async fn list_incidents(
    State(state): State<AppState>,
    _: AdminAuth,
    axum::extract::Query(query): axum::extract::Query<IncidentQuery>,
) -> Result<Json<Vec<Incident>>, AppError> {
    let limit = query.limit.clamp(1, 1000);
    let log = state
        .store
        .read(move |conn| incidents::list(conn, limit))
        .await?;
    Ok(Json(log))
}

/// An operator's cause, action and follow-up for an incident.
async fn annotate_incident(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(id): Path<String>,
    ApiJson(notes): ApiJson<IncidentNotes>,
) -> Result<Json<Incident>, AppError> {
    let fields = [&notes.cause, &notes.action, &notes.follow_up];
    if fields.iter().any(|f| {
        f.as_ref()
            .is_some_and(|t| t.chars().count() > incidents::MAX_NOTE_CHARS)
    }) {
        return Err(AppError::bad_request(
            "invalid_notes",
            format!(
                "each note is at most {} characters",
                incidents::MAX_NOTE_CHARS
            ),
        ));
    }
    let incident = state
        .store
        .writer
        .write(move |ctx| -> Result<Incident, AppError> {
            incidents::annotate(ctx.tx, &id, &notes)?
                .ok_or_else(|| AppError::not_found("unknown_incident", "no such incident"))
        })
        .await?;
    Ok(Json(incident))
}

/// Fuzzing the import decoder: whatever the CSV, every row is either a member or an error
/// with its line, and nothing panics. `PROPTEST_CASES=200000` for a longer run.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    const HEADER: &str =
        "member_no,name,phone,pin,plan,visits_per_month,valid_from,valid_until,birthday\n";

    proptest! {
        #[test]
        fn any_text_imports_without_panicking(body in "\\PC{0,400}") {
            let (valid, errors) = super::parse_members_csv(&body);
            prop_assert!(valid.len() + errors.len() <= body.lines().count() + 1);
        }

        #[test]
        fn rows_with_hostile_fields_are_members_or_reported_errors(
            rows in prop::collection::vec(
                prop::collection::vec(
                    prop_oneof![
                        "[A-Za-z0-9-]{0,24}",
                        "\\PC{0,12}",
                        "'; DROP TABLE members; --",
                        "\"[^\"]{0,8}\"\"[^\"]{0,8}\"",
                        "20[0-9]{2}-[0-1][0-9]-[0-3][0-9]",
                        "-?[0-9]{1,12}",
                    ],
                    0..12,
                ),
                1..8,
            )
        ) {
            let mut body = HEADER.to_owned();
            for row in &rows {
                body.push_str(&row.join(","));
                body.push('\n');
            }
            let (valid, errors) = super::parse_members_csv(&body);
            for member in &valid {
                prop_assert!(!member.member_no.is_empty() && member.member_no.len() <= 20);
                prop_assert!(member.valid_from <= member.valid_until);
            }
            for error in &errors {
                prop_assert!(error.line >= 2 && !error.message.is_empty());
            }
        }
    }
}
