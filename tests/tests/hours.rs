//! Opening hours as centers have them, end to end: a night past midnight is one business day,
//! closed weekdays, public holidays and closures refuse check-ins, operators edit hours one
//! center at a time or as a CSV file (all or nothing) and holidays in the console's API, every
//! change audited and sent to the center's desks, which an offline desk then judges by.

use chrono::{Duration, Utc};
use gymgate_shared::api::CheckinStatus;
use gymgate_shared::hours::{Closure, DayHours, Schedule};
use gymgate_shared::protocol::{EventKind, RecordStatus};
use gymgate_shared::{kst, policy};
use gymgate_tests::member::logins;
use gymgate_tests::{DeskClient, Fixture, RunningDesk, TestServer, desk_core};
use serde_json::json;

fn day(text: &str) -> DayHours {
    DayHours::parse(text).unwrap_or(DayHours::Closed)
}

/// At a center open 06:00–02:00, 23:30 and 00:30 are one business day (the second visit is
/// refused as "already today"), 06:30 the next; at a center open all day they are two.
#[tokio::test]
async fn a_night_past_midnight_is_one_business_day() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let late = fx.center("심야점").await?;
    let always = fx.center("종일점").await?;
    let set = fx
        .admin
        .set_hours(late.id.as_str(), &Schedule::uniform(day("06:00-02:00")))
        .await?;
    assert_eq!(set.hours, "06:00-02:00");
    let numbers = fx.members("NB", 2, None).await?;
    let members = logins(&server.url(), &numbers).await?;
    // Three days ago, so every moment is in the past and within a desk's offline window.
    let evening = kst::start_of(kst::date_of(Utc::now()) - Duration::days(3));
    let (t2330, t0030, t0630) = (
        evening + Duration::minutes(23 * 60 + 30),
        evening + Duration::minutes(24 * 60 + 30),
        evening + Duration::minutes(30 * 60 + 30),
    );
    let late_desk = fx.desk(late.id.as_str()).await?;
    let (mut ws, welcome) = DeskClient::join(&server.url(), &late_desk.token, None, 0).await?;
    assert_eq!(
        welcome.hours.map(|h| h.schedule),
        Some(Schedule::uniform(day("06:00-02:00")))
    );
    let member = &members[0].session.member.id;
    assert_eq!(ws.record_at(member, t2330).await?.0, RecordStatus::Accepted);
    let (status, _, reason) = ws.record_at(member, t0030).await?;
    assert_eq!(
        (status, reason.as_deref()),
        (RecordStatus::Conflict, Some("already_checked_in_today"))
    );
    assert_eq!(ws.record_at(member, t0630).await?.0, RecordStatus::Accepted);
    // 02:30 is after closing: the visit is kept for operators as disputed, closed.
    let (status, _, reason) = ws
        .record_at(
            &members[1].session.member.id,
            evening + Duration::minutes(26 * 60 + 30),
        )
        .await?;
    assert_eq!(
        (status, reason.as_deref()),
        (RecordStatus::Conflict, Some("center_closed"))
    );

    let always_desk = fx.desk(always.id.as_str()).await?;
    let (mut ws, _) = DeskClient::join(&server.url(), &always_desk.token, None, 0).await?;
    let other = &members[1].session.member.id;
    assert_eq!(ws.record_at(other, t2330).await?.0, RecordStatus::Accepted);
    assert_eq!(ws.record_at(other, t0030).await?.0, RecordStatus::Accepted);
    Ok(())
}

