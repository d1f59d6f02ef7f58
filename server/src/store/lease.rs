//! Which node runs the shared duties (alerts, pending expiry, imports, retention) when nodes
//! share PostgreSQL: a lease in the database with an expiry by the database's own clock, and
//! a term that grows at every change of holder.
//!
//! A session-held advisory lock is not enough: a frozen or cut-off leader keeps it for as
//! long as its TCP session looks alive (up to ~15 minutes of retransmits), and meanwhile
//! nobody leads, or, once PostgreSQL drops the session, two nodes do. With the lease, the
//! holder counts itself leader only until a local deadline well inside the lease (measured
//! from before its renewal was sent, on the monotonic clock, which runs through a SIGSTOP), and
//! every leader-only write checks the term in its own transaction ([`check`]) holding the
//! term's row, so a write from a leader that lost the lease cannot commit after another took
//! it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::StoreError;
use super::sql::Conn;

/// A leader-only write's proof: this node held the lease with `term` (PostgreSQL), or it is
/// the only node (SQLite).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fence {
    Sole,
    Term { node_id: String, term: i64 },
}

/// This node's view of the lease.
#[derive(Debug, Default)]
pub struct Lease {
    /// One node alone on its database (SQLite): it always leads.
    sole: AtomicBool,
    held: Mutex<Option<(i64, Instant)>>,
}

impl Lease {
    /// Nobody leads until the database says so (or the node is found alone).
    pub fn new() -> Lease {
        Lease::default()
    }

    pub fn set_sole(&self) {
        self.sole.store(true, Ordering::Relaxed);
    }

    /// Held with `term` until `until` (local, monotonic).
    pub fn hold(&self, term: i64, until: Instant) {
        if let Ok(mut held) = self.held.lock() {
            *held = Some((term, until));
        }
    }

    pub fn drop_lease(&self) {
        if let Ok(mut held) = self.held.lock() {
            *held = None;
        }
    }

    /// The term this node leads with now; `None` when it does not lead (the local deadline
    /// passed without a renewal, whatever the reason: a frozen process, a lost database).
    pub fn term(&self) -> Option<i64> {
        let held = self.held.lock().ok()?;
        held.and_then(|(term, until)| (Instant::now() < until).then_some(term))
    }

    pub fn leads(&self) -> bool {
        self.sole.load(Ordering::Relaxed) || self.term().is_some()
    }

    pub fn fence(&self, node_id: &str) -> Option<Fence> {
        if self.sole.load(Ordering::Relaxed) {
            return Some(Fence::Sole);
        }
        self.term().map(|term| Fence::Term {
            node_id: node_id.to_owned(),
            term,
        })
    }
}

/// How long before the lease's expiry the holder stops counting itself leader: renewals that
/// fail for this long hand the duties over with a margin for the nodes' clock rates.
pub fn trusted_for(ttl: Duration) -> Duration {
    ttl * 2 / 3
}

/// Takes the lease when it is free or expired, or renews it when this node holds it; returns
/// the term held, or `None` when another node holds it. Runs in a transaction of its own: a
/// takeover raises the term, and waits there for the old holder's fenced writes to end.
pub fn renew(conn: &mut dyn Conn, node_id: &str, ttl: Duration) -> Result<Option<i64>, StoreError> {
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let holder: Option<(Option<String>, bool)> = conn.one(
        "SELECT node_id, expires_at > clock_timestamp() FROM leader_lease WHERE id = 1
         FOR UPDATE",
        &[],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let Some((holder, valid)) = holder else {
        return Err(StoreError::Corrupt(
            "the leader_lease row is missing".into(),
        ));
    };
    let mine = holder.as_deref() == Some(node_id);
    if valid && !mine {
        return Ok(None);
    }
    let term: i64 = if mine {
        conn.value("SELECT term FROM leader_term WHERE id = 1", &[])?
    } else {
        conn.value(
            "UPDATE leader_term SET term = term + 1 WHERE id = 1 RETURNING term",
            &[],
        )?
    };
    conn.execute(
        "UPDATE leader_lease SET node_id = ?1,
             expires_at = clock_timestamp() + CAST(?2 AS BIGINT) * INTERVAL '1 millisecond'
         WHERE id = 1",
        &[&node_id, &ttl_ms],
    )?;
    Ok(Some(term))
}

/// Lets the lease go at once (a node shutting down): another node takes the duties at its
/// next renewal instead of after the expiry.
pub fn release(conn: &mut dyn Conn, node_id: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE leader_lease SET expires_at = clock_timestamp() WHERE id = 1 AND node_id = ?1",
        &[&node_id],
    )?;
    Ok(())
}

/// First statement of a leader-only write: fails unless `fence` still holds, and keeps the
/// term's row share-locked to the commit, so a takeover waits for this write to end (the
/// holder's own renewals do not: they leave that row alone).
pub fn check(conn: &mut dyn Conn, fence: &Fence) -> Result<(), StoreError> {
    let Fence::Term { node_id, term } = fence else {
        return Ok(());
    };
    let held: Option<i64> = conn.optional(
        "SELECT t.term FROM leader_term t JOIN leader_lease l ON l.id = t.id
         WHERE t.id = 1 AND t.term = ?2 AND l.node_id = ?1 AND l.expires_at > clock_timestamp()
         FOR SHARE OF t",
        &[node_id, term],
    )?;
    match held {
        Some(_) => Ok(()),
        None => Err(StoreError::Fenced),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_not_renewed_in_time_stops_leading() {
        let lease = Lease::new();
        assert!(!lease.leads());
        lease.hold(3, Instant::now() + Duration::from_secs(60));
        assert_eq!(
            lease.fence("n1"),
            Some(Fence::Term {
                node_id: "n1".into(),
                term: 3
            })
        );
        lease.hold(3, Instant::now());
        assert!(!lease.leads(), "past its local deadline");
        assert_eq!(lease.fence("n1"), None);
        lease.set_sole();
        assert_eq!(lease.fence("n1"), Some(Fence::Sole));
    }
}
