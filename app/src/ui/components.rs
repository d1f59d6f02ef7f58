//! The chrome around every running screen: the status bar and the navigation bar.

use chrono::{DateTime, Utc};
use gymgate_desk_core::LinkStatus;
use iced::{Alignment, Element, Length};

use super::i18n::{Strings, clock};
use super::{Message, Running, View, theme};

use iced::widget::{button, container, row, space, text};

pub(super) fn status_bar<'a>(
    running: &'a Running,
    s: &'a Strings,
    now: DateTime<Utc>,
) -> Element<'a, Message> {
    let (dot, label, color) = match &running.link {
        LinkStatus::Online { .. } => ("●", s.online.to_owned(), theme::GREEN),
        LinkStatus::Connecting {
            offline_since: Some(since),
            ..
        } => (
            "●",
            format!("{} ({} ~) · {}", s.offline, clock(*since), s.connecting),
            theme::AMBER,
        ),
        LinkStatus::Connecting { .. } => ("●", s.connecting.to_owned(), theme::AMBER),
        LinkStatus::Offline {
            since, retry_at, ..
        } => {
            let seconds = (*retry_at - now).num_seconds().max(0);
            (
                "●",
                format!(
                    "{} ({} ~) · {}",
                    s.offline,
                    clock(*since),
                    s.next_try(seconds)
                ),
                theme::AMBER,
            )
        }
    };
    let title = format!(
        "{} · {}",
        running.center_name.as_deref().unwrap_or("gymgate"),
        running.pairing.desk_name
    );
    container(
        row![
            text(title).size(22).font(theme::BOLD),
            space::horizontal(),
            text(dot).size(20).color(color),
            text(label).size(18),
            text("·").size(18),
            text(s.waiting(running.pending)).size(18),
            text("·").size(18),
            text(s.last_sync(running.last_sync)).size(18),
            text("·").size(18),
            text(clock(now)).size(18),
        ]
        .spacing(10)
        .align_y(Alignment::Center),
    )
    .padding([12, 20])
    .width(Length::Fill)
    .style(theme::status_bar)
    .into()
}

pub(super) fn nav_bar<'a>(running: &'a Running, s: &'a Strings) -> Element<'a, Message> {
    let item = |label: String, view: View| {
        button(text(label).size(19))
            .padding([10, 22])
            .style(theme::nav(running.view == view))
            .on_press(Message::Navigate(view))
    };
    row![
        item(format!("{} (F2)", s.search), View::Search),
        item(s.today.to_owned(), View::Board),
        item(s.conflicts_count(running.conflicts.len()), View::Conflicts),
        item(s.entrance.to_owned(), View::Entrance),
        item(s.settings.to_owned(), View::Settings),
    ]
    .spacing(10)
    .into()
}
