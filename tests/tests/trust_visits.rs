//! Trust, visits: none lost, none credited to the wrong center (issue 13, findings 1–3).

use std::time::Duration;

use gymgate_desk_core::CoreEvent;
use gymgate_desk_core::config;
use gymgate_shared::api::{CheckinStatus, NewCenter};
use gymgate_shared::protocol::{
    DeskMessage, EventKind, OutboxRecord, RecordMethod, RecordStatus, ServerMessage,
};
use gymgate_shared::{CheckinId, LocalId};
use gymgate_tests::desk_core::{pairing, visited_yesterday};
use gymgate_tests::{DeskClient, Fixture, MemberClient, PIN, Proxy, RunningDesk, TestServer};

const EXE: &str = env!("CARGO_BIN_EXE_gymgate-server-under-test");

/// Finding 1. A PC paired for center A, with a check-in made offline and never sent, is
/// paired again for center B: the cache starts fresh (none of A's visitors or cards show at
/// B), and A's unsent check-in is sent as desk A's visit, counted at A, never at B.
#[tokio::test]
async fn a_desk_paired_again_for_another_center_starts_fresh_and_sends_old_items_as_the_old_desk()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let proxy = Proxy::start(server.addr).await?;
    let fx = Fixture::new(server.url());
    let a = fx.center("강남점").await?;
    let b = fx.center("홍대점").await?;
    let desk_a = fx.desk(a.id.as_str()).await?;
    let numbers = fx.members("RP", 2, None).await?;
    let mut members = Vec::new();
    for no in &numbers {
        members.push(MemberClient::login(&server.url(), no, PIN).await?);
    }
    visited_yesterday(&server.url(), &desk_a.token, &members).await?;

    let data = tempfile::tempdir()?;
    let pairing_a = pairing(&proxy.url(), &desk_a);
    config::save_pairing(data.path(), &pairing_a)?;
    let mut desk = RunningDesk::start(data.path(), pairing_a.clone()).await?;
    desk.wait_online().await?;
    members[1].tap(a.id.as_str(), "at-a").await?.checkin()?;
    desk.wait_for("a's check-in", |e| {
        matches!(e, CoreEvent::Checkin(_)).then_some(())
    })
    .await?;
    proxy.cut();
    desk.wait_offline().await?;
    let offline = desk.core.check_in(&members[0].session.member.id).await?;
    let unsent = offline
        .checkin
        .local_id
        .clone()
        .ok_or_else(|| anyhow::anyhow!("no local id"))?;
    desk.stop().await?;
    let head_a_before = fx.admin.centers().await?;
    let head_a_before = head_a_before
        .iter()
        .find(|c| c.id == a.id)
        .map_or(0, |c| c.head_seq);

    // Staff unpair and pair the PC for center B, as the desk's settings screen does.
    config::remove_pairing(data.path())?;
    let desk_b = fx.desk(b.id.as_str()).await?;
    let pairing_b = pairing(&server.url(), &desk_b);
    config::save_pairing(data.path(), &pairing_b)?;
    proxy.restore();
    let mut desk = RunningDesk::start(data.path(), pairing_b).await?;
    assert!(
        desk.state.today.is_empty(),
        "center A's cards shown at B: {:?}",
        desk.state.today
    );
    assert_eq!(desk.state.roster_size, 0, "center A's roster kept at B");
    assert_eq!(desk.state.pending, 0, "A's item counted as B's backlog");
    assert!(
        desk.state
            .conflicts
            .iter()
            .any(|c| c.local_id == unsent && c.unsent_from.as_ref() == Some(&desk_a.desk_id)),
        "A's unsent item is shown to staff as not sent: {:?}",
        desk.state.conflicts
    );
    // Sent as desk A's (before this desk connects): it leaves the list once answered.
    desk.wait_for("the old item answered", |e| match e {
        CoreEvent::Outbox { conflicts, .. } => {
            (!conflicts.iter().any(|c| c.local_id == unsent)).then_some(())
        }
        _ => None,
    })
    .await?;
    desk.wait_online().await?;
    let state = desk.core.state().await?;
    assert!(state.today.is_empty());
    assert_eq!(
        state
            .cursor
            .epoch
            .as_deref()
            .map(|e| e.ends_with(b.id.as_str())),
        Some(true),
        "the cursor is center B's: {:?}",
        state.cursor
    );
    desk.stop().await?;

    // The visit counted at A, made by desk A; nothing was credited to B.
    let (ws, at_a) = DeskClient::join(&server.url(), &desk_a.token, None, 0).await?;
    ws.close().await?;
    let centers = fx.admin.centers().await?;
    let head = |id: &gymgate_shared::CenterId| {
        centers
            .iter()
            .find(|c| &c.id == id)
            .map_or(0, |c| c.head_seq)
    };
    assert_eq!(head(&a.id), head_a_before + 1, "A's visit logged at A");
    assert_eq!(head(&b.id), 0, "nothing logged at B");
    let (mut replay, _) = DeskClient::join(
        &server.url(),
        &desk_a.token,
        Some(&at_a.epoch),
        head_a_before,
    )
    .await?;
    let event = replay.next_event().await?;
    assert_eq!(event.data["checkin"]["local_id"], unsent.as_str());
    assert_eq!(event.data["checkin"]["desk_id"], desk_a.desk_id.as_str());
    assert_eq!(event.data["checkin"]["center_id"], a.id.as_str());
    // The earlier pairing is forgotten once nothing of it waits.
    assert_eq!(
        config::load_previous_pairing(data.path(), &desk_a.desk_id)?,
        None
    );
    Ok(())
}

