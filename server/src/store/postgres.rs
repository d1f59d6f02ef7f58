//! PostgreSQL: several server nodes over one database.
//!
//! The same store modules run here through [`PgConn`]. Writes are not grouped by a single
//! writer (several nodes write at once anyway): a pool of writer connections runs each job
//! in its own transaction, and PostgreSQL groups the commits' WAL flushes itself. A center's
//! `seq` is taken by `UPDATE centers … RETURNING` inside the job's transaction, which locks the
//! center's row until the commit, so seqs are committed in order on every node.
//!
//! The driver is `postgres`, the blocking front of `tokio-postgres` by the same maintainers:
//! store jobs already run on the store's own threads behind the synchronous [`Conn`] interface
//! that SQLite needs, so an async pool would only be blocked on from those threads again.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, Statement};

use gymgate_shared::CenterId;

use super::StoreError;
use super::events::EVENTS_CHANNEL;
use super::sql::{Cell, Conn, Dialect, Param, Row, Value};

/// The channel revoked desks are announced on (payload: the desk id).
pub const DESKS_CHANNEL: &str = "gymgate_desks";
/// The channel members whose sessions ended are announced on (payload: the member id).
pub const MEMBERS_CHANNEL: &str = "gymgate_members";
/// "A desk has this member's check-in on screen", for the node holding the member's live
/// feed (a courtesy: a lost one is not made up).
pub const SHOWN_CHANNEL: &str = "gymgate_shown";

/// One connection, with its prepared statements. Remembers whether a statement of the open
/// transaction failed: PostgreSQL then refuses the rest and turns COMMIT into a rollback
/// without an error, so the writer must not take that COMMIT's silence for success.
pub struct PgConn {
    client: Client,
    statements: HashMap<String, Statement>,
    failed: bool,
}

/// Connects with an `application_name`, so operators see which node and role a session is
/// (and the listener can be found in `pg_stat_activity`).
pub fn connect(url: &str, role: &str) -> Result<PgConn, StoreError> {
    connect_with(url, role, None)
}

/// A writer's session: `gymgate.node` names the node, and [`super::events::append`] signs its
/// notifications with it.
pub fn connect_writer(url: &str, node: &str) -> Result<PgConn, StoreError> {
    connect_with(url, "gymgate writer", Some(node))
}

fn connect_with(url: &str, role: &str, node: Option<&str>) -> Result<PgConn, StoreError> {
    let mut target = super::postgres_tls::Target::parse(url)?;
    let config = &mut target.config;
    config.application_name(role);
    if let Some(node) = node {
        // A node id is a UUID: nothing in it needs quoting.
        config.options(&format!("-c gymgate.node={node}"));
    }
    config.connect_timeout(Duration::from_secs(5));
    // A node cut off from the database finds out within seconds, not at TCP's pace.
    config.keepalives_idle(Duration::from_secs(10));
    config.keepalives_interval(Duration::from_secs(2));
    config.keepalives_retries(3);
    let client = target.connect()?;
    Ok(PgConn {
        client,
        statements: HashMap::new(),
        failed: false,
    })
}

/// `?1` → `$1`: statements are written once for both databases. (No statement of the store
/// has a `?` inside a string literal.)
fn renumber(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

impl PgConn {
    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(&renumber(sql)).inspect_err(|_| {
            self.failed = true;
        })?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Runs statements as they are (transaction control, DDL), not prepared.
    pub fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.client.batch_execute(sql).inspect_err(|_| {
            self.failed = true;
        })?;
        Ok(())
    }

    pub fn begin(&mut self) -> Result<(), StoreError> {
        self.failed = false;
        self.batch("BEGIN")
    }

    /// Commits, unless a statement of the transaction failed (then it rolls back and says so).
    pub fn commit(&mut self) -> Result<(), StoreError> {
        if self.failed {
            let _ = self.client.batch_execute("ROLLBACK");
            self.failed = false;
            return Err(StoreError::NotStored);
        }
        self.batch("COMMIT")
    }

    pub fn rollback(&mut self) {
        if let Err(error) = self.client.batch_execute("ROLLBACK") {
            tracing::warn!(%error, "rollback failed");
        }
        self.failed = false;
    }

    /// Waits up to `timeout` for notifications on the channels this connection LISTENs to.
    pub fn notifications(
        &mut self,
        timeout: Duration,
    ) -> Result<Vec<(String, String)>, StoreError> {
        use postgres::fallible_iterator::FallibleIterator;
        let mut notifications = self.client.notifications();
        let mut received = Vec::new();
        let first = notifications.timeout_iter(timeout).next()?;
        if let Some(first) = first {
            received.push((first.channel().to_owned(), first.payload().to_owned()));
            // Whatever else arrived with it, without waiting again.
            let mut more = notifications.iter();
            while let Some(next) = more.next()? {
                received.push((next.channel().to_owned(), next.payload().to_owned()));
            }
        }
        Ok(received)
    }
}

