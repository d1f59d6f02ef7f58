//! Find a member and check them in: this PC's roster at once (online or offline), and, when
//! online, any pass holder on the server (a member new to this center).

use gymgate_shared::MemberId;
use gymgate_shared::api::{LookupResult, RosterMember};
use iced::widget::{button, column, container, row, scrollable, space, text, text_input};
use iced::{Alignment, Element, Length};

use crate::ui::i18n::Strings;
use crate::ui::theme;

pub const INPUT_ID: &str = "member-search";
pub const MANUAL_NO_ID: &str = "manual-member-no";
pub const MANUAL_NOTE_ID: &str = "manual-note";

#[derive(Debug, Clone, Default)]
pub struct Search {
    pub query: String,
    pub results: Vec<RosterMember>,
    /// What the server found for `query` (members not in this PC's roster).
    pub remote: Remote,
    /// The last outcome: (ok, text).
    pub outcome: Option<(bool, String)>,
    /// Letting in a member nobody can verify now, on staff's judgement (F6).
    pub manual: Option<Manual>,
}

/// A check-in on staff's judgement: the member number the member gives and what staff
/// checked. Both are needed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Manual {
    pub member_no: String,
    pub note: String,
    /// Enter was pressed with something missing.
    pub missing: bool,
}

/// The server's side of a search.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Remote {
    /// Nothing asked (the query is not something the server looks up).
    #[default]
    Idle,
    Searching,
    Found(Vec<LookupResult>),
    /// Offline, or the server could not answer: a sentence for staff.
    Unavailable(String),
}

#[derive(Debug, Clone)]
pub enum Message {
    Query(String),
    /// Enter in the search box: check in the first match.
    Submit,
    CheckIn(MemberId),
    CheckInFound(Box<LookupResult>),
    OpenManual,
    ManualNo(String),
    ManualNote(String),
    /// One of the common notes, by index.
    ManualPick(usize),
    ManualSubmit,
    ManualCancel,
}

pub enum Event {
    Search(String),
    CheckIn(MemberId),
    CheckInFound(Box<LookupResult>),
    /// The form opened: focus its first field.
    ManualOpened,
    CheckInManual {
        member_no: String,
        note: String,
    },
    ManualClosed,
}

impl Search {
    pub fn update(&mut self, message: Message) -> Option<Event> {
        match message {
            Message::Query(query) => {
                self.query = query.clone();
                self.outcome = None;
                Some(Event::Search(query))
            }
            Message::Submit => match (self.results.first(), &self.remote) {
                (Some(m), _) => Some(Event::CheckIn(m.id.clone())),
                (None, Remote::Found(found)) => found
                    .first()
                    .map(|f| Event::CheckInFound(Box::new(f.clone()))),
                (None, _) => None,
            },
            Message::CheckIn(id) => Some(Event::CheckIn(id)),
            Message::CheckInFound(found) => Some(Event::CheckInFound(found)),
            Message::OpenManual => {
                // A number typed into the search is most likely the member number.
                let typed = self.query.trim();
                let member_no = if !typed.is_empty()
                    && typed.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                {
                    typed.to_owned()
                } else {
                    String::new()
                };
                self.manual = Some(Manual {
                    member_no,
                    ..Manual::default()
                });
                Some(Event::ManualOpened)
            }
            Message::ManualNo(typed) => {
                if let Some(manual) = &mut self.manual {
                    manual.member_no = typed.chars().take(20).collect();
                }
                None
            }
            Message::ManualNote(typed) => {
                if let Some(manual) = &mut self.manual {
                    manual.note = typed.chars().take(200).collect();
                }
                None
            }
            Message::ManualPick(_) => None,
            Message::ManualSubmit => {
                let manual = self.manual.as_mut()?;
                if manual.member_no.trim().is_empty() || manual.note.trim().is_empty() {
                    manual.missing = true;
                    return None;
                }
                let manual = self.manual.take()?;
                Some(Event::CheckInManual {
                    member_no: manual.member_no.trim().to_owned(),
                    note: manual.note.trim().to_owned(),
                })
            }
            Message::ManualCancel => {
                self.manual = None;
                Some(Event::ManualClosed)
            }
        }
    }

    /// A common note picked: it replaces what was typed (staff can still edit it).
    pub fn pick_note(&mut self, note: &str) {
        if let Some(manual) = &mut self.manual {
            manual.note = note.to_owned();
            manual.missing = false;
        }
    }

    /// Results for `query`; answers for an older query are dropped.
    pub fn set_results(&mut self, query: &str, results: Vec<RosterMember>) {
        if query == self.query {
            self.results = results;
        }
    }

    /// The server's answer for `query`; an answer for an older query is dropped. Members
    /// already in the roster's results are not shown twice.
    pub fn set_remote(&mut self, query: &str, remote: Remote) {
        if query != self.query {
            return;
        }
        self.remote = match remote {
            Remote::Found(found) => Remote::Found(
                found
                    .into_iter()
                    .filter(|f| !self.results.iter().any(|m| m.id == f.member.id))
                    .collect(),
            ),
            other => other,
        };
    }

