//! The gymgate center program's window: iced screens that only draw and map messages, over
//! [`gymgate_desk_core`] (cache, outbox, link and sync; no widgets, enforced by its own crate).

pub mod sound;
pub mod ui;

pub use gymgate_desk_core::{default_data_dir, init_logging};