/// A writer's session for [`super::writer`]'s group commit: one transaction a batch, a
/// savepoint a job, and the batch's events stored at its end ([`PgSession::store_events`]).
///
/// Control statements that a healthy session does not refuse (BEGIN, SAVEPOINT, RELEASE) wait
/// and go with the next round trip: one job's RELEASE with the next one's SAVEPOINT, the last
/// one's with COMMIT. A failure among them marks the transaction failed, so no job that ran
/// after it is taken for stored.
pub struct PgSession {
    conn: PgConn,
    node: String,
    open: bool,
    waiting: String,
}

impl PgSession {
    pub fn new(conn: PgConn, node: &str) -> PgSession {
        PgSession {
            conn,
            node: node.to_owned(),
            open: false,
            waiting: String::new(),
        }
    }

    /// Sends the control statements that wait, with `then` after them when given.
    fn send(&mut self, then: Option<&str>) -> Result<(), StoreError> {
        if let Some(then) = then {
            self.waiting.push_str(then);
            self.waiting.push(';');
        }
        if self.waiting.is_empty() {
            return Ok(());
        }
        let sql = std::mem::take(&mut self.waiting);
        self.conn.batch(&sql)
    }
}

impl super::writer::Session for PgSession {
    fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }

    fn conn(&mut self) -> &mut dyn Conn {
        if let Err(error) = self.send(None) {
            // Marked failed by `batch`: the job's statements fail, and so does the job.
            tracing::warn!(%error, "a savepoint could not be opened");
        }
        &mut self.conn
    }

    fn control(&mut self, sql: &str) -> Result<(), StoreError> {
        match sql {
            "BEGIN" => {
                self.waiting.clear();
                self.conn.failed = false;
                self.open = true;
                self.waiting.push_str("BEGIN;");
                Ok(())
            }
            "SAVEPOINT job" | "RELEASE job" => {
                self.waiting.push_str(sql);
                self.waiting.push(';');
                Ok(())
            }
            "COMMIT" => {
                if self.conn.failed {
                    self.open = false;
                    self.waiting.clear();
                    self.conn.rollback();
                    return Err(StoreError::NotStored);
                }
                // Still open on an error (a RELEASE sent with the COMMIT failed, and the
                // COMMIT never ran): the writer rolls it back.
                self.send(Some("COMMIT"))?;
                self.open = false;
                Ok(())
            }
            "ROLLBACK" => {
                self.open = false;
                self.waiting.clear();
                let rolled_back = self.conn.batch("ROLLBACK");
                self.conn.failed = false;
                rolled_back
            }
            rollback_to if rollback_to.starts_with("ROLLBACK TO") => {
                // Back to the job's savepoint: the transaction takes statements again.
                self.send(Some(rollback_to))?;
                self.conn.failed = false;
                Ok(())
            }
            other => self.send(Some(other)),
        }
    }

    fn in_transaction(&mut self) -> bool {
        self.open && !self.conn.is_closed()
    }

    fn defers_events(&self) -> bool {
        true
    }

    fn job_failed(&mut self) -> bool {
        self.conn.failed
    }

    /// Locks the batch's centers in id order (`ORDER BY id FOR NO KEY UPDATE`: concurrent
    /// batches take them in the same order, so none waits in a circle; and not `FOR UPDATE`,
    /// which would wait for the key-share locks a job's check-in takes on its center through
    /// the foreign key, in the job's order, not this one), gives each event the
    /// next seq of its center in batch order, and stores the heads, the events and one
    /// notification per ~7,000 bytes of `center:first-last` in one more statement.
    fn store_events(
        &mut self,
        events: &mut [super::events::StoredEvent],
    ) -> Result<(), StoreError> {
        use std::collections::BTreeMap;
        self.send(None)?;
        let mut heads: BTreeMap<String, Option<u64>> = BTreeMap::new();
        for event in events.iter() {
            heads.insert(event.center_id.to_string(), None);
        }
        let wanted = serde_json::to_string(&heads.keys().collect::<Vec<_>>())?;
        self.conn.query(
            "SELECT id, head_seq FROM centers
             WHERE id IN (SELECT value FROM json_array_elements_text(CAST(CAST(?1 AS TEXT) AS json)))
             ORDER BY id FOR NO KEY UPDATE",
            &[&wanted],
            &mut |r| {
                let id: String = r.get(0)?;
                let head: u64 = r.get(1)?;
                heads.insert(id, Some(head));
                Ok(())
            },
        )?;
        let mut next: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for (center, head) in heads {
            let head = head.ok_or_else(|| {
                StoreError::Corrupt(format!("an event for center {center}, which is not stored"))
            })?;
            next.insert(center, (head, head));
        }
        let mut rows = Vec::with_capacity(events.len());
        for event in events.iter_mut() {
            let Some((_, last)) = next.get_mut(event.center_id.as_str()) else {
                return Err(StoreError::Corrupt(
                    "a center lost between two statements".into(),
                ));
            };
            *last += 1;
            event.seq = *last;
            rows.push(serde_json::json!({
                "center_id": event.center_id.as_str(),
                "seq": event.seq,
                "at": event.at,
                "kind": event.kind.as_str(),
                "data": event.data,
            }));
        }
        let new_heads: Vec<serde_json::Value> = next
            .iter()
            .map(|(id, (_, last))| serde_json::json!({"id": id, "head": last}))
            .collect();
        let ranges: Vec<(&str, u64, u64)> = next
            .iter()
            .map(|(id, (head, last))| (id.as_str(), head + 1, *last))
            .collect();
        let notes = serde_json::to_string(&event_notes(&self.node, &ranges))?;
        self.conn.query(
            "WITH heads AS (
                 UPDATE centers SET head_seq = x.head
                 FROM json_to_recordset(CAST(CAST(?1 AS TEXT) AS json)) AS x(id text, head bigint)
                 WHERE centers.id = x.id RETURNING 1),
             stored AS (
                 INSERT INTO events (center_id, seq, at, kind, data)
                 SELECT center_id, seq, at, kind, data
                 FROM json_to_recordset(CAST(CAST(?2 AS TEXT) AS json))
                      AS x(center_id text, seq bigint, at text, kind text, data text)
                 RETURNING 1)
             SELECT pg_notify(?3, n.value)
             FROM json_array_elements_text(CAST(CAST(?4 AS TEXT) AS json)) AS n(value)",
            &[
                &serde_json::to_string(&new_heads)?,
                &serde_json::to_string(&rows)?,
                &EVENTS_CHANNEL,
                &notes,
            ],
            &mut |_| Ok(()),
        )
    }
}

