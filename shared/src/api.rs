//! HTTP bodies of the v1 contract, and the records (check-in, member, notice) that travel
//! both over HTTP and inside desk events.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{CenterId, CheckinId, DeskId, LocalId, MemberId, NoticeId};

/// Every refused request answers `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberLogin {
    pub member_no: String,
    pub pin: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberSession {
    pub token: String,
    pub member: Member,
}

/// A member as they see themselves (`GET /api/v1/me`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: MemberId,
    pub member_no: String,
    pub name: String,
    pub plan: String,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    /// `None`: unlimited.
    pub visits_per_month: Option<u32>,
    /// Left this Korean month; `None`: unlimited.
    pub visits_left: Option<u32>,
    pub blocked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Center {
    pub id: CenterId,
    pub name: String,
    pub address: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckinRequest {
    pub center_id: CenterId,
    /// The desk's presence code the phone scanned at the entrance (`gymgate_shared::presence`):
    /// the visit's evidence is then `app+presence`. Never required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<String>,
    /// Where the phone was, sent only with the member's consent; the server keeps how far
    /// that is from the center, not the place. Never required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<TapLocation>,
}

/// The phone's position as its browser gave it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TapLocation {
    pub lat: f64,
    pub lon: f64,
    /// The browser's accuracy radius, in meters.
    pub accuracy_m: f64,
}

/// What the member agreed to (`GET`/`PUT /api/v1/me/consents`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consents {
    /// Send the phone's location with each tap.
    pub location: bool,
    /// When they last said so.
    #[serde(default)]
    pub location_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckinEnvelope {
    pub checkin: Checkin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckinStatus {
    Admitted,
    Pending,
    Denied,
    Voided,
    /// Pending for longer than the center's approval window: nobody decided, the visit is
    /// given back.
    Expired,
    /// A desk let the member in offline, but the server's rules refuse the visit (e.g. visited
    /// elsewhere today). Kept for operators to accept (it becomes `admitted`) or reject (it
    /// becomes `denied`); it does not use up the pass meanwhile.
    Disputed,
}

impl CheckinStatus {
    pub const ALL: [CheckinStatus; 6] = [
        CheckinStatus::Admitted,
        CheckinStatus::Pending,
        CheckinStatus::Denied,
        CheckinStatus::Voided,
        CheckinStatus::Expired,
        CheckinStatus::Disputed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckinStatus::Admitted => "admitted",
            CheckinStatus::Pending => "pending",
            CheckinStatus::Denied => "denied",
            CheckinStatus::Voided => "voided",
            CheckinStatus::Expired => "expired",
            CheckinStatus::Disputed => "disputed",
        }
    }

    pub fn parse(text: &str) -> Option<CheckinStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Admitted and pending visits use up the pass; the others do not.
    pub fn counts_as_visit(self) -> bool {
        matches!(self, CheckinStatus::Admitted | CheckinStatus::Pending)
    }
}

/// How a check-in came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckinMethod {
    /// The member tapped Enter in the app.
    App,
    /// Staff found the member in the desk's roster.
    Roster,
    /// Staff scanned the member's offline pass.
    Pass,
    /// Staff let the member in on their own judgement (member number typed, ID seen).
    Manual,
}

impl CheckinMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckinMethod::App => "app",
            CheckinMethod::Roster => "roster",
            CheckinMethod::Pass => "pass",
            CheckinMethod::Manual => "manual",
        }
    }

    pub fn parse(text: &str) -> Option<CheckinMethod> {
        match text {
            "app" => Some(CheckinMethod::App),
            "roster" => Some(CheckinMethod::Roster),
            "pass" => Some(CheckinMethod::Pass),
            "manual" => Some(CheckinMethod::Manual),
            _ => None,
        }
    }
}

/// What shows that the member made a visit (docs/settlement.md, "Evidence").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Evidence {
    /// The member tapped Enter with their own session.
    #[serde(rename = "app")]
    App,
    /// The same, carrying the desk's signed presence code the phone scanned at the center.
    #[serde(rename = "app+presence")]
    AppPresence,
    /// Staff scanned the member's offline pass, signed by the member's phone.
    #[serde(rename = "pass")]
    Pass,
    /// Staff picked the member from the desk's roster: the desk's word alone.
    #[serde(rename = "roster")]
    Roster,
    /// Staff typed the member's number: the desk's word alone.
    #[serde(rename = "manual")]
    Manual,
}

