//! Offline check-ins the server did not accept; staff acknowledge each one.

use gymgate_shared::LocalId;
use iced::widget::{button, column, container, row, scrollable, space, text};
use iced::{Alignment, Element, Length};

use crate::ui::i18n::{Strings, clock};
use crate::ui::theme;
use gymgate_desk_core::cache::Conflict;

#[derive(Debug, Clone)]
pub enum Message {
    Acknowledge(LocalId),
}

/// What the list asks its parent to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Staff have seen this one: take it off the list.
    Acknowledge(LocalId),
}

pub fn update(message: Message) -> Event {
    match message {
        Message::Acknowledge(local_id) => Event::Acknowledge(local_id),
    }
}

pub fn view<'a>(conflicts: &'a [Conflict], s: &'a Strings) -> Element<'a, Message> {
    let mut list = column![].spacing(10);
    for conflict in conflicts {
        let (status, reason) = match &conflict.unsent_from {
            Some(_) => (
                s.not_synced,
                s.reason(
                    conflict
                        .reason
                        .as_deref()
                        .unwrap_or("previous_pairing_unsent"),
                ),
            ),
            None => (
                s.record_status(conflict.status),
                conflict
                    .reason
                    .as_deref()
                    .map(|code| s.reason(code))
                    .unwrap_or_default(),
            ),
        };
        list = list.push(
            container(
                row![
                    column![
                        text(format!("{} · {}", clock(conflict.at), conflict.member_name)).size(22),
                        text(format!("{status} — {reason}"))
                            .size(17)
                            .color(theme::RED),
                    ]
                    .spacing(4),
                    space::horizontal(),
                    button(text(s.acknowledge).size(18))
                        .padding([10, 20])
                        .on_press(Message::Acknowledge(conflict.local_id.clone())),
                ]
                .align_y(Alignment::Center),
            )
            .padding(14)
            .style(theme::card),
        );
    }
    if conflicts.is_empty() {
        list = list.push(text(s.no_conflicts).size(20).color(theme::MUTED));
    }
    column![
        text(s.conflicts).size(28),
        text(s.conflicts_help).size(17).color(theme::MUTED),
        scrollable(list).height(Length::Fill),
    ]
    .spacing(14)
    .into()
}
