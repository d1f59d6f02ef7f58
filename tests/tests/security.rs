//! A desk sees only its own center; tokens are checked; members act only for themselves.

use std::time::Duration;

use gymgate_shared::protocol::{Decision, DeskMessage, ServerMessage};
use gymgate_tests::desk::ConnectError;
use gymgate_tests::{ADMIN_TOKEN, DeskClient, Fixture, MemberClient, PIN, TestServer};

#[tokio::test]
async fn a_desk_never_receives_another_centers_events() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let a = fx.center("강남점").await?;
    let b = fx.center("홍대점").await?;
    let desk_a = fx.desk(a.id.as_str()).await?;
    let desk_b = fx.desk(b.id.as_str()).await?;
    let members = fx.members("S", 2, None).await?;
    let (mut ws_a, _) = DeskClient::join(&server.url(), &desk_a.token, None, 0).await?;
    let (mut ws_b, _) = DeskClient::join(&server.url(), &desk_b.token, None, 0).await?;

    let m0 = MemberClient::login(&server.url(), &members[0], PIN).await?;
    let m1 = MemberClient::login(&server.url(), &members[1], PIN).await?;
    let at_b = m0.tap(b.id.as_str(), "1").await?.checkin()?.clone();
    m1.tap(a.id.as_str(), "2").await?.checkin()?;

    let event_a = ws_a.next_event().await?;
    assert_eq!(event_a.data["checkin"]["center_id"], a.id.as_str());
    let event_b = ws_b.next_event().await?;
    assert_eq!(event_b.data["checkin"]["id"], at_b.id.as_str());
    ws_a.expect_silence(Duration::from_millis(300)).await?;
    ws_b.expect_silence(Duration::from_millis(300)).await?;

    // Nor can it act on another center's check-in: it is told the id is unknown here.
    ws_a.send(&DeskMessage::Decide {
        checkin_id: at_b.id.clone(),
        decision: Decision::Void,
        reason: None,
    })
    .await?;
    match ws_a.next().await? {
        ServerMessage::Error { code, .. } => assert_eq!(code, "unknown_checkin"),
        other => anyhow::bail!("expected an error, got {other:?}"),
    }
    let still = m0.checkin(at_b.id.as_str()).await?;
    assert_eq!(
        still.checkin()?.status,
        gymgate_shared::api::CheckinStatus::Admitted
    );
    ws_b.expect_silence(Duration::from_millis(300)).await?;
    Ok(())
}

#[tokio::test]
async fn bad_revoked_and_missing_desk_tokens_get_401_before_the_upgrade() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;

    for token in ["wrong", ""] {
        match DeskClient::connect(&server.url(), token).await {
            Err(ConnectError::Refused(401)) => {}
            Err(other) => anyhow::bail!("expected 401 for {token:?}, got {other}"),
            Ok(_) => anyhow::bail!("a bad token was let in"),
        }
    }
    // Revoking closes the live connection and refuses the token from then on.
    let (mut live, _) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;
    fx.admin.revoke_desk(desk.desk_id.as_str()).await?;
    live.closed().await?;
    match DeskClient::connect(&server.url(), &desk.token).await {
        Err(ConnectError::Refused(401)) => {}
        Err(other) => anyhow::bail!("expected 401 for a revoked token, got {other}"),
        Ok(_) => anyhow::bail!("a revoked token was let in"),
    }
    Ok(())
}

#[tokio::test]
async fn tokens_and_pins_are_stored_hashed() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let members = fx.members("H", 1, None).await?;
    let member = MemberClient::login(&server.url(), &members[0], PIN).await?;
    let url = server.url();
    let data = server.stop().await?;
    let everything = gymgate_tests::postgres::contents(data.path(), true).await?;
    for secret in [&desk.token, &member.token] {
        let needle = secret.as_bytes();
        let found = everything.windows(needle.len()).any(|w| w == needle);
        assert!(!found, "a token is stored in the clear ({url})");
    }
    // The import's file (PINs in the clear) is kept only until its job is done.
    let db = gymgate_tests::postgres::contents(data.path(), false).await?;
    let pin_row = format!(",{PIN},");
    assert!(!db.windows(pin_row.len()).any(|w| w == pin_row.as_bytes()));
    Ok(())
}

#[tokio::test]
async fn a_member_cannot_read_another_members_checkin() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let members = fx.members("M", 2, None).await?;
    let alice = MemberClient::login(&server.url(), &members[0], PIN).await?;
    let bob = MemberClient::login(&server.url(), &members[1], PIN).await?;
    let checkin = alice.tap(center.id.as_str(), "a").await?.checkin()?.clone();

    assert_eq!(alice.checkin(checkin.id.as_str()).await?.status(), 200);
    let peek = bob.checkin(checkin.id.as_str()).await?;
    assert_eq!(peek.status(), 404);
    assert_eq!(peek.error_code(), Some("unknown_checkin"));
    Ok(())
}