/// Finding 1, the server's side. A cursor is a place in one center's log: a desk of center B
/// that says hello with a cursor from center A (same database) is not resumed there, so it
/// cannot skip B's events; with its own center's cursor it is.
#[tokio::test]
async fn a_cursor_issued_for_another_center_is_not_resumed() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let a = fx.center("강남점").await?;
    let b = fx.center("홍대점").await?;
    let desk_a = fx.desk(a.id.as_str()).await?;
    let desk_b = fx.desk(b.id.as_str()).await?;
    let numbers = fx.members("CU", 3, None).await?;
    for (i, no) in numbers.iter().enumerate() {
        let member = MemberClient::login(&server.url(), no, PIN).await?;
        member.tap(b.id.as_str(), "b").await?.checkin()?;
        if i == 0 {
            member.tap(a.id.as_str(), "a").await?.checkin()?;
        }
    }
    let (ws, at_a) = DeskClient::join(&server.url(), &desk_a.token, None, 0).await?;
    ws.close().await?;
    // Center A's cursor, seq 1, offered at B (whose log has 3 events).
    let (mut ws, welcome) =
        DeskClient::join(&server.url(), &desk_b.token, Some(&at_a.epoch), 1).await?;
    assert!(!welcome.resumed, "a cursor of center A resumed at center B");
    assert_ne!(
        welcome.epoch, at_a.epoch,
        "each center's log has its own name"
    );
    ws.expect_silence(Duration::from_millis(200)).await?;
    ws.close().await?;
    let (mut ws, again) =
        DeskClient::join(&server.url(), &desk_b.token, Some(&welcome.epoch), 1).await?;
    assert!(again.resumed);
    let events = ws.events(1, 2).await?;
    assert_eq!(events[0].seq, 2);
    Ok(())
}

fn record(member: &gymgate_shared::MemberId) -> DeskMessage {
    DeskMessage::Record(OutboxRecord {
        local_id: LocalId::generate(),
        member_id: member.clone(),
        at: chrono::Utc::now() - chrono::Duration::minutes(3),
        method: RecordMethod::Roster,
        proof: None,
        manual: None,
    })
}

async fn recorded(ws: &mut DeskClient) -> anyhow::Result<(RecordStatus, Option<CheckinId>)> {
    loop {
        match ws.next().await? {
            ServerMessage::Recorded {
                status, checkin_id, ..
            } => return Ok((status, checkin_id)),
            ServerMessage::Event(_) => {}
            other => anyhow::bail!("expected recorded, got {other:?}"),
        }
    }
}

/// The next event about check-in `id` (a record's answer and its event may come in either
/// order).
async fn event_about(
    ws: &mut DeskClient,
    id: &CheckinId,
) -> anyhow::Result<gymgate_shared::protocol::Event> {
    loop {
        let event = ws.next_event().await?;
        if event.data["checkin"]["id"] == id.as_str() {
            return Ok(event);
        }
    }
}

/// Reads the member's live feed until a check-in with `status` arrives.
async fn feed_until(
    feed: &mut reqwest::Response,
    status: &str,
) -> anyhow::Result<serde_json::Value> {
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
    let mut buffer = String::new();
    loop {
        let chunk = tokio::time::timeout_at(deadline, feed.chunk())
            .await
            .map_err(|_| anyhow::anyhow!("no {status} on the member's feed"))??
            .ok_or_else(|| anyhow::anyhow!("the member's feed ended"))?;
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(cut) = buffer.find("\n\n") {
            let block: String = buffer.drain(..cut + 2).collect();
            for line in block.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    let checkin: serde_json::Value = serde_json::from_str(data.trim())?;
                    if checkin["status"] == status {
                        return Ok(checkin);
                    }
                }
            }
        }
    }
}

