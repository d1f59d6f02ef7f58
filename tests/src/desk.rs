//! A desk speaking the WebSocket protocol, with helpers to assert on what it receives.

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use gymgate_shared::protocol::{DeskMessage, Event, PROTOCOL_VERSION, ServerMessage};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::WAIT;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct DeskClient {
    socket: Socket,
}

/// Welcome fields a test looks at.
#[derive(Debug, Clone)]
pub struct Welcome {
    pub epoch: String,
    pub head_seq: u64,
    pub resumed: bool,
    pub hours: Option<gymgate_shared::hours::CenterHours>,
}

/// How the server ended the connection.
#[derive(Debug)]
pub struct Closed {
    pub errors: Vec<(String, String)>,
    pub close: Option<CloseFrame>,
}

impl DeskClient {
    /// Connects; an HTTP refusal before the upgrade comes back as `Err` with its status.
    pub async fn connect(url: &str, token: &str) -> Result<DeskClient, ConnectError> {
        let ws_url = format!("{}/ws/desk", url.replacen("http://", "ws://", 1));
        let mut request = ws_url
            .into_client_request()
            .map_err(|e| ConnectError::Other(e.to_string()))?;
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}")
                .parse()
                .map_err(|_| ConnectError::Other("bad token".into()))?,
        );
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => Ok(DeskClient { socket }),
            Err(WsError::Http(response)) => Err(ConnectError::Refused(response.status().as_u16())),
            Err(e) => Err(ConnectError::Other(e.to_string())),
        }
    }

    /// Connects and says hello; returns the welcome.
    pub async fn join(
        url: &str,
        token: &str,
        epoch: Option<&str>,
        last_seq: u64,
    ) -> anyhow::Result<(DeskClient, Welcome)> {
        let mut desk = DeskClient::connect(url, token).await?;
        let welcome = desk.hello(epoch, last_seq).await?;
        Ok((desk, welcome))
    }

    pub async fn hello(&mut self, epoch: Option<&str>, last_seq: u64) -> anyhow::Result<Welcome> {
        self.send(&DeskMessage::Hello {
            presence_key: None,
            protocol: PROTOCOL_VERSION,
            epoch: epoch.map(str::to_owned),
            last_seq,
            app_version: Some("test-desk".into()),
            outbox: 0,
            clock: Some(chrono::Utc::now()),
        })
        .await?;
        match self.next().await? {
            ServerMessage::Welcome {
                epoch,
                head_seq,
                resumed,
                hours,
                ..
            } => Ok(Welcome {
                epoch,
                head_seq,
                resumed,
                hours: hours.map(|h| *h),
            }),
            other => bail!("expected welcome, got {other:?}"),
        }
    }

    pub async fn send(&mut self, message: &DeskMessage) -> anyhow::Result<()> {
        self.send_text(&serde_json::to_string(message)?).await
    }

    pub async fn send_text(&mut self, text: &str) -> anyhow::Result<()> {
        self.socket.send(Message::Text(text.into())).await?;
        Ok(())
    }

    pub async fn send_raw(&mut self, message: Message) -> anyhow::Result<()> {
        self.socket.send(message).await?;
        Ok(())
    }

    /// Sends an offline `record` of `member` made at `at` (by roster) and waits for the
    /// server's answer, skipping events: (status, check-in, reason).
    pub async fn record_at(
        &mut self,
        member: &gymgate_shared::MemberId,
        at: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<(
        gymgate_shared::protocol::RecordStatus,
        Option<gymgate_shared::CheckinId>,
        Option<String>,
    )> {
        use gymgate_shared::protocol::{OutboxRecord, RecordMethod};
        self.send(&DeskMessage::Record(OutboxRecord {
            local_id: gymgate_shared::LocalId::generate(),
            member_id: member.clone(),
            at,
            method: RecordMethod::Roster,
            proof: None,
            manual: None,
        }))
        .await?;
        loop {
            match self.next().await? {
                ServerMessage::Recorded {
                    status,
                    checkin_id,
                    reason,
                    ..
                } => return Ok((status, checkin_id, reason)),
                ServerMessage::Event(_) => {}
                other => bail!("expected recorded, got {other:?}"),
            }
        }
    }

    pub async fn ack(&mut self, seq: u64) -> anyhow::Result<()> {
        self.send(&DeskMessage::Ack { seq }).await
    }

    /// The next server message, waiting at most [`WAIT`].
    pub async fn next(&mut self) -> anyhow::Result<ServerMessage> {
        self.next_within(WAIT)
            .await?
            .context("no message from the server in time")
    }

    /// The next server message, or `None` if nothing arrives within `wait`.
    pub async fn next_within(
        &mut self,
        wait: std::time::Duration,
    ) -> anyhow::Result<Option<ServerMessage>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => return Ok(None),
                Ok(None) => bail!("connection closed"),
                Ok(Some(frame)) => frame?,
            };
            match frame {
                Message::Text(text) => {
                    return Ok(Some(
                        serde_json::from_str(&text).with_context(|| format!("decode {text}"))?,
                    ));
                }
                Message::Close(frame) => bail!("closed by server: {frame:?}"),
                _ => {}
            }
        }
    }

    pub async fn next_event(&mut self) -> anyhow::Result<Event> {
        match self.next().await? {
            ServerMessage::Event(event) => Ok(event),
            other => bail!("expected an event, got {other:?}"),
        }
    }

    /// Reads `count` events, acking each, and checks they follow `after` without gaps.
    pub async fn events(&mut self, after: u64, count: usize) -> anyhow::Result<Vec<Event>> {
        let mut events = Vec::with_capacity(count);
        for i in 0..count {
            let event = self.next_event().await?;
            let expected = after + i as u64 + 1;
            anyhow::ensure!(
                event.seq == expected,
                "event seq {} where {expected} was due",
                event.seq
            );
            self.ack(event.seq).await?;
            events.push(event);
        }
        Ok(events)
    }

    /// Asserts nothing more arrives for `wait`.
    pub async fn expect_silence(&mut self, wait: std::time::Duration) -> anyhow::Result<()> {
        if let Some(message) = self.next_within(wait).await? {
            bail!("expected nothing, got {message:?}");
        }
        Ok(())
    }

    /// Reads until the server closes; collects `error` messages on the way.
    pub async fn closed(&mut self) -> anyhow::Result<Closed> {
        let mut errors = Vec::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => bail!("server did not close the connection"),
                Ok(None) => {
                    return Ok(Closed {
                        errors,
                        close: None,
                    });
                }
                Ok(Some(Err(_))) => {
                    return Ok(Closed {
                        errors,
                        close: None,
                    });
                }
                Ok(Some(Ok(Message::Close(close)))) => return Ok(Closed { errors, close }),
                Ok(Some(Ok(Message::Text(text)))) => {
                    if let Ok(ServerMessage::Error { code, message }) = serde_json::from_str(&text)
                    {
                        errors.push((code, message));
                    }
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    pub async fn close(mut self) -> anyhow::Result<()> {
        self.socket.close(None).await?;
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("refused with HTTP {0}")]
    Refused(u16),
    #[error("{0}")]
    Other(String),
}
