//! Server and pairing, sound, language.

use iced::widget::{button, column, row, text, toggler};
use iced::{Alignment, Element};

use crate::ui::i18n::Strings;
use crate::ui::theme;
use gymgate_desk_core::config::{Language, Settings};
use gymgate_shared::settlement::{DayCheck, StatementDay};

/// The statement check as last read.
#[derive(Debug, Clone)]
pub enum StatementView {
    /// The server's statement, day by day against this PC's record.
    Checked(Vec<DayCheck>),
    /// The server could not be reached: this PC's own days only.
    Local(Vec<StatementDay>),
}

#[derive(Debug, Clone)]
pub enum Message {
    Sound(bool),
    Language(Language),
    Unpair,
}

pub enum Event {
    Changed(Settings),
    Unpair,
}

/// Unpairing asks twice.
#[derive(Debug, Clone, Default)]
pub struct SettingsScreen {
    pub confirm_unpair: bool,
    /// Recent days of the center's statement against this desk's own record
    /// (docs/settlement.md); `None` until read.
    pub statement: Option<StatementView>,
}

/// Days of the statement check shown.
pub const STATEMENT_DAYS: i64 = 14;

impl SettingsScreen {
    pub fn update(&mut self, settings: &Settings, message: Message) -> Option<Event> {
        match message {
            Message::Sound(sound) => Some(Event::Changed(Settings {
                sound,
                ..settings.clone()
            })),
            Message::Language(language) => Some(Event::Changed(Settings {
                language,
                ..settings.clone()
            })),
            Message::Unpair if self.confirm_unpair => {
                self.confirm_unpair = false;
                Some(Event::Unpair)
            }
            Message::Unpair => {
                self.confirm_unpair = true;
                None
            }
        }
    }

    pub fn view<'a>(
        &'a self,
        settings: &Settings,
        server: &'a str,
        desk_name: &'a str,
        s: &'a Strings,
    ) -> Element<'a, Message> {
        let language = |lang: Language, label: &'a str| {
            button(text(label).size(18))
                .padding([8, 18])
                .style(theme::nav(settings.language == lang))
                .on_press(Message::Language(lang))
        };
        let mut page = column![
            text(s.settings).size(28),
            text(format!("{}: {server}", s.server)).size(18),
            text(format!("{}: {desk_name}", s.desk_name)).size(18),
            toggler(settings.sound)
                .label(if settings.sound {
                    s.sound_on
                } else {
                    s.sound_off
                })
                .text_size(18)
                .on_toggle(Message::Sound),
            row![
                text(s.language).size(18),
                language(Language::Ko, "한국어"),
                language(Language::En, "English"),
            ]
            .spacing(10)
            .align_y(Alignment::Center),
            button(text(s.unpair).size(18))
                .padding([10, 20])
                .style(iced::widget::button::danger)
                .on_press(Message::Unpair),
        ]
        .spacing(18);
        if self.confirm_unpair {
            page = page.push(text(s.unpair_confirm).size(17).color(theme::RED));
        }
        page = page.push(text(s.statement_check).size(20));
        match &self.statement {
            None => {}
            Some(StatementView::Checked(days)) if days.is_empty() => {
                page = page.push(text(s.statement_none).size(16));
            }
            Some(StatementView::Checked(days)) => {
                let mut list = column![].spacing(4);
                // Newest first; a day that differs says how, in staff's words.
                for day in days.iter().rev() {
                    let line = text(s.statement_day(day)).size(16);
                    list = list.push(if day.matches {
                        line
                    } else {
                        line.color(theme::RED)
                    });
                }
                page = page.push(list);
            }
            Some(StatementView::Local(days)) => {
                page = page.push(text(s.statement_offline).size(16).color(theme::AMBER));
                let mut list = column![].spacing(4);
                for day in days.iter().rev() {
                    list = list.push(
                        text(format!(
                            "{} · {}",
                            day.day.date,
                            s.statement_count(day.day.count)
                        ))
                        .size(16),
                    );
                }
                page = page.push(list);
            }
        }
        iced::widget::scrollable(page).into()
    }
}