#[tokio::test]
async fn wrong_pins_expired_codes_and_missing_admin_token_are_refused() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.logins.free_failures = 2;
        c.logins.first_delay = Duration::from_secs(60);
    })
    .await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let members = fx.members("W", 2, None).await?;
    let http = reqwest::Client::new();

    let login = |pin: &'static str| {
        http.post(format!("{}/api/v1/auth/member", server.url()))
            .json(&serde_json::json!({"member_no": members[0], "pin": pin}))
            .send()
    };
    let wrong = login("0000").await?;
    assert_eq!(wrong.status(), 401);
    let body: serde_json::Value = wrong.json().await?;
    assert_eq!(body["error"]["code"], "invalid_credentials");
    login("0000").await?;
    login("0000").await?;
    // Past the free failures guessing waits, even with the right PIN, until the delay passes.
    let limited = login(PIN).await?;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    let body: serde_json::Value = limited.json().await?;
    assert_eq!(body["error"]["code"], "login_delayed");

    // A pairing code works once.
    let code = fx.admin.pairing_code(center.id.as_str()).await?;
    let pair = |code: String| {
        http.post(format!("{}/api/v1/desks/pair", server.url()))
            .json(&serde_json::json!({"code": code, "name": "desk"}))
            .send()
    };
    assert_eq!(pair(code.code.to_lowercase()).await?.status(), 200);
    let again: serde_json::Value = pair(code.code.clone()).await?.json().await?;
    assert_eq!(again["error"]["code"], "invalid_pairing_code");

    // Admin API without, or with a wrong, admin token.
    let no_token = http
        .get(format!("{}/api/v1/admin/centers", server.url()))
        .send()
        .await?;
    assert_eq!(no_token.status(), 401);
    let wrong_token = http
        .get(format!("{}/api/v1/admin/centers", server.url()))
        .bearer_auth(format!("{ADMIN_TOKEN}x"))
        .send()
        .await?;
    assert_eq!(wrong_token.status(), 401);
    // A member token is not an admin token.
    let member = MemberClient::login(&server.url(), &members[1], PIN).await?;
    let as_member = http
        .get(format!("{}/api/v1/admin/centers", server.url()))
        .bearer_auth(&member.token)
        .send()
        .await?;
    assert_eq!(as_member.status(), 401);
    // An unknown member gets the same answer as a wrong PIN.
    let nobody = http
        .post(format!("{}/api/v1/auth/member", server.url()))
        .json(&serde_json::json!({"member_no": "nobody", "pin": "1234"}))
        .send()
        .await?;
    assert_eq!(nobody.status(), 401);
    let body: serde_json::Value = nobody.json().await?;
    assert_eq!(body["error"]["code"], "invalid_credentials");
    Ok(())
}

#[tokio::test]
async fn an_expired_member_token_is_refused() -> anyhow::Result<()> {
    let server =
        TestServer::start_with(|c| c.member_token_ttl = chrono::Duration::milliseconds(1500))
            .await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let other_center = fx.center("역삼점").await?;
    let members = fx.members("X", 1, None).await?;
    let member = MemberClient::login(&server.url(), &members[0], PIN).await?;
    let logged_in = std::time::Instant::now();
    // Used while valid, so the server remembers the session in memory: expiry must still hold.
    let early = member.tap(other_center.id.as_str(), "early").await?;
    assert_eq!(early.status(), 201);
    tokio::time::sleep(Duration::from_millis(1600).saturating_sub(logged_in.elapsed())).await;
    let answer = member.tap(center.id.as_str(), "late").await?;
    assert_eq!(answer.status(), 401);
    assert_eq!(answer.error_code(), Some("token_expired"));
    Ok(())
}

#[tokio::test]
async fn guessing_pairing_codes_is_rate_limited() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| c.limits.pair_attempts_per_ip_per_minute = 5).await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let real = fx.admin.pairing_code(center.id.as_str()).await?;
    let http = reqwest::Client::new();
    let pair = |code: String| {
        http.post(format!("{}/api/v1/desks/pair", server.url()))
            .json(&serde_json::json!({"code": code, "name": "desk"}))
            .send()
    };
    let mut answers = Vec::new();
    for guess in 0..5 {
        let response = pair(format!("GUESS{guess:03}")).await?;
        answers.push(response.status().as_u16());
    }
    assert_eq!(answers, [401, 401, 401, 401, 401], "wrong codes");
    // Past the limit even the right code waits: guessing gets 5 tries a minute, not millions.
    let limited = pair(real.code.clone()).await?;
    assert_eq!(limited.status(), 429);
    let body: serde_json::Value = limited.json().await?;
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(fx.admin.desks().await?.is_empty(), "no desk was paired");
    Ok(())
}
