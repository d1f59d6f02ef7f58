//! The desk core (cache, outbox, link) against a real server on port 0, through a proxy
//! that cuts the link.

use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use gymgate_desk_core::CoreEvent;
use gymgate_desk_core::cache::Cache;
use gymgate_shared::MemberId;
use gymgate_shared::api::{CheckinStatus, RosterMember};
use gymgate_shared::protocol::RecordStatus;
use gymgate_tests::desk_core::{pairing, visited_yesterday};
use gymgate_tests::{Fixture, MemberClient, PIN, Proxy, RunningDesk, TestServer};

#[tokio::test]
async fn live_checkins_are_stored_shown_and_acked() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let paired = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("C", 1, Some(8)).await?;
    let data = tempfile::tempdir()?;
    let mut desk = RunningDesk::start(data.path(), pairing(&server.url(), &paired)).await?;
    desk.wait_online().await?;

    let member = MemberClient::login(&server.url(), &numbers[0], PIN).await?;
    let tapped = member
        .tap(center.id.as_str(), "k")
        .await?
        .checkin()?
        .clone();
    let card = desk
        .wait_for("check-in", |e| match e {
            CoreEvent::Checkin(card) => Some(card.clone()),
            _ => None,
        })
        .await?;
    assert_eq!(card.checkin.id, tapped.id);
    assert_eq!(card.member.name, "회원0");
    let state = desk.core.state().await?;
    assert_eq!(state.today.len(), 1);
    assert_eq!(state.cursor.last_seq, 1);
    assert_eq!(state.center_name.as_deref(), Some("강남점"));
    desk.stop().await?;

    // The server learned the ack (stored when the desk disconnects).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let desks = fx.admin.desks().await?;
        if desks.iter().any(|d| d.acked_seq == 1) {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "ack never recorded: {desks:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// A stand-in server that checks, at the moment the ack arrives, that the desk's cache
/// already holds the event.
#[tokio::test]
async fn the_desk_acks_only_after_the_event_is_committed() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let data = tempfile::tempdir()?;
    let cache_path = data.path().join("cache.db");
    let fake = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let mut ws = tokio_tungstenite::accept_async(tcp).await?;
        let hello = ws
            .next()
            .await
            .ok_or_else(|| anyhow::anyhow!("no hello"))??;
        anyhow::ensure!(hello.to_text()?.contains("\"hello\""), "expected hello");
        let welcome = serde_json::json!({"type": "welcome", "desk_id": "d", "center_id": "c",
            "epoch": "e", "head_seq": 1, "server_time": Utc::now(), "resumed": true});
        ws.send(welcome.to_string().into()).await?;
        let card = serde_json::json!({
            "checkin": {"id": "c1", "member_id": "m1", "center_id": "c", "center_name": "강남점",
                        "status": "admitted", "method": "app", "at": Utc::now(), "rev": 1, "history": []},
            "member": {"id": "m1", "member_no": "1", "name": "김민준", "phone_last4": "1234",
                       "plan": "월 8회", "valid_from": "2026-01-01", "valid_until": "2027-12-31",
                       "visits_per_month": 8, "visits_left": 7, "blocked": false},
            "flags": []});
        let event = serde_json::json!({"type": "event", "seq": 1, "at": Utc::now(),
            "kind": "checkin", "data": card});
        ws.send(event.to_string().into()).await?;
        loop {
            let frame = ws
                .next()
                .await
                .ok_or_else(|| anyhow::anyhow!("desk left"))??;
            if frame.to_text()?.contains("\"ack\"") {
                // Read the desk's cache file through a separate connection right now.
                let conn = rusqlite_open(&cache_path)?;
                return Ok::<_, anyhow::Error>(conn);
            }
        }
    });
    let pairing = gymgate_desk_core::config::Pairing {
        server_url: format!("http://{addr}"),
        desk_id: gymgate_shared::DeskId::new("d"),
        center_id: gymgate_shared::CenterId::new("c"),
        desk_name: "test".into(),
        token: "t".into(),
        servers: Vec::new(),
    };
    let desk = RunningDesk::start(data.path(), pairing).await?;
    let (last_seq, cards) = tokio::time::timeout(Duration::from_secs(10), fake).await???;
    assert_eq!(
        last_seq, 1,
        "the cursor was committed before the ack was sent"
    );
    assert_eq!(cards, 1, "the card was committed before the ack was sent");
    desk.core.shutdown();
    Ok(())
}

