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
