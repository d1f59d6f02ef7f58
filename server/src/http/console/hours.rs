//! Centers' opening hours and the public holidays: set in the console one center at a time or
//! for many centers as a CSV file, audited, and sent to the centers' desks as `hours` events
//! (a desk judges its offline check-ins by them).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use chrono::NaiveDate;
use gymgate_shared::CenterId;
use gymgate_shared::api::{AdminCenter, Holiday};
use gymgate_shared::hours::{Closure, DayHours, Schedule, WEEKDAYS, WEEKDAYS_KO};
use gymgate_shared::protocol::EventPayload;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::extract::{ApiJson, AsAdmin, AsViewer};
use crate::state::AppState;
use crate::store::audit::Subject;
use crate::store::{WriteCtx, centers, holidays};
use crate::{csv_out, imports};

/// Most error lines one refused CSV file reports.
const MAX_REPORTED: usize = 20;

fn validated(schedule: Schedule) -> Result<Schedule, AppError> {
    schedule
        .validated()
        .map_err(|e| AppError::bad_request("invalid_hours", e.message()))
}

/// Stores a center's schedule, tells its desks, audits before and after; `None` when the
/// schedule did not change.
fn set_schedule(
    ctx: &mut WriteCtx<'_>,
    actor: &str,
    center: &centers::CenterRow,
    schedule: &Schedule,
    how: &str,
) -> Result<bool, AppError> {
    if &center.schedule == schedule {
        return Ok(false);
    }
    centers::set_schedule(ctx.tx, &center.id, schedule)?;
    let hours = holidays::for_desks(ctx.tx, schedule, ctx.now)?;
    ctx.append_event(&center.id, &EventPayload::Hours(hours))?;
    let subject = Subject {
        center_id: Some(center.id.clone()),
        ..Subject::default()
    };
    ctx.audit(
        actor,
        how,
        &subject,
        Some(&serde_json::to_value(&center.schedule)?),
        Some(&serde_json::to_value(schedule)?),
    )?;
    Ok(true)
}

pub(super) async fn put_center_hours(
    State(state): State<AppState>,
    AsAdmin(actor): AsAdmin,
    Path(id): Path<CenterId>,
    ApiJson(schedule): ApiJson<Schedule>,
) -> Result<Json<AdminCenter>, AppError> {
    let schedule = validated(schedule)?;
    let center = state
        .store
        .writer
        .write(move |ctx| -> Result<centers::CenterRow, AppError> {
            let center = centers::load(ctx.tx, &id)?.ok_or_else(|| {
                AppError::not_found("unknown_center", "그런 센터가 없습니다 / no such center")
            })?;
            set_schedule(ctx, &actor.name, &center, &schedule, "center.hours")?;
            centers::load(ctx.tx, &id)?.ok_or_else(|| AppError::Internal("center vanished".into()))
        })
        .await?;
    Ok(Json(crate::http::admin::admin_center(center)))
}

// ---- CSV ----

const HEADER: [&str; 11] = [
    "center_id",
    "center_name",
    "mon",
    "tue",
    "wed",
    "thu",
    "fri",
    "sat",
    "sun",
    "holidays",
    "closures",
];

