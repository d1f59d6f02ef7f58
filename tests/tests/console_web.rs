//! The operators' console in a real headless Chromium: an operator logs in, watches a desk go
//! offline and come back, posts a notice a connected desk receives, finds a member and voids
//! a visit (the member's own page shows it), resolves a dispute, and downloads the month's
//! settlement, whose figures match the check-ins made here.

use std::time::Duration;

use gymgate_shared::api::{CheckinStatus, NewOperator, Role};
use gymgate_shared::protocol::{
    DeskMessage, EventKind, OutboxRecord, RecordMethod, RecordStatus, ServerMessage,
};
use gymgate_shared::{LocalId, kst};
use gymgate_tests::browser::Browser;
use gymgate_tests::{DeskClient, Fixture, MemberClient, PIN, TestServer};

const PASSWORD: &str = "콘솔-테스트-비밀번호";

async fn wait_until(
    what: &str,
    mut check: impl AsyncFnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
    while !check().await? {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[tokio::test]
async fn an_operator_works_the_console_in_chromium() -> anyhow::Result<()> {
    let Some(browser) = Browser::start_desktop().await? else {
        return Ok(());
    };
    let Some(phone) = Browser::start().await? else {
        return Ok(());
    };
    let server = TestServer::start_with(|c| {
        c.release_keys = vec![gymgate_tests::desk_core::release_key_public()];
    })
    .await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    fx.center("홍대점").await?;
    // A center that sorts before 강남점, with a desk: a troubled desk must still come first.
    let early = fx.center("가락점").await?;
    fx.desk(early.id.as_str()).await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("CW", 3, Some(8)).await?;
    fx.admin
        .add_operator(&NewOperator {
            username: "ops.kim".into(),
            password: PASSWORD.into(),
            role: Role::Admin,
        })
        .await?;
    let (mut desk_ws, _) = DeskClient::join(&url, &desk.token, None, 0).await?;

    // The member taps Enter on their phone and keeps the answer open.
    phone.client.goto(&format!("{url}/c/{}", center.id)).await?;
    phone.type_into("#login-member-no", &numbers[0]).await?;
    phone.type_into("#login-pin", PIN).await?;
    phone.click("#login-submit").await?;
    phone.wait_for("#view-home:not([hidden])").await?;
    phone.click("#enter-button").await?;
    phone
        .wait_for("#view-result[data-status=\"admitted\"]")
        .await?;
    let visit = desk_ws.next_event().await?;
    let visit_id = visit.data["checkin"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // A second member: in by the app, then again on the desk's offline list: disputed.
    let second = MemberClient::login(&url, &numbers[1], PIN).await?;
    second.tap(center.id.as_str(), "w2").await?.checkin()?;
    desk_ws.next_event().await?;
    desk_ws
        .send(&DeskMessage::Record(OutboxRecord {
            local_id: LocalId::generate(),
            member_id: second.session.member.id.clone(),
            at: chrono::Utc::now() - chrono::Duration::seconds(30),
            method: RecordMethod::Roster,
            proof: None,
            manual: None,
        }))
        .await?;
    let disputed = loop {
        if let ServerMessage::Recorded {
            status, checkin_id, ..
        } = desk_ws.next().await?
        {
            anyhow::ensure!(status == RecordStatus::Conflict, "expected a dispute");
            break checkin_id.unwrap_or_else(|| gymgate_shared::CheckinId::new(""));
        }
    };

    // Log in.
    browser.client.goto(&format!("{url}/console")).await?;
    browser.type_into("#login-username", "ops.kim").await?;
    browser
        .type_into("#login-password", "틀린-비밀번호")
        .await?;
    browser.click("#login-submit").await?;
    let wrong = browser
        .until(
            "the login error",
            "return document.querySelector('#login-error').textContent || null;",
        )
        .await?;
    let wrong = wrong.as_str().unwrap_or_default();
    assert!(
        wrong.contains("아이디 또는 비밀번호가 맞지 않습니다"),
        "{wrong}"
    );
    browser
        .client
        .find(fantoccini::Locator::Css("#login-password"))
        .await?
        .clear()
        .await?;
    browser.type_into("#login-password", PASSWORD).await?;
    browser.click("#login-submit").await?;
    browser.wait_for("#view-app:not([hidden])").await?;
    assert!(browser.text("#who").await?.contains("ops.kim (admin)"));

    // An admin sets up the second factor first: the page opens there, shows the key (and
    // its QR code), takes a code from the app and shows the recovery codes once.
    browser
        .wait_for("#tab-me:not([hidden]) #totp-needed:not([hidden])")
        .await?;
    browser.click("#totp-start").await?;
    browser
        .wait_for("#totp-setup:not([hidden]) #totp-qr svg")
        .await?;
    let secret = browser.text("#totp-secret").await?;
    browser
        .type_into(
            "#totp-code",
            &gymgate_tests::console::totp_now(secret.trim())?,
        )
        .await?;
    browser.click("#totp-confirm").await?;
    browser.wait_for("#totp-codes:not([hidden])").await?;
    let codes = browser.text("#totp-code-list").await?;
    assert_eq!(codes.lines().count(), 10, "{codes}");
    browser.click("button[data-tab=\"now\"]").await?;

    // Now: the desk is online; it drops; it comes back (the page follows by itself).
    let desk_row = format!("tr.desk[data-id=\"{}\"]", desk.desk_id);
    browser
        .wait_for(&format!("{desk_row}[data-online=\"true\"]"))
        .await?;
    browser.screenshot("console-now.png").await?;
    // A desk paired while the page is open comes in as a change; after that only the rows
    // that change are drawn again (at 10,000 desks, redrawing all every tick is what stalls
    // the page): the new desk's row stays the same element while the first one drops.
    let other = fx.desk(center.id.as_str()).await?;
    let other_row = format!("tr.desk[data-id=\"{}\"]", other.desk_id);
    browser.wait_for(&other_row).await?;
    browser
        .client
        .execute(
            "document.querySelector(arguments[0]).dataset.mark = 'kept';",
            vec![serde_json::json!(other_row)],
        )
        .await?;
    drop(desk_ws);
    browser
        .wait_for(&format!("{desk_row}[data-online=\"false\"]"))
        .await?;
    browser
        .wait_for(&format!("{other_row}[data-mark=\"kept\"]"))
        .await?;
    assert!(
        browser
            .text(&format!("{desk_row} .desk-status"))
            .await?
            .contains("오프라인")
    );
    let (mut desk_ws, _) = DeskClient::join(&url, &desk.token, None, 0).await?;
    browser
        .wait_for(&format!("{desk_row}[data-online=\"true\"]"))
        .await?;
    // Its health at a glance, troubled desks first (issue 25): nearly out of disk.
    desk_ws
        .send(&DeskMessage::Health(gymgate_shared::protocol::DeskHealth {
            clock: Some(chrono::Utc::now()),
            disk_free_mb: Some(100),
            ..Default::default()
        }))
        .await?;
    browser
        .wait_for(&format!(
            "{desk_row} .desk-health[data-problems~=\"disk_low\"]"
        ))
        .await?;
    assert!(
        browser
            .text(&format!("{desk_row} .desk-health"))
            .await?
            .contains("디스크 여유 공간 100 MB")
    );
    let first = browser
        .run(
            "return document.querySelector('#now-desks tr').dataset.id;",
            serde_json::Value::Null,
        )
        .await?;
    assert_eq!(
        first.as_str(),
        Some(desk.desk_id.as_str()),
        "troubled first"
    );

    // Its log, asked from the console: the desk is told, sends it, support opens it.
    browser.click(&format!("{desk_row} .desk-logs")).await?;
    browser
        .wait_for("#desk-log:not([hidden]) #desk-log-list li")
        .await?;
    browser.click("#desk-log-request").await?;
    let request_id = loop {
        if let ServerMessage::LogRequest { request_id, .. } = desk_ws.next().await? {
            break request_id;
        }
    };
    browser.wait_for(".desk-log-waiting").await?;
    let status = reqwest::Client::new()
        .put(format!("{url}/api/v1/desk/logs/{request_id}"))
        .bearer_auth(&desk.token)
        .body("2026-12-02T09:00:00Z INFO 데스크 시작 token=abc123\n")
        .send()
        .await?
        .status();
    assert_eq!(status, 204);
    browser.click("#desk-log-refresh").await?;
    browser.click(".desk-log-open").await?;
    browser.wait_for("#desk-log-text:not(:empty)").await?;
    let text = browser.text("#desk-log-text").await?;
    assert!(
        text.contains("INFO 데스크 시작 token=[가림]"),
        "shown redacted: {text}"
    );

    // A signed release rolled out to a canary center from the console, then paused.
    let installer = b"MZ a desk installer".to_vec();
    let release = gymgate_shared::release::Manifest {
        version: "0.2.0".into(),
        sha256: gymgate_shared::release::sha256_hex(&installer),
        size: installer.len() as u64,
        min_from: "0.1.0".into(),
        notes_ko: "입장 화면 개선".into(),
        notes_en: "a better entry screen".into(),
    }
    .sign(&gymgate_tests::desk_core::release_key())?;
    fx.admin.upload_release(&release, installer).await?;
    browser.click("button[data-tab=\"releases\"]").await?;
    browser
        .wait_for("#rollout-version option[value=\"0.2.0\"]")
        .await?;
    browser
        .client
        .execute(
            "document.querySelector(`.rollout-canary[value=\"${arguments[0]}\"]`).checked = true;",
            vec![serde_json::json!(center.id.as_str())],
        )
        .await?;
    browser.type_into("#rollout-quiet", "02:00-05:00").await?;
    browser.click("#rollout-save").await?;
    browser
        .wait_for("#rollout-rows tr[data-version=\"0.2.0\"][data-state=\"active\"]")
        .await?;
    let row = browser
        .text("#rollout-rows tr[data-version=\"0.2.0\"]")
        .await?;
    assert!(row.contains("강남점"), "the canary is named: {row}");
    assert!(
        row.contains("02:00-05:00"),
        "the install hours are shown: {row}"
    );
    assert_eq!(
        fx.admin.releases().await?["rollouts"][0]["quiet_hours"],
        "02:00-05:00"
    );
    browser.click(".rollout-pause").await?;
    browser
        .wait_for("#rollout-rows tr[data-version=\"0.2.0\"][data-state=\"paused\"]")
        .await?;

    // Notices: a template, posted to every center; the connected desk gets it.
    browser.click("button[data-tab=\"notices\"]").await?;
    browser.wait_for(".notice-center").await?;
    browser
        .client
        .execute(
            "const s = document.querySelector('#notice-template'); s.value = '0'; \
             s.dispatchEvent(new Event('change'));",
            vec![],
        )
        .await?;
    browser.click("#notice-post").await?;
    browser.wait_for("#notice-list li").await?;
    let notice = loop {
        let event = desk_ws.next_event().await?;
        if event.kind == EventKind::Notice {
            break event;
        }
    };
    assert!(
        notice.data["text_ko"]
            .as_str()
            .unwrap_or_default()
            .contains("서버 점검"),
        "{notice:?}"
    );

    // Members: find the first member, void the visit with a reason.
    browser.click("button[data-tab=\"members\"]").await?;
    browser.type_into("#member-q", &numbers[0]).await?;
    browser.click("#member-search").await?;
    // The search's own answer (one row), not the list the tab opened with: that one is
    // replaced under the click.
    browser
        .click(&format!("tr.member:only-child[data-no=\"{}\"]", numbers[0]))
        .await?;
    let visit_row = format!("tr.visit[data-id=\"{visit_id}\"]");
    browser
        .click(&format!(
            "{visit_row}[data-status=\"admitted\"] .visit-void"
        ))
        .await?;
    browser
        .type_into(&format!("{visit_row} .visit-reason"), "회원 요청으로 취소")
        .await?;
    browser.screenshot("console-member.png").await?;
    browser
        .click(&format!("{visit_row} .visit-confirm"))
        .await?;
    browser
        .wait_for(&format!("{visit_row}[data-status=\"voided\"]"))
        .await?;
    assert!(
        browser
            .text(&format!("{visit_row} .history"))
            .await?
            .contains("operator:ops.kim · 회원 요청으로 취소")
    );
    // The member's own page shows it, live, with the reason.
    phone
        .wait_for("#view-result[data-status=\"voided\"]")
        .await?;
    assert_eq!(phone.text("#result-reason").await?, "회원 요청으로 취소");

    // Disputes: reject the disputed visit with a reason.
    browser.click("button[data-tab=\"disputes\"]").await?;
    let dispute_row = format!("tr.dispute[data-id=\"{disputed}\"]");
    browser
        .click(&format!("{dispute_row} .dispute-reject"))
        .await?;
    browser
        .type_into(
            &format!("{dispute_row} .visit-reason"),
            "같은 날 두 번 입장",
        )
        .await?;
    browser
        .click(&format!("{dispute_row} .visit-confirm"))
        .await?;
    wait_until("the dispute leaves the queue", async || {
        Ok(browser
            .client
            .find_all(fantoccini::Locator::Css(&dispute_row))
            .await?
            .is_empty())
    })
    .await?;
    let decided = second.checkin(disputed.as_str()).await?;
    assert_eq!(decided.checkin()?.status, CheckinStatus::Denied);

    // Settlement: the month's figures, and the CSV the page links to.
    browser.click("button[data-tab=\"settlement\"]").await?;
    let admitted = format!("tr.settle[data-center=\"{}\"] .settle-admitted", center.id);
    browser.wait_for(&admitted).await?;
    assert_eq!(
        browser.text(&admitted).await?,
        "1",
        "the second member's app visit"
    );
    browser
        .click(&format!(
            "tr.settle[data-center=\"{}\"] .settle-statement",
            center.id
        ))
        .await?;
    let digest = browser.text("#statement-digest").await?;
    assert_eq!(digest.len(), 64);
    browser.screenshot("console-settlement.png").await?;
    let csv = browser
        .until(
            "the CSV",
            "const r = await fetch(document.querySelector('#settle-csv').href); \
             const b = new Uint8Array(await r.arrayBuffer()); \
             return [b[0], b[1], b[2], new TextDecoder().decode(b)];",
        )
        .await?;
    assert_eq!(
        (csv[0].clone(), csv[1].clone(), csv[2].clone()),
        (239.into(), 187.into(), 191.into()),
        "BOM"
    );
    let text = csv[3]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches('\u{feff}')
        .to_owned();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let row = reader
        .records()
        .filter_map(Result::ok)
        .find(|r| r.get(2) == Some("강남점"))
        .ok_or_else(|| anyhow::anyhow!("no row for 강남점 in {text}"))?;
    let month = kst::date_of(chrono::Utc::now()).format("%Y-%m").to_string();
    assert_eq!(row.get(0), Some(month.as_str()));
    // admitted, voided, denied, expired, disputes accepted / rejected / open.
    let figures: Vec<&str> = row.iter().skip(3).take(7).collect();
    assert_eq!(figures, ["1", "1", "1", "0", "0", "1", "0"]);
    assert_eq!(row.get(10), Some(digest.as_str()));

    // The audit page lists what was done.
    browser.click("button[data-tab=\"audit\"]").await?;
    browser
        .wait_for("tr.audit[data-action=\"checkin.void\"]")
        .await?;
    browser
        .wait_for("tr.audit[data-action=\"dispute.reject\"]")
        .await?;
    browser
        .wait_for("tr.audit[data-action=\"notice.post\"]")
        .await?;

    browser.click("#logout").await?;
    browser.wait_for("#view-login:not([hidden])").await?;
    phone.close().await?;
    browser.close().await
}

/// The review queue in Chromium (issue 27): a desk back-filled three visits; the operator
/// sees the signal with its visits, is asked for a reason, and puts the center under review.
#[tokio::test]
async fn an_operator_reviews_a_fraud_signal_and_puts_the_center_under_review() -> anyhow::Result<()>
{
    let Some(browser) = Browser::start_desktop().await? else {
        return Ok(());
    };
    let server = TestServer::start_with(|c| c.require_admin_totp = false).await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("해운대점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("RV", 3, Some(8)).await?;
    let members = gymgate_tests::member::logins(&url, &numbers).await?;
    let (mut ws, _) = DeskClient::join(&url, &desk.token, None, 0).await?;
    let two_days_ago = chrono::Utc::now() - chrono::Duration::days(2);
    for member in &members {
        let (status, _, _) = ws
            .record_at(&member.session.member.id, two_days_ago)
            .await?;
        assert_eq!(status, RecordStatus::Accepted);
    }
    fx.admin
        .add_operator(&NewOperator {
            username: "ops.lee".into(),
            password: PASSWORD.into(),
            role: Role::Admin,
        })
        .await?;
    browser.client.goto(&format!("{url}/console")).await?;
    browser.type_into("#login-username", "ops.lee").await?;
    browser.type_into("#login-password", PASSWORD).await?;
    browser.click("#login-submit").await?;
    browser.wait_for("#view-app:not([hidden])").await?;
    browser.click("button[data-tab=\"review\"]").await?;
    let card = format!(
        ".signal[data-kind=\"suspicious_records\"][data-center=\"{}\"]",
        center.id
    );
    browser.wait_for(&card).await?;
    let rows = browser
        .client
        .find_all(fantoccini::Locator::Css(&format!("{card} tr.signal-visit")))
        .await?;
    assert_eq!(rows.len(), 3);
    let text = browser.text(&card).await?;
    assert!(
        text.contains("의심 기록 3건") && text.contains("빈 전송함 보고 전 방문"),
        "{text}"
    );
    browser.screenshot("console-review.png").await?;

    // No reason, no review.
    browser.click(&format!("{card} .review-put")).await?;
    let told = browser
        .until(
            "the reason asked for",
            "const t = document.querySelector('#toast'); return t && t.textContent || null;",
        )
        .await?;
    assert!(told.as_str().unwrap_or_default().contains("사유"), "{told}");
    browser
        .type_into(&format!("{card} .review-reason"), "소급 기록 3건")
        .await?;
    browser.click(&format!("{card} .review-put")).await?;
    browser.wait_for(&format!("{card} .review-on")).await?;
    let audit = fx.admin.audit().await?;
    assert!(
        audit
            .iter()
            .any(|e| e.action == "center.confirmation" && e.actor.contains("ops.lee")),
        "{audit:?}"
    );
    browser.close().await
}
