//! One desk's WebSocket session: `hello` → `welcome` → replay from the desk's cursor → live
//! events, while acks, decisions and outbox records flow the other way.
//!
//! The event log in SQLite is the source of truth; the live queue from the hub is only a
//! doorbell. Whenever the next live event is not exactly `last_sent + 1` (we were replaying,
//! or events arrived out of order), the session reads the missing range from the log. So a
//! desk sees every event once and in order, however replay and live traffic interleave.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use chrono::Utc;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use gymgate_shared::protocol::{DeskMessage, PROTOCOL_VERSION, ServerMessage};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::checkins;
use crate::error::AppError;
use crate::extract::DeskAuth;
use crate::hub::{LiveEvent, Shown};
use crate::state::AppState;
use crate::store::{Conn, StoreError, centers, desks, events};
use gymgate_shared::{CheckinId, MemberId};

/// Events read from the log per query while catching up.
const REPLAY_PAGE: usize = 500;
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a session ended; decides the close frame the desk gets.
#[derive(Debug)]
enum End {
    /// The server is shutting down: come back (with jitter) in a moment.
    ShuttingDown,
    /// The desk did not keep up with its queue: resume from the last ack.
    TooSlow,
    /// The desk broke the protocol: it is told why, then closed.
    Protocol {
        code: &'static str,
        message: String,
        close: u16,
    },
    /// Silence past the idle timeout, a stuck send, or the peer went away.
    Gone(&'static str),
    /// The log could not be read: the desk should resume shortly.
    Unavailable,
}

impl End {
    fn describe(&self) -> String {
        match self {
            End::ShuttingDown => "server shutting down".into(),
            End::TooSlow => "desk too slow".into(),
            End::Protocol { code, message, .. } => format!("{code}: {message}"),
            End::Gone(why) => (*why).into(),
            End::Unavailable => "event log unavailable".into(),
        }
    }

    fn protocol(code: &'static str, message: impl Into<String>) -> End {
        End::Protocol {
            code,
            message: message.into(),
            close: 1008,
        }
    }
}

struct Session {
    sink: SplitSink<WebSocket, Message>,
    stream: SplitStream<WebSocket>,
    state: AppState,
    desk: DeskAuth,
    last_sent: u64,
    acked: u64,
    last_heard: Instant,
    /// When this connection began: a record of a visit after it is one the desk made online.
    connected_at: chrono::DateTime<Utc>,
    kicked: CancellationToken,
    app_version: Option<String>,
    outbox: u64,
    /// The key of the desk's presence codes, from its hello.
    presence_key: Option<String>,
    budget: FrameBudget,
    /// New check-ins sent live and not acked yet (seq, member, check-in): once acked, the
    /// member is told this desk shows them. Bounded; empty on an idle desk.
    unshown: std::collections::VecDeque<(u64, MemberId, CheckinId)>,
    /// The health report last stored, and when: a report that says the same again (the
    /// clock aside) is stored at most every [`HEALTH_STORE_EVERY`].
    health_stored: Option<(crate::desk::health::Stored, Instant)>,
    /// Reports taken on this connection (a desk sends the few it kept; more is noise).
    reports_taken: u32,
    /// When waiting log requests were last looked for, and those this connection passed on.
    logs_checked: Option<Instant>,
    logs_asked: Vec<String>,
    /// The release version this desk was last offered and when it may install it (`None`:
    /// nothing to install).
    offered: Option<(String, Option<gymgate_shared::hours::OpeningHours>)>,
}

/// How often a connected desk's waiting log requests are looked for in the store (a request
/// made on another node; one made here is passed on at once).
const LOGS_CHECK_EVERY: Duration = Duration::from_secs(300);

/// An unchanged health report is written this often at most (10,000 desks each reporting
/// every 30 s would otherwise be 333 writes a second saying nothing new).
const HEALTH_STORE_EVERY: Duration = Duration::from_secs(300);
/// Reports one connection may send.
const REPORTS_PER_CONNECTION: u32 = 10;

/// New check-ins remembered for the member's "shown at the desk" note; more are not told.
const UNSHOWN_MAX: usize = 256;

/// A token bucket over the frames a desk sends, so a flood of tiny frames is cut off
/// instead of costing the server a parse each.
struct FrameBudget {
    tokens: f32,
    refilled: Instant,
}

impl FrameBudget {
    fn new(per_second: u32) -> FrameBudget {
        FrameBudget {
            tokens: per_second as f32 * 2.0,
            refilled: Instant::now(),
        }
    }