impl Evidence {
    pub const ALL: [Evidence; 5] = [
        Evidence::App,
        Evidence::AppPresence,
        Evidence::Pass,
        Evidence::Roster,
        Evidence::Manual,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Evidence::App => "app",
            Evidence::AppPresence => "app+presence",
            Evidence::Pass => "pass",
            Evidence::Roster => "roster",
            Evidence::Manual => "manual",
        }
    }

    pub fn parse(text: &str) -> Option<Evidence> {
        Self::ALL.into_iter().find(|e| e.as_str() == text)
    }

    /// The evidence of a check-in made by `method` (with no presence code).
    pub fn of_method(method: CheckinMethod) -> Evidence {
        match method {
            CheckinMethod::App => Evidence::App,
            CheckinMethod::Pass => Evidence::Pass,
            CheckinMethod::Roster => Evidence::Roster,
            CheckinMethod::Manual => Evidence::Manual,
        }
    }

    /// Staff alone made the record: the member has to confirm it before it is paid.
    pub fn staff_only(self) -> bool {
        matches!(self, Evidence::Roster | Evidence::Manual)
    }
}

/// Whether the member stands behind a visit, as settlement reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confirmation {
    /// The evidence is the member's own (an app tap, their signed pass): nothing to ask.
    ByEvidence,
    /// Staff recorded it, or it looked suspicious: paid once the member says yes (or, where
    /// the center allows, once its days pass without a no).
    Unconfirmed,
    /// The member said yes in the app.
    Member,
    /// The member said it was not them: a dispute for operators.
    NotMe,
    /// An operator decided a dispute about it.
    Operator,
}

impl Confirmation {
    pub fn as_str(self) -> &'static str {
        match self {
            Confirmation::ByEvidence => "by_evidence",
            Confirmation::Unconfirmed => "unconfirmed",
            Confirmation::Member => "member",
            Confirmation::NotMe => "not_me",
            Confirmation::Operator => "operator",
        }
    }

    pub fn parse(text: &str) -> Option<Confirmation> {
        [
            Confirmation::ByEvidence,
            Confirmation::Unconfirmed,
            Confirmation::Member,
            Confirmation::NotMe,
            Confirmation::Operator,
        ]
        .into_iter()
        .find(|c| c.as_str() == text)
    }
}

/// A visit in the member's own history (`GET /api/v1/me/visits`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberVisit {
    pub checkin: Checkin,
    pub evidence: Evidence,
    pub confirmation: Confirmation,
    /// The app asks "was this you?" (yes / no).
    pub ask: bool,
    /// "이 방문은 제가 아닙니다" may be pressed (a counted visit of the last 30 days).
    pub disputable: bool,
}

/// The member's answer about one visit (`POST /api/v1/me/visits/{id}/answer`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitAnswer {
    /// True: "네, 제 방문입니다"; false: "이 방문은 제가 아닙니다".
    pub mine: bool,
    /// With a no: what the member says happened (kept for operators, at most 500 characters).
    #[serde(default)]
    pub statement: Option<String>,
}

/// What operators see of how a visit came about (`GET /api/v1/admin/checkins/{id}/evidence`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckinEvidence {
    pub checkin_id: CheckinId,
    pub evidence: Evidence,
    /// For a desk's record: whether the server saw the desk online at the visit's time.
    #[serde(default)]
    pub desk_online: Option<bool>,
    /// When a desk's record reached the server, and how long after the visit.
    #[serde(default)]
    pub synced_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub sync_lag_s: Option<i64>,
    /// Why the record looks made up (docs/settlement.md, "Suspicious records"); empty if not.
    #[serde(default)]
    pub suspicion: Vec<String>,
    pub confirmation: Confirmation,
    #[serde(default)]
    pub answered_at: Option<DateTime<Utc>>,
    /// The member's words with a "not me".
    #[serde(default)]
    pub member_statement: Option<String>,
    /// The desk whose presence code the member's tap carried (`app+presence`).
    #[serde(default)]
    pub presence_desk: Option<DeskId>,
    /// How far the phone said it was from the center, and how sure it was (meters); only
    /// with the member's consent and a center whose place is set.
    #[serde(default)]
    pub location_m: Option<i64>,
    #[serde(default)]
    pub location_accuracy_m: Option<i64>,
}

