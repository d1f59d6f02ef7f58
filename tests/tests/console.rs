//! The operators' console: accounts and roles, CSRF, lockout, the audit log, settlement and
//! its digest checked against a desk's own cache, the support contact reaching desks.

use gymgate_shared::api::{CheckinStatus, NewOperator, Role, SupportContact};
use gymgate_shared::protocol::{
    DeskMessage, EventKind, OutboxRecord, RecordMethod, RecordStatus, ServerMessage,
};
use gymgate_shared::{CheckinId, LocalId, MemberId, kst};
use gymgate_tests::{
    ConsoleClient, DeskClient, Fixture, MemberClient, PIN, RunningDesk, TestServer,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

const PASSWORD: &str = "운영-비밀번호-2026";

async fn operator(fx: &Fixture, username: &str, role: Role) -> anyhow::Result<()> {
    fx.admin
        .add_operator(&NewOperator {
            username: username.into(),
            password: PASSWORD.into(),
            role,
        })
        .await?;
    Ok(())
}

/// A desk's offline record of `member` made a moment ago; returns the server's answer.
async fn record(
    ws: &mut DeskClient,
    member: &MemberId,
) -> anyhow::Result<(RecordStatus, Option<CheckinId>)> {
    let at = chrono::Utc::now() - chrono::Duration::seconds(20);
    let (status, checkin_id, _) = ws.record_at(member, at).await?;
    Ok((status, checkin_id))
}

#[tokio::test]
async fn roles_csrf_lockout_and_the_audit_log() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("RO", 2, Some(8)).await?;
    let member = MemberClient::login(&url, &numbers[0], PIN).await?;
    let checkin = member
        .tap(center.id.as_str(), "t1")
        .await?
        .checkin()?
        .clone();
    operator(&fx, "boss", Role::Admin).await?;
    operator(&fx, "help", Role::Support).await?;
    operator(&fx, "watch", Role::Viewer).await?;
    let boss = ConsoleClient::login(&url, "boss", PASSWORD).await?;
    // An admin acts only with a second factor.
    let early = boss.get("/api/v1/admin/operators").await?;
    assert_eq!(
        (early.status, early.code()),
        (StatusCode::FORBIDDEN, "totp_setup_required")
    );
    boss.add_second_factor().await?;
    let help = ConsoleClient::login(&url, "help", PASSWORD).await?;
    let watch = ConsoleClient::login(&url, "watch", PASSWORD).await?;
    assert_eq!(watch.session.role, Role::Viewer);
    let audit_before = fx.admin.audit().await?.len();

    // Every route that changes something, as a viewer: refused, nothing logged.
    let (c, d, no, id) = (
        center.id.as_str(),
        desk.desk_id.as_str(),
        numbers[1].as_str(),
        checkin.id.as_str(),
    );
    let mutating: Vec<(Method, String, serde_json::Value)> = vec![
        (
            Method::POST,
            "/api/v1/admin/centers".into(),
            json!({"name": "새 센터"}),
        ),
        (
            Method::POST,
            format!("/api/v1/admin/centers/{c}/pairing-codes"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/api/v1/admin/desks/{d}/revoke"),
            json!({}),
        ),
        (Method::POST, "/api/v1/admin/members".into(), json!({})),
        (
            Method::POST,
            "/api/v1/admin/members/import".into(),
            json!("member_no\n"),
        ),
        (
            Method::POST,
            format!("/api/v1/admin/members/{no}/block"),
            json!({"blocked": true}),
        ),
        (
            Method::POST,
            format!("/api/v1/admin/members/{no}/unlock"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/api/v1/admin/members/{no}/reset-pin"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/api/v1/admin/checkins/{id}/void"),
            json!({"reason": "x"}),
        ),
        (
            Method::POST,
            format!("/api/v1/admin/checkins/{id}/correct"),
            json!({"reason": "x"}),
        ),
        (
            Method::POST,
            format!("/api/v1/admin/disputes/{id}/accept"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/api/v1/admin/disputes/{id}/reject"),
            json!({"reason": "x"}),
        ),
        (
            Method::POST,
            "/api/v1/admin/disputes/bulk".into(),
            json!({"checkin_ids": [id], "accept": true}),
        ),
        (
            Method::POST,
            "/api/v1/admin/notices".into(),
            json!({"severity": "info", "text_ko": "가", "text_en": "a"}),
        ),
        (
            Method::DELETE,
            "/api/v1/admin/notices/some-notice".into(),
            json!({}),
        ),
        (
            Method::PATCH,
            "/api/v1/admin/incidents/some-incident".into(),
            json!({"cause": "x"}),
        ),
        (
            Method::POST,
            "/api/v1/admin/operators".into(),
            json!({"username": "x1", "password": PASSWORD, "role": "admin"}),
        ),
        (
            Method::PATCH,
            "/api/v1/admin/operators/boss".into(),
            json!({"disabled": true}),
        ),
        (
            Method::PUT,
            "/api/v1/admin/support".into(),
            json!({"phone": "1588-0000"}),
        ),
    ];
    for (method, path, body) in &mutating {
        let answer = watch.send(method.clone(), path, body.clone()).await?;
        assert_eq!(
            (answer.status, answer.code()),
            (StatusCode::FORBIDDEN, "role_forbidden"),
            "viewer {method} {path}: {:?}",
            answer.body
        );
    }
    assert_eq!(
        fx.admin.audit().await?.len(),
        audit_before,
        "refused attempts change nothing"
    );
    // A viewer reads everything.
    for path in [
        "/api/v1/admin/now",
        "/api/v1/admin/desks",
        "/api/v1/admin/disputes",
        "/api/v1/admin/settlement",
        "/api/v1/admin/audit",
        "/api/v1/admin/incidents/view",
        &format!("/api/v1/admin/members/{no}"),
        "/api/v1/admin/members?q=RO",
    ] {
        let answer = watch.get(path).await?;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "viewer GET {path}: {:?}",
            answer.body
        );
    }

    // Support manages members, visits, disputes, notices; not accounts, settings or centers.
    for (method, path, body) in [
        (
            Method::POST,
            "/api/v1/admin/operators",
            json!({"username": "x2", "password": PASSWORD, "role": "admin"}),
        ),
        (
            Method::PATCH,
            "/api/v1/admin/operators/watch",
            json!({"role": "admin"}),
        ),
        (
            Method::PUT,
            "/api/v1/admin/support",
            json!({"phone": "1588-0000"}),
        ),
        (
            Method::POST,
            "/api/v1/admin/centers",
            json!({"name": "새 센터"}),
        ),
    ] {
        let answer = help.send(method.clone(), path, body).await?;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "support {method} {path}"
        );
    }
    let list = help.get("/api/v1/admin/operators").await?;
    assert_eq!(
        list.status,
        StatusCode::FORBIDDEN,
        "support cannot list accounts"
    );

    // CSRF: the cookie alone changes nothing.
    let void = format!("/api/v1/admin/checkins/{id}/void");
    let forged = help
        .call(Method::POST, &void, Some(json!({"reason": "위조"})), false)
        .await?;
    assert_eq!(
        (forged.status, forged.code()),
        (StatusCode::FORBIDDEN, "csrf_failed")
    );
    let voided = help
        .send(
            Method::POST,
            &void,
            json!({"reason": "회원 요청: 잘못 누름"}),
        )
        .await?;
    assert_eq!(voided.status, StatusCode::OK, "{:?}", voided.body);
    assert_eq!(voided.body["status"], "voided");
    let history = voided.body["history"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        history.last().map(|h| h["by"].clone()),
        Some(json!("operator:help"))
    );
    // The member sees it, with the reason.
    let mine = member.checkin(id).await?;
    let mine = mine.checkin()?;
    assert_eq!(mine.status, CheckinStatus::Voided);
    assert_eq!(
        mine.history
            .last()
            .and_then(|h| h.reason.clone())
            .as_deref(),
        Some("회원 요청: 잘못 누름")
    );
    // No cookie: not logged in.
    let anonymous = reqwest::get(format!("{url}/api/v1/admin/now")).await?;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // Changes by the admin through the console.
    let blocked = boss
        .send(
            Method::POST,
            &format!("/api/v1/admin/members/{no}/block"),
            json!({"blocked": true, "reason": "카드 도용 신고"}),
        )
        .await?;
    assert_eq!(blocked.status, StatusCode::NO_CONTENT, "{:?}", blocked.body);
    let reset = boss
        .send(
            Method::POST,
            &format!("/api/v1/admin/members/{no}/reset-pin"),
            json!({}),
        )
        .await?;
    assert_eq!(reset.status, StatusCode::OK);
    let new_pin = reset.body["pin"].as_str().unwrap_or_default().to_owned();
    assert_eq!(new_pin.len(), 6);
    assert!(
        MemberClient::login(&url, no, &new_pin).await.is_ok(),
        "the new PIN works"
    );
    assert!(
        MemberClient::login(&url, no, PIN).await.is_err(),
        "the old PIN does not"
    );

    // Wrong passwords from one address: three free, then that address waits (the right
    // password too), and an unknown name is answered the same way (no telling which names
    // exist). Other addresses are not held up (tests/tests/trust_second.rs, finding 8).
    for name in ["watch", "nobody"] {
        let mut answers = Vec::new();
        for _ in 0..4 {
            let wrong = ConsoleClient::login(&url, name, "틀린-비밀번호-0000").await;
            answers.push(wrong.err().map(|e| e.to_string()).unwrap_or_default());
        }
        assert!(
            answers[..3].iter().all(|a| a.contains("wrong_login")),
            "{answers:?}"
        );
        let held = ConsoleClient::login(&url, name, PASSWORD).await;
        let held = held.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(held.contains("login_delayed"), "{name}: {held}");
    }
    // The session already open ends when an admin disables the account.
    let disabled = boss
        .send(
            Method::PATCH,
            "/api/v1/admin/operators/watch",
            json!({"disabled": true}),
        )
        .await?;
    assert_eq!(disabled.status, StatusCode::OK);
    let gone = watch.get("/api/v1/admin/now").await?;
    assert_eq!(
        (gone.status, gone.code()),
        (StatusCode::UNAUTHORIZED, "session_expired")
    );
    // Logging out ends the session too.
    let out = help
        .send(Method::POST, "/api/v1/console/logout", json!({}))
        .await?;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(
        help.get("/api/v1/admin/now").await?.status,
        StatusCode::UNAUTHORIZED
    );

    // The audit log holds every change made, with who, before and after.
    let audit = fx.admin.audit().await?;
    let actions: Vec<(String, String)> = audit
        .iter()
        .map(|a| (a.actor.clone(), a.action.clone()))
        .collect();
    for expected in [
        ("admin-token", "operator.add"),
        ("operator:help", "checkin.void"),
        ("operator:boss", "member.block"),
        ("operator:boss", "member.reset_pin"),
        ("operator:boss", "operator.update"),
    ] {
        assert!(
            actions.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "audit lacks {expected:?}: {actions:?}"
        );
    }
    let void_entry = audit
        .iter()
        .find(|a| a.action == "checkin.void")
        .ok_or_else(|| anyhow::anyhow!("no void in the audit"))?;
    assert_eq!(void_entry.before, Some(json!({"status": "admitted"})));
    assert_eq!(
        void_entry.after.as_ref().map(|a| a["status"].clone()),
        Some(json!("voided"))
    );
    assert_eq!(void_entry.member_no.as_deref(), Some(numbers[0].as_str()));
    // Filtered by member: that member's changes only.
    let by_member = boss
        .get(&format!("/api/v1/admin/audit?member_no={no}"))
        .await?;
    // Changes, that is: reads of the member's page are in the log too (issue 27).
    let entries: Vec<_> = by_member
        .body
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["action"] != "member.read")
        .collect();
    assert_eq!(entries.len(), 2, "block and PIN reset: {entries:?}");
    // No PIN, password or pairing code is ever written into it.
    let text = serde_json::to_string(&audit)?;
    assert!(
        !text.contains(&new_pin) && !text.contains(PASSWORD),
        "secrets in the audit log"
    );
    Ok(())
}

