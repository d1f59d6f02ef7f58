//! The desk's local SQLite cache: the event cursor, roster, recent check-ins, notices and the
//! outbox. Every method is synchronous; `CacheHandle` (`store.rs`) runs them on a thread of
//! their own, never on iced's `update()` or the async executor.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use gymgate_shared::api::{CheckinCard, DeskSnapshot, Notice, RosterMember, SupportContact};
use gymgate_shared::hours::CenterHours;
use gymgate_shared::kst;
use gymgate_shared::pass::PassKey;
use gymgate_shared::protocol::{Event, EventPayload, OutboxRecord, RecordMethod, RecordStatus};
use gymgate_shared::{CenterId, CheckinId, DeskId, LocalId, MemberId};
use rusqlite::{Connection, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cache migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("cache data could not be encoded: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot prepare the cache folder {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the cache thread has stopped")]
    Gone,
}

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            r#"
        CREATE TABLE cursor (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            epoch TEXT,
            last_seq INTEGER NOT NULL DEFAULT 0,
            synced_at TEXT,
            center_name TEXT
        );
        INSERT INTO cursor (id, last_seq) VALUES (1, 0);
        CREATE TABLE roster (member_id TEXT PRIMARY KEY, data TEXT NOT NULL);
        -- Check-in cards, keyed by check-in id (or by local_id until the server accepts them).
        CREATE TABLE checkins (
            id TEXT PRIMARY KEY,
            rev INTEGER NOT NULL,
            at TEXT NOT NULL,
            member_id TEXT NOT NULL,
            status TEXT NOT NULL,
            data TEXT NOT NULL
        );
        CREATE INDEX checkins_at ON checkins (at);
        CREATE TABLE outbox (
            local_id TEXT PRIMARY KEY,
            member_id TEXT NOT NULL,
            member_name TEXT NOT NULL,
            at TEXT NOT NULL,
            method TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',
            checkin_id TEXT,
            reason TEXT,
            resolved_at TEXT,
            acknowledged INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE notices (id TEXT PRIMARY KEY, data TEXT NOT NULL);
        "#,
        ),
        // A cache belongs to one pairing (desk and center): a PC paired again for another
        // desk starts over instead of mixing two centers' visitors, and every outbox item
        // remembers the desk that made it, so it is never sent as another desk's (another
        // center's) visit. `proof` keeps a scanned offline pass for the outbox.
        M::up(
            "ALTER TABLE cursor ADD COLUMN desk_id TEXT;
         ALTER TABLE cursor ADD COLUMN center_id TEXT;
         ALTER TABLE outbox ADD COLUMN desk_id TEXT;
         ALTER TABLE outbox ADD COLUMN center_id TEXT;
         ALTER TABLE outbox ADD COLUMN proof TEXT;",
        ),
        // Offline passes: the server's public keys (from the last `welcome`), the offset of
        // this PC's clock from the server's, members whose passes were revoked, and the
        // showings this desk already took (a code scanned twice is refused).
        M::up(
            "CREATE TABLE pass_keys (kid TEXT PRIMARY KEY, public_key TEXT NOT NULL);
             CREATE TABLE revocations (member_id TEXT PRIMARY KEY, revoked_at TEXT NOT NULL);
             CREATE TABLE seen_passes (fingerprint TEXT PRIMARY KEY, at TEXT NOT NULL);
             ALTER TABLE cursor ADD COLUMN clock_offset_ms INTEGER NOT NULL DEFAULT 0;",
        ),
        // The server's check-ins as this desk saw them, without who (ids, times, statuses),
        // kept LEDGER_DAYS so a center can check its monthly statement against its own
        // record (docs/settlement.md); and settings operators send (the support contact).
        M::up(
            "CREATE TABLE ledger (id TEXT PRIMARY KEY, rev INTEGER NOT NULL, at TEXT NOT NULL,
                                  status TEXT NOT NULL);
             CREATE INDEX ledger_at ON ledger (at);
             CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
        ),
    ])
}

/// How long the ledger keeps a check-in: a month's statement and the month before.
pub const LEDGER_DAYS: i64 = 62;

/// Where the desk stands in its center's event log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    pub epoch: Option<String>,
    pub last_seq: u64,
    pub synced_at: Option<DateTime<Utc>>,
    pub center_name: Option<String>,
}

/// What storing an event did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// Stored and the cursor moved to its seq: ack it, show it.
    Stored(Box<EventPayload>),
    /// Already stored (seq at or below the cursor): ack again, show nothing.
    Duplicate,
    /// A seq is missing before this one: reconnect and resume from the cursor.
    Gap { expected: u64 },
}

/// An outbox item the server did not accept, or could not be sent; staff must look at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub local_id: LocalId,
    pub member_id: MemberId,
    pub member_name: String,
    pub at: DateTime<Utc>,
    /// `Conflict`: the server kept the visit as disputed (`checkin_id`) for operators to
    /// accept or reject; `Rejected`: the item itself was invalid.
    pub status: RecordStatus,
    pub reason: Option<String>,
    pub checkin_id: Option<CheckinId>,
    /// Recorded under an earlier pairing of this PC (this desk id) and not sent yet: it can
    /// only be sent as that desk's visit, never as this one's.
    pub unsent_from: Option<DeskId>,
}

/// Whose cache this is, as [`Cache::claim`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The cache was this pairing's (or nobody's yet).
    Owned,
    /// It belonged to another desk; it was started over, keeping that desk's unsent items.
    StartedOver { previous_desk: DeskId, kept: usize },
}

/// Unsent outbox items of an earlier pairing of this PC, for sending as that desk's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignItems {
    pub desk_id: DeskId,
    pub records: Vec<OutboxRecord>,
}

/// The cache file was unreadable and was moved aside; a fresh one replaced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    pub moved_to: PathBuf,
    /// Outbox items read back out of the damaged file.
    pub outbox_salvaged: usize,
    pub error: String,
}

/// What this PC knows of members, less what must survive: outbox items still to be sent,
/// and refusals staff have not seen (their cards stay with them).
const CLEAR_MEMBER_DATA: &str = "DELETE FROM roster;
     DELETE FROM notices;
     DELETE FROM ledger;
     DELETE FROM seen_passes;
     DELETE FROM outbox
         WHERE NOT (state = 'pending'
                    OR (state IN ('conflict', 'rejected') AND acknowledged = 0));
     DELETE FROM checkins WHERE id NOT IN (SELECT local_id FROM outbox);
     DELETE FROM settings WHERE key = 'hours';";

/// How long outbox items the server settled stay on this PC (for support's questions).
pub const OUTBOX_KEPT_DAYS: i64 = 30;

pub struct Cache {
    conn: Connection,
}

use gymgate_shared::timefmt::{from_text as parse_ts, to_text as ts};