fn rusqlite_open(path: &std::path::Path) -> anyhow::Result<(u64, u64)> {
    let (cache, _) = Cache::open(path)?;
    let cursor = cache.cursor()?;
    let cards = cache.today(Utc::now())?.len() as u64;
    Ok((cursor.last_seq, cards))
}

#[tokio::test]
async fn the_outbox_survives_restarts_and_every_result_kind_is_stored() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let proxy = Proxy::start(server.addr).await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let paired = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("O", 2, Some(8)).await?;
    let mut members = Vec::new();
    for no in &numbers {
        members.push(MemberClient::login(&server.url(), no, PIN).await?);
    }
    visited_yesterday(&server.url(), &paired.token, &members).await?;
    let desk_pairing = pairing(&proxy.url(), &paired);
    let data = tempfile::tempdir()?;

    // First run: sync the roster, then stop.
    let mut desk = RunningDesk::start(data.path(), desk_pairing.clone()).await?;
    desk.wait_online().await?;
    let roster = desk.core.search("회원".into()).await;
    assert_eq!(roster.len(), 2, "both visitors are in the roster");
    desk.stop().await?;

    // A member the server has never heard of, as a damaged roster might hold.
    {
        let (mut cache, _) = Cache::open(&data.path().join("cache.db"))?;
        let mut ghost: RosterMember = roster[0].clone();
        ghost.id = MemberId::new("ghost");
        ghost.name = "유령회원".into();
        cache.put_roster(&[ghost])?;
    }

    // The link is cut; the member taps in the app meanwhile, unknown to the desk.
    proxy.cut();
    members[1].tap(center.id.as_str(), "app").await?.checkin()?;
    let mut desk = RunningDesk::start(data.path(), desk_pairing.clone()).await?;
    desk.wait_offline().await?;
    for member in [&members[0], &members[1]] {
        let card = desk.core.check_in(&member.session.member.id).await?;
        assert_eq!(card.checkin.status, CheckinStatus::Admitted);
    }
    desk.core.check_in(&MemberId::new("ghost")).await?;
    // Checked in already today (on this desk): refused locally, nothing queued.
    assert!(
        desk.core
            .check_in(&members[0].session.member.id)
            .await
            .is_err()
    );
    assert_eq!(desk.core.state().await?.pending, 3);
    desk.stop().await?;

    // Killed and restarted while still offline: the outbox is intact.
    let mut desk = RunningDesk::start(data.path(), desk_pairing.clone()).await?;
    assert_eq!(desk.state.pending, 3);
    assert_eq!(desk.state.today.len(), 3);
    desk.wait_offline().await?;

    proxy.restore();
    let mut outcomes = Vec::new();
    while outcomes.len() < 3 {
        let outcome = desk
            .wait_for("recorded", |e| match e {
                CoreEvent::Recorded { status, reason, .. } => Some((*status, reason.clone())),
                _ => None,
            })
            .await?;
        outcomes.push(outcome);
    }
    outcomes.sort_by_key(|(s, _)| s.as_str());
    assert_eq!(
        outcomes,
        vec![
            (RecordStatus::Accepted, None),
            (
                RecordStatus::Conflict,
                Some("already_checked_in_today".into())
            ),
            (RecordStatus::Rejected, Some("unknown_member".into())),
        ]
    );
    let state = desk.core.state().await?;
    assert_eq!(state.pending, 0);
    assert_eq!(
        state.conflicts.len(),
        2,
        "conflict and rejection wait for staff"
    );
    let acknowledged = desk
        .core
        .acknowledge(state.conflicts[0].local_id.clone())
        .await?;
    assert_eq!(acknowledged.len(), 1);
    desk.stop().await?;

    // The answer to an item was lost (the desk died between sending and storing it):
    // sending again is answered `duplicate` with the same check-in.
    {
        let conn = rusqlite::Connection::open(data.path().join("cache.db"))?;
        conn.execute(
            "UPDATE outbox SET state = 'pending' WHERE state = 'accepted'",
            [],
        )?;
    }
    let mut desk = RunningDesk::start(data.path(), desk_pairing).await?;
    let (status, _) = desk
        .wait_for("duplicate", |e| match e {
            CoreEvent::Recorded { status, reason, .. } => Some((*status, reason.clone())),
            _ => None,
        })
        .await?;
    assert_eq!(status, RecordStatus::Duplicate);
    assert_eq!(desk.core.state().await?.pending, 0);
    desk.stop().await?;

    // The server counted member 0's offline visit once.
    let today: Vec<_> = fx.admin.centers().await?;
    assert_eq!(
        today[0].head_seq,
        2 + 1 + 1 + 1,
        "2 setup visits, 1 app tap, 1 accepted record, 1 disputed record"
    );
    Ok(())
}

