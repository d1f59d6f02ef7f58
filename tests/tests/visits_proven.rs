//! Every paid visit is one the member made (issue 27): each visit's evidence, staff-recorded
//! and suspicious visits unpaid until the member confirms, "not me" as a dispute, a center
//! under review, and the settlement columns that show all of it.

use chrono::{DateTime, Utc};
use gymgate_shared::api::{
    CenterConfirmation, CheckinEvidence, CheckinStatus, Confirmation, Evidence, MemberVisit,
    Statement,
};
use gymgate_shared::protocol::{EventKind, RecordStatus};
use gymgate_shared::{CheckinId, kst};
use gymgate_tests::member::TapAnswer;
use gymgate_tests::{ADMIN_TOKEN, DeskClient, Fixture, MemberClient, PIN, TestServer};
use reqwest::StatusCode;

fn month_of(at: DateTime<Utc>) -> String {
    kst::date_of(at).format("%Y-%m").to_string()
}

async fn statement(fx: &Fixture, center: &str, at: DateTime<Utc>) -> anyhow::Result<Statement> {
    Ok(fx.admin.statement(center, &month_of(at)).await?)
}

/// One call to the API with `token`: the status and the JSON answer.
async fn call(
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<(StatusCode, serde_json::Value)> {
    let mut request = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    Ok((response.status(), response.json().await?))
}

async fn visits(url: &str, member: &MemberClient) -> anyhow::Result<Vec<MemberVisit>> {
    let (status, body) = call(
        reqwest::Method::GET,
        format!("{url}/api/v1/me/visits"),
        &member.token,
        None,
    )
    .await?;
    anyhow::ensure!(status == StatusCode::OK, "{status} {body}");
    Ok(serde_json::from_value(body)?)
}

async fn answer(
    url: &str,
    member: &MemberClient,
    id: &CheckinId,
    body: serde_json::Value,
) -> anyhow::Result<(StatusCode, serde_json::Value)> {
    call(
        reqwest::Method::POST,
        format!("{url}/api/v1/me/visits/{id}/answer"),
        &member.token,
        Some(body),
    )
    .await
}

async fn evidence(url: &str, id: &CheckinId) -> anyhow::Result<CheckinEvidence> {
    let (status, body) = call(
        reqwest::Method::GET,
        format!("{url}/api/v1/admin/checkins/{id}/evidence"),
        ADMIN_TOKEN,
        None,
    )
    .await?;
    anyhow::ensure!(status == StatusCode::OK, "{status} {body}");
    Ok(serde_json::from_value(body)?)
}

/// Sets where a center is (the travel and location rules compare with it).
async fn place(
    url: &str,
    center: &str,
    lat: f64,
    lon: f64,
) -> anyhow::Result<(StatusCode, serde_json::Value)> {
    call(
        reqwest::Method::PUT,
        format!("{url}/api/v1/admin/centers/{center}/place"),
        ADMIN_TOKEN,
        Some(serde_json::json!({"lat": lat, "lon": lon})),
    )
    .await
}

async fn set_confirmation(
    url: &str,
    center: &str,
    rule: serde_json::Value,
) -> anyhow::Result<(StatusCode, serde_json::Value)> {
    call(
        reqwest::Method::PUT,
        format!("{url}/api/v1/admin/centers/{center}/confirmation"),
        ADMIN_TOKEN,
        Some(rule),
    )
    .await
}

/// A desk that says its outbox is empty and then sends a visit of two days ago has made it up
/// after the fact: the visit is kept and counted as a visit (the member's month), marked
/// suspicious, and not paid, even where the center pays staff-recorded visits at once, until
/// the member says it was them. Nobody else can answer for them.
#[tokio::test]
async fn a_back_filled_roster_visit_is_unconfirmed_and_not_paid_until_the_member_confirms()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("BF", 2, Some(8)).await?;
    let member = MemberClient::login(&url, &numbers[0], PIN).await?;
    let other = MemberClient::login(&url, &numbers[1], PIN).await?;
    // The hello says the outbox is empty.
    let (mut ws, _) = DeskClient::join(&url, &desk.token, None, 0).await?;

    let at = Utc::now() - chrono::Duration::days(2);
    let (status, id, _) = ws.record_at(&member.session.member.id, at).await?;
    assert_eq!(status, RecordStatus::Accepted);
    let id = id.ok_or_else(|| anyhow::anyhow!("no check-in"))?;

    let seen = evidence(&url, &id).await?;
    assert_eq!(seen.evidence, Evidence::Roster);
    assert_eq!(seen.confirmation, Confirmation::Unconfirmed);
    assert_eq!(seen.desk_online, Some(true), "{seen:?}");
    assert!(
        seen.suspicion.iter().any(|s| s == "after_empty_outbox"),
        "{seen:?}"
    );
    // Paired minutes ago, so the visit is older than the desk itself.
    assert!(
        seen.suspicion.iter().any(|s| s == "before_pairing"),
        "{seen:?}"
    );
    assert!(seen.sync_lag_s.is_some_and(|lag| lag >= 2 * 86_400 - 5));

    let before = statement(&fx, center.id.as_str(), at).await?.totals;
    assert_eq!(
        (before.admitted, before.confirmed, before.unconfirmed),
        (1, 0, 1),
        "{before:?}"
    );
    assert_eq!(before.evidence.get("roster"), Some(&1));
    assert_eq!(before.evidence.get("app"), Some(&0));

    // A center that pays staff-recorded visits at once still does not pay a suspicious one.
    let (code, _) = set_confirmation(
        &url,
        center.id.as_str(),
        serde_json::json!({"confirm_days": 0, "under_review": false}),
    )
    .await?;
    assert_eq!(code, StatusCode::OK);
    let still = statement(&fx, center.id.as_str(), at).await?.totals;
    assert_eq!((still.confirmed, still.unconfirmed), (0, 1), "{still:?}");

    // The member's history asks; another member cannot answer for them.
    let listed = visits(&url, &member).await?;
    let visit = listed
        .iter()
        .find(|v| v.checkin.id == id)
        .ok_or_else(|| anyhow::anyhow!("the visit is not in the member's history"))?;
    assert!(visit.ask && visit.disputable, "{visit:?}");
    assert_eq!(visit.evidence, Evidence::Roster);
    assert!(visits(&url, &other).await?.is_empty());
    let (code, body) = answer(&url, &other, &id, serde_json::json!({"mine": true})).await?;
    assert_eq!(code, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(
        statement(&fx, center.id.as_str(), at)
            .await?
            .totals
            .confirmed,
        0
    );

    let (code, body) = answer(&url, &member, &id, serde_json::json!({"mine": true})).await?;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["confirmation"], "member");
    assert_eq!(body["ask"], false);
    let after = statement(&fx, center.id.as_str(), at).await?.totals;
    assert_eq!(
        (after.admitted, after.confirmed, after.unconfirmed),
        (1, 1, 0),
        "{after:?}"
    );
    assert!(evidence(&url, &id).await?.answered_at.is_some());
    Ok(())
}