/// How strictly a center's staff-recorded visits are confirmed
/// (`PUT /api/v1/admin/centers/{id}/confirmation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CenterConfirmation {
    /// Days after a visit reached the server with no "no" before it is paid anyway (0–60).
    pub confirm_days: u32,
    /// A center under review: its unconfirmed visits are paid only on the member's yes.
    pub under_review: bool,
    /// Why (required to put a center under review; audited).
    #[serde(default)]
    pub reason: Option<String>,
}

/// One step in a check-in's life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckinChange {
    pub at: DateTime<Utc>,
    pub status: CheckinStatus,
    /// `member`, `server`, or `desk:<desk_id>`.
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkin {
    pub id: CheckinId,
    pub member_id: MemberId,
    pub center_id: CenterId,
    pub center_name: String,
    pub status: CheckinStatus,
    pub method: CheckinMethod,
    /// When the member came in (for outbox items: when the desk recorded it).
    pub at: DateTime<Utc>,
    /// Bumped on every change, so a desk never lets an older copy overwrite a newer one.
    pub rev: u32,
    /// The outbox id, when a desk recorded this check-in while offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_id: Option<LocalId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desk_id: Option<DeskId>,
    pub history: Vec<CheckinChange>,
    /// Set on a check-in that was ever disputed: why the server's rules refused it and when
    /// the desk's record reached the server. Stays after the dispute is resolved, so
    /// settlement can tell accepted and rejected disputes from ordinary visits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispute: Option<Dispute>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    /// The policy's refusal code, e.g. `already_checked_in_today`.
    pub reason: String,
    /// When the desk's offline record reached the server (the visit itself is `at`).
    pub synced_at: DateTime<Utc>,
}

/// What staff should look at when this member walks in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckinFlag {
    FirstVisit,
    ExpiringSoon,
    Birthday,
    PendingApproval,
}

/// A member as a desk's roster knows them: enough to recognise them and to decide offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterMember {
    pub id: MemberId,
    pub member_no: String,
    pub name: String,
    pub phone_last4: String,
    pub plan: String,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    pub visits_per_month: Option<u32>,
    /// As of the event that carried this record.
    pub visits_left: Option<u32>,
    pub blocked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_url: Option<String>,
}

/// Data of `checkin` and `checkin_updated` events: the card a desk shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckinCard {
    pub checkin: Checkin,
    pub member: RosterMember,
    pub flags: Vec<CheckinFlag>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// An operator notice, in Korean first and English second.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub id: NoticeId,
    pub severity: Severity,
    pub text_ko: String,
    pub text_en: String,
    pub starts_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<DateTime<Utc>>,
    /// A cleared notice is sent once more with this set, so desks remove it.
    #[serde(default)]
    pub cleared: bool,
}

/// Data of a `revocation` event: offline passes of this member issued before `revoked_at`
/// are not accepted any more (the member was blocked, or lost their phone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub member_id: MemberId,
    pub revoked_at: DateTime<Utc>,
}

/// `POST /api/v1/me/pass`: the phone's own Ed25519 public key (base64url, 32 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassRequest {
    pub device_key: String,
}

/// A signed pass certificate for the member's phone (see `crate::pass`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassCertificate {
    /// base64url of the certificate body and the server's signature.
    pub certificate: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub kid: String,
}

/// `GET /api/v1/desk/lookup`: a pass holder found on the server for a desk, with what staff
/// should look at. Never a full phone number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupResult {
    pub member: RosterMember,
    pub flags: Vec<CheckinFlag>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairRequest {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairResponse {
    pub desk_id: DeskId,
    pub center_id: CenterId,
    pub token: String,
}

/// `GET /api/v1/desk/snapshot`: what a desk needs when it cannot resume (`resumed: false`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeskSnapshot {
    pub epoch: String,
    /// Events up to and including this seq are reflected here.
    pub head_seq: u64,
    pub center: Center,
    /// Members who visited this center in the last 90 days.
    pub roster: Vec<RosterMember>,
    /// Today's (Korean day) check-ins at this center.
    pub today: Vec<CheckinCard>,
    pub notices: Vec<Notice>,
}

