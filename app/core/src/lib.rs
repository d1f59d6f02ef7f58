//! The desk's core: cache, outbox, link and sync, in plain Rust with no widgets (the UI only
//! wraps it, like Halloy's `data` crate). Tested without a window.

pub mod backoff;
pub mod cache;
pub mod config;
pub mod health;
pub mod install;
pub mod instance;
pub mod link;
pub mod logs;
pub mod roster;
pub mod store;
pub mod update;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use gymgate_shared::api::{
    Checkin, CheckinCard, CheckinChange, CheckinMethod, CheckinStatus, LookupResult, Notice,
    RosterMember,
};
use gymgate_shared::pass::{self, PassError};
use gymgate_shared::policy::{self, PassFacts, Refusal, VisitHistory};
use gymgate_shared::protocol::{
    Decision, DeskMessage, ManualEntry, OutboxRecord, RecordMethod, RecordStatus,
};
use gymgate_shared::{CheckinId, LocalId, MemberId, kst};
use tokio::sync::mpsc;

use cache::{CacheError, Claim, Conflict, Cursor, Recovered};
use config::Pairing;
use link::{LinkCommand, LinkContext, LinkTiming};
use roster::RosterIndex;
use store::CacheHandle;

/// The user's data directory for the desk (a `demo` folder for `--demo`, so trying the demo
/// never touches a real pairing).
pub fn default_data_dir(demo: bool) -> PathBuf {
    let base = directories::ProjectDirs::from("kr", "gymgate", "gymgate-desk")
        .map(|dirs| dirs.data_dir().to_owned())
        .unwrap_or_else(|| PathBuf::from("gymgate-desk-data"));
    if demo { base.join("demo") } else { base }
}

/// Logs to a daily file in the data directory, two weeks kept (and to stderr in debug
/// builds). A log folder that cannot be made leaves logging on stderr alone: the desk still
/// runs.
pub fn init_logging(data_dir: &Path) -> tracing_appender::non_blocking::WorkerGuard {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let (file, guard) = match instance::log_files(data_dir) {
        Ok(appender) => tracing_appender::non_blocking(appender),
        Err(error) => {
            eprintln!(
                "gymgate-desk: cannot write logs under {}: {error}",
                data_dir.display()
            );
            tracing_appender::non_blocking(std::io::sink())
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,wgpu=warn,iced=warn"));
    let registry = tracing_subscriber::registry().with(filter).with(
        tracing_subscriber::fmt::layer()
            .with_writer(file)
            .with_ansi(false),
    );
    if cfg!(debug_assertions) {
        registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .init();
    } else {
        registry.init();
    }
    // A Windows GUI program has no console: without this a crash leaves nothing for support.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!(panic = %info, "the desk stopped on an internal error");
        default_hook(info);
    }));
    guard
}

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
    /// Whom staff can call or message, as operators last set it.
    pub support: Option<gymgate_shared::api::SupportContact>,
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
    /// Operators changed whom staff can reach.
    Support(gymgate_shared::api::SupportContact),
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
    /// The server refused this desk's token: it must be paired again. Carries the server's
    /// code: `token_revoked` (an operator unpaired it) or `invalid_token` (the server does
    /// not know it: another server, or its database was made anew).
    Unpaired(String),
    CacheRecovered(Recovered),
    /// The core could not start.
    Failed(String),
}

