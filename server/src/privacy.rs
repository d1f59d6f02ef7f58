//! A member's rights over their own data (Korean PIPA): the download of everything gymgate
//! keeps about them, and the deletion of their account, which erases the person and keeps the
//! visits settlement has paid or will pay (docs/operations.md, "Members' own data").

use std::io::Write;

use gymgate_shared::MemberId;
use gymgate_shared::api::MemberVisit;

use crate::error::AppError;
use crate::store::WriteCtx;
use crate::store::members::OwnData;

/// How long a prepared download stays behind its link.
pub const EXPORT_DAYS: i64 = 7;
/// Downloads one member may ask for in a day (each reads all their visits).
pub const EXPORTS_PER_DAY: u64 = 3;

const README: &str = "gymgate 내 데이터 / my data\n\
\n\
profile.json   회원 정보 (이름, 전화번호, 이용권, 생일) / profile\n\
visits.json    모든 방문과 그 변경 이력, 증거, 확인 여부, 이의 내용 / every visit with its history\n\
visits.csv     같은 방문을 표로 (엑셀) / the same visits as a spreadsheet\n\
devices.json   오프라인 패스를 받은 휴대폰의 공개 키, 로그인 세션 (토큰은 없음) / pass devices and sessions\n\
consents.json  동의 기록 / consents\n\
photo.jpg      회원 사진 (있을 때) / photo, if any\n\
\n\
시각은 UTC(RFC 3339)이고 visits.csv의 시각은 한국 시간입니다. / Times are UTC; visits.csv is in Korean time.\n";

/// The zip of a member's own data, and nothing of anyone else's: every part is read by their
/// id alone.
pub fn export_zip(
    own: &OwnData,
    visits: &[MemberVisit],
    statements: &[(String, String)],
    photo: Option<&[u8]>,
) -> Result<Vec<u8>, String> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut add = |name: &str, bytes: &[u8]| -> Result<(), String> {
        zip.start_file(name, options)
            .map_err(|e| format!("zip {name}: {e}"))?;
        zip.write_all(bytes).map_err(|e| format!("zip {name}: {e}"))
    };
    let json = |value: &serde_json::Value| {
        serde_json::to_vec_pretty(value).map_err(|e| format!("json: {e}"))
    };
    add("README.txt", README.as_bytes())?;
    add(
        "profile.json",
        &json(&serde_json::json!({
            "member_no": own.member_no,
            "name": own.name,
            "phone": own.phone,
            "plan": own.plan,
            "visits_per_month": own.visits_per_month,
            "valid_from": own.valid_from,
            "valid_until": own.valid_until,
            "birthday": own.birthday,
            "blocked": own.blocked,
            "created_at": own.created_at,
        }))?,
    )?;
    let statement_of = |id: &str| {
        statements
            .iter()
            .find(|(checkin, _)| checkin == id)
            .map(|(_, s)| s.clone())
    };
    let visit_values: Vec<serde_json::Value> = visits
        .iter()
        .map(|v| {
            serde_json::json!({
                "id": v.checkin.id,
                "center": v.checkin.center_name,
                "at": v.checkin.at,
                "status": v.checkin.status.as_str(),
                "method": v.checkin.method.as_str(),
                "evidence": v.evidence.as_str(),
                "confirmation": v.confirmation.as_str(),
                "history": v.checkin.history,
                "dispute": v.checkin.dispute,
                "my_statement": statement_of(v.checkin.id.as_str()),
            })
        })
        .collect();
    add(
        "visits.json",
        &json(&serde_json::Value::Array(visit_values))?,
    )?;
    let csv = crate::csv_out::to_csv(
        &[
            "방문 ID visit_id",
            "센터 center",
            "시각(한국) at_kst",
            "상태 status",
            "증거 evidence",
            "확인 confirmation",
        ],
        visits.iter().map(|v| {
            vec![
                v.checkin.id.to_string(),
                v.checkin.center_name.clone(),
                v.checkin
                    .at
                    .with_timezone(&gymgate_shared::kst::offset())
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string(),
                v.checkin.status.as_str().to_owned(),
                v.evidence.as_str().to_owned(),
                v.confirmation.as_str().to_owned(),
            ]
        }),
    )
    .map_err(|e| format!("csv: {e}"))?;
    add("visits.csv", &csv)?;
    add(
        "devices.json",
        &json(&serde_json::json!({
            "offline_pass_devices": own.pass_devices,
            "sessions": own.sessions.iter().map(|(created, expires)| {
                serde_json::json!({"created_at": created, "expires_at": expires})
            }).collect::<Vec<_>>(),
        }))?,
    )?;
    add(
        "consents.json",
        &json(&serde_json::json!({
            "location": {
                "given": own.consents.location,
                "at": own.consents.location_at,
                "what": "입장할 때 휴대폰 위치를 보내 센터와의 거리만 기록 / the phone's location sent with each tap; only the distance to the center is kept",
            },
        }))?,
    )?;
    if let Some(photo) = photo {
        add("photo.jpg", photo)?;
    }
    zip.finish()
        .map(std::io::Cursor::into_inner)
        .map_err(|e| format!("zip: {e}"))
}

/// Deletes a member's account: their personal data is erased or pseudonymised, their passes
/// stop working at every desk (offline too), every desk that knows them gets the pseudonymous
/// row in place of theirs (no name, no phone, no photo: the desk deletes its copy of the
/// photo), and the visits stay under the pseudonymous id for settlement. Audited.
pub fn delete_account(ctx: &mut WriteCtx<'_>, member: &MemberId, by: &str) -> Result<(), AppError> {
    let member_no = crate::store::members::erase(ctx.tx, member, ctx.now)?.ok_or_else(|| {
        AppError::not_found("unknown_member", "회원을 찾을 수 없습니다 / no such member")
    })?;
    crate::members::revoke_passes(ctx, member)?;
    // Every desk that may hold them: where they came, and where a desk looked them up.
    let Some(row) = crate::store::members::load(ctx.tx, member)? else {
        return Err(AppError::Internal("the erased member's row is gone".into()));
    };
    let history = crate::store::checkins::visit_history(ctx.tx, member, None, ctx.now)?;
    let payload = gymgate_shared::protocol::EventPayload::Member(row.roster(&history));
    let mut centers = crate::store::checkins::centers_visited_by(ctx.tx, member, ctx.now)?;
    centers.extend(crate::store::audit::centers_that_looked_up(
        ctx.tx, &member_no,
    )?);
    centers.sort();
    centers.dedup();
    for center in centers {
        ctx.append_event(&center, &payload)?;
    }
    ctx.audit(
        by,
        "member.delete",
        &crate::store::audit::Subject {
            member_no: Some(member_no),
            target: Some(member.to_string()),
            ..Default::default()
        },
        None,
        Some(&serde_json::json!({
            "personal_data": "erased",
            "visits": "kept under the pseudonymous id",
        })),
    )?;
    Ok(())
}
