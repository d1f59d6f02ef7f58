//! In-server alerting against local stand-ins for Slack and the SMS gateway, with a manual
//! clock so minutes pass at once; the incident log; backups with the online backup API.

use std::time::Duration;

use chrono::Utc;
use gymgate_server::Clock;
use gymgate_server::Config;
use gymgate_shared::api::{IncidentKind, IncidentNotes};
use gymgate_tests::{
    DeskClient, Fixture, MemberClient, PIN, ServerProcess, TestServer, WebhookStub,
};

const EXE: &str = env!("CARGO_BIN_EXE_gymgate-server-under-test");
/// Several alert checks happen within this.
const TICKS: Duration = Duration::from_millis(300);

fn fast_alerts(config: &mut Config, clock: &Clock, slack: &WebhookStub, sms: &WebhookStub) {
    let alerts = &mut config.alerts;
    alerts.slack_url = Some(slack.url.clone());
    alerts.sms_url = Some(sms.url.clone());
    alerts.check_every = Duration::from_millis(25);
    alerts.clock = clock.clone();
    alerts.delivery.min_interval = Duration::from_millis(20);
    alerts.delivery.backoff = Duration::from_millis(20);
    alerts.delivery.timeout = Duration::from_millis(300);
    alerts.delivery.attempts = 30;
}

/// A server whose alerts go to `slack` and a fresh SMS stand-in, on a manual clock.
struct Watched {
    sms: WebhookStub,
    clock: Clock,
    server: TestServer,
    fx: Fixture,
}

async fn watched(slack: &WebhookStub) -> anyhow::Result<Watched> {
    let sms = WebhookStub::start().await?;
    let clock = Clock::manual(Utc::now());
    let server = TestServer::start_with(|c| fast_alerts(c, &clock, slack, &sms)).await?;
    let fx = Fixture::new(server.url());
    Ok(Watched {
        sms,
        clock,
        server,
        fx,
    })
}

