//! The app: `update` maps messages to state changes and commands, `view` draws the
//! state. No I/O here: commands are performed by [`super::run_command`].

use super::core_stream::{CoreKey, core_stream};

use super::AutoPair;
use super::Command;
use super::Message;
use super::Missed;
use super::PairFailed;
use super::Phase;
use super::Running;
use super::View;
use super::components::nav_bar;
use super::components::status_bar;
use super::i18n;
use super::i18n::Strings;
use super::screen::board;
use super::screen::conflicts;
use super::screen::decide;
use super::screen::entrance;
use super::screen::pairing;
use super::screen::search;
use super::screen::settings;
use super::theme;
use crate::sound::Chime;
use chrono::DateTime;
use chrono::Utc;
use gymgate_desk_core::CoreEvent;
use gymgate_desk_core::DeskCore;
use gymgate_desk_core::LinkStatus;
use gymgate_desk_core::LookupQuery;
use gymgate_desk_core::config;
use gymgate_desk_core::config::Settings;
use gymgate_shared::api::RosterMember;
use gymgate_shared::protocol::{Decision, RecordStatus};
use iced::Alignment;
use iced::Element;
use iced::Length;
use iced::Subscription;
use iced::keyboard;
use iced::keyboard::Key;
use iced::keyboard::key::Named;
use std::path::PathBuf;
use std::time::Duration;

use iced::widget::{button, column, container, row, space, text};

pub struct App {
    pub data_dir: PathBuf,
    pub settings: Settings,
    pub phase: Phase,
    pub chime: Chime,
    pub now: DateTime<Utc>,
    /// How the program was started: an update starts the new version the same way.
    pub args: Vec<String>,
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
            args: Vec::new(),
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

    pub(super) fn running_mut(&mut self) -> Option<&mut Running> {
        match &mut self.phase {
            Phase::Running(running) => Some(running),
            Phase::Pairing(_) => None,
        }
    }

