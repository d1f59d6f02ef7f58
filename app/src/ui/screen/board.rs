//! The live board: the newest check-in as a big card, today's list beside it.

use std::collections::HashMap;
use std::path::PathBuf;

use gymgate_shared::api::{CheckinCard, CheckinFlag, CheckinStatus};
use gymgate_shared::protocol::Decision;
use gymgate_shared::{CheckinId, MemberId};
use iced::widget::{
    button, column, container, image, mouse_area, row, scrollable, space, text, text_input,
};
use iced::{Alignment, Color, ContentFit, Element, Length};

use crate::ui::i18n::{Strings, clock};
use crate::ui::state::ScanRefusal;
use crate::ui::theme;

/// The scan field: focused whenever the board is shown, since a keyboard-wedge scanner types
/// into whatever has focus and ends with Enter.
pub const SCAN_ID: &str = "pass-scan";

#[derive(Debug, Clone)]
pub enum Message {
    Decide(CheckinId, Decision),
    Show(CheckinId),
    /// The scanner (or staff) typed into the scan field.
    ScanInput(String),
    /// Enter in the scan field: a whole code was scanned.
    ScanSubmit,
    /// Staff saw the refused scan.
    DismissRefusal,
}

/// What the board asks its parent to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Show this check-in big.
    Show(CheckinId),
    /// Start admitting, denying or voiding it (the reason is asked next).
    Decide(CheckinId, Decision),
    /// A whole code was scanned: check it.
    Scan(String),
    /// The refused scan's card goes back to the last check-in.
    DismissRefusal,
}

/// The board keeps the scan field's text (`scan`, held by the parent with the rest of the
/// running desk's state); everything else is an event for the parent.
pub fn update(scan: &mut String, message: Message) -> Option<Event> {
    match message {
        Message::ScanInput(text) => {
            *scan = text;
            None
        }
        Message::ScanSubmit => {
            let text = std::mem::take(scan);
            (!text.trim().is_empty()).then_some(Event::Scan(text))
        }
        Message::Show(id) => Some(Event::Show(id)),
        Message::Decide(id, decision) => Some(Event::Decide(id, decision)),
        Message::DismissRefusal => Some(Event::DismissRefusal),
    }
}

fn status_text(status: CheckinStatus, s: &Strings) -> (&'static str, Color) {
    match status {
        CheckinStatus::Admitted => (s.admitted, theme::GREEN),
        CheckinStatus::Pending => (s.pending, theme::AMBER),
        CheckinStatus::Denied => (s.denied, theme::RED),
        CheckinStatus::Voided => (s.voided, theme::MUTED),
        CheckinStatus::Expired => (s.expired, theme::MUTED),
        CheckinStatus::Disputed => (s.disputed, theme::AMBER),
    }
}

fn chip<'a>(label: &'a str, color: Color) -> Element<'a, Message> {
    container(text(label).size(17))
        .padding([4, 12])
        .style(theme::chip(color))
        .into()
}

/// A card the server has not confirmed yet (made on this desk while offline).
fn provisional(card: &CheckinCard) -> bool {
    card.checkin.rev == 0
}

/// Below this height (a 1024×768 or 1366×768 screen with banners showing) the big card
/// tightens, so the decision buttons always stay on screen.
const ROOMY_CARD_HEIGHT: f32 = 520.0;

/// The sizes of the big card: roomy on a tall screen, compact on a short one.
struct CardScale {
    padding: f32,
    spacing: f32,
    avatar: f32,
    initial: f32,
    name: f32,
    plan: f32,
    status: f32,
    button: f32,
}

impl CardScale {
    fn for_height(height: f32) -> CardScale {
        if height >= ROOMY_CARD_HEIGHT {
            CardScale {
                padding: 32.0,
                spacing: 22.0,
                avatar: 120.0,
                initial: 56.0,
                name: 56.0,
                plan: 26.0,
                status: 32.0,
                button: 22.0,
            }
        } else {
            CardScale {
                padding: 20.0,
                spacing: 12.0,
                avatar: 92.0,
                initial: 44.0,
                name: 44.0,
                plan: 22.0,
                status: 26.0,
                button: 19.0,
            }
        }
    }
}

pub fn big_card<'a>(
    card: &'a CheckinCard,
    photo: Option<&'a PathBuf>,
    s: &'a Strings,
) -> Element<'a, Message> {
    iced::widget::responsive(move |size| {
        container(card_body(
            card,
            photo,
            s,
            &CardScale::for_height(size.height),
        ))
        .width(Length::Fill)
        .height(Length::Fill)
        .style(theme::card)
        .into()
    })
    .into()
}

