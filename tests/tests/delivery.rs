//! Taps reach desks in real time; a desk that drops off resumes without losing or repeating.

use std::time::Duration;

use gymgate_shared::protocol::{EventKind, EventPayload};
use gymgate_tests::{DeskClient, Fixture, MemberClient, PIN, TestServer};

#[tokio::test]
async fn a_tap_reaches_the_connected_desk() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let members = fx.members("A", 1, Some(8)).await?;
    let (mut desk_ws, welcome) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;
    assert!(
        !welcome.resumed,
        "a desk's first connection has no cursor to resume"
    );
    assert_eq!(welcome.head_seq, 0);

    let member = MemberClient::login(&server.url(), &members[0], PIN).await?;
    let answer = member.tap(center.id.as_str(), "tap-1").await?;
    assert_eq!(answer.status(), 201);
    let checkin = answer.checkin()?.clone();

    let event = desk_ws.next_event().await?;
    assert_eq!(event.seq, 1);
    assert_eq!(event.kind, EventKind::Checkin);
    let EventPayload::Checkin(card) = event.payload()? else {
        anyhow::bail!("not a check-in card");
    };
    assert_eq!(card.checkin.id, checkin.id);
    assert_eq!(card.member.name, "회원0");
    assert_eq!(card.member.visits_left, Some(7));
    assert!(
        card.flags
            .contains(&gymgate_shared::api::CheckinFlag::FirstVisit)
    );
    Ok(())
}

#[tokio::test]
async fn a_desk_that_was_away_gets_exactly_the_missed_events_then_live_ones() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let members = fx.members("B", 101, None).await?;

    let (desk_ws, welcome) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;
    let epoch = welcome.epoch.clone();
    desk_ws.close().await?;

    // 100 taps while the desk is away.
    let mut tapped = Vec::new();
    for no in &members[..100] {
        let member = MemberClient::login(&server.url(), no, PIN).await?;
        let answer = member
            .tap(center.id.as_str(), &format!("away-{no}"))
            .await?;
        assert_eq!(answer.status(), 201, "{answer:?}");
        tapped.push(answer.checkin()?.id.clone());
    }

    let (mut desk_ws, welcome) =
        DeskClient::join(&server.url(), &desk.token, Some(&epoch), 0).await?;
    assert!(welcome.resumed);
    assert_eq!(welcome.head_seq, 100);
    let events = desk_ws.events(0, 100).await?;
    let replayed: Vec<_> = events
        .iter()
        .map(|e| match e.payload() {
            Ok(EventPayload::Checkin(card)) => Ok(card.checkin.id),
            other => Err(anyhow::anyhow!("unexpected {other:?}")),
        })
        .collect::<Result<_, _>>()?;
    assert_eq!(replayed, tapped, "the missed taps, in order, once each");
    desk_ws.expect_silence(Duration::from_millis(300)).await?;

    // Live again.
    let member = MemberClient::login(&server.url(), &members[100], PIN).await?;
    member.tap(center.id.as_str(), "live").await?.checkin()?;
    let live = desk_ws.next_event().await?;
    assert_eq!(live.seq, 101);
    desk_ws.expect_silence(Duration::from_millis(300)).await?;

    // Resuming from the middle replays only the rest.
    desk_ws.close().await?;
    let (mut desk_ws, welcome) =
        DeskClient::join(&server.url(), &desk.token, Some(&epoch), 60).await?;
    assert!(welcome.resumed);
    let rest = desk_ws.events(60, 41).await?;
    assert_eq!(rest.last().map(|e| e.seq), Some(101));
    desk_ws.expect_silence(Duration::from_millis(300)).await?;
    Ok(())
}

#[tokio::test]
async fn taps_during_replay_are_delivered_once_in_order() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let members = fx.members("R", 60, None).await?;
    let mut clients = Vec::new();
    for no in &members {
        clients.push(MemberClient::login(&server.url(), no, PIN).await?);
    }
    for client in &clients[..30] {
        client.tap(center.id.as_str(), "k").await?.checkin()?;
    }
    let (desk_ws, welcome) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;
    desk_ws.close().await?;
    // Rejoin from 0 while 30 more taps race the replay.
    let url = server.url();
    let center_id = center.id.to_string();
    let tapping = tokio::spawn(async move {
        for client in &clients[30..] {
            client.tap(&center_id, "k").await?.checkin()?;
        }
        anyhow::Ok(())
    });
    let (mut desk_ws, _) = DeskClient::join(&url, &desk.token, Some(&welcome.epoch), 0).await?;
    let events = desk_ws.events(0, 60).await?;
    tapping.await??;
    assert_eq!(events.len(), 60);
    desk_ws.expect_silence(Duration::from_millis(300)).await?;
    Ok(())
}

#[tokio::test]
async fn a_foreign_epoch_or_impossible_cursor_is_not_resumed() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let members = fx.members("E", 3, None).await?;
    for no in &members {
        let m = MemberClient::login(&server.url(), no, PIN).await?;
        m.tap(center.id.as_str(), "k").await?.checkin()?;
    }
    let (first, welcome) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;
    first.close().await?;
    let epoch = welcome.epoch;

    let (d, w) = DeskClient::join(&server.url(), &desk.token, Some("another-database"), 2).await?;
    assert!(!w.resumed, "another database's cursor means nothing here");
    assert_eq!(w.head_seq, 3);
    d.close().await?;

    let (d, w) = DeskClient::join(&server.url(), &desk.token, Some(&epoch), 99).await?;
    assert!(!w.resumed, "a cursor beyond the head cannot be resumed");
    d.close().await?;

    // Not resumed: no replay, only live events after the head.
    let (mut d, w) = DeskClient::join(&server.url(), &desk.token, Some("x"), 0).await?;
    assert!(!w.resumed);
    d.expect_silence(Duration::from_millis(300)).await?;
    d.close().await?;

    let (mut d, w) = DeskClient::join(&server.url(), &desk.token, Some(&epoch), 1).await?;
    assert!(w.resumed);
    d.events(1, 2).await?;
    d.close().await?;
    Ok(())
}

#[tokio::test]
async fn a_cursor_older_than_retention_is_not_resumed() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let members = fx.members("P", 3, None).await?;
    for no in &members {
        let m = MemberClient::login(&server.url(), no, PIN).await?;
        m.tap(center.id.as_str(), "k").await?.checkin()?;
    }
    let (d, welcome) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;
    d.close().await?;
    let data = server.stop().await?;

    // Restart with a retention so short that every event is already too old.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let server =
        TestServer::start_in(data, |c| c.retention = chrono::Duration::milliseconds(1)).await?;
    let (d, w) = DeskClient::join(&server.url(), &desk.token, Some(&welcome.epoch), 1).await?;
    assert!(!w.resumed, "events after seq 1 were pruned");
    assert_eq!(w.epoch, welcome.epoch, "a restart keeps the epoch");
    d.close().await?;
    let (d, w) = DeskClient::join(&server.url(), &desk.token, Some(&welcome.epoch), 3).await?;
    assert!(
        w.resumed,
        "a desk that had everything loses nothing to pruning"
    );
    d.close().await?;
    Ok(())
}

#[tokio::test]
async fn a_graceful_shutdown_tells_desks_to_come_back() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let (mut d, _) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;
    let stopping = tokio::spawn(server.stop());
    let closed = d.closed().await?;
    let close = closed
        .close
        .ok_or_else(|| anyhow::anyhow!("no close frame"))?;
    assert_eq!(u16::from(close.code), 1001, "going away");
    stopping.await??;
    Ok(())
}