async fn until(what: &str, mut done: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
    while !done() {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

#[tokio::test]
async fn an_offline_center_alerts_once_escalates_by_sms_and_resolves_once() -> anyhow::Result<()> {
    let slack = WebhookStub::start().await?;
    let Watched {
        sms,
        clock,
        server,
        fx,
    } = watched(&slack).await?;
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let (ws, _) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;
    tokio::time::sleep(TICKS).await;
    ws.close().await?;
    until("desk gone", || server.state.hub.connections() == 0).await?;
    tokio::time::sleep(TICKS).await;

    clock.advance(chrono::Duration::minutes(4));
    tokio::time::sleep(TICKS).await;
    assert!(
        slack.delivered().is_empty(),
        "4 minutes is not yet an outage"
    );

    clock.advance(chrono::Duration::minutes(2));
    let raised = slack.wait_for(1).await?;
    tokio::time::sleep(TICKS).await;
    assert_eq!(
        slack.delivered().len(),
        1,
        "raised once: {:?}",
        slack.delivered()
    );
    assert!(
        raised[0].contains("강남점") && raised[0].contains("every desk offline"),
        "{}",
        raised[0]
    );
    assert!(sms.delivered().is_empty(), "not escalated yet");

    clock.advance(chrono::Duration::minutes(15));
    let escalated = sms.wait_for(1).await?;
    assert!(
        escalated[0].contains("강남점") && escalated[0].contains("ongoing"),
        "{}",
        escalated[0]
    );
    slack.wait_for(2).await?; // Slack hears of the escalation too

    let (_ws, _) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;
    let resolved = slack.wait_for(3).await?;
    assert!(
        resolved[2].contains("resolved") && resolved[2].contains("강남점"),
        "{}",
        resolved[2]
    );
    let sms_resolved = sms.wait_for(2).await?;
    assert!(sms_resolved[1].contains("resolved"), "{}", sms_resolved[1]);
    tokio::time::sleep(TICKS).await;
    assert_eq!(slack.delivered().len(), 3, "{:?}", slack.delivered());
    assert_eq!(sms.delivered().len(), 2, "{:?}", sms.delivered());
    println!(
        "slack: {:#?}\nsms: {:#?}",
        slack.delivered(),
        sms.delivered()
    );

    // The incident log has it, start to end, and takes the operator's notes.
    let admin = server.admin();
    let log = admin.incidents(10).await?;
    let incident = log
        .iter()
        .find(|i| i.key == format!("center_offline:{}", center.id))
        .ok_or_else(|| anyhow::anyhow!("no incident in {log:?}"))?;
    assert_eq!(incident.kind, IncidentKind::Alert);
    let ended = incident
        .ended_at
        .ok_or_else(|| anyhow::anyhow!("not ended"))?;
    assert_eq!((ended - incident.started_at).num_minutes(), 21);
    let notes = IncidentNotes {
        cause: Some("센터 인터넷 공유기 고장".into()),
        action: Some("LTE 라우터로 교체".into()),
        follow_up: Some("spare router at every center".into()),
    };
    let noted = admin.annotate_incident(&incident.id, &notes).await?;
    assert_eq!(noted.cause, "센터 인터넷 공유기 고장");
    let again = admin.incidents(10).await?;
    assert!(
        again
            .iter()
            .any(|i| i.id == incident.id && i.follow_up == "spare router at every center")
    );
    let unknown = admin.annotate_incident("no-such-incident", &notes).await;
    assert!(unknown.is_err(), "{unknown:?}");
    Ok(())
}

#[tokio::test]
async fn forty_centers_going_offline_together_are_one_message() -> anyhow::Result<()> {
    let slack = WebhookStub::start().await?;
    let Watched {
        sms: _sms,
        clock,
        server,
        fx,
    } = watched(&slack).await?;
    let mut desks = Vec::new();
    let mut names = Vec::new();
    for i in 0..40 {
        let name = format!("센터{i:02}");
        let center = fx.center(&name).await?;
        let desk = fx.desk(center.id.as_str()).await?;
        desks.push(
            DeskClient::join(&server.url(), &desk.token, None, 0)
                .await?
                .0,
        );
        names.push(name);
    }
    tokio::time::sleep(TICKS).await;
    for desk in desks {
        desk.close().await?;
    }
    until("desks gone", || server.state.hub.connections() == 0).await?;
    tokio::time::sleep(TICKS).await;
    clock.advance(chrono::Duration::minutes(6));
    let messages = slack.wait_for(1).await?;
    tokio::time::sleep(TICKS).await;
    assert_eq!(
        slack.delivered().len(),
        1,
        "one message: {:?}",
        slack.delivered()
    );
    let text = &messages[0];
    assert!(text.contains("40 raised"), "{text}");
    for name in &names {
        assert!(text.contains(name.as_str()), "{name} missing from {text}");
    }
    println!(
        "one message for 40 centers, {} characters",
        text.chars().count()
    );
    Ok(())
}

#[tokio::test]
async fn a_hanging_webhook_is_retried_and_taps_go_on() -> anyhow::Result<()> {
    // Every attempt hangs (and times out) until released; then the message is taken.
    let slack = WebhookStub::start_failing(0, true).await?;
    let Watched {
        sms: _sms,
        clock,
        server,
        fx,
    } = watched(&slack).await?;
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("H", 20, None).await?;
    drop(desk); // never connects: the center is offline from the start
    tokio::time::sleep(TICKS).await;
    clock.advance(chrono::Duration::minutes(6));
    until("the first attempt", || slack.attempts() >= 1).await?;

    // The channel is stuck; taps are answered as usual meanwhile.
    for number in &numbers {
        let member = MemberClient::login(&server.url(), number, PIN).await?;
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            member.tap(center.id.as_str(), &format!("k-{number}")),
        )
        .await??;
        assert_eq!(answer.status(), 201);
    }
    assert!(slack.delivered().is_empty(), "still hanging");
    let hung_attempts = slack.attempts();
    assert!(
        hung_attempts >= 2,
        "timed-out attempts are retried: {hung_attempts}"
    );

    slack.release();
    let delivered = slack.wait_for(1).await?;
    assert!(delivered[0].contains("강남점"), "{}", delivered[0]);
    println!(
        "20 taps answered while the webhook hung; delivered after {} attempts",
        slack.attempts()
    );
    Ok(())
}

#[tokio::test]
async fn a_webhook_answering_500_is_retried_until_it_takes_the_message() -> anyhow::Result<()> {
    let slack = WebhookStub::start_failing(3, false).await?;
    let Watched {
        sms: _sms,
        clock,
        server: _server,
        fx,
    } = watched(&slack).await?;
    let center = fx.center("강남점").await?;
    fx.desk(center.id.as_str()).await?;
    tokio::time::sleep(TICKS).await;
    clock.advance(chrono::Duration::minutes(6));
    let delivered = slack.wait_for(1).await?;
    assert_eq!(slack.attempts(), 4, "three 500s, then delivered");
    assert!(delivered[0].contains("강남점"));
    Ok(())
}

#[tokio::test]
async fn a_killed_server_says_it_restarted_and_logs_the_restart() -> anyhow::Result<()> {
    let (_dir, data) = gymgate_tests::server::data_dir()?;
    let first = ServerProcess::spawn(EXE, &data).await?;
    first.kill().await?;

    let slack = WebhookStub::start().await?;
    let second = ServerProcess::spawn_env(
        EXE,
        &data,
        &[],
        &[("GYMGATE_SLACK_WEBHOOK", slack.url.as_str())],
    )
    .await?;
    let messages = slack.wait_for(1).await?;
    assert!(messages[0].contains("unclean stop"), "{}", messages[0]);
    let log = second.admin().incidents(10).await?;
    let restart = log
        .iter()
        .find(|i| i.kind == IncidentKind::Restart)
        .ok_or_else(|| anyhow::anyhow!("no restart in {log:?}"))?;
    assert!(restart.ended_at.is_some());
    assert!(restart.title.contains("unclean"));
    Ok(())
}

#[tokio::test]
async fn notices_are_in_the_incident_log_until_cleared() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let admin = server.admin();
    let notice = admin
        .post_notice(&gymgate_shared::api::NewNotice {
            severity: gymgate_shared::api::Severity::Warning,
            text_ko: "결제 시스템 점검 중".into(),
            text_en: "Payments under maintenance".into(),
            ends_at: None,
            center_ids: Vec::new(),
        })
        .await?;
    let key = format!("notice:{}", notice.id);
    let open = admin.incidents(10).await?;
    let entry = open
        .iter()
        .find(|i| i.key == key)
        .ok_or_else(|| anyhow::anyhow!("notice not logged: {open:?}"))?;
    assert_eq!(entry.kind, IncidentKind::Notice);
    assert_eq!(entry.ended_at, None);
    admin.clear_notice(notice.id.as_str()).await?;
    let closed = admin.incidents(10).await?;
    assert!(closed.iter().any(|i| i.key == key && i.ended_at.is_some()));
    Ok(())
}

