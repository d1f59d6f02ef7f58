//! The desk's core: cache, outbox, link and sync, in plain Rust with no widgets (the UI only
//! wraps it, like Halloy's `data` crate). Tested without a window.

pub mod backoff;
pub mod cache;
pub mod config;
pub mod link;
pub mod roster;
pub mod store;

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Datelike, Utc};
use gymgate_shared::api::{
    Checkin, CheckinCard, CheckinChange, CheckinFlag, CheckinMethod, CheckinStatus, Notice,
    RosterMember,
};
use gymgate_shared::policy::{self, OpeningHours, PassFacts, Refusal, VisitHistory};
use gymgate_shared::protocol::{Decision, DeskMessage, OutboxRecord, RecordMethod, RecordStatus};
use gymgate_shared::{CheckinId, LocalId, MemberId, kst};
use tokio::sync::mpsc;

use cache::{CacheError, Claim, Conflict, Cursor, Recovered};
use config::Pairing;
use link::{LinkCommand, LinkContext, LinkTiming};
use roster::RosterIndex;
use store::CacheHandle;

/// How many roster matches a search returns.
pub const SEARCH_LIMIT: usize = 30;

#[derive(Debug, Clone, PartialEq)]
pub enum LinkStatus {
    /// `offline_since` is set while reconnecting after a loss, so the UI keeps telling staff
    /// they are offline instead of flickering between states.
    Connecting {
        attempt: u32,
        offline_since: Option<DateTime<Utc>>,
    },
    Online {
        since: DateTime<Utc>,
    },
    Offline {
        since: DateTime<Utc>,
        retry_at: DateTime<Utc>,
        reason: String,
    },
}

impl LinkStatus {
    /// Since when the desk has been cut off, if it is.
    pub fn offline_since(&self) -> Option<DateTime<Utc>> {
        match self {
            LinkStatus::Online { .. } => None,
            LinkStatus::Connecting { offline_since, .. } => *offline_since,
            LinkStatus::Offline { since, .. } => Some(*since),
        }
    }
}

/// What the UI shows at start and after a re-sync.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeskState {
    pub center_name: Option<String>,
    /// Today's check-ins, newest first.
    pub today: Vec<CheckinCard>,
    pub pending: usize,
    pub conflicts: Vec<Conflict>,
    pub notices: Vec<Notice>,
    pub cursor: Cursor,
    pub roster_size: usize,
}

/// What the core tells the UI.
#[derive(Debug, Clone)]
pub enum CoreEvent {
    /// The core is up: the handle to act through, and the state to show.
    Ready(DeskCore, Box<DeskState>),
    Link(LinkStatus),
    /// A new check-in (play the sound).
    Checkin(CheckinCard),
    /// A check-in changed (admitted, denied, voided).
    Updated(CheckinCard),
    Member(RosterMember),
    Notices(Vec<Notice>),
    /// The desk re-synced from a snapshot: replace everything shown.
    Resynced(DeskState),
    Recorded {
        local_id: LocalId,
        status: RecordStatus,
        reason: Option<String>,
    },
    Outbox {
        pending: usize,
        conflicts: Vec<Conflict>,
    },
    Synced {
        at: DateTime<Utc>,
    },
    ServerError {
        code: String,
        message: String,
    },
    /// The server refused this desk's token: it must be paired again.
    Unpaired(String),
    CacheRecovered(Recovered),
    /// The core could not start.
    Failed(String),
}

#[derive(Debug, thiserror::Error)]
pub enum CheckinError {
    #[error("this member is not in this desk's roster")]
    UnknownMember,
    #[error("{}", .0.message_ko())]
    Refused(Refusal),
    #[error("could not save the check-in on this PC: {0}")]
    Cache(#[from] CacheError),
}

struct Inner {
    cache: CacheHandle,
    roster: Arc<RwLock<RosterIndex>>,
    commands: mpsc::UnboundedSender<LinkCommand>,
    pairing: Pairing,
}

/// A cheap, cloneable handle to a running desk core.
#[derive(Clone)]
pub struct DeskCore(Arc<Inner>);

impl std::fmt::Debug for DeskCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeskCore")
            .field("desk_id", &self.0.pairing.desk_id)
            .finish()
    }
}

