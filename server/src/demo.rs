//! `gymgate-server demo`: a ready-to-look-at server with a center, ~200 members with Korean
//! names, a known pairing code, and simulated members tapping Enter.

use std::time::Duration;

use chrono::{Datelike, Duration as Days, NaiveDate, Utc};
use gymgate_shared::api::NewMember;
use gymgate_shared::hours::Schedule;
use gymgate_shared::{CenterId, MemberId};
use rand::seq::IndexedRandom;

use crate::checkins;
use crate::error::AppError;
use crate::members::{ValidMember, store_member};
use crate::state::AppState;
use crate::store::centers;

pub const DEMO_CENTER_NAME: &str = "강남점";
pub const DEMO_PAIRING_CODE: &str = "DEMO0-GYM00";
pub const DEMO_PIN: &str = "1234";
pub const DEMO_ADMIN_TOKEN: &str = "demo-admin-token";
pub const DEMO_MEMBERS: usize = 200;
/// The first demo member number; the rest follow.
pub const FIRST_MEMBER_NO: u32 = 100_001;

const SURNAMES: [&str; 20] = [
    "김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오", "서", "신", "권", "황",
    "안", "송", "류", "홍",
];
const GIVEN: [&str; 30] = [
    "민준", "서연", "도윤", "지우", "하준", "서윤", "시우", "하은", "주원", "지유", "예준", "수아",
    "지호", "지민", "준서", "채원", "현우", "다은", "건우", "예은", "우진", "소율", "선우", "윤서",
    "연우", "가은", "유준", "지아", "정우", "하린",
];

/// A deterministic list of demo members: the same names on every machine.
pub fn demo_members(today: NaiveDate) -> Vec<NewMember> {
    (0..DEMO_MEMBERS)
        .map(|i| {
            let name = format!(
                "{}{}",
                SURNAMES[i % SURNAMES.len()],
                GIVEN[(i * 7 + i / SURNAMES.len()) % GIVEN.len()]
            );
            // A mix staff will meet: monthly 8-visit and unlimited plans, a few passes about
            // to expire, some birthdays today.
            let (plan, visits) = if i % 3 == 0 {
                ("무제한", None)
            } else {
                ("월 8회", Some(8))
            };
            let valid_until = if i % 10 == 0 {
                today + Days::days(3)
            } else {
                today + Days::days(120)
            };
            let birthday = NaiveDate::from_ymd_opt(
                1985 + (i % 20) as i32,
                if i % 25 == 0 {
                    today.month()
                } else {
                    (i % 12) as u32 + 1
                },
                if i % 25 == 0 {
                    today.day()
                } else {
                    (i % 28) as u32 + 1
                },
            );
            NewMember {
                member_no: (FIRST_MEMBER_NO + i as u32).to_string(),
                name,
                phone: format!(
                    "010-{:04}-{:04}",
                    1000 + i * 37 % 9000,
                    1000 + i * 53 % 9000
                ),
                pin: DEMO_PIN.to_owned(),
                plan: plan.to_owned(),
                visits_per_month: visits,
                valid_from: today - Days::days(30),
                valid_until,
                birthday,
            }
        })
        .collect()
}

/// Creates the demo center and members if the database has none. Returns the center id.
pub async fn seed(state: &AppState) -> Result<CenterId, AppError> {
    let today = gymgate_shared::kst::date_of(Utc::now());
    let members = demo_members(today);
    // One argon2 hash for every demo PIN: the same PIN, and seeding stays instant.
    let pin_hash = state.pins.hash(DEMO_PIN.to_owned()).await?;
    let center_id = state
        .store
        .writer
        .write(move |ctx| -> Result<CenterId, AppError> {
            if let Some(id) = centers::find_by_name(ctx.tx, DEMO_CENTER_NAME)? {
                return Ok(id);
            }
            let id = CenterId::generate();
            let always = Schedule::always();
            let center = |id, name, address| centers::NewCenter {
                id,
                name,
                address,
                schedule: &always,
                requires_approval: false,
            };
            centers::insert(
                ctx.tx,
                &center(&id, DEMO_CENTER_NAME, "서울 강남구 테헤란로 123"),
                ctx.now,
            )?;
            // A second center, so the demo shows that desks see only their own center.
            centers::insert(
                ctx.tx,
                &center(&CenterId::generate(), "홍대점", "서울 마포구 양화로 45"),
                ctx.now,
            )?;
            // Through the same code as the admin API (plans made as needed), with one shared
            // PIN hash instead of 200 argon2 runs.
            for new in members {
                let member = ValidMember {
                    new,
                    pin_hash: pin_hash.clone(),
                    replace_pin: false,
                };
                store_member(ctx, &member, false)?;
            }
            Ok(id)
        })
        .await?;
    crate::http::issue_pairing_code(
        state,
        "demo",
        center_id.clone(),
        DEMO_PAIRING_CODE.to_owned(),
    )
    .await?;
    Ok(center_id)
}

/// Simulated members tapping Enter at `taps_per_second`, through the same code path as the
/// member API (policy, idempotency, event log, push to desks).
pub async fn simulate_taps(state: AppState, center_id: CenterId, taps_per_second: f64) {
    if taps_per_second <= 0.0 {
        return;
    }
    let members: Vec<MemberId> = match state.store.read(crate::store::members::all_ids).await {
        Ok(members) if !members.is_empty() => members,
        Ok(_) => return,
        Err(error) => {
            tracing::error!(%error, "demo cannot list members");
            return;
        }
    };
    let mut every = tokio::time::interval(Duration::from_secs_f64(1.0 / taps_per_second));
    loop {
        every.tick().await;
        if state.shutdown.is_cancelled() {
            return;
        }
        let member = members.choose(&mut rand::rng()).cloned();
        let Some(member) = member else { return };
        let center = center_id.clone();
        let key = uuid::Uuid::new_v4().to_string();
        let outcome = state
            .store
            .writer
            .write(move |ctx| checkins::tap(ctx, &member, &center, &key, None, None))
            .await;
        match outcome {
            Ok(result) => {
                tracing::info!(checkin_id = %result.checkin.id, "demo member tapped Enter")
            }
            Err(error) => tracing::info!(code = error.code(), "demo tap refused"),
        }
    }
}
