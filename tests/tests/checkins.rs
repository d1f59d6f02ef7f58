//! Check-in rules end to end: idempotency, policy refusals, desk decisions, outbox records.

use std::time::Duration;

use chrono::Utc;
use gymgate_shared::api::{CheckinStatus, NewCenter};
use gymgate_shared::protocol::{
    Decision, DeskMessage, EventKind, EventPayload, OutboxRecord, RecordMethod, RecordStatus,
    ServerMessage,
};
use gymgate_shared::{LocalId, MemberId};
use gymgate_tests::{DeskClient, Fixture, MemberClient, PIN, TestServer};

#[tokio::test]
async fn the_same_idempotency_key_twice_creates_one_checkin() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let other = fx.center("홍대점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let members = fx.members("I", 1, Some(8)).await?;
    let (mut ws, _) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;
    let member = MemberClient::login(&server.url(), &members[0], PIN).await?;

    let (first, second) = tokio::join!(
        member.tap(center.id.as_str(), "same-key"),
        member.tap(center.id.as_str(), "same-key")
    );
    let (first, second) = (first?, second?);
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 201], "one created, one repeated");
    assert_eq!(first.checkin()?.id, second.checkin()?.id);
    let third = member.tap(center.id.as_str(), "same-key").await?;
    assert_eq!(third.status(), 200);
    assert_eq!(third.checkin()?.id, first.checkin()?.id);

    ws.next_event().await?;
    ws.expect_silence(Duration::from_millis(300)).await?;

    // The key belongs to that tap: reusing it elsewhere is refused, not silently mapped.
    let reused = member.tap(other.id.as_str(), "same-key").await?;
    assert_eq!(reused.status(), 409);
    assert_eq!(reused.error_code(), Some("idempotency_key_reused"));
    // A new key for the same center and day is the once-a-day rule.
    let again = member.tap(center.id.as_str(), "new-key").await?;
    assert_eq!(again.status(), 403);
    assert_eq!(again.error_code(), Some("already_checked_in_today"));
    Ok(())
}

#[tokio::test]
async fn refusals_carry_the_contracts_codes() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let http = reqwest::Client::new();
    let today = gymgate_shared::kst::date_of(Utc::now());
    let csv = format!(
        "member_no,name,phone,pin,plan,visits_per_month,valid_from,valid_until,birthday\n\
         OLD1,만료,010-1111-2222,{PIN},월 8회,8,2020-01-01,2020-12-31,\n\
         ONE1,한번,010-1111-3333,{PIN},월 1회,1,{today},{today},\n\
         BLK1,정지,010-1111-4444,{PIN},월 8회,8,{today},{today},\n"
    );
    let report = fx.admin.import_members(csv).await?;
    assert_eq!(report.created, 3, "{report:?}");
    fx.admin
        .block_member(
            "BLK1",
            &gymgate_shared::api::BlockRequest {
                blocked: true,
                reason: None,
            },
        )
        .await?;

    let expired = MemberClient::login(&server.url(), "OLD1", PIN).await?;
    let answer = expired.tap(center.id.as_str(), "k").await?;
    assert_eq!(
        (answer.status().as_u16(), answer.error_code()),
        (403, Some("pass_expired"))
    );

    let blocked = MemberClient::login(&server.url(), "BLK1", PIN).await?;
    let answer = blocked.tap(center.id.as_str(), "k").await?;
    assert_eq!(
        (answer.status().as_u16(), answer.error_code()),
        (403, Some("member_blocked"))
    );

    let once = MemberClient::login(&server.url(), "ONE1", PIN).await?;
    let second_center = fx.center("홍대점").await?;
    assert_eq!(once.tap(center.id.as_str(), "k1").await?.status(), 201);
    let answer = once.tap(second_center.id.as_str(), "k2").await?;
    assert_eq!(
        (answer.status().as_u16(), answer.error_code()),
        (403, Some("no_visits_left"))
    );

    let answer = once.tap("no-such-center", "k3").await?;
    assert_eq!(
        (answer.status().as_u16(), answer.error_code()),
        (404, Some("unknown_center"))
    );

    let missing_key = http
        .post(format!("{}/api/v1/checkins", server.url()))
        .bearer_auth(&once.token)
        .json(&serde_json::json!({"center_id": center.id}))
        .send()
        .await?;
    assert_eq!(missing_key.status(), 400);
    let body: serde_json::Value = missing_key.json().await?;
    assert_eq!(body["error"]["code"], "missing_idempotency_key");

    let bad_body = http
        .post(format!("{}/api/v1/checkins", server.url()))
        .bearer_auth(&once.token)
        .header("Idempotency-Key", "x")
        .header("content-type", "application/json")
        .body("{\"center_id\": ")
        .send()
        .await?;
    assert_eq!(bad_body.status(), 400);
    let body: serde_json::Value = bad_body.json().await?;
    assert_eq!(body["error"]["code"], "invalid_body");

    let huge = http
        .post(format!("{}/api/v1/checkins", server.url()))
        .bearer_auth(&once.token)
        .header("Idempotency-Key", "y")
        .header("content-type", "application/json")
        .body(format!("{{\"center_id\": \"{}\"}}", "x".repeat(200_000)))
        .send()
        .await?;
    assert_eq!(huge.status(), 413);
    Ok(())
}