#[tokio::test]
async fn taps_and_offline_checkins_during_a_cut_arrive_exactly_once() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let proxy = Proxy::start(server.addr).await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let paired = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("T", 25, None).await?;
    let mut members = Vec::new();
    for no in &numbers {
        members.push(MemberClient::login(&server.url(), no, PIN).await?);
    }
    visited_yesterday(&server.url(), &paired.token, &members[20..]).await?;
    let data = tempfile::tempdir()?;
    let mut desk = RunningDesk::start(data.path(), pairing(&proxy.url(), &paired)).await?;
    desk.wait_online().await?;
    let start_seq = desk.core.state().await?.cursor.last_seq;

    // 10 taps before, 10 during the cut; 5 offline check-ins during the cut. Check-in
    // events are counted in every wait, including the wait for "offline".
    let mut seen: std::collections::HashMap<gymgate_shared::CheckinId, u32> = Default::default();
    fn count(seen: &mut std::collections::HashMap<gymgate_shared::CheckinId, u32>, e: &CoreEvent) {
        if let CoreEvent::Checkin(card) = e {
            *seen.entry(card.checkin.id.clone()).or_insert(0) += 1;
        }
    }
    for m in &members[..10] {
        m.tap(center.id.as_str(), "k").await?.checkin()?;
    }
    proxy.cut();
    desk.wait_for("offline", |e| {
        count(&mut seen, e);
        matches!(
            e,
            CoreEvent::Link(gymgate_desk_core::LinkStatus::Offline { .. })
        )
        .then_some(())
    })
    .await?;
    for m in &members[10..20] {
        m.tap(center.id.as_str(), "k").await?.checkin()?;
    }
    for m in &members[20..] {
        desk.core.check_in(&m.session.member.id).await?;
    }
    proxy.restore();

    // Every tap arrives once: 20 taps + 5 accepted records = 25 check-in events.
    while seen.len() < 25 {
        let waited = desk
            .wait_for("check-ins", |e| {
                count(&mut seen, e);
                matches!(e, CoreEvent::Checkin(_)).then_some(())
            })
            .await;
        if let Err(error) = waited {
            let state = desk.core.state().await?;
            anyhow::bail!(
                "{error}: saw {} of 25; desk cursor {}, pending {}, today {}",
                seen.len(),
                state.cursor.last_seq,
                state.pending,
                state.today.len()
            );
        }
    }
    assert!(
        seen.values().all(|n| *n == 1),
        "a check-in was shown twice: {seen:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok(event) = desk.events.try_recv() {
        if let CoreEvent::Checkin(card) = event {
            anyhow::bail!("extra check-in {}", card.checkin.id);
        }
    }
    let state = desk.core.state().await?;
    assert_eq!(state.cursor.last_seq, start_seq + 25);
    assert_eq!(state.pending, 0);
    assert_eq!(
        state.today.len(),
        25,
        "provisional cards were replaced, not added to"
    );
    let centers = fx.admin.centers().await?;
    assert_eq!(
        centers[0].head_seq,
        5 + 25,
        "5 setup visits, then 25 check-ins once each"
    );
    desk.stop().await?;
    Ok(())
}