/// Most bytes of one notification of committed events (NOTIFY takes fewer than 8,000).
const EVENT_NOTE_BYTES: usize = 7000;

/// The notifications of a batch's events: `{"node":…,"events":[[center,first,last],…]}`,
/// as many as it takes to stay under [`EVENT_NOTE_BYTES`] each.
fn event_notes(node: &str, ranges: &[(&str, u64, u64)]) -> Vec<String> {
    let mut notes = Vec::new();
    let mut current: Vec<&(&str, u64, u64)> = Vec::new();
    let mut size = 0;
    for range in ranges {
        // A center id, two numbers and the punctuation.
        let adds = range.0.len() + 48;
        if !current.is_empty() && size + adds > EVENT_NOTE_BYTES - node.len() - 32 {
            notes.push(serde_json::json!({"node": node, "events": current}).to_string());
            current.clear();
            size = 0;
        }
        current.push(range);
        size += adds;
    }
    if !current.is_empty() {
        notes.push(serde_json::json!({"node": node, "events": current}).to_string());
    }
    notes
}

/// Most seqs one range of a notification stands for one by one; a longer one (no batch
/// writes that many to one center) stands for its last seq only, which the follower reads.
const MOST_SEQS_NOTED: u64 = 4096;

#[derive(serde::Deserialize)]
struct EventNote {
    node: String,
    events: Vec<(String, u64, u64)>,
}

