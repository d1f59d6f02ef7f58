//! A full disk: taps are refused with a clear 503 and nothing half-saved; service comes back
//! by itself when space returns. "Full" is injected at the storage boundary with SQLite's
//! `max_page_count` on the writer's own connection.

use std::time::Duration;

use gymgate_server::AppError;
use gymgate_tests::{DeskClient, Fixture, MemberClient, PIN, TestServer};

async fn set_max_pages(server: &TestServer, pages: Option<u64>) -> anyhow::Result<()> {
    server
        .state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            let limit: i64 = match pages {
                Some(pages) => pages as i64,
                None => 1_073_741_823,
            };
            let current: i64 = ctx.tx.value("PRAGMA page_count", &[])?;
            ctx.tx.query(
                &format!("PRAGMA max_page_count = {}", limit.max(current)),
                &[],
                &mut |_| Ok(()),
            )?;
            Ok(())
        })
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_full_disk_refuses_taps_with_503_and_recovers() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("F", 40, None).await?;
    let mut members = Vec::new();
    for no in &numbers {
        members.push(MemberClient::login(&server.url(), no, PIN).await?);
    }
    let (mut ws, _) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;
    members[0]
        .tap(center.id.as_str(), "ok-before")
        .await?
        .checkin()?;
    assert_eq!(ws.next_event().await?.seq, 1);

    // The database may not grow by a single page: the disk is "full".
    set_max_pages(&server, Some(0)).await?;
    let mut refused = 0;
    let mut stored_while_full = 0;
    for (i, member) in members[1..30].iter().enumerate() {
        let answer = member.tap(center.id.as_str(), &format!("full-{i}")).await?;
        match answer.status().as_u16() {
            503 => {
                assert_eq!(answer.error_code(), Some("storage_unavailable"));
                refused += 1;
            }
            // A tap may still fit in pages freed earlier; then it is fully stored.
            201 => stored_while_full += 1,
            other => anyhow::bail!("unexpected {other}: {answer:?}"),
        }
    }
    assert!(
        refused >= 20,
        "only {refused} of 29 taps were refused while full"
    );
    let ready = reqwest::get(format!("{}/readyz", server.url())).await?;
    assert_eq!(ready.status(), 200, "reads still work while writes cannot");

    // Space returns: the same members (same keys) tap again and every one is stored once.
    set_max_pages(&server, None).await?;
    for (i, member) in members[1..30].iter().enumerate() {
        let answer = member.tap(center.id.as_str(), &format!("full-{i}")).await?;
        assert!(matches!(answer.status().as_u16(), 200 | 201), "{answer:?}");
    }
    // The desk sees exactly one event per stored check-in: 1 before, 29 after, no gaps.
    let events = ws.events(1, 29).await?;
    assert_eq!(events.last().map(|e| e.seq), Some(30));
    ws.expect_silence(Duration::from_millis(300)).await?;
    let head: u64 = fx.admin.centers().await?.iter().map(|c| c.head_seq).sum();
    assert_eq!(head, 30, "no refused tap left anything in the log");
    println!(
        "reliability: disk full | 29 taps while the database could not grow: {refused} refused \
         503, {stored_while_full} stored 201 | retried after space returned: 29 stored once | \
         desk got 30 events 1..30 | lost 0 | doubled 0"
    );
    Ok(())
}

async fn set_read_only(server: &TestServer, on: bool) -> anyhow::Result<()> {
    server
        .state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            ctx.tx.execute(
                &format!("PRAGMA query_only = {}", if on { 1 } else { 0 }),
                &[],
            )?;
            Ok(())
        })
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_read_only_database_refuses_taps_with_503_and_recovers() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("O", 10, None).await?;
    let mut members = Vec::new();
    for no in &numbers {
        members.push(MemberClient::login(&server.url(), no, PIN).await?);
    }
    let (mut ws, _) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;

    // The writer's connection turns read-only, as after a remount or a permissions mistake.
    set_read_only(&server, true).await?;
    for (i, member) in members.iter().enumerate() {
        let answer = member.tap(center.id.as_str(), &format!("ro-{i}")).await?;
        assert_eq!(answer.status(), 503, "{answer:?}");
        assert_eq!(answer.error_code(), Some("storage_unavailable"));
    }
    ws.expect_silence(Duration::from_millis(200)).await?;
    set_read_only(&server, false).await?;
    for (i, member) in members.iter().enumerate() {
        let answer = member.tap(center.id.as_str(), &format!("ro-{i}")).await?;
        assert_eq!(answer.status(), 201, "{answer:?}");
    }
    let events = ws.events(0, 10).await?;
    assert_eq!(events.len(), 10);
    ws.expect_silence(Duration::from_millis(200)).await?;
    println!(
        "reliability: read-only database | 10 taps refused 503 storage_unavailable, none logged \
         | same keys after recovery: 10 stored once, desk got seq 1..10 | lost 0 | doubled 0"
    );
    Ok(())
}
