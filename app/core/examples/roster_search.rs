//! Roster search over 100,000 cached members: prints percentiles per kind of query.
//!   cargo run --release -p gymgate-desk --example roster_search
//! With `-- --seed DIR` it also writes those members into DIR/cache.db, to measure the desk's
//! start-up and memory with a full roster.

use std::time::{Duration, Instant};

use gymgate_desk_core::roster::RosterIndex;
use gymgate_shared::MemberId;
use gymgate_shared::api::RosterMember;

const MEMBERS: usize = 100_000;
const SURNAMES: [&str; 20] = [
    "김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오", "서", "신", "권", "황",
    "안", "송", "류", "홍",
];
const GIVEN: [&str; 30] = [
    "민준", "서연", "도윤", "지우", "하준", "서윤", "시우", "하은", "주원", "지유", "예준", "수아",
    "지호", "지민", "준서", "채원", "현우", "다은", "건우", "예은", "우진", "소율", "선우", "윤서",
    "연우", "가은", "유준", "지아", "정우", "하린",
];

fn member(i: usize) -> RosterMember {
    RosterMember {
        id: MemberId::new(format!("m{i}")),
        member_no: format!("{}", 1_000_000 + i),
        name: format!("{}{}", SURNAMES[i % 20], GIVEN[(i / 20) % 30]),
        phone_last4: format!("{:04}", (i * 7919) % 10_000),
        plan: "월 8회".into(),
        valid_from: "2026-01-01".parse().expect("date"),
        valid_until: "2026-12-31".parse().expect("date"),
        visits_per_month: Some(8),
        visits_left: Some(5),
        blocked: false,
        birthday: None,
        photo_url: None,
    }
}

/// Makes the i-th query of one kind.
type QueryFor = Box<dyn Fn(usize) -> String>;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, dir] = args.as_slice()
        && flag == "--seed"
    {
        let path = std::path::Path::new(dir).join("cache.db");
        let (mut cache, _) = gymgate_desk_core::cache::Cache::open(&path).expect("open the cache");
        let members: Vec<RosterMember> = (0..MEMBERS).map(member).collect();
        cache.put_roster(&members).expect("write the roster");
        println!("wrote {MEMBERS} members to {}", path.display());
    }
    let started = Instant::now();
    let index = RosterIndex::new((0..MEMBERS).map(member).collect());
    println!("indexed {} members in {:?}", index.len(), started.elapsed());
    let kinds: [(&str, QueryFor); 4] = [
        ("name (2 chars)", Box::new(|i| GIVEN[i % 30].to_owned())),
        (
            "full name",
            Box::new(|i| format!("{}{}", SURNAMES[i % 20], GIVEN[i % 30])),
        ),
        (
            "last 4 phone digits",
            Box::new(|i| format!("{:04}", (i * 7919) % 10_000)),
        ),
        (
            "member number",
            Box::new(|i| format!("{}", 1_000_000 + (i * 37) % MEMBERS)),
        ),
    ];
    println!(
        "{:<22} {:>10} {:>10} {:>10} {:>8}",
        "query", "p50", "p99", "max", "hits"
    );
    for (kind, query) in &kinds {
        let mut times = Vec::with_capacity(500);
        let mut hits = 0;
        for i in 0..500 {
            let q = query(i);
            let t = Instant::now();
            let found = index.search(&q, 30);
            times.push(t.elapsed());
            hits += found.len();
        }
        times.sort();
        println!(
            "{:<22} {:>10.2?} {:>10.2?} {:>10.2?} {:>8}",
            kind,
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times[times.len() - 1],
            hits / 500
        );
    }
}