#[derive(Debug, thiserror::Error)]
pub enum CheckinError {
    #[error("this member is not in this desk's roster")]
    UnknownMember,
    /// A check-in on staff's judgement needs the member number and what staff checked.
    #[error("a member number and a note are needed")]
    ManualIncomplete,
    #[error("{}", .0.message_ko())]
    Refused(Refusal),
    #[error("could not save the check-in on this PC: {0}")]
    Cache(#[from] CacheError),
}

/// Why a scanned pass did not let the member in.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The code itself: not a pass, forged, expired, replayed, revoked …
    #[error("{}", .0.message_ko())]
    Pass(#[from] PassError),
    /// A good pass, refused by the rules (or not saved).
    #[error(transparent)]
    Checkin(#[from] CheckinError),
}

impl ScanError {
    /// The member a refused code was issued to, when the server's and the phone's signatures
    /// held (so the name is the server's word): a replayed, stale or revoked code, or a
    /// member the rules refuse. A forged or garbled code names nobody.
    pub fn member_name(&self, typed: &str) -> Option<String> {
        let trusted = match self {
            ScanError::Pass(problem) => matches!(
                problem,
                PassError::CertificateExpired
                    | PassError::Stale
                    | PassError::FromTheFuture
                    | PassError::Replayed
                    | PassError::Revoked
            ),
            ScanError::Checkin(CheckinError::Refused(_)) => true,
            ScanError::Checkin(_) => false,
        };
        if !trusted {
            return None;
        }
        pass::parse(&pass::from_keyboard(typed))
            .ok()
            .map(|shown| shown.certificate.name)
    }
}

impl From<CacheError> for ScanError {
    fn from(error: CacheError) -> Self {
        ScanError::Checkin(CheckinError::Cache(error))
    }
}

/// Why the server could not be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("type a member number, or a name and the last 4 phone digits")]
    NotAQuery,
    #[error("the server cannot be reached")]
    Unreachable,
    #[error("too many lookups; wait a moment")]
    TooMany,
    /// The desk made its lookups for today (operators set the cap).
    #[error("this desk's lookups for today are used up")]
    DailyLimit,
    #[error("this desk is not paired any more")]
    Unpaired,
}

/// Why the statement check could not compare.
#[derive(Debug, thiserror::Error)]
pub enum StatementError {
    #[error("the server cannot be reached")]
    Unreachable,
    #[error(transparent)]
    Cache(CacheError),
}

/// What staff typed, as the server can look it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupQuery {
    MemberNo(String),
    NamePhone(String, String),
}

impl LookupQuery {
    /// "100234" or "A-1001" is a member number; "김민준 1234" (or "김민준1234") a name and the
    /// last four digits of the phone. Anything else the server is not asked.
    pub fn parse(text: &str) -> Option<LookupQuery> {
        let text = text.trim();
        let four_digits = |d: &str| d.len() == 4 && d.chars().all(|c| c.is_ascii_digit());
        // "name 1234": the last word is the four digits.
        if let Some((name, digits)) = text.rsplit_once(char::is_whitespace)
            && four_digits(digits)
            && !name.trim().is_empty()
        {
            return Some(LookupQuery::NamePhone(
                name.trim().to_owned(),
                digits.to_owned(),
            ));
        }
        // "김민준1234": a Korean name runs straight into the digits.
        if let Some(split) = text.len().checked_sub(4)
            && text.is_char_boundary(split)
            && four_digits(&text[split..])
            && !text[..split].is_empty()
            && text[..split].chars().all(|c| !c.is_ascii())
        {
            return Some(LookupQuery::NamePhone(
                text[..split].to_owned(),
                text[split..].to_owned(),
            ));
        }
        let plausible = (1..=20).contains(&text.len())
            && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && text.chars().any(|c| c.is_ascii_digit());
        plausible.then(|| LookupQuery::MemberNo(text.to_owned()))
    }
}

/// A member known only by their pass certificate (new to this center, scanned offline).
fn member_from_certificate(cert: &pass::Certificate) -> RosterMember {
    RosterMember {
        id: cert.member_id.clone(),
        member_no: String::new(),
        name: cert.name.clone(),
        phone_last4: String::new(),
        plan: cert.plan.clone(),
        valid_from: cert.valid_from,
        valid_until: cert.valid_until,
        // Only what was left at issue is known: taken as the whole allowance, so the policy
        // sees those visits left (none left stays none: an allowance of 1, 1 used).
        visits_per_month: cert.visits_left.map(|left| left.max(1)),
        visits_left: cert.visits_left,
        blocked: false,
        birthday: None,
        photo_url: None,
    }
}

struct Inner {
    cache: CacheHandle,
    roster: Arc<RwLock<RosterIndex>>,
    commands: mpsc::UnboundedSender<LinkCommand>,
    pairing: Pairing,
    /// The server's clock minus this PC's, in milliseconds, as learned at the last `welcome`
    /// (kept in the cache for offline starts). Check-in times and pass checks use it: a PC
    /// clock ten minutes fast must neither date visits wrongly nor refuse fresh passes.
    clock_offset: Arc<AtomicI64>,
    /// The server address the link uses now (several nodes: the one that answers).
    server: Arc<RwLock<String>>,
    /// Members' photos, next to the cache: shown offline too.
    photos: PathBuf,
    updater: Arc<update::Updater>,
    /// Signs the presence codes the desk shows at the entrance; `None` where the key could not
    /// be kept (the desk works on, without presence codes).
    presence: Option<ed25519_dalek::SigningKey>,
}