pub(crate) async fn load_state(cache: &CacheHandle) -> Result<DeskState, CacheError> {
    cache
        .call(|c| {
            let cursor = c.cursor()?;
            Ok(DeskState {
                center_name: cursor.center_name.clone(),
                today: c.today(Utc::now())?,
                pending: c.pending_count()?,
                conflicts: c.conflicts()?,
                notices: c.notices()?,
                cursor,
                roster_size: 0,
            })
        })
        .await
}

/// Opens the cache in `data_dir` and prepares the link. Returns the handle, the state to show
/// first, and the link's future, which the caller drives (spawns) until shutdown.
pub async fn start(
    data_dir: &Path,
    pairing: Pairing,
    timing: LinkTiming,
    events: mpsc::Sender<CoreEvent>,
) -> Result<
    (
        DeskCore,
        DeskState,
        impl Future<Output = ()> + Send + 'static,
    ),
    CacheError,
> {
    let (cache, recovered) = CacheHandle::open(&data_dir.join("cache.db")).await?;
    if let Some(recovered) = recovered {
        let _ = events.send(CoreEvent::CacheRecovered(recovered)).await;
    }
    // A cache made for another desk (this PC paired again) must not show that desk's
    // visitors here, nor send its check-ins as this desk's.
    let (desk, center) = (pairing.desk_id.clone(), pairing.center_id.clone());
    if let Claim::StartedOver {
        previous_desk,
        kept,
    } = cache.call(move |c| c.claim(&desk, &center)).await?
    {
        tracing::warn!(%previous_desk, kept, "started a fresh cache for this pairing");
    }
    cache.call(|c| c.prune(Utc::now())).await?;
    let members = cache.call(|c| c.roster()).await?;
    let index = tokio::task::spawn_blocking(move || RosterIndex::new(members))
        .await
        .map_err(|_| CacheError::Gone)?;
    let mut state = load_state(&cache).await?;
    state.roster_size = index.len();
    let roster = Arc::new(RwLock::new(index));
    let (commands, receiver) = mpsc::unbounded_channel();
    let core = DeskCore(Arc::new(Inner {
        cache: cache.clone(),
        roster: roster.clone(),
        commands,
        pairing: pairing.clone(),
    }));
    let link = link::run(LinkContext {
        pairing,
        data_dir: data_dir.to_owned(),
        cache,
        roster,
        events,
        commands: receiver,
        timing,
    });
    Ok((core, state, link))
}

impl DeskCore {
    pub fn pairing(&self) -> &Pairing {
        &self.0.pairing
    }

    pub async fn state(&self) -> Result<DeskState, CacheError> {
        let mut state = load_state(&self.0.cache).await?;
        state.roster_size = self.0.roster.read().map(|r| r.len()).unwrap_or(0);
        Ok(state)
    }

    /// Roster matches for what staff typed, searched on a blocking thread.
    pub async fn search(&self, query: String) -> Vec<RosterMember> {
        let roster = self.0.roster.clone();
        tokio::task::spawn_blocking(move || {
            roster
                .read()
                .map(|r| r.search(&query, SEARCH_LIMIT))
                .unwrap_or_default()
        })
        .await
        .unwrap_or_default()
    }