// ---- admin ----

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCenter {
    pub name: String,
    #[serde(default)]
    pub address: String,
    /// The same hours every day: `"06:00-23:00"` or `"24h"` (default).
    #[serde(default)]
    pub hours: Option<String>,
    /// Hours per weekday, holidays and closures (instead of `hours`).
    #[serde(default)]
    pub schedule: Option<crate::hours::Schedule>,
    /// Check-ins wait for staff to admit or deny.
    #[serde(default)]
    pub requires_approval: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminCenter {
    pub id: CenterId,
    pub name: String,
    pub address: String,
    /// The schedule in a line of Korean (`월–금 06:00-23:00 · 일 휴무`).
    pub hours: String,
    pub schedule: crate::hours::Schedule,
    pub requires_approval: bool,
    pub head_seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingCode {
    pub center_id: CenterId,
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMember {
    pub member_no: String,
    pub name: String,
    pub phone: String,
    pub pin: String,
    pub plan: String,
    /// `None`: unlimited.
    #[serde(default)]
    pub visits_per_month: Option<u32>,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    #[serde(default)]
    pub birthday: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    pub created: u32,
    pub updated: u32,
    pub errors: Vec<ImportError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportState {
    /// Stored, waiting for the import worker.
    Queued,
    Running,
    /// Every line was imported or reported.
    Done,
    /// Stopped before the end; `message` says why. Rows committed before stay committed.
    Failed,
}

impl ImportState {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportState::Queued => "queued",
            ImportState::Running => "running",
            ImportState::Done => "done",
            ImportState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<ImportState> {
        [
            ImportState::Queued,
            ImportState::Running,
            ImportState::Done,
            ImportState::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    pub fn finished(self) -> bool {
        matches!(self, ImportState::Done | ImportState::Failed)
    }
}

/// A member import running on the server (`POST /api/v1/admin/members/import` answers 202
/// with one; `GET /api/v1/admin/imports/{id}` follows it). It outlives the request that
/// started it and a restart of the server: rows are committed in chunks and the job goes on
/// from the first line not yet committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportJob {
    pub id: String,
    pub state: ImportState,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// How the file was read: `utf-8` or `cp949` (Excel's default in Korea).
    pub encoding: String,
    /// Data lines in the file (the header not counted).
    pub lines: u64,
    /// Data lines imported or reported so far.
    pub lines_done: u64,
    pub created: u32,
    pub updated: u32,
    /// Every line that was not imported, with why. A very bad file keeps the first
    /// [`MAX_IMPORT_ERRORS`]; `error_count` still counts them all.
    pub errors: Vec<ImportError>,
    pub error_count: u64,
    /// Why a failed job stopped.
    #[serde(default)]
    pub message: Option<String>,
}

/// Errors a job keeps line by line; past this only their number grows.
pub const MAX_IMPORT_ERRORS: usize = 10_000;

impl ImportJob {
    pub fn report(&self) -> ImportReport {
        ImportReport {
            created: self.created,
            updated: self.updated,
            errors: self.errors.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportError {
    pub line: u64,
    pub message: String,
    /// The line's member number as written, when it could be read: how operators find the
    /// row in their own sheet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_no: Option<String>,
}

/// An operator's verdict on a disputed visit; rejecting needs a reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisputeDecision {
    #[serde(default)]
    pub reason: Option<String>,
    /// Accept even though the rules refuse the visit now (a second visit that day, the
    /// month used up…): needs a reason, and the audit log names the rule overridden.
    #[serde(default)]
    pub override_rules: bool,
}

/// A disputed visit as operators review it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminDispute {
    pub checkin: Checkin,
    pub member_no: String,
    pub member_name: String,
    #[serde(default)]
    pub desk_name: Option<String>,
    /// The member's own words, when the dispute is their "not me".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_statement: Option<String>,
}

/// A member's PIN lock as operators see it (`POST …/members/{no}/unlock` answers this).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinLock {
    pub member_no: String,
    /// Wrong PINs in the current 24-hour window.
    pub failures: u32,
    #[serde(default)]
    pub locked_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRequest {
    pub blocked: bool,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewNotice {
    pub severity: Severity,
    pub text_ko: String,
    pub text_en: String,
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    /// The centers whose desks get it; empty: every center.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub center_ids: Vec<CenterId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminDesk {
    pub id: DeskId,
    pub center_id: CenterId,
    pub name: String,
    pub paired_at: DateTime<Utc>,
    pub revoked: bool,
    pub online: bool,
    pub last_seen: Option<DateTime<Utc>>,
    /// When the desk's last connection ended, if it has none now.
    pub offline_since: Option<DateTime<Utc>>,
    pub acked_seq: u64,
    /// The desk program's version, from its last hello.
    pub app_version: Option<String>,
    /// Outbox items the desk reported waiting when it last connected.
    pub outbox_backlog: u64,
    /// What the desk last said of itself, and what is wrong with it.
    #[serde(default)]
    pub health: Option<DeskHealthView>,
}

/// A desk's health as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeskHealthView {
    /// When the desk sent it.
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub health: DeskHealth,
    /// The desk's clock minus the server's when it sent it, in seconds.
    #[serde(default)]
    pub clock_skew_s: Option<i64>,
    /// Connections the desk made in the last flapping window (see docs/operations.md).
    #[serde(default)]
    pub connects_recent: u64,
    /// What is wrong, worst first: `outbox_stuck`, `crashing`, `disk_low`, `clock_off`,
    /// `flapping`, each with the figures in Korean and English.
    #[serde(default)]
    pub problems: Vec<DeskProblem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeskProblem {
    pub code: String,
    pub text_ko: String,
    pub text_en: String,
}

/// A report a desk left after a crash or a cache failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminDeskReport {
    pub desk_id: DeskId,
    pub at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub kind: String,
    pub text: String,
}

/// A log an operator asked a desk for: waiting until the desk uploads it, then its size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminDeskLog {
    pub request_id: String,
    pub desk_id: DeskId,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    #[serde(default)]
    pub uploaded_at: Option<DateTime<Utc>>,
    /// Bytes uploaded (after redaction); 0 while waiting.
    #[serde(default)]
    pub bytes: u64,
}

/// What an incident was: an alert the server raised, one of its own restarts, or a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    Alert,
    Restart,
    Notice,
}

impl IncidentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentKind::Alert => "alert",
            IncidentKind::Restart => "restart",
            IncidentKind::Notice => "notice",
        }
    }

    pub fn parse(text: &str) -> Option<IncidentKind> {
        match text {
            "alert" => Some(IncidentKind::Alert),
            "restart" => Some(IncidentKind::Restart),
            "notice" => Some(IncidentKind::Notice),
            _ => None,
        }
    }
}

/// One entry of the incident log. The server fills in what happened and when; operators add
/// the cause, what they did and what should change, so the same failure is not repeated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub kind: IncidentKind,
    /// Stable name of the condition, e.g. `center_offline:<center id>`, `tap_failures`.
    pub key: String,
    pub title: String,
    pub started_at: DateTime<Utc>,
    /// `None` while it lasts.
    pub ended_at: Option<DateTime<Utc>>,
    pub cause: String,
    pub action: String,
    pub follow_up: String,
}