    fn take(&mut self, per_second: u32) -> bool {
        let now = Instant::now();
        let rate = per_second as f32;
        let earned = now.duration_since(self.refilled).as_secs_f32() * rate;
        self.tokens = (self.tokens + earned).min(rate * 2.0);
        self.refilled = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

fn limits_frames(state: &AppState) -> u32 {
    state.config.limits.desk_frames_per_second.max(1)
}

pub async fn serve(socket: WebSocket, desk: DeskAuth, state: AppState) {
    let (sink, stream) = socket.split();
    let budget = FrameBudget::new(limits_frames(&state));
    let mut session = Session {
        sink,
        stream,
        state,
        desk,
        last_sent: 0,
        acked: 0,
        last_heard: Instant::now(),
        connected_at: Utc::now(),
        kicked: CancellationToken::new(),
        app_version: None,
        outbox: 0,
        presence_key: None,
        budget,
        unshown: std::collections::VecDeque::new(),
        health_stored: None,
        reports_taken: 0,
        logs_checked: None,
        logs_asked: Vec::new(),
        offered: None,
    };
    tracing::info!(desk_id = %session.desk.desk_id, center_id = %session.desk.center_id, "desk connected");
    metrics::gauge!(crate::metrics::DESKS_CONNECTED).increment(1.0);
    let end = session.run().await;
    metrics::gauge!(crate::metrics::DESKS_CONNECTED).decrement(1.0);
    // Boxed here and below: an idle desk's task holds only the size of its idle loop, not of
    // the largest step it ever takes (thousands of desks sit idle for hours).
    Box::pin(session.close(&end)).await;
    Box::pin(session.remember_ack()).await;
    tracing::info!(desk_id = %session.desk.desk_id, reason = %end.describe(), acked = session.acked, "desk disconnected");
}

impl Session {
    async fn run(&mut self) -> End {
        let mut subscription = match Box::pin(self.open()).await {
            Ok(subscription) => subscription,
            Err(end) => return end,
        };
        let (ping_interval, idle_timeout) = {
            let limits = &self.state.config.limits;
            (limits.ping_interval, limits.idle_timeout)
        };
        let shutdown = self.state.shutdown.clone();
        let mut ping = tokio::time::interval_at(Instant::now() + ping_interval, ping_interval);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let kicked = self.kicked.clone();
        loop {
            let step = tokio::select! {
                biased;
                _ = shutdown.cancelled() => Err(End::ShuttingDown),
                _ = kicked.cancelled() => Err(End::TooSlow),
                live = subscription.live.recv() => match live {
                    Some(event) => Box::pin(self.on_live(event, &mut subscription.live)).await,
                    None => Err(End::TooSlow),
                },
                note = subscription.notes.recv() => match note {
                    Some(crate::hub::DeskNote::SendLog { request_id }) => {
                        Box::pin(self.ask_for_log(request_id)).await
                    }
                    Some(crate::hub::DeskNote::Releases(rollouts)) => {
                        Box::pin(self.tell_offer(&rollouts)).await
                    }
                    None => Err(End::TooSlow),
                },
                message = self.next_message() => match message {
                    Ok(DeskMessage::Ack { seq }) => self.on_ack(seq),
                    Ok(message) => Box::pin(self.on_message(message)).await,
                    Err(end) => Err(end),
                },
                _ = ping.tick() => {
                    if self.last_heard.elapsed() > idle_timeout {
                        Err(End::Gone("silent past the idle timeout"))
                    } else {
                        Box::pin(self.send(Message::Ping(Default::default()))).await
                    }
                }
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// Hello, welcome and catch-up: everything before the idle loop.
    async fn open(&mut self) -> Result<crate::hub::Subscription, End> {
        let limits = self.state.config.limits.clone();
        let shutdown = self.state.shutdown.clone();
        let first = tokio::select! {
            _ = shutdown.cancelled() => return Err(End::ShuttingDown),
            _ = tokio::time::sleep(limits.hello_timeout) => {
                return Err(End::protocol("hello_timeout", "send hello within 10 seconds of connecting"));
            }
            first = self.next_message() => first,
        };
        let (epoch, last_seq) = match first {
            Ok(DeskMessage::Hello {
                protocol,
                epoch,
                last_seq,
                app_version,
                outbox,
                clock,
                presence_key,
            }) => {
                self.app_version = app_version.map(|v| v.chars().take(40).collect());
                self.outbox = outbox;
                // Kept only if it is a key: what a hello says is stored as it is.
                self.presence_key = presence_key.filter(|k| is_public_key(k));
                if let Some(clock) = clock {
                    self.state
                        .remember_desk_clock(&self.desk.desk_id, clock - Utc::now());
                }
                if protocol != PROTOCOL_VERSION {
                    return Err(End::protocol(
                        "unsupported_protocol",
                        format!(
                            "this server speaks protocol {PROTOCOL_VERSION}; update the desk program"
                        ),
                    ));
                }
                (epoch, last_seq)
            }
            Ok(_) => {
                return Err(End::protocol(
                    "hello_expected",
                    "the first message must be hello",
                ));
            }
            Err(end) => return Err(end),
        };

        // Subscribe before reading the head, so nothing committed in between is missed.
        let mut subscription = self.state.hub.subscribe(
            &self.desk.center_id,
            &self.desk.desk_id,
            limits.send_queue_depth,
        );
        self.kicked = subscription.kicked.clone();
        self.remember_presence().await;
        let center_id = self.desk.center_id.clone();
        let (center, (support, hours), rollouts) = match self
            .state
            .store
            .read(move |conn| {
                let Some(center) = centers::load(conn, &center_id)? else {
                    return Ok(None);
                };
                let support = crate::store::settings::support(conn);
                let hours = crate::store::holidays::for_desks(conn, &center.schedule, Utc::now());
                let rollouts = crate::store::releases::offers(conn);
                Ok(Some((center, (support, hours), rollouts)))
            })
            .await
        {
            Ok(Some((center, (support, hours), rollouts))) => {
                let rollouts = rollouts.unwrap_or_else(|error| {
                    tracing::warn!(%error, "cannot read the rollouts for a desk");
                    Vec::new()
                });
                // A support contact or holidays that cannot be read must not keep the desk out.
                let support = support.unwrap_or_else(|error| {
                    tracing::warn!(%error, "cannot read the support contact for a desk");
                    None
                });
                let hours = hours
                    .map_err(|error| tracing::warn!(%error, "cannot read holidays for a desk"))
                    .ok()
                    .map(Box::new);
                (center, (support, hours), rollouts)
            }
            Ok(None) => {
                return Err(End::protocol(
                    "unknown_center",
                    "this desk's center no longer exists",
                ));
            }
            Err(error) => {
                tracing::error!(%error, "cannot read the center for a desk");
                return Err(End::Unavailable);
            }
        };
        let log_epoch = self.state.store.log_epoch(&self.desk.center_id);
        let resumed = epoch.as_deref() == Some(log_epoch.as_str())
            && last_seq <= center.head_seq
            && last_seq >= center.pruned_through;
        // A desk that cannot resume takes a snapshot (GET /api/v1/desk/snapshot) and then
        // follows live events from the head it was told.
        self.last_sent = if resumed { last_seq } else { center.head_seq };
        self.acked = self.last_sent;
        let welcome = ServerMessage::Welcome {
            desk_id: self.desk.desk_id.clone(),
            center_id: self.desk.center_id.clone(),
            epoch: log_epoch,
            head_seq: center.head_seq,
            server_time: Utc::now(),
            resumed,
            pass_keys: self.state.passes.keys().to_vec(),
            servers: self.state.config.public_urls.clone(),
            support,
            hours,
            update: self.offer(&rollouts).map(Box::new),
        };
        self.send_message(&welcome).await?;
        self.catch_up(&mut subscription.live).await?;
        Ok(subscription)
    }

    /// Sends every logged event after `last_sent`. Live events queued meanwhile are dropped:
    /// the log read after them covers them.
    async fn catch_up(&mut self, live: &mut mpsc::Receiver<Arc<LiveEvent>>) -> Result<(), End> {
        loop {
            let center_id = self.desk.center_id.clone();
            let after = self.last_sent;
            let logged = self
                .state
                .store
                .read(move |conn| events::after(conn, &center_id, after, REPLAY_PAGE))
                .await
                .map_err(|error| {
                    tracing::error!(%error, "cannot read the event log for a desk");
                    End::Unavailable
                })?;
            if logged.is_empty() {
                return Ok(());
            }
            metrics::counter!(crate::metrics::EVENTS_REPLAYED).increment(logged.len() as u64);
            for event in logged {
                let frame = crate::hub::frame(&event).map_err(|error| {
                    tracing::error!(%error, seq = event.seq, "a logged event cannot be sent");
                    End::Unavailable
                })?;
                self.send(Message::Text(frame)).await?;
                self.last_sent = event.seq;
            }
            while live.try_recv().is_ok() {}
        }
    }

    async fn on_live(
        &mut self,
        event: Arc<LiveEvent>,
        live: &mut mpsc::Receiver<Arc<LiveEvent>>,
    ) -> Result<(), End> {
        if event.seq <= self.last_sent {
            return Ok(());
        }
        if event.seq == self.last_sent + 1 {
            self.send(Message::Text(event.frame.clone())).await?;
            self.last_sent = event.seq;
            if let (Some(member), Some(checkin)) = (&event.member_id, &event.checkin_id)
                && self.unshown.len() < UNSHOWN_MAX
            {
                self.unshown
                    .push_back((event.seq, member.clone(), checkin.clone()));
            }
            return Ok(());
        }
        self.catch_up(live).await
    }

    /// Acks are most of what a desk sends; they need no await.
    fn on_ack(&mut self, seq: u64) -> Result<(), End> {
        if seq > self.last_sent {
            return Err(End::protocol(
                "ack_beyond_sent",
                format!(
                    "ack {seq} is beyond the last event sent ({})",
                    self.last_sent
                ),
            ));
        }
        self.acked = self.acked.max(seq);
        // The desk stored these: its staff have the member on screen.
        while self.unshown.front().is_some_and(|(s, _, _)| *s <= seq) {
            if let Some((_, member, checkin_id)) = self.unshown.pop_front() {
                let shown = Shown {
                    checkin_id,
                    desk_name: self.desk.name.clone(),
                    at: Utc::now(),
                };
                if !self.state.hub.shown(&member, shown.clone()) {
                    // The member's app may be listening on another node.
                    self.state.node.announce_shown(member, shown);
                }
            }
        }
        Ok(())
    }

    async fn on_message(&mut self, message: DeskMessage) -> Result<(), End> {
        match message {
            DeskMessage::Hello { .. } => Err(End::protocol(
                "unexpected_hello",
                "hello is only sent once, first",
            )),
            DeskMessage::Ack { seq } => self.on_ack(seq),
            DeskMessage::Decide {
                checkin_id,
                decision,
                reason,
            } => {
                let (desk_id, center_id) = (self.desk.desk_id.clone(), self.desk.center_id.clone());
                let result = self
                    .state
                    .store
                    .writer
                    .write(move |ctx| {
                        checkins::decide(ctx, &desk_id, &center_id, &checkin_id, decision, reason)
                    })
                    .await;
                // Success shows up as the checkin_updated event; only refusals need a reply.
                match result {
                    Ok(_) => Ok(()),
                    Err(error) => self.refuse(&error).await,
                }
            }
            DeskMessage::Health(health) => {
                self.on_health(health).await;
                self.ask_for_waiting_logs().await
            }
            DeskMessage::Report(report) => {
                self.on_report(report).await;
                Ok(())
            }
            DeskMessage::Record(item) => {
                let (desk_id, center_id) = (self.desk.desk_id.clone(), self.desk.center_id.clone());
                let keys = self.state.passes.keys().to_vec();
                let connected_at = self.connected_at;
                let result = self
                    .state
                    .store
                    .writer
                    .write_for(item.member_id.clone().as_str(), move |ctx| {
                        let recorder = checkins::Recorder {
                            desk_id: &desk_id,
                            center_id: &center_id,
                            connected_at,
                        };
                        checkins::record(ctx, &recorder, &item, &keys)
                    })
                    .await;
                match result {
                    Ok(recorded) => {
                        metrics::counter!(crate::metrics::OUTBOX_RECORDS, "result" => recorded.status.as_str())
                            .increment(1);
                        self.send_message(&ServerMessage::Recorded {
                            local_id: recorded.local_id,
                            status: recorded.status,
                            checkin_id: recorded.checkin_id,
                            reason: recorded.reason,
                        })
                        .await
                    }
                    // Not stored: the desk keeps the item in its outbox and sends it again.
                    Err(error) => self.refuse(&error).await,
                }
            }
        }
    }

    /// The next desk message; pings and pongs only count as signs of life.
    async fn next_message(&mut self) -> Result<DeskMessage, End> {
        loop {
            let frame = match self.stream.next().await {
                None => return Err(End::Gone("connection closed")),
                Some(Err(error)) => return Err(read_error(error)),
                Some(Ok(frame)) => frame,
            };
            self.last_heard = Instant::now();
            let per_second = limits_frames(&self.state);
            if !self.budget.take(per_second) {
                return Err(End::Protocol {
                    code: "too_many_messages",
                    message: format!("more than {per_second} messages a second; slow down"),
                    close: 1008,
                });
            }
            match frame {
                Message::Text(text) => return parse(&text),
                Message::Binary(_) => {
                    return Err(End::Protocol {
                        code: "binary_not_supported",
                        message: "send JSON text frames".into(),
                        close: 1003,
                    });
                }
                Message::Ping(_) | Message::Pong(_) => {}
                Message::Close(_) => return Err(End::Gone("desk closed the connection")),
            }
        }
    }

    async fn send(&mut self, message: Message) -> Result<(), End> {
        let timeout = self.state.config.limits.write_timeout;
        // Biased, the send is polled first: on a healthy socket it completes at once and the
        // timeout's timer is never registered (five frames go out per tap).
        tokio::select! {
            biased;
            sent = self.sink.send(message) => sent.map_err(|_| End::Gone("send failed")),
            _ = tokio::time::sleep(timeout) => Err(End::Gone("send timed out")),
            _ = self.kicked.cancelled() => Err(End::TooSlow),
        }
    }

    async fn send_message(&mut self, message: &ServerMessage) -> Result<(), End> {
        let text = serde_json::to_string(message).map_err(|error| {
            tracing::error!(%error, "cannot encode a message");
            End::Unavailable
        })?;
        self.send(Message::Text(text.into())).await
    }

    /// A refused `record` or `decide`: said to the desk; a revoked desk is also closed (it
    /// was revoked through another node, whose word has not reached this one yet).
    async fn refuse(&mut self, error: &AppError) -> Result<(), End> {
        if error.code() == crate::checkins::DESK_REVOKED {
            return Err(End::protocol(
                crate::checkins::DESK_REVOKED,
                error.public_message(),
            ));
        }
        self.send_error(error).await
    }

    async fn send_error(&mut self, error: &AppError) -> Result<(), End> {
        self.send_message(&ServerMessage::Error {
            code: error.code().to_owned(),
            message: error.public_message(),
        })
        .await
    }

    async fn close(&mut self, end: &End) {
        let (code, reason): (u16, &str) = match end {
            End::ShuttingDown => (1001, "server restarting; reconnect shortly"),
            End::TooSlow => (1013, "too far behind; resume from your last ack"),
            End::Unavailable => (1011, "server cannot read its log; reconnect shortly"),
            End::Protocol {
                code,
                message,
                close,
            } => {
                let error = ServerMessage::Error {
                    code: (*code).to_owned(),
                    message: message.clone(),
                };
                if let Ok(text) = serde_json::to_string(&error) {
                    let _ = tokio::time::timeout(
                        CLOSE_TIMEOUT,
                        self.sink.send(Message::Text(text.into())),
                    )
                    .await;
                }
                (*close, *code)
            }
            End::Gone(_) => return,
        };
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        };
        let _ =
            tokio::time::timeout(CLOSE_TIMEOUT, self.sink.send(Message::Close(Some(frame)))).await;
        // Finish the closing handshake: wait for the desk's close before dropping the socket,
        // so unread bytes in our buffer do not turn the close into a TCP reset.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            while let Some(Ok(frame)) = self.stream.next().await {
                if matches!(frame, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }

    /// What the desk said of itself in its hello, for operators; best effort.
    async fn remember_presence(&self) {
        let (version, outbox) = (self.app_version.clone(), self.outbox);
        let presence_key = self.presence_key.clone();
        let window = self.state.config.alerts.rules.desk_flap_window;
        // With several nodes, the node holding the connection says so: the watching node
        // counts a center's desks across all of them.
        let node = self.shared_node();
        self.remember("hello", move |tx, desk_id, now| {
            desks::remember_presence(
                tx,
                desk_id,
                version.as_deref(),
                outbox,
                now,
                now - window,
                presence_key.as_deref(),
            )?;
            match &node {
                Some(node) => crate::store::nodes::desk_connected(tx, desk_id, node),
                None => Ok(()),
            }
        })
        .await;
    }

    /// Stores the desk's health when it says something new, or every few minutes.
    async fn on_health(&mut self, health: gymgate_shared::protocol::DeskHealth) {
        let now = Utc::now();
        let mut stored = crate::desk::health::Stored {
            // Rounded: a clock 5 minutes fast reads 300 s, not 299 for the time in transit.
            clock_skew_s: health
                .clock
                .map(|clock| ((clock - now).num_milliseconds() as f64 / 1000.0).round() as i64),
            health,
        };
        stored.health.update = stored
            .health
            .update
            .take()
            .map(|u| u.chars().take(200).collect());
        if let Some(clock) = stored.health.clock {
            self.state
                .remember_desk_clock(&self.desk.desk_id, clock - now);
        }
        let same = |before: &crate::desk::health::Stored| {
            let mut a = before.clone();
            let mut b = stored.clone();
            a.health.clock = None;
            b.health.clock = None;
            let drift = a.clock_skew_s.unwrap_or(0) - b.clock_skew_s.unwrap_or(0);
            a.clock_skew_s = None;
            b.clock_skew_s = None;
            a == b && drift.abs() < 30
        };
        if let Some((before, at)) = &self.health_stored
            && same(before)
            && at.elapsed() < HEALTH_STORE_EVERY
        {
            return;
        }
        let json = match serde_json::to_string(&stored) {
            Ok(json) => json,
            Err(error) => {
                tracing::warn!(%error, "cannot encode a desk's health");
                return;
            }
        };
        let outbox = stored.health.outbox;
        self.outbox = outbox;
        self.remember("health", move |tx, desk_id, now| {
            desks::remember_health(tx, desk_id, &json, outbox, now)
        })
        .await;
        self.health_stored = Some((stored, Instant::now()));
    }

    /// The release this desk should move to; remembers what was offered.
    fn offer(
        &mut self,
        rollouts: &[crate::releases::Rollout],
    ) -> Option<gymgate_shared::protocol::UpdateOffer> {
        let rollout = crate::releases::offer_for(
            rollouts,
            self.desk.desk_id.as_str(),
            &self.desk.center_id,
            self.app_version.as_deref(),
        );
        self.offered = rollout.map(|r| (r.version.clone(), r.quiet_hours));
        rollout.map(|r| gymgate_shared::protocol::UpdateOffer {
            release: r.signed.clone(),
            url: format!("/api/v1/desk/releases/{}/installer", r.version),
            quiet_hours: r.quiet_hours,
        })
    }

    /// The periodic look at the rollouts (a change made on another node).
    async fn refresh_offer(&mut self) -> Result<(), End> {
        match self.state.store.read(crate::store::releases::offers).await {
            Ok(rollouts) => self.tell_offer(&rollouts).await,
            Err(error) => {
                tracing::warn!(%error, "cannot read the rollouts for a desk");
                Ok(())
            }
        }
    }

    /// Tells the desk its offer when it differs from what it was told.
    async fn tell_offer(&mut self, rollouts: &[crate::releases::Rollout]) -> Result<(), End> {
        let before = self.offered.clone();
        let offer = self.offer(rollouts);
        if self.offered == before {
            return Ok(());
        }
        self.send_message(&ServerMessage::Update {
            offer: offer.map(Box::new),
        })
        .await
    }

    /// Passes an operator's log request on, once per connection.
    async fn ask_for_log(&mut self, request_id: String) -> Result<(), End> {
        if self.logs_asked.contains(&request_id) {
            return Ok(());
        }
        self.send_message(&ServerMessage::LogRequest {
            request_id: request_id.clone(),
            max_bytes: gymgate_shared::protocol::MAX_LOG_BYTES,
        })
        .await?;
        tracing::info!(desk_id = %self.desk.desk_id, %request_id, "asked the desk for its log");
        self.logs_asked.push(request_id);
        Ok(())
    }

    /// Log requests made while the desk was away, or on another node: looked for with the
    /// first health report and then every [`LOGS_CHECK_EVERY`].
    async fn ask_for_waiting_logs(&mut self) -> Result<(), End> {
        if self
            .logs_checked
            .is_some_and(|at| at.elapsed() < LOGS_CHECK_EVERY)
        {
            return Ok(());
        }
        self.logs_checked = Some(Instant::now());
        // A rollout changed on another node is found here too.
        self.refresh_offer().await?;
        let desk_id = self.desk.desk_id.clone();
        let waiting = match self
            .state
            .store
            .read(move |conn| crate::store::desk_logs::waiting(conn, &desk_id, Utc::now()))
            .await
        {
            Ok(waiting) => waiting,
            Err(error) => {
                tracing::warn!(%error, "cannot read a desk's log requests");
                return Ok(());
            }
        };
        for request_id in waiting {
            self.ask_for_log(request_id).await?;
        }
        Ok(())
    }

    /// Keeps a crash or cache-failure report, cut to size.
    async fn on_report(&mut self, mut report: gymgate_shared::protocol::DeskReport) {
        self.reports_taken = self.reports_taken.saturating_add(1);
        if self.reports_taken > REPORTS_PER_CONNECTION {
            return;
        }
        report.kind = match report.kind.as_str() {
            "panic" | "crash" | "cache" => report.kind,
            _ => "other".into(),
        };
        report.text = report
            .text
            .chars()
            .take(gymgate_shared::protocol::MAX_REPORT_CHARS)
            .collect();
        tracing::warn!(desk = %self.desk.desk_id, kind = report.kind, "a desk reported a failure");
        self.remember("report", move |tx, desk_id, now| {
            desks::add_report(tx, desk_id, &report, now)
        })
        .await;
    }

    /// This node's id when nodes share the database.
    fn shared_node(&self) -> Option<String> {
        self.state
            .store
            .postgres_url()
            .map(|_| self.state.node.id.clone())
    }

    /// Keeps the desk's cursor and last contact for operators; best effort.
    async fn remember_ack(&self) {
        let acked = self.acked;
        let node = self.shared_node();
        self.remember("ack", move |tx, desk_id, now| {
            desks::remember_ack(tx, desk_id, acked, now)?;
            match &node {
                Some(node) => crate::store::nodes::desk_disconnected(tx, desk_id, node),
                None => Ok(()),
            }
        })
        .await;
    }

    /// Runs one update of this desk's row (given its id and the batch's time); a failure is
    /// logged, never passed on: it only costs operators a stale figure.
    async fn remember(
        &self,
        what: &'static str,
        update: impl FnOnce(
            &mut dyn Conn,
            &gymgate_shared::DeskId,
            chrono::DateTime<Utc>,
        ) -> Result<(), StoreError>
        + Send
        + 'static,
    ) {
        let desk_id = self.desk.desk_id.clone();
        let result = self
            .state
            .store
            .writer
            .write(move |ctx| -> Result<(), AppError> { Ok(update(ctx.tx, &desk_id, ctx.now)?) })
            .await;
        if let Err(error) = result {
            tracing::warn!(%error, what, "cannot store what a desk reported");
        }
    }
}

/// An Ed25519 public key as a hello carries it: base64url of 32 bytes.
fn is_public_key(text: &str) -> bool {
    use base64::Engine;
    text.len() <= 64
        && base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .is_ok_and(|bytes| bytes.len() == 32)
}

fn read_error(error: axum::Error) -> End {
    use tokio_tungstenite::tungstenite::Error as WsError;
    match error.into_inner().downcast::<WsError>() {
        Ok(ws) if matches!(*ws, WsError::Capacity(_)) => End::Protocol {
            code: "frame_too_large",
            message: format!(
                "frames are limited to {} bytes",
                gymgate_shared::protocol::MAX_FRAME_BYTES
            ),
            close: 1009,
        },
        Ok(ws) if matches!(*ws, WsError::Protocol(_) | WsError::Utf8(_)) => End::Protocol {
            code: "protocol_error",
            message: ws.to_string(),
            close: 1002,
        },
        _ => End::Gone("read failed"),
    }
}

const KNOWN_TYPES: [&str; 4] = ["hello", "ack", "decide", "record"];

fn parse(text: &str) -> Result<DeskMessage, End> {
    let error = match serde_json::from_str::<DeskMessage>(text) {
        Ok(message) => return Ok(message),
        Err(error) => error,
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return Err(End::protocol(
            "malformed_json",
            format!("not valid JSON: {error}"),
        ));
    };
    match value.get("type").and_then(serde_json::Value::as_str) {
        None => Err(End::protocol(
            "missing_type",
            "every message needs a string \"type\" field",
        )),
        Some(kind) if !KNOWN_TYPES.contains(&kind) => Err(End::protocol(
            "unknown_type",
            format!("unknown message type {kind:?}"),
        )),
        Some(kind) => Err(End::protocol(
            "invalid_message",
            format!("invalid {kind}: {error}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> &'static str {
        match parse(text) {
            Err(End::Protocol { code, .. }) => code,
            other => panic!("expected a protocol error for {text}, got {other:?}"),
        }
    }

    #[test]
    fn bad_frames_are_told_apart() {
        assert_eq!(code("{not json"), "malformed_json");
        assert_eq!(code(r#"{"seq": 1}"#), "missing_type");
        assert_eq!(code(r#"{"type": "launch"}"#), "unknown_type");
        assert_eq!(code(r#"{"type": "ack", "seq": "x"}"#), "invalid_message");
        assert!(matches!(
            parse(r#"{"type":"ack","seq":3}"#),
            Ok(DeskMessage::Ack { seq: 3 })
        ));
    }

    /// The desk-frame decoder on any text, and on JSON shaped like the messages with random
    /// fields and values: a message or one of the contract's error codes, never a panic.
    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        const CODES: [&str; 4] = [
            "malformed_json",
            "missing_type",
            "unknown_type",
            "invalid_message",
        ];

        fn decoded(text: &str) -> Result<(), TestCaseError> {
            match parse(text) {
                Ok(_) => Ok(()),
                Err(End::Protocol { code, .. }) => {
                    prop_assert!(CODES.contains(&code), "unexpected code {code}");
                    Ok(())
                }
                Err(other) => Err(TestCaseError::fail(format!("{other:?}"))),
            }
        }

        fn value() -> impl Strategy<Value = String> {
            prop_oneof![
                "-?[0-9]{1,25}",
                "-?[0-9]{1,5}\\.[0-9]{1,5}(e[+-]?[0-9]{1,4})?",
                "\"[^\"\\\\]{0,16}\"",
                Just("null".to_owned()),
                Just("true".to_owned()),
                Just("[]".to_owned()),
                Just("{}".to_owned()),
                Just("\"2026-11-21T10:00:00Z\"".to_owned()),
                Just("\"roster\"".to_owned()),
                Just("\"pass\"".to_owned()),
                Just("\"admit\"".to_owned()),
            ]
        }

        proptest! {
            #[test]
            fn any_text(text in "\\PC{0,200}") {
                decoded(&text)?;
            }

            #[test]
            fn message_shaped_json(
                kind in prop_oneof![
                    Just("hello"), Just("ack"), Just("decide"), Just("record"), Just("pong"),
                ],
                fields in prop::collection::vec(
                    (
                        prop_oneof![
                            Just("protocol"), Just("epoch"), Just("last_seq"), Just("seq"),
                            Just("outbox"), Just("app_version"), Just("checkin_id"),
                            Just("decision"), Just("reason"), Just("local_id"), Just("member_id"),
                            Just("at"), Just("method"), Just("proof"), Just("type"),
                        ],
                        value(),
                    ),
                    0..8,
                ),
                cut in 0usize..400,
            ) {
                let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
                let text = format!("{{\"type\": \"{kind}\", {}}}", body.join(", "));
                decoded(&text)?;
                // Truncated anywhere (on a character boundary).
                let cut = text.char_indices().map(|(i, _)| i).nth(cut).unwrap_or(text.len());
                decoded(&text[..cut])?;
            }
        }
    }
}