/// The events a notification tells of: a batch's note ([`event_notes`]), or one event as
/// `center:seq:node` (what nodes of an earlier version send during a rolling upgrade).
fn noted_events(payload: &str) -> Vec<(CenterId, u64, String)> {
    if payload.starts_with('{') {
        let Ok(note) = serde_json::from_str::<EventNote>(payload) else {
            return Vec::new();
        };
        let mut events = Vec::new();
        for (center, first, last) in note.events {
            let first = first.max(last.saturating_sub(MOST_SEQS_NOTED - 1));
            for seq in first..=last {
                events.push((CenterId::new(center.clone()), seq, note.node.clone()));
            }
        }
        return events;
    }
    payload
        .rsplit_once(':')
        .and_then(|(rest, node)| {
            let (center, seq) = rest.rsplit_once(':')?;
            Some((CenterId::new(center), seq.parse().ok()?, node.to_owned()))
        })
        .into_iter()
        .collect()
}

/// A parameter, sent as whatever type PostgreSQL expects at its place.
#[derive(Debug)]
struct PgValue<'a>(Value<'a>);

impl ToSql for PgValue<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(v)?.to_sql(ty, out),
                Type::BOOL => (v != 0).to_sql(ty, out),
                Type::FLOAT8 => (v as f64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => v.to_string().to_sql(ty, out),
                _ => Err(format!("an integer cannot be sent as {ty}").into()),
            },
            Value::Text(text) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    text.to_sql(ty, out)
                }
                _ => Err(format!("text cannot be sent as {ty}").into()),
            },
            Value::Blob(bytes) => match *ty {
                Type::BYTEA => bytes.to_sql(ty, out),
                _ => Err(format!("bytes cannot be sent as {ty}").into()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

struct PgRow<'a>(&'a postgres::Row);

impl Row for PgRow<'_> {
    fn cell(&self, index: usize) -> Result<Cell<'_>, StoreError> {
        let ty = self
            .0
            .columns()
            .get(index)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {index}")))?
            .type_()
            .clone();
        let row = self.0;
        Ok(match ty {
            Type::INT8 => row
                .try_get::<_, Option<i64>>(index)?
                .map_or(Cell::Null, Cell::Int),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(index)?
                .map_or(Cell::Null, |v| Cell::Int(v.into())),
            Type::INT2 => row
                .try_get::<_, Option<i16>>(index)?
                .map_or(Cell::Null, |v| Cell::Int(v.into())),
            Type::BOOL => row
                .try_get::<_, Option<bool>>(index)?
                .map_or(Cell::Null, |v| Cell::Int(v.into())),
            Type::FLOAT8 => row
                .try_get::<_, Option<f64>>(index)?
                .map_or(Cell::Null, Cell::Real),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => row
                .try_get::<_, Option<&str>>(index)?
                .map_or(Cell::Null, Cell::Text),
            Type::BYTEA => row
                .try_get::<_, Option<&[u8]>>(index)?
                .map_or(Cell::Null, Cell::Blob),
            other => {
                return Err(StoreError::Corrupt(format!(
                    "column {index} has type {other}, which the store does not read"
                )));
            }
        })
    }
}

impl Conn for PgConn {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, params: &[&dyn Param]) -> Result<usize, StoreError> {
        let statement = self.statement(sql)?;
        let values: Vec<PgValue<'_>> = params.iter().map(|p| PgValue(p.value())).collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        let changed = self.client.execute(&statement, &refs).inspect_err(|_| {
            self.failed = true;
        })?;
        Ok(usize::try_from(changed).unwrap_or(usize::MAX))
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[&dyn Param],
        each: &mut dyn FnMut(&dyn Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let statement = self.statement(sql)?;
        let values: Vec<PgValue<'_>> = params.iter().map(|p| PgValue(p.value())).collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        let rows = self.client.query(&statement, &refs).inspect_err(|_| {
            self.failed = true;
        })?;
        for row in &rows {
            each(&PgRow(row))?;
        }
        Ok(())
    }
}