/// An operator's notes on an incident; fields left out stay as they were (unknown fields are
/// refused).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentNotes {
    #[serde(default)]
    pub cause: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub follow_up: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// The operators' console (`/console`) and the admin API behind it.

/// What an operator may do: `viewer` reads; `support` also acts on members, check-ins,
/// disputes and notices; `admin` does everything (centers, desks, imports, accounts, settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Support,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Support => "support",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "viewer" => Some(Role::Viewer),
            "support" => Some(Role::Support),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOperator {
    pub username: String,
    pub password: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    pub id: String,
    pub username: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub disabled: bool,
    /// Whether the account has a second factor (TOTP); admins need one to act.
    #[serde(default)]
    pub totp: bool,
}

/// A PATCH of an operator account. Unknown fields are refused (`400 invalid_body`), so a
/// misspelt field is not taken as "no change".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorUpdate {
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleLogin {
    pub username: String,
    pub password: String,
    /// The authenticator app's 6 digits, for an account with a second factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<String>,
    /// Or one of the account's one-time recovery codes (a lost phone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_code: Option<String>,
}

/// An operator changes their own password (the current one proves it is them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordChange {
    pub current: String,
    pub new: String,
}

/// A new password an admin set for an account, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordReset {
    pub username: String,
    pub password: String,
}

/// A second factor being set up: the secret for the authenticator app (base32, and as an
/// `otpauth://` link for a QR code). It counts once a code from it is confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpSetup {
    pub secret: String,
    pub otpauth_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpConfirm {
    pub code: String,
}

/// One-time recovery codes, shown once when the second factor is confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCodes {
    pub codes: Vec<String>,
}

/// Who is logged in to the console, and the token every change must carry in
/// `X-CSRF-Token` (the session itself is an HttpOnly cookie).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleSession {
    pub username: String,
    pub role: Role,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
    /// Whether the account has a second factor; an admin without one must set it up first.
    #[serde(default)]
    pub totp: bool,
}

