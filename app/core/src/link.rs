//! The connection to the server as a state machine: connecting → online → (lost) backing off
//! → connecting …, on tokio. Events are stored in the cache before they are acked and before
//! the UI hears of them; the outbox is sent whenever the link is up.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use gymgate_shared::LocalId;
use gymgate_shared::api::{DeskSnapshot, ErrorBody};
use gymgate_shared::protocol::{DeskMessage, EventPayload, PROTOCOL_VERSION, ServerMessage};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::backoff::Backoff;
use super::cache::Applied;
use super::config::Pairing;
use super::roster::RosterIndex;
use super::store::CacheHandle;
use super::{CoreEvent, LinkStatus, load_state};

/// Timers of the link; tests shorten them.
#[derive(Debug, Clone)]
pub struct LinkTiming {
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Connect and `welcome` must each come within this.
    pub connect_timeout: Duration,
    /// The server pings every ~25 s; this long without any frame means the link is dead.
    pub dead_after: Duration,
    /// How often the desk tells the server how it is doing.
    pub health_every: Duration,
    /// The release public keys updates must be signed with (built into the program; tests
    /// bring their own).
    pub release_keys: Vec<gymgate_shared::release::ReleaseKey>,
    /// The most an update download takes of the center's internet.
    pub update_bytes_per_s: u64,
}

impl Default for LinkTiming {
    fn default() -> Self {
        LinkTiming {
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            dead_after: Duration::from_secs(60),
            health_every: Duration::from_secs(gymgate_shared::protocol::HEALTH_EVERY_S),
            release_keys: super::update::built_in_keys(),
            update_bytes_per_s: 512 * 1024,
        }
    }
}

#[derive(Debug)]
pub enum LinkCommand {
    /// New outbox items are waiting.
    Flush,
    Decide(DeskMessage),
    /// Skip the rest of the backoff wait.
    RetryNow,
    Shutdown,
}

pub(super) struct LinkContext {
    /// The pairing, its `server_url` set to the address tried now.
    pub pairing: Pairing,
    /// The address the desk was paired with (saved as such when the server list changes).
    pub home: String,
    /// Shared with the core: the address in use.
    pub server: Arc<RwLock<String>>,
    /// Where earlier pairings of this PC are kept (see [`super::config::remove_pairing`]).
    pub data_dir: std::path::PathBuf,
    pub cache: CacheHandle,
    pub roster: Arc<RwLock<RosterIndex>>,
    /// Shared with the core: the server's clock minus this PC's, in milliseconds.
    pub clock_offset: Arc<std::sync::atomic::AtomicI64>,
    pub events: mpsc::Sender<CoreEvent>,
    pub commands: mpsc::UnboundedReceiver<LinkCommand>,
    pub timing: LinkTiming,
    /// This run's start among the day's (for the desk's health).
    pub starts: super::health::Starts,
    /// When the desk last had every event the server had for it.
    pub last_sync: Option<chrono::DateTime<Utc>>,
    pub updater: Arc<super::update::Updater>,
    /// The public key of the desk's presence codes, registered in every hello.
    pub presence_key: Option<String>,
}