/// A visit staff record live (an online desk, the visit a moment ago) is not suspicious: it
/// waits for the member for the center's days, then is paid; a center under review pays
/// it only on the member's yes. Putting a center under review needs a reason and is audited.
#[tokio::test]
async fn a_live_roster_visit_is_paid_after_the_centers_days_unless_the_center_is_under_review()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("LV", 1, Some(8)).await?;
    let member = MemberClient::login(&url, &numbers[0], PIN).await?;
    let (mut ws, _) = DeskClient::join(&url, &desk.token, None, 0).await?;
    let now = Utc::now();
    let (status, id, _) = ws.record_at(&member.session.member.id, now).await?;
    assert_eq!(status, RecordStatus::Accepted);
    let id = id.ok_or_else(|| anyhow::anyhow!("no check-in"))?;
    let seen = evidence(&url, &id).await?;
    assert!(seen.suspicion.is_empty(), "{seen:?}");
    assert_eq!(seen.desk_online, Some(true));
    assert_eq!(seen.confirmation, Confirmation::Unconfirmed);

    // Seven days by default: not paid yet.
    let totals = statement(&fx, center.id.as_str(), now).await?.totals;
    assert_eq!((totals.confirmed, totals.unconfirmed), (0, 1), "{totals:?}");

    let (code, body) = set_confirmation(
        &url,
        center.id.as_str(),
        serde_json::json!({"confirm_days": 0, "under_review": false}),
    )
    .await?;
    assert_eq!(code, StatusCode::OK, "{body}");
    let totals = statement(&fx, center.id.as_str(), now).await?.totals;
    assert_eq!((totals.confirmed, totals.unconfirmed), (1, 0), "{totals:?}");

    // Under review: no reason, no change.
    let (code, body) = set_confirmation(
        &url,
        center.id.as_str(),
        serde_json::json!({"confirm_days": 0, "under_review": true}),
    )
    .await?;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "reason_required");
    let (code, body) = set_confirmation(
        &url,
        center.id.as_str(),
        serde_json::json!({"confirm_days": 61, "under_review": false}),
    )
    .await?;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    let (code, body) = set_confirmation(
        &url,
        center.id.as_str(),
        serde_json::json!({"confirm_days": 0, "under_review": true, "reason": "명단 입장 비율 이상"}),
    )
    .await?;
    assert_eq!(code, StatusCode::OK, "{body}");
    let rule: CenterConfirmation = serde_json::from_value(body)?;
    assert!(rule.under_review);
    let totals = statement(&fx, center.id.as_str(), now).await?.totals;
    assert_eq!((totals.confirmed, totals.unconfirmed), (0, 1), "{totals:?}");
    let audit = fx.admin.audit().await?;
    let entry = audit
        .iter()
        .find(|e| {
            e.action == "center.confirmation"
                && e.after.as_ref().is_some_and(|a| a["under_review"] == true)
        })
        .ok_or_else(|| anyhow::anyhow!("no audit entry: {audit:?}"))?;
    assert_eq!(
        entry.after.as_ref().map(|a| a["reason"].clone()),
        Some(serde_json::json!("명단 입장 비율 이상"))
    );

    // The member's yes pays it, review or not.
    let (code, body) = answer(&url, &member, &id, serde_json::json!({"mine": true})).await?;
    assert_eq!(code, StatusCode::OK, "{body}");
    let totals = statement(&fx, center.id.as_str(), now).await?.totals;
    assert_eq!((totals.confirmed, totals.unconfirmed), (1, 0), "{totals:?}");
    Ok(())
}

