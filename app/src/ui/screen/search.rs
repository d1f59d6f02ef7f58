//! Find a member in the cached roster and check them in (online or offline).

use gymgate_shared::MemberId;
use gymgate_shared::api::RosterMember;
use iced::widget::{button, column, container, row, scrollable, space, text, text_input};
use iced::{Alignment, Element, Length};

use crate::ui::i18n::Strings;
use crate::ui::theme;

pub const INPUT_ID: &str = "member-search";

#[derive(Debug, Clone, Default)]
pub struct Search {
    pub query: String,
    pub results: Vec<RosterMember>,
    /// The last outcome: (ok, text).
    pub outcome: Option<(bool, String)>,
}

#[derive(Debug, Clone)]
pub enum Message {
    Query(String),
    /// Enter in the search box: check in the first match.
    Submit,
    CheckIn(MemberId),
}

pub enum Event {
    Search(String),
    CheckIn(MemberId),
}

impl Search {
    pub fn update(&mut self, message: Message) -> Option<Event> {
        match message {
            Message::Query(query) => {
                self.query = query.clone();
                self.outcome = None;
                Some(Event::Search(query))
            }
            Message::Submit => self.results.first().map(|m| Event::CheckIn(m.id.clone())),
            Message::CheckIn(id) => Some(Event::CheckIn(id)),
        }
    }

    /// Results for `query`; answers for an older query are dropped.
    pub fn set_results(&mut self, query: &str, results: Vec<RosterMember>) {
        if query == self.query {
            self.results = results;
        }
    }

    pub fn view<'a>(&'a self, s: &'a Strings) -> Element<'a, Message> {
        let input = text_input(s.search_hint, &self.query)
            .id(INPUT_ID)
            .on_input(Message::Query)
            .on_submit(Message::Submit)
            .padding(14)
            .size(24);
        let mut list = column![].spacing(8);
        for member in &self.results {
            let details = format!(
                "{} · ☎ {} · {} · {}",
                member.member_no,
                member.phone_last4,
                member.plan,
                s.visits_left(member.visits_left)
            );
            let mut who = column![
                text(&member.name).size(24),
                text(details).size(16).color(theme::MUTED)
            ]
            .spacing(4);
            if member.blocked {
                who = who.push(text(s.blocked).size(16).color(theme::RED));
            }
            list = list.push(
                container(
                    row![
                        who,
                        space::horizontal(),
                        button(text(s.check_in).size(20))
                            .padding([10, 24])
                            .style(iced::widget::button::success)
                            .on_press(Message::CheckIn(member.id.clone())),
                    ]
                    .align_y(Alignment::Center),
                )
                .padding(12)
                .style(theme::card),
            );
        }
        if self.results.is_empty() && !self.query.trim().is_empty() {
            list = list.push(text(s.no_results).size(18).color(theme::MUTED));
        }
        let mut page = column![text(s.search).size(28), input].spacing(16);
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