enum SessionEnd {
    Lost(String),
    Unauthorized(String),
    Shutdown,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(super) async fn run(mut ctx: LinkContext) {
    let mut backoff = Backoff::new(ctx.timing.backoff_base, ctx.timing.backoff_cap);
    let mut offline_since = None;
    // Several server nodes: after a lost session the next address is tried, in turn, with
    // the same backoff; a node that answers is kept.
    let mut at = 0;
    loop {
        let addresses = {
            let mut home = ctx.pairing.clone();
            home.server_url = ctx.home.clone();
            home.addresses()
        };
        let address = addresses[at % addresses.len()].clone();
        if let Ok(mut server) = ctx.server.write() {
            server.clone_from(&address);
        }
        ctx.pairing.server_url = address;
        send_earlier_pairings_items(&ctx).await;
        emit(
            &ctx,
            CoreEvent::Link(LinkStatus::Connecting {
                attempt: backoff.attempt(),
                offline_since,
            }),
        )
        .await;
        let end = session(&mut ctx, &mut backoff, &mut offline_since).await;
        let reason = match end {
            SessionEnd::Shutdown => return,
            SessionEnd::Unauthorized(reason) => {
                tracing::warn!(%reason, "the server no longer accepts this desk's token");
                emit(&ctx, CoreEvent::Unpaired(reason)).await;
                // Nothing to retry until staff pair again; wait to be shut down.
                while let Some(command) = ctx.commands.recv().await {
                    if matches!(command, LinkCommand::Shutdown) {
                        break;
                    }
                }
                return;
            }
            SessionEnd::Lost(reason) => {
                at = (at + 1) % addresses.len();
                reason
            }
        };
        let since = *offline_since.get_or_insert_with(Utc::now);
        let delay = backoff.next_delay();
        tracing::info!(%reason, ?delay, "link lost; retrying");
        emit(
            &ctx,
            CoreEvent::Link(LinkStatus::Offline {
                since,
                retry_at: Utc::now() + chrono::Duration::milliseconds(delay.as_millis() as i64),
                reason,
            }),
        )
        .await;
        let wake = tokio::time::sleep(delay);
        tokio::pin!(wake);
        loop {
            tokio::select! {
                _ = &mut wake => break,
                command = ctx.commands.recv() => match command {
                    None | Some(LinkCommand::Shutdown) => return,
                    Some(LinkCommand::RetryNow) => break,
                    // Saved in the outbox; sent once the link is back.
                    Some(LinkCommand::Flush) => {}
                    Some(LinkCommand::Decide(_)) => {
                        emit(&ctx, CoreEvent::ServerError {
                            code: "offline".into(),
                            message: "offline: decisions need the server; try again when online".into(),
                        })
                        .await;
                    }
                },
            }
        }
    }
}

async fn emit(ctx: &LinkContext, event: CoreEvent) {
    let _ = ctx.events.send(event).await;
}

fn ws_url(server_url: &str) -> String {
    let base = if let Some(rest) = server_url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = server_url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        server_url.to_owned()
    };
    format!("{base}/ws/desk")
}

async fn connect(ctx: &LinkContext) -> Result<Socket, SessionEnd> {
    connect_as(&ctx.pairing, &ctx.timing).await
}

async fn connect_as(pairing: &Pairing, timing: &LinkTiming) -> Result<Socket, SessionEnd> {
    let mut request = ws_url(&pairing.server_url)
        .into_client_request()
        .map_err(|e| SessionEnd::Lost(format!("bad server address: {e}")))?;
    let auth = format!("Bearer {}", pairing.token)
        .parse()
        .map_err(|_| SessionEnd::Unauthorized("invalid_token".into()))?;
    request.headers_mut().insert("authorization", auth);
    match tokio::time::timeout(
        timing.connect_timeout,
        tokio_tungstenite::connect_async(request),
    )
    .await
    {
        Err(_) => Err(SessionEnd::Lost("connecting timed out".into())),
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(WsError::Http(response))) if response.status().as_u16() == 401 => {
            // The code, not the server's English message: the UI says it in staff's words.
            let code = response
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice::<ErrorBody>(b).ok())
                .map(|b| b.error.code)
                .unwrap_or_else(|| "invalid_token".into());
            Err(SessionEnd::Unauthorized(code))
        }
        Ok(Err(e)) => Err(SessionEnd::Lost(e.to_string())),
    }
}