/// Finding 2. An offline check-in the rules refuse is kept as a `disputed` check-in (why,
/// which desk, when made, when synced), pushed to the desk and the member like any change;
/// operators accept it (it counts) or reject it with a reason, through the API and the CLI.
#[tokio::test]
async fn an_offline_visit_the_rules_refuse_is_kept_as_disputed_until_operators_decide()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("DS", 2, Some(8)).await?;
    let twice = MemberClient::login(&server.url(), &numbers[0], PIN).await?;
    let blocked = MemberClient::login(&server.url(), &numbers[1], PIN).await?;
    let (mut ws, _) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;
    let http = reqwest::Client::new();
    let mut feed = http
        .get(format!("{}/api/v1/me/events", server.url()))
        .bearer_auth(&twice.token)
        .send()
        .await?;

    // Came in by the app, then again on the desk's offline list: already here today.
    twice.tap(center.id.as_str(), "app").await?.checkin()?;
    ws.next_event().await?;
    ws.send(&record(&twice.session.member.id)).await?;
    let (status, disputed) = recorded(&mut ws).await?;
    assert_eq!(status, RecordStatus::Conflict);
    let disputed = disputed.ok_or_else(|| anyhow::anyhow!("the visit was dropped"))?;
    let event = event_about(&mut ws, &disputed).await?;
    assert_eq!(event.kind, EventKind::Checkin);
    assert_eq!(event.data["checkin"]["status"], "disputed");
    assert_eq!(
        event.data["checkin"]["dispute"]["reason"],
        "already_checked_in_today"
    );
    let on_feed = feed_until(&mut feed, "disputed").await?;
    assert_eq!(on_feed["id"], disputed.as_str());
    let mine = twice.checkin(disputed.as_str()).await?;
    assert_eq!(mine.checkin()?.status, CheckinStatus::Disputed);
    // A disputed visit does not use up the pass meanwhile.
    let me: gymgate_shared::api::Member = http
        .get(format!("{}/api/v1/me", server.url()))
        .bearer_auth(&twice.token)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(me.visits_left, Some(7));

    // A blocked member let in offline: disputed too.
    fx.admin
        .block_member(
            &numbers[1],
            &gymgate_shared::api::BlockRequest {
                blocked: true,
                reason: None,
            },
        )
        .await?;
    ws.send(&record(&blocked.session.member.id)).await?;
    let (status, second) = recorded(&mut ws).await?;
    assert_eq!(status, RecordStatus::Conflict);
    let second = second.ok_or_else(|| anyhow::anyhow!("the visit was dropped"))?;
    let event = event_about(&mut ws, &second).await?;
    assert_eq!(event.data["checkin"]["status"], "disputed");

    // Operators see both, with the desk, the reason and both times.
    let disputes = fx.admin.disputes().await?;
    assert_eq!(disputes.len(), 2, "{disputes:?}");
    let first = &disputes[0];
    assert_eq!(first.checkin.id, disputed);
    assert_eq!(first.member_no, numbers[0]);
    assert_eq!(first.desk_name.as_deref(), Some("1층 데스크"));
    let dispute = first
        .checkin
        .dispute
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no dispute details"))?;
    assert_eq!(dispute.reason, "already_checked_in_today");
    assert!(
        dispute.synced_at > first.checkin.at,
        "made offline, synced later"
    );
    // The CLI lists them too.
    let listed = tokio::process::Command::new(EXE)
        .args(["admin", "--url", &server.url(), "dispute", "list"])
        .env("GYMGATE_ADMIN_TOKEN", gymgate_tests::ADMIN_TOKEN)
        .output()
        .await?;
    let listed_text = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{listed:?}");
    assert!(listed_text.contains(disputed.as_str()), "{listed_text}");
    assert!(listed_text.contains("member_blocked"), "{listed_text}");

    // Rejecting needs a reason; with one, the visit does not count and everyone hears it.
    let refused = fx
        .admin
        .resolve_dispute(disputed.as_str(), false, None)
        .await;
    assert!(
        format!("{refused:?}").contains("reason_required"),
        "{refused:?}"
    );
    let rejected = fx
        .admin
        .resolve_dispute(
            disputed.as_str(),
            false,
            Some("같은 날 두 번 기록됨".into()),
        )
        .await?;
    assert_eq!(rejected.status, CheckinStatus::Denied);
    let event = event_about(&mut ws, &disputed).await?;
    assert_eq!(event.kind, EventKind::CheckinUpdated);
    assert_eq!(event.data["checkin"]["status"], "denied");
    let on_feed = feed_until(&mut feed, "denied").await?;
    assert_eq!(
        on_feed["history"]
            .as_array()
            .and_then(|h| h.last())
            .map(|l| l["reason"].clone()),
        Some(serde_json::json!("같은 날 두 번 기록됨"))
    );

    // Accepting runs the rules again (issue 23): the member is still blocked, so only an
    // explicit override with a reason counts the visit. Through the CLI.
    let accept = |extra: &'static [&'static str]| {
        let mut command = tokio::process::Command::new(EXE);
        command
            .args([
                "admin",
                "--url",
                &server.url(),
                "dispute",
                "accept",
                second.as_str(),
            ])
            .args(extra)
            .env("GYMGATE_ADMIN_TOKEN", gymgate_tests::ADMIN_TOKEN);
        command.output()
    };
    let refused = accept(&[]).await?;
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("rules_refuse"),
        "{refused:?}"
    );
    let accepted = accept(&["--override", "--reason", "정지 전에 센터가 확인한 방문"]).await?;
    assert!(accepted.status.success(), "{accepted:?}");
    let event = event_about(&mut ws, &second).await?;
    assert_eq!(event.data["checkin"]["status"], "admitted");
    assert_eq!(event.data["member"]["visits_left"], 7);
    assert!(fx.admin.disputes().await?.is_empty());
    // A decided dispute cannot be decided again.
    let again = fx.admin.resolve_dispute(second.as_str(), true, None).await;
    assert!(format!("{again:?}").contains("not_disputed"), "{again:?}");
    Ok(())
}