/// Who the card is for: the name, or for a check-in on staff's judgement not confirmed yet,
/// the member number staff typed.
pub fn shown_name(card: &CheckinCard, s: &Strings) -> String {
    if card.member.name.is_empty() {
        s.unconfirmed_member(&card.member.member_no)
    } else {
        card.member.name.clone()
    }
}

/// The member's photo, or their initial when there is none on this PC.
fn avatar<'a>(
    card: &CheckinCard,
    photo: Option<&'a PathBuf>,
    side: f32,
    initial_size: f32,
) -> Element<'a, Message> {
    match photo {
        Some(path) => container(
            image(image::Handle::from_path(path))
                .width(side)
                .height(side)
                .content_fit(ContentFit::Cover),
        )
        .center(side)
        .style(theme::avatar)
        .into(),
        None => {
            let initial: String = card
                .member
                .name
                .chars()
                .next()
                .map(String::from)
                .unwrap_or_else(|| "?".into());
            container(text(initial).size(initial_size))
                .center(side)
                .style(theme::avatar)
                .into()
        }
    }
}

fn card_body<'a>(
    card: &'a CheckinCard,
    photo: Option<&'a PathBuf>,
    s: &'a Strings,
    scale: &CardScale,
) -> Element<'a, Message> {
    let member = &card.member;
    let avatar = avatar(card, photo, scale.avatar, scale.initial);
    let (status, color) = status_text(card.checkin.status, s);
    let mut chips = row![].spacing(8);
    for flag in &card.flags {
        let (label, color) = match flag {
            CheckinFlag::FirstVisit => (s.first_visit, theme::BLUE),
            CheckinFlag::ExpiringSoon => (s.expiring_soon, theme::AMBER),
            CheckinFlag::Birthday => (s.birthday, theme::GREEN),
            CheckinFlag::PendingApproval => (s.pending_approval, theme::AMBER),
        };
        chips = chips.push(chip(label, color));
    }
    if member.blocked {
        chips = chips.push(chip(s.blocked, theme::RED));
    }
    if provisional(card) {
        chips = chips.push(chip(s.not_synced, theme::MUTED));
    }
    let mut actions = row![].spacing(12);
    let id = &card.checkin.id;
    if !provisional(card) {
        if card.checkin.status == CheckinStatus::Pending {
            actions = actions
                .push(
                    button(text(s.admit).size(scale.button))
                        .padding([12, 30])
                        .style(iced::widget::button::success)
                        .on_press(Message::Decide(id.clone(), Decision::Admit)),
                )
                .push(
                    button(text(s.deny).size(scale.button))
                        .padding([12, 30])
                        .style(iced::widget::button::danger)
                        .on_press(Message::Decide(id.clone(), Decision::Deny)),
                );
        }
        if matches!(
            card.checkin.status,
            CheckinStatus::Admitted | CheckinStatus::Pending
        ) {
            actions = actions.push(
                button(text(s.void).size(18))
                    .padding([10, 22])
                    .style(iced::widget::button::secondary)
                    .on_press(Message::Decide(id.clone(), Decision::Void)),
            );
        }
    }
    let body = column![
        row![
            avatar,
            column![
                text(shown_name(card, s)).size(scale.name).font(theme::BOLD),
                text(s.plan_line(&member.plan, member.visits_left)).size(scale.plan),
                text(
                    [
                        s.valid_until(member.valid_until),
                        if member.member_no.is_empty() {
                            String::new()
                        } else {
                            format!("#{}", member.member_no)
                        },
                        s.phone_tail(&member.phone_last4),
                    ]
                    .into_iter()
                    .filter(|part| !part.is_empty())
                    .collect::<Vec<_>>()
                    .join(" · ")
                )
                .size(18)
                .color(theme::MUTED),
            ]
            .spacing(6),
        ]
        .spacing(28)
        .align_y(Alignment::Center),
        chips,
        text(format!("{}  {status}", clock(card.checkin.at)))
            .size(scale.status)
            .font(theme::BOLD)
            .color(color),
        text(s.method(card.checkin.method))
            .size(18)
            .color(theme::MUTED),
        actions,
        text(s.decide_keys).size(15).color(theme::MUTED),
    ]
    .spacing(scale.spacing)
    .padding(scale.padding);
    body.into()
}