/// Check-ins this PC made under an earlier pairing and never sent are sent now as that
/// desk's, with that desk's token, so they count for the center where they happened. A
/// pairing that is gone, or whose token the server refuses, can never send them: they stay
/// in the list staff see, marked so.
async fn send_earlier_pairings_items(ctx: &LinkContext) {
    let groups = match ctx.cache.call(|c| c.foreign_pending()).await {
        Ok(groups) => groups,
        Err(error) => {
            tracing::warn!(%error, "cannot read the outbox");
            return;
        }
    };
    if groups.is_empty() {
        return;
    }
    for group in groups {
        let (dir, desk) = (ctx.data_dir.clone(), group.desk_id.clone());
        let previous =
            tokio::task::spawn_blocking(move || super::config::load_previous_pairing(&dir, &desk))
                .await;
        let strand = |reason: &'static str| {
            let desk = group.desk_id.clone();
            ctx.cache.call(move |c| c.strand(&desk, reason))
        };
        let Ok(Ok(Some(previous))) = previous else {
            tracing::warn!(desk = %group.desk_id, items = group.records.len(), "an earlier pairing's check-ins cannot be sent: that pairing is gone");
            let _ = strand("previous_pairing_unsent").await;
            continue;
        };
        match send_as(&previous, &group.records, &ctx.timing).await {
            Ok(answers) => {
                let all = answers.len() == group.records.len();
                let stored = ctx
                    .cache
                    .call(move |c| {
                        for (local_id, status, checkin_id, reason) in &answers {
                            c.record_result(
                                local_id,
                                *status,
                                checkin_id.as_ref().map(|i| i.as_str()),
                                reason.as_deref(),
                            )?;
                        }
                        Ok(())
                    })
                    .await;
                tracing::info!(desk = %group.desk_id, sent = group.records.len(), all, "sent an earlier pairing's check-ins as that desk's");
                if stored.is_ok() && all {
                    let (dir, desk) = (ctx.data_dir.clone(), group.desk_id.clone());
                    let _ = tokio::task::spawn_blocking(move || {
                        super::config::forget_previous_pairing(&dir, &desk)
                    })
                    .await;
                }
            }
            Err(SessionEnd::Unauthorized(reason)) => {
                tracing::warn!(desk = %group.desk_id, %reason, "an earlier pairing was revoked; its check-ins cannot be sent");
                let _ = strand("previous_pairing_revoked").await;
                let (dir, desk) = (ctx.data_dir.clone(), group.desk_id.clone());
                let _ = tokio::task::spawn_blocking(move || {
                    super::config::forget_previous_pairing(&dir, &desk)
                })
                .await;
            }
            // Unreachable now: tried again on the next connect.
            Err(_) => {}
        }
    }
    if let Ok((pending, conflicts)) = ctx
        .cache
        .call(|c| Ok((c.pending_count()?, c.conflicts()?)))
        .await
    {
        emit(ctx, CoreEvent::Outbox { pending, conflicts }).await;
    }
}

type Answer = (
    gymgate_shared::LocalId,
    gymgate_shared::protocol::RecordStatus,
    Option<gymgate_shared::CheckinId>,
    Option<String>,
);

/// A short session as another desk: hello, the records, their answers, goodbye.
async fn send_as(
    pairing: &Pairing,
    records: &[gymgate_shared::protocol::OutboxRecord],
    timing: &LinkTiming,
) -> Result<Vec<Answer>, SessionEnd> {
    let mut socket = connect_as(pairing, timing).await?;
    send(
        &mut socket,
        &DeskMessage::Hello {
            presence_key: None,
            protocol: PROTOCOL_VERSION,
            epoch: None,
            last_seq: 0,
            app_version: Some(super::update::RUNNING.to_owned()),
            outbox: records.len() as u64,
            clock: Some(Utc::now()),
        },
    )
    .await?;
    for record in records {
        send(&mut socket, &DeskMessage::Record(record.clone())).await?;
    }
    let mut answers = Vec::new();
    let deadline = Instant::now() + timing.connect_timeout * 2;
    while answers.len() < records.len() {
        let message = tokio::time::timeout_at(deadline, next_server_message(&mut socket))
            .await
            .map_err(|_| SessionEnd::Lost("no answer for an earlier pairing's items".into()))??;
        match message {
            ServerMessage::Recorded {
                local_id,
                status,
                checkin_id,
                reason,
            } => answers.push((local_id, status, checkin_id, reason)),
            // Not stored: the rest waits for the next try.
            ServerMessage::Error { code, message } => {
                tracing::warn!(%code, %message, "the server refused an earlier pairing's item");
                break;
            }
            // That center's live events are not this desk's business.
            ServerMessage::Welcome { .. }
            | ServerMessage::Event(_)
            | ServerMessage::LogRequest { .. }
            | ServerMessage::Update { .. } => {}
        }
    }
    let _ = socket.close(None).await;
    Ok(answers)
}