/// What the listener heard.
#[derive(Debug)]
pub enum Heard {
    /// Committed events (center, seq, the node whose writer stored it), in the order
    /// PostgreSQL delivered them.
    Events(Vec<(CenterId, u64, String)>),
    /// Desks revoked through any node.
    Revoked(Vec<gymgate_shared::DeskId>),
    /// Members whose sessions ended through any node (a PIN reset).
    SessionsEnded(Vec<gymgate_shared::MemberId>),
    /// "Shown at a desk" notes from any node (their payloads, as [`announce_shown`] sent them).
    Shown(Vec<String>),
    /// The listener's session was (re)made: notifications sent meanwhile were lost.
    Listening,
}

/// Tells the other nodes that a desk has a member's check-in on screen (`note` is the
/// serialized note, a few hundred bytes: far below NOTIFY's 8000).
pub fn announce_shown(conn: &mut dyn Conn, note: &str) -> Result<(), StoreError> {
    conn.query(
        "SELECT pg_notify(?1, ?2)",
        &[&SHOWN_CHANNEL, &note],
        &mut |_| Ok(()),
    )
}

/// LISTENs for committed events on a session of its own until `stop`, remaking the session
/// whenever it breaks (then [`Heard::Listening`] says that some may have been missed).
pub fn listen(
    url: String,
    on_heard: impl Fn(Heard) + Send + 'static,
    stop: tokio_util::sync::CancellationToken,
) -> Result<(), StoreError> {
    std::thread::Builder::new()
        .name("gymgate-listener".into())
        .spawn(move || {
            while !stop.is_cancelled() {
                let session = connect(&url, "gymgate listener")
                    .and_then(|mut conn| {
                        conn.batch(&format!(
                            "LISTEN {EVENTS_CHANNEL}; LISTEN {DESKS_CHANNEL}; LISTEN {MEMBERS_CHANNEL}; \
                             LISTEN {SHOWN_CHANNEL}"
                        ))
                        .map(|()| conn)
                    });
                let mut conn = match session {
                    Ok(conn) => conn,
                    Err(error) => {
                        tracing::warn!(%error, "the event listener cannot reach the database; retrying");
                        std::thread::sleep(Duration::from_secs(1));
                        continue;
                    }
                };
                on_heard(Heard::Listening);
                while !stop.is_cancelled() {
                    match conn.notifications(Duration::from_millis(500)) {
                        Ok(heard) if heard.is_empty() => {}
                        Ok(heard) => {
                            for news in sort(heard) {
                                on_heard(news);
                            }
                        }
                        Err(error) => {
                            tracing::warn!(%error, "the event listener lost its session; remaking it");
                            break;
                        }
                    }
                }
            }
        })
        .map_err(|e| StoreError::Join(format!("cannot start the listener: {e}")))?;
    Ok(())
}

/// What a batch of notifications says, channel by channel (nothing for a channel that had
/// none; an event payload that does not parse is dropped: the head check finds its event).
fn sort(heard: Vec<(String, String)>) -> Vec<Heard> {
    let (mut events, mut revoked, mut ended) = (Vec::new(), Vec::new(), Vec::new());
    let mut shown = Vec::new();
    for (channel, payload) in heard {
        match channel.as_str() {
            SHOWN_CHANNEL => shown.push(payload),
            DESKS_CHANNEL => revoked.push(gymgate_shared::DeskId::new(payload)),
            MEMBERS_CHANNEL => ended.push(gymgate_shared::MemberId::new(payload)),
            _ => events.extend(noted_events(&payload)),
        }
    }
    let mut sorted = Vec::new();
    if !ended.is_empty() {
        sorted.push(Heard::SessionsEnded(ended));
    }
    if !revoked.is_empty() {
        sorted.push(Heard::Revoked(revoked));
    }
    if !events.is_empty() {
        sorted.push(Heard::Events(events));
    }
    if !shown.is_empty() {
        sorted.push(Heard::Shown(shown));
    }
    sorted
}

