//! The schema of each database. PostgreSQL's starts at the shape SQLite's migrations reached
//! (the same tables, columns and indexes), so the store's statements run on both.

pub mod postgres;
pub mod sqlite;

pub use sqlite::migrations;
