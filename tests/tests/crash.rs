//! The server process is killed with SIGKILL while answering taps: every tap that got a 201
//! is in the log after a restart and reaches the desk; nothing else appears.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use gymgate_shared::protocol::EventPayload;
use gymgate_tests::server::data_dir;
use gymgate_tests::{DeskClient, Fixture, MemberClient, PIN, ServerProcess};
use tokio::sync::Mutex;

const EXE: &str = env!("CARGO_BIN_EXE_gymgate-server-under-test");

#[tokio::test]
async fn every_tap_answered_201_survives_a_sigkill() -> anyhow::Result<()> {
    let (_keep, dir) = data_dir()?;
    let server = ServerProcess::spawn(EXE, &dir).await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("K", 120, None).await?;
    let (first, welcome) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;
    first.close().await?;
    let mut members = Vec::new();
    for no in &numbers {
        members.push(MemberClient::login(&server.url(), no, PIN).await?);
    }

    // 120 members tap at once; the process dies once 40 have their 201.
    let answered = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(Mutex::new(Vec::new()));
    let (enough_tx, enough_rx) = tokio::sync::watch::channel(false);
    let mut taps = Vec::new();
    for (i, member) in members.into_iter().enumerate() {
        let center_id = center.id.to_string();
        let answered = answered.clone();
        let refused = refused.clone();
        let enough = enough_tx.clone();
        taps.push(tokio::spawn(async move {
            // Spread the taps a little so some are answered before the kill and some after.
            tokio::time::sleep(Duration::from_millis(i as u64 * 3)).await;
            match member.tap(&center_id, &format!("crash-{i}")).await {
                Ok(answer) if answer.status() == 201 => {
                    let id = answer.checkin().map(|c| c.id.to_string());
                    let mut answered = answered.lock().await;
                    answered.push(id.unwrap_or_default());
                    if answered.len() >= 40 {
                        let _ = enough.send(true);
                    }
                }
                Ok(answer) => refused.lock().await.push(answer),
                // Connection cut by the kill: outcome unknown to the member, who retries.
                Err(_) => {}
            }
        }));
    }
    let mut enough_rx = enough_rx;
    tokio::time::timeout(Duration::from_secs(30), enough_rx.wait_for(|e| *e)).await??;
    server.kill().await?;
    for tap in taps {
        tap.await?;
    }
    let answered: HashSet<String> = answered.lock().await.iter().cloned().collect();
    assert!(answered.len() >= 40);
    assert!(
        refused.lock().await.is_empty(),
        "no tap should be refused: {:?}",
        refused.lock().await
    );

    let server = ServerProcess::spawn(EXE, &dir).await?;
    let (mut desk_ws, resumed) =
        DeskClient::join(&server.url(), &desk.token, Some(&welcome.epoch), 0).await?;
    assert!(resumed.resumed);
    assert_eq!(resumed.epoch, welcome.epoch);
    let events = desk_ws.events(0, resumed.head_seq as usize).await?;
    desk_ws.expect_silence(Duration::from_millis(300)).await?;
    let mut logged = HashSet::new();
    for event in &events {
        let EventPayload::Checkin(card) = event.payload()? else {
            anyhow::bail!("unexpected event {event:?}");
        };
        assert!(
            logged.insert(card.checkin.id.to_string()),
            "a check-in logged twice"
        );
    }
    let lost: Vec<_> = answered.difference(&logged).collect();
    assert!(lost.is_empty(), "taps answered 201 but lost: {lost:?}");
    println!(
        "sigkill: {} taps answered 201 before the kill, {} in the log after restart, 0 lost",
        answered.len(),
        logged.len()
    );
    server.kill().await?;
    Ok(())
}