/// The server's list of node addresses changed: kept for this run and in the pairing file,
/// so a desk started while its usual node is down still finds the others.
async fn remember_servers(ctx: &mut LinkContext, servers: Vec<String>) {
    ctx.pairing.servers = servers;
    let mut saved = ctx.pairing.clone();
    saved.server_url = ctx.home.clone();
    let dir = ctx.data_dir.clone();
    match tokio::task::spawn_blocking(move || super::config::save_pairing(&dir, &saved)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "cannot save the server addresses"),
        Err(error) => tracing::warn!(%error, "cannot save the server addresses"),
    }
}

async fn send(socket: &mut Socket, message: &DeskMessage) -> Result<(), SessionEnd> {
    let text = serde_json::to_string(message).map_err(|e| SessionEnd::Lost(e.to_string()))?;
    socket
        .send(Message::Text(text.into()))
        .await
        .map_err(|e| SessionEnd::Lost(format!("send failed: {e}")))
}

async fn fetch_snapshot(pairing: &Pairing) -> Result<DeskSnapshot, String> {
    let response = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?
        .get(format!("{}/api/v1/desk/snapshot", pairing.server_url))
        .bearer_auth(&pairing.token)
        .send()
        .await
        .map_err(|e| format!("snapshot: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("snapshot refused: HTTP {}", response.status()));
    }
    response.json().await.map_err(|e| format!("snapshot: {e}"))
}

async fn session(
    ctx: &mut LinkContext,
    backoff: &mut Backoff,
    offline_since: &mut Option<chrono::DateTime<Utc>>,
) -> SessionEnd {
    let mut socket = match connect(ctx).await {
        Ok(socket) => socket,
        Err(end) => return end,
    };
    let (cursor, outbox) = match ctx
        .cache
        .call(|c| Ok((c.cursor()?, c.pending_count()?)))
        .await
    {
        Ok(found) => found,
        Err(e) => return SessionEnd::Lost(format!("cache: {e}")),
    };
    let hello = DeskMessage::Hello {
        presence_key: ctx.presence_key.clone(),
        protocol: PROTOCOL_VERSION,
        epoch: cursor.epoch.clone(),
        last_seq: cursor.last_seq,
        app_version: Some(super::update::RUNNING.to_owned()),
        outbox: outbox as u64,
        clock: Some(Utc::now()),
    };
    if let Err(end) = send(&mut socket, &hello).await {
        return end;
    }
    let resumed =
        match tokio::time::timeout(ctx.timing.connect_timeout, next_server_message(&mut socket))
            .await
        {
            Err(_) => return SessionEnd::Lost("no welcome from the server".into()),
            Ok(Err(end)) => return end,
            Ok(Ok(ServerMessage::Welcome {
                resumed,
                server_time,
                pass_keys,
                servers,
                support,
                hours,
                update,
                ..
            })) => {
                // A new version's first welcome ends its trial (the update helper waits).
                // Files in the data folder: off the link's executor thread.
                let updater = ctx.updater.clone();
                let _ = tokio::task::spawn_blocking(move || updater.confirm_trial()).await;
                ctx.updater.offer(&ctx.pairing, update.as_deref());
                if !servers.is_empty() && servers != ctx.pairing.servers {
                    remember_servers(ctx, servers).await;
                }
                // The welcome left the server a moment ago: its clock, less this PC's now.
                let offset = server_time - Utc::now();
                ctx.clock_offset.store(
                    offset.num_milliseconds(),
                    std::sync::atomic::Ordering::Relaxed,
                );
                if let Err(e) = ctx
                    .cache
                    .call(move |c| c.set_server_info(&pass_keys, offset))
                    .await
                {
                    return SessionEnd::Lost(format!("cache: {e}"));
                }
                if let Some(contact) = support {
                    let stored = contact.clone();
                    if let Err(e) = ctx.cache.call(move |c| c.set_support(&stored)).await {
                        return SessionEnd::Lost(format!("cache: {e}"));
                    }
                    emit(ctx, CoreEvent::Support(contact)).await;
                }
                if let Some(hours) = hours
                    && let Err(e) = ctx.cache.call(move |c| c.set_hours(hours.as_ref())).await
                {
                    return SessionEnd::Lost(format!("cache: {e}"));
                }
                resumed
            }
            Ok(Ok(ServerMessage::Error { code, message })) => {
                return SessionEnd::Lost(format!("{code}: {message}"));
            }
            Ok(Ok(other)) => return SessionEnd::Lost(format!("expected welcome, got {other:?}")),
        };
    if !resumed {
        // Another database, a first run, or too far behind: take the server's state whole.
        let snapshot = match fetch_snapshot(&ctx.pairing).await {
            Ok(snapshot) => snapshot,
            Err(reason) => return SessionEnd::Lost(reason),
        };
        let roster = snapshot.roster.clone();
        if let Err(e) = ctx.cache.call(move |c| c.apply_snapshot(&snapshot)).await {
            return SessionEnd::Lost(format!("cache: {e}"));
        }
        let index = tokio::task::spawn_blocking(move || RosterIndex::new(roster)).await;
        if let (Ok(index), Ok(mut shared)) = (index, ctx.roster.write()) {
            *shared = index;
        }
        match load_state(&ctx.cache).await {
            Ok(state) => emit(ctx, CoreEvent::Resynced(state)).await,
            Err(e) => return SessionEnd::Lost(format!("cache: {e}")),
        }
    }
    backoff.reset();
    *offline_since = None;
    emit(
        ctx,
        CoreEvent::Link(LinkStatus::Online { since: Utc::now() }),
    )
    .await;

    let mut in_flight: HashSet<LocalId> = HashSet::new();
    if let Err(end) = flush_outbox(ctx, &mut socket, &mut in_flight).await {
        return end;
    }
    ctx.last_sync = Some(Utc::now());
    if let Err(end) = send_health(ctx, &mut socket).await {
        return end;
    }
    if let Err(end) = send_reports(ctx, &mut socket).await {
        return end;
    }
    let mut last_heard = Instant::now();
    let mut watchdog = tokio::time::interval(ctx.timing.dead_after / 4);
    let mut health = tokio::time::interval_at(
        Instant::now() + ctx.timing.health_every,
        ctx.timing.health_every,
    );
    loop {
        tokio::select! {
            frame = socket.next() => {
                last_heard = Instant::now();
                let text = match frame {
                    None => return SessionEnd::Lost("the server closed the connection".into()),
                    Some(Err(e)) => return SessionEnd::Lost(e.to_string()),
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(frame))) => {
                        let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                        return SessionEnd::Lost(format!("closed by the server: {reason}"));
                    }
                    Some(Ok(_)) => continue,
                };
                let message = match serde_json::from_str::<ServerMessage>(&text) {
                    Ok(message) => message,
                    Err(e) => {
                        tracing::warn!(error = %e, "unreadable message from the server; ignored");
                        continue;
                    }
                };
                if let Err(end) = on_message(ctx, &mut socket, &mut in_flight, message).await {
                    return end;
                }
            }
            command = ctx.commands.recv() => match command {
                None | Some(LinkCommand::Shutdown) => {
                    let _ = socket.close(None).await;
                    return SessionEnd::Shutdown;
                }
                Some(LinkCommand::Flush) => {
                    if let Err(end) = flush_outbox(ctx, &mut socket, &mut in_flight).await {
                        return end;
                    }
                }
                Some(LinkCommand::Decide(message)) => {
                    if let Err(end) = send(&mut socket, &message).await {
                        return end;
                    }
                }
                Some(LinkCommand::RetryNow) => {}
            },
            _ = health.tick() => {
                if let Err(end) = send_health(ctx, &mut socket).await {
                    return end;
                }
            }
            _ = watchdog.tick() => {
                if last_heard.elapsed() > ctx.timing.dead_after {
                    return SessionEnd::Lost("no word from the server; the link is dead".into());
                }
                if let Err(end) = flush_outbox(ctx, &mut socket, &mut in_flight).await {
                    return end;
                }
            }
        }
    }
}