/// A member says a visit made with their app was not them: it becomes a dispute with their
/// words, the desk hears the change, settlement stops paying it, and an operator decides.
#[tokio::test]
async fn not_me_makes_a_dispute_with_the_members_words() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("NM", 1, Some(8)).await?;
    let member = MemberClient::login(&url, &numbers[0], PIN).await?;
    let (mut ws, _) = DeskClient::join(&url, &desk.token, None, 0).await?;
    let tapped = member.tap(center.id.as_str(), "nm-1").await?;
    let checkin = tapped.checkin()?.clone();
    let now = checkin.at;
    let first = ws.next_event().await?;
    assert_eq!(first.kind, EventKind::Checkin);

    let seen = evidence(&url, &checkin.id).await?;
    assert_eq!(
        (seen.evidence, seen.confirmation, seen.desk_online),
        (Evidence::App, Confirmation::ByEvidence, None)
    );
    let totals = statement(&fx, center.id.as_str(), now).await?.totals;
    assert_eq!(
        (totals.confirmed, totals.evidence.get("app")),
        (1, Some(&1))
    );
    let listed = visits(&url, &member).await?;
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].ask && listed[0].disputable, "{:?}", listed[0]);

    // A "no" needs a line of what happened.
    let (code, body) = answer(
        &url,
        &member,
        &checkin.id,
        serde_json::json!({"mine": false}),
    )
    .await?;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "statement_required");
    let (code, body) = answer(
        &url,
        &member,
        &checkin.id,
        serde_json::json!({"mine": false, "statement": "  그날은 부산에 있었습니다. 휴대폰을 잃어버렸어요  "}),
    )
    .await?;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["confirmation"], "not_me");
    assert_eq!(body["checkin"]["status"], "disputed");
    // Saying it again changes nothing; a yes now is refused.
    let (code, _) = answer(
        &url,
        &member,
        &checkin.id,
        serde_json::json!({"mine": false, "statement": "again"}),
    )
    .await?;
    assert_eq!(code, StatusCode::OK);
    let (code, body) = answer(
        &url,
        &member,
        &checkin.id,
        serde_json::json!({"mine": true}),
    )
    .await?;
    assert_eq!(code, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "already_disputed");

    // The desk hears it as a change of the visit.
    let update = ws.next_event().await?;
    assert_eq!(update.kind, EventKind::CheckinUpdated);
    assert_eq!(update.data["checkin"]["id"], checkin.id.as_str());
    assert_eq!(update.data["checkin"]["status"], "disputed");

    let disputes = fx.admin.disputes().await?;
    assert_eq!(disputes.len(), 1, "{disputes:?}");
    assert_eq!(
        disputes[0].member_statement.as_deref(),
        Some("그날은 부산에 있었습니다. 휴대폰을 잃어버렸어요")
    );
    assert_eq!(
        disputes[0]
            .checkin
            .dispute
            .as_ref()
            .map(|d| d.reason.as_str()),
        Some("not_me")
    );
    let totals = statement(&fx, center.id.as_str(), now).await?.totals;
    assert_eq!(
        (
            totals.admitted,
            totals.confirmed,
            totals.disputed_open,
            totals.not_me
        ),
        (0, 0, 1, 1),
        "{totals:?}"
    );

    // An operator finds it was the member after all (the desk's camera): paid on their word.
    let decided = fx
        .admin
        .resolve_dispute(checkin.id.as_str(), true, Some("CCTV 확인: 본인".into()))
        .await?;
    assert_eq!(decided.status, CheckinStatus::Admitted);
    assert_eq!(
        evidence(&url, &checkin.id).await?.confirmation,
        Confirmation::Operator
    );
    let totals = statement(&fx, center.id.as_str(), now).await?.totals;
    assert_eq!(
        (
            totals.admitted,
            totals.confirmed,
            totals.disputed_open,
            totals.not_me
        ),
        (1, 1, 0, 1),
        "{totals:?}"
    );
    Ok(())
}