/// A revoked desk and a token the server never issued are told apart (issue 18: staff get a
/// true message for each): the core reports the server's code, not its English text.
#[tokio::test]
async fn a_revoked_desk_is_told_to_pair_again() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let paired = fx.desk(center.id.as_str()).await?;
    let data = tempfile::tempdir()?;
    let mut desk = RunningDesk::start(data.path(), pairing(&server.url(), &paired)).await?;
    desk.wait_online().await?;
    fx.admin.revoke_desk(paired.desk_id.as_str()).await?;
    let code = desk
        .wait_for("unpaired", |e| match e {
            CoreEvent::Unpaired(code) => Some(code.clone()),
            _ => None,
        })
        .await?;
    assert_eq!(code, "token_revoked");
    desk.stop().await?;

    // A desk whose token the server does not know (another server, a database made anew).
    let mut unknown = pairing(&server.url(), &paired);
    unknown.token = "a-token-this-server-never-issued".into();
    let data = tempfile::tempdir()?;
    let mut desk = RunningDesk::start(data.path(), unknown).await?;
    let code = desk
        .wait_for("unpaired", |e| match e {
            CoreEvent::Unpaired(code) => Some(code.clone()),
            _ => None,
        })
        .await?;
    assert_eq!(code, "invalid_token");
    desk.stop().await?;
    Ok(())
}

#[tokio::test]
async fn a_half_open_link_is_noticed_by_silence_and_recovered() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let proxy = Proxy::start(server.addr).await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let paired = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("Q", 6, None).await?;
    let mut members = Vec::new();
    for no in &numbers {
        members.push(MemberClient::login(&server.url(), no, PIN).await?);
    }
    let data = tempfile::tempdir()?;
    let mut desk = RunningDesk::start(data.path(), pairing(&proxy.url(), &paired)).await?;
    desk.wait_online().await?;

    // The link stays open but carries nothing either way: no close, no error, just silence.
    proxy.stall();
    let stalled_at = std::time::Instant::now();
    for m in &members[..3] {
        m.tap(center.id.as_str(), "k").await?.checkin()?;
    }
    let reason = desk
        .wait_for("offline", |e| match e {
            CoreEvent::Link(gymgate_desk_core::LinkStatus::Offline { reason, .. }) => {
                Some(reason.clone())
            }
            _ => None,
        })
        .await?;
    assert!(reason.contains("no word from the server"), "{reason}");
    // The test desk calls a link dead after 2 s of silence (60 s in production).
    assert!(stalled_at.elapsed() >= Duration::from_secs(2));

    proxy.restore();
    for m in &members[3..] {
        m.tap(center.id.as_str(), "k").await?.checkin()?;
    }
    let mut seen = std::collections::HashMap::new();
    while seen.len() < 6 {
        let card = desk
            .wait_for("check-ins", |e| match e {
                CoreEvent::Checkin(card) => Some(card.clone()),
                _ => None,
            })
            .await?;
        *seen.entry(card.checkin.id).or_insert(0) += 1;
    }
    assert!(seen.values().all(|n| *n == 1), "shown twice: {seen:?}");
    assert_eq!(desk.core.state().await?.cursor.last_seq, 6);
    desk.stop().await?;
    Ok(())
}

