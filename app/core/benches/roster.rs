//! Roster search over 100,000 cached members (the desk's search box).
//!   cargo bench -p gymgate-desk --bench roster

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gymgate_desk_core::roster::RosterIndex;
use gymgate_shared::MemberId;
use gymgate_shared::api::RosterMember;

const SURNAMES: [&str; 10] = ["김", "이", "박", "최", "정", "강", "조", "윤", "장", "임"];
const GIVEN: [&str; 10] = [
    "민준", "서연", "도윤", "지우", "하준", "서윤", "시우", "하은", "주원", "지유",
];

fn members() -> Vec<RosterMember> {
    let date = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
    (0..100_000)
        .map(|i| RosterMember {
            id: MemberId::new(format!("m{i}")),
            member_no: format!("{}", 1_000_000 + i),
            name: format!("{}{}", SURNAMES[i % 10], GIVEN[(i / 10) % 10]),
            phone_last4: format!("{:04}", (i * 7919) % 10_000),
            plan: "월 8회".into(),
            valid_from: date,
            valid_until: date,
            visits_per_month: Some(8),
            visits_left: Some(5),
            blocked: false,
            birthday: None,
            photo_url: None,
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let index = RosterIndex::new(members());
    for (name, query) in [
        ("roster search: name", "서연"),
        ("roster search: last 4 digits", "4321"),
        ("roster search: member number", "1054321"),
    ] {
        c.bench_function(name, |b| b.iter(|| index.search(black_box(query), 30)));
    }
}

criterion_group!(roster, benches);
criterion_main!(roster);