#[tokio::test]
async fn taps_beyond_the_members_rate_limit_get_429() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| c.limits.taps_per_member_per_minute = 3).await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let members = fx.members("L", 1, None).await?;
    let member = MemberClient::login(&server.url(), &members[0], PIN).await?;
    let mut codes = Vec::new();
    for i in 0..5 {
        codes.push(
            member
                .tap(center.id.as_str(), &format!("k{i}"))
                .await?
                .status()
                .as_u16(),
        );
    }
    assert_eq!(codes, [201, 403, 403, 429, 429]);
    Ok(())
}

#[tokio::test]
async fn staff_decisions_change_the_checkin_and_reach_every_desk() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx
        .center_with(NewCenter {
            name: "필라테스".into(),
            address: String::new(),
            hours: None,
            schedule: None,
            requires_approval: true,
        })
        .await?;
    let desk1 = fx.desk(center.id.as_str()).await?;
    let desk2 = fx.desk(center.id.as_str()).await?;
    let members = fx.members("D", 2, None).await?;
    let (mut ws1, _) = DeskClient::join(&server.url(), &desk1.token, None, 0).await?;
    let (mut ws2, _) = DeskClient::join(&server.url(), &desk2.token, None, 0).await?;
    let member = MemberClient::login(&server.url(), &members[0], PIN).await?;

    let pending = member
        .tap(center.id.as_str(), "k")
        .await?
        .checkin()?
        .clone();
    assert_eq!(pending.status, CheckinStatus::Pending);
    for ws in [&mut ws1, &mut ws2] {
        let EventPayload::Checkin(card) = ws.next_event().await?.payload()? else {
            anyhow::bail!("expected a check-in");
        };
        assert!(
            card.flags
                .contains(&gymgate_shared::api::CheckinFlag::PendingApproval)
        );
    }

    ws1.send(&DeskMessage::Decide {
        checkin_id: pending.id.clone(),
        decision: Decision::Admit,
        reason: None,
    })
    .await?;
    for ws in [&mut ws1, &mut ws2] {
        let event = ws.next_event().await?;
        assert_eq!(event.kind, EventKind::CheckinUpdated);
        assert_eq!(event.data["checkin"]["status"], "admitted");
        assert_eq!(event.data["checkin"]["rev"], 2);
    }
    assert_eq!(
        member.checkin(pending.id.as_str()).await?.checkin()?.status,
        CheckinStatus::Admitted
    );

    // Admitting twice is refused; voiding works and is recorded with who and why.
    ws2.send(&DeskMessage::Decide {
        checkin_id: pending.id.clone(),
        decision: Decision::Admit,
        reason: None,
    })
    .await?;
    match ws2.next().await? {
        ServerMessage::Error { code, .. } => assert_eq!(code, "invalid_transition"),
        other => anyhow::bail!("expected an error, got {other:?}"),
    }
    ws2.send(&DeskMessage::Decide {
        checkin_id: pending.id.clone(),
        decision: Decision::Void,
        reason: Some("잘못 누름".into()),
    })
    .await?;
    ws2.next_event().await?;
    let voided = member
        .checkin(pending.id.as_str())
        .await?
        .checkin()?
        .clone();
    assert_eq!(voided.status, CheckinStatus::Voided);
    let last = voided
        .history
        .last()
        .ok_or_else(|| anyhow::anyhow!("no history"))?;
    assert_eq!(last.by, format!("desk:{}", desk2.desk_id));
    assert_eq!(last.reason.as_deref(), Some("잘못 누름"));
    // A voided visit does not count: the member may come in again today.
    assert_eq!(member.tap(center.id.as_str(), "k2").await?.status(), 201);
    Ok(())
}