#[tokio::test]
async fn staff_void_a_checkin_from_the_desk_and_everyone_sees_it() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let paired = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("Z", 1, Some(8)).await?;
    let member = MemberClient::login(&server.url(), &numbers[0], PIN).await?;
    let data = tempfile::tempdir()?;
    let mut desk = RunningDesk::start(data.path(), pairing(&server.url(), &paired)).await?;
    desk.wait_online().await?;

    let tapped = member
        .tap(center.id.as_str(), "k")
        .await?
        .checkin()?
        .clone();
    desk.wait_for("check-in", |e| {
        matches!(e, CoreEvent::Checkin(_)).then_some(())
    })
    .await?;
    desk.core.decide(
        tapped.id.clone(),
        gymgate_shared::protocol::Decision::Void,
        Some("잘못 누름".into()),
    );
    let updated = desk
        .wait_for("update", |e| match e {
            CoreEvent::Updated(card) => Some(card.clone()),
            _ => None,
        })
        .await?;
    assert_eq!(updated.checkin.id, tapped.id);
    assert_eq!(updated.checkin.status, CheckinStatus::Voided);
    assert_eq!(
        updated.member.visits_left,
        Some(8),
        "a voided visit gives the visit back"
    );
    // Staff's reason is in the visit's history, for operators and member support.
    let last = updated.checkin.history.last().context("no history")?;
    assert_eq!(last.status, CheckinStatus::Voided);
    assert_eq!(last.reason.as_deref(), Some("잘못 누름"));
    assert_eq!(last.by, format!("desk:{}", paired.desk_id));
    // The desk's own list and the member's view agree.
    let state = desk.core.state().await?;
    assert_eq!(state.today[0].checkin.status, CheckinStatus::Voided);
    assert_eq!(
        member.checkin(tapped.id.as_str()).await?.checkin()?.status,
        CheckinStatus::Voided
    );

    // Voiding twice is refused by the server and told to staff.
    desk.core.decide(
        tapped.id.clone(),
        gymgate_shared::protocol::Decision::Void,
        None,
    );
    let code = desk
        .wait_for("refusal", |e| match e {
            CoreEvent::ServerError { code, .. } => Some(code.clone()),
            _ => None,
        })
        .await?;
    assert_eq!(code, "invalid_transition");
    desk.stop().await?;
    Ok(())
}

/// Issue 18: a front-desk PC whose clock runs 15 minutes fast still dates its check-ins by
/// the server's clock (learned from `welcome`), so the server does not refuse them as
/// `time_out_of_range`. Here the server's clock is the one that is off, which is the same to
/// the desk: a stub server speaks the protocol with `server_time` 15 minutes behind and
/// reports the `record` the desk sends.
#[tokio::test]
async fn check_ins_are_dated_by_the_servers_clock_not_the_pcs() -> anyhow::Result<()> {
    use gymgate_shared::protocol::{DeskMessage, ServerMessage};
    use tokio_tungstenite::tungstenite::Message as Frame;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let skew = chrono::Duration::minutes(15);
    let (records, mut recorded) = tokio::sync::mpsc::channel(8);
    let stub = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let mut ws = tokio_tungstenite::accept_async(tcp).await?;
        // The hello; then a welcome from a server whose clock is 15 minutes behind.
        ws.next().await.context("no hello")??;
        let welcome = ServerMessage::Welcome {
            desk_id: gymgate_shared::DeskId::new("d1"),
            center_id: gymgate_shared::CenterId::new("c1"),
            epoch: "e1:c1".into(),
            head_seq: 0,
            server_time: Utc::now() - skew,
            resumed: true,
            pass_keys: Vec::new(),
            servers: Vec::new(),
            support: None,
            hours: None,
            update: None,
        };
        ws.send(Frame::text(serde_json::to_string(&welcome)?))
            .await?;
        while let Some(frame) = ws.next().await {
            if let Frame::Text(text) = frame?
                && let Ok(DeskMessage::Record(record)) = serde_json::from_str(text.as_str())
            {
                records.send(record).await?;
                return anyhow::Ok(());
            }
        }
        anyhow::Ok(())
    });

    let data = tempfile::tempdir()?;
    {
        let (mut cache, _) = Cache::open(&data.path().join("cache.db"))?;
        cache.put_roster(&[RosterMember {
            id: MemberId::new("m1"),
            member_no: "100001".into(),
            name: "김민준".into(),
            phone_last4: "1234".into(),
            plan: "월 8회".into(),
            valid_from: "2026-01-01".parse()?,
            valid_until: "2030-12-31".parse()?,
            visits_per_month: Some(8),
            visits_left: Some(8),
            blocked: false,
            birthday: None,
            photo_url: None,
        }])?;
    }
    let pairing = gymgate_desk_core::config::Pairing {
        server_url: url,
        desk_id: gymgate_shared::DeskId::new("d1"),
        center_id: gymgate_shared::CenterId::new("c1"),
        desk_name: "1층 데스크".into(),
        token: "token".into(),
        servers: Vec::new(),
    };
    let mut desk = RunningDesk::start(data.path(), pairing).await?;
    desk.wait_online().await?;
    let card = desk.core.check_in(&MemberId::new("m1")).await?;
    let record = tokio::time::timeout(gymgate_tests::WAIT, recorded.recv())
        .await?
        .context("the stub ended without a record")?;
    let by_server = Utc::now() - skew;
    let off = (record.at - by_server).num_seconds().abs();
    assert!(
        off < 30,
        "the record is dated {} but the server's clock says {by_server} ({off} s apart)",
        record.at
    );
    assert!(
        (card.checkin.at - record.at).num_milliseconds().abs() < 1,
        "the card shows the same time"
    );
    desk.stop().await?;
    stub.abort();
    Ok(())
}