impl Cache {
    /// Opens the cache at `path`. A file that cannot be opened, fails its integrity check or
    /// cannot be migrated is moved aside (its pending outbox salvaged if readable) and a new
    /// one is made: a damaged cache never stops the desk from starting.
    pub fn open(path: &Path) -> Result<(Cache, Option<Recovered>), CacheError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| CacheError::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        match Self::open_checked(path) {
            Ok(cache) => Ok((cache, None)),
            Err(error) => {
                let salvaged = salvage_outbox(path);
                let moved_to = move_aside(path)?;
                tracing::error!(%error, moved_to = %moved_to.display(), "cache was damaged; starting a new one");
                let mut cache = Self::open_checked(path)?;
                let outbox_salvaged = salvaged.len();
                for (record, name, owner) in salvaged {
                    cache.add_outbox(&record, &name, owner.as_ref().map(|(d, c)| (d, c)))?;
                }
                Ok((
                    cache,
                    Some(Recovered {
                        moved_to,
                        outbox_salvaged,
                        error: error.to_string(),
                    }),
                ))
            }
        }
    }

    fn open_checked(path: &Path) -> Result<Cache, CacheError> {
        let mut conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;",
        )?;
        let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if check != "ok" {
            return Err(CacheError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                Some(check),
            )));
        }
        migrations().to_latest(&mut conn)?;
        Ok(Cache { conn })
    }

    /// Binds the cache to a pairing. A cache without an owner (new, or from before caches had
    /// one) becomes this desk's with its items; one of another desk is started over: its
    /// roster, check-ins, notices and cursor go, and of its outbox only what was never sent,
    /// or never seen by staff, stays, marked as the other desk's.
    pub fn claim(&mut self, desk: &DeskId, center: &CenterId) -> Result<Claim, CacheError> {
        let tx = self.conn.transaction()?;
        // Items without an owner (salvaged from a damaged file that did not say) were made
        // under the cache's owner; a cache without one gives them to this desk below.
        tx.execute(
            "UPDATE outbox SET desk_id = (SELECT desk_id FROM cursor WHERE id = 1),
                               center_id = (SELECT center_id FROM cursor WHERE id = 1)
             WHERE desk_id IS NULL AND (SELECT desk_id FROM cursor WHERE id = 1) IS NOT NULL",
            [],
        )?;
        let owner: (Option<String>, Option<String>) = tx.query_row(
            "SELECT desk_id, center_id FROM cursor WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let claim = match owner {
            (Some(d), Some(c)) if d == desk.as_str() && c == center.as_str() => Claim::Owned,
            (None, _) => {
                tx.execute(
                    "UPDATE outbox SET desk_id = ?1, center_id = ?2 WHERE desk_id IS NULL",
                    params![desk.as_str(), center.as_str()],
                )?;
                Claim::Owned
            }
            (Some(previous), _) => {
                tx.execute_batch(CLEAR_MEMBER_DATA)?;
                tx.execute("DELETE FROM checkins", [])?;
                let kept: i64 = tx.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?;
                tx.execute(
                    "UPDATE cursor SET epoch = NULL, last_seq = 0, synced_at = NULL,
                     center_name = NULL WHERE id = 1",
                    [],
                )?;
                tracing::warn!(%previous, desk = %desk, kept, "cache of another pairing started over");
                Claim::StartedOver {
                    previous_desk: DeskId::new(previous),
                    kept: kept as usize,
                }
            }
        };
        tx.execute(
            "UPDATE cursor SET desk_id = ?1, center_id = ?2 WHERE id = 1",
            params![desk.as_str(), center.as_str()],
        )?;
        tx.commit()?;
        Ok(claim)
    }

    /// What the server said of itself at the last `welcome`: the keys that sign passes (kept
    /// when it sent none) and how far this PC's clock is from its own.
    pub fn set_server_info(
        &mut self,
        keys: &[PassKey],
        clock_offset: chrono::Duration,
    ) -> Result<(), CacheError> {
        let tx = self.conn.transaction()?;
        if !keys.is_empty() {
            tx.execute("DELETE FROM pass_keys", [])?;
            for key in keys {
                tx.execute(
                    "INSERT OR REPLACE INTO pass_keys (kid, public_key) VALUES (?1, ?2)",
                    params![key.kid, key.public_key],
                )?;
            }
        }
        tx.execute(
            "UPDATE cursor SET clock_offset_ms = ?1 WHERE id = 1",
            [clock_offset.num_milliseconds()],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn pass_keys(&self) -> Result<Vec<PassKey>, CacheError> {
        let mut stmt = self.conn.prepare("SELECT kid, public_key FROM pass_keys")?;
        let rows = stmt.query_map([], |r| {
            Ok(PassKey {
                kid: r.get(0)?,
                public_key: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The server's clock minus this PC's, as last learned.
    pub fn clock_offset(&self) -> Result<chrono::Duration, CacheError> {
        let ms: i64 =
            self.conn
                .query_row("SELECT clock_offset_ms FROM cursor WHERE id = 1", [], |r| {
                    r.get(0)
                })?;
        Ok(chrono::Duration::milliseconds(ms))
    }

    /// Since when a member's passes are revoked, if they are.
    pub fn revoked_since(&self, member: &MemberId) -> Result<Option<DateTime<Utc>>, CacheError> {
        let at: Option<String> = self
            .conn
            .query_row(
                "SELECT revoked_at FROM revocations WHERE member_id = ?1",
                [member.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(at.as_deref().and_then(parse_ts))
    }

    /// Whether this desk took this showing of a pass already.
    pub fn pass_seen(&self, fingerprint: &str) -> Result<bool, CacheError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM seen_passes WHERE fingerprint = ?1)",
            [fingerprint],
            |r| r.get(0),
        )?)
    }

    /// Unsent outbox items of other desks (earlier pairings of this PC), by desk.
    pub fn foreign_pending(&self) -> Result<Vec<ForeignItems>, CacheError> {
        let rows = self.outbox_records(
            "WHERE state = 'pending' AND desk_id IS NOT NULL
               AND desk_id != (SELECT desk_id FROM cursor WHERE id = 1)
             ORDER BY desk_id, at",
        )?;
        let mut groups: Vec<ForeignItems> = Vec::new();
        for (desk, record) in rows {
            let desk = desk.unwrap_or_default();
            match groups.last_mut() {
                Some(group) if group.desk_id.as_str() == desk => group.records.push(record),
                _ => groups.push(ForeignItems {
                    desk_id: DeskId::new(desk),
                    records: vec![record],
                }),
            }
        }
        Ok(groups)
    }

    /// Outbox items as records, with the desk that made each, for a `WHERE … ORDER BY …`.
    fn outbox_records(
        &self,
        filter: &str,
    ) -> Result<Vec<(Option<String>, OutboxRecord)>, CacheError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT desk_id, local_id, member_id, at, method, proof FROM outbox {filter}"
        ))?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        let mut records = Vec::new();
        for row in rows {
            let (desk, local_id, member_id, at, method, proof) = row?;
            records.push((
                desk,
                outbox_record(local_id, member_id, &at, &method, proof),
            ));
        }
        Ok(records)
    }

    /// Another desk's unsent items that can never be sent (its pairing is gone or was
    /// revoked): they stay for staff to see, as rejected with `reason`.
    pub fn strand(&mut self, desk: &DeskId, reason: &str) -> Result<usize, CacheError> {
        Ok(self.conn.execute(
            "UPDATE outbox SET state = 'rejected', reason = ?2, resolved_at = ?3
             WHERE desk_id = ?1 AND state = 'pending'",
            params![desk.as_str(), reason, ts(Utc::now())],
        )?)
    }

    pub fn cursor(&self) -> Result<Cursor, CacheError> {
        Ok(self.conn.query_row(
            "SELECT epoch, last_seq, synced_at, center_name FROM cursor WHERE id = 1",
            [],
            |r| {
                Ok(Cursor {
                    epoch: r.get(0)?,
                    last_seq: r.get(1)?,
                    synced_at: r.get::<_, Option<String>>(2)?.as_deref().and_then(parse_ts),
                    center_name: r.get(3)?,
                })
            },
        )?)
    }

    /// Stores one event and moves the cursor in the same transaction, so the ack that follows
    /// is only ever for something on disk.
    pub fn apply_event(&mut self, event: &Event) -> Result<Applied, CacheError> {
        let tx = self.conn.transaction()?;
        let last_seq: u64 =
            tx.query_row("SELECT last_seq FROM cursor WHERE id = 1", [], |r| r.get(0))?;
        if event.seq <= last_seq {
            return Ok(Applied::Duplicate);
        }
        if event.seq != last_seq + 1 {
            return Ok(Applied::Gap {
                expected: last_seq + 1,
            });
        }
        let payload = match event.payload() {
            Ok(payload) => payload,
            Err(error) => {
                // A payload this desk cannot read (a newer server?) must not wedge the log:
                // skip it, keep the order, and say so in the log.
                tracing::error!(seq = event.seq, %error, "cannot read an event; skipping it");
                tx.execute(
                    "UPDATE cursor SET last_seq = ?1, synced_at = ?2 WHERE id = 1",
                    params![event.seq, ts(Utc::now())],
                )?;
                tx.commit()?;
                return Ok(Applied::Duplicate);
            }
        };
        match &payload {
            EventPayload::Checkin(card) | EventPayload::CheckinUpdated(card) => {
                store_card(&tx, card)?;
            }
            EventPayload::Member(member) => store_member(&tx, member)?,
            EventPayload::Notice(notice) => store_notice(&tx, notice)?,
            EventPayload::Support(contact) => set_support(&tx, contact)?,
            EventPayload::Hours(hours) => set_hours(&tx, hours)?,
            EventPayload::Revocation(revocation) => {
                tx.execute(
                    "INSERT INTO revocations (member_id, revoked_at) VALUES (?1, ?2)
                     ON CONFLICT (member_id) DO UPDATE SET revoked_at = MAX(revoked_at, ?2)",
                    params![revocation.member_id.as_str(), ts(revocation.revoked_at)],
                )?;
            }
        }
        tx.execute(
            "UPDATE cursor SET last_seq = ?1, synced_at = ?2 WHERE id = 1",
            params![event.seq, ts(Utc::now())],
        )?;
        tx.commit()?;
        Ok(Applied::Stored(Box::new(payload)))
    }

    /// Replaces roster, today's cards and notices with the server's, and sets the cursor to
    /// the snapshot's head: what a desk does when it cannot resume.
    pub fn apply_snapshot(&mut self, snapshot: &DeskSnapshot) -> Result<(), CacheError> {
        let tx = self.conn.transaction()?;
        // Another history of the same server (a restored backup, a promoted standby): the
        // server may have lost visits it had accepted from this desk. They are sent again
        // (the server stores each once, by local_id), so none is lost with the old history.
        const RESEND: &str = "state IN ('accepted', 'duplicate')
               AND desk_id IS (SELECT desk_id FROM cursor WHERE id = 1)
               AND (SELECT epoch FROM cursor WHERE id = 1) IS NOT NULL
               AND (SELECT epoch FROM cursor WHERE id = 1) <> ?1";
        // Their old check-in ids belong to the old history: the ledger forgets them and
        // learns the new ones when the server stores the items again.
        tx.execute(
            &format!(
                "DELETE FROM ledger WHERE id IN (SELECT checkin_id FROM outbox WHERE {RESEND})"
            ),
            [&snapshot.epoch],
        )?;
        let resent = tx.execute(
            "UPDATE outbox SET state = 'pending', checkin_id = NULL, reason = NULL,
                               resolved_at = NULL
             WHERE state IN ('accepted', 'duplicate')
               AND desk_id IS (SELECT desk_id FROM cursor WHERE id = 1)
               AND (SELECT epoch FROM cursor WHERE id = 1) IS NOT NULL
               AND (SELECT epoch FROM cursor WHERE id = 1) <> ?1",
            [&snapshot.epoch],
        )?;
        if resent > 0 {
            tracing::warn!(
                resent,
                "the server's history changed; accepted check-ins will be sent again"
            );
        }
        tx.execute("DELETE FROM roster", [])?;
        // Cards of another database, or older than the snapshot, would show visits that do
        // not exist (or twice); only this desk's unsent check-ins keep their cards.
        tx.execute(
            "DELETE FROM checkins WHERE id NOT IN (SELECT local_id FROM outbox WHERE state = 'pending')",
            [],
        )?;
        for member in &snapshot.roster {
            store_member(&tx, member)?;
        }
        for card in &snapshot.today {
            store_card(&tx, card)?;
        }
        tx.execute("DELETE FROM notices", [])?;
        for notice in &snapshot.notices {
            store_notice(&tx, notice)?;
        }
        tx.execute(
            "UPDATE cursor SET epoch = ?1, last_seq = ?2, synced_at = ?3, center_name = ?4
             WHERE id = 1",
            params![
                snapshot.epoch,
                snapshot.head_seq,
                ts(Utc::now()),
                snapshot.center.name
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn roster(&self) -> Result<Vec<RosterMember>, CacheError> {
        let mut stmt = self.conn.prepare("SELECT data FROM roster")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut members = Vec::new();
        for row in rows {
            members.push(serde_json::from_str(&row?)?);
        }
        Ok(members)
    }

    /// Adds or replaces roster members in one transaction (bulk loads, tests).
    pub fn put_roster(&mut self, members: &[RosterMember]) -> Result<(), CacheError> {
        let tx = self.conn.transaction()?;
        for member in members {
            store_member(&tx, member)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Cards of the center's business day of `now`, newest first.
    pub fn today(&self, now: DateTime<Utc>) -> Result<Vec<CheckinCard>, CacheError> {
        let (start, end) = self.hours()?.schedule.day_bounds(now);
        let mut stmt = self.conn.prepare(
            "SELECT data FROM checkins WHERE at >= ?1 AND at < ?2 ORDER BY at DESC, id DESC",
        )?;
        let rows = stmt.query_map(params![ts(start), ts(end)], |r| r.get::<_, String>(0))?;
        let mut cards = Vec::new();
        for row in rows {
            cards.push(serde_json::from_str(&row?)?);
        }
        Ok(cards)
    }

    /// The desk is unpaired: members' names, birthdays and phone digits leave this PC, not
    /// just the pairing. The file is rewritten (VACUUM, then the WAL emptied) so deleted rows
    /// do not linger in free pages. What must survive stays: unsent check-ins and refusals
    /// staff have not seen.
    pub fn forget_members(&mut self) -> Result<(), CacheError> {
        let tx = self.conn.transaction()?;
        tx.execute_batch(CLEAR_MEMBER_DATA)?;
        tx.execute(
            "UPDATE cursor SET epoch = NULL, last_seq = 0, synced_at = NULL, center_name = NULL
             WHERE id = 1",
            [],
        )?;
        tx.commit()?;
        self.conn
            .execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    }

    /// Keeps the cache small: cards older than two days are dropped, and so are the pass
    /// showings seen before then (a showing is good for a minute only). Outbox items the
    /// server settled more than [`OUTBOX_KEPT_DAYS`] ago go too; an item still waiting to be
    /// sent, or a refusal staff have not acknowledged, is never pruned.
    pub fn prune(&mut self, now: DateTime<Utc>) -> Result<usize, CacheError> {
        let cutoff = ts(now - chrono::Duration::days(2));
        self.conn
            .execute("DELETE FROM seen_passes WHERE at < ?1", [&cutoff])?;
        let settled = ts(now - chrono::Duration::days(OUTBOX_KEPT_DAYS));
        let outbox = self.conn.execute(
            "DELETE FROM outbox
              WHERE state <> 'pending' AND resolved_at IS NOT NULL AND resolved_at < ?1
                AND (state IN ('accepted', 'duplicate') OR acknowledged = 1)",
            [&settled],
        )?;
        let ledger = ts(now - chrono::Duration::days(LEDGER_DAYS));
        let ledger = self
            .conn
            .execute("DELETE FROM ledger WHERE at < ?1", [ledger])?;
        Ok(outbox
            + ledger
            + self
                .conn
                .execute("DELETE FROM checkins WHERE at < ?1", [cutoff])?)
    }

    /// The statement digests of the Korean days in `[from, to)` this cache holds, computed
    /// as the server computes them (docs/settlement.md).
    pub fn statement_days(
        &self,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<gymgate_shared::settlement::StatementDay>, CacheError> {
        let center: Option<String> =
            self.conn
                .query_row("SELECT center_id FROM cursor WHERE id = 1", [], |r| {
                    r.get(0)
                })?;
        let Some(center) = center else {
            return Ok(Vec::new());
        };
        let mut statement = self
            .conn
            .prepare("SELECT id, at, status FROM ledger WHERE at >= ?1 AND at < ?2")?;
        let rows = statement.query_map(
            params![ts(kst::start_of(from)), ts(kst::start_of(to))],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )?;
        let mut counted = Vec::new();
        for row in rows {
            let (id, at, status) = row?;
            let (Some(at), Some(status)) = (
                parse_ts(&at),
                gymgate_shared::api::CheckinStatus::parse(&status),
            ) else {
                continue;
            };
            counted.push(gymgate_shared::settlement::Counted { id, at, status });
        }
        Ok(gymgate_shared::settlement::statement_days(
            &CenterId::new(center),
            &counted,
        ))
    }

    /// Whom staff can reach, as operators last set it.
    pub fn support(&self) -> Result<Option<SupportContact>, CacheError> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM settings WHERE key = 'support'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    pub fn set_support(&mut self, contact: &SupportContact) -> Result<(), CacheError> {
        set_support(&self.conn, contact)
    }

    /// The center's hours and the holidays ahead, as the server last sent them; open all day
    /// when it never did (an older server): the server judges the visit again when it syncs.
    pub fn hours(&self) -> Result<CenterHours, CacheError> {
        let text: Option<String> = self
            .conn
            .query_row("SELECT value FROM settings WHERE key = 'hours'", [], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(text
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_else(CenterHours::always))
    }

    pub fn set_hours(&mut self, hours: &CenterHours) -> Result<(), CacheError> {
        set_hours(&self.conn, hours)
    }

    /// Puts an item in the outbox (used when salvaging a damaged cache); `owner` is the desk
    /// and center that made it, if known.
    pub fn add_outbox(
        &mut self,
        record: &OutboxRecord,
        member_name: &str,
        owner: Option<(&DeskId, &CenterId)>,
    ) -> Result<(), CacheError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO outbox (local_id, member_id, member_name, at, method, proof,
                                           desk_id, center_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                record.local_id.as_str(),
                record.member_id.as_str(),
                member_name,
                ts(record.at),
                record.method.as_str(),
                proof_column(record),
                owner.map(|(d, _)| d.as_str()),
                owner.map(|(_, c)| c.as_str()),
            ],
        )?;
        Ok(())
    }

    /// Adds an outbox item together with the card staff see for it (and, for a scanned pass,
    /// the showing's fingerprint, so the same code is not taken twice).
    pub fn add_offline_checkin(
        &mut self,
        record: &OutboxRecord,
        card: &CheckinCard,
    ) -> Result<(), CacheError> {
        self.add_checkin_with(record, card, None)
    }

    pub fn add_checkin_with(
        &mut self,
        record: &OutboxRecord,
        card: &CheckinCard,
        pass_fingerprint: Option<&str>,
    ) -> Result<(), CacheError> {
        let tx = self.conn.transaction()?;
        if let Some(fingerprint) = pass_fingerprint {
            tx.execute(
                "INSERT INTO seen_passes (fingerprint, at) VALUES (?1, ?2)",
                params![fingerprint, ts(record.at)],
            )?;
        }
        // The item is this cache's owner's: the desk (and center) it is sent as.
        tx.execute(
            "INSERT INTO outbox (local_id, member_id, member_name, at, method, proof, desk_id,
                                 center_id)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, desk_id, center_id FROM cursor WHERE id = 1",
            params![
                record.local_id.as_str(),
                record.member_id.as_str(),
                card.member.name,
                ts(record.at),
                record.method.as_str(),
                proof_column(record),
            ],
        )?;
        store_card(&tx, card)?;
        tx.commit()?;
        Ok(())
    }

    /// This desk's outbox items not yet answered by the server, oldest first.
    pub fn pending_outbox(&self) -> Result<Vec<OutboxRecord>, CacheError> {
        Ok(self
            .outbox_records(
                "WHERE state = 'pending' AND desk_id IS (SELECT desk_id FROM cursor WHERE id = 1)
                 ORDER BY at",
            )?
            .into_iter()
            .map(|(_, record)| record)
            .collect())
    }

    /// This desk's items waiting to be sent.
    pub fn pending_count(&self) -> Result<usize, CacheError> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM outbox
             WHERE state = 'pending' AND desk_id IS (SELECT desk_id FROM cursor WHERE id = 1)",
            [],
            |r| r.get::<_, i64>(0),
        )? as usize)
    }

    /// When this desk's oldest item waiting to be sent was made.
    pub fn pending_oldest(&self) -> Result<Option<DateTime<Utc>>, CacheError> {
        let at: Option<String> = self.conn.query_row(
            "SELECT MIN(at) FROM outbox
             WHERE state = 'pending' AND desk_id IS (SELECT desk_id FROM cursor WHERE id = 1)",
            [],
            |r| r.get(0),
        )?;
        Ok(at.as_deref().and_then(parse_ts))
    }

    /// Stores the server's answer to an outbox item. A conflict or rejection stays visible
    /// until staff acknowledge it; its provisional card is marked so today's list is honest.
    pub fn record_result(
        &mut self,
        local_id: &LocalId,
        status: RecordStatus,
        checkin_id: Option<&str>,
        reason: Option<&str>,
    ) -> Result<(), CacheError> {
        let tx = self.conn.transaction()?;
        // A duplicate answer repeats the first outcome: a check-in without a reason was
        // accepted, one with a reason is disputed.
        let state = match (status, checkin_id, reason) {
            (RecordStatus::Duplicate, Some(_), None) => RecordStatus::Accepted,
            (RecordStatus::Duplicate, _, _) => RecordStatus::Conflict,
            (status, _, _) => status,
        };
        tx.execute(
            "UPDATE outbox SET state = ?2, checkin_id = ?3, reason = ?4, resolved_at = ?5
             WHERE local_id = ?1 AND state = 'pending'",
            params![
                local_id.as_str(),
                state.as_str(),
                checkin_id,
                reason,
                ts(Utc::now())
            ],
        )?;
        if matches!(state, RecordStatus::Conflict | RecordStatus::Rejected) {
            // The provisional card no longer counts as a visit; a disputed one comes back as
            // the server's card (status disputed) in the event that follows.
            tx.execute("DELETE FROM checkins WHERE id = ?1", [local_id.as_str()])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// What staff must look at and have not acknowledged yet: conflicts (kept as disputed
    /// visits), rejections, and unsent items of an earlier pairing of this PC.
    pub fn conflicts(&self) -> Result<Vec<Conflict>, CacheError> {
        let mut stmt = self.conn.prepare(
            "SELECT local_id, member_id, member_name, at, state, reason, checkin_id,
                    CASE WHEN desk_id IS NOT (SELECT desk_id FROM cursor WHERE id = 1)
                         THEN desk_id END
             FROM outbox
             WHERE acknowledged = 0
               AND (state IN ('conflict', 'rejected')
                    OR (state = 'pending'
                        AND desk_id IS NOT (SELECT desk_id FROM cursor WHERE id = 1)))
             ORDER BY at",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, Option<String>>(7)?,
            ))
        })?;
        let mut conflicts = Vec::new();
        for row in rows {
            let (local_id, member_id, member_name, at, state, reason, checkin_id, foreign) = row?;
            conflicts.push(Conflict {
                local_id: LocalId::new(local_id),
                member_id: MemberId::new(member_id),
                member_name,
                at: parse_ts(&at).unwrap_or_else(Utc::now),
                status: RecordStatus::parse(&state).unwrap_or(RecordStatus::Conflict),
                reason,
                checkin_id: checkin_id.map(CheckinId::new),
                unsent_from: foreign.map(DeskId::new),
            });
        }
        Ok(conflicts)
    }

    pub fn acknowledge(&mut self, local_id: &LocalId) -> Result<(), CacheError> {
        self.conn.execute(
            "UPDATE outbox SET acknowledged = 1 WHERE local_id = ?1",
            [local_id.as_str()],
        )?;
        Ok(())
    }

    pub fn notices(&self) -> Result<Vec<Notice>, CacheError> {
        let mut stmt = self.conn.prepare("SELECT data FROM notices")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut notices: Vec<Notice> = Vec::new();
        for row in rows {
            notices.push(serde_json::from_str(&row?)?);
        }
        let now = Utc::now();
        notices.retain(|n| n.ends_at.is_none_or(|end| end > now));
        notices.sort_by_key(|n| n.starts_at);
        Ok(notices)
    }

    /// What this desk knows of a member's visits for the offline policy: check-ins (and
    /// pending outbox items) of theirs on this business day here, and outbox items this month
    /// not yet reflected in the roster's `visits_left`.
    pub fn local_visits(
        &self,
        member_id: &MemberId,
        now: DateTime<Utc>,
    ) -> Result<(bool, u32), CacheError> {
        let (day_start, day_end) = self.hours()?.schedule.day_bounds(now);
        let today: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM checkins WHERE member_id = ?1 AND at >= ?2 AND at < ?3
             AND status IN ('admitted', 'pending')",
            params![member_id.as_str(), ts(day_start), ts(day_end)],
            |r| r.get(0),
        )?;
        let (month_start, month_end) = kst::month_bounds(now);
        let unsent: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM outbox WHERE member_id = ?1 AND state = 'pending'
             AND at >= ?2 AND at < ?3
             AND desk_id IS (SELECT desk_id FROM cursor WHERE id = 1)",
            params![member_id.as_str(), ts(month_start), ts(month_end)],
            |r| r.get(0),
        )?;
        Ok((today > 0, unsent as u32))
    }
}