/// The settlement spreadsheet has a column per kind of evidence and the confirmation counts.
#[tokio::test]
async fn the_settlement_csv_shows_the_evidence_mix() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("CS", 2, Some(8)).await?;
    let tapper = MemberClient::login(&url, &numbers[0], PIN).await?;
    let listed = MemberClient::login(&url, &numbers[1], PIN).await?;
    let (mut ws, _) = DeskClient::join(&url, &desk.token, None, 0).await?;
    tapper.tap(center.id.as_str(), "cs-1").await?.checkin()?;
    let (status, _, _) = ws.record_at(&listed.session.member.id, Utc::now()).await?;
    assert_eq!(status, RecordStatus::Accepted);
    let csv = reqwest::Client::new()
        .get(format!(
            "{url}/api/v1/admin/settlement.csv?month={}",
            month_of(Utc::now())
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?
        .text()
        .await?;
    let mut reader = csv::Reader::from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader.headers()?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.ends_with(name))
            .ok_or_else(|| anyhow::anyhow!("no column {name} in {headers:?}"))
    };
    let row = reader
        .records()
        .filter_map(Result::ok)
        .find(|r| r.get(1) == Some(center.id.as_str()))
        .ok_or_else(|| anyhow::anyhow!("no row for the center"))?;
    let cell = |name: &str| -> anyhow::Result<String> {
        Ok(row.get(column(name)?).unwrap_or_default().to_owned())
    };
    assert_eq!(cell(" admitted")?, "2");
    assert_eq!(cell(" confirmed")?, "1");
    assert_eq!(cell(" unconfirmed")?, "1");
    assert_eq!(cell(" evidence_app")?, "1");
    assert_eq!(cell(" evidence_roster")?, "1");
    assert_eq!(cell(" evidence_pass")?, "0");
    assert_eq!(cell(" evidence_manual")?, "0");
    assert_eq!(cell(" evidence_app_presence")?, "0");
    Ok(())
}