/// Runs the lease on the shared duties ([`super::lease`]) on a session of its own until
/// `stop`: renews it every quarter of `ttl`, and on `stop` lets it go.
pub fn lead(
    url: String,
    node_id: String,
    ttl: Duration,
    lease: std::sync::Arc<super::lease::Lease>,
    stop: tokio_util::sync::CancellationToken,
) -> Result<(), StoreError> {
    use super::lease;
    let every = (ttl / 4).max(Duration::from_millis(100));
    std::thread::Builder::new()
        .name("gymgate-leader".into())
        .spawn(move || {
            let mut session: Option<PgConn> = None;
            while !stop.is_cancelled() {
                let conn = match session.as_mut() {
                    Some(conn) if !conn.is_closed() => conn,
                    _ => match connect(&url, "gymgate leader") {
                        Ok(mut conn) => {
                            // A renewal that hangs must not hold the thread past the lease.
                            let timeout = every.as_millis().max(100);
                            if let Err(error) =
                                conn.batch(&format!("SET statement_timeout = {timeout}"))
                            {
                                tracing::warn!(%error, "cannot bound the leader's statements");
                            }
                            session.insert(conn)
                        }
                        Err(error) => {
                            tracing::warn!(%error, "cannot reach the database to lead");
                            std::thread::sleep(Duration::from_secs(1));
                            continue;
                        }
                    },
                };
                let sent = std::time::Instant::now();
                let was = lease.leads();
                let renewed = conn
                    .begin()
                    .and_then(|()| match lease::renew(conn, &node_id, ttl) {
                        Ok(term) => conn.commit().map(|()| term),
                        Err(error) => {
                            conn.rollback();
                            Err(error)
                        }
                    });
                match renewed {
                    Ok(Some(term)) => {
                        lease.hold(term, sent + lease::trusted_for(ttl));
                        if !was {
                            tracing::info!(
                                term,
                                "this node now runs the shared duties (alerts, retention, imports)"
                            );
                        }
                    }
                    Ok(None) => {
                        lease.drop_lease();
                        if was {
                            tracing::warn!("another node took over the shared duties");
                        }
                    }
                    Err(error) => {
                        // Not dropped here: the local deadline ends the lead if this lasts.
                        tracing::warn!(%error, "the leader's session failed");
                        session = None;
                    }
                }
                std::thread::sleep(every.saturating_sub(sent.elapsed()));
            }
            if lease.leads()
                && let Some(conn) = session.as_mut()
                && let Err(error) = lease::release(conn, &node_id)
            {
                tracing::warn!(%error, "cannot hand the shared duties over at shutdown");
            }
            lease.drop_lease();
        })
        .map_err(|e| StoreError::Join(format!("cannot start the leader thread: {e}")))?;
    Ok(())
}

/// Read connections, made as needed and kept for reuse.
pub(super) struct Postgres {
    url: String,
    idle: Mutex<Readers>,
    returned: Condvar,
}

#[derive(Default)]
struct Readers {
    idle: Vec<PgConn>,
    /// Sessions lent to reads now running.
    lent: usize,
}

/// How long a read waits for a session another read holds when no new one can be made (the
/// database at its connection limit, or taking no new sessions during maintenance): the
/// sessions already open keep the node serving.
const WAIT_FOR_SESSION: Duration = Duration::from_secs(3);

impl Drop for Postgres {
    fn drop(&mut self) {
        // Closing a session blocks on the driver's own runtime, which must not happen on an
        // async thread (the store may be dropped on one).
        let idle = self
            .idle
            .get_mut()
            .map(|readers| std::mem::take(&mut readers.idle))
            .unwrap_or_default();
        if !idle.is_empty() {
            let _ = std::thread::Builder::new()
                .name("gymgate-close".into())
                .spawn(move || drop(idle));
        }
    }
}

impl Postgres {
    pub(super) fn read<T>(
        &self,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.lend()?;
        let result = f(&mut conn);
        // A read that failed may have left a transaction open (a snapshot): end it.
        if result.is_err() {
            conn.rollback();
        }
        if let Ok(mut readers) = self.idle.lock() {
            readers.lent = readers.lent.saturating_sub(1);
            if !conn.is_closed() && readers.idle.len() < super::MAX_READERS {
                readers.idle.push(conn);
            }
        }
        self.returned.notify_one();
        result
    }