#[tokio::test]
async fn the_statement_digest_matches_the_desks_own_cache() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    fx.center("홍대점").await?;
    let support = SupportContact {
        phone: "1588-1234".into(),
        chat_url: "https://pf.kakao.com/_gymgate".into(),
        hours: "매일 06:00-24:00".into(),
    };
    fx.admin.set_support(&support).await?;
    let paired = fx.desk(center.id.as_str()).await?;
    let other_desk = fx.desk(center.id.as_str()).await?;
    let data = tempfile::tempdir()?;
    let mut desk = RunningDesk::start(
        data.path(),
        gymgate_tests::desk_core::pairing(&url, &paired),
    )
    .await?;
    // The welcome carries the support contact; the desk keeps it.
    let heard = desk
        .wait_for("support contact", |e| match e {
            gymgate_desk_core::CoreEvent::Support(c) => Some(c.clone()),
            _ => None,
        })
        .await?;
    assert_eq!(heard, support);
    desk.wait_online().await?;

    let numbers = fx.members("ST", 6, Some(8)).await?;
    let mut members = Vec::new();
    for no in &numbers {
        members.push(MemberClient::login(&url, no, PIN).await?);
    }
    let mut ids = Vec::new();
    for (i, m) in members.iter().take(4).enumerate() {
        ids.push(
            m.tap(center.id.as_str(), &format!("k{i}"))
                .await?
                .checkin()?
                .id
                .clone(),
        );
    }
    let http = reqwest::Client::new();
    let admin = |method: Method, path: String| {
        http.request(method, format!("{url}{path}"))
            .bearer_auth(gymgate_tests::ADMIN_TOKEN)
    };
    let voided = admin(
        Method::POST,
        format!("/api/v1/admin/checkins/{}/void", ids[0]),
    )
    .json(&json!({"reason": "중복 입장"}))
    .send()
    .await?;
    assert_eq!(voided.status(), StatusCode::OK);
    // From another desk of the center: an offline visit accepted, one disputed and rejected,
    // one disputed and left open.
    let (mut ws, _) = DeskClient::join(&url, &other_desk.token, None, 0).await?;
    let (status, _) = record(&mut ws, &members[4].session.member.id).await?;
    assert_eq!(status, RecordStatus::Accepted);
    let (status, rejected) = record(&mut ws, &members[1].session.member.id).await?;
    assert_eq!(status, RecordStatus::Conflict);
    let (status, _open) = record(&mut ws, &members[2].session.member.id).await?;
    assert_eq!(status, RecordStatus::Conflict);
    let rejected = rejected.ok_or_else(|| anyhow::anyhow!("no disputed id"))?;
    let answer = admin(
        Method::POST,
        format!("/api/v1/admin/disputes/{rejected}/reject"),
    )
    .json(&json!({"reason": "같은 날 두 번"}))
    .send()
    .await?;
    assert_eq!(answer.status(), StatusCode::OK);

    let now = chrono::Utc::now();
    let month = kst::date_of(now).format("%Y-%m").to_string();
    let statement = fx.admin.statement(center.id.as_str(), &month).await?;
    let t = &statement.totals;
    assert_eq!(
        (
            t.admitted,
            t.voided,
            t.denied,
            t.disputed_rejected,
            t.disputed_accepted,
            t.disputed_open
        ),
        (4, 1, 1, 1, 0, 1),
        "{t:?}"
    );
    let today = kst::date_of(now);
    let server_day = statement
        .days
        .iter()
        .find(|d| d.date == today)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no day in the statement"))?;
    assert_eq!(
        server_day.count, 6,
        "4 by app + 1 accepted + 1 rejected; the open one waits"
    );

    // The desk computes the same from its own cache once it has heard everything.
    let first = chrono::Datelike::with_day0(&today, 0).unwrap_or(today);
    let next_month = first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(first);
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
    let desk_days = loop {
        let days: Vec<gymgate_shared::settlement::DayDigest> = desk
            .core
            .statement_days(first, next_month)
            .await?
            .into_iter()
            .map(|d| d.day)
            .collect();
        if days == statement.days {
            break days;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the desk's digests never matched: desk {days:?}, server {:?}",
            statement.days
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(
        gymgate_shared::settlement::month_digest(&center.id, &month, &desk_days),
        statement.digest
    );
    // And the desk checks it itself, day by day, against the server's statement.
    let checks = desk.core.check_statement(first, next_month).await?;
    assert!(
        checks.iter().all(|c| c.matches && c.different.is_empty()),
        "{checks:?}"
    );

    // The spreadsheet: a BOM for Excel, the same figures.
    let csv = admin(
        Method::GET,
        format!("/api/v1/admin/settlement.csv?month={month}"),
    )
    .send()
    .await?
    .bytes()
    .await?;
    assert!(csv.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with a BOM");
    let mut reader = csv::Reader::from_reader(&csv[3..]);
    let row = reader
        .records()
        .filter_map(Result::ok)
        .find(|r| r.get(2) == Some("강남점"))
        .ok_or_else(|| anyhow::anyhow!("no row for 강남점"))?;
    let cells: Vec<&str> = row.iter().collect();
    assert_eq!(&cells[3..10], &["4", "1", "1", "0", "0", "1", "1"]);
    assert_eq!(cells[10], statement.digest);

    // A support change reaches a connected desk as an event.
    let changed = SupportContact {
        phone: "02-555-0000".into(),
        ..support
    };
    fx.admin.set_support(&changed).await?;
    let heard = desk
        .wait_for("new support contact", |e| match e {
            gymgate_desk_core::CoreEvent::Support(c) => Some(c.clone()),
            _ => None,
        })
        .await?;
    assert_eq!(heard.phone, "02-555-0000");
    let event = loop {
        let event = ws.next_event().await?;
        if event.kind == EventKind::Support {
            break event;
        }
    };
    assert_eq!(event.data["phone"], "02-555-0000");
    let public: SupportContact = reqwest::get(format!("{url}/api/v1/support"))
        .await?
        .json()
        .await?;
    assert_eq!(public.phone, "02-555-0000");
    desk.stop().await
}

#[tokio::test]
async fn a_notice_for_some_centers_reaches_only_their_desks() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let here = fx.center("강남점").await?;
    let there = fx.center("홍대점").await?;
    let desk_here = fx.desk(here.id.as_str()).await?;
    let desk_there = fx.desk(there.id.as_str()).await?;
    let (mut ws_here, _) = DeskClient::join(&url, &desk_here.token, None, 0).await?;
    let (mut ws_there, _) = DeskClient::join(&url, &desk_there.token, None, 0).await?;
    fx.admin
        .post_notice(&gymgate_shared::api::NewNotice {
            severity: gymgate_shared::api::Severity::Info,
            text_ko: "강남점 주차장 공사".into(),
            text_en: "Parking works at Gangnam".into(),
            ends_at: None,
            center_ids: vec![here.id.clone()],
        })
        .await?;
    let event = ws_here.next_event().await?;
    assert_eq!(event.kind, EventKind::Notice);
    assert_eq!(event.data["text_ko"], "강남점 주차장 공사");
    // The other center hears nothing (its next event is the one posted for everyone).
    fx.admin
        .post_notice(&gymgate_shared::api::NewNotice {
            severity: gymgate_shared::api::Severity::Info,
            text_ko: "전체 공지".into(),
            text_en: "For everyone".into(),
            ends_at: None,
            center_ids: Vec::new(),
        })
        .await?;
    let event = ws_there.next_event().await?;
    assert_eq!(event.data["text_ko"], "전체 공지");
    // Members see only notices for everyone.
    let notices: Vec<gymgate_shared::api::Notice> = reqwest::get(format!("{url}/api/v1/notices"))
        .await?
        .json()
        .await?;
    let texts: Vec<&str> = notices.iter().map(|n| n.text_ko.as_str()).collect();
    assert_eq!(texts, vec!["전체 공지"]);
    Ok(())
}

/// An incident fills in its own impact (offline visits synced afterwards, disputes, centers
/// and desks) and offers a bilingual notice, which an operator posts as it is.
#[tokio::test]
async fn an_incident_shows_its_impact_and_offers_a_notice() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("IN", 2, Some(8)).await?;
    let before_member = MemberClient::login(&url, &numbers[0], PIN).await?;
    let other = MemberClient::login(&url, &numbers[1], PIN).await?;
    before_member
        .tap(center.id.as_str(), "before")
        .await?
        .checkin()?;
    operator(&fx, "help", Role::Support).await?;

    // The server stops; the desk lets two members in meanwhile (one was in already today).
    let data = server.stop().await?;
    let during = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let server = TestServer::start_in(data, |_| {}).await?;
    let url = server.url();
    let (mut ws, _) = DeskClient::join(&url, &desk.token, None, 0).await?;
    let mut statuses = Vec::new();
    for member in [&other.session.member.id, &before_member.session.member.id] {
        ws.send(&DeskMessage::Record(OutboxRecord {
            local_id: LocalId::generate(),
            member_id: member.clone(),
            at: during,
            method: RecordMethod::Roster,
            proof: None,
            manual: None,
        }))
        .await?;
        loop {
            if let ServerMessage::Recorded { status, .. } = ws.next().await? {
                statuses.push(status);
                break;
            }
        }
    }
    assert_eq!(
        statuses,
        vec![RecordStatus::Accepted, RecordStatus::Conflict]
    );

    let help = ConsoleClient::login(&url, "help", PASSWORD).await?;
    let views = help.get("/api/v1/admin/incidents/view").await?;
    assert_eq!(views.status, StatusCode::OK);
    let restart = views
        .body
        .as_array()
        .and_then(|list| list.iter().find(|v| v["kind"] == "restart"))
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no restart incident: {:?}", views.body))?;
    let impact = &restart["impact"];
    assert_eq!(impact["offline_synced"], 2, "{impact}");
    assert_eq!(impact["disputes_raised"], 1, "{impact}");
    assert_eq!(impact["centers_affected"], 1, "{impact}");
    assert_eq!(impact["desks_affected"], 1, "{impact}");
    let draft = restart["notice_draft"].clone();
    assert!(
        draft["text_ko"]
            .as_str()
            .unwrap_or_default()
            .contains("안전"),
        "{draft}"
    );
    assert!(
        draft["text_en"]
            .as_str()
            .unwrap_or_default()
            .contains("safe"),
        "{draft}"
    );

    // One action posts it; desks and members get it.
    let posted = help
        .send(Method::POST, "/api/v1/admin/notices", draft.clone())
        .await?;
    assert_eq!(posted.status, StatusCode::CREATED, "{:?}", posted.body);
    let event = loop {
        let event = ws.next_event().await?;
        if event.kind == EventKind::Notice {
            break event;
        }
    };
    assert_eq!(event.data["text_ko"], draft["text_ko"]);
    let notices: Vec<gymgate_shared::api::Notice> = reqwest::get(format!("{url}/api/v1/notices"))
        .await?
        .json()
        .await?;
    assert_eq!(notices.len(), 1);
    Ok(())
}
