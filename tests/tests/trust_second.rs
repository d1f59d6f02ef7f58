//! Trust, second pass (issue 23): visits paid wrongly, people shut out, data exposed. Each
//! test is named for its finding and fails on the code before the fix.

use std::time::Duration;

use gymgate_desk_core::config;
use gymgate_shared::api::{CheckinStatus, NewOperator, Role};
use gymgate_shared::protocol::RecordStatus;
use gymgate_tests::desk_core::{pairing, visited_yesterday};
use gymgate_tests::{
    ConsoleClient, DeskClient, Fixture, MemberClient, PIN, Proxy, RunningDesk, TestServer, WAIT,
};
use reqwest::{Method, StatusCode};

const EXE: &str = env!("CARGO_BIN_EXE_gymgate-server-under-test");
const PASSWORD: &str = "correct horse battery staple";

/// The admin API with the admin token: status and body, whatever they are.
async fn admin_call(
    url: &str,
    method: Method,
    path: &str,
    body: Option<&serde_json::Value>,
) -> anyhow::Result<(StatusCode, serde_json::Value)> {
    let mut request = reqwest::Client::new()
        .request(method, format!("{url}{path}"))
        .bearer_auth(gymgate_tests::ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await?;
    let status = response.status();
    let text = response.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    ))
}

async fn logins(url: &str, numbers: &[String]) -> anyhow::Result<Vec<MemberClient>> {
    let mut members = Vec::new();
    for no in numbers {
        members.push(MemberClient::login(url, no, PIN).await?);
    }
    Ok(members)
}

