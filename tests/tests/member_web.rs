//! The member web app in a real headless Chromium: log in, tap Enter, see the answer live.

use gymgate_shared::api::NewCenter;
use gymgate_shared::protocol::{Decision, DeskMessage, EventKind};
use gymgate_tests::browser::Browser;
use gymgate_tests::{DeskClient, Fixture, PIN, TestServer};

async fn log_in(browser: &Browser, url: &str, member_no: &str) -> anyhow::Result<()> {
    browser.client.goto(url).await?;
    browser.type_into("#login-member-no", member_no).await?;
    browser.type_into("#login-pin", PIN).await?;
    browser.click("#login-submit").await?;
    browser.wait_for("#view-home:not([hidden])").await?;
    Ok(())
}

#[tokio::test]
async fn a_member_taps_enter_sees_admitted_and_the_desk_gets_it() -> anyhow::Result<()> {
    let Some(browser) = Browser::start().await? else {
        return Ok(());
    };
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    fx.center("홍대점").await?;
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let members = fx.members("W", 1, Some(8)).await?;
    let (mut desk_ws, _) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;

    // The center's QR code opens the app with the center chosen.
    log_in(
        &browser,
        &format!("{}/c/{}", server.url(), center.id),
        &members[0],
    )
    .await?;
    let chosen = browser
        .wait_for(&format!(
            ".center-item[data-id=\"{}\"][aria-pressed=\"true\"]",
            center.id
        ))
        .await?;
    assert!(chosen.text().await?.contains("강남점"));
    assert!(
        browser
            .text("#pass")
            .await?
            .contains("이번 달 남은 횟수 8회")
    );
    browser.screenshot("member-home.png").await?;

    browser.click("#enter-button").await?;
    browser
        .wait_for("#view-result[data-status=\"admitted\"]")
        .await?;
    assert_eq!(browser.text("#result-title").await?, "입장 완료");
    assert_eq!(browser.text("#result-center").await?, "강남점");
    browser.screenshot("member-admitted.png").await?;

    let event = desk_ws.next_event().await?;
    assert_eq!(event.kind, EventKind::Checkin);
    assert_eq!(event.data["member"]["member_no"], members[0].as_str());
    assert_eq!(event.data["checkin"]["method"], "app");

    // The pass shows one visit fewer once back home.
    browser.click("#result-done").await?;
    browser.wait_for("#view-home:not([hidden])").await?;
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
    while !browser
        .text("#pass")
        .await?
        .contains("이번 달 남은 횟수 7회")
    {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "visits left not updated"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    browser.close().await
}

#[tokio::test]
async fn a_refused_tap_shows_the_reason_in_korean() -> anyhow::Result<()> {
    let Some(browser) = Browser::start().await? else {
        return Ok(());
    };
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let csv = format!(
        "member_no,name,phone,pin,plan,visits_per_month,valid_from,valid_until,birthday\n\
         EXP1,박만료,010-1234-5678,{PIN},월 8회,8,2025-01-01,2025-12-31,\n"
    );
    fx.admin.import_members(csv).await?;
    fx.admin
        .post_notice(&gymgate_shared::api::NewNotice {
            severity: gymgate_shared::api::Severity::Warning,
            text_ko: "오늘 22시부터 서버 점검이 있습니다".into(),
            text_en: "Server maintenance from 22:00 today".into(),
            ends_at: None,
            center_ids: Vec::new(),
        })
        .await?;
    log_in(&browser, &server.url(), "EXP1").await?;
    // Operator notices show as a banner.
    assert_eq!(
        browser.text("#notices .banner.warn").await?,
        "오늘 22시부터 서버 점검이 있습니다"
    );
    browser
        .click(&format!(".center-item[data-id=\"{}\"]", center.id))
        .await?;
    browser.click("#enter-button").await?;
    browser
        .wait_for("#view-result[data-status=\"refused\"]")
        .await?;
    assert_eq!(browser.text("#result-title").await?, "입장할 수 없습니다");
    assert_eq!(
        browser.text("#result-reason").await?,
        "이용권 기간이 끝났습니다."
    );
    let code = browser
        .wait_for("#result-reason")
        .await?
        .attr("data-code")
        .await?;
    assert_eq!(code.as_deref(), Some("pass_expired"));
    browser.screenshot("member-refused.png").await?;
    browser.close().await
}

#[tokio::test]
async fn the_desks_decisions_reach_the_page_without_reload() -> anyhow::Result<()> {
    let Some(browser) = Browser::start().await? else {
        return Ok(());
    };
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx
        .center_with(NewCenter {
            name: "필라테스 스튜디오".into(),
            address: "서울".into(),
            hours: None,
            schedule: None,
            requires_approval: true,
        })
        .await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let members = fx.members("V", 1, None).await?;
    let (mut desk_ws, _) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;
    log_in(
        &browser,
        &format!("{}/c/{}", server.url(), center.id),
        &members[0],
    )
    .await?;
    // Mark the page, so a reload would be noticed.
    browser
        .client
        .execute("window.__sameDocument = true; return true;", vec![])
        .await?;

    browser.click("#enter-button").await?;
    browser
        .wait_for("#view-result[data-status=\"pending\"]")
        .await?;
    let event = desk_ws.next_event().await?;
    let checkin_id = event.data["checkin"]["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no check-in id"))?
        .to_owned();

    desk_ws
        .send(&DeskMessage::Decide {
            checkin_id: checkin_id.clone().into(),
            decision: Decision::Admit,
            reason: None,
        })
        .await?;
    browser
        .wait_for("#view-result[data-status=\"admitted\"]")
        .await?;

    desk_ws
        .send(&DeskMessage::Decide {
            checkin_id: checkin_id.into(),
            decision: Decision::Void,
            reason: Some("다른 회원의 휴대폰으로 입장".into()),
        })
        .await?;
    browser
        .wait_for("#view-result[data-status=\"voided\"]")
        .await?;
    assert_eq!(browser.text("#result-title").await?, "입장 취소됨");
    assert_eq!(
        browser.text("#result-reason").await?,
        "다른 회원의 휴대폰으로 입장"
    );
    let same = browser
        .client
        .execute("return window.__sameDocument === true;", vec![])
        .await?;
    assert_eq!(
        same,
        serde_json::Value::Bool(true),
        "the page was not reloaded"
    );
    browser.close().await
}

