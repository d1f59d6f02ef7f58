//! Screens draw and map messages; they return events to the app instead of acting.

pub mod already_running;
pub mod board;
pub mod conflicts;
pub mod decide;
pub mod entrance;
pub mod pairing;
pub mod search;
pub mod settings;
