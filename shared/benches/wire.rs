//! Message encode/decode and the check-in policy: the work done per tap and per delivery.
//!   cargo bench -p gymgate-shared --bench wire

use std::hint::black_box;

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use gymgate_shared::api::{
    Checkin, CheckinCard, CheckinChange, CheckinFlag, CheckinMethod, CheckinStatus, RosterMember,
};
use gymgate_shared::hours::{CenterHours, DayHours, Schedule};
use gymgate_shared::pass::{Certificate, PassKey};
use gymgate_shared::policy::{PassFacts, VisitHistory, evaluate};
use gymgate_shared::protocol::{DeskMessage, Event, EventKind, ServerMessage};
use gymgate_shared::{CenterId, CheckinId, MemberId};

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-10T01:02:03Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn card() -> CheckinCard {
    CheckinCard {
        checkin: Checkin {
            id: CheckinId::generate(),
            member_id: MemberId::generate(),
            center_id: CenterId::generate(),
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
        member: RosterMember {
            id: MemberId::generate(),
            member_no: "100001".into(),
            name: "김민준".into(),
            phone_last4: "1234".into(),
            plan: "월 8회".into(),
            valid_from: at().date_naive(),
            valid_until: at().date_naive(),
            visits_per_month: Some(8),
            visits_left: Some(7),
            blocked: false,
            birthday: None,
            photo_url: None,
        },
        flags: vec![CheckinFlag::FirstVisit],
    }
}

fn benches(c: &mut Criterion) {
    let card = card();
    let event = ServerMessage::Event(Event {
        seq: 42,
        at: at(),
        kind: EventKind::Checkin,
        data: serde_json::to_value(&card).unwrap_or_default(),
    });
    let event_text = serde_json::to_string(&event).unwrap_or_default();
    c.bench_function("encode check-in card (event data)", |b| {
        b.iter(|| serde_json::to_string(black_box(&card)))
    });
    c.bench_function("decode event frame (desk side)", |b| {
        b.iter(|| serde_json::from_str::<ServerMessage>(black_box(&event_text)))
    });
    let ack = r#"{"type":"ack","seq":123456}"#;
    c.bench_function("decode ack (server side)", |b| {
        b.iter(|| serde_json::from_str::<DeskMessage>(black_box(ack)))
    });
    let pass = PassFacts {
        blocked: false,
        valid_from: at().date_naive(),
        valid_until: at().date_naive(),
        visits_per_month: Some(8),
    };
    let history = VisitHistory {
        visits_this_month: 3,
        visited_this_center_today: false,
    };
    let mut schedule =
        Schedule::uniform(DayHours::parse("06:00-23:00").unwrap_or(DayHours::ALWAYS));
    schedule.week[6] = DayHours::Closed;
    schedule.holidays = Some(DayHours::Closed);
    let hours = CenterHours {
        schedule,
        holidays: vec![chrono::NaiveDate::from_ymd_opt(2026, 9, 25).unwrap_or_default()],
    };
    c.bench_function("policy evaluate", |b| {
        b.iter(|| evaluate(black_box(&pass), black_box(&history), &hours, at()))
    });

    // What a desk does with a scanned offline pass: decode, two Ed25519 verifications.
    let server = SigningKey::from_bytes(&[7u8; 32]);
    let device = SigningKey::from_bytes(&[9u8; 32]);
    let certificate = Certificate {
        kid: gymgate_shared::pass::key_id(&server.verifying_key()),
        member_id: MemberId::generate(),
        name: "김민준".into(),
        plan: "월 8회".into(),
        valid_from: at().date_naive(),
        valid_until: at().date_naive() + chrono::Duration::days(300),
        visits_left: Some(7),
        device_key: device.verifying_key().to_bytes(),
        issued_at: at(),
        expires_at: at() + gymgate_shared::pass::MAX_VALIDITY,
    };
    let keys = vec![PassKey::of(&server.verifying_key())];
    let payload =
        gymgate_shared::pass::show(&certificate.issue(&server), &device, at()).unwrap_or_default();
    c.bench_function("offline pass: parse and verify (desk side)", |b| {
        b.iter(|| {
            gymgate_shared::pass::parse(black_box(&payload)).and_then(|p| p.verify(&keys, at()))
        })
    });
}

criterion_group!(wire, benches);
criterion_main!(wire);