/// A refused scan, as big as a check-in: red, the reason in large words, whose code it was
/// (when the code can say), and what to do now. It stays until staff dismiss it (Esc) or
/// the next member comes in, so nobody takes the previous member's green card for this one.
pub fn refusal_card<'a>(refusal: &'a ScanRefusal, s: &'a Strings) -> Element<'a, Message> {
    let mut body = column![
        container(
            text(s.refused_title)
                .size(22)
                .font(theme::BOLD)
                .color(theme::RED)
        )
        .padding([6, 16])
        .style(theme::chip(theme::RED)),
        text(&refusal.reason)
            .size(40)
            .font(theme::BOLD)
            .color(theme::RED),
    ]
    .spacing(18)
    .align_x(Alignment::Center);
    if let Some(name) = &refusal.name {
        body = body.push(text(s.refused_for(name)).size(28));
    }
    body = body.push(text(&refusal.next).size(22));
    body = body.push(
        button(text(s.refused_dismiss).size(18))
            .padding([10, 20])
            .on_press(Message::DismissRefusal),
    );
    container(body.max_width(760))
        .center(Length::Fill)
        .padding(24)
        .style(theme::refusal_card)
        .into()
}

fn empty_card<'a>(s: &'a Strings) -> Element<'a, Message> {
    container(
        column![
            text(s.no_checkins_yet).size(28),
            text(s.waiting_for_first).size(18).color(theme::MUTED)
        ]
        .spacing(10)
        .align_x(Alignment::Center),
    )
    .center(Length::Fill)
    .style(theme::card)
    .into()
}

/// The scan field and what the last scan did.
fn scan_bar<'a>(
    scan: &'a str,
    outcome: Option<&'a (bool, String)>,
    s: &'a Strings,
) -> Element<'a, Message> {
    let input = text_input(s.scan_hint, scan)
        .id(SCAN_ID)
        .on_input(Message::ScanInput)
        .on_submit(Message::ScanSubmit)
        .padding(12)
        .size(20);
    let mut bar = row![text(s.scan_title).size(20).font(theme::BOLD), input]
        .spacing(14)
        .align_y(Alignment::Center);
    if let Some((ok, message)) = outcome {
        bar = bar.push(
            container(text(message).size(18))
                .padding([8, 14])
                .max_width(620)
                .style(if *ok {
                    theme::notice_banner
                } else {
                    theme::offline_banner
                }),
        );
    }
    bar.into()
}

/// What the big card shows.
#[derive(Clone, Copy)]
pub enum Shown<'a> {
    /// A refused scan, until dismissed or the next arrival.
    Refusal(&'a ScanRefusal),
    Card(&'a CheckinCard),
    Nothing,
}

pub fn view<'a>(
    shown: Shown<'a>,
    today: &'a [CheckinCard],
    photos: &'a HashMap<MemberId, PathBuf>,
    scan: &'a str,
    scan_outcome: Option<&'a (bool, String)>,
    missed: Option<crate::ui::Missed>,
    s: &'a Strings,
) -> Element<'a, Message> {
    let mut list = column![].spacing(6);
    for card in today {
        let (status, color) = status_text(card.checkin.status, s);
        let line = row![
            text(clock(card.checkin.at))
                .size(18)
                .color(theme::MUTED)
                .width(60),
            avatar(card, photos.get(&card.member.id), 36.0, 18.0),
            text(shown_name(card, s)).size(20),
            space::horizontal(),
            text(if provisional(card) {
                s.not_synced
            } else {
                status
            })
            .size(16)
            .color(if provisional(card) {
                theme::MUTED
            } else {
                color
            }),
        ]
        .spacing(10)
        .align_y(Alignment::Center);
        list = list.push(
            mouse_area(container(line).padding([8, 12]).style(theme::row_line))
                .on_press(Message::Show(card.checkin.id.clone())),
        );
    }
    let mut heading = column![text(s.today_count(today.len())).size(22)].spacing(4);
    if let Some(missed) = missed {
        heading = heading.push(
            text(s.missed_while_offline(missed.count, missed.back_at))
                .size(16)
                .color(theme::MUTED),
        );
    }
    let side = container(column![heading, scrollable(list).height(Length::Fill)].spacing(12))
        .padding(18)
        .width(380)
        .height(Length::Fill)
        .style(theme::card);
    let main = match shown {
        Shown::Refusal(refusal) => refusal_card(refusal, s),
        Shown::Card(card) => big_card(card, photos.get(&card.member.id), s),
        Shown::Nothing => empty_card(s),
    };
    column![
        scan_bar(scan, scan_outcome, s),
        row![main, side].spacing(16).height(Length::Fill)
    ]
    .spacing(12)
    .into()
}
