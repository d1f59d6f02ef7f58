//! What operators watch: `/metrics` and the external `probe`.

use gymgate_tests::{DeskClient, Fixture, MemberClient, PIN, TestServer};

const EXE: &str = env!("CARGO_BIN_EXE_gymgate-server-under-test");

/// The value of one series (name with its labels, exactly as rendered).
fn series(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn scrape(url: &str) -> anyhow::Result<String> {
    let response = reqwest::get(format!("{url}/metrics")).await?;
    anyhow::ensure!(response.status() == 200, "metrics: {}", response.status());
    Ok(response.text().await?)
}

#[tokio::test]
async fn metrics_count_taps_commits_desks_and_refusals() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("P", 1, None).await?;
    let member = MemberClient::login(&server.url(), &numbers[0], PIN).await?;
    let before = scrape(&server.url()).await?;

    let (mut ws, _) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;
    member.tap(center.id.as_str(), "m1").await?.checkin()?;
    ws.next_event().await?;
    member.tap(center.id.as_str(), "m1").await?.checkin()?; // same key: repeated
    assert_eq!(member.tap(center.id.as_str(), "m2").await?.status(), 403); // once a day

    let after = scrape(&server.url()).await?;
    let delta = |name: &str| series(&after, name) - series(&before, name);
    assert_eq!(delta("gymgate_taps_total{outcome=\"created\"}"), 1.0);
    assert_eq!(delta("gymgate_taps_total{outcome=\"repeated\"}"), 1.0);
    assert_eq!(delta("gymgate_taps_total{outcome=\"refused\"}"), 1.0);
    assert_eq!(series(&after, "gymgate_desks_connected"), 1.0);
    assert!(delta("gymgate_db_commit_seconds_count") >= 1.0);
    assert!(delta("gymgate_tap_seconds_count") >= 3.0);
    // Every tap is a write job, refused ones included (the policy runs inside the job).
    assert!(delta("gymgate_db_write_wait_seconds_count") >= 3.0);
    assert!(after.contains("gymgate_db_commit_batch_jobs_bucket"));
    assert!(!after.contains(center.id.as_str()), "no per-center labels");

    ws.close().await?;
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
    while series(&scrape(&server.url()).await?, "gymgate_desks_connected") != 0.0 {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "desk gauge never fell"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test]
async fn the_probe_passes_on_a_ready_server_and_alerts_on_a_dead_one() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let ok = tokio::process::Command::new(EXE)
        .args(["probe", "--url", &server.url()])
        .output()
        .await?;
    assert!(ok.status.success(), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).contains("is ready"));

    // A stand-in for the Slack webhook.
    let hook = gymgate_tests::WebhookStub::start().await?;

    let dead = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
        probe.local_addr()?
    };
    let failed = tokio::process::Command::new(EXE)
        .args([
            "probe",
            "--timeout",
            "2",
            "--url",
            &format!("http://{dead}"),
        ])
        .env("GYMGATE_PROBE_WEBHOOK", &hook.url)
        .output()
        .await?;
    assert_eq!(failed.status.code(), Some(2), "{failed:?}");
    let alerts = hook.delivered();
    assert_eq!(alerts.len(), 1);
    let text = &alerts[0];
    assert!(text.contains("unreachable"), "{text}");
    assert!(text.contains(&dead.to_string()), "{text}");
    Ok(())
}

#[tokio::test]
async fn operators_see_each_desks_presence_version_and_backlog() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let never = fx.desk(center.id.as_str()).await?;

    let mut ws = DeskClient::connect(&server.url(), &desk.token).await?;
    ws.send(&gymgate_shared::protocol::DeskMessage::Hello {
        presence_key: None,
        protocol: 1,
        epoch: None,
        last_seq: 0,
        app_version: Some("1.2.3".into()),
        outbox: 4,
        clock: None,
    })
    .await?;
    ws.next().await?; // welcome
    let find = |desks: &[gymgate_shared::api::AdminDesk], id: &gymgate_shared::DeskId| {
        desks.iter().find(|d| &d.id == id).cloned()
    };
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
    let online = loop {
        let desks = fx.admin.desks().await?;
        if let Some(d) = find(&desks, &desk.desk_id).filter(|d| d.app_version.is_some()) {
            break d;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "presence never stored"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(online.online);
    assert_eq!(online.offline_since, None);
    assert_eq!(online.app_version.as_deref(), Some("1.2.3"));
    assert_eq!(online.outbox_backlog, 4);
    let silent =
        find(&fx.admin.desks().await?, &never.desk_id).ok_or_else(|| anyhow::anyhow!("missing"))?;
    assert!(!silent.online);
    assert_eq!(
        silent.offline_since, None,
        "never connected is not 'offline since'"
    );

    ws.close().await?;
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
    loop {
        let desks = fx.admin.desks().await?;
        if let Some(d) = find(&desks, &desk.desk_id).filter(|d| !d.online) {
            assert!(d.offline_since.is_some(), "an offline desk says since when");
            assert_eq!(
                d.app_version.as_deref(),
                Some("1.2.3"),
                "the version is remembered"
            );
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "desk never went offline"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}