/// Proof of presence: the desk core signs a code with its own key (registered in its hello);
/// a tap carrying it is `app+presence`, naming the desk. A code replayed after its lifetime, a
/// code of another center's desk or of a revoked desk, and a forged one are refused with a
/// Korean message; a tap with no code at all is still admitted as `app`.
#[tokio::test]
async fn a_presence_tap_carries_the_desks_signature_and_a_replayed_or_foreign_code_is_refused()
-> anyhow::Result<()> {
    use gymgate_desk_core::config;
    use gymgate_tests::RunningDesk;
    use gymgate_tests::desk_core::pairing;

    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let here = fx.center("강남점").await?;
    let there = fx.center("홍대점").await?;
    let numbers = fx.members("PR", 4, Some(8)).await?;
    let members = gymgate_tests::member::logins(&url, &numbers).await?;
    let mut desks = Vec::new();
    for center in [&here, &there] {
        let paired = fx.desk(center.id.as_str()).await?;
        let data = tempfile::tempdir()?;
        let pairing = pairing(&url, &paired);
        config::save_pairing(data.path(), &pairing)?;
        let mut desk = RunningDesk::start(data.path(), pairing).await?;
        desk.wait_online().await?;
        desks.push((desk, data, paired));
    }
    let code_here = |at| desks[0].0.core.presence_code_at(at);
    let now = Utc::now();
    let fresh = code_here(now).ok_or_else(|| anyhow::anyhow!("the desk has no presence key"))?;

    let tapped = members[0]
        .tap_with(here.id.as_str(), "pr-0", Some(&fresh))
        .await?;
    assert_eq!(tapped.status(), StatusCode::CREATED, "{tapped:?}");
    let checkin = tapped.checkin()?.clone();
    let seen = evidence(&url, &checkin.id).await?;
    assert_eq!(seen.evidence, Evidence::AppPresence);
    assert_eq!(seen.confirmation, Confirmation::ByEvidence);
    assert_eq!(seen.presence_desk.as_ref(), Some(&desks[0].2.desk_id));
    let totals = statement(&fx, here.id.as_str(), now).await?.totals;
    assert_eq!(totals.evidence.get("app+presence"), Some(&1), "{totals:?}");

    // The same code a minute later: a photo of the entrance QR sent to someone at home.
    let replayed =
        code_here(now - chrono::Duration::seconds(60)).ok_or_else(|| anyhow::anyhow!("no code"))?;
    let refused = members[1]
        .tap_with(here.id.as_str(), "pr-1", Some(&replayed))
        .await?;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(refused.error_code(), Some("presence_expired"));
    // Another center's desk, shown at this center.
    let foreign = desks[1]
        .0
        .core
        .presence_code()
        .ok_or_else(|| anyhow::anyhow!("no code"))?;
    let refused = members[1]
        .tap_with(here.id.as_str(), "pr-2", Some(&foreign))
        .await?;
    assert_eq!(
        refused.error_code(),
        Some("presence_foreign"),
        "{refused:?}"
    );
    // This center's name in it, the other desk's signature.
    let moved = foreign.replacen(there.id.as_str(), here.id.as_str(), 1);
    let refused = members[1]
        .tap_with(here.id.as_str(), "pr-3", Some(&moved))
        .await?;
    assert_eq!(
        refused.error_code(),
        Some("presence_foreign"),
        "{refused:?}"
    );
    let refused = members[1]
        .tap_with(here.id.as_str(), "pr-4", Some("GGP1.not-a-code"))
        .await?;
    assert_eq!(
        refused.error_code(),
        Some("presence_invalid"),
        "{refused:?}"
    );
    if let TapAnswer::Error(_, body) = &refused {
        assert!(body.error.message.contains("QR"), "{body:?}");
    }
    // Refused taps stored nothing: the member taps again with a fresh code.
    let again = members[1]
        .tap_with(here.id.as_str(), "pr-5", code_here(Utc::now()).as_deref())
        .await?;
    assert_eq!(again.status(), StatusCode::CREATED, "{again:?}");

    // No code is no reason to refuse: the visit is the member's tap, `app`.
    let plain = members[2].tap(here.id.as_str(), "pr-6").await?;
    assert_eq!(plain.status(), StatusCode::CREATED);
    assert_eq!(
        evidence(&url, &plain.checkin()?.id).await?.evidence,
        Evidence::App
    );

    // A revoked desk's codes prove nothing.
    fx.admin.revoke_desk(desks[0].2.desk_id.as_str()).await?;
    let refused = members[3]
        .tap_with(here.id.as_str(), "pr-7", code_here(Utc::now()).as_deref())
        .await?;
    assert_eq!(
        refused.error_code(),
        Some("presence_foreign"),
        "{refused:?}"
    );
    for (desk, _, _) in desks {
        desk.stop().await?;
    }
    Ok(())
}

