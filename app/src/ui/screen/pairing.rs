//! First run: server address, pairing code, desk name.

use iced::widget::{button, column, container, text, text_input};
use iced::{Element, Length};

use crate::ui::i18n::Strings;
use crate::ui::theme;

#[derive(Debug, Clone, Default)]
pub struct Pairing {
    pub server: String,
    pub code: String,
    pub name: String,
    pub busy: bool,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Message {
    Server(String),
    Code(String),
    Name(String),
    Submit,
}

pub enum Event {
    Pair {
        server: String,
        code: String,
        name: String,
    },
}

impl Pairing {
    pub fn new(server: &str) -> Pairing {
        Pairing {
            server: server.to_owned(),
            name: "1층 데스크".to_owned(),
            ..Pairing::default()
        }
    }

    pub fn update(&mut self, message: Message) -> Option<Event> {
        match message {
            Message::Server(v) => self.server = v,
            Message::Code(v) => self.code = v,
            Message::Name(v) => self.name = v,
            Message::Submit => {
                if self.busy || self.server.trim().is_empty() || self.code.trim().is_empty() {
                    return None;
                }
                self.busy = true;
                self.error = None;
                return Some(Event::Pair {
                    server: self.server.clone(),
                    code: self.code.clone(),
                    name: if self.name.trim().is_empty() {
                        "데스크".into()
                    } else {
                        self.name.clone()
                    },
                });
            }
        }
        None
    }

    pub fn view<'a>(&'a self, s: &'a Strings) -> Element<'a, Message> {
        let field = |label: &'a str, value: &'a str, on: fn(String) -> Message| {
            column![
                text(label).size(16).color(theme::MUTED),
                text_input("", value)
                    .on_input(on)
                    .on_submit(Message::Submit)
                    .padding(12)
                    .size(20),
            ]
            .spacing(6)
        };
        let submit = button(
            text(if self.busy {
                s.pairing_in_progress
            } else {
                s.pair
            })
            .size(20),
        )
        .padding([12, 28])
        .on_press_maybe((!self.busy).then_some(Message::Submit));
        let mut form = column![
            text(s.pairing_title).size(28),
            text(s.pairing_help).size(16).color(theme::MUTED),
            field(s.server, &self.server, Message::Server),
            field(s.pairing_code, &self.code, Message::Code),
            field(s.desk_name, &self.name, Message::Name),
            submit,
        ]
        .spacing(18)
        .max_width(560);
        if let Some(error) = &self.error {
            form = form.push(text(error).size(18).color(theme::RED));
        }
        container(container(form).padding(32).style(theme::card))
            .center(Length::Fill)
            .style(theme::page)
            .into()
    }
}