fn set_support(conn: &Connection, contact: &SupportContact) -> Result<(), CacheError> {
    conn.execute(
        "INSERT OR REPLACE INTO settings (key, value) VALUES ('support', ?1)",
        [serde_json::to_string(contact)?],
    )?;
    Ok(())
}

fn set_hours(conn: &Connection, hours: &CenterHours) -> Result<(), CacheError> {
    conn.execute(
        "INSERT OR REPLACE INTO settings (key, value) VALUES ('hours', ?1)",
        [serde_json::to_string(hours)?],
    )?;
    Ok(())
}

fn store_card(conn: &Connection, card: &CheckinCard) -> Result<(), CacheError> {
    let checkin = &card.checkin;
    // The server's card replaces the provisional one made offline under the local id.
    if let Some(local_id) = &checkin.local_id
        && local_id.as_str() != checkin.id.as_str()
    {
        conn.execute("DELETE FROM checkins WHERE id = ?1", [local_id.as_str()])?;
    }
    // A card made offline (keyed by its local id) is not the server's check-in yet.
    let provisional = checkin
        .local_id
        .as_ref()
        .is_some_and(|l| l.as_str() == checkin.id.as_str());
    if !provisional {
        conn.execute(
            "INSERT INTO ledger (id, rev, at, status) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET rev = excluded.rev, at = excluded.at,
                                            status = excluded.status
             WHERE excluded.rev >= ledger.rev",
            params![
                checkin.id.as_str(),
                checkin.rev,
                ts(checkin.at),
                checkin.status.as_str()
            ],
        )?;
    }
    let stored_rev: Option<u32> = conn
        .query_row(
            "SELECT rev FROM checkins WHERE id = ?1",
            [checkin.id.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    if stored_rev.is_some_and(|rev| rev > checkin.rev) {
        return Ok(());
    }
    conn.execute(
        "INSERT OR REPLACE INTO checkins (id, rev, at, member_id, status, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            checkin.id.as_str(),
            checkin.rev,
            ts(checkin.at),
            checkin.member_id.as_str(),
            checkin.status.as_str(),
            serde_json::to_string(card)?
        ],
    )?;
    store_member(conn, &card.member)
}

fn store_member(conn: &Connection, member: &RosterMember) -> Result<(), CacheError> {
    conn.execute(
        "INSERT OR REPLACE INTO roster (member_id, data) VALUES (?1, ?2)",
        params![member.id.as_str(), serde_json::to_string(member)?],
    )?;
    Ok(())
}

fn store_notice(conn: &Connection, notice: &Notice) -> Result<(), CacheError> {
    if notice.cleared {
        conn.execute("DELETE FROM notices WHERE id = ?1", [notice.id.as_str()])?;
    } else {
        conn.execute(
            "INSERT OR REPLACE INTO notices (id, data) VALUES (?1, ?2)",
            params![notice.id.as_str(), serde_json::to_string(notice)?],
        )?;
    }
    Ok(())
}

/// An outbox item salvaged from a damaged cache: the record, the member's name, and the desk
/// and center that made it where the file still says.
type Salvaged = (OutboxRecord, String, Option<(DeskId, CenterId)>);

/// Reads pending outbox items out of a damaged cache, as far as it still reads.
fn salvage_outbox(path: &Path) -> Vec<Salvaged> {
    let Ok(conn) = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return Vec::new();
    };
    // A cache from before outbox items had an owner lacks those columns.
    let with_owner = conn
        .prepare(
            "SELECT local_id, member_id, member_name, at, method, proof, desk_id, center_id
             FROM outbox WHERE state = 'pending'",
        )
        .is_ok();
    let sql = if with_owner {
        "SELECT local_id, member_id, member_name, at, method, proof, desk_id, center_id
         FROM outbox WHERE state = 'pending'"
    } else {
        "SELECT local_id, member_id, member_name, at, method, NULL, NULL, NULL
         FROM outbox WHERE state = 'pending'"
    };
    let Ok(mut stmt) = conn.prepare(sql) else {
        return Vec::new();
    };
    let Ok(rows) = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, Option<String>>(6)?,
            r.get::<_, Option<String>>(7)?,
        ))
    }) else {
        return Vec::new();
    };
    rows.filter_map(Result::ok)
        .filter_map(
            |(local_id, member_id, name, at, method, proof, desk, center)| {
                parse_ts(&at)?;
                let owner = desk
                    .zip(center)
                    .map(|(d, c)| (DeskId::new(d), CenterId::new(c)));
                Some((
                    outbox_record(local_id, member_id, &at, &method, proof),
                    name,
                    owner,
                ))
            },
        )
        .collect()
}