/// Finding 1. A backup taken at head ~20 is restored after the desk had seen (and acked) the
/// log up to ~55, including five visits it recorded offline; members tap before the desk
/// comes back, pushing the restored log past the desk's cursor. The restored database is a
/// new history (another epoch): the desk re-syncs from a snapshot and sends its five visits
/// again, so it ends holding exactly the server's check-ins, each of its visits stored once.
/// (Before: `resumed: true` from the old cursor; the desk kept 30 visits the server lost and
/// never saw the new ones numbered below its cursor.)
#[tokio::test]
async fn finding_1_a_restored_backup_is_a_new_history_desks_resync_and_resend() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    let addr = server.addr;
    let proxy = Proxy::start(addr).await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let desk_pair = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("RB", 60, None).await?;
    let regulars = fx.members("RG", 5, None).await?;
    let members = logins(&server.url(), &numbers).await?;
    let regulars = logins(&server.url(), &regulars).await?;
    // The regulars are in the desk's roster (they came yesterday), so it can check them in
    // offline today.
    visited_yesterday(&server.url(), &desk_pair.token, &regulars).await?;

    let data = tempfile::tempdir()?;
    let desk_pairing = pairing(&proxy.url(), &desk_pair);
    config::save_pairing(data.path(), &desk_pairing)?;
    let mut desk = RunningDesk::start(data.path(), desk_pairing.clone()).await?;
    desk.wait_online().await?;
    let cid = center.id.as_str();
    for member in &members[..20] {
        member.tap(cid, "before").await?.checkin()?;
    }
    let copy = server.data.path().join("nightly.db");
    let out = tokio::process::Command::new(EXE)
        .args(["backup", "--data-dir"])
        .arg(server.data.path())
        .arg("--to")
        .arg(&copy)
        .output()
        .await?;
    anyhow::ensure!(out.status.success(), "backup: {out:?}");
    for member in &members[20..50] {
        member.tap(cid, "after-backup").await?.checkin()?;
    }
    // Five visits recorded at the desk while its link was down, then sent and accepted.
    proxy.cut();
    desk.wait_offline().await?;
    let mut offline = Vec::new();
    for regular in &regulars {
        let card = desk.core.check_in(&regular.session.member.id).await?;
        offline.push(
            card.checkin
                .local_id
                .clone()
                .ok_or_else(|| anyhow::anyhow!("no local id"))?,
        );
    }
    proxy.restore();
    desk.wait_online().await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let state = desk.core.state().await?;
        if state.pending == 0 && state.today.len() == 55 {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the desk never saw its 55 check-ins: {} shown, {} pending",
            state.today.len(),
            state.pending
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let acked = desk.core.state().await?.cursor;

    // Disaster: the desk's link is down, the server is stopped and the nightly backup is
    // restored by the runbook's command.
    proxy.cut();
    desk.wait_offline().await?;
    let dir = server.stop().await?;
    let out = tokio::process::Command::new(EXE)
        .args(["restore", "--data-dir"])
        .arg(dir.path())
        .arg("--from")
        .arg(&copy)
        .output()
        .await?;
    anyhow::ensure!(out.status.success(), "restore: {out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("new epoch"), "{said}");
    let server = TestServer::start_in_at(dir, addr, |_| {}).await?;
    // Members tap before the desk is back: 30 whose visits the restore lost, and 10 more.
    for member in &members[20..60] {
        member.tap(cid, "after-restore").await?.checkin()?;
    }
    let (probe, welcome) = DeskClient::join(
        &server.url(),
        &desk_pair.token,
        acked.epoch.as_deref(),
        acked.last_seq,
    )
    .await?;
    assert!(
        !welcome.resumed,
        "the restored database resumed the desk's cursor {} of the old history (head now {})",
        acked.last_seq, welcome.head_seq
    );
    assert!(
        welcome.head_seq > acked.last_seq,
        "the test must push the head past the cursor"
    );
    probe.close().await?;

    proxy.restore();
    let deadline = tokio::time::Instant::now() + WAIT;
    let server_today = loop {
        let snapshot: gymgate_shared::api::DeskSnapshot = reqwest::Client::new()
            .get(format!("{}/api/v1/desk/snapshot", server.url()))
            .bearer_auth(&desk_pair.token)
            .send()
            .await?
            .json()
            .await?;
        let state = desk.core.state().await?;
        let mut on_server: Vec<String> = snapshot
            .today
            .iter()
            .map(|c| c.checkin.id.to_string())
            .collect();
        let mut on_desk: Vec<String> = state
            .today
            .iter()
            .map(|c| c.checkin.id.to_string())
            .collect();
        on_server.sort();
        on_desk.sort();
        if state.pending == 0 && on_server == on_desk && on_server.len() == 65 {
            break snapshot.today;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "desk and server disagree: desk {} check-ins ({} pending), server {}; only on the \
             desk: {:?}",
            on_desk.len(),
            state.pending,
            on_server.len(),
            on_desk
                .iter()
                .filter(|id| !on_server.contains(id))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // 20 from before the backup, 40 taps after the restore, the desk's 5 sent again.
    for local in &offline {
        let stored = server_today
            .iter()
            .filter(|c| c.checkin.local_id.as_ref() == Some(local))
            .count();
        assert_eq!(stored, 1, "the desk's visit {local} is stored once again");
    }
    desk.stop().await?;
    Ok(())
}

/// Finding 2. A member admitted by tap is also recorded offline at the same center that day:
/// the server keeps it disputed (`already_checked_in_today`). Accepting it runs the rules
/// again and is refused while the first visit counts, in bulk too; an explicit override with
/// a reason counts it and is audited. Correcting a voided visit back is refused the same way
/// once another visit that day counts.
#[tokio::test]
async fn finding_2_operators_cannot_count_one_day_at_one_center_twice() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("OD", 2, None).await?;
    let members = logins(&server.url(), &numbers).await?;
    let first = members[0]
        .tap(center.id.as_str(), "first")
        .await?
        .checkin()?
        .id
        .clone();
    let (mut ws, _) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;
    let now = chrono::Utc::now() - chrono::Duration::seconds(30);
    let (status, disputed, reason) = ws.record_at(&members[0].session.member.id, now).await?;
    assert_eq!(status, RecordStatus::Conflict);
    assert_eq!(reason.as_deref(), Some("already_checked_in_today"));
    let disputed = disputed.ok_or_else(|| anyhow::anyhow!("no disputed check-in"))?;

    let one = fx
        .admin
        .resolve_dispute(disputed.as_str(), true, Some("확인".into()))
        .await;
    let error = format!("{:?}", one.err());
    assert!(
        error.contains("rules_refuse"),
        "accepted a second visit that day: {error}"
    );
    let bulk = admin_call(
        &fx.url,
        Method::POST,
        "/api/v1/admin/disputes/bulk",
        Some(&serde_json::json!({ "checkin_ids": [disputed], "accept": true, "reason": "일괄" })),
    )
    .await?;
    assert_eq!(bulk.0, StatusCode::OK, "{:?}", bulk.1);
    assert_eq!(
        bulk.1["decided"],
        serde_json::json!([]),
        "bulk counted it: {:?}",
        bulk.1
    );
    assert_eq!(bulk.1["skipped"][0][1], "rules_refuse");

    // Without a reason an override is refused; with one it counts and the audit names it.
    let accept = format!("/api/v1/admin/disputes/{disputed}/accept");
    let bare = admin_call(
        &fx.url,
        Method::POST,
        &accept,
        Some(&serde_json::json!({ "override_rules": true })),
    )
    .await?;
    assert_eq!(bare.1["error"]["code"], "reason_required", "{:?}", bare.1);
    let counted = admin_call(
        &fx.url,
        Method::POST,
        &accept,
        Some(&serde_json::json!({
            "reason": "회원이 두 번 왔음을 센터가 확인",
            "override_rules": true
        })),
    )
    .await?;
    assert_eq!(counted.0, StatusCode::OK, "{:?}", counted.1);
    let counted: gymgate_shared::api::Checkin = serde_json::from_value(counted.1)?;
    assert_eq!(counted.status, CheckinStatus::Admitted);
    let audit = admin_call(
        &fx.url,
        Method::GET,
        &format!("/api/v1/admin/audit?member_no={}", numbers[0]),
        None,
    )
    .await?;
    let rows = audit.1.as_array().cloned().unwrap_or_default();
    assert!(
        rows.iter().any(|r| r["action"] == "dispute.accept"
            && r["after"]["overridden_rule"] == "already_checked_in_today"),
        "the override is not in the audit log: {rows:?}"
    );

    // The first visit voided, then corrected back: the rules see the second one counting.
    let void = admin_call(
        &fx.url,
        Method::POST,
        &format!("/api/v1/admin/checkins/{first}/void"),
        Some(&serde_json::json!({ "reason": "중복" })),
    )
    .await?;
    assert_eq!(void.0, StatusCode::OK, "{:?}", void.1);
    let correct = admin_call(
        &fx.url,
        Method::POST,
        &format!("/api/v1/admin/checkins/{first}/correct"),
        Some(&serde_json::json!({ "reason": "실수로 취소" })),
    )
    .await?;
    assert_eq!(correct.0, StatusCode::CONFLICT, "{:?}", correct.1);
    assert_eq!(correct.1["error"]["code"], "rules_refuse");
    ws.close().await?;
    Ok(())
}

/// Finding 3. Support resets a member's PIN; the monthly re-import of the same list keeps
/// the new PIN (the file's PIN is for new members). A line with `reset_pin` replaces it, and
/// like every PIN change ends the member's sessions (their open live stream closes) and
/// revokes their offline passes (desks hear a `revocation`).
#[tokio::test]
async fn finding_3_a_reimport_keeps_reset_pins_and_a_pin_change_ends_sessions() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("RI", 1, None).await?;
    let no = &numbers[0];
    let reset = admin_call(
        &fx.url,
        Method::POST,
        &format!("/api/v1/admin/members/{no}/reset-pin"),
        None,
    )
    .await?;
    assert_eq!(reset.0, StatusCode::OK, "{:?}", reset.1);
    let support_pin = reset.1["pin"].as_str().unwrap_or_default().to_owned();
    let today = gymgate_shared::kst::date_of(chrono::Utc::now());
    let line = |pin: &str, extra: &str| {
        format!(
            "{no},회원0,010-0000-0000,{pin},무제한,,{},{},{extra}\n",
            today - chrono::Duration::days(30),
            today + chrono::Duration::days(300)
        )
    };
    let header = "member_no,name,phone,pin,plan,visits_per_month,valid_from,valid_until,birthday";
    let again = fx
        .admin
        .import_members(format!("{header}\n{}", line(PIN, "")))
        .await?;
    assert_eq!((again.created, again.updated), (0, 1), "{again:?}");
    let member = MemberClient::login(&server.url(), no, &support_pin).await;
    assert!(member.is_ok(), "the re-import undid support's PIN reset");
    assert!(MemberClient::login(&server.url(), no, PIN).await.is_err());
    let member = member?;

    // A live stream open, a desk listening; then a line that asks for the PIN to change.
    let stream = reqwest::Client::new()
        .get(format!("{}/api/v1/me/events", server.url()))
        .bearer_auth(&member.token)
        .send()
        .await?;
    assert_eq!(stream.status(), StatusCode::OK);
    let (mut ws, welcome) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;
    let reimport = fx
        .admin
        .import_members(format!("{header},reset_pin\n{}", line("7777", ",1")))
        .await?;
    assert_eq!(reimport.updated, 1, "{reimport:?}");
    assert!(MemberClient::login(&server.url(), no, "7777").await.is_ok());
    let me = reqwest::Client::new()
        .get(format!("{}/api/v1/me", server.url()))
        .bearer_auth(&member.token)
        .send()
        .await?;
    assert_eq!(
        me.status(),
        StatusCode::UNAUTHORIZED,
        "the old session still works"
    );
    let ended = tokio::time::timeout(WAIT, async {
        let mut stream = stream;
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the member's live stream outlived the PIN change"
    );
    let event = ws.next_event().await?;
    assert!(event.seq > welcome.head_seq);
    assert!(
        event.kind == gymgate_shared::protocol::EventKind::Revocation
            && event.data["member_id"] == member.session.member.id.as_str(),
        "desks were not told the member's passes are revoked: {event:?}"
    );
    ws.close().await?;
    Ok(())
}

/// Finding 4. An audit row that cannot be written undoes its change: a pairing code, an
/// import job and a desk's pairing are each stored with their audit row or not at all.
#[tokio::test]
async fn finding_4_no_change_is_stored_without_its_audit_row() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let db = rusqlite::Connection::open(server.data.path().join("gymgate.db"))?;
    db.busy_timeout(Duration::from_secs(5))?;
    let count = |table: &str| -> anyhow::Result<i64> {
        Ok(db.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?)
    };
    let refuse = |action: &str| -> anyhow::Result<()> {
        db.execute_batch(&format!(
            "DROP TRIGGER IF EXISTS refuse_audit;
             CREATE TRIGGER refuse_audit BEFORE INSERT ON audit WHEN NEW.action = '{action}'
             BEGIN SELECT RAISE(ABORT, 'audit refused by the test'); END;"
        ))?;
        Ok(())
    };

    refuse("pairing_code.issue")?;
    let codes = count("pairing_codes")?;
    assert!(fx.admin.pairing_code(center.id.as_str()).await.is_err());
    assert_eq!(
        count("pairing_codes")?,
        codes,
        "a pairing code was stored without its audit row"
    );

    refuse("members.import")?;
    let jobs = count("import_jobs")?;
    assert!(fx.members("AU", 1, None).await.is_err());
    assert_eq!(
        count("import_jobs")?,
        jobs,
        "an import job was stored without its audit row"
    );

    refuse("desk.pair")?;
    let code = {
        db.execute_batch("DROP TRIGGER refuse_audit;")?;
        let code = fx.admin.pairing_code(center.id.as_str()).await?;
        refuse("desk.pair")?;
        code
    };
    let desks = count("desks")?;
    let pair = reqwest::Client::new()
        .post(format!("{}/api/v1/desks/pair", server.url()))
        .json(&serde_json::json!({ "code": code.code, "name": "1층 데스크" }))
        .send()
        .await?;
    assert!(!pair.status().is_success());
    assert_eq!(
        count("desks")?,
        desks,
        "a desk was paired without an audit row"
    );
    db.execute_batch("DROP TRIGGER refuse_audit;")?;

    // And pairing is audited at all: the same code works now, and the log says so.
    let paired = reqwest::Client::new()
        .post(format!("{}/api/v1/desks/pair", server.url()))
        .json(&serde_json::json!({ "code": code.code, "name": "1층 데스크" }))
        .send()
        .await?;
    assert_eq!(paired.status(), StatusCode::OK);
    let audit = admin_call(
        &fx.url,
        Method::GET,
        &format!("/api/v1/admin/audit?center_id={}", center.id),
        None,
    )
    .await?;
    let rows = audit.1.as_array().cloned().unwrap_or_default();
    assert!(
        rows.iter()
            .any(|r| r["action"] == "desk.pair" && r["after"]["name"] == "1층 데스크"),
        "desk pairing is not audited: {rows:?}"
    );
    Ok(())
}

/// Finding 15. The console's live stream ends with its session: after a logout, and after
/// an admin disables the account, it says `ended` and closes instead of sending the whole
/// live view every 2 s.
#[tokio::test]
async fn finding_15_a_live_stream_ends_with_its_session() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    for name in ["watch", "gone"] {
        fx.admin
            .add_operator(&NewOperator {
                username: name.into(),
                password: PASSWORD.into(),
                role: Role::Viewer,
            })
            .await?;
    }
    let stream_of = |console: &ConsoleClient| {
        reqwest::Client::new()
            .get(format!("{}/api/v1/admin/now/stream", console.url))
            .header(reqwest::header::COOKIE, console.cookie.clone())
            .send()
    };
    /// Reads until the stream ends; what it said last.
    async fn until_end(mut response: reqwest::Response) -> anyhow::Result<String> {
        let mut text = String::new();
        let read = tokio::time::timeout(Duration::from_secs(8), async {
            while let Some(chunk) = response.chunk().await? {
                text.push_str(&String::from_utf8_lossy(&chunk));
            }
            anyhow::Ok(())
        })
        .await;
        anyhow::ensure!(
            read.is_ok(),
            "the stream was still open 8 s after its session ended"
        );
        Ok(text)
    }

    let watch = ConsoleClient::login(&server.url(), "watch", PASSWORD).await?;
    let mut open = stream_of(&watch).await?;
    assert_eq!(open.status(), StatusCode::OK);
    let first = tokio::time::timeout(WAIT, open.chunk()).await??;
    assert!(first.is_some_and(|c| String::from_utf8_lossy(&c).contains("event: now")));
    let out = watch
        .call(Method::POST, "/api/v1/console/logout", None, true)
        .await?;
    assert!(out.status.is_success(), "{out:?}");
    let said = until_end(open).await?;
    assert!(said.contains("event: ended"), "{said}");

    let gone = ConsoleClient::login(&server.url(), "gone", PASSWORD).await?;
    let open = stream_of(&gone).await?;
    let disabled = admin_call(
        &fx.url,
        Method::PATCH,
        "/api/v1/admin/operators/gone",
        Some(&serde_json::json!({ "disabled": true })),
    )
    .await?;
    assert_eq!(disabled.0, StatusCode::OK, "{:?}", disabled.1);
    let said = until_end(open).await?;
    assert!(said.contains("event: ended"), "{said}");
    Ok(())
}