    pub(super) fn back_to_pairing(&mut self, error: Option<String>) {
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
            Message::Board(message) => {
                let Some(running) = self.running_mut() else {
                    return vec![];
                };
                match board::update(&mut running.scan, message) {
                    Some(board::Event::Scan(text)) => {
                        if let Some(core) = &running.core {
                            return vec![Command::Scan(core.clone(), text, s.lang)];
                        }
                    }
                    Some(board::Event::Show(id)) => {
                        running.refusal = None;
                        running.featured = Some(id);
                    }
                    Some(board::Event::DismissRefusal) => {
                        running.refusal = None;
                        return vec![Command::FocusScan];
                    }
                    Some(board::Event::Decide(id, decision)) => {
                        return running.start_decision(id, decision);
                    }
                    None => {}
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
                    running.refusal = None;
                    running.upsert_card(card, true);
                    if sound {
                        self.chime.play();
                    }
                }
                return vec![Command::FocusScan];
            }
            Message::Scanned(Err(refusal)) => {
                let sound = self.settings.sound;
                if let Some(running) = self.running_mut() {
                    // The big card says it; the small banner would only repeat it.
                    running.scan_outcome = None;
                    running.refusal = Some(refusal);
                    running.view = View::Board;
                    if sound {
                        self.chime.refused();
                    }
                }
                return vec![Command::FocusScan];
            }
            Message::DismissRefusal => {
                if let Some(running) = self.running_mut() {
                    running.refusal = None;
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
                    running.refusal = None;
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
            Message::Conflicts(message) => match conflicts::update(message) {
                conflicts::Event::Acknowledge(local_id) => {
                    if let Some(core) = self.running().and_then(|r| r.core.clone()) {
                        return vec![Command::Acknowledge(core, local_id)];
                    }
                }
            },
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
                let now = self.now;
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
                        View::Entrance => running.refresh_entrance(now),
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
            Message::Tick(now) => {
                self.now = now;
                if let Some(running) = self.running_mut()
                    && running.view == View::Entrance
                {
                    running.refresh_entrance(now);
                }
                return self.update_when_quiet(now);
            }
            Message::UpdateHandedOver(Ok(version)) => {
                tracing::info!(%version, "closing for the update");
                return vec![Command::Exit];
            }
            Message::UpdateHandedOver(Err(_)) => {
                // Logged by the core; staff never deal with updates. Tried again later.
                let now = self.now;
                if let Some(running) = self.running_mut() {
                    running.handing_over = false;
                    running.installing = None;
                    running.toast = None;
                    running.install_failed = Some(now);
                }
            }
        }
        vec![]
    }

    /// A downloaded release is installed at a quiet moment: staff see one line for a few
    /// seconds, then the window closes and the new version opens (or, if it fails, this one
    /// again). Someone arriving meanwhile puts it off.
    fn update_when_quiet(&mut self, now: DateTime<Utc>) -> Vec<Command> {
        let args = self.args.clone();
        let s = self.strings();
        let Some(running) = self.running_mut() else {
            return vec![];
        };
        let Some(core) = running.core.clone() else {
            return vec![];
        };
        if running.handing_over {
            return vec![];
        }
        let retry = chrono::Duration::minutes(10);
        let due = core.update_due(now)
            && running.install_failed.is_none_or(|at| now - at >= retry)
            && running.quiet(now);
        if !due {
            if running.installing.take().is_some() {
                running.toast = None;
            }
            return vec![];
        }
        let notice =
            chrono::Duration::from_std(crate::ui::state::UPDATE_NOTICE).unwrap_or_default();
        match running.installing {
            None => {
                running.installing = Some(now);
                running.toast = Some(s.update_installing.to_owned());
                vec![]
            }
            Some(since) if now - since >= notice => {
                running.handing_over = true;
                vec![Command::InstallUpdate(core, args)]
            }
            Some(_) => vec![],
        }
    }

    pub(super) fn on_key(&mut self, event: keyboard::Event) -> Vec<Command> {
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
            Key::Named(Named::Escape) if running.refusal.is_some() => {
                running.refusal = None;
                vec![Command::FocusScan]
            }
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

    pub(super) fn on_core(&mut self, event: CoreEvent) -> Vec<Command> {
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
                // Made before the link came back: a replay, counted on the board's line and
                // silent. Anything else is someone at the counter now, and is heard.
                let replayed = !ours
                    && running
                        .missed
                        .is_some_and(|missed| card.checkin.at < missed.back_at);
                if replayed && let Some(missed) = running.missed.as_mut() {
                    missed.count += 1;
                }
                if !replayed {
                    // The next arrival takes the big card from a refusal.
                    running.refusal = None;
                    running.last_arrival = Some(Utc::now());
                }
                let photos = running.want_photos([&card.member]);
                running.upsert_card(card, true);
                if sound && !ours && !replayed {
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
            CoreEvent::Recorded { status, .. } => {
                // "Saved on this PC; sent once connected" is no longer true once it was sent.
                if matches!(status, RecordStatus::Accepted | RecordStatus::Duplicate) {
                    let sent = |outcome: &mut Option<(bool, String)>| {
                        if let Some((true, text)) = outcome
                            && text.ends_with(s.saved_offline)
                        {
                            *text = text.replace(s.saved_offline, s.sent_now);
                        }
                    };
                    sent(&mut running.scan_outcome);
                    sent(&mut running.search.outcome);
                }
            }
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

    pub(super) fn running_view<'a>(
        &'a self,
        running: &'a Running,
        s: &'a Strings,
    ) -> Element<'a, Message> {
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
                match (&running.refusal, running.featured_card()) {
                    (Some(refusal), _) => board::Shown::Refusal(refusal),
                    (None, Some(card)) => board::Shown::Card(card),
                    (None, None) => board::Shown::Nothing,
                },
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
            (None, View::Entrance) => {
                entrance::view(running.entrance.as_ref(), running.center_name.as_deref(), s)
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
