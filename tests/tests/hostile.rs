//! Bad frames get an `error` and a close; the server and other desks carry on.

use std::time::Duration;

use gymgate_tests::{DeskClient, Fixture, MemberClient, PIN, TestServer};
use tokio_tungstenite::tungstenite::Message;

/// Sends `frames` after a good hello and expects `code` then a close with `close_code`.
async fn expect_rejected(
    url: &str,
    token: &str,
    hello: bool,
    frame: Message,
    code: &str,
    close_code: Option<u16>,
) -> anyhow::Result<()> {
    let mut desk = DeskClient::connect(url, token).await?;
    if hello {
        desk.hello(None, 0).await?;
    }
    desk.send_raw(frame).await?;
    let closed = desk.closed().await?;
    let codes: Vec<&str> = closed.errors.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(codes, [code], "errors before the close");
    match (closed.close, close_code) {
        (Some(close), Some(expected)) => assert_eq!(u16::from(close.code), expected, "{code}"),
        // The peer may reset the TCP connection while the rest of an oversized frame is unread.
        (_, None) => {}
        (None, Some(_)) => anyhow::bail!("no close frame after {code}"),
    }
    Ok(())
}

#[tokio::test]
async fn bad_frames_get_an_error_and_a_close_and_harm_nobody_else() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.limits.hello_timeout = Duration::from_millis(300);
    })
    .await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let bystander = fx.desk(center.id.as_str()).await?;
    let members = fx.members("Z", 2, None).await?;
    let (mut good, _) = DeskClient::join(&server.url(), &bystander.token, None, 0).await?;
    let url = server.url();
    let token = desk.token.as_str();
    let text = |t: &str| Message::Text(t.to_owned().into());

    expect_rejected(
        &url,
        token,
        true,
        text("{\"type\": \"ack\", \"seq\""),
        "malformed_json",
        Some(1008),
    )
    .await?;
    expect_rejected(
        &url,
        token,
        true,
        text("{\"type\": \"launch\"}"),
        "unknown_type",
        Some(1008),
    )
    .await?;
    expect_rejected(
        &url,
        token,
        true,
        text("{\"seq\": 1}"),
        "missing_type",
        Some(1008),
    )
    .await?;
    expect_rejected(
        &url,
        token,
        true,
        text("{\"type\": \"ack\", \"seq\": -1}"),
        "invalid_message",
        Some(1008),
    )
    .await?;
    expect_rejected(
        &url,
        token,
        true,
        text("{\"type\": \"ack\", \"seq\": 5}"),
        "ack_beyond_sent",
        Some(1008),
    )
    .await?;
    expect_rejected(
        &url,
        token,
        false,
        text("{\"type\": \"ack\", \"seq\": 0}"),
        "hello_expected",
        Some(1008),
    )
    .await?;
    expect_rejected(
        &url,
        token,
        false,
        text("{\"type\": \"hello\", \"protocol\": 99, \"epoch\": null, \"last_seq\": 0}"),
        "unsupported_protocol",
        Some(1008),
    )
    .await?;
    expect_rejected(
        &url,
        token,
        true,
        Message::Binary(vec![0u8; 16].into()),
        "binary_not_supported",
        Some(1003),
    )
    .await?;
    let huge = format!(
        "{{\"type\": \"ack\", \"seq\": 0, \"pad\": \"{}\"}}",
        "x".repeat(100_000)
    );
    expect_rejected(&url, token, true, text(&huge), "frame_too_large", None).await?;

    // A desk that never says hello is told so and closed.
    let mut mute = DeskClient::connect(&url, token).await?;
    let closed = mute.closed().await?;
    assert_eq!(
        closed.errors.first().map(|(c, _)| c.as_str()),
        Some("hello_timeout")
    );

    // The server is up and the well-behaved desk still gets events.
    let member = MemberClient::login(&url, &members[0], PIN).await?;
    member.tap(center.id.as_str(), "k").await?.checkin()?;
    assert_eq!(good.next_event().await?.seq, 1);
    let ready = reqwest::get(format!("{url}/readyz")).await?;
    assert_eq!(ready.status(), 200);
    Ok(())
}

#[tokio::test]
async fn a_silent_desk_is_dropped_after_the_idle_timeout() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.limits.ping_interval = Duration::from_millis(100);
        c.limits.idle_timeout = Duration::from_millis(400);
    })
    .await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let (silent, _) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;
    // The client is not read, so it never answers pings: as if the link went half-open.
    assert!(online(&fx).await?);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while online(&fx).await? {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "silent desk never dropped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(silent);
    Ok(())
}

async fn online(fx: &Fixture) -> anyhow::Result<bool> {
    Ok(fx.admin.desks().await?.iter().any(|d| d.online))
}