/// Finding 16. Every `/api/v1/admin` route, with every method it takes, answers 401 to a
/// caller with no credentials. The routes are read from the server's source, so a new one
/// is walked too.
#[tokio::test]
async fn finding_16_every_admin_route_needs_credentials() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/src");
    let mut routes = std::collections::BTreeSet::new();
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path)?;
                for (at, _) in text.match_indices(".route(") {
                    let rest = &text[at..];
                    if let Some(start) = rest.find('"')
                        && let Some(len) = rest[start + 1..].find('"')
                    {
                        let route = &rest[start + 1..start + 1 + len];
                        if route.starts_with("/api/v1/admin") {
                            routes.insert(route.to_owned());
                        }
                    }
                }
            }
        }
    }
    assert!(
        routes.len() >= 30,
        "found only {} admin routes: {routes:?}",
        routes.len()
    );
    let http = reqwest::Client::new();
    let mut open = Vec::new();
    for route in &routes {
        let path: String = route
            .split('/')
            .map(|part| if part.starts_with('{') { "x1" } else { part })
            .collect::<Vec<_>>()
            .join("/");
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            let response = http
                .request(method.clone(), format!("{}{path}", server.url()))
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await?;
            match response.status() {
                StatusCode::UNAUTHORIZED | StatusCode::METHOD_NOT_ALLOWED => {}
                other => open.push(format!("{method} {route} → {other}")),
            }
        }
    }
    assert!(
        open.is_empty(),
        "admin routes that answer without credentials: {open:#?}"
    );
    Ok(())
}

