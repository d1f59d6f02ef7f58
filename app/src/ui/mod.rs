//! The iced program. The app keeps what it shows, maps messages, and asks for work through
//! [`Command`]s that [`run_command`] performs against the core, so every decision here is
//! testable without a window and every SQLite call happens off `update()`.

pub mod i18n;
pub mod screen;
pub mod theme;

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gymgate_shared::api::{CheckinCard, CheckinStatus, LookupResult, Notice, RosterMember};
use gymgate_shared::protocol::Decision;
use gymgate_shared::{CheckinId, LocalId, MemberId};
use iced::keyboard::{self, Key, key::Named};
use iced::widget::{button, column, container, row, space, text};
use iced::{Alignment, Element, Length, Subscription, Task};

use crate::sound::Chime;
use gymgate_desk_core::cache::Conflict;
use gymgate_desk_core::config::{self, Pairing, Settings};
use gymgate_desk_core::link::LinkTiming;
use gymgate_desk_core::{
    CoreEvent, DeskCore, DeskState, LinkStatus, LookupError, LookupQuery, ScanError,
};
use i18n::{Strings, clock};
use screen::{board, conflicts, decide, pairing, search, settings};

pub const DEMO_SERVER: &str = "http://127.0.0.1:8080";
pub const DEMO_CODE: &str = "DEMO0-GYM00";
/// How long typing must pause before the server is asked (one lookup per query, not per key).
const LOOKUP_PAUSE: Duration = Duration::from_millis(400);

/// A pairing made on start without staff typing it: the demo, or an unattended install (IT
/// setting up many PCs). Used only while the desk is not paired yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoPair {
    pub server: String,
    pub code: String,
    pub name: String,
}

