//! The member's own data (Korean PIPA, issue 27): the download holds their data and no one
//! else's, behind a link with its own key; deleting the account removes the person, ends
//! their logins and passes, tells the desks, and keeps every settlement figure.

use std::io::Read;

use gymgate_shared::kst;
use gymgate_shared::protocol::{EventKind, RecordStatus};
use gymgate_tests::{ADMIN_TOKEN, DeskClient, Fixture, MemberClient, PIN, TestServer};
use reqwest::StatusCode;

/// Every file of a zip, by name.
fn unzip(bytes: &[u8]) -> anyhow::Result<Vec<(String, String)>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))?;
    let mut files = Vec::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i)?;
        let mut text = String::new();
        if file.name().ends_with(".jpg") {
            continue;
        }
        file.read_to_string(&mut text)?;
        files.push((file.name().to_owned(), text));
    }
    Ok(files)
}

#[tokio::test]
async fn a_members_data_download_holds_their_data_and_no_one_elses() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    let other_center = fx.center("홍대점").await?;
    let numbers = fx.members("DL", 2, Some(8)).await?;
    let me = MemberClient::login(&url, &numbers[0], PIN).await?;
    let them = MemberClient::login(&url, &numbers[1], PIN).await?;
    let mine = me.tap(center.id.as_str(), "dl-0").await?.checkin()?.clone();
    let theirs = them
        .tap(center.id.as_str(), "dl-1")
        .await?
        .checkin()?
        .clone();
    them.tap(other_center.id.as_str(), "dl-2")
        .await?
        .checkin()?;
    let http = reqwest::Client::new();

    let started = http
        .post(format!("{url}/api/v1/me/exports"))
        .bearer_auth(&me.token)
        .send()
        .await?;
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let started: serde_json::Value = started.json().await?;
    let link = started["download_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let id = started["export"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // Prepared as a job: wait until it says ready.
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
    loop {
        let list: serde_json::Value = http
            .get(format!("{url}/api/v1/me/exports"))
            .bearer_auth(&me.token)
            .send()
            .await?
            .json()
            .await?;
        let job = list
            .as_array()
            .and_then(|l| l.iter().find(|e| e["id"] == id.as_str()).cloned());
        if job.as_ref().is_some_and(|j| j["status"] == "ready") {
            let expires = job
                .as_ref()
                .and_then(|j| j["expires_at"].as_str())
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .ok_or_else(|| anyhow::anyhow!("no expiry"))?;
            let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours();
            assert!((167..=168).contains(&days), "valid 7 days: {days} h");
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "never ready: {list}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Another member sees none of it.
    let theirs_list: serde_json::Value = http
        .get(format!("{url}/api/v1/me/exports"))
        .bearer_auth(&them.token)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(theirs_list, serde_json::json!([]));

    // The link is the credential: no key, or another key, reads like nothing there.
    let bare = link.split("?key=").next().unwrap_or_default();
    for wrong in [
        bare.to_owned(),
        format!("{bare}?key=x"),
        format!("{bare}?key={}", "A".repeat(43)),
    ] {
        let response = http.get(format!("{url}{wrong}")).send().await?;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{wrong}");
    }
    let response = http.get(format!("{url}{link}")).send().await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/zip")
    );
    let files = unzip(&response.bytes().await?)?;
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "README.txt",
        "profile.json",
        "visits.json",
        "visits.csv",
        "devices.json",
        "consents.json",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    let file = |name: &str| {
        files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.clone())
            .unwrap_or_default()
    };
    let profile: serde_json::Value = serde_json::from_str(&file("profile.json"))?;
    assert_eq!(profile["member_no"], numbers[0].as_str());
    assert_eq!(profile["name"], "회원0");
    let visits: serde_json::Value = serde_json::from_str(&file("visits.json"))?;
    let ids: Vec<&str> = visits
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["id"].as_str())
        .collect();
    assert_eq!(ids, [mine.id.as_str()]);
    assert_eq!(visits[0]["evidence"], "app");
    assert!(
        visits[0]["history"]
            .as_array()
            .is_some_and(|h| !h.is_empty())
    );
    assert!(file("visits.csv").contains("강남점"));
    // Nothing of the other member anywhere.
    for (name, text) in &files {
        for theirs in [numbers[1].as_str(), "회원1", theirs.id.as_str(), "홍대점"] {
            assert!(!text.contains(theirs), "{name} holds {theirs}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn deleting_the_account_removes_the_person_and_keeps_the_settlement_figures()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("DE", 2, Some(8)).await?;
    let leaving = MemberClient::login(&url, &numbers[0], PIN).await?;
    let staying = MemberClient::login(&url, &numbers[1], PIN).await?;
    let (mut ws, _) = DeskClient::join(&url, &desk.token, None, 0).await?;
    // A desk at another center looked the member up once (its roster may hold them).
    let elsewhere = fx.center("홍대점").await?;
    let looking = fx.desk(elsewhere.id.as_str()).await?;
    let found = reqwest::Client::new()
        .get(format!("{url}/api/v1/desk/lookup"))
        .bearer_auth(&looking.token)
        .query(&[("member_no", numbers[0].as_str())])
        .send()
        .await?;
    assert_eq!(found.status(), StatusCode::OK);
    let (mut ws_elsewhere, _) = DeskClient::join(&url, &looking.token, None, 0).await?;
    let tapped = leaving
        .tap(center.id.as_str(), "de-0")
        .await?
        .checkin()?
        .clone();
    staying.tap(center.id.as_str(), "de-1").await?.checkin()?;
    // A staff-recorded visit the member confirmed, and their "not me" on nothing: settlement
    // counts two paid visits of theirs across the month.
    let (status, recorded, _) = ws
        .record_at(
            &leaving.session.member.id,
            chrono::Utc::now() - chrono::Duration::days(1),
        )
        .await?;
    assert_eq!(status, RecordStatus::Accepted);
    let recorded = recorded.ok_or_else(|| anyhow::anyhow!("no check-in"))?;
    let http = reqwest::Client::new();
    let confirmed = http
        .post(format!("{url}/api/v1/me/visits/{recorded}/answer"))
        .bearer_auth(&leaving.token)
        .json(&serde_json::json!({"mine": true}))
        .send()
        .await?;
    assert_eq!(confirmed.status(), StatusCode::OK);
    let months: std::collections::BTreeSet<String> =
        [tapped.at, chrono::Utc::now() - chrono::Duration::days(1)]
            .iter()
            .map(|at| kst::date_of(*at).format("%Y-%m").to_string())
            .collect();
    let mut before = Vec::new();
    for month in &months {
        before.push(fx.admin.statement(center.id.as_str(), month).await?);
    }
    // Drain what the desk has heard so far.
    while ws
        .next_within(std::time::Duration::from_millis(300))
        .await
        .is_ok_and(|m| m.is_some())
    {}

    // A wrong PIN deletes nothing.
    let wrong = http
        .post(format!("{url}/api/v1/me/delete"))
        .bearer_auth(&leaving.token)
        .json(&serde_json::json!({"pin": "999999"}))
        .send()
        .await?;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = wrong.json().await?;
    assert_eq!(body["error"]["code"], "wrong_pin");
    assert!(MemberClient::login(&url, &numbers[0], PIN).await.is_ok());

    let deleted = http
        .post(format!("{url}/api/v1/me/delete"))
        .bearer_auth(&leaving.token)
        .json(&serde_json::json!({"pin": PIN}))
        .send()
        .await?;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    // The person is gone: no login, no session, no member page under their number.
    assert!(MemberClient::login(&url, &numbers[0], PIN).await.is_err());
    let me = http
        .get(format!("{url}/api/v1/me"))
        .bearer_auth(&leaving.token)
        .send()
        .await?;
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    let page = http
        .get(format!("{url}/api/v1/admin/members/{}", numbers[0]))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    // The desk hears the pseudonymous row in place of theirs, and that their passes are void.
    let mut heard_member = false;
    let mut heard_revocation = false;
    for _ in 0..10 {
        let Ok(event) = ws.next_event().await else {
            break;
        };
        match event.kind {
            EventKind::Member if event.data["id"] == leaving.session.member.id.as_str() => {
                assert_eq!(event.data["name"], "탈퇴 회원");
                assert_eq!(event.data["phone_last4"], "");
                assert!(event.data["photo_url"].is_null());
                assert_ne!(event.data["member_no"], numbers[0].as_str());
                heard_member = true;
            }
            EventKind::Revocation => heard_revocation = true,
            _ => {}
        }
        if heard_member && heard_revocation {
            break;
        }
    }
    assert!(heard_member && heard_revocation);
    // So does the desk that only looked them up.
    let mut heard_elsewhere = false;
    for _ in 0..10 {
        let Ok(event) = ws_elsewhere.next_event().await else {
            break;
        };
        if event.kind == EventKind::Member && event.data["id"] == leaving.session.member.id.as_str()
        {
            assert_eq!(event.data["name"], "탈퇴 회원");
            heard_elsewhere = true;
            break;
        }
    }
    assert!(
        heard_elsewhere,
        "the desk that looked the member up was not told"
    );
    // Nobody finds the pseudonymous row: not the console's search, not a desk's lookup.
    let searched: serde_json::Value = http
        .get(format!("{url}/api/v1/admin/members?q=탈퇴"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(searched["members"], serde_json::json!([]), "{searched}");
    // The other member is untouched.
    assert!(MemberClient::login(&url, &numbers[1], PIN).await.is_ok());

    // Settlement: the same figures and the same digests.
    for (month, earlier) in months.iter().zip(&before) {
        let now = fx.admin.statement(center.id.as_str(), month).await?;
        assert_eq!(now.totals, earlier.totals, "{month}");
        assert_eq!(now.digest, earlier.digest, "{month}");
    }
    let audit = fx.admin.audit().await?;
    assert!(
        audit
            .iter()
            .any(|e| e.action == "member.delete" && e.actor == "member"),
        "{audit:?}"
    );
    Ok(())
}

/// Operators' reads of members' personal data are in the audit log (who read whom, never what
/// they searched for), and one operator reading many in a short time alerts the operators'
/// channel; a few reads do not.
#[tokio::test]
async fn bulk_reads_of_members_are_audited_and_a_spike_alerts() -> anyhow::Result<()> {
    let slack = gymgate_tests::WebhookStub::start().await?;
    let server = TestServer::start_with(|c| {
        c.alerts.slack_url = Some(slack.url.clone());
        c.alerts.check_every = std::time::Duration::from_millis(50);
        c.alerts.rules.bulk_reads = 8;
    })
    .await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let numbers = fx.members("BR", 6, Some(8)).await?;
    let http = reqwest::Client::new();
    let read = |path: String| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let response = http
                .get(format!("{url}{path}"))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await?;
            anyhow::ensure!(
                response.status() == StatusCode::OK,
                "{path}: {}",
                response.status()
            );
            anyhow::Ok(())
        }
    };
    for no in &numbers[..3] {
        read(format!("/api/v1/admin/members/{no}")).await?;
    }
    read("/api/v1/admin/members?q=010-0000".to_owned()).await?;
    let audit = fx.admin.audit().await?;
    let reads: Vec<_> = audit.iter().filter(|e| e.action == "member.read").collect();
    assert_eq!(reads.len(), 3, "{audit:?}");
    assert!(reads.iter().all(|e| e.actor == "admin-token"));
    assert!(
        reads
            .iter()
            .any(|e| e.member_no.as_deref() == Some(numbers[0].as_str()))
    );
    let search = audit
        .iter()
        .find(|e| e.action == "members.search")
        .ok_or_else(|| anyhow::anyhow!("the search is not audited"))?;
    // What was searched for is not kept, only how much came back.
    assert!(
        !serde_json::to_string(search)?.contains("010-0000"),
        "{search:?}"
    );
    // Four reads are ordinary work: no alert.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(
        !slack
            .delivered()
            .iter()
            .any(|m| m.contains("개인정보 대량 조회")),
        "{:?}",
        slack.delivered()
    );
    for no in &numbers {
        read(format!("/api/v1/admin/members/{no}")).await?;
    }
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
    while !slack
        .delivered()
        .iter()
        .any(|m| m.contains("개인정보 대량 조회") && m.contains("admin-token"))
    {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no bulk-read alert: {:?}",
            slack.delivered()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}