#[tokio::test]
async fn a_backup_taken_while_taps_go_on_holds_every_answered_checkin() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let numbers = fx.members("B", 30, None).await?;
    let mut members = Vec::new();
    for number in &numbers {
        members.push(MemberClient::login(&server.url(), number, PIN).await?);
    }
    let mut answered = Vec::new();
    for member in &members[..20] {
        answered.push(
            member
                .tap(center.id.as_str(), "before")
                .await?
                .checkin()?
                .id
                .clone(),
        );
    }
    // Taps keep coming while the copy is made.
    let center_id = center.id.to_string();
    let later: Vec<MemberClient> = members.split_off(20);
    let during = tokio::spawn(async move {
        let mut ok = 0;
        for member in &later {
            if member
                .tap(&center_id, "during")
                .await
                .is_ok_and(|a| a.status() == 201)
            {
                ok += 1;
            }
        }
        ok
    });
    let target = server.data.path().join("copy.db");
    let out = tokio::process::Command::new(EXE)
        .args(["backup", "--data-dir"])
        .arg(server.data.path())
        .arg("--to")
        .arg(&target)
        .output()
        .await?;
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("integrity ok"));
    assert_eq!(during.await?, 10);

    let copy = rusqlite::Connection::open(&target)?;
    let check: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    assert_eq!(check, "ok");
    for id in &answered {
        let found: i64 = copy.query_row(
            "SELECT COUNT(*) FROM checkins WHERE id = ?1",
            [id.as_str()],
            |r| r.get(0),
        )?;
        assert_eq!(
            found, 1,
            "check-in {id} answered before the backup is in it"
        );
    }
    drop(copy);

    // A second backup to the same file is refused rather than overwriting the first.
    let again = tokio::process::Command::new(EXE)
        .args(["backup", "--data-dir"])
        .arg(server.data.path())
        .arg("--to")
        .arg(&target)
        .output()
        .await?;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));

    // The copy runs as a server: restore is "put the file in a data directory".
    let restored = tempfile::tempdir()?;
    std::fs::copy(&target, restored.path().join("gymgate.db"))?;
    let server2 = TestServer::start_in(restored, |_| {}).await?;
    let centers = server2.admin().centers().await?;
    assert!(centers.iter().any(|c| c.id == center.id));
    Ok(())
}