/// A weekday off, a public holiday the center closes on and a closure each refuse a tap as
/// `center_closed` (the app says 지금은 센터 운영 시간이 아닙니다); the same center admits once the day is open again. Every change is
/// audited and reaches the center's connected desk as an `hours` event.
#[tokio::test]
async fn days_off_holidays_and_closures_refuse_taps_and_reach_desks() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("휴무점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let (mut ws, welcome) = DeskClient::join(&url, &desk.token, None, 0).await?;
    let numbers = fx.members("HD", 4, None).await?;
    let members = logins(&url, &numbers).await?;
    let today = kst::date_of(Utc::now());
    let weekday = usize::try_from(chrono::Datelike::weekday(&today).num_days_from_monday())?;
    // The desk is told the shipped holidays from yesterday on (2027's Chuseok among them).
    let told = welcome.hours.map(|h| h.holidays).unwrap_or_default();
    assert!(told.iter().all(|d| *d >= today - Duration::days(1)));
    if today < "2027-09-15".parse()? {
        assert!(told.contains(&"2027-09-15".parse()?), "{told:?}");
    }

    let refused =
        |answer: &gymgate_tests::member::TapAnswer| answer.error_code().map(str::to_owned);
    let closed = Some("center_closed".to_owned());

    // Today's weekday off.
    let mut off = Schedule::always();
    off.week[weekday] = DayHours::Closed;
    fx.admin.set_hours(center.id.as_str(), &off).await?;
    let event = ws.next_event().await?;
    assert_eq!(event.kind, EventKind::Hours);
    assert_eq!(event.data["schedule"]["week"][weekday], json!("closed"));
    let answer = members[0].tap(center.id.as_str(), "off-1").await?;
    assert_eq!(refused(&answer), closed, "{answer:?}");

    // Holidays closed; today made a holiday, then not.
    let mut holidays_off = Schedule::always();
    holidays_off.holidays = Some(DayHours::Closed);
    fx.admin
        .set_hours(center.id.as_str(), &holidays_off)
        .await?;
    fx.admin
        .put_holiday(&today.to_string(), "임시공휴일")
        .await?;
    let answer = members[1].tap(center.id.as_str(), "hol-1").await?;
    assert_eq!(refused(&answer), closed, "{answer:?}");
    fx.admin.delete_holiday(&today.to_string()).await?;
    let answer = members[1].tap(center.id.as_str(), "hol-2").await?;
    assert_eq!(answer.checkin()?.status, CheckinStatus::Admitted);
    assert!(
        !fx.admin.holidays().await?.iter().any(|h| h.date == today),
        "removed"
    );

    // A closure over today (and tomorrow).
    let mut closure = Schedule::always();
    closure.closures.push(Closure {
        from: today,
        to: today + Duration::days(1),
        reason: "내부 공사".into(),
    });
    fx.admin.set_hours(center.id.as_str(), &closure).await?;
    let answer = members[2].tap(center.id.as_str(), "cl-1").await?;
    assert_eq!(refused(&answer), closed, "{answer:?}");
    fx.admin
        .set_hours(center.id.as_str(), &Schedule::always())
        .await?;
    let answer = members[2].tap(center.id.as_str(), "cl-2").await?;
    assert_eq!(answer.checkin()?.status, CheckinStatus::Admitted);

    // The desk heard each schedule, in order, the holidays included.
    let mut schedules = Vec::new();
    let mut holiday_lists = Vec::new();
    for _ in 0..30 {
        let Ok(Some(event)) = ws.next_within(std::time::Duration::from_millis(500)).await else {
            break;
        };
        if let gymgate_shared::protocol::ServerMessage::Event(e) = event
            && e.kind == EventKind::Hours
        {
            let hours: gymgate_shared::hours::CenterHours = serde_json::from_value(e.data)?;
            holiday_lists.push(hours.holidays.contains(&today));
            schedules.push(hours.schedule);
        }
    }
    assert_eq!(
        schedules,
        vec![
            holidays_off.clone(),
            holidays_off.clone(),
            holidays_off,
            closure.clone(),
            Schedule::always()
        ]
    );
    assert!(holiday_lists[1], "the holiday reached the desk");
    assert!(!holiday_lists[2], "and its removal");

    let audit = fx.admin.audit().await?;
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "center.hours").count(), 4);
    assert!(actions.contains(&"holiday.set") && actions.contains(&"holiday.remove"));
    let closure_json = serde_json::to_value(&closure)?;
    let entry = audit
        .iter()
        .find(|a| a.action == "center.hours" && a.after.as_ref() == Some(&closure_json))
        .ok_or_else(|| anyhow::anyhow!("the closure's audit entry"))?;
    assert_eq!(entry.center_id.as_ref(), Some(&center.id));
    assert!(entry.before.is_some());

    // An impossible schedule and a bad date are refused in Korean; nothing changes.
    let mut impossible = Schedule::uniform(day("06:00-23:00"));
    impossible.week[4] = day("18:00-04:00");
    impossible.week[5] = day("03:00-12:00");
    let error = fx
        .admin
        .set_hours(center.id.as_str(), &impossible)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        error.contains("invalid_hours") && error.contains("개점 시간"),
        "{error}"
    );
    let error = fx
        .admin
        .put_holiday("2026-13-01", "없는 날")
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("invalid_date"), "{error}");
    Ok(())
}

