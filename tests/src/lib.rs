//! Test harness for gymgate end-to-end tests: servers (in-process on port 0, or real
//! processes), a desk client speaking the WebSocket protocol, and a member client.

pub mod browser;
pub mod console;
pub mod desk;
pub mod desk_core;
pub mod member;
pub mod postgres;
pub mod proxy;
pub mod server;
pub mod webhook;

pub use console::ConsoleClient;
pub use desk::DeskClient;
pub use desk_core::RunningDesk;
pub use member::MemberClient;
pub use proxy::Proxy;
pub use server::{Fixture, ServerProcess, TestServer};
pub use webhook::WebhookStub;

/// A bounded wait for anything a test expects to happen soon.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(10);
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const PIN: &str = "2580";
