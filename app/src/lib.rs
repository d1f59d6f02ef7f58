//! The gymgate center program: [`core`] (cache, outbox, link, sync; no widgets) and [`ui`]
//! (iced screens that only draw and map messages).

pub mod core;
pub mod ui;
