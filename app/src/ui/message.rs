//! Everything that happens to the app: screens' messages, the core's events, answers to
//! commands, keys and ticks.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use gymgate_desk_core::cache::Conflict;
use gymgate_desk_core::config::Pairing;
use gymgate_desk_core::{CoreEvent, config};
use gymgate_shared::MemberId;
use gymgate_shared::api::{CheckinCard, RosterMember};
use iced::keyboard;

use super::View;
use super::screen::{board, conflicts, decide, pairing, search, settings};

/// Why pairing did not happen; staff read it in their words (`Strings::pair_error`), the log
/// keeps the details.
#[derive(Debug, Clone)]
pub enum PairFailed {
    Pair(config::PairError),
    /// The pairing was made but could not be saved on this PC.
    Save,
}

#[derive(Debug, Clone)]
pub enum Message {
    Core(CoreEvent),
    Pairing(pairing::Message),
    Paired(Result<Pairing, PairFailed>),
    Decide(decide::Message),
    Search(search::Message),
    SearchResults(String, Vec<RosterMember>),
    CheckedIn(Result<CheckinCard, String>),
    /// What a scanned pass did.
    Scanned(Result<CheckinCard, crate::ui::state::ScanRefusal>),
    /// Staff saw the refusal (Esc, or the button on its card).
    DismissRefusal,
    /// The pause after typing is over: look `query` up on the server if it is still current.
    LookupDue(String),
    LookupResults(String, search::Remote),
    Board(board::Message),
    Conflicts(conflicts::Message),
    Acknowledged(Result<Vec<Conflict>, String>),
    Settings(settings::Message),
    /// A member's photo is on this PC now (`None`: not available).
    Photo(MemberId, Option<PathBuf>),
    /// This desk's statement digests, read for the settings page.
    Statement(crate::ui::screen::settings::StatementView),
    Navigate(View),
    RetryNow,
    DismissToast,
    Key(keyboard::Event),
    Tick(DateTime<Utc>),
    /// The update helper has the release (its version): the window closes.
    UpdateHandedOver(Result<String, String>),
    Done(Result<(), String>),
}
