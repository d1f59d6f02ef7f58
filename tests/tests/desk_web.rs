//! The desk in a browser (`/desk/`, issue 24) in a real headless Chromium against a real
//! server: pairing, live taps and acks, a link cut mid-replay, a shift that starts offline
//! (service worker, IndexedDB outbox, an offline pass from the member app), the camera, the
//! conformance vectors, the same events as an iced desk core, re-pairing, layouts.

use std::time::Duration;

use gymgate_shared::api::NewCenter;
use gymgate_tests::browser::{Browser, Screen};
use gymgate_tests::desk_core::{pairing, visited_yesterday};
use gymgate_tests::{Fixture, MemberClient, PIN, RunningDesk, ServerProcess, TestServer};
use serde_json::{Value, json};

const EXE: &str = env!("CARGO_BIN_EXE_gymgate-server-under-test");
/// A reconnection after a restart waits out the desk's jittered backoff (at most 15 s).
const RECONNECT: Duration = Duration::from_secs(40);

/// Opens `/desk/`, pairs with a new code of `center_id`, and waits until the desk is online.
async fn pair(browser: &Browser, fx: &Fixture, center_id: &str, name: &str) -> anyhow::Result<()> {
    let code = fx.admin.pairing_code(center_id).await?;
    browser.client.goto(&format!("{}/desk/", fx.url)).await?;
    browser.type_into("#pair-code", &code.code).await?;
    let field = browser.wait_for("#pair-name").await?;
    field.clear().await?;
    field.send_keys(name).await?;
    browser.click("#pair-submit").await?;
    browser.wait_for("#scan").await?;
    online(browser).await
}

async fn online(browser: &Browser) -> anyhow::Result<()> {
    browser
        .until_within(
            "the desk online",
            "return document.body.dataset.link === 'online';",
            RECONNECT,
        )
        .await?;
    Ok(())
}

/// Today's list as the page shows it, top (newest) first: `[id, status, sync]`.
async fn rows(browser: &Browser) -> anyhow::Result<Vec<(String, String, String)>> {
    let value = browser
        .run(
            "return [...document.querySelectorAll('#today li.row')].map(li => \
             [li.dataset.checkin, li.dataset.status, li.dataset.sync]);",
            Value::Null,
        )
        .await?;
    Ok(serde_json::from_value(value)?)
}

async fn wait_rows(browser: &Browser, count: usize, wait: Duration) -> anyhow::Result<()> {
    browser
        .until_within(
            &format!("{count} check-ins on the board"),
            &format!("return document.querySelectorAll('#today li.row').length === {count};"),
            wait,
        )
        .await?;
    Ok(())
}

/// What the desk keeps in IndexedDB, every store.
async fn dump(browser: &Browser) -> anyhow::Result<Value> {
    let value = browser
        .run("return await window.gymgateDesk.store.dump();", Value::Null)
        .await?;
    anyhow::ensure!(value.get("error").is_none(), "dump failed: {value}");
    Ok(value)
}

async fn cursor(browser: &Browser) -> anyhow::Result<(String, u64)> {
    let value = browser
        .run("return await window.gymgateDesk.cursor();", Value::Null)
        .await?;
    Ok((
        value["epoch"].as_str().unwrap_or_default().to_owned(),
        value["last_seq"].as_u64().unwrap_or_default(),
    ))
}

async fn head_seq(fx: &Fixture, center_id: &str) -> anyhow::Result<u64> {
    let centers = fx.admin.centers().await?;
    centers
        .iter()
        .find(|c| c.id.as_str() == center_id)
        .map(|c| c.head_seq)
        .ok_or_else(|| anyhow::anyhow!("no such center"))
}

async fn logins(url: &str, numbers: &[String]) -> anyhow::Result<Vec<MemberClient>> {
    let mut out = Vec::new();
    for no in numbers {
        out.push(MemberClient::login(url, no, PIN).await?);
    }
    Ok(out)
}

