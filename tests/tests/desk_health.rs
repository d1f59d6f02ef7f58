//! Desk health (issue 25): desks say how they are doing; the server keeps it, shows it to
//! operators worst first, and raises "the center program is not working normally" alerts
//! (outbox stuck, crashing, disk nearly full, clock off, flapping) that resolve when the desk
//! is well again. Reports left after a crash arrive bounded.

use std::time::Duration;

use chrono::Utc;
use gymgate_shared::api::AdminDesk;
use gymgate_shared::protocol::{DeskHealth, DeskMessage, DeskReport};
use gymgate_tests::desk_core::pairing;
use gymgate_tests::{DeskClient, Fixture, RunningDesk, TestServer, WAIT, WebhookStub};

async fn desk_of(fx: &Fixture, id: &str) -> anyhow::Result<AdminDesk> {
    fx.admin
        .desks()
        .await?
        .into_iter()
        .find(|d| d.id.as_str() == id)
        .ok_or_else(|| anyhow::anyhow!("no desk {id}"))
}

fn codes(desk: &AdminDesk) -> Vec<String> {
    desk.health
        .as_ref()
        .map(|h| h.problems.iter().map(|p| p.code.clone()).collect())
        .unwrap_or_default()
}

/// Waits until Slack has been told something containing each of `parts`.
async fn told(slack: &WebhookStub, parts: &[&str]) -> anyhow::Result<String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let all = slack.delivered().join("\n");
        if parts.iter().all(|p| all.contains(p)) {
            return Ok(all);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "Slack was not told {parts:?}: {all}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A server checking its alerts every 50 ms and telling a local Slack stand-in.
async fn alerting_server() -> anyhow::Result<(WebhookStub, TestServer)> {
    let slack = WebhookStub::start().await?;
    let url = slack.url.clone();
    let server = TestServer::start_with(move |c| {
        c.alerts.slack_url = Some(url);
        c.alerts.check_every = Duration::from_millis(50);
        c.alerts.delivery.min_interval = Duration::from_millis(20);
    })
    .await?;
    Ok((slack, server))
}

#[tokio::test]
async fn a_troubled_desk_is_shown_and_alerted_and_resolved_when_well() -> anyhow::Result<()> {
    let (slack, server) = alerting_server().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    let sick = fx.desk(center.id.as_str()).await?;
    let well = fx.desk(center.id.as_str()).await?;
    let (mut desk, _) = DeskClient::join(&url, &sick.token, None, 0).await?;
    let (mut other, _) = DeskClient::join(&url, &well.token, None, 0).await?;
    other
        .send(&DeskMessage::Health(DeskHealth {
            clock: Some(Utc::now()),
            disk_free_mb: Some(80_000),
            ..DeskHealth::default()
        }))
        .await?;

    // Two check-ins unsent for 11 minutes while connected, 100 MB of disk, the clock five
    // minutes fast, three crashes today.
    let now = Utc::now();
    desk.send(&DeskMessage::Health(DeskHealth {
        outbox: 2,
        outbox_oldest: Some(now - chrono::Duration::minutes(11)),
        last_sync: Some(now - chrono::Duration::minutes(12)),
        clock: Some(now + chrono::Duration::minutes(5)),
        disk_free_mb: Some(100),
        cache_errors: 1,
        restarts_24h: 3,
        crashes_24h: 3,
        update: None,
    }))
    .await?;
    let all = told(
        &slack,
        &[
            "강남점",
            "오프라인 입장 2건이 11분째 전송되지 않음",
            "디스크 여유 공간 100 MB",
            "PC 시계가 300초 빠름",
            "24시간 동안 3번 다시 시작 (비정상 종료 3번)",
        ],
    )
    .await?;
    assert!(all.contains("the PC's clock is 300 s fast"), "{all}");

    // The console's desk list: the sick desk's figures and problems, worst first.
    let shown = desk_of(&fx, sick.desk_id.as_str()).await?;
    assert_eq!(
        codes(&shown),
        ["outbox_stuck", "crashing", "disk_low", "clock_off"]
    );
    let health = shown.health.as_ref().expect("health");
    assert_eq!((health.health.outbox, health.health.cache_errors), (2, 1));
    assert_eq!(
        health.clock_skew_s.map(|s| (s - 300).abs() <= 2),
        Some(true)
    );
    assert!(codes(&desk_of(&fx, well.desk_id.as_str()).await?).is_empty());

    // Well again: every one of its alerts resolves, and the list says nothing is wrong.
    desk.send(&DeskMessage::Health(DeskHealth {
        clock: Some(Utc::now()),
        disk_free_mb: Some(40_000),
        last_sync: Some(Utc::now()),
        restarts_24h: 1,
        ..DeskHealth::default()
    }))
    .await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    while slack.delivered().join("\n").matches("✅").count() < 4 {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "not all resolved: {:?}",
            slack.delivered()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(codes(&desk_of(&fx, sick.desk_id.as_str()).await?).is_empty());
    let incidents = fx.admin.incidents(50).await?;
    let keys: Vec<&str> = incidents.iter().map(|i| i.key.as_str()).collect();
    let expected = format!("desk_health:disk_low:{}", sick.desk_id);
    assert!(keys.contains(&expected.as_str()), "{keys:?}");
    assert!(
        incidents.iter().all(|i| i.ended_at.is_some()),
        "all ended: {incidents:?}"
    );

    // A desk that drops and comes back again and again is flapping.
    desk.close().await?;
    for _ in 0..6 {
        let (again, _) = DeskClient::join(&url, &sick.token, None, 0).await?;
        again.close().await?;
    }
    told(&slack, &["강남점", "번 다시 연결 (연결이 불안정)"]).await?;
    let flapping = desk_of(&fx, sick.desk_id.as_str()).await?;
    assert_eq!(codes(&flapping), ["flapping"]);
    Ok(())
}

#[tokio::test]
async fn crash_reports_are_kept_cut_to_size_and_bounded() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("역삼점").await?;
    let paired = fx.desk(center.id.as_str()).await?;
    let (mut desk, _) = DeskClient::join(&url, &paired.token, None, 0).await?;
    let at = Utc::now() - chrono::Duration::minutes(3);
    desk.send(&DeskMessage::Report(DeskReport {
        at,
        kind: "panic".into(),
        text: format!("panicked at app/src/ui/app.rs:10: {}", "가".repeat(5000)),
    }))
    .await?;
    desk.send(&DeskMessage::Report(DeskReport {
        at,
        kind: "<script>".into(),
        text: "odd".into(),
    }))
    .await?;
    for i in 0..12 {
        desk.send(&DeskMessage::Report(DeskReport {
            at,
            kind: "cache".into(),
            text: format!("cache write failed {i}"),
        }))
        .await?;
    }
    // Still connected and served: a report is no reason to drop a desk.
    desk.send(&DeskMessage::Ack { seq: 0 }).await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    let reports = loop {
        let reports = fx.admin.desk_reports(paired.desk_id.as_str()).await?;
        if reports.len() >= 10 || tokio::time::Instant::now() > deadline {
            break reports;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(reports.len(), 10, "ten a connection: {reports:?}");
    let panic = reports
        .iter()
        .find(|r| r.kind == "panic")
        .expect("the panic");
    assert_eq!(panic.text.chars().count(), 4000);
    assert_eq!(panic.at.timestamp(), at.timestamp());
    assert!(reports.iter().any(|r| r.kind == "other" && r.text == "odd"));
    let unknown = reqwest::Client::new()
        .get(format!(
            "{url}/api/v1/admin/desks/{}/reports",
            paired.desk_id
        ))
        .send()
        .await?;
    assert_eq!(unknown.status(), reqwest::StatusCode::UNAUTHORIZED);
    Ok(())
}

/// Operators set the lowest desk version still supported; a desk below it (by its hello)
/// is `outdated` in the list and alerted until the minimum is lowered or it updates.
#[tokio::test]
async fn a_desk_below_the_minimum_version_is_outdated() -> anyhow::Result<()> {
    use gymgate_shared::protocol::{PROTOCOL_VERSION, ServerMessage};
    let (slack, server) = alerting_server().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("선릉점").await?;
    let paired = fx.desk(center.id.as_str()).await?;
    let mut desk = DeskClient::connect(&url, &paired.token).await?;
    desk.send(&DeskMessage::Hello {
        presence_key: None,
        protocol: PROTOCOL_VERSION,
        epoch: None,
        last_seq: 0,
        app_version: Some("0.1.0".into()),
        outbox: 0,
        clock: Some(Utc::now()),
    })
    .await?;
    anyhow::ensure!(matches!(desk.next().await?, ServerMessage::Welcome { .. }));
    desk.send(&DeskMessage::Health(DeskHealth {
        clock: Some(Utc::now()),
        disk_free_mb: Some(9_000),
        ..DeskHealth::default()
    }))
    .await?;
    let http = reqwest::Client::new();
    let set = |version: serde_json::Value| {
        http.put(format!("{url}/api/v1/admin/min-desk-version"))
            .bearer_auth(gymgate_tests::ADMIN_TOKEN)
            .json(&serde_json::json!({ "version": version }))
            .send()
    };
    let wrong = set(serde_json::json!("최신")).await?;
    assert_eq!(wrong.status(), reqwest::StatusCode::BAD_REQUEST);
    let body: serde_json::Value = wrong.json().await?;
    assert_eq!(body["error"]["code"], "invalid_version");
    assert!(set(serde_json::json!("0.1.0")).await?.status().is_success());
    assert!(codes(&desk_of(&fx, paired.desk_id.as_str()).await?).is_empty());

    assert!(set(serde_json::json!("0.2.0")).await?.status().is_success());
    told(&slack, &["선릉점", "지원하지 않는 버전 0.1.0 (최소 0.2.0)"]).await?;
    assert_eq!(
        codes(&desk_of(&fx, paired.desk_id.as_str()).await?),
        ["outdated"]
    );
    let audit = fx.admin.audit().await?;
    assert!(
        audit.iter().any(|a| a.action == "desks.min_version"),
        "audited"
    );

    assert!(set(serde_json::Value::Null).await?.status().is_success());
    let deadline = tokio::time::Instant::now() + WAIT;
    while !slack.delivered().join("\n").contains("✅") {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "not resolved: {:?}",
            slack.delivered()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(codes(&desk_of(&fx, paired.desk_id.as_str()).await?).is_empty());
    Ok(())
}

/// Waits until every named log of the desk has been uploaded; returns the list.
async fn uploaded(
    fx: &Fixture,
    desk_id: &str,
    requests: &[&str],
) -> anyhow::Result<Vec<gymgate_shared::api::AdminDeskLog>> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let logs = fx.admin.desk_logs(desk_id).await?;
        let done = requests.iter().all(|id| {
            logs.iter()
                .any(|l| l.request_id == *id && l.uploaded_at.is_some())
        });
        if done {
            return Ok(logs);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the desk did not upload {requests:?}: {logs:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn operators_get_a_desks_recent_log_redacted_and_audited() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    let paired = fx.desk(center.id.as_str()).await?;
    let desk_id = paired.desk_id.to_string();

    // Two days of log, 1.3 MB together, with secrets the desk must not send.
    let dir = tempfile::tempdir()?;
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs)?;
    let filler = |day: &str, n: usize| -> String {
        (0..n)
            .map(|i| {
                format!("{day}T09:00:00Z INFO gymgate_desk_core::link: event {i:06} stored 입장\n")
            })
            .collect()
    };
    let mut yesterday = filler("2026-12-01", 9_000);
    yesterday.push_str("2026-12-01T23:59:00Z WARN request Authorization: Bearer qwertyTOKEN123 member 010-2222-3333\n");
    let mut today = filler("2026-12-02", 7_000);
    today.push_str("2026-12-02T10:00:00Z INFO the last line pass GP1.eyJhYmMiOjF9.c2lnbmF0dXJl\n");
    std::fs::write(logs.join("desk.log.2026-12-01"), &yesterday)?;
    std::fs::write(logs.join("desk.log.2026-12-02"), &today)?;
    anyhow::ensure!(yesterday.len() + today.len() > 1_200_000);

    // Asked while the desk is off: it is asked when it connects.
    let (first, delivered) = fx.admin.request_desk_log(&desk_id).await?;
    anyhow::ensure!(!delivered, "the desk is not connected");
    let mut desk = RunningDesk::start(dir.path(), pairing(&url, &paired)).await?;
    desk.wait_online().await?;
    uploaded(&fx, &desk_id, &[&first]).await?;
    let text = fx.admin.desk_log(&first).await?;
    anyhow::ensure!(
        text.len() <= gymgate_shared::protocol::MAX_LOG_BYTES as usize && text.len() > 1_000_000,
        "about 1 MB: {}",
        text.len()
    );
    anyhow::ensure!(
        text.ends_with("[가림]\n") && text.contains("INFO the last line pass GP1.[가림]"),
        "the newest line last, the pass code hidden: {:?}",
        &text[text.len() - 200..]
    );
    anyhow::ensure!(
        text.starts_with("2026-12-01T09:00:00Z INFO"),
        "starts at a whole line: {:?}",
        &text[..80]
    );
    for secret in ["qwertyTOKEN123", "010-2222-3333", "eyJhYmMiOjF9"] {
        anyhow::ensure!(!text.contains(secret), "{secret} left in the log");
    }
    anyhow::ensure!(text.contains("Bearer [가림] member [전화번호]"));

    // Asked while connected: at once.
    std::fs::write(
        logs.join("desk.log.2026-12-03"),
        "2026-12-03T08:00:00Z INFO a new day\n",
    )?;
    let (second, delivered) = fx.admin.request_desk_log(&desk_id).await?;
    anyhow::ensure!(delivered, "a connected desk is asked at once");
    let listed = uploaded(&fx, &desk_id, &[&first, &second]).await?;
    anyhow::ensure!(
        listed.len() == 2 && listed[0].request_id == second,
        "{listed:?}"
    );
    anyhow::ensure!(fx.admin.desk_log(&second).await?.ends_with("a new day\n"));

    // Only this desk, once, within the size; nobody without a token.
    let http = reqwest::Client::new();
    let put = |token: Option<&str>, id: &str, body: Vec<u8>| {
        let request = http.put(format!("{url}/api/v1/desk/logs/{id}")).body(body);
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    };
    let other = fx.desk(center.id.as_str()).await?;
    let (third, _) = fx.admin.request_desk_log(&desk_id).await?;
    let status = put(Some(&other.token), &third, b"not mine".to_vec())
        .send()
        .await?
        .status();
    anyhow::ensure!(status == 404, "another desk's request: {status}");
    let status = put(None, &third, b"anyone".to_vec()).send().await?.status();
    anyhow::ensure!(status == 401, "no token: {status}");
    let status = put(Some(&paired.token), &first, b"again".to_vec())
        .send()
        .await?
        .status();
    anyhow::ensure!(status == 409, "answered twice: {status}");
    let status = put(Some(&paired.token), &third, vec![b'x'; 2 << 20])
        .send()
        .await?
        .status();
    anyhow::ensure!(status == 413, "2 MB: {status}");
    anyhow::ensure!(
        fx.admin.desk_log(&first).await?.len() > 1_000_000,
        "the first upload stays"
    );
    let revoked = fx.admin.request_desk_log("no-such-desk").await;
    anyhow::ensure!(revoked.is_err(), "an unknown desk");

    let audit = fx.admin.audit().await?;
    let count = |action: &str| audit.iter().filter(|a| a.action == action).count();
    anyhow::ensure!(count("desk.log_request") == 3, "{audit:?}");
    anyhow::ensure!(count("desk.log_upload") == 2);
    anyhow::ensure!(count("desk.log_read") == 3);
    let upload = audit
        .iter()
        .find(|a| a.action == "desk.log_upload")
        .ok_or_else(|| anyhow::anyhow!("no upload row"))?;
    anyhow::ensure!(upload.actor == format!("desk:{desk_id}"), "{upload:?}");
    desk.stop().await?;
    Ok(())
}
