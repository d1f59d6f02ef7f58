//! What goes wrong on members' phones, as the member app reports it: script errors, answers it
//! could not use, a service worker or an offline pass that failed, a browser without Ed25519.
//! Anyone can send a report (a phone in trouble may have no session), so a report costs the
//! server a counter and nothing more: a kind from a fixed list, the app's version (bounded),
//! no text, no member data, kept per minute for an hour. The alert engine watches for a spike
//! of one kind ("the app loads abnormal data").

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// The kinds a report may have; anything else is counted as `other`.
pub const KINDS: [&str; 6] = [
    "script_error",
    "api_unusable",
    "service_worker",
    "pass_failed",
    "no_ed25519",
    "other",
];
const OTHER: usize = 5;
/// Minutes kept: the console's view and the alert window fit in them.
const KEEP_MINUTES: i64 = 60;
/// Distinct app versions counted apart in one minute; more are counted as "other" (a sender
/// making up versions cannot grow the table).
const VERSIONS_PER_MINUTE: usize = 16;
const MAX_VERSION_CHARS: usize = 32;

/// Plain Korean for operators.
pub fn kind_ko(kind: &str) -> &'static str {
    match kind {
        "script_error" => "스크립트 오류",
        "api_unusable" => "서버 응답을 쓸 수 없음",
        "service_worker" => "서비스 워커 실패",
        "pass_failed" => "오프라인 패스 생성 실패",
        "no_ed25519" => "Ed25519 없는 브라우저",
        _ => "기타",
    }
}

struct Minute {
    /// Unix time / 60.
    at: i64,
    counts: HashMap<(usize, String), u64>,
}

#[derive(Default)]
pub struct AppReports {
    minutes: Mutex<VecDeque<Minute>>,
}

fn version_of(text: &str) -> String {
    let ok = !text.is_empty()
        && text.len() <= MAX_VERSION_CHARS
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_'));
    if ok {
        text.to_owned()
    } else {
        "unknown".to_owned()
    }
}

impl AppReports {
    /// Counts one report; returns the kind it was counted as.
    pub fn add(&self, kind: &str, version: &str, now: DateTime<Utc>) -> &'static str {
        let index = KINDS.iter().position(|k| *k == kind).unwrap_or(OTHER);
        let mut version = version_of(version);
        let minute = now.timestamp().div_euclid(60);
        let mut minutes = self
            .minutes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if minutes.back().is_none_or(|m| m.at != minute) {
            minutes.push_back(Minute {
                at: minute,
                counts: HashMap::new(),
            });
        }
        while minutes
            .front()
            .is_some_and(|m| m.at <= minute - KEEP_MINUTES)
        {
            minutes.pop_front();
        }
        if let Some(current) = minutes.back_mut() {
            let known = current.counts.keys().any(|(_, v)| *v == version);
            let versions = current
                .counts
                .keys()
                .map(|(_, v)| v.as_str())
                .collect::<std::collections::HashSet<_>>()
                .len();
            if !known && versions >= VERSIONS_PER_MINUTE {
                version = "other".to_owned();
            }
            *current.counts.entry((index, version)).or_insert(0) += 1;
        }
        KINDS[index]
    }

    /// Reports since `from` (at most the last hour): `(kind, app version, count)`, most first.
    pub fn since(&self, from: DateTime<Utc>) -> Vec<(&'static str, String, u64)> {
        let from = from.timestamp().div_euclid(60);
        let minutes = self
            .minutes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut totals: HashMap<(usize, String), u64> = HashMap::new();
        for minute in minutes.iter().filter(|m| m.at >= from) {
            for ((kind, version), count) in &minute.counts {
                *totals.entry((*kind, version.clone())).or_insert(0) += count;
            }
        }
        let mut out: Vec<_> = totals
            .into_iter()
            .map(|((kind, version), count)| (KINDS[kind], version, count))
            .collect();
        out.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(b.0)).then(a.1.cmp(&b.1)));
        out
    }

    /// Reports of each kind since `from` (kinds with none left out).
    pub fn by_kind(&self, from: DateTime<Utc>) -> Vec<(&'static str, u64)> {
        let mut totals: HashMap<&'static str, u64> = HashMap::new();
        for (kind, _, count) in self.since(from) {
            *totals.entry(kind).or_insert(0) += count;
        }
        let mut out: Vec<_> = totals.into_iter().collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + minute * 60, 0).unwrap_or_default()
    }

    #[test]
    fn counts_by_kind_and_version_and_forgets_after_an_hour() {
        let reports = AppReports::default();
        assert_eq!(
            reports.add("pass_failed", "2026.12.1", at(0)),
            "pass_failed"
        );
        reports.add("pass_failed", "2026.12.1", at(1));
        assert_eq!(
            reports.add("전화 010-1234-5678", "2026.12.1", at(1)),
            "other"
        );
        reports.add("script_error", "<script>", at(2));
        assert_eq!(
            reports.since(at(0)),
            vec![
                ("pass_failed", "2026.12.1".to_owned(), 2),
                ("other", "2026.12.1".to_owned(), 1),
                ("script_error", "unknown".to_owned(), 1),
            ]
        );
        assert_eq!(reports.by_kind(at(2)), vec![("script_error", 1)]);
        // An hour on, minutes 0 and 1 are gone once a new report arrives.
        reports.add("other", "1", at(61));
        assert_eq!(
            reports.by_kind(at(0)),
            vec![("other", 1), ("script_error", 1)]
        );
    }

    #[test]
    fn made_up_versions_cannot_grow_the_table() {
        let reports = AppReports::default();
        for i in 0..1000 {
            reports.add("script_error", &format!("v{i}"), at(0));
        }
        let rows = reports.since(at(0));
        assert_eq!(rows.len(), VERSIONS_PER_MINUTE + 1, "{rows:?}");
        assert_eq!(rows.iter().map(|r| r.2).sum::<u64>(), 1000);
    }
}
