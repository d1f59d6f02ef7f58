//! The delivery, check-in, console, security, fault, visit-evidence and member-data suites again, with every server on PostgreSQL:
//! this binary's name (`postgres_…`) tells the harness (`gymgate_tests::postgres`). Each
//! server gets a database of its own in the cluster `GYMGATE_TEST_POSTGRES` names.

#[path = "checkins.rs"]
mod checkins;
#[path = "console.rs"]
mod console;
#[path = "delivery.rs"]
mod delivery;
#[path = "faults.rs"]
mod faults;
#[path = "member_data.rs"]
mod member_data;
#[path = "security.rs"]
mod security;
#[path = "visits_proven.rs"]
mod visits_proven;