/// One change made through the console or the admin API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: DateTime<Utc>,
    /// `operator:<username>` or `admin-token`.
    pub actor: String,
    pub action: String,
    #[serde(default)]
    pub member_no: Option<String>,
    #[serde(default)]
    pub center_id: Option<CenterId>,
    /// What was changed (a check-in id, a desk id, an operator's name…).
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub before: Option<serde_json::Value>,
    #[serde(default)]
    pub after: Option<serde_json::Value>,
}

/// A member in the console's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberSummary {
    pub member_no: String,
    pub name: String,
    pub phone: String,
    pub plan: String,
    pub valid_until: NaiveDate,
    pub blocked: bool,
}

/// A page of members; `next` is the member number to continue after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberPage {
    pub members: Vec<MemberSummary>,
    #[serde(default)]
    pub next: Option<String>,
}

/// A member as support sees them: the pass, the PIN lock and the visits with their history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberDetail {
    pub member: Member,
    pub phone: String,
    #[serde(default)]
    pub blocked_reason: Option<String>,
    pub pin_lock: PinLock,
    /// Newest first.
    pub visits: Vec<Checkin>,
}

/// Voiding a visit, or correcting one (a voided or denied visit made to count again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitCorrection {
    pub reason: String,
    /// Make the visit count even though the rules refuse it now (see [`DisputeDecision`]).
    #[serde(default)]
    pub override_rules: bool,
}

/// A new PIN, shown once to the operator who reset it (only its hash is kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinReset {
    pub member_no: String,
    pub pin: String,
}

/// Several disputes decided at once (the same decision and reason for each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkDisputes {
    pub checkin_ids: Vec<CheckinId>,
    pub accept: bool,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkResult {
    pub decided: Vec<CheckinId>,
    /// Ids left alone, with why (already decided, not safe to decide in bulk…).
    pub skipped: Vec<(CheckinId, String)>,
}

/// A public holiday: centers with holiday hours keep them on this day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holiday {
    pub date: NaiveDate,
    pub name: String,
}

/// Who members and staff can reach: shown in the member app's offline and error screens and
/// on the desks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportContact {
    #[serde(default)]
    pub phone: String,
    /// A chat link (e.g. a KakaoTalk channel).
    #[serde(default)]
    pub chat_url: String,
    #[serde(default)]
    pub hours: String,
}

/// One center's visits in a month (Korean calendar).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementRow {
    pub center_id: CenterId,
    pub center_name: String,
    /// Visits that count (paid), disputes accepted included.
    pub admitted: u64,
    pub voided: u64,
    pub denied: u64,
    pub expired: u64,
    pub disputed_accepted: u64,
    pub disputed_rejected: u64,
    /// Disputes no one has decided yet (not paid until accepted).
    pub disputed_open: u64,
    /// Of `admitted`: the visits paid, the member's own or confirmed (docs/settlement.md).
    #[serde(default)]
    pub confirmed: u64,
    /// Of `admitted`: staff-recorded or suspicious visits the member has not confirmed yet
    /// (not paid until they do, or the center's days pass).
    #[serde(default)]
    pub unconfirmed: u64,
    /// Visits members said were not theirs (any status now).
    #[serde(default)]
    pub not_me: u64,
    /// Of `admitted`: how many by each evidence (app, app+presence, pass, roster, manual).
    #[serde(default)]
    pub evidence: std::collections::BTreeMap<String, u64>,
}

/// A center's monthly statement, with the digest the desk can check (docs/settlement.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub month: String,
    pub totals: SettlementRow,
    pub days: Vec<DayDigest>,
    pub digest: String,
}

/// A desk on the console's "now" page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NowDesk {
    pub desk: AdminDesk,
    /// The desk's clock minus the server's at its last hello, in seconds.
    #[serde(default)]
    pub clock_skew_s: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NowCenter {
    pub id: CenterId,
    pub name: String,
    pub desks: Vec<NowDesk>,
}

/// Taps in one minute on the node that answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapMinute {
    pub at: DateTime<Utc>,
    pub answered: u32,
    pub refused: u32,
    pub failed: u32,
}

/// The console's live page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NowView {
    pub at: DateTime<Utc>,
    pub centers: Vec<NowCenter>,
    pub open_incidents: Vec<IncidentView>,
    pub taps: Vec<TapMinute>,
}