impl AutoPair {
    pub fn demo() -> AutoPair {
        AutoPair {
            server: DEMO_SERVER.to_owned(),
            code: DEMO_CODE.to_owned(),
            name: "데모 데스크".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Board,
    Search,
    Conflicts,
    Settings,
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
    /// Check-ins made elsewhere while this desk was cut off, counted as they are replayed
    /// after it is back (one line on the board instead of a hundred cards flashing by).
    pub missed: Option<Missed>,
    /// A void or deny waiting for its reason and confirmation (shown instead of the board).
    pub deciding: Option<decide::Deciding>,
    /// Members' photos on this PC, by member (fetched once, kept next to the cache).
    pub photos: std::collections::HashMap<MemberId, PathBuf>,
    /// Photo URLs asked for already (each once per run, found or not).
    pub photos_asked: std::collections::HashSet<String>,
}

/// Since the link last came back: check-ins made before that moment that arrived after it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Missed {
    pub back_at: DateTime<Utc>,
    pub count: usize,
}

impl Running {
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
            photos: Default::default(),
            photos_asked: Default::default(),
        }
    }

    /// Asks the core for the photos of these members that are not shown yet.
    fn want_photos<'a>(
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

    fn online(&self) -> bool {
        matches!(self.link, LinkStatus::Online { .. })
    }

    fn apply_state(&mut self, state: DeskState) {
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
    fn upsert_card(&mut self, card: CheckinCard, feature: bool) {
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
    fn start_decision(&mut self, id: CheckinId, decision: Decision) -> Vec<Command> {
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
    fn featured_decision(&self, decision: Decision) -> Option<CheckinId> {
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

pub struct App {
    pub data_dir: PathBuf,
    pub settings: Settings,
    pub phase: Phase,
    pub chime: Chime,
    pub now: DateTime<Utc>,
}

/// Why pairing did not happen; staff read it in their words (`Strings::pair_error`), the log
/// keeps the details.
#[derive(Debug, Clone)]
pub enum PairFailed {
    Pair(config::PairError),
    /// The pairing was made but could not be saved on this PC.
    Save,
}

#[derive(Debug, Clone)]
pub enum Message {
    Core(CoreEvent),
    Pairing(pairing::Message),
    Paired(Result<Pairing, PairFailed>),
    Decide(decide::Message),
    Search(search::Message),
    SearchResults(String, Vec<RosterMember>),
    CheckedIn(Result<CheckinCard, String>),
    /// What a scanned pass did.
    Scanned(Result<CheckinCard, String>),
    /// The pause after typing is over: look `query` up on the server if it is still current.
    LookupDue(String),
    LookupResults(String, search::Remote),
    Board(board::Message),
    Conflicts(conflicts::Message),
    Acknowledged(Result<Vec<Conflict>, String>),
    Settings(settings::Message),
    /// A member's photo is on this PC now (`None`: not available).
    Photo(MemberId, Option<PathBuf>),
    /// This desk's statement digests, read for the settings page.
    Statement(Vec<gymgate_shared::settlement::DayDigest>),
    Navigate(View),
    RetryNow,
    DismissToast,
    Key(keyboard::Event),
    Tick(DateTime<Utc>),
    Done(Result<(), String>),
}

/// Work the app asks for; [`run_command`] performs it.
#[derive(Debug, Clone)]
pub enum Command {
    Pair {
        server: String,
        code: String,
        name: String,
    },
    Search(DeskCore, String),
    /// The language is the one shown now, for the refusal's wording.
    CheckIn(DeskCore, MemberId, config::Language),
    /// A member the server found, new to this center.
    CheckInFound(DeskCore, Box<LookupResult>, config::Language),
    /// On staff's judgement: member number and what staff checked.
    CheckInManual(DeskCore, String, String, config::Language),
    Scan(DeskCore, String, config::Language),
    /// Wait a moment after typing before asking the server (typing makes many queries).
    PauseThenLookup(String),
    Lookup(DeskCore, String, config::Language),
    /// With the reason staff gave (none for admitting).
    Decide(DeskCore, CheckinId, Decision, Option<String>),
    Acknowledge(DeskCore, LocalId),
    SaveSettings(Settings),
    /// Read this desk's statement digests for the last days.
    LoadStatement(DeskCore),
    /// A member's photo from this PC, or fetched from the server.
    Photo(DeskCore, Box<RosterMember>),
    /// Stop the core and forget the pairing.
    Unpair(Option<DeskCore>),
    FocusSearch,
    FocusScan,
    /// A text field by id.
    Focus(&'static str),
    FocusDecideReason,
    FocusNext,
    FocusPrevious,
}

impl App {
    pub fn new(
        data_dir: PathBuf,
        auto_pair: Option<AutoPair>,
        chime: Chime,
    ) -> (App, Vec<Command>) {
        let settings = config::load_settings(&data_dir);
        let pairing = match config::load_pairing(&data_dir) {
            Ok(pairing) => pairing,
            Err(error) => {
                tracing::error!(%error, "pairing file unreadable; asking to pair again");
                None
            }
        };
        let mut commands = Vec::new();
        let phase = match pairing {
            Some(pairing) => Phase::Running(Box::new(Running::new(pairing))),
            None => match auto_pair {
                Some(auto) => {
                    let mut screen = pairing::Pairing::new(&auto.server);
                    screen.code = auto.code;
                    screen.name = auto.name;
                    let ready = !screen.code.trim().is_empty();
                    if let Some(pairing::Event::Pair { server, code, name }) = ready
                        .then(|| screen.update(pairing::Message::Submit))
                        .flatten()
                    {
                        commands.push(Command::Pair { server, code, name });
                    }
                    Phase::Pairing(screen)
                }
                None => Phase::Pairing(pairing::Pairing::new("")),
            },
        };
        let app = App {
            data_dir,
            settings,
            phase,
            chime,
            now: Utc::now(),
        };
        (app, commands)
    }

    pub fn strings(&self) -> &'static Strings {
        i18n::strings(self.settings.language)
    }

    pub fn running(&self) -> Option<&Running> {
        match &self.phase {
            Phase::Running(running) => Some(running),
            Phase::Pairing(_) => None,
        }
    }

    fn running_mut(&mut self) -> Option<&mut Running> {
        match &mut self.phase {
            Phase::Running(running) => Some(running),
            Phase::Pairing(_) => None,
        }
    }

    fn back_to_pairing(&mut self, error: Option<String>) {
        let server = self
            .running()
            .map(|r| r.pairing.server_url.clone())
            .unwrap_or_default();
        let mut screen = pairing::Pairing::new(&server);
        screen.error = error;
        self.phase = Phase::Pairing(screen);
    }

    pub fn update(&mut self, message: Message) -> Vec<Command> {
        let s = self.strings();
        match message {
            Message::Pairing(message) => {
                if let Phase::Pairing(screen) = &mut self.phase
                    && let Some(pairing::Event::Pair { server, code, name }) =
                        screen.update(message)
                {
                    return vec![Command::Pair { server, code, name }];
                }
            }
            Message::Paired(Ok(pairing)) => {
                self.phase = Phase::Running(Box::new(Running::new(pairing)));
            }
            Message::Paired(Err(failed)) => {
                if let Phase::Pairing(screen) = &mut self.phase {
                    screen.busy = false;
                    screen.error = Some(match failed {
                        PairFailed::Pair(error) => s.pair_error(&error),
                        PairFailed::Save => s.pairing_not_saved.to_owned(),
                    });
                }
            }
            Message::Core(event) => return self.on_core(event),
            Message::Search(search::Message::ManualPick(i)) => {
                if let (Some(running), Some(note)) = (self.running_mut(), s.manual_notes.get(i)) {
                    running.search.pick_note(note);
                }
            }
            Message::Search(message) => {
                let Some(running) = self.running_mut() else {
                    return vec![];
                };
                let online = running.online();
                match running.search.update(message) {
                    Some(search::Event::Search(query)) => {
                        let Some(core) = &running.core else {
                            return vec![];
                        };
                        let mut commands = vec![Command::Search(core.clone(), query.clone())];
                        running.search.remote = match LookupQuery::parse(&query) {
                            None => search::Remote::Idle,
                            Some(_) if !online => {
                                search::Remote::Unavailable(s.remote_offline.to_owned())
                            }
                            Some(_) => {
                                commands.push(Command::PauseThenLookup(query));
                                search::Remote::Searching
                            }
                        };
                        return commands;
                    }
                    Some(search::Event::CheckIn(member)) => {
                        if let Some(core) = &running.core {
                            return vec![Command::CheckIn(core.clone(), member, s.lang)];
                        }
                    }
                    Some(search::Event::CheckInFound(found)) => {
                        if let Some(core) = &running.core {
                            return vec![Command::CheckInFound(core.clone(), found, s.lang)];
                        }
                    }
                    Some(search::Event::ManualOpened) => {
                        return vec![Command::Focus(if running.search.query.trim().is_empty() {
                            search::MANUAL_NO_ID
                        } else {
                            search::MANUAL_NOTE_ID
                        })];
                    }
                    Some(search::Event::ManualClosed) => return vec![Command::FocusSearch],
                    Some(search::Event::CheckInManual { member_no, note }) => {
                        if let Some(core) = &running.core {
                            return vec![Command::CheckInManual(
                                core.clone(),
                                member_no,
                                note,
                                s.lang,
                            )];
                        }
                    }
                    None => {}
                }
            }
            Message::LookupDue(query) => {
                if let Some(running) = self.running()
                    && running.search.query == query
                    && let Some(core) = &running.core
                {
                    return vec![Command::Lookup(core.clone(), query, s.lang)];
                }
            }
            Message::LookupResults(query, remote) => {
                if let Some(running) = self.running_mut() {
                    running.search.set_remote(&query, remote);
                }
            }
            Message::Board(board::Message::ScanInput(text)) => {
                if let Some(running) = self.running_mut() {
                    running.scan = text;
                }
            }
            Message::Board(board::Message::ScanSubmit) => {
                if let Some(running) = self.running_mut() {
                    let text = std::mem::take(&mut running.scan);
                    if let Some(core) = &running.core
                        && !text.trim().is_empty()
                    {
                        return vec![Command::Scan(core.clone(), text, s.lang)];
                    }
                }
            }
            Message::Scanned(Ok(card)) => {
                let sound = self.settings.sound;
                if let Some(running) = self.running_mut() {
                    let offline = !running.online();
                    running.scan_outcome = Some((
                        true,
                        format!(
                            "{} — {}",
                            card.member.name,
                            if offline { s.saved_offline } else { s.admitted }
                        ),
                    ));
                    running.pending += 1;
                    running.upsert_card(card, true);
                    if sound {
                        self.chime.play();
                    }
                }
                return vec![Command::FocusScan];
            }
            Message::Scanned(Err(reason)) => {
                if let Some(running) = self.running_mut() {
                    running.scan_outcome = Some((false, reason));
                }
                return vec![Command::FocusScan];
            }
            Message::SearchResults(query, results) => {
                if let Some(running) = self.running_mut() {
                    running.search.set_results(&query, results);
                }
            }
            Message::CheckedIn(Ok(card)) => {
                let sound = self.settings.sound;
                if let Some(running) = self.running_mut() {
                    let offline = running.link.offline_since().is_some()
                        || !matches!(running.link, LinkStatus::Online { .. });
                    running.search.outcome = Some((
                        true,
                        if offline {
                            format!("{} — {}", card.member.name, s.saved_offline)
                        } else {
                            format!("{} — {}", card.member.name, s.admitted)
                        },
                    ));
                    running.pending += 1;
                    running.search.query.clear();
                    running.search.results.clear();
                    let mut commands = running.want_photos([&card.member]);
                    running.upsert_card(card, true);
                    if sound {
                        self.chime.play();
                    }
                    commands.push(Command::FocusSearch);
                    return commands;
                }
                return vec![Command::FocusSearch];
            }
            Message::CheckedIn(Err(error)) => {
                if let Some(running) = self.running_mut() {
                    running.search.outcome = Some((false, error));
                }
            }
            Message::Board(board::Message::Show(id)) => {
                if let Some(running) = self.running_mut() {
                    running.featured = Some(id);
                }
            }
            Message::Board(board::Message::Decide(id, decision)) => {
                if let Some(running) = self.running_mut() {
                    return running.start_decision(id, decision);
                }
            }
            Message::Decide(message) => {
                let Some(running) = self.running_mut() else {
                    return vec![];
                };
                let Some(event) = running
                    .deciding
                    .as_mut()
                    .and_then(|deciding| deciding.update(message, s))
                else {
                    return vec![];
                };
                running.deciding = None;
                return match event {
                    decide::Event::Confirm {
                        checkin,
                        decision,
                        reason,
                    } => match running.core.clone() {
                        Some(core) => vec![
                            Command::Decide(core, checkin, decision, Some(reason)),
                            Command::FocusScan,
                        ],
                        None => vec![Command::FocusScan],
                    },
                    decide::Event::Cancel => vec![Command::FocusScan],
                };
            }
            Message::Conflicts(conflicts::Message::Acknowledge(local_id)) => {
                if let Some(core) = self.running().and_then(|r| r.core.clone()) {
                    return vec![Command::Acknowledge(core, local_id)];
                }
            }
            Message::Acknowledged(Ok(conflicts)) => {
                if let Some(running) = self.running_mut() {
                    running.conflicts = conflicts;
                }
            }
            Message::Acknowledged(Err(error)) | Message::Done(Err(error)) => {
                // These fail only on this PC's disk: staff get what to do, the log the detail.
                tracing::error!(%error, "a desk action could not be saved");
                if let Some(running) = self.running_mut() {
                    running.toast = Some(s.not_saved_on_pc.to_owned());
                }
            }
            Message::Done(Ok(())) => {}
            Message::Settings(message) => {
                let settings = self.settings.clone();
                let Some(running) = self.running_mut() else {
                    return vec![];
                };
                match running.settings_screen.update(&settings, message) {
                    Some(settings::Event::Changed(settings)) => {
                        self.settings = settings.clone();
                        return vec![Command::SaveSettings(settings)];
                    }
                    Some(settings::Event::Unpair) => {
                        let core = running.core.clone();
                        self.back_to_pairing(None);
                        return vec![Command::Unpair(core)];
                    }
                    None => {}
                }
            }
            Message::Navigate(view) => {
                if let Some(running) = self.running_mut() {
                    running.view = view;
                    running.settings_screen.confirm_unpair = false;
                    match view {
                        View::Search => return vec![Command::FocusSearch],
                        View::Board => return vec![Command::FocusScan],
                        View::Settings => {
                            if let Some(core) = running.core.clone() {
                                return vec![Command::LoadStatement(core)];
                            }
                        }
                        View::Conflicts => {}
                    }
                }
            }
            Message::Photo(member, path) => {
                if let (Some(running), Some(path)) = (self.running_mut(), path) {
                    running.photos.insert(member, path);
                }
            }
            Message::Statement(days) => {
                if let Some(running) = self.running_mut() {
                    running.settings_screen.statement = Some(days);
                }
            }
            Message::RetryNow => {
                if let Some(core) = self.running().and_then(|r| r.core.as_ref()) {
                    core.retry_now();
                }
            }
            Message::DismissToast => {
                if let Some(running) = self.running_mut() {
                    running.toast = None;
                }
            }
            Message::Key(event) => return self.on_key(event),
            Message::Tick(now) => self.now = now,
        }
        vec![]
    }

    fn on_key(&mut self, event: keyboard::Event) -> Vec<Command> {
        let keyboard::Event::KeyPressed { key, modifiers, .. } = event else {
            return vec![];
        };
        let s = self.strings();
        let Some(running) = self.running_mut() else {
            return vec![];
        };
        if running.deciding.is_some() {
            let message = match &key {
                Key::Named(Named::Escape) => Some(decide::Message::Cancel),
                Key::Named(Named::Enter) => Some(decide::Message::Confirm),
                Key::Named(Named::Tab) => return vec![Command::FocusDecideReason],
                Key::Character(c) => c
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=9).contains(n))
                    .map(|n| decide::Message::Pick(n - 1)),
                _ => None,
            };
            return match message {
                Some(message) => self.update(Message::Decide(message)),
                None => vec![],
            };
        }
        let shortcut = match &key {
            Key::Named(Named::F8) => Some(Decision::Void),
            Key::Named(Named::F9) => Some(Decision::Admit),
            Key::Named(Named::F10) => Some(Decision::Deny),
            _ => None,
        };
        if let Some(decision) = shortcut {
            if running.view != View::Board {
                return vec![];
            }
            return match running.featured_decision(decision) {
                Some(id) => running.start_decision(id, decision),
                None => {
                    running.toast = Some(s.nothing_to_decide.to_owned());
                    vec![]
                }
            };
        }
        if running.view == View::Search {
            match &key {
                Key::Named(Named::F6) if running.search.manual.is_none() => {
                    return self.update(Message::Search(search::Message::OpenManual));
                }
                Key::Named(Named::Escape) if running.search.manual.is_some() => {
                    return self.update(Message::Search(search::Message::ManualCancel));
                }
                _ => {}
            }
        }
        match key {
            Key::Named(Named::Escape) => {
                running.view = View::Board;
                running.toast = None;
                vec![Command::FocusScan]
            }
            Key::Named(Named::F2) => {
                running.view = View::Search;
                vec![Command::FocusSearch]
            }
            Key::Named(Named::Tab) if modifiers.shift() => vec![Command::FocusPrevious],
            Key::Named(Named::Tab) => vec![Command::FocusNext],
            _ => vec![],
        }
    }

    fn on_core(&mut self, event: CoreEvent) -> Vec<Command> {
        let s = self.strings();
        let sound = self.settings.sound;
        if let CoreEvent::Unpaired(code) = &event {
            let core = self.running().and_then(|r| r.core.clone());
            self.back_to_pairing(Some(s.unpaired(code).to_owned()));
            return vec![Command::Unpair(core)];
        }
        let Some(running) = self.running_mut() else {
            return vec![];
        };
        match event {
            CoreEvent::Ready(core, state) => {
                running.core = Some(core);
                running.apply_state(*state);
                let today: Vec<RosterMember> =
                    running.today.iter().map(|c| c.member.clone()).collect();
                let mut commands = running.want_photos(&today);
                if running.view == View::Board {
                    commands.push(Command::FocusScan);
                }
                return commands;
            }
            // Logged where it happened; staff get what to do.
            CoreEvent::Failed(_) => running.toast = Some(s.core_failed.to_owned()),
            CoreEvent::Link(status) => {
                if let LinkStatus::Online { since } = status
                    && !running.online()
                {
                    // By the server's clock (as check-in times are) when the core knows it.
                    let back_at = running.core.as_ref().map_or(since, DeskCore::now);
                    running.missed = Some(Missed { back_at, count: 0 });
                }
                running.link = status;
            }
            CoreEvent::Checkin(card) => {
                // This desk's own check-in already chimed when staff made it.
                let ours = card.checkin.desk_id.as_ref() == Some(&running.pairing.desk_id);
                if !ours
                    && let Some(missed) = running.missed.as_mut()
                    && card.checkin.at < missed.back_at
                {
                    missed.count += 1;
                }
                let photos = running.want_photos([&card.member]);
                running.upsert_card(card, true);
                if sound && !ours {
                    self.chime.arrived(std::time::Instant::now());
                }
                return photos;
            }
            CoreEvent::Updated(card) => {
                let photos = running.want_photos([&card.member]);
                running.upsert_card(card, false);
                return photos;
            }
            // Fetched now, so the card shows the photo when the member comes in offline.
            CoreEvent::Member(member) => return running.want_photos([&member]),
            CoreEvent::Notices(notices) => running.notices = notices,
            CoreEvent::Support(contact) => running.support = Some(contact),
            CoreEvent::Resynced(state) => {
                running.featured = None;
                running.apply_state(state);
                let today: Vec<RosterMember> =
                    running.today.iter().map(|c| c.member.clone()).collect();
                return running.want_photos(&today);
            }
            CoreEvent::Recorded { .. } => {}
            CoreEvent::Outbox { pending, conflicts } => {
                running.pending = pending;
                running.conflicts = conflicts;
            }
            CoreEvent::Synced { at } => running.last_sync = Some(at),
            CoreEvent::ServerError { code, message } => {
                let text = s.reason(&code);
                running.toast = Some(if text == code { message } else { text });
            }
            CoreEvent::CacheRecovered(_) => running.toast = Some(s.cache_recovered.to_owned()),
            CoreEvent::Unpaired(_) => {}
        }
        vec![]
    }

    pub fn view(&self) -> Element<'_, Message> {
        let s = self.strings();
        match &self.phase {
            Phase::Pairing(screen) => screen.view(s).map(Message::Pairing),
            Phase::Running(running) => self.running_view(running, s),
        }
    }

    fn running_view<'a>(&'a self, running: &'a Running, s: &'a Strings) -> Element<'a, Message> {
        let mut page = column![status_bar(running, s, self.now)].spacing(0);
        let mut banners = column![].spacing(8);
        if let Some(since) = running.link.offline_since() {
            banners = banners.push(
                container(
                    row![
                        column![text(s.offline_banner(since, running.pending)).size(20)]
                            .push(
                                running
                                    .support
                                    .as_ref()
                                    .and_then(|c| s.support_line(c))
                                    .map(|line| text(line).size(17)),
                            )
                            .spacing(4)
                            .width(Length::Fill),
                        button(text(s.retry_now).size(16))
                            .padding([6, 14])
                            .style(iced::widget::button::secondary)
                            .on_press(Message::RetryNow),
                    ]
                    .align_y(Alignment::Center),
                )
                .padding([12, 16])
                .width(Length::Fill)
                .style(theme::offline_banner),
            );
        }
        for notice in &running.notices {
            let text_for = match self.settings.language {
                config::Language::Ko => &notice.text_ko,
                config::Language::En => &notice.text_en,
            };
            banners = banners.push(
                container(text(format!("{} · {text_for}", s.notice)).size(19))
                    .padding([10, 16])
                    .width(Length::Fill)
                    .style(theme::notice_banner),
            );
        }
        if let Some(toast) = &running.toast {
            banners = banners.push(
                container(
                    row![
                        text(toast).size(18).color(theme::RED),
                        space::horizontal(),
                        button(text(s.close).size(16))
                            .style(iced::widget::button::text)
                            .on_press(Message::DismissToast),
                    ]
                    .align_y(Alignment::Center),
                )
                .padding([8, 16])
                .width(Length::Fill)
                .style(theme::card),
            );
        }
        let body: Element<'a, Message> = match (&running.deciding, running.view) {
            (Some(deciding), _) => deciding.view(s).map(Message::Decide),
            (None, View::Board) => board::view(
                running.featured_card(),
                &running.today,
                &running.photos,
                &running.scan,
                running.scan_outcome.as_ref(),
                running.missed.filter(|m| m.count > 0),
                s,
            )
            .map(Message::Board),
            (None, View::Search) => running.search.view(s).map(Message::Search),
            (None, View::Conflicts) => {
                conflicts::view(&running.conflicts, s).map(Message::Conflicts)
            }
            (None, View::Settings) => running
                .settings_screen
                .view(
                    &self.settings,
                    &running.pairing.server_url,
                    &running.pairing.desk_name,
                    s,
                )
                .map(Message::Settings),
        };
        page = page.push(
            container(column![banners, body, nav_bar(running, s)].spacing(14))
                .padding(16)
                .height(Length::Fill),
        );
        container(page)
            .width(Length::Fill)
            .height(Length::Fill)
            .style(theme::page)
            .into()
    }

    pub fn subscription(&self) -> Subscription<Message> {
        let mut subscriptions = vec![
            keyboard::listen().map(Message::Key),
            iced::time::every(Duration::from_secs(1)).map(|_| Message::Tick(Utc::now())),
        ];
        if let Phase::Running(running) = &self.phase {
            subscriptions.push(
                Subscription::run_with(
                    CoreKey {
                        data_dir: self.data_dir.clone(),
                        pairing: running.pairing.clone(),
                    },
                    core_stream,
                )
                .map(Message::Core),
            );
        }
        Subscription::batch(subscriptions)
    }
}