#[tokio::test]
async fn an_unreachable_server_is_told_honestly_and_retrying_works() -> anyhow::Result<()> {
    let Some(browser) = Browser::start().await? else {
        return Ok(());
    };
    let server = TestServer::start().await?;
    let proxy = gymgate_tests::Proxy::start(server.addr).await?;
    let fx = Fixture::new(server.url());
    // Set before the center exists, so the center's log holds only the check-in (below).
    fx.admin
        .set_support(&gymgate_shared::api::SupportContact {
            phone: "1588-1234".into(),
            chat_url: "https://pf.kakao.com/_gymgate".into(),
            hours: "매일 06:00-24:00".into(),
        })
        .await?;
    let center = fx.center("강남점").await?;
    let members = fx.members("U", 1, None).await?;
    log_in(
        &browser,
        &format!("{}/c/{}", proxy.url(), center.id),
        &members[0],
    )
    .await?;
    // Nothing wrong: no support box.
    assert!(
        !browser
            .wait_for("#support-contact")
            .await?
            .is_displayed()
            .await?
    );

    proxy.cut();
    browser.click("#enter-button").await?;
    browser
        .wait_for("#view-result[data-status=\"offline\"]")
        .await?;
    assert_eq!(
        browser.text("#result-title").await?,
        "서버에 연결할 수 없습니다"
    );
    assert!(
        browser
            .text("#result-hint")
            .await?
            .contains("데스크에 수동 체크인")
    );
    // With the server out of reach, the support contact kept on the phone shows.
    assert_eq!(browser.text("#support-phone").await?, "전화 1588-1234");
    assert_eq!(
        browser.text("#support-chat").await?,
        "채팅 상담",
        "the chat link shows too"
    );
    browser.screenshot("member-offline-support.png").await?;

    proxy.restore();
    browser.click("#result-retry").await?;
    browser
        .wait_for("#view-result[data-status=\"admitted\"]")
        .await?;
    // Tapping again at the same center today is refused: exactly one check-in was made.
    browser.click("#result-done").await?;
    browser.click("#enter-button").await?;
    browser
        .wait_for("#view-result[data-status=\"refused\"]")
        .await?;
    assert_eq!(
        browser.text("#result-reason").await?,
        "오늘 이미 이 센터에 입장하셨습니다."
    );
    assert_eq!(
        fx.admin
            .centers()
            .await?
            .iter()
            .map(|c| c.head_seq)
            .sum::<u64>(),
        1
    );
    browser.close().await
}

