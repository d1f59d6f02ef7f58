//! WebSocket messages between desk and server (`GET /ws/desk`). Every frame is a JSON text
//! frame with a `"type"` field.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::{CheckinCard, Notice, Revocation, RosterMember};
use crate::ids::{CenterId, CheckinId, DeskId, LocalId, MemberId};
use crate::pass::PassKey;

pub const PROTOCOL_VERSION: u32 = 1;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Largest frame either side accepts. Events are small (a check-in card is ~1 KB); anything
/// bigger is a bug or an attack.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DeskMessage {
    /// First frame, within 10 s of connecting. `epoch` is `None` on a desk's first run.
    Hello {
        protocol: u32,
        epoch: Option<String>,
        last_seq: u64,
        /// The desk program's version, for operators (optional: older desks omit it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        app_version: Option<String>,
        /// Check-ins waiting in the desk's outbox as it connects.
        #[serde(default, skip_serializing_if = "is_zero")]
        outbox: u64,
        /// The desk PC's clock as it says hello, so operators see a PC whose clock is off.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clock: Option<DateTime<Utc>>,
        /// The public key (base64url, 32 bytes) of the desk's presence codes
        /// (`gymgate_shared::presence`): the first one a pairing says is kept.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        presence_key: Option<String>,
    },
    /// Cumulative: every event up to `seq` is stored on the desk.
    Ack {
        seq: u64,
    },
    Decide {
        checkin_id: CheckinId,
        decision: Decision,
        #[serde(default)]
        reason: Option<String>,
    },
    Record(OutboxRecord),
    /// How the desk is doing: right after the welcome, then every [`HEALTH_EVERY_S`] seconds.
    Health(DeskHealth),
    /// What the desk wrote down when it crashed or its cache failed, sent on the next
    /// connection; at most [`MAX_REPORT_CHARS`] characters, no tokens, PINs or member data.
    Report(DeskReport),
}

/// How often a desk sends its health.
pub const HEALTH_EVERY_S: u64 = 30;
/// A desk report's text is cut to this many characters.
pub const MAX_REPORT_CHARS: usize = 4000;

/// A desk's `health` message; defined with the API types, which show it to operators.
pub use crate::api::DeskHealth;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeskReport {
    pub at: DateTime<Utc>,
    /// `panic`, `crash` (the last run ended without stopping) or `cache`.
    pub kind: String,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Admit,
    Deny,
    Void,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordMethod {
    Roster,
    Pass,
    /// Staff let the member in on their own judgement: not in the cache, no pass to scan
    /// (a dead phone). The record carries the member number and what staff saw (`manual`).
    Manual,
}

impl RecordMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordMethod::Roster => "roster",
            RecordMethod::Pass => "pass",
            RecordMethod::Manual => "manual",
        }
    }

    pub fn parse(text: &str) -> Option<RecordMethod> {
        match text {
            "roster" => Some(RecordMethod::Roster),
            "pass" => Some(RecordMethod::Pass),
            "manual" => Some(RecordMethod::Manual),
            _ => None,
        }
    }
}

/// A check-in a desk made while it could not reach the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRecord {
    pub local_id: LocalId,
    pub member_id: MemberId,
    pub at: DateTime<Utc>,
    pub method: RecordMethod,
    /// The scanned offline pass, for `method: "pass"`.
    #[serde(default)]
    pub proof: Option<String>,
    /// For `method: "manual"`: who staff say came in, and why they let them in. `member_id`
    /// is then empty: the server finds the member by number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual: Option<ManualEntry>,
}