/// Issue 18: a member whose phone is dead and who is not on this PC is let in on staff's
/// judgement while the desk is offline. On sync the server finds the member by number and
/// judges the visit like any other: a good one counts (its card shows who it was), one the
/// rules refuse is disputed, an unknown number comes back to staff; nothing is lost.
#[tokio::test]
async fn staff_let_in_an_unknown_member_on_judgement_and_the_server_judges_it() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    let proxy = Proxy::start(server.addr).await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let paired = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("J", 2, Some(8)).await?;
    let already_in = MemberClient::login(&server.url(), &numbers[1], PIN).await?;
    already_in.tap(center.id.as_str(), "app").await?.checkin()?;
    let data = tempfile::tempdir()?;
    let mut desk = RunningDesk::start(data.path(), pairing(&proxy.url(), &paired)).await?;
    desk.wait_online().await?;
    proxy.cut();
    desk.wait_offline().await?;
    // Nobody on this PC: the roster is empty, nothing to decide with.
    assert!(desk.core.search(numbers[0].clone()).await.is_empty());
    assert!(desk.core.check_in_manual(" ", "신분증 확인").await.is_err());
    let card = desk
        .core
        .check_in_manual(&numbers[0], "신분증 확인 · 휴대폰 방전")
        .await?;
    assert_eq!(
        card.checkin.method,
        gymgate_shared::api::CheckinMethod::Manual
    );
    assert_eq!(card.member.member_no, numbers[0]);
    desk.core
        .check_in_manual(&numbers[1], "신분증 확인 · 앱 오류")
        .await?;
    desk.core
        .check_in_manual("NOPE999", "회원카드 확인")
        .await?;
    assert_eq!(desk.core.state().await?.pending, 3);

    proxy.restore();
    let mut outcomes = Vec::new();
    while outcomes.len() < 3 {
        outcomes.push(
            desk.wait_for("recorded", |e| match e {
                CoreEvent::Recorded { status, reason, .. } => Some((*status, reason.clone())),
                _ => None,
            })
            .await?,
        );
    }
    outcomes.sort_by_key(|(s, _)| s.as_str());
    assert_eq!(
        outcomes,
        vec![
            (RecordStatus::Accepted, None),
            (
                RecordStatus::Conflict,
                Some("already_checked_in_today".into())
            ),
            (RecordStatus::Rejected, Some("unknown_member_no".into())),
        ]
    );
    // The server's card replaced the provisional one: it knows who it was.
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
    loop {
        let today = desk.core.state().await?.today;
        if let Some(card) = today.iter().find(|c| c.member.member_no == numbers[0])
            && card.member.name == "회원0"
        {
            assert_eq!(card.checkin.status, CheckinStatus::Admitted);
            assert_eq!(
                card.checkin.method,
                gymgate_shared::api::CheckinMethod::Manual
            );
            assert_eq!(
                card.checkin.history[0].reason.as_deref(),
                Some("staff judgement: 신분증 확인 · 휴대폰 방전")
            );
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no server card: {today:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The refused one waits for operators; the unknown number waits for staff.
    let disputes = fx.admin.disputes().await?;
    assert_eq!(disputes.len(), 1);
    assert_eq!(disputes[0].member_no, numbers[1]);
    assert_eq!(
        disputes[0].checkin.method,
        gymgate_shared::api::CheckinMethod::Manual
    );
    let state = desk.core.state().await?;
    assert_eq!(state.pending, 0);
    assert_eq!(state.conflicts.len(), 2);
    desk.stop().await
}