/// Issue 13, finding 4: a member whose account is locked by wrong PINs is told so plainly in
/// Korean, with what to do (wait, ask support, the desk can still check them in).
#[tokio::test]
async fn a_locked_account_is_told_so_in_korean_with_what_to_do() -> anyhow::Result<()> {
    let Some(browser) = Browser::start().await? else {
        return Ok(());
    };
    let server = TestServer::start_with(|c| {
        c.logins.free_failures = 10;
        c.logins.lock_after = 2;
    })
    .await?;
    let fx = Fixture::new(server.url());
    let members = fx.members("LO", 1, None).await?;
    browser.client.goto(&server.url()).await?;
    browser.type_into("#login-member-no", &members[0]).await?;
    browser.type_into("#login-pin", "0000").await?;
    browser.click("#login-submit").await?;
    browser
        .wait_for("#login-error[data-code=\"invalid_credentials\"]")
        .await?;
    assert_eq!(
        browser.text("#login-error").await?,
        "회원번호 또는 PIN이 맞지 않습니다."
    );
    browser.click("#login-submit").await?;
    browser
        .wait_for("#login-error[data-code=\"account_locked\"]")
        .await?;
    let told = browser.text("#login-error").await?;
    assert!(told.contains("계정이 잠겼습니다"), "{told}");
    assert!(told.contains("고객센터"), "{told}");
    assert!(told.contains("데스크에서 회원번호로 입장"), "{told}");
    browser.screenshot("member-locked.png").await?;
    browser.close().await
}

/// Issue 23, finding 14. A phone whose browser has no WebCrypto Ed25519 gets no offline pass;
/// the pass screen says so plainly, and what still works (Enter online, the member number at
/// the desk), instead of staying blank.
#[tokio::test]
async fn finding_14_a_browser_without_ed25519_is_told_what_still_works() -> anyhow::Result<()> {
    let Some(browser) = Browser::start().await? else {
        return Ok(());
    };
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let members = fx.members("ED", 1, None).await?;
    browser.client.goto(&server.url()).await?;
    // What an older phone's browser does: Ed25519 is not a known algorithm.
    browser
        .client
        .execute(
            "const real = crypto.subtle.generateKey.bind(crypto.subtle);
             crypto.subtle.generateKey = (algorithm, ...rest) =>
               (algorithm && algorithm.name === 'Ed25519')
                 ? Promise.reject(new DOMException('Unrecognized name.', 'NotSupportedError'))
                 : real(algorithm, ...rest);",
            vec![],
        )
        .await?;
    browser.type_into("#login-member-no", &members[0]).await?;
    browser.type_into("#login-pin", PIN).await?;
    browser.click("#login-submit").await?;
    browser.wait_for("#view-home:not([hidden])").await?;
    browser.click("#open-pass").await?;
    browser
        .wait_for("#pass-hint[data-problem=\"no-ed25519\"]")
        .await?;
    let told = browser.text("#pass-hint").await?;
    assert!(told.contains("Ed25519"), "{told}");
    assert!(told.contains("입장하기"), "{told}");
    assert!(told.contains("회원번호"), "{told}");
    browser.screenshot("member-pass-no-ed25519.png").await?;
    browser.close().await
}

