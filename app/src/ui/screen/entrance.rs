//! The entrance QR: the desk's presence code, big, for members' phones to scan at the door
//! (`gymgate_shared::presence`). Drawn anew every few seconds by the app; nothing to press.

use iced::widget::{column, container, qr_code, text};
use iced::{Alignment, Element, Length};

use crate::ui::i18n::Strings;
use crate::ui::message::Message;
use crate::ui::state::Entrance;
use crate::ui::theme;

pub fn view<'a>(
    entrance: Option<&'a Entrance>,
    center: Option<&'a str>,
    s: &'a Strings,
) -> Element<'a, Message> {
    let body: Element<'a, Message> = match entrance {
        Some(entrance) => container(qr_code(&entrance.data).total_size(440))
            .padding(16)
            .style(theme::card)
            .into(),
        None => text(s.entrance_unavailable).size(20).into(),
    };
    container(
        column![
            text(center.unwrap_or_default()).size(32),
            body,
            text(s.entrance_hint).size(18),
        ]
        .spacing(18)
        .max_width(720)
        .align_x(Alignment::Center),
    )
    .width(Length::Fill)
    .height(Length::Fill)
    .center_x(Length::Fill)
    .into()
}
