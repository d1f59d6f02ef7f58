//! Running a real desk core (cache, outbox, link) inside a test.

use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use gymgate_desk_core::config::Pairing;
use gymgate_desk_core::link::LinkTiming;
use gymgate_desk_core::{CoreEvent, DeskCore, DeskState, LinkStatus, start};
use tokio::sync::mpsc;

pub struct RunningDesk {
    pub core: DeskCore,
    pub state: DeskState,
    pub events: mpsc::Receiver<CoreEvent>,
    link: tokio::task::JoinHandle<()>,
}

/// Short timers so faults are noticed and recovered within a test.
pub fn fast_timing() -> LinkTiming {
    LinkTiming {
        backoff_base: Duration::from_millis(50),
        backoff_cap: Duration::from_millis(300),
        connect_timeout: Duration::from_secs(2),
        dead_after: Duration::from_secs(2),
        health_every: Duration::from_millis(500),
        release_keys: vec![release_key_public()],
        update_bytes_per_s: 50 * 1024 * 1024,
    }
}

/// The release key of the tests (a fixed seed: never a real release key); desks started by
/// the tests trust it.
pub fn release_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[42u8; 32])
}

pub fn release_key_public() -> gymgate_shared::release::ReleaseKey {
    gymgate_shared::release::ReleaseKey::of(&release_key())
}

impl RunningDesk {
    pub async fn start(data_dir: &Path, pairing: Pairing) -> anyhow::Result<RunningDesk> {
        let (tx, events) = mpsc::channel(1024);
        let (core, state, link) = start(data_dir, pairing, fast_timing(), tx).await?;
        Ok(RunningDesk {
            core,
            state,
            events,
            link: tokio::spawn(link),
        })
    }

    /// Waits for an event `pick` accepts, skipping others; fails after [`crate::WAIT`].
    pub async fn wait_for<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&CoreEvent) -> Option<T>,
    ) -> anyhow::Result<T> {
        let deadline = tokio::time::Instant::now() + crate::WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Err(_) => bail!("timed out waiting for {what}"),
                Ok(None) => bail!("core stopped while waiting for {what}"),
                Ok(Some(event)) => {
                    if let Some(found) = pick(&event) {
                        return Ok(found);
                    }
                }
            }
        }
    }

    pub async fn wait_online(&mut self) -> anyhow::Result<()> {
        self.wait_for("online", |e| {
            matches!(e, CoreEvent::Link(LinkStatus::Online { .. })).then_some(())
        })
        .await
    }

    pub async fn wait_offline(&mut self) -> anyhow::Result<()> {
        self.wait_for("offline", |e| {
            matches!(e, CoreEvent::Link(LinkStatus::Offline { .. })).then_some(())
        })
        .await
    }

    /// Asks the link to stop and waits for it.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.core.shutdown();
        tokio::time::timeout(crate::WAIT, self.link).await??;
        Ok(())
    }
}

pub fn pairing(url: &str, paired: &gymgate_shared::api::PairResponse) -> Pairing {
    Pairing {
        server_url: url.to_owned(),
        desk_id: paired.desk_id.clone(),
        center_id: paired.center_id.clone(),
        desk_name: "1층 데스크".into(),
        token: paired.token.clone(),
        servers: Vec::new(),
    }
}

/// Members become part of a center's roster by visiting; these visits are "yesterday", so
/// the members may come in again today.
pub async fn visited_yesterday(
    url: &str,
    desk_token: &str,
    members: &[crate::MemberClient],
) -> anyhow::Result<()> {
    use gymgate_shared::protocol::{DeskMessage, OutboxRecord, RecordMethod, RecordStatus};
    let (mut ws, _) = crate::DeskClient::join(url, desk_token, None, 0).await?;
    for member in members {
        ws.send(&DeskMessage::Record(OutboxRecord {
            local_id: gymgate_shared::LocalId::generate(),
            member_id: member.session.member.id.clone(),
            at: chrono::Utc::now() - chrono::Duration::days(1),
            method: RecordMethod::Roster,
            proof: None,
            manual: None,
        }))
        .await?;
        loop {
            if let gymgate_shared::protocol::ServerMessage::Recorded { status, .. } =
                ws.next().await?
            {
                anyhow::ensure!(status == RecordStatus::Accepted, "setup visit not accepted");
                break;
            }
        }
    }
    ws.close().await
}
