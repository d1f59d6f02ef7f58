//! Every member gets in (issue 14): the offline pass, from the member's browser to a desk that
//! cannot reach the server, and the desk's lookup of pass holders new to its center.

use std::time::Duration;

use ed25519_dalek::SigningKey;
use gymgate_desk_core::{CoreEvent, LookupError, ScanError};
use gymgate_shared::api::{CheckinMethod, PassCertificate, PassRequest};
use gymgate_shared::pass::{self, PassError};
use gymgate_shared::protocol::RecordStatus;
use gymgate_tests::browser::Browser;
use gymgate_tests::desk_core::pairing;
use gymgate_tests::{Fixture, MemberClient, PIN, Proxy, RunningDesk, ServerProcess, TestServer};

const EXE: &str = env!("CARGO_BIN_EXE_gymgate-server-under-test");

/// A phone's key and a certificate the server issued for it.
async fn phone_pass(
    url: &str,
    member: &MemberClient,
    seed: u8,
) -> anyhow::Result<(SigningKey, String)> {
    use base64::Engine;
    let device = SigningKey::from_bytes(&[seed; 32]);
    let response = reqwest::Client::new()
        .post(format!("{url}/api/v1/me/pass"))
        .bearer_auth(&member.token)
        .json(&PassRequest {
            device_key: base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(device.verifying_key().as_bytes()),
        })
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == 200,
        "no pass: {}",
        response.text().await?
    );
    let certificate: PassCertificate = response.json().await?;
    anyhow::ensure!(
        certificate.expires_at - certificate.issued_at <= pass::MAX_VALIDITY,
        "a certificate lives a week at most"
    );
    Ok((device, certificate.certificate))
}

fn shown(certificate: &str, device: &SigningKey) -> anyhow::Result<String> {
    pass::show(certificate, device, chrono::Utc::now())
        .ok_or_else(|| anyhow::anyhow!("cannot show the pass"))
}