    fn lend(&self) -> Result<PgConn, StoreError> {
        let poisoned = || StoreError::Unavailable("the read sessions' lock is poisoned".into());
        let mut readers = self.idle.lock().map_err(|_| poisoned())?;
        if let Some(conn) = take_open(&mut readers.idle) {
            readers.lent += 1;
            return Ok(conn);
        }
        readers.lent += 1;
        drop(readers);
        let error = match connect(&self.url, "gymgate reader") {
            Ok(conn) => return Ok(conn),
            Err(error) => error,
        };
        let mut readers = self.idle.lock().map_err(|_| poisoned())?;
        readers.lent = readers.lent.saturating_sub(1);
        let deadline = std::time::Instant::now() + WAIT_FOR_SESSION;
        loop {
            // One may have come back while the connect failed.
            if let Some(conn) = take_open(&mut readers.idle) {
                readers.lent += 1;
                return Ok(conn);
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            // Only a session another read holds can come back; with none lent, waiting is
            // futile.
            if readers.lent == 0 || left.is_zero() {
                break;
            }
            readers = self
                .returned
                .wait_timeout(readers, left)
                .map_err(|_| poisoned())?
                .0;
        }
        Err(error)
    }

    pub(super) fn url(&self) -> &str {
        &self.url
    }
}

/// An idle session that is still open; closed ones are dropped.
fn take_open(idle: &mut Vec<PgConn>) -> Option<PgConn> {
    while let Some(conn) = idle.pop() {
        if !conn.is_closed() {
            return Some(conn);
        }
    }
    None
}

/// Opens the database at `url`, bringing its schema up to date (one node at a time), and
/// returns the read side and the database's epoch.
pub(super) fn open(url: &str) -> Result<(Postgres, String), StoreError> {
    let check = super::postgres_tls::Target::parse(url)?.check;
    if check.is_verified() {
        tracing::info!("{}", check.describe());
    } else {
        tracing::warn!(
            "{}: member data and PIN hashes cross the network unprotected against a \
             machine in the middle; use sslmode=verify-full with sslrootcert",
            check.describe()
        );
    }
    let mut conn = connect(url, "gymgate migrations")?;
    super::schema::postgres::migrate(&mut conn)?;
    let epoch: String =
        (&mut conn as &mut dyn Conn).value("SELECT value FROM meta WHERE key = 'epoch'", &[])?;
    Ok((
        Postgres {
            url: url.to_owned(),
            idle: Mutex::new(Readers::default()),
            returned: Condvar::new(),
        },
        epoch,
    ))
}

/// Gives the database a fresh epoch (a promoted standby, a point-in-time recovery: a history
/// that forked from the one desks followed); returns it. Every desk then re-syncs from a
/// snapshot and no one replays the old log, so it is dropped (as retention would, from the
/// head down): a log the restore left with gaps is whole again. Check-ins stay.
pub(super) fn new_epoch(url: &str) -> Result<String, StoreError> {
    let mut session = connect(url, "gymgate new-epoch")?;
    session.batch("BEGIN")?;
    let epoch = {
        let conn: &mut dyn Conn = &mut session;
        let epoch = conn.value(
            "UPDATE meta SET value = md5(random()::text || clock_timestamp()::text)
             WHERE key = 'epoch' RETURNING value",
            &[],
        )?;
        conn.execute("UPDATE centers SET pruned_through = head_seq", &[])?;
        conn.execute("DELETE FROM events", &[])?;
        epoch
    };
    // Nothing is kept unless all of it is: a failure above ends the session, rolling back.
    session.batch("COMMIT")?;
    Ok(epoch)
}

#[cfg(test)]
mod tests {
    use super::renumber;

    #[test]
    fn placeholders_are_renumbered_for_postgres() {
        assert_eq!(
            renumber("SELECT a FROM t WHERE b = ?1 AND c IN (?2, ?10) LIMIT ?3"),
            "SELECT a FROM t WHERE b = $1 AND c IN ($2, $10) LIMIT $3"
        );
        assert_eq!(renumber("SELECT '?' || x"), "SELECT '?' || x");
    }
}