/// The review queue (fraud signals, issue 27) on a real server: one member entering Gangnam
/// and then Haeundae minutes later, a desk back-filling visits, staff recording most visits
/// at one center, members saying "not me" at another; each raised with the visits behind it,
/// an alert reaches the operators' channel, and a center beside them with ordinary traffic
/// raises nothing.
#[tokio::test]
async fn the_review_queue_shows_each_signal_with_the_visits_behind_it() -> anyhow::Result<()> {
    let slack = gymgate_tests::WebhookStub::start().await?;
    let server = TestServer::start_with(|c| {
        c.alerts.slack_url = Some(slack.url.clone());
        c.alerts.check_every = std::time::Duration::from_millis(50);
        c.alerts.signals_every = std::time::Duration::from_millis(50);
        c.alerts.rules.fraud.min_visits = 4;
        c.alerts.rules.lookup_floor = 6;
    })
    .await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let gangnam = fx.center("강남점").await?;
    let haeundae = fx.center("해운대점").await?;
    let yeoksam = fx.center("역삼점").await?;
    for (center, lat, lon) in [
        (&gangnam, 37.4979, 127.0276),
        (&haeundae, 35.1631, 129.1636),
        (&yeoksam, 37.5006, 127.0364),
    ] {
        let (code, body) = place(&url, center.id.as_str(), lat, lon).await?;
        assert_eq!(code, StatusCode::OK, "{body}");
    }
    let (code, _) = place(&url, gangnam.id.as_str(), 137.0, 0.0).await?;
    assert_eq!(code, StatusCode::BAD_REQUEST);

    let numbers = fx.members("FS", 12, Some(8)).await?;
    let members = gymgate_tests::member::logins(&url, &numbers).await?;
    // Member 0: Gangnam, then Haeundae a moment later.
    members[0]
        .tap(gangnam.id.as_str(), "fs-g0")
        .await?
        .checkin()?;
    members[0]
        .tap(haeundae.id.as_str(), "fs-h0")
        .await?
        .checkin()?;
    // Members 1–3 tap at Gangnam and then say it was not them.
    for (i, member) in members.iter().enumerate().skip(1).take(3) {
        let id = member
            .tap(gangnam.id.as_str(), &format!("fs-g{i}"))
            .await?
            .checkin()?
            .id
            .clone();
        let (code, body) = answer(
            &url,
            member,
            &id,
            serde_json::json!({"mine": false, "statement": "제가 아닙니다"}),
        )
        .await?;
        assert_eq!(code, StatusCode::OK, "{body}");
    }
    // Haeundae's desk says its outbox is empty, then sends three visits of two days ago.
    let desk = fx.desk(haeundae.id.as_str()).await?;
    let (mut ws, _) = DeskClient::join(&url, &desk.token, None, 0).await?;
    let two_days_ago = Utc::now() - chrono::Duration::days(2);
    for member in &members[4..7] {
        let (status, _, _) = ws
            .record_at(&member.session.member.id, two_days_ago)
            .await?;
        assert_eq!(status, RecordStatus::Accepted);
    }
    // Jamsil's desk looks up six members today, where it never did before.
    let jamsil = fx.center("잠실점").await?;
    let reader = fx.desk(jamsil.id.as_str()).await?;
    for no in &numbers[..6] {
        let found = reqwest::Client::new()
            .get(format!("{url}/api/v1/desk/lookup"))
            .bearer_auth(&reader.token)
            .query(&[("member_no", no.as_str())])
            .send()
            .await?;
        assert_eq!(found.status(), StatusCode::OK);
    }
    // Yeoksam: four members tap in, as every day.
    for (i, member) in members.iter().enumerate().skip(8) {
        member
            .tap(yeoksam.id.as_str(), &format!("fs-y{i}"))
            .await?
            .checkin()?;
    }

    let (code, body) = call(
        reqwest::Method::GET,
        format!("{url}/api/v1/admin/signals"),
        ADMIN_TOKEN,
        None,
    )
    .await?;
    assert_eq!(code, StatusCode::OK, "{body}");
    let signals = body.as_array().cloned().unwrap_or_default();
    let mut found: Vec<(String, String)> = signals
        .iter()
        .map(|s| {
            (
                s["kind"].as_str().unwrap_or_default().to_owned(),
                s["center_name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("desk_lookups".to_owned(), "잠실점".to_owned()),
            ("impossible_travel".to_owned(), "해운대점".to_owned()),
            ("not_me".to_owned(), "강남점".to_owned()),
            ("staff_share".to_owned(), "해운대점".to_owned()),
            ("suspicious_records".to_owned(), "해운대점".to_owned()),
        ],
        "{body:#}"
    );
    let travel = signals
        .iter()
        .find(|s| s["kind"] == "impossible_travel")
        .ok_or_else(|| anyhow::anyhow!("no travel signal"))?;
    let visits = travel["visits"].as_array().cloned().unwrap_or_default();
    assert_eq!(visits.len(), 2, "{travel:#}");
    assert!(visits.iter().all(|v| v["member_no"] == numbers[0].as_str()));
    assert!(
        travel["text_ko"]
            .as_str()
            .is_some_and(|t| t.contains("강남점 → 해운대점")),
        "{travel:#}"
    );
    let backfilled = signals
        .iter()
        .find(|s| s["kind"] == "suspicious_records")
        .ok_or_else(|| anyhow::anyhow!("no suspicious records"))?;
    assert_eq!(backfilled["visits"].as_array().map(Vec::len), Some(3));
    assert!(
        backfilled["visits"][0]["suspicion"]
            .as_str()
            .is_some_and(|s| s.contains("after_empty_outbox"))
    );
    assert_eq!(backfilled["under_review"], false);

    // The operators' channel hears of it.
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
    while !slack
        .delivered()
        .iter()
        .any(|m| m.contains("부정 의심") && m.contains("해운대점"))
    {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no fraud alert: {:?}",
            slack.delivered()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // An operator puts Haeundae under review; the queue says so.
    let (code, body) = set_confirmation(
        &url,
        haeundae.id.as_str(),
        serde_json::json!({"confirm_days": 7, "under_review": true, "reason": "소급 기록 3건"}),
    )
    .await?;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (_, body) = call(
        reqwest::Method::GET,
        format!("{url}/api/v1/admin/signals"),
        ADMIN_TOKEN,
        None,
    )
    .await?;
    assert!(
        body.as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["center_name"] == "해운대점")
            .all(|s| s["under_review"] == true),
        "{body:#}"
    );
    Ok(())
}

/// A tap may carry the phone's location, with the member's consent only: the server keeps
/// how far that is from the center (never the place); far beyond its accuracy, the visit is
/// the member's to confirm; no consent, no place set or no location: kept as a plain tap, and
/// never refused for it.
#[tokio::test]
async fn a_taps_location_is_kept_as_a_distance_with_consent_and_a_far_one_is_asked_about()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let gangnam = fx.center("강남점").await?;
    let yeoksam = fx.center("역삼점").await?;
    let unplaced = fx.center("홍대점").await?;
    for (center, lat, lon) in [(&gangnam, 37.4979, 127.0276), (&yeoksam, 37.5006, 127.0364)] {
        let (code, body) = place(&url, center.id.as_str(), lat, lon).await?;
        assert_eq!(code, StatusCode::OK, "{body}");
    }
    let numbers = fx.members("GL", 2, Some(8)).await?;
    let consenting = MemberClient::login(&url, &numbers[0], PIN).await?;
    let silent = MemberClient::login(&url, &numbers[1], PIN).await?;
    let tap = |member: &MemberClient, center: &str, key: &str, location: serde_json::Value| {
        let body = serde_json::json!({"center_id": center, "location": location});
        let (url, token, key) = (url.clone(), member.token.clone(), key.to_owned());
        async move {
            let response = reqwest::Client::new()
                .post(format!("{url}/api/v1/checkins"))
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await?;
            anyhow::ensure!(
                response.status() == StatusCode::CREATED,
                "{}",
                response.status()
            );
            let envelope: serde_json::Value = response.json().await?;
            anyhow::Ok(CheckinId::new(
                envelope["checkin"]["id"].as_str().unwrap_or_default(),
            ))
        }
    };
    let near = serde_json::json!({"lat": 37.4981, "lon": 127.0279, "accuracy_m": 25.0});
    let busan = serde_json::json!({"lat": 35.1631, "lon": 129.1636, "accuracy_m": 40.0});

    // No consent: the location is not kept.
    let id = tap(&silent, gangnam.id.as_str(), "gl-0", near.clone()).await?;
    let seen = evidence(&url, &id).await?;
    assert_eq!(
        (seen.location_m, seen.confirmation),
        (None, Confirmation::ByEvidence)
    );

    let (code, body) = call(
        reqwest::Method::PUT,
        format!("{url}/api/v1/me/consents"),
        &consenting.token,
        Some(serde_json::json!({"location": true})),
    )
    .await?;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["location"], true);
    assert!(body["location_at"].is_string());

    let id = tap(&consenting, gangnam.id.as_str(), "gl-1", near).await?;
    let seen = evidence(&url, &id).await?;
    assert!(seen.location_m.is_some_and(|m| m < 60), "{seen:?}");
    assert_eq!(seen.location_accuracy_m, Some(25));
    assert!(seen.suspicion.is_empty());
    assert_eq!(seen.confirmation, Confirmation::ByEvidence);

    // From Busan at Yeoksam: admitted, but asked about and not paid until confirmed.
    let id = tap(&consenting, yeoksam.id.as_str(), "gl-2", busan.clone()).await?;
    let seen = evidence(&url, &id).await?;
    assert!(
        seen.location_m
            .is_some_and(|m| (300_000..340_000).contains(&m)),
        "{seen:?}"
    );
    assert_eq!(seen.suspicion, ["far_from_center"]);
    assert_eq!(seen.confirmation, Confirmation::Unconfirmed);
    let listed = visits(&url, &consenting).await?;
    assert!(listed.iter().any(|v| v.checkin.id == id && v.ask));

    // A center with no place set: nothing to compare with, nothing kept.
    let id = tap(&consenting, unplaced.id.as_str(), "gl-3", busan).await?;
    assert_eq!(evidence(&url, &id).await?.location_m, None);
    // Nonsense coordinates are ignored, not refused.
    let (code, _) = call(
        reqwest::Method::PUT,
        format!("{url}/api/v1/me/consents"),
        &silent.token,
        Some(serde_json::json!({"location": true})),
    )
    .await?;
    assert_eq!(code, StatusCode::OK);
    let id = tap(
        &silent,
        yeoksam.id.as_str(),
        "gl-4",
        serde_json::json!({"lat": 700.0, "lon": 127.0, "accuracy_m": 10.0}),
    )
    .await?;
    assert_eq!(evidence(&url, &id).await?.location_m, None);
    Ok(())
}