/// A pass shown to a desk that cannot reach the server lets the member in; the check-in is
/// sent once the link is back and the server accepts it once. The same code again is
/// refused at the desk; the same code at another center's desk is caught at sync (disputed).
/// Wrong, foreign-signed and revoked codes get their reason.
#[tokio::test]
async fn a_pass_scanned_offline_is_accepted_once_and_a_copy_elsewhere_is_disputed()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let proxy = Proxy::start(server.addr).await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let other = fx.center("홍대점").await?;
    let numbers = fx.members("OP", 2, Some(8)).await?;
    let member = MemberClient::login(&server.url(), &numbers[0], PIN).await?;
    let blocked = MemberClient::login(&server.url(), &numbers[1], PIN).await?;
    let (device, certificate) = phone_pass(&server.url(), &member, 9).await?;
    let (blocked_device, blocked_certificate) = phone_pass(&server.url(), &blocked, 8).await?;

    let data = tempfile::tempdir()?;
    let paired = fx.desk(center.id.as_str()).await?;
    let mut desk = RunningDesk::start(data.path(), pairing(&proxy.url(), &paired)).await?;
    desk.wait_online().await?;
    // The member's passes are revoked (blocked) while the desk is online: it hears it.
    fx.admin
        .block_member(
            &numbers[1],
            &gymgate_shared::api::BlockRequest {
                blocked: true,
                reason: None,
            },
        )
        .await?;
    desk.wait_for("the revocation", |e| {
        matches!(e, CoreEvent::Synced { .. }).then_some(())
    })
    .await?;
    proxy.cut();
    desk.wait_offline().await?;

    // Offline: a member this center never saw, by their pass alone.
    assert_eq!(desk.core.search(numbers[0].clone()).await.len(), 0);
    let code = shown(&certificate, &device)?;
    let started = std::time::Instant::now();
    let card = desk.core.scan(&code).await?;
    println!(
        "offline pass: {} characters; the desk took it in {} ms (verify, policy, outbox)",
        code.len(),
        started.elapsed().as_millis()
    );
    assert_eq!(card.checkin.method, CheckinMethod::Pass);
    assert_eq!(card.member.name, member.session.member.name);
    assert_eq!(desk.core.state().await?.pending, 1);
    // The same code again: refused here.
    assert!(matches!(
        desk.core.scan(&code).await,
        Err(ScanError::Pass(PassError::Replayed))
    ));
    // Not a pass, another server's, a revoked member's: each with its reason.
    assert!(matches!(
        desk.core.scan("https://example.com").await,
        Err(ScanError::Pass(PassError::Malformed))
    ));
    let stranger = gymgate_shared::pass::Certificate {
        kid: pass::key_id(&SigningKey::from_bytes(&[1; 32]).verifying_key()),
        ..pass::parse(&code)?.certificate
    };
    let foreign = pass::show(
        &stranger.issue(&SigningKey::from_bytes(&[1; 32])),
        &device,
        chrono::Utc::now(),
    )
    .ok_or_else(|| anyhow::anyhow!("show"))?;
    assert!(matches!(
        desk.core.scan(&foreign).await,
        Err(ScanError::Pass(PassError::UnknownKey))
    ));
    assert!(matches!(
        desk.core
            .scan(&shown(&blocked_certificate, &blocked_device)?)
            .await,
        Err(ScanError::Pass(PassError::Revoked))
    ));
    // The member joined this center's roster: staff find them by name now, offline.
    assert_eq!(
        desk.core
            .search(member.session.member.name.clone())
            .await
            .len(),
        1
    );

    // Back online: sent and accepted, once.
    proxy.restore();
    let (status, reason) = desk
        .wait_for("the pass recorded", |e| match e {
            CoreEvent::Recorded { status, reason, .. } => Some((*status, reason.clone())),
            _ => None,
        })
        .await?;
    assert_eq!((status, reason), (RecordStatus::Accepted, None));
    let confirmed = desk
        .wait_for("the server's card", |e| match e {
            CoreEvent::Checkin(card) if card.checkin.method == CheckinMethod::Pass => {
                Some(card.clone())
            }
            _ => None,
        })
        .await?;
    assert_eq!(confirmed.checkin.member_id, member.session.member.id);
    assert_eq!(desk.core.state().await?.pending, 0);
    desk.stop().await?;

    // The same code used at another center's desk (a copied QR): caught at sync.
    let elsewhere = fx.desk(other.id.as_str()).await?;
    let data2 = tempfile::tempdir()?;
    let mut desk2 = RunningDesk::start(data2.path(), pairing(&server.url(), &elsewhere)).await?;
    desk2.wait_online().await?;
    desk2.core.scan(&code).await?;
    let (status, reason) = desk2
        .wait_for("the copy recorded", |e| match e {
            CoreEvent::Recorded { status, reason, .. } => Some((*status, reason.clone())),
            _ => None,
        })
        .await?;
    assert_eq!(
        (status, reason.as_deref()),
        (RecordStatus::Conflict, Some("pass_replayed"))
    );
    desk2.stop().await?;
    let disputes = fx.admin.disputes().await?;
    assert_eq!(disputes.len(), 1);
    assert_eq!(disputes[0].checkin.center_id, other.id);
    Ok(())
}