    /// Checks a member in from this desk: the shared policy decides with what this PC knows,
    /// the check-in goes to the outbox (durably) and its card to today's list, and the link
    /// sends it when it can. Works the same online and offline.
    pub async fn check_in(&self, member_id: &MemberId) -> Result<CheckinCard, CheckinError> {
        let member = self
            .0
            .roster
            .read()
            .ok()
            .and_then(|r| r.get(member_id).cloned())
            .ok_or(CheckinError::UnknownMember)?;
        let now = Utc::now();
        let id = member_id.clone();
        let (here_today, unsent) = self.0.cache.call(move |c| c.local_visits(&id, now)).await?;
        let pass = PassFacts {
            blocked: member.blocked,
            valid_from: member.valid_from,
            valid_until: member.valid_until,
            visits_per_month: member.visits_per_month,
        };
        // visits_left came with the last event about this member; outbox items since then
        // are not in it yet.
        let used = member
            .visits_per_month
            .map(|allowed| allowed.saturating_sub(member.visits_left.unwrap_or(allowed)))
            .unwrap_or(0)
            + unsent;
        let history = VisitHistory {
            visits_this_month: used,
            visited_this_center_today: here_today,
        };
        // The desk does not know its center's hours; staff at an open desk are the proof.
        policy::evaluate(&pass, &history, &OpeningHours::ALWAYS, now)
            .map_err(CheckinError::Refused)?;

        let local_id = LocalId::generate();
        let record = OutboxRecord {
            local_id: local_id.clone(),
            member_id: member_id.clone(),
            at: now,
            method: RecordMethod::Roster,
            proof: None,
        };
        let card = self.provisional_card(&member, &local_id, now, &history);
        let (r, c) = (record.clone(), card.clone());
        self.0
            .cache
            .call(move |cache| cache.add_offline_checkin(&r, &c))
            .await?;
        let _ = self.0.commands.send(LinkCommand::Flush);
        Ok(card)
    }

    /// The card staff see for a check-in the server has not confirmed yet. It is replaced by
    /// the server's card (same `local_id`) once the outbox syncs.
    fn provisional_card(
        &self,
        member: &RosterMember,
        local_id: &LocalId,
        now: DateTime<Utc>,
        history: &VisitHistory,
    ) -> CheckinCard {
        let pairing = &self.0.pairing;
        let today = kst::date_of(now);
        let mut flags = Vec::new();
        if (0..=7).contains(&(member.valid_until - today).num_days()) {
            flags.push(CheckinFlag::ExpiringSoon);
        }
        if member
            .birthday
            .is_some_and(|b| b.month() == today.month() && b.day() == today.day())
        {
            flags.push(CheckinFlag::Birthday);
        }
        let mut shown = member.clone();
        shown.visits_left = member
            .visits_per_month
            .map(|allowed| allowed.saturating_sub(history.visits_this_month + 1));
        CheckinCard {
            checkin: Checkin {
                id: CheckinId::new(local_id.as_str()),
                member_id: member.id.clone(),
                center_id: pairing.center_id.clone(),
                center_name: String::new(),
                status: CheckinStatus::Admitted,
                method: CheckinMethod::Roster,
                at: now,
                rev: 0,
                local_id: Some(local_id.clone()),
                desk_id: Some(pairing.desk_id.clone()),
                history: vec![CheckinChange {
                    at: now,
                    status: CheckinStatus::Admitted,
                    by: format!("desk:{}", pairing.desk_id),
                    reason: Some("recorded on this desk".into()),
                }],
                dispute: None,
            },
            member: shown,
            flags,
        }
    }

    /// Admit, deny or void a check-in. Needs the server; offline it is refused at once with
    /// a `ServerError { code: "offline" }` event.
    pub fn decide(&self, checkin_id: CheckinId, decision: Decision, reason: Option<String>) {
        let _ = self
            .0
            .commands
            .send(LinkCommand::Decide(DeskMessage::Decide {
                checkin_id,
                decision,
                reason,
            }));
    }

    /// Staff have seen a conflict; it leaves the list.
    pub async fn acknowledge(&self, local_id: LocalId) -> Result<Vec<Conflict>, CacheError> {
        self.0
            .cache
            .call(move |c| {
                c.acknowledge(&local_id)?;
                c.conflicts()
            })
            .await
    }

    pub fn retry_now(&self) {
        let _ = self.0.commands.send(LinkCommand::RetryNow);
    }

    pub fn shutdown(&self) {
        let _ = self.0.commands.send(LinkCommand::Shutdown);
    }
}