/// The hours CSV round-trips; a file with one bad line changes nothing and names the line; an
/// unknown center is refused the same way.
#[tokio::test]
async fn the_hours_csv_round_trips_and_a_bad_file_changes_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let a = fx.center("가점").await?;
    let b = fx.center("나점").await?;
    let csv = String::from_utf8(fx.admin.hours_csv().await?)?;
    assert!(csv.starts_with('\u{feff}'), "Excel reads it as UTF-8");
    assert!(
        csv.contains(&format!("{},가점,24h,24h,24h,24h,24h,24h,24h,,", a.id)),
        "{csv}"
    );

    let header = "center_id,center_name,mon,tue,wed,thu,fri,sat,sun,holidays,closures";
    let good = format!(
        "{header}\n{},가점,06:00-23:00,06:00-23:00,06:00-23:00,06:00-23:00,06:00-02:00,09:00-18:00,휴무,휴무,2026-12-24~2026-12-26 내부 공사\n{},나점,24h,24h,24h,24h,24h,24h,24h,,\n",
        a.id, b.id
    );
    let result = fx.admin.put_hours_csv(good.into_bytes()).await?;
    assert_eq!(result, json!({ "changed": 1, "rows": 2 }));
    let centers = fx.admin.centers().await?;
    let stored = centers
        .iter()
        .find(|c| c.id == a.id)
        .ok_or_else(|| anyhow::anyhow!("center a"))?;
    assert_eq!(
        stored.hours,
        "월–목 06:00-23:00 · 금 06:00-02:00 · 토 09:00-18:00 · 일 휴무 · 공휴일 휴무 · 휴관 1건"
    );
    assert_eq!(stored.schedule.closures[0].reason, "내부 공사");
    // What was set comes back out as it went in.
    let again = String::from_utf8(fx.admin.hours_csv().await?)?;
    assert!(
        again.contains("06:00-02:00,09:00-18:00,closed,closed,2026-12-24~2026-12-26 내부 공사"),
        "{again}"
    );

    // One bad line: nothing changes, the line is named. CP949 (Excel's Korean default) reads.
    let bad = format!(
        "{header}\n{},가점,24h,24h,24h,24h,24h,24h,24h,,\n{},나점,25:00-01:00,,,,,,,,\n",
        a.id, b.id
    );
    let (bytes, _, _) = encoding_rs::EUC_KR.encode(&bad);
    let error = fx
        .admin
        .put_hours_csv(bytes.into_owned())
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("3행: 월요일"), "{error}");
    let unknown = format!("{header}\nno-such-center,,24h,24h,24h,24h,24h,24h,24h,,\n");
    let error = fx
        .admin
        .put_hours_csv(unknown.into_bytes())
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("2행: 센터"), "{error}");
    let after = fx.admin.centers().await?;
    assert_eq!(
        after
            .iter()
            .find(|c| c.id == a.id)
            .map(|c| c.schedule.clone()),
        Some(stored.schedule.clone()),
        "a refused file changed nothing"
    );
    Ok(())
}

/// An offline iced desk core judges by the hours its server sent: a closure today refuses a
/// roster check-in with the center-closed reason, as the server would.
#[tokio::test]
async fn an_offline_desk_refuses_on_a_day_its_center_is_closed() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("점검점").await?;
    let numbers = fx.members("OD", 1, Some(8)).await?;
    let members = logins(&server.url(), &numbers).await?;
    let paired = fx.desk(center.id.as_str()).await?;
    // The member visited before, so the desk's roster knows them.
    desk_core::visited_yesterday(&server.url(), &paired.token, &members).await?;
    let today = kst::date_of(Utc::now());
    let mut closure = Schedule::always();
    closure.closures.push(Closure {
        from: today,
        to: today,
        reason: "정기 점검".into(),
    });
    fx.admin.set_hours(center.id.as_str(), &closure).await?;

    let dir = tempfile::tempdir()?;
    let mut desk =
        RunningDesk::start(dir.path(), desk_core::pairing(&server.url(), &paired)).await?;
    desk.wait_online().await?;
    let member = members[0].session.member.id.clone();
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
    while desk.core.search("회원0".into()).await.is_empty() {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the roster never came"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _data = server.stop().await?;
    desk.wait_offline().await?;
    let refused = desk.core.check_in(&member).await;
    assert!(
        matches!(
            refused,
            Err(gymgate_desk_core::CheckinError::Refused(
                policy::Refusal::CenterClosed
            ))
        ),
        "{refused:?}"
    );
    desk.stop().await
}