/// The member app in a real browser: it gets its certificate online; the server is killed;
/// the page still opens (service worker) and shows the pass with a QR; the QR's text is fed
/// to a desk core whose link is down; the server comes back on the same address and accepts
/// the check-in exactly once.
#[tokio::test]
async fn the_member_apps_pass_works_with_the_server_down() -> anyhow::Result<()> {
    let Some(browser) = Browser::start().await? else {
        return Ok(());
    };
    let (_keep, data) = gymgate_tests::server::data_dir()?;
    let server = ServerProcess::spawn(EXE, &data).await?;
    let addr = server.addr.to_string();
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    let numbers = fx.members("PW", 1, Some(8)).await?;
    let paired = fx.desk(center.id.as_str()).await?;
    let desk_data = tempfile::tempdir()?;
    let mut desk = RunningDesk::start(desk_data.path(), pairing(&url, &paired)).await?;
    desk.wait_online().await?;

    browser.client.goto(&url).await?;
    browser.type_into("#login-member-no", &numbers[0]).await?;
    browser.type_into("#login-pin", PIN).await?;
    browser.click("#login-submit").await?;
    browser.wait_for("#view-home:not([hidden])").await?;
    browser
        .until(
            "the pass certificate",
            "return localStorage.getItem('gymgate.pass') !== null;",
        )
        .await?;
    browser
        .until(
            "the app in the service worker's cache",
            "const c = await caches.open('gymgate-app-v1'); return (await c.keys()).length >= 8;",
        )
        .await?;
    // The first load installed the worker; a reload puts the page under it.
    browser.client.refresh().await?;
    browser.wait_for("#view-home:not([hidden])").await?;
    browser
        .until(
            "the page controlled by the service worker",
            "return !!navigator.serviceWorker.controller;",
        )
        .await?;

    server.kill().await?;
    desk.wait_offline().await?;
    browser.client.goto(&url).await?;
    browser.wait_for("#view-pass:not([hidden])").await?;
    let qr = browser.wait_for("#pass-qr[data-payload]").await?;
    let payload = qr
        .attr("data-payload")
        .await?
        .ok_or_else(|| anyhow::anyhow!("no payload"))?;
    assert!(payload.starts_with(pass::PREFIX), "{payload}");
    assert!(
        browser.wait_for("#pass-qr svg").await.is_ok(),
        "a QR code is drawn"
    );
    let offline = browser.text("#pass-offline").await?;
    assert!(offline.contains("오프라인"), "{offline}");
    browser.screenshot("member-offline-pass.png").await?;
    println!(
        "the member app's pass payload: {} characters",
        payload.len()
    );

    let card = desk.core.scan(&payload).await?;
    assert_eq!(card.checkin.method, CheckinMethod::Pass);
    assert_eq!(desk.core.state().await?.pending, 1);

    let server = ServerProcess::spawn_on(EXE, &data, &addr, &[]).await?;
    let (status, _) = desk
        .wait_for("the pass recorded", |e| match e {
            CoreEvent::Recorded { status, reason, .. } => Some((*status, reason.clone())),
            _ => None,
        })
        .await?;
    assert_eq!(status, RecordStatus::Accepted);
    desk.wait_for("the pending count at 0", |e| match e {
        CoreEvent::Outbox { pending: 0, .. } => Some(()),
        _ => None,
    })
    .await?;
    desk.stop().await?;
    // Exactly once: the center's log holds that one check-in.
    let centers = server.admin().centers().await?;
    assert_eq!(centers[0].head_seq, 1);
    browser.close().await
}

/// The member's page says which desk has their check-in on screen, once it is stored there.
#[tokio::test]
async fn the_members_page_says_which_desk_shows_the_check_in() -> anyhow::Result<()> {
    let Some(browser) = Browser::start().await? else {
        return Ok(());
    };
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let numbers = fx.members("SH", 1, Some(8)).await?;
    let paired = fx.desk(center.id.as_str()).await?;
    let data = tempfile::tempdir()?;
    let mut desk = RunningDesk::start(data.path(), pairing(&server.url(), &paired)).await?;
    desk.wait_online().await?;
    browser
        .client
        .goto(&format!("{}/c/{}", server.url(), center.id))
        .await?;
    browser.type_into("#login-member-no", &numbers[0]).await?;
    browser.type_into("#login-pin", PIN).await?;
    browser.click("#login-submit").await?;
    browser.wait_for("#view-home:not([hidden])").await?;
    // The live feed is open before the tap.
    tokio::time::sleep(Duration::from_millis(300)).await;
    browser.click("#enter-button").await?;
    browser
        .wait_for("#view-result[data-status=\"admitted\"]")
        .await?;
    let shown = browser.wait_for("#result-shown:not([hidden])").await?;
    let text = shown.text().await?;
    assert!(text.starts_with("1층 데스크에 표시됨"), "{text}");
    // Readable, not just present: the note's text must not take the colour of what is behind it.
    let colours = browser
        .until(
            "the note's colours",
            "const note = document.getElementById('result-shown'); \
             let behind = note; let bg = 'rgba(0, 0, 0, 0)'; \
             while (behind && (bg === 'rgba(0, 0, 0, 0)' || bg === 'transparent')) { \
               bg = getComputedStyle(behind).backgroundColor; behind = behind.parentElement; } \
             return [getComputedStyle(note).color, bg];",
        )
        .await?;
    assert_ne!(colours[0], colours[1], "the note is invisible: {colours}");
    browser.screenshot("member-shown-at-desk.png").await?;
    desk.stop().await?;
    browser.close().await
}