fn outbox_record(
    local_id: String,
    member_id: String,
    at: &str,
    method: &str,
    proof: Option<String>,
) -> OutboxRecord {
    let method = RecordMethod::parse(method).unwrap_or(RecordMethod::Roster);
    // The `proof` column holds what backs the record: the scanned pass, or for a check-in on
    // staff's judgement the member number and staff's note.
    let (proof, manual) = match method {
        RecordMethod::Manual => (
            None,
            proof.as_deref().and_then(|p| serde_json::from_str(p).ok()),
        ),
        _ => (proof, None),
    };
    OutboxRecord {
        local_id: LocalId::new(local_id),
        member_id: MemberId::new(member_id),
        at: parse_ts(at).unwrap_or_else(Utc::now),
        method,
        proof,
        manual,
    }
}

/// What the outbox's `proof` column keeps for a record (see [`outbox_record`]).
fn proof_column(record: &OutboxRecord) -> Option<String> {
    match (&record.method, &record.manual) {
        (RecordMethod::Manual, Some(manual)) => serde_json::to_string(manual).ok(),
        _ => record.proof.clone(),
    }
}

/// Moves a damaged cache (and its WAL files) aside for later inspection.
fn move_aside(path: &Path) -> Result<PathBuf, CacheError> {
    let stamp = Utc::now().format("%Y%m%d-%H%M%S");
    let moved_to = path.with_extension(format!("db.damaged-{stamp}"));
    for (from, to) in [
        (path.to_owned(), moved_to.clone()),
        (append(path, "-wal"), append(&moved_to, "-wal")),
        (append(path, "-shm"), append(&moved_to, "-shm")),
    ] {
        if from.exists() {
            std::fs::rename(&from, &to).map_err(|source| CacheError::Io { path: from, source })?;
        }
    }
    Ok(moved_to)
}