/// The member's visit history (issue 27): a visit the desk staff recorded asks "was this
/// you?" and a yes confirms it; a visit made with the app can be reported as not theirs, with
/// a line of what happened, which operators then see as a dispute.
#[tokio::test]
async fn a_member_confirms_a_staff_recorded_visit_and_reports_one_that_was_not_them()
-> anyhow::Result<()> {
    let Some(browser) = Browser::start().await? else {
        return Ok(());
    };
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let staffed = fx.center("강남점").await?;
    let tapped = fx.center("홍대점").await?;
    let desk = fx.desk(staffed.id.as_str()).await?;
    let numbers = fx.members("VH", 1, Some(8)).await?;
    let member = gymgate_tests::MemberClient::login(&url, &numbers[0], PIN).await?;
    let app_visit = member
        .tap(tapped.id.as_str(), "vh-1")
        .await?
        .checkin()?
        .clone();
    let (mut desk_ws, _) = DeskClient::join(&url, &desk.token, None, 0).await?;
    let (_, roster_visit, _) = desk_ws
        .record_at(&member.session.member.id, chrono::Utc::now())
        .await?;
    let roster_visit = roster_visit.ok_or_else(|| anyhow::anyhow!("no check-in"))?;

    log_in(&browser, &url, &numbers[0]).await?;
    browser.click("#open-visits").await?;
    let asking = format!(".visit[data-id=\"{roster_visit}\"][data-confirmation=\"unconfirmed\"]");
    let card = browser.wait_for(&asking).await?;
    let text = card.text().await?;
    assert!(text.contains("강남점 방문이 맞나요?"), "{text}");
    assert!(text.contains("데스크 직원이 기록"), "{text}");
    let app_card = browser
        .wait_for(&format!(".visit[data-id=\"{}\"]", app_visit.id))
        .await?;
    let text = app_card.text().await?;
    assert!(
        text.contains("앱으로 입장") && text.contains("홍대점"),
        "{text}"
    );
    assert!(!text.contains("맞나요"), "{text}");
    browser.screenshot("member-visits.png").await?;

    browser
        .click(&format!("{asking} button[data-act=\"yes\"]"))
        .await?;
    let confirmed = browser
        .wait_for(&format!(
            ".visit[data-id=\"{roster_visit}\"][data-confirmation=\"member\"]"
        ))
        .await?;
    assert!(confirmed.text().await?.contains("내가 확인함"));

    let app_selector = format!(".visit[data-id=\"{}\"]", app_visit.id);
    browser
        .click(&format!("{app_selector} button[data-act=\"not-me\"]"))
        .await?;
    browser
        .type_into(
            &format!("{app_selector} textarea"),
            "그 시간엔 회사에 있었습니다",
        )
        .await?;
    browser
        .click(&format!("{app_selector} button[data-act=\"send\"]"))
        .await?;
    let disputed = browser
        .wait_for(&format!(
            ".visit[data-id=\"{}\"][data-confirmation=\"not_me\"]",
            app_visit.id
        ))
        .await?;
    assert!(disputed.text().await?.contains("이의 제기됨"));
    browser.screenshot("member-visit-not-me.png").await?;

    let disputes = fx.admin.disputes().await?;
    assert_eq!(disputes.len(), 1, "{disputes:?}");
    assert_eq!(disputes[0].checkin.id, app_visit.id);
    assert_eq!(
        disputes[0].member_statement.as_deref(),
        Some("그 시간엔 회사에 있었습니다")
    );
    browser.close().await
}

