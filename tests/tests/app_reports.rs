//! "The app loads abnormal data" (issue 25): members' phones report what went wrong; the
//! report endpoint is bounded, keeps a kind and a version only, and a spike of one kind raises
//! an alert that resolves when it ends.

use std::time::Duration;

use chrono::Utc;
use gymgate_server::{Clock, Config};
use gymgate_tests::browser::Browser;
use gymgate_tests::{ADMIN_TOKEN, Fixture, PIN, TestServer, WebhookStub};
use serde_json::{Value, json};

async fn send(url: &str, body: String) -> anyhow::Result<u16> {
    Ok(reqwest::Client::new()
        .post(format!("{url}/api/v1/reports"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?
        .status()
        .as_u16())
}

async fn recent(url: &str) -> anyhow::Result<Value> {
    Ok(reqwest::Client::new()
        .get(format!("{url}/api/v1/admin/app-reports"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

#[tokio::test]
async fn reports_are_bounded_and_keep_a_kind_and_a_version_only() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = server.url();
    let good = json!({"kind": "pass_failed", "app_version": "member-web-0.1.0"}).to_string();
    assert_eq!(send(&url, good.clone()).await?, 204);
    // Unknown kinds are "other"; any other field (here a phone number) is not kept.
    let chatty = json!({"kind": "김민준 010-1234-5678", "app_version": "member-web-0.1.0",
                        "detail": "member 100001 phone 010-1234-5678"});
    assert_eq!(send(&url, chatty.to_string()).await?, 204);
    assert_eq!(send(&url, "{not json".into()).await?, 400);
    let big = json!({"kind": "script_error", "app_version": "x".repeat(2000)}).to_string();
    assert_eq!(send(&url, big).await?, 413);

    let seen = recent(&url).await?;
    let text = seen.to_string();
    assert!(
        !text.contains("010-1234") && !text.contains("김민준"),
        "{text}"
    );
    // Most first, then by kind.
    assert_eq!(
        seen,
        json!([
            {"kind": "other", "kind_ko": "기타", "app_version": "member-web-0.1.0", "count": 1},
            {"kind": "pass_failed", "kind_ko": "오프라인 패스 생성 실패", "app_version": "member-web-0.1.0", "count": 1},
        ])
    );
    // 20 a minute from one address; the 21st is refused.
    let mut refused = 0;
    for _ in 0..20 {
        if send(&url, good.clone()).await? == 429 {
            refused += 1;
        }
    }
    assert_eq!(refused, 2, "2 sent before, 18 more allowed");
    // Only operators read them.
    let anonymous = reqwest::get(format!("{url}/api/v1/admin/app-reports")).await?;
    assert_eq!(anonymous.status().as_u16(), 401);
    Ok(())
}

#[tokio::test]
async fn a_spike_of_one_kind_alerts_and_resolves_and_a_trickle_does_not() -> anyhow::Result<()> {
    let slack = WebhookStub::start().await?;
    let clock = Clock::manual(Utc::now());
    let server = TestServer::start_with(|config: &mut Config| {
        let alerts = &mut config.alerts;
        alerts.slack_url = Some(slack.url.clone());
        alerts.check_every = Duration::from_millis(25);
        alerts.clock = clock.clone();
        alerts.delivery.min_interval = Duration::from_millis(20);
        alerts.delivery.backoff = Duration::from_millis(20);
        alerts.rules.app_reports_per_window = 10;
    })
    .await?;
    let url = server.url();
    let report = |kind: &str| json!({"kind": kind, "app_version": "member-web-0.1.0"}).to_string();
    // Normal life: a few scattered failures.
    for kind in [
        "script_error",
        "script_error",
        "no_ed25519",
        "pass_failed",
        "api_unusable",
    ] {
        assert_eq!(send(&url, report(kind)).await?, 204);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(slack.delivered().is_empty(), "{:?}", slack.delivered());

    for _ in 0..10 {
        assert_eq!(send(&url, report("api_unusable")).await?, 204);
    }
    let raised = slack.wait_for(1).await?;
    assert!(
        raised[0].contains("회원 앱 문제 급증") && raised[0].contains("서버 응답을 쓸 수 없음"),
        "{}",
        raised[0]
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        slack.delivered().len(),
        1,
        "raised once: {:?}",
        slack.delivered()
    );

    // Five quiet minutes later the spike is over.
    clock.advance(chrono::Duration::minutes(6));
    let messages = slack.wait_for(2).await?;
    assert!(
        messages[1].contains("resolved") || messages[1].contains("해소"),
        "{}",
        messages[1]
    );
    Ok(())
}

/// The member app in Chromium reports a script error it did not catch.
#[tokio::test]
async fn the_member_app_reports_an_uncaught_error() -> anyhow::Result<()> {
    let Some(browser) = Browser::start().await? else {
        return Ok(());
    };
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    fx.center("강남점").await?;
    let numbers = fx.members("AR", 1, Some(8)).await?;
    browser.client.goto(&url).await?;
    browser.type_into("#login-member-no", &numbers[0]).await?;
    browser.type_into("#login-pin", PIN).await?;
    browser.click("#login-submit").await?;
    browser.wait_for("#view-home:not([hidden])").await?;
    browser
        .client
        .execute(
            "setTimeout(() => { throw new Error('a bug in a release'); }, 0);",
            vec![],
        )
        .await?;
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
    loop {
        let seen = recent(&url).await?;
        if seen.as_array().is_some_and(|rows| {
            rows.iter()
                .any(|r| r["kind"] == "script_error" && r["app_version"] == "member-web-0.1.0")
        }) {
            break;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "no report: {seen}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.close().await
}