/// Photos live in this folder of the data directory.
pub const PHOTOS_DIR: &str = "photos";
/// A thumbnail from the server is a few tens of KB; more is not a photo of ours.
const MAX_PHOTO_BYTES: usize = 1024 * 1024;

/// `<member id>-<version>.jpg` from a photo URL (`…/photos/<id>?v=<version>`), with only safe
/// characters: the name comes from the server and must not reach outside the folder.
pub fn photo_file_name(member_id: &str, url: &str) -> Option<String> {
    let version = url.split_once("?v=").map_or("0", |(_, v)| v);
    let safe = |text: &str| {
        !text.is_empty()
            && text.len() <= 64
            && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    (safe(member_id) && safe(version)).then(|| format!("{member_id}-{version}.jpg"))
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
                support: c.support()?,
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
    let starts = {
        let dir = data_dir.to_owned();
        tokio::task::spawn_blocking(move || health::note_start(&dir, Utc::now()))
            .await
            .unwrap_or_default()
    };
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
    let offset = cache.call(|c| c.clock_offset()).await?;
    let clock_offset = Arc::new(AtomicI64::new(offset.num_milliseconds()));
    let members = cache.call(|c| c.roster()).await?;
    let index = tokio::task::spawn_blocking(move || RosterIndex::new(members))
        .await
        .map_err(|_| CacheError::Gone)?;
    let mut state = load_state(&cache).await?;
    state.roster_size = index.len();
    let roster = Arc::new(RwLock::new(index));
    let (commands, receiver) = mpsc::unbounded_channel();
    let server = Arc::new(RwLock::new(pairing.server_url.clone()));
    let presence = {
        let (dir, desk) = (data_dir.to_owned(), pairing.desk_id.clone());
        match tokio::task::spawn_blocking(move || config::presence_key(&dir, &desk)).await {
            Ok(Ok(key)) => Some(key),
            Ok(Err(error)) => {
                tracing::warn!(%error, "no presence key: the desk shows no entrance QR");
                None
            }
            Err(_) => None,
        }
    };
    let updater = Arc::new(update::Updater::new(
        data_dir,
        timing.release_keys.clone(),
        timing.update_bytes_per_s,
    ));
    let core = DeskCore(Arc::new(Inner {
        updater: updater.clone(),
        cache: cache.clone(),
        roster: roster.clone(),
        commands,
        pairing: pairing.clone(),
        clock_offset: clock_offset.clone(),
        server: server.clone(),
        photos: data_dir.join(PHOTOS_DIR),
        presence: presence.clone(),
    }));
    let link = link::run(LinkContext {
        updater,
        home: pairing.server_url.clone(),
        server,
        pairing,
        data_dir: data_dir.to_owned(),
        cache,
        roster,
        clock_offset,
        events,
        commands: receiver,
        timing,
        starts,
        last_sync: None,
        presence_key: presence
            .as_ref()
            .map(gymgate_shared::presence::public_key_text),
    });
    Ok((core, state, link))
}

impl DeskCore {
    pub fn pairing(&self) -> &Pairing {
        &self.0.pairing
    }

    /// Whether a checked release waits and its rollout's hours allow installing it now; the
    /// window installs it at the next quiet moment at the counter.
    pub fn update_due(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.0.updater.due(now)
    }

    /// Hands the waiting release to the update helper; the desk must close when this returns
    /// `Ok` (the helper installs once it has, and starts the new version). `args` are the
    /// desk's own arguments, for the new version to start the same way.
    pub async fn install_update(&self, args: Vec<String>) -> Result<String, String> {
        let updater = self.0.updater.clone();
        match tokio::task::spawn_blocking(move || updater.install(args)).await {
            Ok(Ok(version)) => Ok(version),
            Ok(Err(error)) => {
                tracing::error!(%error, "cannot hand the update over");
                Err(error.to_string())
            }
            Err(error) => Err(error.to_string()),
        }
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

    /// The presence code to show now at the entrance (`gymgate_shared::presence`): the
    /// member's phone scans it and taps Enter with it. Drawn anew every few seconds; needs no
    /// link. `None` where the desk has no key.
    pub fn presence_code(&self) -> Option<String> {
        self.presence_code_at(self.now())
    }

    /// [`DeskCore::presence_code`] as it was (or will be) at `at`.
    pub fn presence_code_at(&self, at: DateTime<Utc>) -> Option<String> {
        let key = self.0.presence.as_ref()?;
        Some(gymgate_shared::presence::code(
            &self.0.pairing.center_id,
            &self.0.pairing.desk_id,
            key,
            at,
        ))
    }

    /// Now, by the server's clock as this desk last learned it.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.0.clock_offset.load(Ordering::Relaxed))
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
        self.admit(member, RecordMethod::Roster, None).await
    }

    /// Checks in a pass holder the server found (a member new to this center): they join
    /// this center's roster, then come in like anyone on it.
    pub async fn check_in_found(&self, found: LookupResult) -> Result<CheckinCard, CheckinError> {
        let member = found.member;
        self.remember(member.clone()).await?;
        self.admit(member, RecordMethod::Roster, None).await
    }

    /// A scanned offline pass (what the scanner typed): checked with the server's public keys
    /// alone, so it works with the member's phone offline and the server down; then the
    /// member comes in with the pass as proof, which the server checks again on sync. Online
    /// the check-in is sent at once, through the same outbox.
    pub async fn scan(&self, typed: &str) -> Result<CheckinCard, ScanError> {
        let text = pass::from_keyboard(typed);
        let shown = pass::parse(&text)?;
        let member_id = shown.certificate.member_id.clone();
        let fingerprint = shown.fingerprint();
        let (keys, revoked, seen) = {
            let (member_id, fingerprint) = (member_id.clone(), fingerprint.clone());
            self.0
                .cache
                .call(move |c| {
                    Ok((
                        c.pass_keys()?,
                        c.revoked_since(&member_id)?,
                        c.pass_seen(&fingerprint)?,
                    ))
                })
                .await
                .map_err(CheckinError::from)?
        };
        shown.verify(&keys, self.now())?;
        if revoked.is_some_and(|at| shown.certificate.issued_at < at) {
            return Err(PassError::Revoked.into());
        }
        if seen {
            return Err(PassError::Replayed.into());
        }
        // What the desk knows of the member is fresher than the certificate (issued up to a
        // week ago); a member new to this center is known by the certificate alone.
        let known = self
            .0
            .roster
            .read()
            .ok()
            .and_then(|r| r.get(&member_id).cloned());
        let member = match known {
            Some(member) => member,
            None => {
                let member = member_from_certificate(&shown.certificate);
                self.remember(member.clone()).await?;
                member
            }
        };
        Ok(self
            .admit(member, RecordMethod::Pass, Some((text, fingerprint)))
            .await?)
    }

    /// Adds a member to this center's roster (cache and search index).
    async fn remember(&self, member: RosterMember) -> Result<(), CacheError> {
        let stored = member.clone();
        self.0
            .cache
            .call(move |c| c.put_roster(std::slice::from_ref(&stored)))
            .await?;
        if let Ok(mut roster) = self.0.roster.write() {
            roster.upsert(member);
        }
        Ok(())
    }

    /// The shared policy with what this desk knows, then the outbox.
    async fn admit(
        &self,
        member: RosterMember,
        method: RecordMethod,
        pass: Option<(String, String)>,
    ) -> Result<CheckinCard, CheckinError> {
        let now = self.now();
        let id = member.id.clone();
        let ((here_today, unsent), hours) = self
            .0
            .cache
            .call(move |c| Ok((c.local_visits(&id, now)?, c.hours()?)))
            .await?;
        let pass_facts = PassFacts {
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
        policy::evaluate(&pass_facts, &history, &hours, now).map_err(CheckinError::Refused)?;

        let local_id = LocalId::generate();
        let (proof, fingerprint) = match pass {
            Some((proof, fingerprint)) => (Some(proof), Some(fingerprint)),
            None => (None, None),
        };
        let record = OutboxRecord {
            local_id: local_id.clone(),
            member_id: member.id.clone(),
            at: now,
            method,
            proof,
            manual: None,
        };
        let card = self.provisional_card(&member, &local_id, now, &history, method);
        let (r, c) = (record.clone(), card.clone());
        self.0
            .cache
            .call(move |cache| cache.add_checkin_with(&r, &c, fingerprint.as_deref()))
            .await?;
        let _ = self.0.commands.send(LinkCommand::Flush);
        Ok(card)
    }

    /// A member not in this PC's cache, with no pass to scan (a dead phone), let in on staff's
    /// judgement: the member number they gave and what staff checked go to the outbox with
    /// their own method. The server finds the member by number and judges the visit like any
    /// other on sync; one its rules refuse is kept as disputed, an unknown number comes back
    /// to staff's list of conflicts. Nothing is decided here, so it works with no data at all.
    pub async fn check_in_manual(
        &self,
        member_no: &str,
        note: &str,
    ) -> Result<CheckinCard, CheckinError> {
        let member_no: String = member_no.trim().chars().take(20).collect();
        let note: String = note.trim().chars().take(200).collect();
        if member_no.is_empty() || note.is_empty() {
            return Err(CheckinError::ManualIncomplete);
        }
        let now = self.now();
        let local_id = LocalId::generate();
        let record = OutboxRecord {
            local_id: local_id.clone(),
            member_id: MemberId::new(""),
            at: now,
            method: RecordMethod::Manual,
            proof: None,
            manual: Some(ManualEntry {
                member_no: member_no.clone(),
                note: note.clone(),
            }),
        };
        // Who it is the server will say; until then the card shows the number staff typed.
        let member = RosterMember {
            id: MemberId::new(""),
            member_no,
            name: String::new(),
            phone_last4: String::new(),
            plan: String::new(),
            valid_from: kst::date_of(now),
            valid_until: kst::date_of(now),
            visits_per_month: None,
            visits_left: None,
            blocked: false,
            birthday: None,
            photo_url: None,
        };
        let mut card = self.provisional_card(
            &member,
            &local_id,
            now,
            &VisitHistory::default(),
            RecordMethod::Manual,
        );
        card.flags.clear();
        if let Some(first) = card.checkin.history.first_mut() {
            first.reason = Some(format!("staff judgement: {note}"));
        }
        let (r, c) = (record.clone(), card.clone());
        self.0
            .cache
            .call(move |cache| cache.add_checkin_with(&r, &c, None))
            .await?;
        let _ = self.0.commands.send(LinkCommand::Flush);
        Ok(card)
    }

    /// The member's photo on this PC, fetched from the server first if it is not here yet
    /// (with this desk's token). `None`: the member has no photo, or it is not here and the
    /// server cannot be reached now (the card shows the initial meanwhile).
    pub async fn photo(&self, member: &RosterMember) -> Option<PathBuf> {
        let url = member.photo_url.as_deref()?;
        let path = self
            .0
            .photos
            .join(photo_file_name(member.id.as_str(), url)?);
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Some(path);
        }
        match self.fetch_photo(url, &path).await {
            Ok(()) => Some(path),
            Err(error) => {
                tracing::debug!(member = %member.id, %error, "photo not fetched");
                None
            }
        }
    }

    /// A GET of `path` on the server the link uses now (it may have failed over), as this
    /// desk, answered within `seconds`.
    fn desk_get(
        &self,
        path: &str,
        seconds: u64,
    ) -> Result<reqwest::RequestBuilder, reqwest::Error> {
        let pairing = &self.0.pairing;
        let server = self
            .0
            .server
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|_| pairing.server_url.clone());
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(seconds))
            .build()?;
        Ok(client
            .get(format!("{server}{path}"))
            .bearer_auth(&pairing.token))
    }

    async fn fetch_photo(&self, url: &str, path: &Path) -> Result<(), String> {
        let response = self
            .desk_get(url, 10)
            .map_err(|e| e.to_string())?
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("server answered {}", response.status()));
        }
        let bytes = response.bytes().await.map_err(|e| e.to_string())?;
        // The server sends small JPEGs; anything else is not kept.
        if bytes.len() > MAX_PHOTO_BYTES || !bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return Err("not a photo".into());
        }
        let dir = self.0.photos.clone();
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            // Written whole, then renamed: a crash never leaves half a photo under the name.
            let partial = path.with_extension("part");
            std::fs::write(&partial, &bytes)?;
            std::fs::rename(&partial, &path)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
    }

    /// Any active pass holder, from the server (online only): by member number, or by name
    /// and the last four phone digits ("김민준 1234").
    pub async fn lookup(&self, query: &str) -> Result<Vec<LookupResult>, LookupError> {
        let query = LookupQuery::parse(query).ok_or(LookupError::NotAQuery)?;
        let request = self
            .desk_get("/api/v1/desk/lookup", 5)
            .map_err(|_| LookupError::Unreachable)?;
        let request = match &query {
            LookupQuery::MemberNo(no) => request.query(&[("member_no", no.as_str())]),
            LookupQuery::NamePhone(name, last4) => {
                request.query(&[("name", name.as_str()), ("phone_last4", last4.as_str())])
            }
        };
        let response = request.send().await.map_err(|_| LookupError::Unreachable)?;
        match response.status().as_u16() {
            200 => response.json().await.map_err(|_| LookupError::Unreachable),
            429 => {
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                if body["error"]["code"] == "lookup_daily_limit" {
                    Err(LookupError::DailyLimit)
                } else {
                    Err(LookupError::TooMany)
                }
            }
            401 => Err(LookupError::Unpaired),
            _ => Err(LookupError::Unreachable),
        }
    }

    /// The card staff see for a check-in the server has not confirmed yet. It is replaced by
    /// the server's card (same `local_id`) once the outbox syncs.
    fn provisional_card(
        &self,
        member: &RosterMember,
        local_id: &LocalId,
        now: DateTime<Utc>,
        history: &VisitHistory,
        method: RecordMethod,
    ) -> CheckinCard {
        let pairing = &self.0.pairing;
        // Whether this is a first visit here only the server knows; the other flags follow
        // the one rule the server's cards use.
        let flags = policy::flags(false, member.valid_until, member.birthday, false, now);
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
                method: match method {
                    RecordMethod::Roster => CheckinMethod::Roster,
                    RecordMethod::Pass => CheckinMethod::Pass,
                    RecordMethod::Manual => CheckinMethod::Manual,
                },
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

    /// This desk's statement digests for the Korean days in `[from, to)` it holds, to compare
    /// with the center's monthly statement (docs/settlement.md).
    pub async fn statement_days(
        &self,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<gymgate_shared::settlement::StatementDay>, CacheError> {
        self.0.cache.call(move |c| c.statement_days(from, to)).await
    }

    /// The center's statement from the server for `[from, to)`, day by day against this
    /// desk's own record: "일치", or what differs. Needs the server.
    pub async fn check_statement(
        &self,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<gymgate_shared::settlement::DayCheck>, StatementError> {
        let ours = self
            .statement_days(from, to)
            .await
            .map_err(StatementError::Cache)?;
        let response = self
            .desk_get("/api/v1/desk/statement", 10)
            .map_err(|_| StatementError::Unreachable)?
            .query(&[("from", from.to_string()), ("to", to.to_string())])
            .send()
            .await
            .map_err(|_| StatementError::Unreachable)?;
        if !response.status().is_success() {
            return Err(StatementError::Unreachable);
        }
        let theirs: Vec<gymgate_shared::settlement::StatementDay> = response
            .json()
            .await
            .map_err(|_| StatementError::Unreachable)?;
        Ok(gymgate_shared::settlement::compare(&theirs, &ours))
    }

    /// Unpairing: the cache forgets members (see [`cache::Cache::forget_members`]) and the
    /// search index empties. Call before [`DeskCore::shutdown`].
    pub async fn forget_members(&self) -> Result<(), CacheError> {
        // Photos are member data too.
        if let Err(error) = tokio::fs::remove_dir_all(&self.0.photos).await
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::error!(%error, "cannot delete the members' photos");
        }
        self.0.cache.call(|c| c.forget_members()).await?;
        if let Ok(mut roster) = self.0.roster.write() {
            *roster = RosterIndex::new(Vec::new());
        }
        Ok(())
    }

    /// Stops the link. Asked for, this is a clean stop: the next start is not a crash.
    pub fn shutdown(&self) {
        let _ = self.0.commands.send(LinkCommand::Shutdown);
        if let Some(data_dir) = self.0.photos.parent() {
            health::note_clean_stop(data_dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LookupQuery;
    use super::{CoreEvent, LinkStatus, LinkTiming, start};
    use crate::config::Pairing;
    use gymgate_shared::{CenterId, DeskId};
    use std::time::Duration;

    /// With the server unreachable (a closed port on loopback), the link says it is offline
    /// from the first failure, keeps the time it went offline, and retries with jittered,
    /// growing waits; shutting it down ends it. Runs on Windows too (sockets, timers, cache).
    #[tokio::test]
    async fn an_unreachable_server_is_retried_with_growing_waits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            probe.local_addr().expect("addr").port()
        };
        let pairing = Pairing {
            server_url: format!("http://127.0.0.1:{port}"),
            desk_id: DeskId::new("d1"),
            center_id: CenterId::new("c1"),
            desk_name: "1층".into(),
            token: "token".into(),
            servers: Vec::new(),
        };
        let timing = LinkTiming {
            backoff_base: Duration::from_millis(20),
            backoff_cap: Duration::from_millis(400),
            connect_timeout: Duration::from_secs(5),
            dead_after: Duration::from_secs(5),
            health_every: Duration::from_secs(30),
            ..LinkTiming::default()
        };
        let (events, mut received) = tokio::sync::mpsc::channel(64);
        let (core, _state, link) = start(dir.path(), pairing, timing, events)
            .await
            .expect("start");
        let link = tokio::spawn(link);
        let mut attempts = Vec::new();
        let mut offline = Vec::new();
        while offline.len() < 5 {
            let event = tokio::time::timeout(Duration::from_secs(20), received.recv())
                .await
                .expect("a link event in time")
                .expect("the core is running");
            match event {
                CoreEvent::Link(LinkStatus::Connecting { attempt, .. }) => attempts.push(attempt),
                CoreEvent::Link(LinkStatus::Offline {
                    since, retry_at, ..
                }) => offline.push((since, retry_at)),
                CoreEvent::Link(LinkStatus::Online { .. }) => panic!("online with no server"),
                _ => {}
            }
        }
        assert!(attempts.windows(2).all(|w| w[1] > w[0]), "{attempts:?}");
        // Offline since the first failure, however many retries followed.
        assert!(offline.iter().all(|(since, _)| *since == offline[0].0));
        // Each retry is planned after the one before, and never further out than the cap
        // (400 ms) plus the time a refused connection takes.
        let retries: Vec<_> = offline.iter().map(|(_, retry_at)| *retry_at).collect();
        assert!(retries.windows(2).all(|w| w[1] > w[0]), "{retries:?}");
        let gaps: Vec<i64> = retries
            .windows(2)
            .map(|w| (w[1] - w[0]).num_milliseconds())
            .collect();
        assert!(gaps.iter().all(|gap| *gap < 3_000), "{gaps:?}");
        core.shutdown();
        tokio::time::timeout(Duration::from_secs(10), link)
            .await
            .expect("the link stops when shut down")
            .expect("the link task");
    }

    #[test]
    fn what_staff_type_is_a_member_number_or_a_name_and_four_digits() {
        let name = |n: &str, d: &str| Some(LookupQuery::NamePhone(n.into(), d.into()));
        let number = |n: &str| Some(LookupQuery::MemberNo(n.into()));
        assert_eq!(LookupQuery::parse("100234"), number("100234"));
        assert_eq!(LookupQuery::parse(" NC0001 "), number("NC0001"));
        assert_eq!(LookupQuery::parse("A-1001"), number("A-1001"));
        assert_eq!(LookupQuery::parse("김민준 1234"), name("김민준", "1234"));
        assert_eq!(LookupQuery::parse("김민준1234"), name("김민준", "1234"));
        assert_eq!(
            LookupQuery::parse("Kim Minjun 0042"),
            name("Kim Minjun", "0042")
        );
        assert_eq!(LookupQuery::parse("김민준"), None);
        assert_eq!(LookupQuery::parse("김민준 123"), None);
        assert_eq!(LookupQuery::parse(""), None);
        assert_eq!(LookupQuery::parse("abc"), None);
    }
}
