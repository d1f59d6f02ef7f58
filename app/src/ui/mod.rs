//! The iced program. The app keeps what it shows, maps messages, and asks for work through
//! [`Command`]s that [`run_command`] performs against the core, so every decision here is
//! testable without a window and every SQLite call happens off `update()`.

mod app;
mod command;
mod components;
mod core_stream;
pub mod i18n;
mod message;
pub mod screen;
pub mod state;
pub mod theme;

pub use app::App;
pub use command::{Command, run_command, tasks};
pub use message::{Message, PairFailed};
pub use state::{Missed, Phase, Running, View};

use std::path::PathBuf;
use std::time::Duration;

use iced::{Element, Task};

use crate::sound::Chime;
use gymgate_desk_core::config;
use i18n::Strings;

pub const DEMO_SERVER: &str = "http://127.0.0.1:8080";
pub const DEMO_CODE: &str = "DEMO0-GYM00";
/// How long typing must pause before the server is asked (one lookup per query, not per key).
const LOOKUP_PAUSE: Duration = Duration::from_millis(400);

/// A pairing made on start without staff typing it: the demo, or an unattended install (IT
/// setting up many PCs). Used only while the desk is not paired yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoPair {
    pub server: String,
    pub code: String,
    pub name: String,
}

impl AutoPair {
    pub fn demo() -> AutoPair {
        AutoPair {
            server: DEMO_SERVER.to_owned(),
            code: DEMO_CODE.to_owned(),
            name: "데모 데스크".to_owned(),
        }
    }
}

/// The iced `update`: maps commands to tasks.
pub fn update(app: &mut App, message: Message) -> Task<Message> {
    let commands = app.update(message);
    tasks(app, commands)
}

pub fn view(app: &App) -> Element<'_, Message> {
    app.view()
}

/// Runs the desk window.
const REGULAR: &[u8] = theme::REGULAR_FONT;
const BOLD: &[u8] = theme::BOLD_FONT;

/// A second start on the same data directory: a small window that says the desk already
/// runs (in the language staff chose), closed by its button or the window's own.
pub fn run_already_running(data_dir: &std::path::Path) -> iced::Result {
    struct AlreadyRunning(&'static Strings);
    fn update(
        _: &mut AlreadyRunning,
        message: screen::already_running::Message,
    ) -> Task<screen::already_running::Message> {
        match message {
            screen::already_running::Message::Close => iced::exit(),
        }
    }
    fn view(state: &AlreadyRunning) -> Element<'_, screen::already_running::Message> {
        screen::already_running::view(state.0)
    }
    fn title(state: &AlreadyRunning) -> String {
        state.0.already_running_title.to_owned()
    }
    let s = i18n::strings(config::load_settings(data_dir).language);
    iced::application(move || AlreadyRunning(s), update, view)
        .title(title)
        .font(REGULAR)
        .font(BOLD)
        .default_font(theme::REGULAR)
        .window_size((520.0, 260.0))
        .centered()
        .run()
}

pub fn run(data_dir: PathBuf, auto_pair: Option<AutoPair>, args: Vec<String>) -> iced::Result {
    iced::application(
        move || {
            let (mut app, commands) = App::new(data_dir.clone(), auto_pair.clone(), Chime::start());
            app.args = args.clone();
            let task = tasks(&app, commands);
            (app, task)
        },
        update,
        view,
    )
    .title(|app: &App| {
        let center = app
            .running()
            .and_then(|r| r.center_name.clone())
            .unwrap_or_default();
        format!("gymgate 데스크 {center}")
    })
    .subscription(App::subscription)
    .font(REGULAR)
    .font(BOLD)
    .default_font(theme::REGULAR)
    // Maximised on the front-desk PC's screen, whatever it is (layouts tested from 1024×768
    // to 1920×1080 in `app/tests/layout.rs`); 1366×768 when restored.
    .window(iced::window::Settings {
        size: iced::Size::new(1366.0, 768.0),
        maximized: true,
        min_size: Some(iced::Size::new(1024.0, 700.0)),
        position: iced::window::Position::Centered,
        ..iced::window::Settings::default()
    })
    .run()
}