/// Finding 3. A pending check-in nobody decides on expires after the window: status
/// `expired`, the visit given back, the desk and the member told live.
#[tokio::test]
async fn a_pending_check_in_nobody_decides_expires_and_gives_the_visit_back() -> anyhow::Result<()>
{
    let server = TestServer::start_with(|c| {
        c.pending_expiry = chrono::Duration::milliseconds(600);
        c.expiry_check_every = Duration::from_millis(100);
    })
    .await?;
    let fx = Fixture::new(server.url());
    let center = fx
        .center_with(NewCenter {
            name: "승인센터".into(),
            address: String::new(),
            hours: None,
            schedule: None,
            requires_approval: true,
        })
        .await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("EX", 1, Some(8)).await?;
    let member = MemberClient::login(&server.url(), &numbers[0], PIN).await?;
    let (mut ws, _) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;
    let http = reqwest::Client::new();
    let mut feed = http
        .get(format!("{}/api/v1/me/events", server.url()))
        .bearer_auth(&member.token)
        .send()
        .await?;
    let visits_left = || async {
        let me: gymgate_shared::api::Member = http
            .get(format!("{}/api/v1/me", server.url()))
            .bearer_auth(&member.token)
            .send()
            .await?
            .json()
            .await?;
        anyhow::Ok(me.visits_left)
    };

    let pending = member
        .tap(center.id.as_str(), "p")
        .await?
        .checkin()?
        .clone();
    assert_eq!(pending.status, CheckinStatus::Pending);
    assert_eq!(
        visits_left().await?,
        Some(7),
        "a pending visit holds a visit"
    );
    assert_eq!(ws.next_event().await?.data["checkin"]["status"], "pending");

    let event = ws.next_event().await?;
    assert_eq!(event.kind, EventKind::CheckinUpdated);
    assert_eq!(event.data["checkin"]["id"], pending.id.as_str());
    assert_eq!(event.data["checkin"]["status"], "expired");
    assert_eq!(event.data["member"]["visits_left"], 8);
    let on_feed = feed_until(&mut feed, "expired").await?;
    assert_eq!(on_feed["id"], pending.id.as_str());
    assert_eq!(
        member.checkin(pending.id.as_str()).await?.checkin()?.status,
        CheckinStatus::Expired
    );
    assert_eq!(visits_left().await?, Some(8), "the visit was given back");
    // Staff cannot admit it any more; the member may tap again.
    ws.send(&DeskMessage::Decide {
        checkin_id: pending.id.clone(),
        decision: gymgate_shared::protocol::Decision::Admit,
        reason: None,
    })
    .await?;
    match ws.next().await? {
        ServerMessage::Error { code, .. } => assert_eq!(code, "invalid_transition"),
        other => anyhow::bail!("expected an error, got {other:?}"),
    }
    assert_eq!(member.tap(center.id.as_str(), "again").await?.status(), 201);
    Ok(())
}
