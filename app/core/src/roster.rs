//! In-memory roster search: staff type part of a name, the last 4 phone digits, or a member
//! number. A linear scan over pre-lowered strings keeps 100,000 members well within 10 ms
//! and needs no index to maintain on every `member` event.

use std::collections::HashMap;

use gymgate_shared::MemberId;
use gymgate_shared::api::RosterMember;

struct Entry {
    member: RosterMember,
    name_lower: String,
    member_no_lower: String,
}

#[derive(Default)]
pub struct RosterIndex {
    entries: Vec<Entry>,
    by_id: HashMap<MemberId, usize>,
}

impl RosterIndex {
    pub fn new(members: Vec<RosterMember>) -> RosterIndex {
        let mut index = RosterIndex::default();
        for member in members {
            index.upsert(member);
        }
        index
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn upsert(&mut self, member: RosterMember) {
        let entry = Entry {
            name_lower: member.name.to_lowercase(),
            member_no_lower: member.member_no.to_lowercase(),
            member,
        };
        match self.by_id.get(&entry.member.id) {
            Some(&i) => self.entries[i] = entry,
            None => {
                self.by_id
                    .insert(entry.member.id.clone(), self.entries.len());
                self.entries.push(entry);
            }
        }
    }

    pub fn get(&self, id: &MemberId) -> Option<&RosterMember> {
        self.by_id.get(id).map(|&i| &self.entries[i].member)
    }

    /// Up to `limit` members matching `query`, best first. What looks like a member number
    /// (digits, or letters and digits as in "A-1001", any case) matches an exact member
    /// number, exact last-4 phone digits, then member numbers starting with it; anything
    /// else matches names starting with the query, then names containing it.
    pub fn search(&self, query: &str, limit: usize) -> Vec<RosterMember> {
        let query = query.trim().to_lowercase();
        if query.is_empty() || limit == 0 {
            return Vec::new();
        }
        let digits = query.chars().all(|c| c.is_ascii_digit());
        let member_no_like = query.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && query.chars().any(|c| c.is_ascii_digit());
        // One searcher per query, not one per member: this is most of the cost of a scan.
        let finder = memchr::memmem::Finder::new(query.as_bytes());
        let mut ranked: Vec<(u8, &Entry)> = Vec::new();
        for entry in &self.entries {
            let member = &entry.member;
            // Digits are a member number or phone digits; names are never searched by them.
            let rank = if member_no_like {
                if entry.member_no_lower == query {
                    0
                } else if member.phone_last4 == query {
                    1
                } else if entry.member_no_lower.starts_with(&query) {
                    2
                } else if digits {
                    continue;
                } else if entry.name_lower.contains(&query) {
                    4
                } else {
                    continue;
                }
            } else if entry.name_lower.starts_with(&query) {
                3
            } else if finder.find(entry.name_lower.as_bytes()).is_some() {
                4
            } else {
                continue;
            };
            ranked.push((rank, entry));
        }
        ranked.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| a.1.member.name.cmp(&b.1.member.name))
        });
        ranked
            .into_iter()
            .take(limit)
            .map(|(_, e)| e.member.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn member(i: usize, name: &str) -> RosterMember {
        RosterMember {
            id: MemberId::new(format!("m{i}")),
            member_no: format!("{}", 100_000 + i),
            name: name.to_owned(),
            phone_last4: format!("{:04}", i % 10_000),
            plan: "월 8회".into(),
            valid_from: "2026-01-01".parse().expect("date"),
            valid_until: "2026-12-31".parse().expect("date"),
            visits_per_month: Some(8),
            visits_left: Some(8),
            blocked: false,
            birthday: None,
            photo_url: None,
        }
    }

    #[test]
    fn finds_by_name_phone_and_number_over_100k_members() {
        const SURNAMES: [&str; 5] = ["김", "이", "박", "최", "정"];
        const GIVEN: [&str; 6] = ["민준", "서연", "도윤", "지우", "하준", "서윤"];
        let members: Vec<_> = (0..100_000)
            .map(|i| {
                member(
                    i,
                    &format!("{}{}{}", SURNAMES[i % 5], GIVEN[(i / 5) % 6], i),
                )
            })
            .collect();
        let index = RosterIndex::new(members);
        assert_eq!(index.len(), 100_000);

        let by_number = index.search("154321", 5);
        assert_eq!(by_number.first().map(|m| m.id.as_str()), Some("m54321"));

        // Last-4 digits: every member whose phone ends in 4321 (10 of them), exact ones first.
        let by_phone = index.search("4321", 20);
        assert!(by_phone.iter().take(10).all(|m| m.phone_last4 == "4321"));
        assert_eq!(
            by_phone.iter().filter(|m| m.phone_last4 == "4321").count(),
            10
        );

        let by_name = index.search("이서연", 1000);
        assert!(!by_name.is_empty());
        assert!(by_name.iter().all(|m| m.name.starts_with("이서연")));
        // Member 54321 is 이 + 하준 + 54321; the middle of a name matches too.
        let inside = index.search("하준54321", 10);
        assert_eq!(inside.len(), 1);
        assert_eq!(inside[0].name, "이하준54321");

        assert!(index.search("   ", 10).is_empty());
        assert!(index.search("없는이름", 10).is_empty());
        assert_eq!(index.search("김", 7).len(), 7, "results are capped");
    }

    /// Member numbers may hold letters ("A-1001"); staff type them in any case.
    #[test]
    fn member_numbers_with_letters_are_found_in_any_case() {
        let mut first = member(1, "김민준");
        first.member_no = "NC0001".into();
        let mut second = member(2, "이서연");
        second.member_no = "NC0002".into();
        let index = RosterIndex::new(vec![first, second]);
        let found = |q: &str| -> Vec<String> {
            index
                .search(q, 5)
                .into_iter()
                .map(|m| m.member_no)
                .collect()
        };
        assert_eq!(found("NC0001"), ["NC0001"]);
        assert_eq!(found("nc0002"), ["NC0002"]);
        assert_eq!(found("NC000"), ["NC0001", "NC0002"]);
        assert!(found("XY0001").is_empty());
    }

    #[test]
    fn upsert_replaces_a_member() {
        let mut index = RosterIndex::new(vec![member(1, "김민준")]);
        let mut changed = member(1, "김민준");
        changed.blocked = true;
        index.upsert(changed);
        assert_eq!(index.len(), 1);
        assert!(index.get(&MemberId::new("m1")).is_some_and(|m| m.blocked));
    }
}