/// How the desk is doing, as the server is told it.
async fn send_health(ctx: &LinkContext, socket: &mut Socket) -> Result<(), SessionEnd> {
    let (outbox, outbox_oldest) = ctx
        .cache
        .call(|c| Ok((c.pending_count()?, c.pending_oldest()?)))
        .await
        .unwrap_or_default();
    let dir = ctx.data_dir.clone();
    let disk_free_mb = tokio::task::spawn_blocking(move || super::health::disk_free_mb(&dir))
        .await
        .ok()
        .flatten();
    let health = gymgate_shared::protocol::DeskHealth {
        outbox: outbox as u64,
        outbox_oldest,
        last_sync: ctx.last_sync,
        clock: Some(Utc::now()),
        disk_free_mb,
        cache_errors: ctx.cache.errors(),
        restarts_24h: ctx.starts.restarts_24h,
        crashes_24h: ctx.starts.crashes_24h,
        update: ctx.updater.status(),
    };
    send(socket, &DeskMessage::Health(health)).await
}

/// Reports left by crashes and cache failures: each is removed once sent.
async fn send_reports(ctx: &LinkContext, socket: &mut Socket) -> Result<(), SessionEnd> {
    let dir = ctx.data_dir.clone();
    let waiting = tokio::task::spawn_blocking(move || super::health::take_reports(&dir))
        .await
        .unwrap_or_default();
    let mut sent = Vec::with_capacity(waiting.len());
    for (path, report) in waiting {
        send(socket, &DeskMessage::Report(report)).await?;
        sent.push(path);
    }
    // Off the async threads, as the reading was.
    let _ = tokio::task::spawn_blocking(move || {
        for path in sent {
            if let Err(error) = std::fs::remove_file(&path) {
                tracing::warn!(%error, "cannot remove a report that was sent");
            }
        }
    })
    .await;
    Ok(())
}