/// What changed on the console's live page since the view a stream sent before: centers and
/// desks that are new or changed (each whole), those gone, and the open incidents and taps
/// when they changed. With 1,500 centers and 10,000 desks the whole page is megabytes; most
/// two-second ticks change a handful of desks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NowDelta {
    pub at: DateTime<Utc>,
    /// New or renamed centers (their desks come in `desks`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub centers: Vec<NowCenterName>,
    /// New or changed desks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub desks: Vec<NowDesk>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gone_centers: Vec<CenterId>,
    /// Desks gone from the page (revoked, or their center gone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gone_desks: Vec<DeskId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_incidents: Option<Vec<IncidentView>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taps: Option<Vec<TapMinute>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NowCenterName {
    pub id: CenterId,
    pub name: String,
}

impl NowDelta {
    /// What turns `before` into `after`.
    pub fn between(before: &NowView, after: &NowView) -> NowDelta {
        use std::collections::HashMap;
        let old_centers: HashMap<&CenterId, &NowCenter> =
            before.centers.iter().map(|c| (&c.id, c)).collect();
        let old_desks: HashMap<&DeskId, &NowDesk> = before
            .centers
            .iter()
            .flat_map(|c| &c.desks)
            .map(|d| (&d.desk.id, d))
            .collect();
        let mut delta = NowDelta {
            at: after.at,
            centers: Vec::new(),
            desks: Vec::new(),
            gone_centers: Vec::new(),
            gone_desks: Vec::new(),
            open_incidents: (before.open_incidents != after.open_incidents)
                .then(|| after.open_incidents.clone()),
            taps: (before.taps != after.taps).then(|| after.taps.clone()),
        };
        let mut present = std::collections::HashSet::new();
        for center in &after.centers {
            if old_centers
                .get(&center.id)
                .is_none_or(|old| old.name != center.name)
            {
                delta.centers.push(NowCenterName {
                    id: center.id.clone(),
                    name: center.name.clone(),
                });
            }
            for desk in &center.desks {
                present.insert(&desk.desk.id);
                if old_desks.get(&desk.desk.id).is_none_or(|old| *old != desk) {
                    delta.desks.push(desk.clone());
                }
            }
        }
        let kept: std::collections::HashSet<&CenterId> =
            after.centers.iter().map(|c| &c.id).collect();
        delta.gone_centers = before
            .centers
            .iter()
            .filter(|c| !kept.contains(&c.id))
            .map(|c| c.id.clone())
            .collect();
        delta.gone_desks = old_desks
            .keys()
            .filter(|id| !present.contains(*id))
            .map(|id| (*id).clone())
            .collect();
        delta
    }

    /// Nothing but the time changed.
    pub fn is_quiet(&self) -> bool {
        self.centers.is_empty()
            && self.desks.is_empty()
            && self.gone_centers.is_empty()
            && self.gone_desks.is_empty()
            && self.open_incidents.is_none()
            && self.taps.is_none()
    }

    /// Applies this to the view it was made against (what the console's page does), keeping
    /// the server's order: centers by name, desks by name within their center.
    pub fn apply(&self, view: &mut NowView) {
        view.at = self.at;
        view.centers.retain(|c| !self.gone_centers.contains(&c.id));
        for center in &mut view.centers {
            center
                .desks
                .retain(|d| !self.gone_desks.contains(&d.desk.id));
        }
        for named in &self.centers {
            match view.centers.iter_mut().find(|c| c.id == named.id) {
                Some(center) => center.name.clone_from(&named.name),
                None => view.centers.push(NowCenter {
                    id: named.id.clone(),
                    name: named.name.clone(),
                    desks: Vec::new(),
                }),
            }
        }
        for desk in &self.desks {
            let Some(center) = view
                .centers
                .iter_mut()
                .find(|c| c.id == desk.desk.center_id)
            else {
                continue;
            };
            match center.desks.iter_mut().find(|d| d.desk.id == desk.desk.id) {
                Some(old) => *old = desk.clone(),
                None => center.desks.push(desk.clone()),
            }
        }
        view.centers
            .sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        for center in &mut view.centers {
            center.desks.sort_by(|a, b| a.desk.name.cmp(&b.desk.name));
        }
        if let Some(open) = &self.open_incidents {
            view.open_incidents.clone_from(open);
        }
        if let Some(taps) = &self.taps {
            view.taps.clone_from(taps);
        }
    }
}