fn status_bar<'a>(
    running: &'a Running,
    s: &'a Strings,
    now: DateTime<Utc>,
) -> Element<'a, Message> {
    let (dot, label, color) = match &running.link {
        LinkStatus::Online { .. } => ("●", s.online.to_owned(), theme::GREEN),
        LinkStatus::Connecting {
            offline_since: Some(since),
            ..
        } => (
            "●",
            format!("{} ({} ~) · {}", s.offline, clock(*since), s.connecting),
            theme::AMBER,
        ),
        LinkStatus::Connecting { .. } => ("●", s.connecting.to_owned(), theme::AMBER),
        LinkStatus::Offline {
            since, retry_at, ..
        } => {
            let seconds = (*retry_at - now).num_seconds().max(0);
            (
                "●",
                format!(
                    "{} ({} ~) · {}",
                    s.offline,
                    clock(*since),
                    s.next_try(seconds)
                ),
                theme::AMBER,
            )
        }
    };
    let title = format!(
        "{} · {}",
        running.center_name.as_deref().unwrap_or("gymgate"),
        running.pairing.desk_name
    );
    container(
        row![
            text(title).size(22).font(theme::BOLD),
            space::horizontal(),
            text(dot).size(20).color(color),
            text(label).size(18),
            text("·").size(18),
            text(s.waiting(running.pending)).size(18),
            text("·").size(18),
            text(s.last_sync(running.last_sync)).size(18),
            text("·").size(18),
            text(clock(now)).size(18),
        ]
        .spacing(10)
        .align_y(Alignment::Center),
    )
    .padding([12, 20])
    .width(Length::Fill)
    .style(theme::status_bar)
    .into()
}

