//! Member tokens already checked against the database, kept in memory. Every tap carries a
//! member token; asking SQLite each time means a trip to a blocking thread and back, which
//! cost more than the rest of a tap's HTTP work. A token row never changes once written; it is
//! deleted when it expires or when the member's sessions end (a PIN reset), and that may
//! happen through another node. That node announces it (every node forgets the member's
//! sessions when it hears it); a node that missed the word looks a remembered token up again
//! after [`RECHECK`], so no deleted token works anywhere for longer than that.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use gymgate_shared::MemberId;

/// Sessions remembered at most; past this the expired ones are dropped, and if that is not
/// enough all are (they are read again from the database on their next use).
const MAX_REMEMBERED: usize = 100_000;

/// How long a token looked up in the database is taken on this node's word alone.
pub const RECHECK: chrono::Duration = chrono::Duration::seconds(5);

#[derive(Default)]
pub struct MemberSessions {
    known: Mutex<HashMap<Vec<u8>, Remembered>>,
}

/// A session, and when it was last read from the database.
type Remembered = (Session, DateTime<Utc>);

#[derive(Clone)]
pub struct Session {
    pub member_id: MemberId,
    pub expires_at: DateTime<Utc>,
}

impl MemberSessions {
    /// The session of a token, by the token's hash, if it was read from the database less
    /// than [`RECHECK`] before `now`.
    pub fn get(&self, token_hash: &[u8], now: DateTime<Utc>) -> Option<Session> {
        let known = self.known.lock().ok()?;
        let (session, read_at) = known.get(token_hash)?;
        (now - *read_at < RECHECK && *read_at <= now).then(|| session.clone())
    }

    pub fn remember(&self, token_hash: Vec<u8>, session: Session, now: DateTime<Utc>) {
        let Ok(mut known) = self.known.lock() else {
            return;
        };
        if known.len() >= MAX_REMEMBERED {
            known.retain(|_, (s, _)| s.expires_at > now);
            if known.len() >= MAX_REMEMBERED {
                known.clear();
            }
        }
        known.insert(token_hash, (session, now));
    }

    /// Forgets a member's sessions (their PIN was reset: the tokens were deleted too).
    pub fn forget_member(&self, member: &MemberId) {
        if let Ok(mut known) = self.known.lock() {
            known.retain(|_, (s, _)| &s.member_id != member);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.known.lock().map(|k| k.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(member: &str, expires_at: DateTime<Utc>) -> Session {
        Session {
            member_id: MemberId::new(member.to_owned()),
            expires_at,
        }
    }

    #[test]
    fn remembers_by_hash_and_stays_bounded() {
        let now = Utc::now();
        let sessions = MemberSessions::default();
        sessions.remember(
            vec![1],
            session("m1", now + chrono::Duration::hours(1)),
            now,
        );
        assert_eq!(
            sessions
                .get(&[1], now)
                .map(|s| s.member_id.as_str().to_owned()),
            Some("m1".to_owned())
        );
        assert!(sessions.get(&[2], now).is_none());

        // Full of expired sessions: those go, the live one stays.
        for i in 0..MAX_REMEMBERED - 1 {
            let key = (i as u64 + 10).to_le_bytes().to_vec();
            sessions.remember(key, session("old", now - chrono::Duration::hours(1)), now);
        }
        assert_eq!(sessions.len(), MAX_REMEMBERED);
        sessions.remember(
            vec![3],
            session("m3", now + chrono::Duration::hours(1)),
            now,
        );
        assert_eq!(sessions.len(), 2);
        assert!(sessions.get(&[1], now).is_some() && sessions.get(&[3], now).is_some());

        // Full of live sessions: forgotten all at once, then refilled from the database.
        for i in 0..MAX_REMEMBERED {
            let key = (i as u64 + 10).to_le_bytes().to_vec();
            sessions.remember(key, session("live", now + chrono::Duration::hours(1)), now);
        }
        assert!(sessions.len() <= MAX_REMEMBERED);
        sessions.remember(
            vec![4],
            session("m4", now + chrono::Duration::hours(1)),
            now,
        );
        assert!(sessions.len() <= MAX_REMEMBERED);
        assert!(sessions.get(&[4], now).is_some());
    }

    /// Another node may have ended the session: a remembered token is read again after a
    /// few seconds, so a PIN reset whose word this node missed still ends it.
    #[test]
    fn a_remembered_token_is_read_again_after_a_few_seconds() {
        let now = Utc::now();
        let sessions = MemberSessions::default();
        sessions.remember(
            vec![1],
            session("m1", now + chrono::Duration::days(30)),
            now,
        );
        assert!(
            sessions
                .get(&[1], now + chrono::Duration::seconds(4))
                .is_some()
        );
        assert!(sessions.get(&[1], now + RECHECK).is_none());
        assert!(
            sessions
                .get(&[1], now - chrono::Duration::seconds(1))
                .is_none(),
            "a clock that went back does not stretch it"
        );
    }
}
