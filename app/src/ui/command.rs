//! Work the app asks for, performed off `update()` against the core (and iced's focus
//! operations), each answered by a [`Message`].

use std::path::PathBuf;

use gymgate_desk_core::config::Settings;
use gymgate_desk_core::{DeskCore, LookupError, ScanError, config};
use gymgate_shared::api::{LookupResult, RosterMember};
use gymgate_shared::protocol::Decision;
use gymgate_shared::{CheckinId, LocalId, MemberId};
use iced::Task;

use super::screen::{board, decide, search, settings};
use super::{App, LOOKUP_PAUSE, Message, PairFailed, i18n};

/// Work the app asks for; [`run_command`] performs it.
#[derive(Debug, Clone)]
pub enum Command {
    Pair {
        server: String,
        code: String,
        name: String,
    },
    Search(DeskCore, String),
    /// The language is the one shown now, for the refusal's wording.
    CheckIn(DeskCore, MemberId, config::Language),
    /// A member the server found, new to this center.
    CheckInFound(DeskCore, Box<LookupResult>, config::Language),
    /// On staff's judgement: member number and what staff checked.
    CheckInManual(DeskCore, String, String, config::Language),
    Scan(DeskCore, String, config::Language),
    /// Wait a moment after typing before asking the server (typing makes many queries).
    PauseThenLookup(String),
    Lookup(DeskCore, String, config::Language),
    /// With the reason staff gave (none for admitting).
    Decide(DeskCore, CheckinId, Decision, Option<String>),
    Acknowledge(DeskCore, LocalId),
    SaveSettings(Settings),
    /// Read this desk's statement digests for the last days.
    LoadStatement(DeskCore),
    /// A member's photo from this PC, or fetched from the server.
    Photo(DeskCore, Box<RosterMember>),
    /// Stop the core and forget the pairing.
    Unpair(Option<DeskCore>),
    /// Hand the downloaded release to the update helper (with the desk's arguments).
    InstallUpdate(DeskCore, Vec<String>),
    /// Close the window (the update helper takes over).
    Exit,
    FocusSearch,
    FocusScan,
    /// A text field by id.
    Focus(&'static str),
    FocusDecideReason,
    FocusNext,
    FocusPrevious,
}

/// Performs a command; the answer comes back as a message.
pub async fn run_command(command: Command, data_dir: PathBuf) -> Message {
    match command {
        Command::Pair { server, code, name } => {
            let paired = match config::pair(&server, &code, &name).await {
                Ok(pairing) => pairing,
                Err(error) => {
                    tracing::warn!(%error, "pairing failed");
                    return Message::Paired(Err(PairFailed::Pair(error)));
                }
            };
            let saved = paired.clone();
            let stored =
                tokio::task::spawn_blocking(move || config::save_pairing(&data_dir, &saved)).await;
            match stored {
                Ok(Ok(())) => Message::Paired(Ok(paired)),
                Ok(Err(error)) => {
                    tracing::error!(%error, "cannot save the pairing");
                    Message::Paired(Err(PairFailed::Save))
                }
                Err(error) => {
                    tracing::error!(%error, "cannot save the pairing");
                    Message::Paired(Err(PairFailed::Save))
                }
            }
        }
        Command::Search(core, query) => {
            let results = core.search(query.clone()).await;
            Message::SearchResults(query, results)
        }
        Command::CheckIn(core, member, language) => match core.check_in(&member).await {
            Ok(card) => Message::CheckedIn(Ok(card)),
            Err(error) => Message::CheckedIn(Err(i18n::strings(language).checkin_error(&error))),
        },
        Command::CheckInFound(core, found, language) => match core.check_in_found(*found).await {
            Ok(card) => Message::CheckedIn(Ok(card)),
            Err(error) => Message::CheckedIn(Err(i18n::strings(language).checkin_error(&error))),
        },
        Command::CheckInManual(core, member_no, note, language) => {
            match core.check_in_manual(&member_no, &note).await {
                Ok(card) => Message::CheckedIn(Ok(card)),
                Err(error) => {
                    Message::CheckedIn(Err(i18n::strings(language).checkin_error(&error)))
                }
            }
        }
        Command::Scan(core, text, language) => {
            let s = i18n::strings(language);
            Message::Scanned(match core.scan(&text).await {
                Ok(card) => Ok(card),
                Err(error) => {
                    let reason = match &error {
                        ScanError::Pass(problem) => s.pass_problem(*problem),
                        ScanError::Checkin(refused) => s.checkin_error(refused),
                    };
                    Err(crate::ui::state::ScanRefusal {
                        name: error.member_name(&text),
                        next: s.refusal_next(&error).to_owned(),
                        reason,
                    })
                }
            })
        }
        Command::PauseThenLookup(query) => {
            tokio::time::sleep(LOOKUP_PAUSE).await;
            Message::LookupDue(query)
        }
        Command::Lookup(core, query, language) => {
            let s = i18n::strings(language);
            let remote = match core.lookup(&query).await {
                Ok(found) => search::Remote::Found(found),
                Err(LookupError::TooMany) => {
                    search::Remote::Unavailable(s.remote_too_many.to_owned())
                }
                Err(LookupError::DailyLimit) => {
                    search::Remote::Unavailable(s.remote_daily_limit.to_owned())
                }
                Err(LookupError::NotAQuery) => search::Remote::Idle,
                Err(LookupError::Unreachable | LookupError::Unpaired) => {
                    search::Remote::Unavailable(s.remote_unreachable.to_owned())
                }
            };
            Message::LookupResults(query, remote)
        }
        Command::Decide(core, id, decision, reason) => {
            core.decide(id, decision, reason);
            Message::Done(Ok(()))
        }
        Command::Acknowledge(core, local_id) => {
            Message::Acknowledged(core.acknowledge(local_id).await.map_err(|e| e.to_string()))
        }
        Command::SaveSettings(settings) => {
            let saved =
                tokio::task::spawn_blocking(move || config::save_settings(&data_dir, &settings))
                    .await;
            Message::Done(match saved {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            })
        }
        Command::Photo(core, member) => {
            let path = core.photo(&member).await;
            Message::Photo(member.id.clone(), path)
        }
        Command::LoadStatement(core) => {
            let today = gymgate_shared::kst::date_of(core.now());
            let from = today - chrono::Duration::days(settings::STATEMENT_DAYS - 1);
            let to = today + chrono::Duration::days(1);
            use crate::ui::screen::settings::StatementView;
            match core.check_statement(from, to).await {
                Ok(days) => Message::Statement(StatementView::Checked(days)),
                Err(gymgate_desk_core::StatementError::Unreachable) => {
                    match core.statement_days(from, to).await {
                        Ok(days) => Message::Statement(StatementView::Local(days)),
                        Err(error) => {
                            tracing::error!(%error, "cannot read the statement check from the cache");
                            Message::Done(Err(error.to_string()))
                        }
                    }
                }
                Err(gymgate_desk_core::StatementError::Cache(error)) => {
                    tracing::error!(%error, "cannot read the statement check from the cache");
                    Message::Done(Err(error.to_string()))
                }
            }
        }
        Command::Unpair(core) => {
            if let Some(core) = core {
                // Before the pairing goes, so nothing of the members stays on this PC.
                if let Err(error) = core.forget_members().await {
                    tracing::error!(%error, "cannot clear the members from the cache");
                }
                core.shutdown();
            }
            let removed =
                tokio::task::spawn_blocking(move || config::remove_pairing(&data_dir)).await;
            Message::Done(match removed {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            })
        }
        Command::InstallUpdate(core, args) => {
            let handed = core.install_update(args).await;
            if handed.is_ok() {
                core.shutdown();
            }
            Message::UpdateHandedOver(handed)
        }
        Command::Exit
        | Command::FocusSearch
        | Command::FocusScan
        | Command::FocusDecideReason
        | Command::Focus(_)
        | Command::FocusNext
        | Command::FocusPrevious => Message::Done(Ok(())),
    }
}

pub fn tasks(app: &App, commands: Vec<Command>) -> Task<Message> {
    Task::batch(commands.into_iter().map(|command| match command {
        Command::Exit => iced::exit(),
        Command::FocusSearch => iced::widget::operation::focus(search::INPUT_ID),
        Command::FocusScan => iced::widget::operation::focus(board::SCAN_ID),
        Command::FocusDecideReason => iced::widget::operation::focus(decide::OTHER_ID),
        Command::Focus(id) => iced::widget::operation::focus(id),
        Command::FocusNext => iced::widget::operation::focus_next(),
        Command::FocusPrevious => iced::widget::operation::focus_previous(),
        command => Task::future(run_command(command, app.data_dir.clone())),
    }))
}