/// The member's phone reads the desk's entrance QR with its camera (Chromium's fake camera
/// shows a code the real desk core signed), picks the center from it and taps Enter with it:
/// the visit is `app+presence`.
#[tokio::test]
async fn a_member_scans_the_entrance_qr_and_enters_with_proof_of_presence() -> anyhow::Result<()> {
    use gymgate_desk_core::config;
    use gymgate_tests::RunningDesk;
    use gymgate_tests::desk_core::pairing;

    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    fx.center("홍대점").await?;
    let center = fx.center("강남점").await?;
    let paired = fx.desk(center.id.as_str()).await?;
    let data = tempfile::tempdir()?;
    let desk_pairing = pairing(&url, &paired);
    config::save_pairing(data.path(), &desk_pairing)?;
    let mut desk = RunningDesk::start(data.path(), desk_pairing).await?;
    desk.wait_online().await?;
    let numbers = fx.members("QS", 1, Some(8)).await?;
    let code = desk
        .core
        .presence_code()
        .ok_or_else(|| anyhow::anyhow!("the desk has no presence key"))?;
    let Some((browser, _video)) =
        Browser::start_with_camera_showing(gymgate_tests::browser::Screen::Touch(390, 844), &code)
            .await?
    else {
        return Ok(());
    };
    log_in(&browser, &url, &numbers[0]).await?;
    browser.click("#scan-entrance").await?;
    browser
        .wait_for("#view-result[data-status=\"admitted\"]")
        .await?;
    assert_eq!(browser.text("#result-center").await?, "강남점");
    let visits: Vec<gymgate_shared::api::MemberVisit> = {
        let member = gymgate_tests::MemberClient::login(&url, &numbers[0], PIN).await?;
        reqwest::Client::new()
            .get(format!("{url}/api/v1/me/visits"))
            .bearer_auth(&member.token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?
    };
    assert_eq!(visits.len(), 1);
    assert_eq!(
        visits[0].evidence,
        gymgate_shared::api::Evidence::AppPresence
    );
    browser.close().await?;
    desk.stop().await
}

/// The member's own data in the app (issue 27): "내 데이터 내려받기" prepares the zip and
/// shows its link; "회원 탈퇴" asks for the PIN, deletes the account and logs out.
#[tokio::test]
async fn a_member_downloads_their_data_and_deletes_their_account_in_the_app() -> anyhow::Result<()>
{
    let Some(browser) = Browser::start().await? else {
        return Ok(());
    };
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    let numbers = fx.members("MD", 1, Some(8)).await?;
    let member = gymgate_tests::MemberClient::login(&url, &numbers[0], PIN).await?;
    member.tap(center.id.as_str(), "md-1").await?.checkin()?;
    log_in(&browser, &url, &numbers[0]).await?;
    browser.click("#open-visits").await?;
    browser.click("#export-start").await?;
    browser.wait_for("#export-link:not([hidden])").await?;
    assert!(browser.text("#export-status").await?.contains("7일"));
    let size = browser
        .until(
            "the zip behind the link",
            "const r = await fetch(document.querySelector('#export-link').href); \
             if (!r.ok) return null; const b = await r.arrayBuffer(); \
             const head = new Uint8Array(b.slice(0, 2)); \
             return head[0] === 0x50 && head[1] === 0x4b ? b.byteLength : null;",
        )
        .await?;
    assert!(size.as_u64().is_some_and(|n| n > 500), "{size}");

    browser.click("#delete-open").await?;
    browser.type_into("#delete-pin", "000000").await?;
    browser.click("#delete-confirm").await?;
    let refused = browser
        .until(
            "the wrong PIN said",
            "const e = document.querySelector('#delete-error'); return e && e.textContent || null;",
        )
        .await?;
    assert!(
        refused
            .as_str()
            .unwrap_or_default()
            .contains("PIN이 맞지 않습니다")
    );
    let pin = browser.wait_for("#delete-pin").await?;
    pin.clear().await?;
    pin.send_keys(PIN).await?;
    browser.click("#delete-confirm").await?;
    browser.wait_for("#view-login:not([hidden])").await?;
    assert!(browser.text("#login-note").await?.contains("탈퇴했습니다"));
    assert!(
        gymgate_tests::MemberClient::login(&url, &numbers[0], PIN)
            .await
            .is_err()
    );
    browser.close().await
}

/// The app asks once whether taps may carry the phone's location; the answer is kept on the
/// server (the member's consent) and the question does not come back. A phone that then gives
/// no position (headless Chromium has none to give) still gets in.
#[tokio::test]
async fn the_app_asks_once_for_the_location_and_enters_without_one() -> anyhow::Result<()> {
    let Some(browser) = Browser::start().await? else {
        return Ok(());
    };
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    let numbers = fx.members("LC", 1, Some(8)).await?;
    log_in(&browser, &format!("{url}/c/{}", center.id), &numbers[0]).await?;
    browser.wait_for("#location-ask:not([hidden])").await?;
    assert!(
        browser
            .text("#location-ask")
            .await?
            .contains("센터와의 거리만")
    );
    browser.click("#location-yes").await?;
    browser.wait_for("#location-ask[hidden]").await?;
    let member = gymgate_tests::MemberClient::login(&url, &numbers[0], PIN).await?;
    let consents: serde_json::Value = reqwest::Client::new()
        .get(format!("{url}/api/v1/me/consents"))
        .bearer_auth(&member.token)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(consents["location"], true, "{consents}");
    // Asked once: a reload does not ask again.
    browser.client.refresh().await?;
    browser.wait_for("#view-home:not([hidden])").await?;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(browser.wait_for("#location-ask[hidden]").await.is_ok());
    browser.click("#enter-button").await?;
    browser
        .wait_for("#view-result[data-status=\"admitted\"]")
        .await?;
    browser.close().await
}