#[tokio::test]
async fn outbox_records_are_accepted_once_and_conflicts_are_reported() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let members = fx.members("O", 2, None).await?;
    let (mut ws, _) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;
    let m0 = MemberClient::login(&server.url(), &members[0], PIN).await?;
    let m1 = MemberClient::login(&server.url(), &members[1], PIN).await?;

    let record = |local: &LocalId, member: &MemberId, method| {
        DeskMessage::Record(OutboxRecord {
            local_id: local.clone(),
            member_id: member.clone(),
            at: Utc::now() - chrono::Duration::minutes(5),
            method,
            proof: None,
            manual: None,
        })
    };
    let recorded = |message: ServerMessage| match message {
        ServerMessage::Recorded {
            status,
            checkin_id,
            reason,
            ..
        } => Ok((status, checkin_id, reason)),
        other => Err(anyhow::anyhow!("expected recorded, got {other:?}")),
    };

    let local = LocalId::generate();
    ws.send(&record(&local, &m0.session.member.id, RecordMethod::Roster))
        .await?;
    let (status, checkin_id, _) = recorded(ws.next().await?)?;
    assert_eq!(status, RecordStatus::Accepted);
    let event = ws.next_event().await?;
    assert_eq!(event.data["checkin"]["local_id"], local.as_str());
    assert_eq!(event.data["checkin"]["method"], "roster");

    // Sent again (the desk did not hear the answer): duplicate, same check-in, no new event.
    ws.send(&record(&local, &m0.session.member.id, RecordMethod::Roster))
        .await?;
    let (status, again, _) = recorded(ws.next().await?)?;
    assert_eq!((status, &again), (RecordStatus::Duplicate, &checkin_id));
    ws.expect_silence(Duration::from_millis(300)).await?;

    // The member also tapped in the app: the offline record of the same visit conflicts.
    m1.tap(center.id.as_str(), "app").await?.checkin()?;
    ws.next_event().await?;
    ws.send(&record(
        &LocalId::generate(),
        &m1.session.member.id,
        RecordMethod::Roster,
    ))
    .await?;
    let (status, disputed, reason) = recorded(ws.next().await?)?;
    assert_eq!(status, RecordStatus::Conflict);
    assert_eq!(reason.as_deref(), Some("already_checked_in_today"));
    // The visit is kept, as a disputed check-in the desk hears of like any other.
    let disputed = disputed.ok_or_else(|| anyhow::anyhow!("no disputed check-in"))?;
    let event = ws.next_event().await?;
    assert_eq!(event.data["checkin"]["id"], disputed.as_str());
    assert_eq!(event.data["checkin"]["status"], "disputed");

    // Unknown members and unverifiable passes are rejected.
    ws.send(&record(
        &LocalId::generate(),
        &MemberId::new("nobody"),
        RecordMethod::Roster,
    ))
    .await?;
    let (status, _, reason) = recorded(ws.next().await?)?;
    assert_eq!(
        (status, reason.as_deref()),
        (RecordStatus::Rejected, Some("unknown_member"))
    );
    ws.send(&record(
        &LocalId::generate(),
        &m0.session.member.id,
        RecordMethod::Pass,
    ))
    .await?;
    // A pass record without its proof: the desk says it let someone in, so it is kept,
    // disputed, for operators.
    let (status, _, reason) = recorded(ws.next().await?)?;
    assert_eq!(
        (status, reason.as_deref()),
        (RecordStatus::Conflict, Some("pass_malformed"))
    );
    assert_eq!(ws.next_event().await?.data["checkin"]["status"], "disputed");
    ws.expect_silence(Duration::from_millis(300)).await?;
    Ok(())
}

#[tokio::test]
async fn a_blocked_member_is_announced_to_desks_that_know_them() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let members = fx.members("N", 1, None).await?;
    let member = MemberClient::login(&server.url(), &members[0], PIN).await?;
    member.tap(center.id.as_str(), "k").await?.checkin()?;
    let (mut ws, welcome) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;
    assert_eq!(welcome.head_seq, 1);

    fx.admin
        .block_member(
            &members[0],
            &gymgate_shared::api::BlockRequest {
                blocked: true,
                reason: None,
            },
        )
        .await?;
    // Every desk hears that the member's offline passes stop working, then the desks that
    // know the member get the member as blocked.
    let EventPayload::Revocation(revocation) = ws.next_event().await?.payload()? else {
        anyhow::bail!("expected a revocation event");
    };
    assert_eq!(revocation.member_id, member.session.member.id);
    let event = ws.next_event().await?;
    let EventPayload::Member(roster) = event.payload()? else {
        anyhow::bail!("expected a member event");
    };
    assert!(roster.blocked);

    let notice = fx
        .admin
        .post_notice(&gymgate_shared::api::NewNotice {
            severity: gymgate_shared::api::Severity::Warning,
            text_ko: "서버 점검: 체크인은 계속 저장됩니다".into(),
            text_en: "Maintenance: check-ins are still saved".into(),
            ends_at: None,
            center_ids: Vec::new(),
        })
        .await?;
    let event = ws.next_event().await?;
    assert_eq!(event.kind, EventKind::Notice);
    fx.admin.clear_notice(notice.id.as_str()).await?;
    let EventPayload::Notice(cleared) = ws.next_event().await?.payload()? else {
        anyhow::bail!("expected a notice");
    };
    assert!(cleared.cleared);
    Ok(())
}