/// A member who never visited this center is found on the server by member number and by
/// name with the last four phone digits, checked in, and joins the roster; full phone numbers
/// never leave the server; lookups are limited per desk and kept for audit; offline the desk
/// says so.
#[tokio::test]
async fn a_member_new_to_the_center_is_found_on_the_server_and_checked_in() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| c.limits.lookups_per_desk_per_minute = 5).await?;
    let proxy = Proxy::start(server.addr).await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let numbers = fx.members("NC", 2, Some(8)).await?;
    let paired = fx.desk(center.id.as_str()).await?;
    let data = tempfile::tempdir()?;
    let mut desk = RunningDesk::start(data.path(), pairing(&proxy.url(), &paired)).await?;
    desk.wait_online().await?;
    assert!(desk.core.search(numbers[0].clone()).await.is_empty());

    let by_number = desk.core.lookup(&numbers[0]).await?;
    assert_eq!(by_number.len(), 1);
    assert_eq!(by_number[0].member.member_no, numbers[0]);
    assert!(
        by_number[0]
            .flags
            .contains(&gymgate_shared::api::CheckinFlag::FirstVisit)
    );
    // The fixture's phones are 010-0000-000i: staff typed the last four; none travel back
    // (issue 23: a lookup answers what check-in needs, not phone digits or birthdays).
    let by_name = desk.core.lookup("회원1 0001").await?;
    assert_eq!(by_name.len(), 1);
    assert_eq!(by_name[0].member.member_no, numbers[1]);
    assert_eq!(by_name[0].member.phone_last4, "");
    assert!(desk.core.lookup("회원1 9999").await?.is_empty());
    let raw = reqwest::Client::new()
        .get(format!("{}/api/v1/desk/lookup", server.url()))
        .bearer_auth(&paired.token)
        .query(&[("name", "회원0"), ("phone_last4", "0000")])
        .send()
        .await?
        .text()
        .await?;
    assert!(raw.contains("회원0"), "{raw}");
    assert!(
        !raw.contains("010"),
        "a full phone number left the server: {raw}"
    );

    // Checked in like anyone on the roster; they are on it from now on.
    let card = desk.core.check_in_found(by_number[0].clone()).await?;
    assert_eq!(card.member.member_no, numbers[0]);
    assert_eq!(desk.core.search(numbers[0].clone()).await.len(), 1);
    let (status, _) = desk
        .wait_for("recorded", |e| match e {
            CoreEvent::Recorded { status, reason, .. } => Some((*status, reason.clone())),
            _ => None,
        })
        .await?;
    assert_eq!(status, RecordStatus::Accepted);

    // A flood of lookups is cut off (5 a minute here, 30 by default).
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(desk.core.lookup(&numbers[1]).await.err());
    }
    assert_eq!(
        answers.last(),
        Some(&Some(LookupError::TooMany)),
        "{answers:?}"
    );
    // Every lookup is kept for audit: desk, kind, when; never the query.
    let rows: Vec<(String, String, i64)> = {
        let conn = rusqlite::Connection::open(server.data.path().join("gymgate.db"))?;
        let mut stmt =
            conn.prepare("SELECT desk_id, kind, results FROM desk_lookups ORDER BY at")?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?
    };
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert!(
        rows.iter()
            .all(|(desk_id, _, _)| desk_id == paired.desk_id.as_str())
    );
    assert_eq!(rows[0].1, "member_no");
    assert_eq!(rows[1].1, "name_phone");

    // Offline: the server cannot be asked, and the desk says so.
    proxy.cut();
    desk.wait_offline().await?;
    assert_eq!(
        desk.core.lookup(&numbers[1]).await.err(),
        Some(LookupError::Unreachable)
    );
    desk.stop().await?;
    Ok(())
}
