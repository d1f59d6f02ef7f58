//! The gymgate wire contract (v1), ids, Korean calendar helpers and the check-in policy.
//!
//! Both the server and the desk depend on this crate, so the policy a desk applies offline
//! is the very code the server applies online.

pub mod api;
pub mod conformance;
pub mod geo;
pub mod hours;
pub mod ids;
pub mod kst;
pub mod pass;
pub mod policy;
pub mod presence;
pub mod protocol;
pub mod redact;
pub mod release;
pub mod settlement;
pub mod timefmt;

pub use ids::{CenterId, CheckinId, DeskId, LocalId, MemberId, NoticeId};
pub use protocol::PROTOCOL_VERSION;