/// Finding 17. Every answer says `X-Content-Type-Options: nosniff` (the console, the member
/// app, the API); a PATCH of only unknown fields is `400 invalid_body` and writes no audit row.
#[tokio::test]
async fn finding_17_nosniff_everywhere_and_no_empty_patches() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let http = reqwest::Client::new();
    for path in [
        "/",
        "/app.js",
        "/console",
        "/console/console.js",
        "/api/v1/me",
        "/readyz",
    ] {
        let response = http.get(format!("{}{path}", server.url())).send().await?;
        assert_eq!(
            response
                .headers()
                .get("x-content-type-options")
                .and_then(|v| v.to_str().ok()),
            Some("nosniff"),
            "{path}"
        );
    }
    fx.admin
        .add_operator(&NewOperator {
            username: "someone".into(),
            password: PASSWORD.into(),
            role: Role::Viewer,
        })
        .await?;
    let audit_rows = || async {
        let audit = admin_call(&fx.url, Method::GET, "/api/v1/admin/audit", None).await?;
        anyhow::Ok(audit.1.as_array().map_or(0, Vec::len))
    };
    let before = audit_rows().await?;
    for body in [serde_json::json!({ "rol": "admin" }), serde_json::json!({})] {
        let patch = admin_call(
            &fx.url,
            Method::PATCH,
            "/api/v1/admin/operators/someone",
            Some(&body),
        )
        .await?;
        assert_eq!(patch.0, StatusCode::BAD_REQUEST, "{body} → {:?}", patch.1);
        assert_eq!(patch.1["error"]["code"], "invalid_body");
    }
    assert_eq!(
        audit_rows().await?,
        before,
        "an empty PATCH wrote an audit row"
    );
    Ok(())
}

