//! What the app shows: the phase (pairing or running), the running desk's state, the view.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use gymgate_desk_core::cache::Conflict;
use gymgate_desk_core::config::Pairing;
use gymgate_desk_core::{DeskCore, DeskState, LinkStatus};
use gymgate_shared::api::{CheckinCard, CheckinStatus, Notice, RosterMember};
use gymgate_shared::protocol::Decision;
use gymgate_shared::{CheckinId, MemberId};

use super::Command;
use super::screen::{decide, pairing, search, settings};

/// How long after the last arrival the desk counts as quiet enough to update itself.
pub const QUIET: std::time::Duration = std::time::Duration::from_secs(3 * 60);
/// How long staff see the update's line before the window closes for it.
pub const UPDATE_NOTICE: std::time::Duration = std::time::Duration::from_secs(3);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Board,
    Search,
    Conflicts,
    Settings,
    /// The entrance QR, full size, for members' phones to scan.
    Entrance,
}

pub enum Phase {
    Pairing(pairing::Pairing),
    Running(Box<Running>),
}

/// Everything the running desk shows.
pub struct Running {
    pub pairing: Pairing,
    pub core: Option<DeskCore>,
    pub link: LinkStatus,
    pub center_name: Option<String>,
    /// Today's check-ins, newest first.
    pub today: Vec<CheckinCard>,
    /// The check-in shown big (the newest, unless staff picked one).
    pub featured: Option<CheckinId>,
    pub pending: usize,
    pub conflicts: Vec<Conflict>,
    pub notices: Vec<Notice>,
    /// Whom staff can call or message (operators set it; shown while offline).
    pub support: Option<gymgate_shared::api::SupportContact>,
    pub last_sync: Option<DateTime<Utc>>,
    pub view: View,
    pub search: search::Search,
    pub settings_screen: settings::SettingsScreen,
    /// A short message for staff (errors from the server, cache recovery).
    pub toast: Option<String>,
    /// What the scanner has typed so far into the board's scan field.
    pub scan: String,
    /// What the last scan did: (let in, text).
    pub scan_outcome: Option<(bool, String)>,
    /// A refused scan: it takes the big card until staff dismiss it or someone comes in.
    pub refusal: Option<ScanRefusal>,
    /// Check-ins made elsewhere while this desk was cut off, counted as they are replayed
    /// after it is back (one line on the board instead of a hundred cards flashing by).
    pub missed: Option<Missed>,
    /// A void or deny waiting for its reason and confirmation (shown instead of the board).
    pub deciding: Option<decide::Deciding>,
    /// When someone last arrived (a check-in shown): an update waits for a quiet moment.
    pub last_arrival: Option<DateTime<Utc>>,
    /// A downloaded release about to be installed: since when staff see the line about it.
    pub installing: Option<DateTime<Utc>>,
    /// The release is with the update helper; the window closes.
    pub handing_over: bool,
    /// The last hand-over to the update helper that failed (tried again later, not at once).
    pub install_failed: Option<DateTime<Utc>>,
    /// Members' photos on this PC, by member (fetched once, kept next to the cache).
    pub photos: std::collections::HashMap<MemberId, PathBuf>,
    /// Photo URLs asked for already (each once per run, found or not).
    pub photos_asked: std::collections::HashSet<String>,
    /// The entrance QR shown now, while staff have it open.
    pub entrance: Option<Entrance>,
}

/// A presence code as the entrance screen draws it.
pub struct Entrance {
    pub drawn: DateTime<Utc>,
    pub code: String,
    pub data: iced::widget::qr_code::Data,
}

/// How often the entrance QR is drawn anew (a code is good for 15 s).
pub const ENTRANCE_REDRAW: chrono::Duration = chrono::Duration::seconds(5);

/// A scanned code the desk did not let in, as staff see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanRefusal {
    /// Why, in large words ("이미 사용된 코드입니다").
    pub reason: String,
    /// Whose code it is, when the code can be trusted to say.
    pub name: Option<String>,
    /// What staff should do now.
    pub next: String,
}

/// Since the link last came back: check-ins made before that moment that arrived after it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Missed {
    pub back_at: DateTime<Utc>,
    pub count: usize,
}

impl Running {
    /// Draws the entrance QR anew when it is due (or not drawn yet); `None` without a key.
    pub fn refresh_entrance(&mut self, now: DateTime<Utc>) {
        if self
            .entrance
            .as_ref()
            .is_some_and(|e| now - e.drawn < ENTRANCE_REDRAW)
        {
            return;
        }
        self.entrance = self
            .core
            .as_ref()
            .and_then(|core| core.presence_code())
            .and_then(|code| {
                let data = iced::widget::qr_code::Data::new(code.as_bytes()).ok()?;
                Some(Entrance {
                    drawn: now,
                    code,
                    data,
                })
            });
    }