    fn manual_view<'a>(&'a self, manual: &'a Manual, s: &'a Strings) -> Element<'a, Message> {
        let mut notes = row![].spacing(8);
        for (i, note) in s.manual_notes.iter().enumerate() {
            notes = notes.push(
                button(text(*note).size(17))
                    .padding([8, 14])
                    .style(if manual.note == *note {
                        iced::widget::button::primary
                    } else {
                        iced::widget::button::secondary
                    })
                    .on_press(Message::ManualPick(i)),
            );
        }
        let mut body = column![
            text(s.manual_title).size(28).font(theme::BOLD),
            text(s.manual_hint).size(17).color(theme::MUTED),
            text(s.manual_member_no).size(18),
            text_input(s.manual_member_no, &manual.member_no)
                .id(MANUAL_NO_ID)
                .on_input(Message::ManualNo)
                .on_submit(Message::ManualSubmit)
                .padding(12)
                .size(22),
            text(s.manual_note).size(18),
            notes.wrap(),
            text_input(s.manual_note, &manual.note)
                .id(MANUAL_NOTE_ID)
                .on_input(Message::ManualNote)
                .on_submit(Message::ManualSubmit)
                .padding(12)
                .size(20),
        ]
        .spacing(12)
        .max_width(760);
        if manual.missing {
            body = body.push(text(s.manual_missing).size(18).color(theme::RED));
        }
        body = body.push(
            row![
                button(text(s.manual_confirm).size(20))
                    .padding([10, 24])
                    .style(iced::widget::button::success)
                    .on_press(Message::ManualSubmit),
                button(text(s.go_back).size(20))
                    .padding([10, 24])
                    .style(iced::widget::button::secondary)
                    .on_press(Message::ManualCancel),
            ]
            .spacing(12),
        );
        container(scrollable(body))
            .padding(24)
            .width(Length::Fill)
            .height(Length::Fill)
            .style(theme::card)
            .into()
    }

    pub fn view<'a>(&'a self, s: &'a Strings) -> Element<'a, Message> {
        if let Some(manual) = &self.manual {
            return self.manual_view(manual, s);
        }
        let input = text_input(s.search_hint, &self.query)
            .id(INPUT_ID)
            .on_input(Message::Query)
            .on_submit(Message::Submit)
            .padding(14)
            .size(24);
        let mut list = column![].spacing(8);
        for member in &self.results {
            list = list.push(member_line(
                member,
                &[],
                Message::CheckIn(member.id.clone()),
                s,
            ));
        }
        let remote_found = matches!(&self.remote, Remote::Found(found) if !found.is_empty());
        let nobody = self.results.is_empty() && !self.query.trim().is_empty() && !remote_found;
        if nobody {
            list = list.push(text(s.no_results).size(18).color(theme::MUTED));
        }
        match &self.remote {
            Remote::Idle => {}
            Remote::Searching => {
                list = list.push(text(s.remote_searching).size(18).color(theme::MUTED));
            }
            Remote::Found(found) if found.is_empty() => {
                if self.results.is_empty() {
                    list = list.push(text(s.remote_none).size(18).color(theme::MUTED));
                }
            }
            Remote::Found(found) => {
                list = list.push(text(s.remote_heading).size(20));
                for result in found {
                    list = list.push(member_line(
                        &result.member,
                        &result.flags,
                        Message::CheckInFound(Box::new(result.clone())),
                        s,
                    ));
                }
            }
            Remote::Unavailable(why) => {
                list = list.push(text(why).size(18).color(theme::AMBER));
            }
        }
        let mut page = column![
            row![
                text(s.search).size(28),
                space::horizontal(),
                // Always there: staff always have a way to let a paying member in.
                button(text(s.manual_open).size(17))
                    .padding([8, 16])
                    .style(if nobody {
                        iced::widget::button::primary
                    } else {
                        iced::widget::button::secondary
                    })
                    .on_press(Message::OpenManual),
            ]
            .align_y(Alignment::Center),
            input
        ]
        .spacing(16);
        if let Some((ok, message)) = &self.outcome {
            page = page.push(
                container(text(message).size(20))
                    .padding(12)
                    .width(Length::Fill)
                    .style(if *ok {
                        theme::notice_banner
                    } else {
                        theme::offline_banner
                    }),
            );
        }
        page.push(scrollable(list).height(Length::Fill)).into()
    }
}

/// One member to check in: who, their pass, what to notice, and the button.
fn member_line<'a>(
    member: &'a RosterMember,
    flags: &[gymgate_shared::api::CheckinFlag],
    check_in: Message,
    s: &'a Strings,
) -> Element<'a, Message> {
    use gymgate_shared::api::CheckinFlag;
    let details = [
        member.member_no.clone(),
        s.phone_tail(&member.phone_last4),
        member.plan.clone(),
        s.visits_left(member.visits_left),
    ]
    .into_iter()
    .filter(|part| !part.is_empty())
    .collect::<Vec<_>>()
    .join(" · ");
    let mut who = column![
        text(&member.name).size(24),
        text(details).size(16).color(theme::MUTED)
    ]
    .spacing(4);
    let mut notes = Vec::new();
    if member.blocked {
        notes.push(s.blocked);
    }
    for flag in flags {
        notes.push(match flag {
            CheckinFlag::FirstVisit => s.first_visit,
            CheckinFlag::ExpiringSoon => s.expiring_soon,
            CheckinFlag::Birthday => s.birthday,
            CheckinFlag::PendingApproval => s.pending_approval,
        });
    }
    if !notes.is_empty() {
        who = who.push(text(notes.join(" · ")).size(16).color(if member.blocked {
            theme::RED
        } else {
            theme::BLUE
        }));
    }
    container(
        row![
            who,
            space::horizontal(),
            button(text(s.check_in).size(20))
                .padding([10, 24])
                .style(iced::widget::button::success)
                .on_press(check_in),
        ]
        .align_y(Alignment::Center),
    )
    .padding(12)
    .style(theme::card)
    .into()
}
