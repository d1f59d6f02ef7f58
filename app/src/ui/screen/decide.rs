//! Void or deny a check-in: staff pick a common reason or type their own, then confirm; the
//! reason goes to the server with the decision (and into the check-in's history, where
//! operators and the member's support team read it). Keyboard only works too: 1–4 pick a
//! reason, Tab goes to the text field, Enter confirms, Esc goes back.

use gymgate_shared::CheckinId;
use gymgate_shared::protocol::Decision;
use iced::widget::{button, column, container, row, text, text_input};
use iced::{Alignment, Element, Length};

use crate::ui::i18n::Strings;
use crate::ui::theme;

/// The free-text reason field.
pub const OTHER_ID: &str = "decide-other-reason";
/// What the server keeps of a reason at most (characters).
pub const MAX_REASON: usize = 200;

#[derive(Debug, Clone, PartialEq)]
pub struct Deciding {
    pub checkin: CheckinId,
    pub member: String,
    pub decision: Decision,
    /// Which common reason was picked (index into the decision's list).
    pub picked: Option<usize>,
    pub other: String,
    /// Enter was pressed with no reason yet: say what is missing.
    pub missing: bool,
}

#[derive(Debug, Clone)]
pub enum Message {
    Pick(usize),
    Other(String),
    Confirm,
    Cancel,
}

/// What the app does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Confirm {
        checkin: CheckinId,
        decision: Decision,
        reason: String,
    },
    Cancel,
}

impl Deciding {
    pub fn new(checkin: CheckinId, member: String, decision: Decision) -> Deciding {
        Deciding {
            checkin,
            member,
            decision,
            picked: None,
            other: String::new(),
            missing: false,
        }
    }

    /// The reason as it will be sent: what staff typed, else the common reason picked.
    pub fn reason(&self, s: &Strings) -> Option<String> {
        let typed = self.other.trim();
        if !typed.is_empty() {
            return Some(typed.chars().take(MAX_REASON).collect());
        }
        self.picked
            .and_then(|i| s.decision_reasons(self.decision).get(i))
            .map(|r| (*r).to_owned())
    }

    pub fn update(&mut self, message: Message, s: &Strings) -> Option<Event> {
        match message {
            Message::Pick(i) if i < s.decision_reasons(self.decision).len() => {
                self.picked = Some(i);
                self.other.clear();
                self.missing = false;
            }
            Message::Pick(_) => {}
            Message::Other(typed) => {
                self.other = typed.chars().take(MAX_REASON).collect();
                if !self.other.trim().is_empty() {
                    self.picked = None;
                    self.missing = false;
                }
            }
            Message::Confirm => match self.reason(s) {
                Some(reason) => {
                    return Some(Event::Confirm {
                        checkin: self.checkin.clone(),
                        decision: self.decision,
                        reason,
                    });
                }
                None => self.missing = true,
            },
            Message::Cancel => return Some(Event::Cancel),
        }
        None
    }

    pub fn view<'a>(&'a self, s: &'a Strings) -> Element<'a, Message> {
        let mut reasons = column![].spacing(8);
        for (i, reason) in s.decision_reasons(self.decision).iter().enumerate() {
            let picked = self.picked == Some(i);
            reasons = reasons.push(
                button(text(format!("{}  {reason}", i + 1)).size(20))
                    .padding([10, 18])
                    .width(Length::Fill)
                    .style(if picked {
                        iced::widget::button::primary
                    } else {
                        iced::widget::button::secondary
                    })
                    .on_press(Message::Pick(i)),
            );
        }
        let other = text_input(s.other_reason, &self.other)
            .id(OTHER_ID)
            .on_input(Message::Other)
            .on_submit(Message::Confirm)
            .padding(12)
            .size(20);
        let mut body = column![
            text(s.decide_title(self.decision, &self.member))
                .size(30)
                .font(theme::BOLD),
            text(s.decide_hint).size(17).color(theme::MUTED),
            reasons,
            other,
        ]
        .spacing(14)
        .max_width(720);
        if self.missing {
            body = body.push(text(s.reason_needed).size(18).color(theme::RED));
        }
        let confirm = button(text(s.decide_confirm(self.decision)).size(20))
            .padding([10, 24])
            .style(iced::widget::button::danger)
            .on_press(Message::Confirm);
        let back = button(text(s.go_back).size(20))
            .padding([10, 24])
            .style(iced::widget::button::secondary)
            .on_press(Message::Cancel);
        body = body.push(row![confirm, back].spacing(12).align_y(Alignment::Center));
        container(body)
            .padding(32)
            .width(Length::Fill)
            .height(Length::Fill)
            .style(theme::card)
            .into()
    }
}