/// A check-in on staff's judgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualEntry {
    /// As the member told it (or as on their membership card).
    pub member_no: String,
    /// What staff checked and why they let the member in ("신분증 확인 · 휴대폰 방전").
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Welcome {
        desk_id: DeskId,
        center_id: CenterId,
        epoch: String,
        head_seq: u64,
        server_time: DateTime<Utc>,
        resumed: bool,
        /// The keys that sign offline passes now (several during a rotation); the desk keeps
        /// them to check passes while it is offline.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pass_keys: Vec<PassKey>,
        /// Every server node's address (when there are several): the desk keeps them and, when
        /// the one it uses stops answering, tries the next.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        servers: Vec<String>,
        /// Whom staff can call or message (set by operators); changes arrive as `support`
        /// events.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        support: Option<crate::api::SupportContact>,
        /// The center's opening hours and the public holidays ahead, for the desk's offline
        /// check-ins; changes arrive as `hours` events.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hours: Option<Box<crate::hours::CenterHours>>,
        /// The release this desk should move to, when a rollout includes it (the Windows
        /// desk; changes arrive as `update` messages).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        update: Option<Box<UpdateOffer>>,
    },
    Event(Event),
    Recorded {
        local_id: LocalId,
        status: RecordStatus,
        #[serde(default)]
        checkin_id: Option<CheckinId>,
        #[serde(default)]
        reason: Option<String>,
    },
    Error {
        code: String,
        message: String,
    },
    /// An operator asked for this desk's recent log: the desk uploads its last `max_bytes`
    /// (redacted) with `PUT /api/v1/desk/logs/{request_id}`. A desk that keeps no log
    /// uploads what it has; an older desk ignores the message.
    LogRequest {
        request_id: String,
        max_bytes: u64,
    },
    /// What this desk should run changed: a release to move to, or `null` (a rollout paused
    /// or halted: do not install what was downloaded).
    Update {
        offer: Option<Box<UpdateOffer>>,
    },
}

/// A signed release offered to a desk, and where to download its installer (a path on the
/// server; `Range` requests resume a download).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateOffer {
    pub release: crate::release::SignedManifest,
    pub url: String,
    /// Korean local hours, every day, in which the desk may install it (still only at a quiet
    /// moment); absent: at the first quiet moment. Not signed: it says when, never what.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<crate::hours::OpeningHours>,
}

/// The most of its log a desk uploads when asked (the newest part).
pub const MAX_LOG_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    /// A new check-in was created.
    Accepted,
    /// This `local_id` was recorded before; `checkin_id` is the original's.
    Duplicate,
    /// The visit happened but the policy says no (e.g. visited elsewhere today). The server
    /// kept it as a `disputed` check-in (`checkin_id`) for operators to accept or reject;
    /// `reason` is the policy's code. Staff see it in their list of conflicts.
    Conflict,
    /// The item itself is invalid (unknown member, bad proof, impossible time).
    Rejected,
}

impl RecordStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::Accepted => "accepted",
            RecordStatus::Duplicate => "duplicate",
            RecordStatus::Conflict => "conflict",
            RecordStatus::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<RecordStatus> {
        match text {
            "accepted" => Some(RecordStatus::Accepted),
            "duplicate" => Some(RecordStatus::Duplicate),
            "conflict" => Some(RecordStatus::Conflict),
            "rejected" => Some(RecordStatus::Rejected),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Checkin,
    CheckinUpdated,
    Member,
    Notice,
    /// A member's offline passes issued before a time are no longer valid (e.g. blocked).
    Revocation,
    /// Operators changed whom staff and members can reach.
    Support,
    /// Operators changed the center's opening hours or the public holidays.
    Hours,
    /// A kind a newer server sends that this program does not know: its event still takes
    /// its place in the order (the cursor moves past it), it is just not shown.
    #[serde(other)]
    Unknown,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Checkin => "checkin",
            EventKind::CheckinUpdated => "checkin_updated",
            EventKind::Member => "member",
            EventKind::Notice => "notice",
            EventKind::Revocation => "revocation",
            EventKind::Support => "support",
            EventKind::Hours => "hours",
            EventKind::Unknown => "unknown",
        }
    }

    pub fn parse(text: &str) -> Option<EventKind> {
        match text {
            "checkin" => Some(EventKind::Checkin),
            "checkin_updated" => Some(EventKind::CheckinUpdated),
            "member" => Some(EventKind::Member),
            "notice" => Some(EventKind::Notice),
            "revocation" => Some(EventKind::Revocation),
            "support" => Some(EventKind::Support),
            "hours" => Some(EventKind::Hours),
            _ => None,
        }
    }
}

/// One entry of a center's event log. `data` depends on `kind`; see [`Event::payload`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub kind: EventKind,
    pub data: serde_json::Value,
}

/// An event's data, typed by its kind.
#[derive(Debug, Clone, PartialEq)]
pub enum EventPayload {
    Checkin(CheckinCard),
    CheckinUpdated(CheckinCard),
    Member(RosterMember),
    Notice(Notice),
    Revocation(Revocation),
    Support(crate::api::SupportContact),
    Hours(crate::hours::CenterHours),
}