    pub fn new(pairing: Pairing) -> Running {
        Running {
            pairing,
            core: None,
            link: LinkStatus::Connecting {
                attempt: 0,
                offline_since: None,
            },
            center_name: None,
            today: Vec::new(),
            featured: None,
            refusal: None,
            pending: 0,
            conflicts: Vec::new(),
            notices: Vec::new(),
            support: None,
            last_sync: None,
            view: View::Board,
            search: search::Search::default(),
            settings_screen: settings::SettingsScreen::default(),
            toast: None,
            scan: String::new(),
            scan_outcome: None,
            missed: None,
            deciding: None,
            last_arrival: None,
            installing: None,
            handing_over: false,
            install_failed: None,
            photos: Default::default(),
            photos_asked: Default::default(),
            entrance: None,
        }
    }

    /// Asks the core for the photos of these members that are not shown yet.
    pub(super) fn want_photos<'a>(
        &mut self,
        members: impl IntoIterator<Item = &'a RosterMember>,
    ) -> Vec<Command> {
        let Some(core) = self.core.clone() else {
            return vec![];
        };
        members
            .into_iter()
            .filter(|m| {
                m.photo_url
                    .as_ref()
                    .is_some_and(|url| self.photos_asked.insert(url.clone()))
            })
            .map(|m| Command::Photo(core.clone(), Box::new(m.clone())))
            .collect()
    }

    /// Whether a release can be installed now: nobody arrived in the last few minutes and
    /// nothing is half-done on screen (a decision, a refusal, a search, a scan being typed).
    pub fn quiet(&self, now: DateTime<Utc>) -> bool {
        self.view == View::Board
            && self.deciding.is_none()
            && self.refusal.is_none()
            && self.scan.is_empty()
            && self.search.manual.is_none()
            && self
                .last_arrival
                .is_none_or(|at| now - at >= chrono::Duration::from_std(QUIET).unwrap_or_default())
    }

    pub(super) fn online(&self) -> bool {
        matches!(self.link, LinkStatus::Online { .. })
    }

    pub(super) fn apply_state(&mut self, state: DeskState) {
        self.center_name = state.center_name.or(self.center_name.take());
        self.today = state.today;
        self.pending = state.pending;
        self.conflicts = state.conflicts;
        self.notices = state.notices;
        self.support = state.support.or(self.support.take());
        self.last_sync = state.cursor.synced_at;
    }

    /// Puts a card in today's list (replacing an older copy, or the provisional one made
    /// offline for the same visit) and shows it big.
    pub(super) fn upsert_card(&mut self, card: CheckinCard, feature: bool) {
        let local = card.checkin.local_id.clone();
        self.today.retain(|c| {
            c.checkin.id != card.checkin.id
                && local
                    .as_ref()
                    .is_none_or(|l| c.checkin.id.as_str() != l.as_str())
        });
        // The server's card takes over from the provisional one if that was shown big.
        let replaces_featured = local.as_ref().is_some_and(|l| {
            self.featured
                .as_ref()
                .is_some_and(|f| f.as_str() == l.as_str())
        });
        let at = card.checkin.at;
        let index = self
            .today
            .iter()
            .position(|c| c.checkin.at < at)
            .unwrap_or(self.today.len());
        // A replayed check-in older than what is on the list does not take the big card: after
        // a blip the board ends on the newest, not on whichever came last.
        if (feature && index == 0) || replaces_featured {
            self.featured = Some(card.checkin.id.clone());
        }
        self.today.insert(index, card);
    }

    /// Admitting happens at once; voiding and denying first ask why (see `decide`).
    pub(super) fn start_decision(&mut self, id: CheckinId, decision: Decision) -> Vec<Command> {
        if decision == Decision::Admit {
            return match self.core.clone() {
                Some(core) => vec![Command::Decide(core, id, decision, None)],
                None => vec![],
            };
        }
        let member = self
            .today
            .iter()
            .find(|c| c.checkin.id == id)
            .map(|c| c.member.name.clone())
            .unwrap_or_default();
        self.view = View::Board;
        self.deciding = Some(decide::Deciding::new(id, member, decision));
        vec![]
    }

    /// The featured card's decision for a shortcut key, if that card allows it.
    pub(super) fn featured_decision(&self, decision: Decision) -> Option<CheckinId> {
        let card = self.featured_card()?;
        let allowed = match decision {
            Decision::Admit | Decision::Deny => card.checkin.status == CheckinStatus::Pending,
            Decision::Void => matches!(
                card.checkin.status,
                CheckinStatus::Admitted | CheckinStatus::Pending
            ),
        };
        // A card made on this PC offline and not confirmed yet has no server id to decide on.
        (allowed && card.checkin.rev > 0).then(|| card.checkin.id.clone())
    }

    pub fn featured_card(&self) -> Option<&CheckinCard> {
        match &self.featured {
            Some(id) => self.today.iter().find(|c| &c.checkin.id == id),
            None => self.today.first(),
        }
    }
}