fn nav_bar<'a>(running: &'a Running, s: &'a Strings) -> Element<'a, Message> {
    let item = |label: String, view: View| {
        button(text(label).size(19))
            .padding([10, 22])
            .style(theme::nav(running.view == view))
            .on_press(Message::Navigate(view))
    };
    row![
        item(format!("{} (F2)", s.search), View::Search),
        item(s.today.to_owned(), View::Board),
        item(s.conflicts_count(running.conflicts.len()), View::Conflicts),
        item(s.settings.to_owned(), View::Settings),
    ]
    .spacing(10)
    .into()
}

/// Identifies the core subscription: a new pairing starts a new core.
#[derive(Debug, Clone, Hash)]
struct CoreKey {
    data_dir: PathBuf,
    pairing: Pairing,
}

fn core_stream(key: &CoreKey) -> impl futures_util::Stream<Item = CoreEvent> + use<> {
    let key = key.clone();
    iced::stream::channel(256, async move |mut output| {
        use futures_util::SinkExt;
        let (events, mut receiver) = tokio::sync::mpsc::channel(1024);
        match gymgate_desk_core::start(&key.data_dir, key.pairing, LinkTiming::default(), events)
            .await
        {
            Ok((core, state, link)) => {
                tracing::info!(
                    roster = state.roster_size,
                    today = state.today.len(),
                    "desk core ready"
                );
                let _ = output.send(CoreEvent::Ready(core, Box::new(state))).await;
                let forward = async move {
                    while let Some(event) = receiver.recv().await {
                        if output.send(event).await.is_err() {
                            break;
                        }
                    }
                };
                tokio::join!(link, forward);
            }
            Err(error) => {
                tracing::error!(%error, "the desk core could not start");
                let _ = output.send(CoreEvent::Failed(error.to_string())).await;
            }
        }
    })
}