#[tokio::test]
async fn a_flood_of_small_frames_is_cut_off_and_others_carry_on() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| c.limits.desk_frames_per_second = 200).await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let flooder = fx.desk(center.id.as_str()).await?;
    let bystander = fx.desk(center.id.as_str()).await?;
    let members = fx.members("F", 1, None).await?;
    let (mut good, _) = DeskClient::join(&server.url(), &bystander.token, None, 0).await?;

    let (mut flood, _) = DeskClient::join(&server.url(), &flooder.token, None, 0).await?;
    let mut sent = 0;
    for _ in 0..20_000 {
        if flood
            .send_text("{\"type\":\"ack\",\"seq\":0}")
            .await
            .is_err()
        {
            break; // closed on us: that is the point
        }
        sent += 1;
    }
    let closed = flood.closed().await?;
    let codes: Vec<&str> = closed.errors.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(codes, ["too_many_messages"], "{closed:?}");
    if let Some(close) = closed.close {
        assert_eq!(u16::from(close.code), 1008);
    }
    println!("hostile: flood of {sent} ack frames → too_many_messages, close 1008");

    let member = MemberClient::login(&server.url(), &members[0], PIN).await?;
    member.tap(center.id.as_str(), "k").await?.checkin()?;
    assert_eq!(good.next_event().await?.seq, 1);
    Ok(())
}

/// A desk's record of a pass whose proof is forged is not a visit the server counts: it is
/// kept as disputed (the desk says it let someone in; operators decide), never as admitted.
#[tokio::test]
async fn a_record_with_a_forged_pass_proof_is_disputed_and_counts_for_nothing() -> anyhow::Result<()>
{
    use gymgate_shared::protocol::{
        DeskMessage, OutboxRecord, RecordMethod, RecordStatus, ServerMessage,
    };
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("P", 1, Some(8)).await?;
    let member = MemberClient::login(&server.url(), &numbers[0], PIN).await?;
    let (mut ws, _) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;
    for (proof, reason) in [
        (
            "eyJtZW1iZXIiOiJhZG1pbiJ9.forged-signature",
            "pass_malformed",
        ),
        ("GP1.0000000000", "pass_malformed"),
    ] {
        ws.send(&DeskMessage::Record(OutboxRecord {
            local_id: gymgate_shared::LocalId::generate(),
            member_id: member.session.member.id.clone(),
            at: chrono::Utc::now(),
            method: RecordMethod::Pass,
            proof: Some(proof.into()),
            manual: None,
        }))
        .await?;
        loop {
            match ws.next().await? {
                ServerMessage::Recorded {
                    status,
                    reason: why,
                    checkin_id,
                    ..
                } => {
                    assert_eq!(status, RecordStatus::Conflict);
                    assert_eq!(why.as_deref(), Some(reason));
                    assert!(checkin_id.is_some(), "kept as a disputed check-in");
                    break;
                }
                ServerMessage::Event(event) => {
                    assert_eq!(event.data["checkin"]["status"], "disputed");
                }
                other => anyhow::bail!("expected recorded, got {other:?}"),
            }
        }
    }
    // Nothing was counted: the member's visits are untouched and they can come in normally.
    let me: gymgate_shared::api::Member = reqwest::Client::new()
        .get(format!("{}/api/v1/me", server.url()))
        .bearer_auth(&member.token)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(me.visits_left, Some(8));
    assert_eq!(member.tap(center.id.as_str(), "k").await?.status(), 201);
    Ok(())
}

#[tokio::test]
async fn sql_looking_names_are_stored_and_shown_verbatim() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center_name = "강남'; DROP TABLE checkins; --";
    let center = fx.center(center_name).await?;
    let desk = fx.desk(center.id.as_str()).await?;
    let member_name = "Robert'); DROP TABLE members;-- \"김\"";
    let today = gymgate_shared::kst::date_of(chrono::Utc::now());
    let (from, until) = (
        today - chrono::Duration::days(1),
        today + chrono::Duration::days(30),
    );
    let csv = format!(
        "member_no,name,phone,pin,plan,visits_per_month,valid_from,valid_until,birthday\n\
         X' OR '1'='1,홍길동,010-1234-5678,{PIN},무제한,,{from},{until},\n\
         SQL-0001,\"{}\",010-1234-5678,{PIN},\"무제한; DELETE FROM plans\",,{from},{until},\n",
        member_name.replace('"', "\"\""),
    );
    let report = fx.admin.import_members(csv).await?;
    assert_eq!(report.created, 1, "{report:?}");
    // A member number that is not one is refused with its line and reason, not run.
    assert_eq!(report.errors.len(), 1, "{report:?}");
    assert_eq!(report.errors[0].line, 2);
    assert!(report.errors[0].message.contains("member_no"), "{report:?}");
    let member = MemberClient::login(&server.url(), "SQL-0001", PIN).await?;
    assert_eq!(member.session.member.name, member_name);
    // A login with an injection for a member number is just an unknown member.
    let injected = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/member", server.url()))
        .json(&serde_json::json!({"member_no": "' OR 1=1 --", "pin": PIN}))
        .send()
        .await?;
    assert_eq!(injected.status(), 401);

    let (mut ws, _) = DeskClient::join(&server.url(), &desk.token, None, 0).await?;
    member.tap(center.id.as_str(), "k").await?.checkin()?;
    let event = ws.next_event().await?;
    assert_eq!(event.data["member"]["name"], member_name);
    assert_eq!(event.data["checkin"]["center_name"], center_name);
    let centers = fx.admin.centers().await?;
    assert_eq!(centers[0].name, center_name);
    assert_eq!(centers[0].head_seq, 1, "the tables are all still there");
    Ok(())
}