fn append(path: &Path, suffix: &str) -> PathBuf {
    let mut text = path.as_os_str().to_owned();
    text.push(suffix);
    PathBuf::from(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gymgate_shared::api::{Checkin, CheckinMethod, CheckinStatus};
    use gymgate_shared::protocol::EventKind;

    fn member(id: &str) -> RosterMember {
        RosterMember {
            id: MemberId::new(id),
            member_no: "100001".into(),
            name: "김민준".into(),
            phone_last4: "1234".into(),
            plan: "월 8회".into(),
            valid_from: "2026-01-01".parse().expect("date"),
            valid_until: "2027-12-31".parse().expect("date"),
            visits_per_month: Some(8),
            visits_left: Some(8),
            blocked: false,
            birthday: None,
            photo_url: None,
        }
    }

    fn card(id: &str, rev: u32, status: CheckinStatus) -> CheckinCard {
        CheckinCard {
            checkin: Checkin {
                id: CheckinId::new(id),
                member_id: MemberId::new("m1"),
                center_id: CenterId::new("c"),
                center_name: "강남점".into(),
                status,
                method: CheckinMethod::App,
                at: Utc::now(),
                rev,
                local_id: None,
                desk_id: None,
                history: vec![],
                dispute: None,
            },
            member: member("m1"),
            flags: vec![],
        }
    }

    fn event(seq: u64, card: &CheckinCard, kind: EventKind) -> Event {
        Event {
            seq,
            at: Utc::now(),
            kind,
            data: serde_json::to_value(card).expect("json"),
        }
    }

    fn open() -> (tempfile::TempDir, Cache) {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cache, recovered) = Cache::open(&dir.path().join("cache.db")).expect("open");
        assert!(recovered.is_none());
        (dir, cache)
    }

    /// Issue 18: unpairing takes members' data off the PC, free pages and WAL included;
    /// only an unsent check-in (and the name on it) stays, to be sent or shown to staff.
    #[test]
    fn unpairing_forgets_members_down_to_the_bytes_and_keeps_what_is_unsent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cache.db");
        let (mut cache, _) = Cache::open(&path).expect("open");
        let mut roster = member("m2");
        roster.name = "박서준".into();
        roster.phone_last4 = "9876".into();
        cache.put_roster(&[roster]).expect("roster");
        let old = ts(Utc::now() - chrono::Duration::days(1));
        for (id, name, state) in [
            ("unsent", "김민준", "pending"),
            ("settled", "이도윤", "accepted"),
        ] {
            cache
                .conn
                .execute(
                    "INSERT INTO outbox (local_id, member_id, member_name, at, method, state)
                     VALUES (?1, 'm1', ?2, ?3, 'roster', ?4)",
                    params![id, name, old, state],
                )
                .expect("outbox");
        }
        cache.forget_members().expect("forget");
        assert!(cache.roster().expect("roster").is_empty());
        let left: Vec<String> = cache
            .conn
            .prepare("SELECT local_id FROM outbox")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(left, ["unsent"]);
        let mut bytes = std::fs::read(&path).expect("db file");
        bytes.extend(std::fs::read(dir.path().join("cache.db-wal")).unwrap_or_default());
        let holds = |text: &str| bytes.windows(text.len()).any(|w| w == text.as_bytes());
        assert!(!holds("박서준"), "a roster name is left in the file");
        assert!(
            !holds("이도윤"),
            "a settled item's name is left in the file"
        );
        assert!(holds("김민준"), "the unsent check-in is kept");
    }

    /// Issue 18: settled outbox items do not pile up on a shop PC for years; nothing unsent
    /// and no refusal staff have not seen is ever pruned.
    #[test]
    fn settled_outbox_items_are_pruned_after_a_month_and_nothing_unsent_is() {
        let (_dir, mut cache) = open();
        let now = Utc::now();
        let old = ts(now - chrono::Duration::days(OUTBOX_KEPT_DAYS + 10));
        let recent = ts(now - chrono::Duration::days(5));
        for (id, state, resolved, acknowledged) in [
            ("pending-old", "pending", None, 0),
            ("accepted-old", "accepted", Some(&old), 0),
            ("accepted-recent", "accepted", Some(&recent), 0),
            ("conflict-unseen", "conflict", Some(&old), 0),
            ("conflict-seen", "conflict", Some(&old), 1),
            ("duplicate-old", "duplicate", Some(&old), 0),
        ] {
            cache
                .conn
                .execute(
                    "INSERT INTO outbox (local_id, member_id, member_name, at, method, state,
                                         resolved_at, acknowledged)
                     VALUES (?1, 'm1', '김민준', ?2, 'roster', ?3, ?4, ?5)",
                    params![id, old, state, resolved, acknowledged],
                )
                .expect("insert");
        }
        cache.prune(now).expect("prune");
        let mut left: Vec<String> = cache
            .conn
            .prepare("SELECT local_id FROM outbox ORDER BY local_id")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        left.sort();
        assert_eq!(
            left,
            ["accepted-recent", "conflict-unseen", "pending-old"],
            "settled and seen items older than a month go; the rest stay"
        );
    }

    #[test]
    fn events_apply_in_order_and_gaps_and_duplicates_are_detected() {
        let (_dir, mut cache) = open();
        let first = card("c1", 1, CheckinStatus::Admitted);
        assert!(matches!(
            cache
                .apply_event(&event(1, &first, EventKind::Checkin))
                .expect("apply"),
            Applied::Stored(_)
        ));
        assert_eq!(
            cache
                .apply_event(&event(1, &first, EventKind::Checkin))
                .expect("apply"),
            Applied::Duplicate
        );
        let third = card("c3", 1, CheckinStatus::Admitted);
        assert_eq!(
            cache
                .apply_event(&event(3, &third, EventKind::Checkin))
                .expect("apply"),
            Applied::Gap { expected: 2 }
        );
        assert_eq!(
            cache.cursor().expect("cursor").last_seq,
            1,
            "a gap does not move the cursor"
        );
        assert_eq!(cache.today(Utc::now()).expect("today").len(), 1);
    }

    #[test]
    fn an_older_revision_never_overwrites_a_newer_one() {
        let (_dir, mut cache) = open();
        let voided = card("c1", 2, CheckinStatus::Voided);
        let original = card("c1", 1, CheckinStatus::Admitted);
        cache
            .apply_event(&event(1, &voided, EventKind::CheckinUpdated))
            .expect("apply");
        cache
            .apply_event(&event(2, &original, EventKind::Checkin))
            .expect("apply");
        let today = cache.today(Utc::now()).expect("today");
        assert_eq!(today[0].checkin.status, CheckinStatus::Voided);
        assert_eq!(cache.cursor().expect("cursor").last_seq, 2);
    }

    #[test]
    fn outbox_results_and_conflicts() {
        let (_dir, mut cache) = open();
        let records: Vec<OutboxRecord> = (0..3)
            .map(|_| OutboxRecord {
                local_id: LocalId::generate(),
                member_id: MemberId::new("m1"),
                at: Utc::now(),
                method: RecordMethod::Roster,
                proof: None,
                manual: None,
            })
            .collect();
        for record in &records {
            let mut provisional = card(record.local_id.as_str(), 0, CheckinStatus::Admitted);
            provisional.checkin.local_id = Some(record.local_id.clone());
            cache
                .add_offline_checkin(record, &provisional)
                .expect("add");
        }
        assert_eq!(cache.pending_count().expect("count"), 3);
        assert_eq!(
            cache
                .local_visits(&MemberId::new("m1"), Utc::now())
                .expect("visits"),
            (true, 3)
        );
        cache
            .record_result(
                &records[0].local_id,
                RecordStatus::Accepted,
                Some("c9"),
                None,
            )
            .expect("result");
        cache
            .record_result(
                &records[1].local_id,
                RecordStatus::Conflict,
                None,
                Some("already_checked_in_today"),
            )
            .expect("result");
        assert_eq!(cache.pending_count().expect("count"), 1);
        let conflicts = cache.conflicts().expect("conflicts");
        assert_eq!(conflicts.len(), 1);
        assert_eq!(
            conflicts[0].reason.as_deref(),
            Some("already_checked_in_today")
        );
        // The conflicting visit's card is gone; the accepted one stays until the server's
        // card (same local_id) replaces it.
        assert_eq!(cache.today(Utc::now()).expect("today").len(), 2);
        let mut confirmed = card("c9", 1, CheckinStatus::Admitted);
        confirmed.checkin.local_id = Some(records[0].local_id.clone());
        cache
            .apply_event(&event(1, &confirmed, EventKind::Checkin))
            .expect("apply");
        let ids: Vec<String> = cache
            .today(Utc::now())
            .expect("today")
            .iter()
            .map(|c| c.checkin.id.to_string())
            .collect();
        assert!(ids.contains(&"c9".to_owned()));
        assert!(!ids.contains(&records[0].local_id.to_string()));
        cache.acknowledge(&records[1].local_id).expect("ack");
        assert!(cache.conflicts().expect("conflicts").is_empty());
        assert_eq!(
            cache.pending_outbox().expect("pending")[0].local_id,
            records[2].local_id
        );
    }

    fn pending_item(cache: &mut Cache, member_id: &str) -> LocalId {
        let record = OutboxRecord {
            local_id: LocalId::generate(),
            member_id: MemberId::new(member_id),
            at: Utc::now(),
            method: RecordMethod::Roster,
            proof: None,
            manual: None,
        };
        let mut provisional = card(record.local_id.as_str(), 0, CheckinStatus::Admitted);
        provisional.checkin.local_id = Some(record.local_id.clone());
        cache
            .add_offline_checkin(&record, &provisional)
            .expect("add");
        record.local_id
    }

    fn snapshot(epoch: &str, today: Vec<CheckinCard>) -> DeskSnapshot {
        DeskSnapshot {
            epoch: epoch.into(),
            head_seq: 5,
            center: gymgate_shared::api::Center {
                id: CenterId::new("c"),
                name: "강남점".into(),
                address: String::new(),
            },
            roster: vec![],
            today,
            notices: vec![],
        }
    }

    /// Issue 23, finding 5: the ledger belongs to the pairing. A PC paired again for another
    /// center starts with an empty statement check (before: the old center's check-ins were
    /// digested for up to 62 days); unpairing clears it too.
    #[test]
    fn finding_5_the_ledger_goes_with_the_pairing() {
        let (_dir, mut cache) = open();
        cache
            .claim(&DeskId::new("d1"), &CenterId::new("a"))
            .expect("claim");
        cache
            .apply_event(&event(
                1,
                &card("c1", 1, CheckinStatus::Admitted),
                EventKind::Checkin,
            ))
            .expect("apply");
        let today = kst::date_of(Utc::now());
        let days = |cache: &Cache| {
            cache
                .statement_days(today, today + chrono::Duration::days(1))
                .expect("days")
        };
        assert_eq!(days(&cache).len(), 1, "the check-in is in the ledger");
        cache
            .claim(&DeskId::new("d2"), &CenterId::new("b"))
            .expect("claim");
        assert!(
            days(&cache).is_empty(),
            "center a's ledger kept at center b"
        );
        cache
            .apply_event(&event(
                1,
                &card("c2", 1, CheckinStatus::Admitted),
                EventKind::Checkin,
            ))
            .expect("apply");
        assert_eq!(days(&cache).len(), 1);
        cache.forget_members().expect("unpair");
        assert!(days(&cache).is_empty(), "unpairing kept the ledger");
    }

    /// Issue 23, finding 1 (the desk's half): a snapshot of another history of the same
    /// server (a restored backup) sends again what the server had accepted from this desk,
    /// and forgets those visits' old check-in ids; a snapshot of the same history does not.
    #[test]
    fn finding_1_a_new_history_sends_accepted_visits_again() {
        let (_dir, mut cache) = open();
        cache
            .claim(&DeskId::new("d1"), &CenterId::new("a"))
            .expect("claim");
        cache
            .apply_snapshot(&snapshot("old:a", vec![]))
            .expect("snapshot");
        let sent = pending_item(&mut cache, "m1");
        cache
            .record_result(&sent, RecordStatus::Accepted, Some("k-old"), None)
            .expect("result");
        cache
            .apply_event(&event(
                6,
                &card("k-old", 1, CheckinStatus::Admitted),
                EventKind::Checkin,
            ))
            .expect("apply");
        assert_eq!(cache.pending_count().expect("count"), 0);
        // The same history again (a cursor too old): nothing to send.
        cache
            .apply_snapshot(&snapshot("old:a", vec![]))
            .expect("snapshot");
        assert_eq!(cache.pending_count().expect("count"), 0);
        // Another history: the accepted visit is pending again, its old id gone.
        cache
            .apply_snapshot(&snapshot("new:a", vec![]))
            .expect("snapshot");
        let pending = cache.pending_outbox().expect("pending");
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].local_id, sent);
        let today = kst::date_of(Utc::now());
        let days = cache
            .statement_days(today, today + chrono::Duration::days(1))
            .expect("days");
        assert!(
            days.is_empty(),
            "the old history's check-in id stayed in the ledger"
        );
    }

    /// A snapshot (another database, or a cursor too old) replaces the cards: the old ones
    /// would show visits that do not exist, or twice. Only unsent check-ins keep theirs.
    #[test]
    fn a_snapshot_replaces_the_cards_but_keeps_unsent_check_ins() {
        let (_dir, mut cache) = open();
        cache
            .claim(&DeskId::new("d1"), &CenterId::new("c"))
            .expect("claim");
        let old = card("old", 1, CheckinStatus::Admitted);
        cache
            .apply_event(&event(1, &old, EventKind::Checkin))
            .expect("apply");
        let unsent = pending_item(&mut cache, "m1");
        cache
            .apply_snapshot(&snapshot(
                "e2",
                vec![card("new", 1, CheckinStatus::Admitted)],
            ))
            .expect("snapshot");
        let mut ids: Vec<String> = cache
            .today(Utc::now())
            .expect("today")
            .iter()
            .map(|c| c.checkin.id.to_string())
            .collect();
        ids.sort();
        let mut expected = vec!["new".to_owned(), unsent.to_string()];
        expected.sort();
        assert_eq!(ids, expected);
        assert_eq!(cache.cursor().expect("cursor").last_seq, 5);
    }

    /// A cache is one desk's: claimed by another, it starts over, and the first desk's
    /// unsent items stay, as that desk's, never sent as the new one's.
    #[test]
    fn a_cache_of_another_desk_starts_over_keeping_that_desks_unsent_items() {
        let (_dir, mut cache) = open();
        let (d1, d2) = (DeskId::new("d1"), DeskId::new("d2"));
        assert_eq!(
            cache.claim(&d1, &CenterId::new("a")).expect("claim"),
            Claim::Owned
        );
        cache
            .apply_event(&event(
                1,
                &card("c1", 1, CheckinStatus::Admitted),
                EventKind::Checkin,
            ))
            .expect("apply");
        let unsent = pending_item(&mut cache, "m1");
        assert_eq!(cache.pending_count().expect("count"), 1);
        assert_eq!(
            cache.claim(&d1, &CenterId::new("a")).expect("claim"),
            Claim::Owned,
            "claiming again changes nothing"
        );

        let claim = cache.claim(&d2, &CenterId::new("b")).expect("claim");
        assert_eq!(
            claim,
            Claim::StartedOver {
                previous_desk: d1.clone(),
                kept: 1
            }
        );
        assert!(cache.today(Utc::now()).expect("today").is_empty());
        assert!(cache.roster().expect("roster").is_empty());
        let cursor = cache.cursor().expect("cursor");
        assert_eq!((cursor.epoch, cursor.last_seq), (None, 0));
        assert_eq!(cache.pending_count().expect("count"), 0);
        assert!(cache.pending_outbox().expect("pending").is_empty());
        let foreign = cache.foreign_pending().expect("foreign");
        assert_eq!(foreign.len(), 1);
        assert_eq!(foreign[0].desk_id, d1);
        assert_eq!(foreign[0].records[0].local_id, unsent);
        let conflicts = cache.conflicts().expect("conflicts");
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].unsent_from, Some(d1.clone()));
        // New check-ins are the new desk's.
        let own = pending_item(&mut cache, "m2");
        let pending = cache.pending_outbox().expect("pending");
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].local_id, own);
        // Never sendable (pairing gone): kept for staff, as rejected.
        assert_eq!(
            cache
                .strand(&d1, "previous_pairing_unsent")
                .expect("strand"),
            1
        );
        assert!(cache.foreign_pending().expect("foreign").is_empty());
        let conflicts = cache.conflicts().expect("conflicts");
        assert_eq!(conflicts.len(), 1);
        assert_eq!(
            conflicts[0].reason.as_deref(),
            Some("previous_pairing_unsent")
        );
    }

    #[test]
    fn a_corrupt_cache_is_moved_aside_and_its_outbox_salvaged_when_readable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cache.db");
        std::fs::write(&path, b"this is not a database at all, it was damaged").expect("write");
        let (cache, recovered) = Cache::open(&path).expect("open");
        let recovered = recovered.expect("recovered");
        assert!(recovered.moved_to.exists());
        assert_eq!(recovered.outbox_salvaged, 0);
        assert_eq!(cache.cursor().expect("cursor").last_seq, 0);
        drop(cache);

        // A cache whose schema is from elsewhere (migration fails) keeps its pending outbox.
        let other = dir.path().join("other.db");
        {
            let conn = Connection::open(&other).expect("open");
            conn.execute_batch(
                "CREATE TABLE outbox (local_id TEXT, member_id TEXT, member_name TEXT, at TEXT,
                                      method TEXT, state TEXT);
                 INSERT INTO outbox VALUES ('l1', 'm1', '김민준', '2026-11-21T01:00:00.000000Z',
                                            'roster', 'pending');
                 PRAGMA user_version = 99;",
            )
            .expect("seed");
        }
        let (cache, recovered) = Cache::open(&other).expect("open");
        assert_eq!(recovered.map(|r| r.outbox_salvaged), Some(1));
        let pending = cache.pending_outbox().expect("pending");
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].local_id.as_str(), "l1");
    }
}