/// Performs a command; the answer comes back as a message.
pub async fn run_command(command: Command, data_dir: PathBuf) -> Message {
    match command {
        Command::Pair { server, code, name } => {
            let paired = match config::pair(&server, &code, &name).await {
                Ok(pairing) => pairing,
                Err(error) => {
                    tracing::warn!(%error, "pairing failed");
                    return Message::Paired(Err(PairFailed::Pair(error)));
                }
            };
            let saved = paired.clone();
            let stored =
                tokio::task::spawn_blocking(move || config::save_pairing(&data_dir, &saved)).await;
            match stored {
                Ok(Ok(())) => Message::Paired(Ok(paired)),
                Ok(Err(error)) => {
                    tracing::error!(%error, "cannot save the pairing");
                    Message::Paired(Err(PairFailed::Save))
                }
                Err(error) => {
                    tracing::error!(%error, "cannot save the pairing");
                    Message::Paired(Err(PairFailed::Save))
                }
            }
        }
        Command::Search(core, query) => {
            let results = core.search(query.clone()).await;
            Message::SearchResults(query, results)
        }
        Command::CheckIn(core, member, language) => match core.check_in(&member).await {
            Ok(card) => Message::CheckedIn(Ok(card)),
            Err(error) => Message::CheckedIn(Err(i18n::strings(language).checkin_error(&error))),
        },
        Command::CheckInFound(core, found, language) => match core.check_in_found(*found).await {
            Ok(card) => Message::CheckedIn(Ok(card)),
            Err(error) => Message::CheckedIn(Err(i18n::strings(language).checkin_error(&error))),
        },
        Command::CheckInManual(core, member_no, note, language) => {
            match core.check_in_manual(&member_no, &note).await {
                Ok(card) => Message::CheckedIn(Ok(card)),
                Err(error) => {
                    Message::CheckedIn(Err(i18n::strings(language).checkin_error(&error)))
                }
            }
        }
        Command::Scan(core, text, language) => {
            let s = i18n::strings(language);
            Message::Scanned(match core.scan(&text).await {
                Ok(card) => Ok(card),
                Err(ScanError::Pass(problem)) => Err(s.pass_problem(problem)),
                Err(ScanError::Checkin(error)) => Err(s.checkin_error(&error)),
            })
        }
        Command::PauseThenLookup(query) => {
            tokio::time::sleep(LOOKUP_PAUSE).await;
            Message::LookupDue(query)
        }
        Command::Lookup(core, query, language) => {
            let s = i18n::strings(language);
            let remote = match core.lookup(&query).await {
                Ok(found) => search::Remote::Found(found),
                Err(LookupError::TooMany) => {
                    search::Remote::Unavailable(s.remote_too_many.to_owned())
                }
                Err(LookupError::NotAQuery) => search::Remote::Idle,
                Err(LookupError::Unreachable | LookupError::Unpaired) => {
                    search::Remote::Unavailable(s.remote_unreachable.to_owned())
                }
            };
            Message::LookupResults(query, remote)
        }
        Command::Decide(core, id, decision, reason) => {
            core.decide(id, decision, reason);
            Message::Done(Ok(()))
        }
        Command::Acknowledge(core, local_id) => {
            Message::Acknowledged(core.acknowledge(local_id).await.map_err(|e| e.to_string()))
        }
        Command::SaveSettings(settings) => {
            let saved =
                tokio::task::spawn_blocking(move || config::save_settings(&data_dir, &settings))
                    .await;
            Message::Done(match saved {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            })
        }
        Command::Photo(core, member) => {
            let path = core.photo(&member).await;
            Message::Photo(member.id.clone(), path)
        }
        Command::LoadStatement(core) => {
            let today = gymgate_shared::kst::date_of(core.now());
            let from = today - chrono::Duration::days(settings::STATEMENT_DAYS - 1);
            let to = today + chrono::Duration::days(1);
            match core.statement_days(from, to).await {
                Ok(days) => Message::Statement(days),
                Err(error) => {
                    tracing::error!(%error, "cannot read the statement check from the cache");
                    Message::Done(Err(error.to_string()))
                }
            }
        }
        Command::Unpair(core) => {
            if let Some(core) = core {
                // Before the pairing goes, so nothing of the members stays on this PC.
                if let Err(error) = core.forget_members().await {
                    tracing::error!(%error, "cannot clear the members from the cache");
                }
                core.shutdown();
            }
            let removed =
                tokio::task::spawn_blocking(move || config::remove_pairing(&data_dir)).await;
            Message::Done(match removed {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            })
        }
        Command::FocusSearch
        | Command::FocusScan
        | Command::FocusDecideReason
        | Command::Focus(_)
        | Command::FocusNext
        | Command::FocusPrevious => Message::Done(Ok(())),
    }
}