impl EventPayload {
    pub fn kind(&self) -> EventKind {
        match self {
            EventPayload::Checkin(_) => EventKind::Checkin,
            EventPayload::CheckinUpdated(_) => EventKind::CheckinUpdated,
            EventPayload::Member(_) => EventKind::Member,
            EventPayload::Notice(_) => EventKind::Notice,
            EventPayload::Revocation(_) => EventKind::Revocation,
            EventPayload::Support(_) => EventKind::Support,
            EventPayload::Hours(_) => EventKind::Hours,
        }
    }

    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        match self {
            EventPayload::Checkin(card) | EventPayload::CheckinUpdated(card) => {
                serde_json::to_string(card)
            }
            EventPayload::Member(member) => serde_json::to_string(member),
            EventPayload::Notice(notice) => serde_json::to_string(notice),
            EventPayload::Revocation(revocation) => serde_json::to_string(revocation),
            EventPayload::Support(contact) => serde_json::to_string(contact),
            EventPayload::Hours(hours) => serde_json::to_string(hours),
        }
    }
}

impl Event {
    /// The event's data, typed; an error for a kind this program does not know.
    pub fn payload(&self) -> Result<EventPayload, serde_json::Error> {
        use serde::de::Error;
        let data = self.data.clone();
        Ok(match self.kind {
            EventKind::Checkin => EventPayload::Checkin(serde_json::from_value(data)?),
            EventKind::CheckinUpdated => {
                EventPayload::CheckinUpdated(serde_json::from_value(data)?)
            }
            EventKind::Member => EventPayload::Member(serde_json::from_value(data)?),
            EventKind::Notice => EventPayload::Notice(serde_json::from_value(data)?),
            EventKind::Revocation => EventPayload::Revocation(serde_json::from_value(data)?),
            EventKind::Support => EventPayload::Support(serde_json::from_value(data)?),
            EventKind::Hours => EventPayload::Hours(serde_json::from_value(data)?),
            EventKind::Unknown => {
                return Err(serde_json::Error::custom(
                    "an event kind this desk does not know",
                ));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::*;
    use crate::ids::*;
    use serde_json::json;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-10T01:02:03Z")
            .expect("rfc3339")
            .with_timezone(&Utc)
    }

    fn round_trip<T>(value: &T, expected: serde_json::Value)
    where
        T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
    {
        let encoded = serde_json::to_value(value).expect("encode");
        assert_eq!(encoded, expected, "wire form");
        let decoded: T = serde_json::from_value(encoded).expect("decode");
        assert_eq!(&decoded, value);
    }

    fn member() -> RosterMember {
        RosterMember {
            id: MemberId::new("m1"),
            member_no: "100001".into(),
            name: "김민준".into(),
            phone_last4: "1234".into(),
            plan: "월 8회".into(),
            valid_from: "2026-03-01".parse().expect("date"),
            valid_until: "2026-03-31".parse().expect("date"),
            visits_per_month: Some(8),
            visits_left: Some(7),
            blocked: false,
            birthday: None,
            photo_url: None,
        }
    }

    fn card() -> CheckinCard {
        CheckinCard {
            checkin: Checkin {
                id: CheckinId::new("c1"),
                member_id: MemberId::new("m1"),
                center_id: CenterId::new("ctr1"),
                center_name: "강남점".into(),
                status: CheckinStatus::Admitted,
                method: CheckinMethod::App,
                at: at(),
                rev: 1,
                local_id: None,
                desk_id: None,
                history: vec![CheckinChange {
                    at: at(),
                    status: CheckinStatus::Admitted,
                    by: "member".into(),
                    reason: None,
                }],
                dispute: None,
            },
            member: member(),
            flags: vec![CheckinFlag::FirstVisit],
        }
    }

    #[test]
    fn desk_messages_round_trip() {
        round_trip(
            &DeskMessage::Hello {
                presence_key: None,
                clock: None,
                protocol: 1,
                epoch: Some("e1".into()),
                last_seq: 41,
                app_version: None,
                outbox: 0,
            },
            json!({"type": "hello", "protocol": 1, "epoch": "e1", "last_seq": 41}),
        );
        round_trip(
            &DeskMessage::Hello {
                presence_key: None,
                clock: None,
                protocol: 1,
                epoch: Some("e1".into()),
                last_seq: 41,
                app_version: Some("0.1.0".into()),
                outbox: 3,
            },
            json!({"type": "hello", "protocol": 1, "epoch": "e1", "last_seq": 41,
                   "app_version": "0.1.0", "outbox": 3}),
        );
        round_trip(
            &DeskMessage::Hello {
                presence_key: None,
                clock: None,
                protocol: 1,
                epoch: None,
                last_seq: 0,
                app_version: None,
                outbox: 0,
            },
            json!({"type": "hello", "protocol": 1, "epoch": null, "last_seq": 0}),
        );
        round_trip(
            &DeskMessage::Ack { seq: 42 },
            json!({"type": "ack", "seq": 42}),
        );
        round_trip(
            &DeskMessage::Health(DeskHealth {
                outbox: 2,
                outbox_oldest: Some(at()),
                disk_free_mb: Some(512),
                crashes_24h: 1,
                ..DeskHealth::default()
            }),
            json!({"type": "health", "outbox": 2, "outbox_oldest": "2026-03-10T01:02:03Z",
                   "disk_free_mb": 512, "cache_errors": 0, "restarts_24h": 0, "crashes_24h": 1}),
        );
        // A lean desk (the browser's) sends what it knows; the rest reads as none.
        assert_eq!(
            serde_json::from_value::<DeskMessage>(json!({"type": "health", "outbox": 1})).ok(),
            Some(DeskMessage::Health(DeskHealth {
                outbox: 1,
                ..DeskHealth::default()
            }))
        );
        round_trip(
            &DeskMessage::Report(DeskReport {
                at: at(),
                kind: "panic".into(),
                text: "panicked at main.rs:1".into(),
            }),
            json!({"type": "report", "at": "2026-03-10T01:02:03Z", "kind": "panic",
                   "text": "panicked at main.rs:1"}),
        );
        round_trip(
            &DeskMessage::Decide {
                checkin_id: CheckinId::new("c1"),
                decision: Decision::Void,
                reason: Some("tapped by mistake".into()),
            },
            json!({"type": "decide", "checkin_id": "c1", "decision": "void", "reason": "tapped by mistake"}),
        );
        round_trip(
            &DeskMessage::Record(OutboxRecord {
                local_id: LocalId::new("l1"),
                member_id: MemberId::new("m1"),
                at: at(),
                method: RecordMethod::Roster,
                proof: None,
                manual: None,
            }),
            json!({"type": "record", "local_id": "l1", "member_id": "m1", "at": "2026-03-10T01:02:03Z", "method": "roster", "proof": null}),
        );
    }

    #[test]
    fn log_requests_and_update_offers_round_trip() {
        round_trip(
            &ServerMessage::LogRequest {
                request_id: "r1".into(),
                max_bytes: MAX_LOG_BYTES,
            },
            json!({"type": "log_request", "request_id": "r1", "max_bytes": 1048576}),
        );
        round_trip(
            &ServerMessage::Update { offer: None },
            json!({"type": "update", "offer": null}),
        );
        let offer = UpdateOffer {
            release: crate::release::SignedManifest {
                manifest: "{}".into(),
                key_id: "k".into(),
                signature: "s".into(),
            },
            url: "/api/v1/desk/releases/0.2.0/installer".into(),
            quiet_hours: None,
        };
        round_trip(
            &ServerMessage::Update {
                offer: Some(Box::new(offer.clone())),
            },
            json!({"type": "update", "offer": {"release": {"manifest": "{}", "key_id": "k",
                   "signature": "s"}, "url": "/api/v1/desk/releases/0.2.0/installer"}}),
        );
        // Quiet hours in Korean minutes since midnight, as a center's opening hours are.
        round_trip(
            &ServerMessage::Update {
                offer: Some(Box::new(UpdateOffer {
                    quiet_hours: crate::hours::OpeningHours::parse_window("02:00-05:00"),
                    ..offer
                })),
            },
            json!({"type": "update", "offer": {"release": {"manifest": "{}", "key_id": "k",
                   "signature": "s"}, "url": "/api/v1/desk/releases/0.2.0/installer",
                   "quiet_hours": {"opens": 120, "closes": 300}}}),
        );
    }

    #[test]
    fn server_messages_round_trip() {
        round_trip(
            &ServerMessage::Welcome {
                support: None,
                hours: None,
                update: None,
                desk_id: DeskId::new("d1"),
                center_id: CenterId::new("ctr1"),
                epoch: "e1".into(),
                head_seq: 42,
                server_time: at(),
                resumed: true,
                pass_keys: vec![],
                servers: vec![],
            },
            json!({"type": "welcome", "desk_id": "d1", "center_id": "ctr1", "epoch": "e1",
                   "head_seq": 42, "server_time": "2026-03-10T01:02:03Z", "resumed": true}),
        );
        round_trip(
            &ServerMessage::Welcome {
                support: None,
                hours: None,
                update: None,
                desk_id: DeskId::new("d1"),
                center_id: CenterId::new("ctr1"),
                epoch: "e1".into(),
                head_seq: 42,
                server_time: at(),
                resumed: false,
                pass_keys: vec![PassKey {
                    kid: "k1".into(),
                    public_key: "pk".into(),
                }],
                servers: vec!["https://a.example".into(), "https://b.example".into()],
            },
            json!({"type": "welcome", "desk_id": "d1", "center_id": "ctr1", "epoch": "e1",
                   "head_seq": 42, "server_time": "2026-03-10T01:02:03Z", "resumed": false,
                   "pass_keys": [{"kid": "k1", "public_key": "pk"}],
                   "servers": ["https://a.example", "https://b.example"]}),
        );
        // A kind from a newer server is read as unknown, not as an unreadable frame.
        let future: ServerMessage = serde_json::from_value(json!({"type": "event", "seq": 3,
            "at": "2026-03-10T01:02:03Z", "kind": "hologram", "data": {}}))
        .expect("decode");
        let ServerMessage::Event(event) = future else {
            panic!("not an event");
        };
        assert_eq!(event.kind, EventKind::Unknown);
        assert!(event.payload().is_err());
        round_trip(
            &ServerMessage::Recorded {
                local_id: LocalId::new("l1"),
                status: RecordStatus::Conflict,
                checkin_id: None,
                reason: Some("already_checked_in_today".into()),
            },
            json!({"type": "recorded", "local_id": "l1", "status": "conflict", "checkin_id": null,
                   "reason": "already_checked_in_today"}),
        );
        round_trip(
            &ServerMessage::Error {
                code: "malformed_frame".into(),
                message: "expected JSON".into(),
            },
            json!({"type": "error", "code": "malformed_frame", "message": "expected JSON"}),
        );
    }

    #[test]
    fn every_event_kind_round_trips_with_typed_payload() {
        let notice = Notice {
            id: NoticeId::new("n1"),
            severity: Severity::Warning,
            text_ko: "서버 점검 중입니다".into(),
            text_en: "Server maintenance".into(),
            starts_at: at(),
            ends_at: None,
            cleared: false,
        };
        for payload in [
            EventPayload::Checkin(card()),
            EventPayload::CheckinUpdated(card()),
            EventPayload::Member(member()),
            EventPayload::Notice(notice),
            EventPayload::Revocation(Revocation {
                member_id: MemberId::new("m1"),
                revoked_at: at(),
            }),
        ] {
            let data: serde_json::Value =
                serde_json::from_str(&payload.to_json().expect("encode")).expect("json");
            let message = ServerMessage::Event(Event {
                seq: 7,
                at: at(),
                kind: payload.kind(),
                data: data.clone(),
            });
            let text = serde_json::to_string(&message).expect("encode");
            let value: serde_json::Value = serde_json::from_str(&text).expect("json");
            assert_eq!(value["type"], "event");
            assert_eq!(value["kind"], payload.kind().as_str());
            assert_eq!(value["data"], data);
            let back: ServerMessage = serde_json::from_str(&text).expect("decode");
            let ServerMessage::Event(event) = back else {
                panic!("not an event: {back:?}");
            };
            assert_eq!(event.payload().expect("payload"), payload);
            assert_eq!(
                EventKind::parse(payload.kind().as_str()),
                Some(payload.kind())
            );
        }
    }

    #[test]
    fn http_bodies_round_trip() {
        round_trip(
            &ErrorBody::new("pass_expired", "the pass has expired"),
            json!({"error": {"code": "pass_expired", "message": "the pass has expired"}}),
        );
        round_trip(
            &CheckinRequest {
                center_id: CenterId::new("ctr1"),
                presence: None,
                location: None,
            },
            json!({"center_id": "ctr1"}),
        );
        round_trip(
            &PairResponse {
                desk_id: DeskId::new("d1"),
                center_id: CenterId::new("ctr1"),
                token: "t".into(),
            },
            json!({"desk_id": "d1", "center_id": "ctr1", "token": "t"}),
        );
        let envelope = CheckinEnvelope {
            checkin: card().checkin,
        };
        let text = serde_json::to_string(&envelope).expect("encode");
        assert_eq!(
            serde_json::from_str::<CheckinEnvelope>(&text).expect("decode"),
            envelope
        );
        assert!(!text.contains("local_id"), "absent options are omitted");
    }

    #[test]
    fn unknown_and_malformed_messages_are_errors_not_panics() {
        for bad in [
            r#"{"type":"launch_missiles"}"#,
            r#"{"seq":1}"#,
            r#"{"type":"ack"}"#,
            r#"{"type":"ack","seq":-1}"#,
            r#"{"type":"hello","protocol":1,"last_seq":"#,
            "",
            "[]",
        ] {
            assert!(
                serde_json::from_str::<DeskMessage>(bad).is_err(),
                "{bad} should not decode"
            );
        }
    }

    #[test]
    fn status_words_round_trip() {
        for s in [
            RecordStatus::Accepted,
            RecordStatus::Duplicate,
            RecordStatus::Conflict,
            RecordStatus::Rejected,
        ] {
            assert_eq!(RecordStatus::parse(s.as_str()), Some(s));
        }
        for s in [
            CheckinStatus::Admitted,
            CheckinStatus::Pending,
            CheckinStatus::Denied,
            CheckinStatus::Voided,
        ] {
            assert_eq!(CheckinStatus::parse(s.as_str()), Some(s));
        }
        for m in [
            CheckinMethod::App,
            CheckinMethod::Roster,
            CheckinMethod::Pass,
        ] {
            assert_eq!(CheckinMethod::parse(m.as_str()), Some(m));
        }
    }

    /// What a desk decodes from the server, and the small text parsers behind it, on hostile
    /// input: an error, never a panic; and what the server encodes decodes back the same.
    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        fn server_message_shaped() -> impl Strategy<Value = String> {
            let kind = prop_oneof![
                Just("welcome"),
                Just("event"),
                Just("recorded"),
                Just("error"),
                Just("x"),
            ];
            let event_kind = prop_oneof![
                Just("checkin"),
                Just("checkin_updated"),
                Just("member_updated"),
                Just("notice"),
                Just("other"),
            ];
            let value = prop_oneof![
                "-?[0-9]{1,22}",
                "\"[^\"\\\\]{0,12}\"",
                Just("null".to_owned()),
                Just("{}".to_owned()),
                Just("{\"checkin\": {}}".to_owned()),
                Just("\"2026-11-21T10:00:00.123456Z\"".to_owned()),
            ];
            (
                kind,
                event_kind,
                prop::collection::vec(
                    (
                        prop_oneof![
                            Just("seq"),
                            Just("at"),
                            Just("data"),
                            Just("epoch"),
                            Just("head_seq"),
                            Just("resumed"),
                            Just("status"),
                            Just("local_id"),
                            Just("code"),
                            Just("message"),
                            Just("desk_id"),
                            Just("center_id"),
                            Just("server_time"),
                        ],
                        value,
                    ),
                    0..8,
                ),
            )
                .prop_map(|(kind, event_kind, fields)| {
                    let mut text = format!("{{\"type\":\"{kind}\",\"kind\":\"{event_kind}\"");
                    for (k, v) in fields {
                        text.push_str(&format!(",\"{k}\":{v}"));
                    }
                    text.push('}');
                    text
                })
        }

        proptest! {
            #[test]
            fn server_messages_decode_or_fail_cleanly(text in prop_oneof![
                "\\PC{0,200}".boxed(),
                server_message_shaped().boxed(),
            ]) {
                if let Ok(ServerMessage::Event(event)) = serde_json::from_str::<ServerMessage>(&text) {
                    let _ = event.payload();
                }
            }

            #[test]
            fn acks_round_trip(seq in any::<u64>()) {
                let text = serde_json::to_string(&DeskMessage::Ack { seq }).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let back: DeskMessage = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(back, DeskMessage::Ack { seq });
            }

            #[test]
            fn hours_times_and_codes_parse_or_refuse(text in "\\PC{0,40}") {
                let _ = crate::policy::OpeningHours::parse(&text);
                let _ = crate::timefmt::from_text(&text);
                let _ = crate::policy::Refusal::from_code(&text);
                let _ = RecordMethod::parse(&text);
            }

            #[test]
            fn opening_hours_like_text(h1 in 0u32..30, m1 in 0u32..70, h2 in 0u32..30, m2 in 0u32..70) {
                let text = format!("{h1:02}:{m1:02}-{h2:02}:{m2:02}");
                if let Some(hours) = crate::policy::OpeningHours::parse(&text) {
                    prop_assert!(hours.opens < 24 * 60 && hours.closes < 24 * 60);
                }
            }
        }
    }
}