/// Finding 12. A desk's lookup answers what check-in needs (name, pass, photo), not the
/// member's birthday or phone digits; each member found is named in the audit log under the
/// desk; a desk has a daily cap (`429 lookup_daily_limit`), and a desk far above its usual
/// number of lookups raises an alert.
#[tokio::test]
async fn finding_12_desk_lookups_are_minimal_capped_audited_and_alerted() -> anyhow::Result<()> {
    let server = TestServer::start_with(|config| {
        config.limits.lookups_per_desk_per_day = 6;
        config.alerts.rules.lookup_floor = 4;
        config.alerts.rules.lookup_factor = 2.0;
        config.alerts.check_every = Duration::from_millis(50);
        config.alerts.lookups_every = Duration::from_millis(50);
    })
    .await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let today = gymgate_shared::kst::date_of(chrono::Utc::now());
    let csv = format!(
        "member_no,name,phone,pin,plan,visits_per_month,valid_from,valid_until,birthday\n\
         LK0001,박서연,010-2345-6789,{PIN},무제한,,{},{},1990-05-17\n",
        today - chrono::Duration::days(10),
        today + chrono::Duration::days(100)
    );
    fx.admin.import_members(csv).await?;
    let http = reqwest::Client::new();
    let lookup = |query: &'static [(&'static str, &'static str)]| {
        http.get(format!("{}/api/v1/desk/lookup", server.url()))
            .bearer_auth(&desk.token)
            .query(query)
            .send()
    };
    let found: serde_json::Value = lookup(&[("member_no", "LK0001")]).await?.json().await?;
    let member = &found[0]["member"];
    assert_eq!(member["name"], "박서연");
    assert!(
        member.get("birthday").is_none_or(|b| b.is_null()),
        "birthday given: {member}"
    );
    assert_eq!(member["phone_last4"], "", "phone digits given: {member}");
    let by_name: serde_json::Value = lookup(&[("name", "박서연"), ("phone_last4", "6789")])
        .await?
        .json()
        .await?;
    assert_eq!(by_name[0]["member"]["phone_last4"], "");

    let audit = admin_call(
        &fx.url,
        Method::GET,
        "/api/v1/admin/audit?member_no=LK0001",
        None,
    )
    .await?;
    let rows = audit.1.as_array().cloned().unwrap_or_default();
    let named = rows
        .iter()
        .filter(|r| r["action"] == "desk.lookup" && r["actor"] == format!("desk:{}", desk.desk_id))
        .count();
    assert_eq!(
        named, 2,
        "the audit does not name the member each lookup found: {rows:?}"
    );

    for _ in 0..4 {
        let answer = lookup(&[("member_no", "LK0001")]).await?;
        assert_eq!(answer.status(), StatusCode::OK);
    }
    let capped = lookup(&[("member_no", "LK0001")]).await?;
    assert_eq!(capped.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: serde_json::Value = capped.json().await?;
    assert_eq!(body["error"]["code"], "lookup_daily_limit");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("한도"))
    );

    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let incidents = fx.admin.incidents(50).await?;
        if incidents
            .iter()
            .any(|i| i.key == format!("desk_lookups:{}", desk.desk_id) && i.ended_at.is_none())
        {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no alert for a desk far above its usual lookups: {incidents:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Finding 9. A request whose body trickles in a byte at a time gets `408 request_timeout`
/// when its time is up instead of holding the connection for ever; behind the trusted
/// proxy, the per-address cap counts the client the proxy names (for as long as an answer
/// streams), not the proxy.
#[tokio::test]
async fn finding_9_slow_bodies_time_out_and_the_cap_counts_clients_behind_the_proxy()
-> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start_with(|config| {
        config.limits.request_timeout = Duration::from_secs(1);
        config.trusted_proxies = vec![[127, 0, 0, 1].into()];
        config.connections.max_per_address = 2;
    })
    .await?;
    let mut slow = tokio::net::TcpStream::connect(server.addr).await?;
    slow.write_all(
        b"POST /api/v1/auth/member HTTP/1.1\r\nhost: gate\r\ncontent-type: application/json\r\n\
          content-length: 200\r\n\r\n{",
    )
    .await?;
    let trickle = async {
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if slow.write_all(b" ").await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(1500), trickle).await;
    let mut answer = vec![0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(3), slow.read(&mut answer)).await;
    let answer = match read {
        Ok(Ok(n)) => String::from_utf8_lossy(&answer[..n]).into_owned(),
        Ok(Err(e)) => format!("(closed: {e})"),
        Err(_) => String::new(),
    };
    assert!(
        answer.starts_with("HTTP/1.1 408") && answer.contains("request_timeout"),
        "a body sent a byte at a time kept the request open: {answer:?}"
    );

    // Two live streams for one client behind the proxy use its two places.
    let http = reqwest::Client::new();
    let stream = |client: &'static str| {
        http.get(format!("{}/api/v1/admin/now/stream", server.url()))
            .bearer_auth(gymgate_tests::ADMIN_TOKEN)
            .header("x-forwarded-for", client)
            .send()
    };
    let first = stream("203.0.113.7").await?;
    let second = stream("203.0.113.7").await?;
    assert_eq!(
        (first.status(), second.status()),
        (StatusCode::OK, StatusCode::OK)
    );
    let probe = |client: &'static str| {
        http.get(format!("{}/livez", server.url()))
            .header("x-forwarded-for", client)
            .send()
    };
    let third = probe("203.0.113.7").await?;
    assert_eq!(third.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = third.json().await?;
    assert_eq!(body["error"]["code"], "too_many_connections");
    assert_eq!(
        probe("203.0.113.8").await?.status(),
        StatusCode::OK,
        "another client is refused"
    );
    drop(first);
    let deadline = tokio::time::Instant::now() + WAIT;
    while probe("203.0.113.7").await?.status() != StatusCode::OK {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "a closed stream kept its place"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(second);
    Ok(())
}

/// Finding 8. Wrong passwords from one address hold up only that address (growing delays),
/// never the account's owner elsewhere; a campaign from many addresses locks the account
/// itself and raises an alert. Operators change their own password; an admin resets one
/// (shown once; sessions end; the lock lifts). Admins act only with a second factor (TOTP,
/// with one-time recovery codes); a code works once.
#[tokio::test]
async fn finding_8_guessing_delays_its_own_address_and_admins_have_a_second_factor()
-> anyhow::Result<()> {
    use gymgate_tests::console::{SecondFactor, totp_at};
    let server = TestServer::start_with(|config| {
        config.trusted_proxies = vec![[127, 0, 0, 1].into()];
        config.alerts.check_every = Duration::from_millis(50);
    })
    .await?;
    let fx = Fixture::new(server.url());
    for (name, role) in [("kim", Role::Support), ("boss", Role::Admin)] {
        fx.admin
            .add_operator(&NewOperator {
                username: name.into(),
                password: PASSWORD.into(),
                role,
            })
            .await?;
    }
    let login = |from: String, username: &'static str, password: String| {
        let url = server.url();
        async move {
            let response = reqwest::Client::new()
                .post(format!("{url}/api/v1/console/login"))
                .header("x-forwarded-for", from)
                .json(&serde_json::json!({ "username": username, "password": password }))
                .send()
                .await?;
            let status = response.status();
            let body: serde_json::Value = response.json().await?;
            anyhow::Ok((
                status,
                body["error"]["code"].as_str().unwrap_or("").to_owned(),
            ))
        }
    };
    // Ten wrong passwords from one address: that address waits, the right password too.
    let guesser = "203.0.113.66".to_owned();
    for _ in 0..10 {
        login(guesser.clone(), "kim", "틀린-비밀번호-1234".into()).await?;
    }
    let held = login(guesser.clone(), "kim", PASSWORD.into()).await?;
    assert_eq!(
        held,
        (StatusCode::TOO_MANY_REQUESTS, "login_delayed".into())
    );
    // The owner, from the office, is not shut out.
    let owner = login("198.51.100.20".into(), "kim", PASSWORD.into()).await?;
    assert_eq!(
        owner.0,
        StatusCode::OK,
        "the guesser locked the owner out: {owner:?}"
    );

    // Own password change: the current one is needed; other sessions end.
    let other = ConsoleClient::login(&server.url(), "kim", PASSWORD).await?;
    let kim = ConsoleClient::login(&server.url(), "kim", PASSWORD).await?;
    let refused = kim
        .send(
            Method::POST,
            "/api/v1/console/password",
            serde_json::json!({ "current": "틀림-틀림-틀림", "new": "새-비밀번호-2026-12" }),
        )
        .await?;
    assert_eq!(refused.code(), "wrong_password");
    let changed = kim
        .send(
            Method::POST,
            "/api/v1/console/password",
            serde_json::json!({ "current": PASSWORD, "new": "새-비밀번호-2026-12" }),
        )
        .await?;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{changed:?}");
    assert_eq!(kim.get("/api/v1/admin/now").await?.status, StatusCode::OK);
    assert_eq!(
        other.get("/api/v1/admin/now").await?.status,
        StatusCode::UNAUTHORIZED
    );

    // A campaign from 30 addresses: the account locks, an alert is raised.
    for n in 0..30u8 {
        for _ in 0..4 {
            login(format!("192.0.2.{n}"), "kim", "틀린-비밀번호-1234".into()).await?;
        }
    }
    let locked = login("198.51.100.21".into(), "kim", "새-비밀번호-2026-12".into()).await?;
    assert_eq!(locked, (StatusCode::UNAUTHORIZED, "wrong_login".into()));
    let deadline = tokio::time::Instant::now() + WAIT;
    while !fx
        .admin
        .incidents(50)
        .await?
        .iter()
        .any(|i| i.key == "operator_locked:kim" && i.ended_at.is_none())
    {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no alert for a locked account"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // An admin resets the password: shown once, the lock lifts.
    let reset = admin_call(
        &fx.url,
        Method::POST,
        "/api/v1/admin/operators/kim/reset-password",
        None,
    )
    .await?;
    assert_eq!(reset.0, StatusCode::OK, "{:?}", reset.1);
    let fresh = reset.1["password"].as_str().unwrap_or_default().to_owned();
    assert!(fresh.len() >= 16);
    assert_eq!(
        kim.get("/api/v1/admin/now").await?.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login("198.51.100.22".into(), "kim", fresh.clone()).await?.0,
        StatusCode::OK
    );

    // Admins need a second factor to act.
    let boss = ConsoleClient::login(&server.url(), "boss", PASSWORD).await?;
    let early = boss.get("/api/v1/admin/operators").await?;
    assert_eq!(early.code(), "totp_setup_required");
    let read = boss.get("/api/v1/admin/members").await?;
    assert_eq!(
        read.code(),
        "totp_setup_required",
        "an admin read members without a second factor"
    );
    let (secret, codes) = boss.add_second_factor().await?;
    assert_eq!(
        boss.get("/api/v1/admin/operators").await?.status,
        StatusCode::OK
    );
    let code_less = ConsoleClient::login(&server.url(), "boss", PASSWORD).await;
    assert!(format!("{:?}", code_less.err()).contains("totp_required"));
    let wrong = ConsoleClient::login_with(
        &server.url(),
        "boss",
        PASSWORD,
        Some(SecondFactor::Code("000000".into())),
    )
    .await;
    assert!(format!("{:?}", wrong.err()).contains("wrong_totp"));
    let by_recovery = ConsoleClient::login_with(
        &server.url(),
        "boss",
        PASSWORD,
        Some(SecondFactor::Recovery(codes[0].clone())),
    )
    .await;
    assert!(by_recovery.is_ok(), "{:?}", by_recovery.err());
    let again = ConsoleClient::login_with(
        &server.url(),
        "boss",
        PASSWORD,
        Some(SecondFactor::Recovery(codes[0].clone())),
    )
    .await;
    assert!(again.is_err(), "a recovery code worked twice");
    // The next step's code (one step of skew) works once.
    let next = totp_at(&secret, chrono::Utc::now().timestamp() as u64 + 30)?;
    let with_code = ConsoleClient::login_with(
        &server.url(),
        "boss",
        PASSWORD,
        Some(SecondFactor::Code(next.clone())),
    )
    .await;
    assert!(with_code.is_ok(), "{:?}", with_code.err());
    let replay = ConsoleClient::login_with(
        &server.url(),
        "boss",
        PASSWORD,
        Some(SecondFactor::Code(next)),
    )
    .await;
    assert!(replay.is_err(), "a TOTP code worked twice");
    Ok(())
}

/// Finding 1 on PostgreSQL: a promoted asynchronous standby (or a point-in-time recovery) is
/// a new history only once the runbook's `new-epoch` has run on it; a desk's old cursor is then
/// not resumed. (Without a cluster outside CI this test says it skips; in CI it runs.)
#[tokio::test]
async fn finding_1_a_promoted_standby_gets_a_new_epoch_from_the_runbook() -> anyhow::Result<()> {
    if gymgate_tests::postgres::admin_url()?.is_none() {
        eprintln!("!!! skipped: no PostgreSQL (GYMGATE_TEST_POSTGRES)");
        return Ok(());
    }
    let shared = tempfile::tempdir()?;
    let url = gymgate_tests::postgres::database_for(shared.path()).await?;
    let on_postgres = |config: &mut gymgate_server::Config| {
        config.database_url = Some(url.clone());
    };
    let server = TestServer::start_with(on_postgres).await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("PE", 3, None).await?;
    let members = logins(&server.url(), &numbers).await?;
    for member in &members {
        member.tap(center.id.as_str(), "before").await?.checkin()?;
    }
    let (ws, first) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;
    ws.close().await?;
    server.stop().await?;

    // The runbook: nodes stopped, the standby promoted (here: the same database), then
    // new-epoch with the database URL from the environment, never the command line.
    let out = tokio::process::Command::new(EXE)
        .arg("new-epoch")
        .env("GYMGATE_DATABASE_URL", &url)
        .output()
        .await?;
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("new epoch"));

    let server = TestServer::start_with(on_postgres).await?;
    let (ws, again) = DeskClient::join(
        &server.url(),
        &desk.token,
        Some(&first.epoch),
        first.head_seq,
    )
    .await?;
    assert_ne!(again.epoch, first.epoch);
    assert!(
        !again.resumed,
        "the desk's cursor of the old history was resumed"
    );
    ws.close().await?;
    Ok(())
}