/// The iced `update`: maps commands to tasks.
pub fn update(app: &mut App, message: Message) -> Task<Message> {
    let commands = app.update(message);
    tasks(app, commands)
}

pub fn tasks(app: &App, commands: Vec<Command>) -> Task<Message> {
    Task::batch(commands.into_iter().map(|command| match command {
        Command::FocusSearch => iced::widget::operation::focus(search::INPUT_ID),
        Command::FocusScan => iced::widget::operation::focus(board::SCAN_ID),
        Command::FocusDecideReason => iced::widget::operation::focus(decide::OTHER_ID),
        Command::Focus(id) => iced::widget::operation::focus(id),
        Command::FocusNext => iced::widget::operation::focus_next(),
        Command::FocusPrevious => iced::widget::operation::focus_previous(),
        command => Task::future(run_command(command, app.data_dir.clone())),
    }))
}

pub fn view(app: &App) -> Element<'_, Message> {
    app.view()
}

/// Runs the desk window.
const REGULAR: &[u8] = theme::REGULAR_FONT;
const BOLD: &[u8] = theme::BOLD_FONT;

/// A second start on the same data directory: a small window that says the desk already
/// runs (in the language staff chose), closed by its button or the window's own.
pub fn run_already_running(data_dir: &std::path::Path) -> iced::Result {
    struct AlreadyRunning(&'static Strings);
    fn update(
        _: &mut AlreadyRunning,
        message: screen::already_running::Message,
    ) -> Task<screen::already_running::Message> {
        match message {
            screen::already_running::Message::Close => iced::exit(),
        }
    }
    fn view(state: &AlreadyRunning) -> Element<'_, screen::already_running::Message> {
        screen::already_running::view(state.0)
    }
    fn title(state: &AlreadyRunning) -> String {
        state.0.already_running_title.to_owned()
    }
    let s = i18n::strings(config::load_settings(data_dir).language);
    iced::application(move || AlreadyRunning(s), update, view)
        .title(title)
        .font(REGULAR)
        .font(BOLD)
        .default_font(theme::REGULAR)
        .window_size((520.0, 260.0))
        .centered()
        .run()
}

pub fn run(data_dir: PathBuf, auto_pair: Option<AutoPair>) -> iced::Result {
    iced::application(
        move || {
            let (app, commands) = App::new(data_dir.clone(), auto_pair.clone(), Chime::start());
            let task = tasks(&app, commands);
            (app, task)
        },
        update,
        view,
    )
    .title(|app: &App| {
        let center = app
            .running()
            .and_then(|r| r.center_name.clone())
            .unwrap_or_default();
        format!("gymgate 데스크 {center}")
    })
    .subscription(App::subscription)
    .font(REGULAR)
    .font(BOLD)
    .default_font(theme::REGULAR)
    // Maximised on the front-desk PC's screen, whatever it is (layouts tested from 1024×768
    // to 1920×1080 in `app/tests/layout.rs`); 1366×768 when restored.
    .window(iced::window::Settings {
        size: iced::Size::new(1366.0, 768.0),
        maximized: true,
        min_size: Some(iced::Size::new(1024.0, 700.0)),
        position: iced::window::Position::Centered,
        ..iced::window::Settings::default()
    })
    .run()
}
