//! A second start of the desk on this PC: says so instead of opening a second cache on the
//! same files, and closes.

use iced::widget::{button, column, container, text};
use iced::{Element, Length};

use crate::ui::i18n::Strings;
use crate::ui::theme;

#[derive(Debug, Clone)]
pub enum Message {
    Close,
}

pub fn view(s: &Strings) -> Element<'_, Message> {
    container(
        column![
            text(s.already_running_title).size(22),
            text(s.already_running).size(16),
            button(text(s.close).size(16))
                .padding([8, 20])
                .on_press(Message::Close),
        ]
        .spacing(14),
    )
    .padding(24)
    .width(Length::Fill)
    .height(Length::Fill)
    .style(theme::card)
    .into()
}