/// What an incident did, filled in by the server while it lasts and after.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentImpact {
    /// Taps answered with a refusal or a failure while it lasted (this node's count).
    pub taps_refused: u64,
    pub taps_failed: u64,
    pub centers_affected: u64,
    pub desks_affected: u64,
    /// Check-ins made offline while it lasted that reached the server afterwards.
    pub offline_synced: u64,
    pub disputes_raised: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentView {
    #[serde(flatten)]
    pub incident: Incident,
    pub impact: IncidentImpact,
    /// A bilingual notice prepared for an incident that affects members, to post as it is.
    #[serde(default)]
    pub notice_draft: Option<NewNotice>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desk(center: &str, id: &str, name: &str, online: bool) -> NowDesk {
        let at = DateTime::UNIX_EPOCH;
        NowDesk {
            desk: AdminDesk {
                id: DeskId::new(id),
                center_id: CenterId::new(center),
                name: name.into(),
                paired_at: at,
                revoked: false,
                online,
                last_seen: None,
                offline_since: None,
                acked_seq: 0,
                app_version: None,
                outbox_backlog: 0,
                health: None,
            },
            clock_skew_s: None,
        }
    }

    fn center(id: &str, name: &str, desks: Vec<NowDesk>) -> NowCenter {
        NowCenter {
            id: CenterId::new(id),
            name: name.into(),
            desks,
        }
    }

    #[test]
    fn a_delta_applied_to_the_view_before_gives_the_view_after() {
        let before = NowView {
            at: DateTime::UNIX_EPOCH,
            centers: vec![
                center(
                    "a",
                    "강남점",
                    vec![desk("a", "a1", "1", false), desk("a", "a2", "2", true)],
                ),
                center("b", "역삼점", vec![desk("b", "b1", "1", true)]),
                center("c", "잠실점", vec![desk("c", "c1", "1", true)]),
            ],
            open_incidents: Vec::new(),
            taps: Vec::new(),
        };
        // a1 online, a2 revoked, b renamed (so it sorts first), c gone, d new with a desk.
        let after = NowView {
            at: DateTime::UNIX_EPOCH + chrono::Duration::seconds(2),
            centers: vec![
                center("b", "가락점", vec![desk("b", "b1", "1", true)]),
                center(
                    "a",
                    "강남점",
                    vec![desk("a", "a1", "1", true), desk("a", "a3", "3", false)],
                ),
                center("d", "선릉점", vec![desk("d", "d1", "1", false)]),
            ],
            open_incidents: Vec::new(),
            taps: vec![TapMinute {
                at: DateTime::UNIX_EPOCH,
                answered: 3,
                refused: 0,
                failed: 0,
            }],
        };
        let delta = NowDelta::between(&before, &after);
        let changed: Vec<&str> = delta.desks.iter().map(|d| d.desk.id.as_str()).collect();
        assert_eq!(changed, ["a1", "a3", "d1"], "unchanged desks are not sent");
        assert!(delta.open_incidents.is_none() && delta.taps.is_some());
        let mut view = before.clone();
        delta.apply(&mut view);
        assert_eq!(view, after);
        assert!(NowDelta::between(&after, &after).is_quiet());
    }
}

/// What a desk says about itself (every field optional on the wire: older or leaner desks,
/// such as the one in a browser, send what they know).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeskHealth {
    /// Check-ins waiting in the outbox.
    #[serde(default)]
    pub outbox: u64,
    /// When the oldest of them was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox_oldest: Option<DateTime<Utc>>,
    /// When the desk last had every event (welcome and catch-up done, or an event stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<DateTime<Utc>>,
    /// The desk's clock as it sent this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<DateTime<Utc>>,
    /// Free space where the desk keeps its cache, in MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_free_mb: Option<u64>,
    /// Cache reads or writes that failed since the program started.
    #[serde(default)]
    pub cache_errors: u32,
    /// Starts of the program in the last 24 hours, and how many of them followed a crash.
    #[serde(default)]
    pub restarts_24h: u32,
    #[serde(default)]
    pub crashes_24h: u32,
    /// The update the desk is busy with, if any (`downloading 1.2.0`, `failed 1.2.0: …`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<String>,
}

/// A day on the statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayDigest {
    pub date: NaiveDate,
    pub count: usize,
    pub digest: String,
}