fn closures_cell(closures: &[Closure]) -> String {
    closures
        .iter()
        .map(|c| {
            let range = if c.from == c.to {
                c.from.to_string()
            } else {
                format!("{}~{}", c.from, c.to)
            };
            if c.reason.is_empty() {
                range
            } else {
                format!("{range} {}", c.reason)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn parse_closures(cell: &str) -> Result<Vec<Closure>, String> {
    let mut closures = Vec::new();
    for part in cell.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (range, reason) = part.split_once(char::is_whitespace).unwrap_or((part, ""));
        let (from, to) = range.split_once('~').unwrap_or((range, range));
        let date = |text: &str| {
            text.trim().parse::<NaiveDate>().map_err(|_| {
                format!(
                    "휴관 날짜 '{}'을(를) 읽을 수 없습니다 (예: 2026-12-24~2026-12-26 내부 공사)",
                    text.trim()
                )
            })
        };
        closures.push(Closure {
            from: date(from)?,
            to: date(to)?,
            reason: reason.trim().to_owned(),
        });
    }
    Ok(closures)
}

pub(super) async fn hours_csv(
    State(state): State<AppState>,
    _: AsViewer,
) -> Result<impl IntoResponse, AppError> {
    let centers = state.store.read(centers::list).await?;
    let rows = centers.into_iter().map(|c| {
        let s = &c.schedule;
        let mut row = vec![c.id.to_string(), c.name.clone()];
        row.extend(s.week.iter().map(DayHours::to_string));
        row.push(s.holidays.map(|h| h.to_string()).unwrap_or_default());
        row.push(closures_cell(&s.closures));
        row
    });
    let body = csv_out::to_csv(&HEADER, rows)
        .map_err(|e| AppError::Internal(format!("writing the hours CSV: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"gymgate-hours.csv\"".to_owned(),
            ),
        ],
        body,
    ))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct HoursImport {
    /// Centers whose hours changed.
    pub changed: usize,
    /// Rows read (centers named in the file).
    pub rows: usize,
}

/// One row of a hours file, read.
struct HoursRow {
    line: u64,
    center: CenterId,
    schedule: Schedule,
}

fn read_hours_csv(text: &str) -> Result<Vec<HoursRow>, Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(str::to_ascii_lowercase).collect(),
        Err(_) => {
            return Err(vec![
                "첫 줄(머리글)을 읽을 수 없습니다 / cannot read the header".into(),
            ]);
        }
    };
    let column = |name: &str| header.iter().position(|h| h == name);
    let Some(id_at) = column("center_id") else {
        return Err(vec![format!(
            "머리글에 center_id가 없습니다. 내려받은 파일의 머리글을 그대로 두세요: {} / the header needs center_id",
            HEADER.join(",")
        )]);
    };
    let day_at: Vec<Option<usize>> = WEEKDAYS.iter().map(|d| column(d)).collect();
    let (holidays_at, closures_at) = (column("holidays"), column("closures"));
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                errors.push(format!("{line}행: 읽을 수 없는 줄입니다 / unreadable line"));
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let cell = |at: Option<usize>| at.and_then(|i| record.get(i)).unwrap_or("");
        let id = cell(Some(id_at));
        if id.is_empty() {
            continue;
        }
        let mut week = [DayHours::ALWAYS; 7];
        let mut bad = None;
        for (i, at) in day_at.iter().enumerate() {
            let text = cell(*at);
            match DayHours::parse(if text.is_empty() { "24h" } else { text }) {
                Some(day) => week[i] = day,
                None => {
                    bad = Some(format!(
                        "{line}행: {}요일 시간 '{text}'을(를) 읽을 수 없습니다 (예: 06:00-23:00, 24h, 휴무) / bad hours for {}",
                        WEEKDAYS_KO[i], WEEKDAYS[i]
                    ));
                    break;
                }
            }
        }
        if let Some(bad) = bad {
            errors.push(bad);
            continue;
        }
        let holidays_text = cell(holidays_at);
        let holidays = if holidays_text.is_empty() {
            None
        } else if let Some(day) = DayHours::parse(holidays_text) {
            Some(day)
        } else {
            errors.push(format!(
                "{line}행: 공휴일 시간 '{holidays_text}'을(를) 읽을 수 없습니다 / bad holiday hours"
            ));
            continue;
        };
        let closures = match parse_closures(cell(closures_at)) {
            Ok(c) => c,
            Err(e) => {
                errors.push(format!("{line}행: {e}"));
                continue;
            }
        };
        match (Schedule {
            week,
            holidays,
            closures,
        })
        .validated()
        {
            Ok(schedule) => rows.push(HoursRow {
                line,
                center: CenterId::new(id),
                schedule,
            }),
            Err(e) => errors.push(format!("{line}행: {}", e.message())),
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

fn refused(mut errors: Vec<String>) -> AppError {
    let total = errors.len();
    errors.truncate(MAX_REPORTED);
    if total > MAX_REPORTED {
        errors.push(format!("… 외 {}건", total - MAX_REPORTED));
    }
    AppError::bad_request(
        "invalid_hours_csv",
        format!(
            "파일에 고칠 곳이 있어 아무것도 바꾸지 않았습니다 / nothing was changed:\n{}",
            errors.join("\n")
        ),
    )
}

/// Replaces the hours of every center the file names, all or nothing.
pub(super) async fn put_hours_csv(
    State(state): State<AppState>,
    AsAdmin(actor): AsAdmin,
    body: Bytes,
) -> Result<Json<HoursImport>, AppError> {
    let (text, _) =
        imports::decode(&body).map_err(|e| AppError::bad_request("invalid_encoding", e))?;
    let rows = read_hours_csv(&text).map_err(refused)?;
    let count = rows.len();
    let changed = state
        .store
        .writer
        .write(move |ctx| -> Result<usize, AppError> {
            let mut errors = Vec::new();
            let mut found = Vec::new();
            for row in rows {
                match centers::load(ctx.tx, &row.center)? {
                    Some(center) => found.push((center, row.schedule)),
                    None => errors.push(format!(
                        "{}행: 센터 '{}'이(가) 없습니다 / unknown center",
                        row.line, row.center
                    )),
                }
            }
            if !errors.is_empty() {
                return Err(refused(errors));
            }
            let mut changed = 0;
            for (center, schedule) in found {
                if set_schedule(ctx, &actor.name, &center, &schedule, "center.hours.csv")? {
                    changed += 1;
                }
            }
            Ok(changed)
        })
        .await?;
    Ok(Json(HoursImport {
        changed,
        rows: count,
    }))
}

// ---- holidays ----

pub(super) async fn list_holidays(
    State(state): State<AppState>,
    _: AsViewer,
) -> Result<Json<Vec<Holiday>>, AppError> {
    Ok(Json(state.store.read(holidays::list).await?))
}

#[derive(Debug, Deserialize)]
pub(super) struct HolidayName {
    name: String,
}

fn holiday_date(text: &str) -> Result<NaiveDate, AppError> {
    text.parse().map_err(|_| {
        AppError::bad_request(
            "invalid_date",
            "날짜는 2026-09-25처럼 씁니다 / a date looks like 2026-09-25",
        )
    })
}

/// Every center's desks hear the new holidays (centers with holiday hours change with them).
fn tell_desks(ctx: &mut WriteCtx<'_>) -> Result<(), AppError> {
    for center in centers::list(ctx.tx)? {
        let hours = holidays::for_desks(ctx.tx, &center.schedule, ctx.now)?;
        ctx.append_event(&center.id, &EventPayload::Hours(hours))?;
    }
    Ok(())
}

pub(super) async fn put_holiday(
    State(state): State<AppState>,
    AsAdmin(actor): AsAdmin,
    Path(date): Path<String>,
    ApiJson(body): ApiJson<HolidayName>,
) -> Result<Json<Holiday>, AppError> {
    let date = holiday_date(&date)?;
    let name: String = body.name.trim().chars().take(50).collect();
    if name.is_empty() {
        return Err(AppError::bad_request(
            "invalid_name",
            "공휴일 이름을 적어 주세요 / a holiday needs a name",
        ));
    }
    let holiday = Holiday { date, name };
    let stored = holiday.clone();
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            let before = holidays::put(ctx.tx, &stored)?;
            tell_desks(ctx)?;
            ctx.audit(
                &actor.name,
                "holiday.set",
                &Subject::default(),
                before
                    .map(|name| serde_json::json!({ "date": stored.date, "name": name }))
                    .as_ref(),
                Some(&serde_json::to_value(&stored)?),
            )?;
            Ok(())
        })
        .await?;
    Ok(Json(holiday))
}

pub(super) async fn delete_holiday(
    State(state): State<AppState>,
    AsAdmin(actor): AsAdmin,
    Path(date): Path<String>,
) -> Result<axum::http::StatusCode, AppError> {
    let date = holiday_date(&date)?;
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            let Some(name) = holidays::delete(ctx.tx, date)? else {
                return Err(AppError::not_found(
                    "unknown_holiday",
                    "그 날은 공휴일로 등록되어 있지 않습니다 / no holiday on that date",
                ));
            };
            tell_desks(ctx)?;
            ctx.audit(
                &actor.name,
                "holiday.remove",
                &Subject::default(),
                Some(&serde_json::json!({ "date": date, "name": name })),
                None,
            )?;
            Ok(())
        })
        .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hours_file_reads_back_or_names_each_bad_line() {
        let text = "\u{feff}center_id,center_name,mon,tue,wed,thu,fri,sat,sun,holidays,closures\n\
                    c1,강남점,06:00-23:00,06:00-23:00,06:00-23:00,06:00-23:00,06:00-02:00,09:00-18:00,휴무,휴무,2026-12-24~2026-12-26 내부 공사; 2027-01-02\n\
                    c2,역삼점,,,,,,,,,\n";
        let rows = read_hours_csv(text).expect("reads");
        assert_eq!(rows.len(), 2);
        let s = &rows[0].schedule;
        assert_eq!(s.week[6], DayHours::Closed);
        assert_eq!(s.holidays, Some(DayHours::Closed));
        assert_eq!(s.closures.len(), 2);
        assert_eq!(s.closures[0].reason, "내부 공사");
        assert_eq!(
            closures_cell(&s.closures),
            "2026-12-24~2026-12-26 내부 공사; 2027-01-02"
        );
        assert_eq!(rows[1].schedule, Schedule::always());

        let bad = "center_id,mon,tue,wed,thu,fri,sat,sun,holidays,closures\n\
                   c1,25:00-01:00,,,,,,,,\n\
                   c2,,,,,,,,매일,\n\
                   c3,,,,,,,,,2026-13-01\n\
                   c4,06:00-23:00,,,,18:00-04:00,03:00-12:00,,,\n";
        let errors = read_hours_csv(bad).err().expect("refused");
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with("2행: 월요일"), "{}", errors[0]);
        assert!(errors[1].starts_with("3행: 공휴일"), "{}", errors[1]);
        assert!(errors[2].starts_with("4행: 휴관 날짜"), "{}", errors[2]);
        assert!(errors[3].contains("토 개점 시간 03:00"), "{}", errors[3]);
        assert!(read_hours_csv("name,mon\nx,24h\n").is_err());
    }
}