async fn next_server_message(socket: &mut Socket) -> Result<ServerMessage, SessionEnd> {
    loop {
        match socket.next().await {
            None => return Err(SessionEnd::Lost("connection closed".into())),
            Some(Err(e)) => return Err(SessionEnd::Lost(e.to_string())),
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(&text)
                    .map_err(|e| SessionEnd::Lost(format!("unreadable message: {e}")));
            }
            Some(Ok(Message::Close(frame))) => {
                let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                return Err(SessionEnd::Lost(format!("closed by the server: {reason}")));
            }
            Some(Ok(_)) => {}
        }
    }
}

async fn flush_outbox(
    ctx: &LinkContext,
    socket: &mut Socket,
    in_flight: &mut HashSet<LocalId>,
) -> Result<(), SessionEnd> {
    let pending = ctx
        .cache
        .call(|c| c.pending_outbox())
        .await
        .map_err(|e| SessionEnd::Lost(format!("cache: {e}")))?;
    for record in pending {
        if in_flight.insert(record.local_id.clone()) {
            send(socket, &DeskMessage::Record(record)).await?;
        }
    }
    Ok(())
}

async fn on_message(
    ctx: &LinkContext,
    socket: &mut Socket,
    in_flight: &mut HashSet<LocalId>,
    message: ServerMessage,
) -> Result<(), SessionEnd> {
    match message {
        ServerMessage::Event(event) => {
            let seq = event.seq;
            let applied = ctx
                .cache
                .call(move |c| c.apply_event(&event))
                .await
                .map_err(|e| SessionEnd::Lost(format!("cache: {e}")))?;
            match applied {
                Applied::Gap { expected } => {
                    tracing::warn!(seq, expected, "gap in the event stream; resuming");
                    return Err(SessionEnd::Lost(format!("missing event {expected}")));
                }
                Applied::Duplicate => {
                    send(socket, &DeskMessage::Ack { seq }).await?;
                }
                Applied::Stored(payload) => {
                    // Committed locally. Staff hear of it before the ack goes out: if the
                    // link dies during the ack, the resent event is a duplicate and would
                    // never be shown.
                    if let Ok(mut roster) = ctx.roster.write() {
                        match payload.as_ref() {
                            EventPayload::Checkin(card) | EventPayload::CheckinUpdated(card) => {
                                roster.upsert(card.member.clone())
                            }
                            EventPayload::Member(member) => roster.upsert(member.clone()),
                            EventPayload::Notice(_)
                            | EventPayload::Revocation(_)
                            | EventPayload::Support(_)
                            | EventPayload::Hours(_) => {}
                        }
                    }
                    if let EventPayload::Member(member) = payload.as_ref()
                        && member.photo_url.is_none()
                    {
                        // The photo was taken away (or the member deleted their account): the
                        // copy on this PC goes too.
                        forget_photos(&ctx.data_dir.join(super::PHOTOS_DIR), member.id.as_str())
                            .await;
                    }
                    let event = match *payload {
                        EventPayload::Checkin(card) => CoreEvent::Checkin(card),
                        EventPayload::CheckinUpdated(card) => CoreEvent::Updated(card),
                        EventPayload::Member(member) => CoreEvent::Member(member),
                        EventPayload::Revocation(_) | EventPayload::Hours(_) => {
                            CoreEvent::Synced { at: Utc::now() }
                        }
                        EventPayload::Support(contact) => CoreEvent::Support(contact),
                        EventPayload::Notice(_) => {
                            let notices = ctx
                                .cache
                                .call(|c| c.notices())
                                .await
                                .map_err(|e| SessionEnd::Lost(format!("cache: {e}")))?;
                            CoreEvent::Notices(notices)
                        }
                    };
                    emit(ctx, event).await;
                    emit(ctx, CoreEvent::Synced { at: Utc::now() }).await;
                    // Only now may the server forget it for us.
                    send(socket, &DeskMessage::Ack { seq }).await?;
                }
            }
        }
        ServerMessage::Recorded {
            local_id,
            status,
            checkin_id,
            reason,
        } => {
            in_flight.remove(&local_id);
            let (id, why) = (checkin_id.clone(), reason.clone());
            let answered = local_id.clone();
            let (pending, conflicts) = ctx
                .cache
                .call(move |c| {
                    c.record_result(
                        &answered,
                        status,
                        id.as_ref().map(|i| i.as_str()),
                        why.as_deref(),
                    )?;
                    Ok((c.pending_count()?, c.conflicts()?))
                })
                .await
                .map_err(|e| SessionEnd::Lost(format!("cache: {e}")))?;
            emit(
                ctx,
                CoreEvent::Recorded {
                    local_id,
                    status,
                    reason,
                },
            )
            .await;
            emit(ctx, CoreEvent::Outbox { pending, conflicts }).await;
        }
        ServerMessage::Error { code, message } => {
            tracing::warn!(%code, %message, "the server refused a request");
            // Errors are not tied to an outbox item: anything in flight may not have been
            // stored, so all of it is sent again (records are idempotent).
            in_flight.clear();
            emit(ctx, CoreEvent::ServerError { code, message }).await;
        }
        ServerMessage::LogRequest {
            request_id,
            max_bytes,
        } => {
            // Off the link: reading a megabyte and sending it must not hold up events.
            tokio::spawn(super::logs::upload(
                ctx.pairing.clone(),
                ctx.data_dir.clone(),
                request_id,
                max_bytes,
            ));
        }
        ServerMessage::Update { offer } => ctx.updater.offer(&ctx.pairing, offer.as_deref()),
        ServerMessage::Welcome { .. } => {}
    }
    Ok(())
}

/// Deletes this PC's copies of a member's photo (`<member id>-<version>.jpg`).
async fn forget_photos(dir: &std::path::Path, member_id: &str) {
    let prefix = format!("{member_id}-");
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(&prefix)
            && name.ends_with(".jpg")
            && let Err(error) = tokio::fs::remove_file(entry.path()).await
        {
            tracing::warn!(%error, "cannot delete a member's photo");
        }
    }
}