/// Pairs in the browser; taps from the member API appear live, one chime each; the desk's
/// acks reach the server; a void with a reason goes through; a page closed while members come
/// in replays what it missed without a chime.
#[tokio::test]
async fn the_web_desk_pairs_shows_taps_live_and_acks_them() -> anyhow::Result<()> {
    let Some(browser) = Browser::start_as(Screen::Window(1024, 768), &[]).await? else {
        return Ok(());
    };
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    let numbers = fx.members("WD", 9, Some(8)).await?;
    let members = logins(&url, &numbers[..8]).await?;

    // /desk redirects into the service worker's scope; the page has a strict CSP.
    let page = reqwest::get(format!("{url}/desk")).await?;
    assert_eq!(page.url().path(), "/desk/");
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));

    // 회원0 has a photo: the desk shows it (fetched with its token, kept in Cache Storage).
    let mut jpeg = Vec::new();
    image::RgbImage::from_pixel(240, 300, image::Rgb([40, 90, 160])).write_to(
        &mut std::io::Cursor::new(&mut jpeg),
        image::ImageFormat::Jpeg,
    )?;
    reqwest::Client::new()
        .put(format!("{url}/api/v1/admin/members/{}/photo", numbers[0]))
        .bearer_auth(gymgate_tests::ADMIN_TOKEN)
        .body(jpeg)
        .send()
        .await?
        .error_for_status()?;

    pair(&browser, &fx, center.id.as_str(), "태블릿 데스크").await?;
    let desks = fx.admin.desks().await?;
    assert_eq!(desks.len(), 1);
    assert_eq!(desks[0].name, "태블릿 데스크");
    assert!(
        desks[0]
            .app_version
            .as_deref()
            .is_some_and(|v| v.starts_with("web-")),
        "{:?}",
        desks[0].app_version
    );
    // It tells the server how it is doing (issue 25): its outbox, last sync, clock, and the
    // browser's storage left for it.
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
    let health = loop {
        if let Some(health) = fx.admin.desks().await?.remove(0).health {
            break health;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the web desk sent no health"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(health.health.outbox, 0);
    assert!(health.health.last_sync.is_some(), "{health:?}");
    assert!(
        health.health.disk_free_mb.is_some_and(|mb| mb > 0),
        "{health:?}"
    );
    assert!(
        health.clock_skew_s.is_some_and(|s| s.abs() <= 2),
        "{health:?}"
    );
    assert!(health.problems.is_empty(), "{health:?}");

    for (i, member) in members.iter().take(3).enumerate() {
        member
            .tap(center.id.as_str(), &format!("wd-{i}"))
            .await?
            .checkin()?;
        wait_rows(&browser, i + 1, gymgate_tests::WAIT).await?;
        if i == 0 {
            browser
                .wait_for("#big-card .photo img[src^=\"blob:\"]")
                .await?;
            let kept = browser
                .run(
                    "return (await (await caches.open('gymgate-desk-photos')).keys()).length;",
                    Value::Null,
                )
                .await?;
            assert_eq!(kept, json!(1), "the photo kept for offline");
        }
    }
    let big = browser.text("#big-name").await?;
    assert_eq!(big, "회원2", "the newest arrival takes the big card");
    let chimes = browser
        .run("return window.gymgateChimes || 0;", Value::Null)
        .await?;
    assert_eq!(chimes, json!(3), "one chime per live arrival");

    let head = head_seq(&fx, center.id.as_str()).await?;
    assert_eq!(cursor(&browser).await?.1, head, "stored up to the head");
    browser.screenshot("desk-web-1024x768.png").await?;

    // Void the big card with a reason (key 1 picks the first).
    browser.click("#void").await?;
    browser.wait_for(".overlay button.reason").await?;
    browser
        .client
        .active_element()
        .await?
        .send_keys("1")
        .await?;
    browser
        .until(
            "the void on the board",
            "const s = document.querySelector('#big-status'); return s && s.textContent === '취소됨';",
        )
        .await?;
    let voided = members[2].checkin(&rows(&browser).await?[0].0).await?;
    assert_eq!(
        serde_json::to_value(voided.checkin()?.status)?,
        json!("voided")
    );
    assert_eq!(
        voided
            .checkin()?
            .history
            .last()
            .and_then(|h| h.reason.clone()),
        Some("잘못 눌렀음".to_owned())
    );

    // The page goes away; five members come in; the page comes back and replays them.
    browser.client.goto("about:blank").await?;
    // Acked once stored: the server keeps the closed session's cursor, at the head.
    let head = head_seq(&fx, center.id.as_str()).await?;
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
    loop {
        let acked = fx.admin.desks().await?[0].acked_seq;
        if acked == head {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "acked {acked} of {head}: {:?}",
            fx.admin.desks().await?
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (i, member) in members.iter().enumerate().skip(3) {
        member
            .tap(center.id.as_str(), &format!("wd-{i}"))
            .await?
            .checkin()?;
    }
    browser.client.goto(&format!("{url}/desk/")).await?;
    wait_rows(&browser, 8, gymgate_tests::WAIT).await?;
    online(&browser).await?;
    let chimes = browser
        .run("return window.gymgateChimes || 0;", Value::Null)
        .await?;
    assert_eq!(chimes, json!(0), "no chime for a replay");
    let statuses: Vec<String> = rows(&browser).await?.into_iter().map(|r| r.1).collect();
    assert_eq!(statuses.iter().filter(|s| *s == "voided").count(), 1);
    assert_eq!(statuses.iter().filter(|s| *s == "admitted").count(), 7);
    let head = head_seq(&fx, center.id.as_str()).await?;
    browser
        .until(
            "the replay stored",
            &format!("return (await window.gymgateDesk.cursor()).last_seq === {head};"),
        )
        .await?;

    // F6: a member with a dead phone, let in on staff's judgement by member number.
    browser
        .client
        .active_element()
        .await?
        .send_keys("\u{E036}")
        .await?;
    browser.type_into("#manual-no", &numbers[8]).await?;
    browser
        .type_into("#manual-note", "신분증 확인 · 휴대폰 방전")
        .await?;
    browser.click("#manual-submit").await?;
    wait_rows(&browser, 9, gymgate_tests::WAIT).await?;
    browser
        .until(
            "the judgement stored by the server",
            "const r = document.querySelector('#today li.row'); return r && r.dataset.sync === 'server' && r.dataset.status === 'admitted';",
        )
        .await?;
    assert_eq!(
        browser.text("#big-name").await?,
        "회원8",
        "the server named the member"
    );
    let chimes = browser
        .run("return window.gymgateChimes || 0;", Value::Null)
        .await?;
    assert_eq!(
        chimes,
        json!(1),
        "one chime for the desk's own check-in, none for its echo"
    );
    let stored = visits_today(&fx, &numbers[8], center.id.as_str()).await?;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(
        (stored[0].1.as_str(), stored[0].2.as_str()),
        ("admitted", "manual")
    );
    browser.close().await
}

/// The Rust code's conformance vectors, run through the desk's own rules.js in Chromium:
/// every policy case and every pass case (WebCrypto Ed25519) must give the Rust answer.
#[tokio::test]
async fn the_conformance_vectors_pass_in_chromium() -> anyhow::Result<()> {
    let Some(browser) = Browser::start_as(Screen::Window(1024, 768), &[]).await? else {
        return Ok(());
    };
    let server = TestServer::start().await?;
    let vectors: Value =
        serde_json::from_str(include_str!("../../shared/conformance/vectors.json"))?;
    browser
        .client
        .goto(&format!("{}/desk/", server.url()))
        .await?;
    let report = browser
        .run(
            "const v = args[0]; const r = await import('/desk/rules.js'); const bad = []; let n = 0; \
             for (const c of v.policy) { n++; \
               const got = r.evaluate(c.pass, c.history, c.hours, Date.parse(c.at)); \
               const left = r.visitsLeft(c.pass, c.history); \
               if (got !== c.expected || left !== c.visits_left) bad.push({c, got, left}); } \
             for (const c of v.passes) { n++; \
               const revoked = c.revoked_at ? Date.parse(c.revoked_at) : null; \
               const a = await r.check(c.payload, c.keys, Date.parse(c.now), async () => revoked, async () => c.seen); \
               const member = a.code === 'ok' ? a.shown.certificate.member_id : null; \
               if (a.code !== c.expected || member !== c.member_id) bad.push({name: c.name, got: a.code, expected: c.expected}); } \
             for (const c of v.hours) { n++; const ms = Date.parse(c.at); \
               const [start, end] = r.dayBounds(c.hours, ms); \
               const got = { date: r.businessDate(c.hours, ms), start, end, open: r.isOpen(c.hours, ms) }; \
               const want = { date: c.business_date, start: Date.parse(c.day_start), end: Date.parse(c.day_end), open: c.open }; \
               if (JSON.stringify(got) !== JSON.stringify(want)) bad.push({c, got, want}); } \
             return { n, bad, ed25519: await r.hasEd25519() };",
            vectors.clone(),
        )
        .await?;
    assert!(report.get("error").is_none(), "{report}");
    let total = vectors["policy"].as_array().map_or(0, Vec::len)
        + vectors["passes"].as_array().map_or(0, Vec::len)
        + vectors["hours"].as_array().map_or(0, Vec::len);
    assert!(total > 600, "{total} vectors");
    assert_eq!(report["n"], json!(total));
    assert_eq!(report["ed25519"], json!(true), "Chromium verifies Ed25519");
    assert_eq!(
        report["bad"],
        json!([]),
        "rules.js disagrees with the Rust code"
    );
    browser.close().await
}

/// The board is newest first by the check-ins' times, whatever number of fraction digits the
/// server wrote: it writes ".123Z" for a time on the millisecond and ".123500Z" half a
/// millisecond later, and compared as strings the first came out newer (found by
/// `a_link_cut_mid_replay_shows_every_checkin_exactly_once`, where two records a few hundred
/// microseconds apart swapped places on the board).
#[tokio::test]
async fn the_board_orders_check_ins_by_time_whatever_their_digits() -> anyhow::Result<()> {
    let Some(browser) = Browser::start_as(Screen::Window(1024, 768), &[]).await? else {
        return Ok(());
    };
    let server = TestServer::start().await?;
    browser
        .client
        .goto(&format!("{}/desk/", server.url()))
        .await?;
    let cards = json!([
        { "checkin": { "id": "01a0-b", "at": "2026-12-07T10:00:01.123500Z" } },
        { "checkin": { "id": "01a0-a", "at": "2026-12-07T10:00:01.123Z" } },
        { "checkin": { "id": "01a0-d", "at": "2026-12-07T10:00:02Z" } },
        { "checkin": { "id": "01a0-c", "at": "2026-12-07T10:00:01.5Z" } },
        { "checkin": { "id": "01a0-e", "at": "2026-12-07T10:00:02Z" } },
    ]);
    let order = browser
        .run(
            "const d = await import('/desk/desk.js');              return { board: d.newestFirst(args[0]).map((c) => c.checkin.id),                       strings: [...args[0]].sort((a, b) => b.checkin.at.localeCompare(a.checkin.at))                         .map((c) => c.checkin.id) };",
            cards,
        )
        .await?;
    assert_eq!(
        order["board"],
        json!(["01a0-e", "01a0-d", "01a0-c", "01a0-b", "01a0-a"]),
        "{order}"
    );
    // What the board did before: the strings put the earlier time on the millisecond first.
    assert_ne!(order["strings"], order["board"], "{order}");
    browser.close().await
}

/// Re-pairing to another center leaves nothing of the first in IndexedDB or Cache Storage.
#[tokio::test]
async fn re_pairing_to_another_center_leaves_nothing_of_the_first() -> anyhow::Result<()> {
    let Some(browser) = Browser::start_as(Screen::Window(1024, 768), &[]).await? else {
        return Ok(());
    };
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let first = fx.center("강남점").await?;
    let second = fx.center("홍대점").await?;
    let numbers = fx.members("RP", 3, Some(8)).await?;
    let members = logins(&url, &numbers).await?;
    let setup_desk = fx.desk(first.id.as_str()).await?;
    visited_yesterday(&url, &setup_desk.token, &members[..2]).await?;

    pair(&browser, &fx, first.id.as_str(), "1층").await?;
    members[2].tap(first.id.as_str(), "rp-1").await?.checkin()?;
    wait_rows(&browser, 1, gymgate_tests::WAIT).await?;
    let before = dump(&browser).await?.to_string();
    assert!(before.contains(first.id.as_str()));
    assert!(
        before.contains(members[0].session.member.id.as_str()),
        "roster cached"
    );

    browser.click("#open-settings").await?;
    // The settings say whether the browser keeps the data, and how much is used.
    assert!(!browser.text("#storage-persisted").await?.is_empty());
    browser
        .until(
            "the storage estimate",
            "return document.querySelector('#storage-usage').textContent.includes('MB');",
        )
        .await?;
    assert_eq!(browser.text("#ed25519").await?, "가능 (Ed25519)");
    browser.click("#unpair").await?;
    browser.click("#unpair").await?;
    browser.wait_for("#pair-code").await?;
    pair(&browser, &fx, second.id.as_str(), "2층").await?;
    let after = dump(&browser).await?;
    let text = after.to_string();
    assert!(text.contains(second.id.as_str()), "{text}");
    assert!(
        !text.contains(first.id.as_str()),
        "the first center is left: {text}"
    );
    for member in &members {
        assert!(
            !text.contains(member.session.member.id.as_str()),
            "a member of the first center is left"
        );
        assert!(!text.contains(&member.session.member.name));
    }
    let photos = browser
        .run(
            "return (await caches.keys()).filter(k => k.includes('photos')).length;",
            Value::Null,
        )
        .await?;
    assert_eq!(photos, json!(0));
    browser.close().await
}

/// Clears a field and types into it, finding it again if the page redrew it meanwhile.
async fn type_fresh(browser: &Browser, css: &str, text: &str) -> anyhow::Result<()> {
    let mut tries = 0;
    loop {
        let field = browser.wait_for(css).await?;
        let typed = async {
            field.clear().await?;
            field.send_keys(text).await
        };
        match typed.await {
            Ok(()) => return Ok(()),
            Err(error) if tries < 3 => {
                eprintln!("typing into {css} again: {error}");
                tries += 1;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Stored check-ins of a member today at a center, from the admin API: `[(id, status, method)]`.
async fn visits_today(
    fx: &Fixture,
    member_no: &str,
    center_id: &str,
) -> anyhow::Result<Vec<(String, String, String)>> {
    let detail: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/admin/members/{member_no}", fx.url))
        .bearer_auth(gymgate_tests::ADMIN_TOKEN)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let today = gymgate_shared::kst::date_of(chrono::Utc::now());
    let mut out = Vec::new();
    for visit in detail["visits"].as_array().into_iter().flatten() {
        let at: chrono::DateTime<chrono::Utc> = serde_json::from_value(visit["at"].clone())?;
        if gymgate_shared::kst::date_of(at) == today && visit["center_id"] == center_id {
            out.push((
                visit["id"].as_str().unwrap_or_default().to_owned(),
                visit["status"].as_str().unwrap_or_default().to_owned(),
                visit["method"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    Ok(out)
}

/// Staff's judgement records from a second desk: one check-in event per member, fast.
async fn manual_checkins(url: &str, token: &str, numbers: &[String]) -> anyhow::Result<()> {
    use gymgate_shared::protocol::{
        DeskMessage, ManualEntry, OutboxRecord, RecordMethod, RecordStatus, ServerMessage,
    };
    let (mut ws, _) = gymgate_tests::DeskClient::join(url, token, None, 0).await?;
    for no in numbers {
        ws.send(&DeskMessage::Record(OutboxRecord {
            local_id: gymgate_shared::LocalId::generate(),
            member_id: gymgate_shared::MemberId::new(""),
            at: chrono::Utc::now(),
            method: RecordMethod::Manual,
            proof: None,
            manual: Some(ManualEntry {
                member_no: no.clone(),
                note: "신분증 확인".into(),
            }),
        }))
        .await?;
        loop {
            if let ServerMessage::Recorded { status, .. } = ws.next().await? {
                anyhow::ensure!(status == RecordStatus::Accepted, "setup check-in refused");
                break;
            }
        }
    }
    ws.close().await
}

/// The link cut mid-replay: the page comes back to 200 check-ins it missed, the server is
/// SIGKILLed while it replays them and restarted; the board shows each exactly once, newest
/// first, and the desk's cursor reaches the head.
#[tokio::test]
async fn a_link_cut_mid_replay_shows_every_checkin_exactly_once() -> anyhow::Result<()> {
    let Some(browser) = Browser::start_as(Screen::Window(1024, 768), &[]).await? else {
        return Ok(());
    };
    let (_keep, data) = gymgate_tests::server::data_dir()?;
    let server = ServerProcess::spawn(EXE, &data).await?;
    let addr = server.addr.to_string();
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let numbers = fx.members("MR", 200, None).await?;
    let other = fx.desk(center.id.as_str()).await?;
    pair(&browser, &fx, center.id.as_str(), "1층").await?;
    browser.client.goto("about:blank").await?;
    manual_checkins(&fx.url, &other.token, &numbers).await?;
    let head = head_seq(&fx, center.id.as_str()).await?;

    browser.client.goto(&format!("{}/desk/", fx.url)).await?;
    // Kill as soon as the replay has begun and before it has ended.
    let shown_at_kill = browser
        .until_within(
            "the replay under way",
            "const n = document.querySelectorAll('#today li.row').length; return n > 0 ? n : null;",
            gymgate_tests::WAIT,
        )
        .await?;
    server.kill().await?;
    let shown_at_kill = shown_at_kill.as_u64().unwrap_or_default();
    let (_, cursor_at_kill) = cursor(&browser).await?;
    eprintln!("killed with {shown_at_kill} of 200 on the board, cursor {cursor_at_kill} of {head}");
    anyhow::ensure!(
        cursor_at_kill < head,
        "the replay ended before the kill ({cursor_at_kill} of {head}): the test proved nothing"
    );

    let _server = ServerProcess::spawn_on(EXE, &data, &addr, &[]).await?;
    wait_rows(&browser, 200, RECONNECT).await?;
    online(&browser).await?;
    let shown = rows(&browser).await?;
    let mut ids: Vec<&String> = shown.iter().map(|r| &r.0).collect();
    assert_eq!(ids.len(), 200);
    // Newest first: check-in ids are UUIDv7, so time order is id order.
    let mut sorted = ids.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted, "the board is in order");
    ids.dedup();
    assert_eq!(ids.len(), 200, "each check-in once");
    browser
        .until_within(
            "the cursor at the head",
            &format!("return (await window.gymgateDesk.cursor()).last_seq === {head};"),
            RECONNECT,
        )
        .await?;
    browser.close().await
}

/// A shift that starts offline: the server is down and the page is reloaded (service
/// worker); a roster check-in, an offline pass made by the member app in a second browser,
/// and a member who tapped Enter while the desk was away go into the outbox; the server
/// comes back: each is stored exactly once, and the one the rules refuse is disputed and
/// shown to staff.
#[tokio::test]
async fn a_shift_that_starts_offline_syncs_each_checkin_once() -> anyhow::Result<()> {
    let Some(browser) = Browser::start_as(Screen::Touch(768, 1024), &[]).await? else {
        return Ok(());
    };
    let Some(phone) = Browser::start().await? else {
        return Ok(());
    };
    let (_keep, data) = gymgate_tests::server::data_dir()?;
    let server = ServerProcess::spawn(EXE, &data).await?;
    let addr = server.addr.to_string();
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    fx.admin
        .set_support(&gymgate_shared::api::SupportContact {
            phone: "1588-0000".into(),
            chat_url: String::new(),
            hours: "매일 06:00-24:00".into(),
        })
        .await?;
    let numbers = fx.members("OF", 3, Some(8)).await?;
    let members = logins(&url, &numbers).await?;
    let setup = fx.desk(center.id.as_str()).await?;
    // 회원0 and 회원2 visited before (in the desk's roster); 회원1 is new and shows a pass.
    visited_yesterday(
        &url,
        &setup.token,
        &[members[0].on(&url), members[2].on(&url)],
    )
    .await?;

    // The member app gets its certificate and goes into its service worker.
    phone.client.goto(&url).await?;
    phone.type_into("#login-member-no", &numbers[1]).await?;
    phone.type_into("#login-pin", PIN).await?;
    phone.click("#login-submit").await?;
    phone.wait_for("#view-home:not([hidden])").await?;
    phone
        .until(
            "the pass certificate",
            "return localStorage.getItem('gymgate.pass') !== null;",
        )
        .await?;
    phone
        .until(
            "the app cached",
            "const c = await caches.open('gymgate-app-v1'); return (await c.keys()).length >= 8;",
        )
        .await?;
    phone.client.refresh().await?;
    phone
        .until(
            "the app under its worker",
            "return !!navigator.serviceWorker.controller;",
        )
        .await?;

    pair(&browser, &fx, center.id.as_str(), "카운터 태블릿").await?;
    browser
        .until_within(
            "the desk's files cached",
            "const c = await caches.open('gymgate-desk-shell-v1'); return (await c.keys()).length >= 15;",
            RECONNECT,
        )
        .await?;
    browser.client.refresh().await?;
    browser
        .until(
            "the desk under its worker",
            "return !!navigator.serviceWorker.controller;",
        )
        .await?;
    online(&browser).await?;

    // The desk is closed for the night; 회원2 taps Enter; the server dies.
    browser.client.goto("about:blank").await?;
    members[2]
        .tap(center.id.as_str(), "of-app")
        .await?
        .checkin()?;
    server.kill().await?;

    // Morning: the page opens from the service worker, offline.
    browser.client.goto(&format!("{url}/desk/")).await?;
    browser.wait_for("#scan").await?;
    browser
        .until_within(
            "the offline banner",
            "const b = document.querySelector('#offline-banner'); return document.body.dataset.link === 'offline' && b && !b.hidden;",
            RECONNECT,
        )
        .await?;
    // Whom to call, kept from the last welcome.
    let banner = browser.text("#offline-banner").await?;
    assert!(banner.contains("고객센터 1588-0000"), "{banner}");
    browser.screenshot("desk-web-offline-768x1024.png").await?;

    let check_in = |name: &'static str, id: String| {
        let browser = &browser;
        async move {
            type_fresh(browser, "#scan", name).await?;
            browser
                .click(&format!(".result[data-member=\"{id}\"] button.checkin"))
                .await?;
            anyhow::Ok(())
        }
    };
    check_in("회원0", members[0].session.member.id.to_string()).await?;
    wait_rows(&browser, 1, gymgate_tests::WAIT).await?;

    // The member's phone, offline too, shows the pass; the scanner types it.
    phone.client.goto(&url).await?;
    phone.wait_for("#view-pass:not([hidden])").await?;
    let payload = phone
        .wait_for("#pass-qr[data-payload]")
        .await?
        .attr("data-payload")
        .await?
        .ok_or_else(|| anyhow::anyhow!("no payload"))?;
    type_fresh(&browser, "#scan", &format!("{payload}\u{E007}")).await?;
    wait_rows(&browser, 2, gymgate_tests::WAIT).await?;
    assert_eq!(browser.text("#big-name").await?, "회원1");
    // The same code again (a screenshot passed on): refused on the big card, nothing stored.
    type_fresh(&browser, "#scan", &format!("{payload}\u{E007}")).await?;
    browser
        .wait_for("#refusal-reason[data-code=\"pass_replayed\"]")
        .await?;
    assert_eq!(
        browser.text("#refusal-reason").await?,
        "이미 사용된 코드입니다."
    );
    browser.screenshot("desk-web-refused-768x1024.png").await?;
    assert_eq!(rows(&browser).await?.len(), 2);

    check_in("회원2", members[2].session.member.id.to_string()).await?;
    wait_rows(&browser, 3, gymgate_tests::WAIT).await?;
    assert_eq!(browser.text("#waiting").await?, "3");
    let pending = rows(&browser).await?;
    assert!(pending.iter().all(|r| r.2 == "pending"), "{pending:?}");

    // The server comes back where the desk expects it.
    let _server = ServerProcess::spawn_on(EXE, &data, &addr, &[]).await?;
    online(&browser).await?;
    browser
        .until_within(
            "the conflict shown to staff",
            "return document.querySelector('#review li.conflict[data-state=\"conflict\"]') !== null;",
            RECONNECT,
        )
        .await?;
    // 회원2's app check-in arrives too (replayed): four on the board, one disputed.
    wait_rows(&browser, 4, RECONNECT).await?;
    browser
        .until(
            "the disputed row",
            "return document.querySelector('#today li.row[data-status=\"disputed\"]') !== null;",
        )
        .await?;
    browser.screenshot("desk-web-synced-768x1024.png").await?;

    let fx = Fixture::new(url.clone());
    let first = visits_today(&fx, &numbers[0], center.id.as_str()).await?;
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(
        (first[0].1.as_str(), first[0].2.as_str()),
        ("admitted", "roster")
    );
    let second = visits_today(&fx, &numbers[1], center.id.as_str()).await?;
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(
        (second[0].1.as_str(), second[0].2.as_str()),
        ("admitted", "pass")
    );
    let third = visits_today(&fx, &numbers[2], center.id.as_str()).await?;
    assert_eq!(third.len(), 2, "{third:?}");
    assert!(third.iter().any(|v| v.1 == "disputed" && v.2 == "roster"));
    assert!(third.iter().any(|v| v.1 == "admitted" && v.2 == "app"));
    let disputes = fx.admin.disputes().await?;
    assert_eq!(disputes.len(), 1);
    assert_eq!(
        disputes[0]
            .checkin
            .dispute
            .as_ref()
            .map(|d| d.reason.as_str()),
        Some("already_checked_in_today")
    );
    assert_eq!(browser.text("#status").await?, "온라인");
    phone.close().await?;
    browser.close().await
}

/// A web desk and an iced desk core paired to the same center see the same check-ins, in the
/// same order and state, and reach the same cursor.
#[tokio::test]
async fn a_web_desk_and_an_iced_desk_core_see_the_same_events() -> anyhow::Result<()> {
    let Some(browser) = Browser::start_as(Screen::Window(1024, 768), &[]).await? else {
        return Ok(());
    };
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx
        .center_with(NewCenter {
            name: "강남점".into(),
            address: "서울".into(),
            hours: None,
            schedule: None,
            requires_approval: true,
        })
        .await?;
    let numbers = fx.members("SE", 5, Some(8)).await?;
    let members = logins(&url, &numbers).await?;
    let core_data = tempfile::tempdir()?;
    let paired = fx.desk(center.id.as_str()).await?;
    let mut core = RunningDesk::start(core_data.path(), pairing(&url, &paired)).await?;
    core.wait_online().await?;
    pair(&browser, &fx, center.id.as_str(), "웹").await?;

    for (i, member) in members.iter().enumerate() {
        member
            .tap(center.id.as_str(), &format!("se-{i}"))
            .await?
            .checkin()?;
    }
    wait_rows(&browser, 5, gymgate_tests::WAIT).await?;
    // The web desk approves the newest (pending: this center approves each visit) and the
    // iced core denies the oldest.
    browser
        .until(
            "the pending card",
            "return document.querySelector('#admit') !== null;",
        )
        .await?;
    browser.click("#admit").await?;
    let oldest = rows(&browser).await?[4].0.clone();
    core.core.decide(
        gymgate_shared::CheckinId::new(&oldest),
        gymgate_shared::protocol::Decision::Deny,
        Some("본인 확인 불가".into()),
    );
    browser
        .until(
            "both decisions on the web desk",
            "const s = [...document.querySelectorAll('#today li.row')].map(li => li.dataset.status); \
             return s.includes('admitted') && s.includes('denied');",
        )
        .await?;
    let head = head_seq(&fx, center.id.as_str()).await?;
    browser
        .until(
            "the web desk at the head",
            &format!("return (await window.gymgateDesk.cursor()).last_seq === {head};"),
        )
        .await?;
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
    let core_rows = loop {
        let state = core.core.state().await?;
        let rows: Vec<(String, String)> = state
            .today
            .iter()
            .map(|c| {
                (
                    c.checkin.id.to_string(),
                    serde_json::to_value(c.checkin.status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                )
            })
            .collect();
        if rows.iter().filter(|r| r.1 != "pending").count() == 2 {
            break rows;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "core rows {rows:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let web_rows: Vec<(String, String)> = rows(&browser)
        .await?
        .into_iter()
        .map(|r| (r.0, r.1))
        .collect();
    assert_eq!(web_rows, core_rows, "the same check-ins, order and state");
    assert!(web_rows.iter().any(|r| r.1 == "admitted"));
    assert!(web_rows.iter().any(|r| r.1 == "denied"));
    core.stop().await?;
    browser.close().await
}

/// A pass QR from a real certificate, shown to Chromium's fake camera as a .y4m video: the
/// desk's camera scan (jsQR here: Chromium on Linux has no BarcodeDetector) checks it in.
#[tokio::test]
async fn the_camera_reads_a_pass_qr() -> anyhow::Result<()> {
    use base64::Engine;
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    let numbers = fx.members("CM", 1, Some(8)).await?;
    let member = MemberClient::login(&url, &numbers[0], PIN).await?;
    let device = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let issued: Value = reqwest::Client::new()
        .post(format!("{url}/api/v1/me/pass"))
        .bearer_auth(&member.token)
        .json(
            &json!({ "device_key": base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(device.verifying_key().as_bytes()) }),
        )
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let certificate = issued["certificate"].as_str().unwrap_or_default();
    let payload = gymgate_shared::pass::show(certificate, &device, chrono::Utc::now())
        .ok_or_else(|| anyhow::anyhow!("cannot show the pass"))?;
    let Some((browser, _video)) =
        Browser::start_with_camera_showing(Screen::Touch(768, 1024), &payload).await?
    else {
        return Ok(());
    };
    pair(&browser, &fx, center.id.as_str(), "입구 태블릿").await?;
    browser.click("#camera").await?;
    browser
        .until(
            "the scanned member on the big card",
            "const n = document.querySelector('#big-name'); return n && n.textContent === '회원0';",
        )
        .await?;
    wait_rows(&browser, 1, gymgate_tests::WAIT).await?;
    browser
        .until(
            "the check-in stored by the server",
            "const r = document.querySelector('#today li.row'); return r && r.dataset.sync !== 'pending';",
        )
        .await?;
    let stored = visits_today(&fx, &numbers[0], center.id.as_str()).await?;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].2, "pass");
    browser.close().await
}

/// The board at a phone's, a tablet's (both ways) and a PC's size: nothing wider than the
/// screen, every button a finger can hit (≥ 44 px), the name readable at arm's length.
#[tokio::test]
async fn the_board_fits_phones_tablets_and_pcs() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    let numbers = fx.members("LY", 4, Some(8)).await?;
    let members = logins(&url, &numbers).await?;
    fx.admin
        .post_notice(&gymgate_shared::api::NewNotice {
            severity: gymgate_shared::api::Severity::Info,
            text_ko: "오늘 22시부터 샤워실 점검이 있습니다.".into(),
            text_en: "Shower maintenance from 22:00 today.".into(),
            ends_at: None,
            center_ids: Vec::new(),
        })
        .await?;
    let screens = [
        (Screen::Touch(360, 740), "desk-web-phone-360x740.png"),
        (Screen::Touch(768, 1024), "desk-web-tablet-768x1024.png"),
        (Screen::Touch(1024, 768), "desk-web-tablet-1024x768.png"),
        (Screen::Window(1920, 1080), "desk-web-1920x1080.png"),
    ];
    for (i, (screen, shot)) in screens.into_iter().enumerate() {
        let Some(browser) = Browser::start_as(screen, &[]).await? else {
            return Ok(());
        };
        pair(&browser, &fx, center.id.as_str(), &format!("데스크 {i}")).await?;
        if i == 0 {
            for (n, member) in members.iter().enumerate() {
                member
                    .tap(center.id.as_str(), &format!("ly-{n}"))
                    .await?
                    .checkin()?;
            }
        }
        wait_rows(&browser, 4, gymgate_tests::WAIT).await?;
        let report = browser
            .run(
                "const small = [...document.querySelectorAll('button, input, #today li.row')] \
                   .filter(e => e.offsetParent !== null) \
                   .map(e => [e.id || e.className || e.tagName, e.getBoundingClientRect()]) \
                   .filter(([, r]) => r.height < 44 || r.width < 44) \
                   .map(([n, r]) => `${n} ${Math.round(r.width)}x${Math.round(r.height)}`); \
                 const name = parseFloat(getComputedStyle(document.querySelector('#big-name')).fontSize); \
                 return { wide: document.documentElement.scrollWidth - window.innerWidth, small, name, \
                          width: window.innerWidth };",
                Value::Null,
            )
            .await?;
        eprintln!("{shot}: {report}");
        assert!(report.get("error").is_none(), "{report}");
        assert!(
            report["wide"].as_f64().unwrap_or(1.0) <= 0.0,
            "{shot}: wider than the screen: {report}"
        );
        assert_eq!(
            report["small"],
            json!([]),
            "{shot}: touch targets under 44 px"
        );
        assert!(
            report["name"].as_f64().unwrap_or_default() >= 28.0,
            "{shot}: {report}"
        );
        browser.screenshot(shot).await?;
        browser.close().await?;
    }
    Ok(())
}

/// The browser's way to authenticate its WebSocket: the token as a subprotocol beside
/// `gymgate.desk.v1` (a header, never the URL); the server answers with the desk protocol
/// alone and refuses a wrong, revoked or URL-borne token before the upgrade.
#[tokio::test]
async fn a_browser_desk_authenticates_its_websocket_with_a_subprotocol() -> anyhow::Result<()> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Error as WsError, Message, client::IntoClientRequest};
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let ws_url = format!("{}/ws/desk", url.replacen("http", "ws", 1));
    let open = |protocols: String, url: String| async move {
        let mut request = url.into_client_request()?;
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocols.parse()?);
        anyhow::Ok(tokio_tungstenite::connect_async(request).await)
    };
    let status = |answer: Result<_, WsError>| match answer {
        Err(WsError::Http(response)) => Some(response.status().as_u16()),
        _ => None,
    };

    let (mut socket, response) = open(
        format!("gymgate.desk.v1, gymgate.token.{}", desk.token),
        ws_url.clone(),
    )
    .await??;
    let chosen = response
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(chosen, ["gymgate.desk.v1"], "the token is never echoed");
    socket
        .send(Message::text(
            json!({"type": "hello", "protocol": 1, "epoch": null, "last_seq": 0, "app_version": "web-test"})
                .to_string(),
        ))
        .await?;
    let welcome = tokio::time::timeout(gymgate_tests::WAIT, socket.next())
        .await?
        .ok_or_else(|| anyhow::anyhow!("closed"))??;
    let welcome: Value = serde_json::from_str(welcome.to_text()?)?;
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["desk_id"], json!(desk.desk_id));
    socket.close(None).await?;

    let wrong = open(
        "gymgate.desk.v1, gymgate.token.not-a-token".into(),
        ws_url.clone(),
    )
    .await?;
    assert_eq!(status(wrong), Some(401));
    // The token alone, without asking for the desk protocol, is not taken.
    let bare = open(format!("gymgate.token.{}", desk.token), ws_url.clone()).await?;
    assert_eq!(status(bare), Some(401));
    // Nor in the URL, where proxies would log it.
    let in_url = open(
        "gymgate.desk.v1".into(),
        format!("{ws_url}?token={}", desk.token),
    )
    .await?;
    assert_eq!(status(in_url), Some(401));

    // What the page asks when its socket fails before opening.
    let me = |token: String| {
        let url = url.clone();
        async move {
            let response = reqwest::Client::new()
                .get(format!("{url}/api/v1/desk/me"))
                .bearer_auth(token)
                .send()
                .await?;
            let status = response.status().as_u16();
            anyhow::Ok((status, response.json::<Value>().await?))
        }
    };
    let (code, body) = me(desk.token.clone()).await?;
    assert_eq!(code, 200);
    assert_eq!(body["center_id"], json!(center.id));
    fx.admin.revoke_desk(desk.desk_id.as_str()).await?;
    let (code, body) = me(desk.token.clone()).await?;
    assert_eq!(
        (code, body["error"]["code"].clone()),
        (401, json!("token_revoked"))
    );
    let revoked = open(
        format!("gymgate.desk.v1, gymgate.token.{}", desk.token),
        ws_url,
    )
    .await?;
    assert_eq!(status(revoked), Some(401));
    Ok(())
}

/// One live desk per browser profile: a second tab says the desk is open elsewhere and takes
/// over when asked; the first then stops and says where the desk went.
#[tokio::test]
async fn a_second_tab_takes_over_the_desk() -> anyhow::Result<()> {
    let Some(browser) = Browser::start_as(Screen::Window(1024, 768), &[]).await? else {
        return Ok(());
    };
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    pair(&browser, &fx, center.id.as_str(), "1층").await?;
    let first = browser.client.window().await?;
    let second = browser.client.new_window(true).await?;
    browser.client.switch_to_window(second.handle).await?;
    browser.client.goto(&format!("{}/desk/", fx.url)).await?;
    let text = browser.text(".elsewhere h1").await?;
    assert_eq!(text, "데스크가 다른 탭에서 열려 있습니다");
    browser.click("#take-over").await?;
    browser.wait_for("#scan").await?;
    online(&browser).await?;
    browser.client.switch_to_window(first).await?;
    let text = browser.text(".elsewhere h1").await?;
    assert_eq!(text, "다른 탭으로 데스크가 옮겨졌습니다");
    // The first tab let go of its link (its desk is gone, its socket closed).
    let first_desk = browser
        .run("return window.gymgateDesk === null;", Value::Null)
        .await?;
    assert_eq!(first_desk, json!(true));
    browser.close().await
}

/// A restored backup is a new history: the web desk, seeing another epoch, sends again the
/// check-ins the lost history had accepted from it, and the server stores each once.
#[tokio::test]
async fn after_a_restore_the_web_desk_sends_again_what_the_lost_history_accepted()
-> anyhow::Result<()> {
    let Some(browser) = Browser::start_as(Screen::Window(1024, 768), &[]).await? else {
        return Ok(());
    };
    let server = TestServer::start().await?;
    let addr = server.addr;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    let numbers = fx.members("RS", 2, Some(8)).await?;
    let members = logins(&url, &numbers).await?;
    let setup = fx.desk(center.id.as_str()).await?;
    visited_yesterday(&url, &setup.token, &members).await?;
    pair(&browser, &fx, center.id.as_str(), "1층").await?;
    let copy = server.data.path().join("nightly.db");
    let out = tokio::process::Command::new(EXE)
        .args(["backup", "--data-dir"])
        .arg(server.data.path())
        .arg("--to")
        .arg(&copy)
        .output()
        .await?;
    anyhow::ensure!(out.status.success(), "backup: {out:?}");

    for (i, name) in ["회원0", "회원1"].into_iter().enumerate() {
        type_fresh(&browser, "#scan", name).await?;
        browser
            .click(&format!(
                ".result[data-member=\"{}\"] button.checkin",
                members[i].session.member.id
            ))
            .await?;
        wait_rows(&browser, i + 1, gymgate_tests::WAIT).await?;
    }
    browser
        .until(
            "both stored",
            "return [...document.querySelectorAll('#today li.row')].every(r => r.dataset.sync !== 'pending');",
        )
        .await?;
    for no in &numbers {
        assert_eq!(visits_today(&fx, no, center.id.as_str()).await?.len(), 1);
    }
    // One chime each when staff checked them in; none for the server's echo of them.
    let chimes = browser
        .run("return window.gymgateChimes || 0;", Value::Null)
        .await?;
    assert_eq!(chimes, json!(2));

    // The database is lost and last night's backup restored: both visits are gone.
    browser.client.goto("about:blank").await?;
    let dir = server.stop().await?;
    let out = tokio::process::Command::new(EXE)
        .args(["restore", "--data-dir"])
        .arg(dir.path())
        .arg("--from")
        .arg(&copy)
        .output()
        .await?;
    anyhow::ensure!(out.status.success(), "restore: {out:?}");
    let _server = TestServer::start_in_at(dir, addr, |_| {}).await?;
    for no in &numbers {
        assert!(visits_today(&fx, no, center.id.as_str()).await?.is_empty());
    }

    browser.client.goto(&format!("{url}/desk/")).await?;
    online(&browser).await?;
    let deadline = tokio::time::Instant::now() + RECONNECT;
    for no in &numbers {
        loop {
            let stored = visits_today(&fx, no, center.id.as_str()).await?;
            if stored.len() == 1 {
                assert_eq!(
                    (stored[0].1.as_str(), stored[0].2.as_str()),
                    ("admitted", "roster")
                );
                break;
            }
            anyhow::ensure!(tokio::time::Instant::now() < deadline, "{no}: {stored:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    wait_rows(&browser, 2, gymgate_tests::WAIT).await?;
    browser.close().await
}

/// An operator unpairs the desk: the page says so plainly (not "offline" forever) and pairing
/// again starts from an empty browser.
#[tokio::test]
async fn a_desk_unpaired_by_an_operator_says_so() -> anyhow::Result<()> {
    let Some(browser) = Browser::start_as(Screen::Window(1024, 768), &[]).await? else {
        return Ok(());
    };
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    pair(&browser, &fx, center.id.as_str(), "1층").await?;
    let desk = fx.admin.desks().await?[0].id.clone();
    fx.admin.revoke_desk(desk.as_str()).await?;
    let text = browser
        .until_within(
            "the unpaired screen",
            "const p = document.querySelector('#unpaired'); return p && p.textContent;",
            RECONNECT,
        )
        .await?;
    assert_eq!(
        text,
        json!("운영팀이 이 데스크의 연결을 해제했습니다. 새 페어링 코드로 다시 연결해 주세요.")
    );
    browser.click(".elsewhere button.primary").await?;
    browser.wait_for("#pair-code").await?;
    let left = browser
        .run(
            "const { Store } = await import('/desk/store.js'); const s = await Store.open(); \
             const d = await s.dump(); s.close(); return d;",
            Value::Null,
        )
        .await?;
    assert_eq!(
        left["meta"],
        json!([]),
        "nothing of the old pairing: {left}"
    );
    browser.close().await
}

#[tokio::test]
async fn operators_get_the_browser_desks_own_log() -> anyhow::Result<()> {
    let Some(browser) = Browser::start_as(Screen::Window(1024, 768), &[]).await? else {
        return Ok(());
    };
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    pair(&browser, &fx, center.id.as_str(), "1층").await?;
    let desk = fx.admin.desks().await?[0].id.to_string();
    let (request, delivered) = fx.admin.request_desk_log(&desk).await?;
    assert!(delivered, "an online browser desk is asked at once");
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
    while !fx
        .admin
        .desk_logs(&desk)
        .await?
        .iter()
        .any(|l| l.request_id == request && l.uploaded_at.is_some())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the browser desk did not send its log"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = fx.admin.desk_log(&request).await?;
    assert!(
        text.starts_with("web-"),
        "the version and browser first: {text}"
    );
    assert!(text.contains("HeadlessChrome"), "{text}");
    assert!(text.contains("INFO connected; saying hello"), "{text}");
    browser.close().await
}

/// The entrance QR (issue 27): the web desk makes its own Ed25519 key, registers it in its
/// hello and shows a signed code that changes every few seconds; a member's tap carrying the
/// code it shows is the member's visit with proof of presence, naming this desk.
#[tokio::test]
async fn the_entrance_qr_is_signed_by_the_web_desk_and_proves_presence() -> anyhow::Result<()> {
    let Some(browser) = Browser::start_as(Screen::Touch(768, 1024), &[]).await? else {
        return Ok(());
    };
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    let numbers = fx.members("KQ", 1, Some(8)).await?;
    let member = MemberClient::login(&url, &numbers[0], PIN).await?;
    pair(&browser, &fx, center.id.as_str(), "입구 태블릿").await?;
    browser.click("#kiosk-open").await?;
    let shown = browser
        .until(
            "the entrance QR",
            "const q = document.querySelector('#kiosk-qr'); return q && q.querySelector('svg') && q.dataset.code;",
        )
        .await?;
    let code = shown.as_str().unwrap_or_default().to_owned();
    assert!(code.starts_with(&format!("GGP1.{}.", center.id)), "{code}");
    browser.screenshot("desk-entrance-qr.png").await?;

    let tapped = member
        .tap_with(center.id.as_str(), "kq-1", Some(&code))
        .await?;
    assert_eq!(tapped.status(), reqwest::StatusCode::CREATED, "{tapped:?}");
    let evidence: Value = reqwest::Client::new()
        .get(format!(
            "{url}/api/v1/admin/checkins/{}/evidence",
            tapped.checkin()?.id
        ))
        .bearer_auth(gymgate_tests::ADMIN_TOKEN)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(evidence["evidence"], "app+presence", "{evidence}");
    let desks = fx.admin.desks().await?;
    assert_eq!(evidence["presence_desk"], desks[0].id.as_str());

    // The code moves on; back at the board, the visit is on today's list.
    browser
        .until_within(
            "a new entrance QR",
            &format!(
                "return document.querySelector('#kiosk-qr').dataset.code !== {};",
                serde_json::to_string(&code)?
            ),
            std::time::Duration::from_secs(12),
        )
        .await?;
    browser.click("#kiosk-done").await?;
    wait_rows(&browser, 1, gymgate_tests::WAIT).await?;
    browser.close().await
}
