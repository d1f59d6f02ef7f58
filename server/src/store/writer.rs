//! The single writer thread and its group commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use axum::extract::ws::Utf8Bytes;
use chrono::{DateTime, SubsecRound, Utc};
use gymgate_shared::protocol::EventPayload;
use gymgate_shared::{CenterId, MemberId};
use rusqlite::{Connection, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::{StoreError, ts};

/// Jobs waiting beyond this make callers wait for room: back-pressure instead of unbounded
/// memory when the disk is slower than the taps.
const QUEUE_DEPTH: usize = 8192;
/// Upper bound of jobs in one transaction, so one slow batch cannot delay its first caller
/// without limit.
const MAX_BATCH: usize = 1024;
/// A wanted WAL restart waits for an idle moment of the writer at most this long.
const RESTART_AT_THE_LATEST: std::time::Duration = std::time::Duration::from_secs(2);

/// An event committed to a center's log, ready to push to that center's desks.
#[derive(Debug, Clone)]
pub struct Published {
    pub center_id: CenterId,
    /// The member whose check-in this event is about, so their app can follow it live.
    pub member_id: Option<MemberId>,
    pub seq: u64,
    /// The complete `event` frame, serialised once for every desk.
    pub frame: Utf8Bytes,
}

/// Called on the writer thread after each successful commit with that batch's events, in
/// commit order. It must not block.
pub type Publisher = Box<dyn Fn(Vec<Published>) + Send>;

/// What a job sees: the open transaction, the time of the batch, and a place to append
/// events that are published only if the whole batch commits.
pub struct WriteCtx<'a> {
    pub tx: &'a Transaction<'a>,
    pub now: DateTime<Utc>,
    events: Vec<Published>,
}

#[derive(serde::Serialize)]
struct EventFrame<'a> {
    #[serde(rename = "type")]
    kind_of_message: &'static str,
    seq: u64,
    at: &'a str,
    kind: &'static str,
    data: &'a serde_json::value::RawValue,
}

/// Builds the wire frame of a stored event without re-parsing its data.
pub fn event_frame(seq: u64, at: &str, kind: &str, data: &str) -> Result<Utf8Bytes, StoreError> {
    let kind = gymgate_shared::protocol::EventKind::parse(kind)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown event kind {kind:?}")))?;
    let data: &serde_json::value::RawValue = serde_json::from_str(data)?;
    let frame = serde_json::to_string(&EventFrame {
        kind_of_message: "event",
        seq,
        at,
        kind: kind.as_str(),
        data,
    })?;
    Ok(frame.into())
}

impl WriteCtx<'_> {
    /// Appends an event to a center's log with the next seq, in this transaction.
    pub fn append_event(
        &mut self,
        center_id: &CenterId,
        payload: &EventPayload,
    ) -> Result<u64, StoreError> {
        let seq: i64 = self
            .tx
            .prepare_cached(
                "UPDATE centers SET head_seq = head_seq + 1 WHERE id = ?1 RETURNING head_seq",
            )?
            .query_row([center_id.as_str()], |r| r.get(0))?;
        let at = ts(self.now);
        let data = payload.to_json()?;
        let kind = payload.kind().as_str();
        self.tx
            .prepare_cached(
                "INSERT INTO events (center_id, seq, at, kind, data) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(rusqlite::params![center_id.as_str(), seq, at, kind, data])?;
        let seq = seq as u64;
        let member_id = match payload {
            EventPayload::Checkin(card) | EventPayload::CheckinUpdated(card) => {
                Some(card.checkin.member_id.clone())
            }
            EventPayload::Member(_) | EventPayload::Notice(_) => None,
        };
        self.events.push(Published {
            center_id: center_id.clone(),
            member_id,
            seq,
            frame: event_frame(seq, &at, kind, &data)?,
        });
        Ok(seq)
    }
}

type Job = Box<dyn FnOnce(&mut WriteCtx<'_>) -> Outcome + Send>;

struct Outcome {
    ok: bool,
    finish: Box<dyn FnOnce(Result<(), Arc<StoreError>>) + Send>,
}

#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
    /// Running totals of the group commits, read by the alert rules.
    pub stats: Arc<CommitStats>,
}

/// Counters the writer thread keeps for in-process readers (alerting); `/metrics` has the
/// same figures as histograms for Prometheus.
#[derive(Debug, Default)]
pub struct CommitStats {
    pub commits: AtomicU64,
    pub commit_micros: AtomicU64,
    pub failures: AtomicU64,
}

impl CommitStats {
    fn record(&self, took: std::time::Duration, ok: bool) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.commit_micros.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        if !ok {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Writer {
    pub(super) fn start(
        conn: Connection,
        publish: Publisher,
        restart_wal: Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<Writer, StoreError> {
        let (jobs, queue) = mpsc::channel(QUEUE_DEPTH);
        let stats = Arc::new(CommitStats::default());
        let thread_stats = stats.clone();
        thread::Builder::new()
            .name("gymgate-writer".into())
            .spawn(move || writer_loop(conn, queue, publish, &thread_stats, &restart_wal))
            .map_err(|e| StoreError::Join(format!("cannot start writer thread: {e}")))?;
        Ok(Writer { jobs, stats })
    }

    /// True once the writer thread has stopped taking jobs.
    pub fn is_closed(&self) -> bool {
        self.jobs.is_closed()
    }

    /// Runs `job` in the next group commit and returns its result once that commit is durable.
    /// An `Err` from the job rolls back only that job (a savepoint), not its batch-mates.
    pub async fn write<T, E, F>(&self, job: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<T, E> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<T, E>>();
        let queued = std::time::Instant::now();
        let job: Job = Box::new(move |ctx| {
            // Against the tap's whole time, this tells the writer's share of a slow answer
            // (a long commit ahead, a stalled writer) from the rest (the caller's wake-up).
            metrics::histogram!(crate::metrics::WRITE_WAIT_SECONDS)
                .record(queued.elapsed().as_secs_f64());
            match job(ctx) {
                Ok(value) => Outcome {
                    ok: true,
                    finish: Box::new(move |committed| {
                        let _ = reply.send(
                            committed
                                .map(|()| value)
                                .map_err(|e| E::from(shared_error(&e))),
                        );
                    }),
                },
                Err(error) => Outcome {
                    ok: false,
                    finish: Box::new(move |_| {
                        let _ = reply.send(Err(error));
                    }),
                },
            }
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| E::from(StoreError::WriterGone))?;
        // The writer drops a job it could not run (no transaction could be opened): the job
        // was not stored, and the caller must hear exactly that.
        answer.await.map_err(|_| E::from(StoreError::NotStored))?
    }
}

/// A commit error is shared by every job of the batch; each caller gets its own copy.
fn shared_error(error: &StoreError) -> StoreError {
    match error {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(code, msg)) => {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(*code, msg.clone()))
        }
        other => StoreError::Corrupt(other.to_string()),
    }
}

/// Savepoint statements run for every job: prepared once, not parsed every time.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

fn writer_loop(
    mut conn: Connection,
    mut queue: mpsc::Receiver<Job>,
    publish: Publisher,
    stats: &CommitStats,
    restart_wal: &std::sync::atomic::AtomicBool,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut restart_wanted_since: Option<std::time::Instant> = None;
    // Ends when every Writer handle is dropped and the queue is drained: shutdown loses no job.
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&mut conn, &mut batch, &publish, stats);
        // The checkpointer has just copied nearly all of the WAL; copying the rest here, with
        // no transaction open, lets the next transaction start the WAL over. It is done when
        // no job is waiting, so no tap waits for it; under saturation, after a while anyway.
        if restart_wal.load(Ordering::Relaxed) {
            let since = *restart_wanted_since.get_or_insert_with(std::time::Instant::now);
            if queue.is_empty() || since.elapsed() > RESTART_AT_THE_LATEST {
                // Once: if the checkpointer was mid-copy or a reader still holds old frames,
                // the WAL is not started over now, and the checkpointer asks again next round.
                restart_wal.store(false, Ordering::Relaxed);
                restart_wanted_since = None;
                if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                {
                    tracing::warn!(%error, "WAL catch-up checkpoint failed; will retry");
                }
            }
        }
    }
    tracing::debug!("database writer stopped");
}

fn run_batch(
    conn: &mut Connection,
    batch: &mut Vec<Job>,
    publish: &Publisher,
    stats: &CommitStats,
) {
    let tx = match conn.transaction() {
        Ok(tx) => tx,
        Err(error) => {
            tracing::error!(%error, jobs = batch.len(), "cannot begin a transaction; batch not stored");
            batch.clear();
            return;
        }
    };
    let mut finishes = Vec::with_capacity(batch.len());
    let mut events = Vec::new();
    // Stored times have microsecond precision; a batch's clock has the same, so a check-in
    // answered now and the same one read back later are identical.
    let now = Utc::now().trunc_subsecs(6);
    let mut ctx = WriteCtx {
        tx: &tx,
        now,
        events: Vec::new(),
    };
    for job in batch.drain(..) {
        if let Err(error) = run_cached(ctx.tx, "SAVEPOINT job") {
            tracing::error!(%error, "cannot open a savepoint; job not stored");
            continue;
        }
        let outcome = job(&mut ctx);
        let mut ok = outcome.ok;
        let job_events = std::mem::take(&mut ctx.events);
        let closed = if ok {
            run_cached(ctx.tx, "RELEASE job")
        } else {
            run_cached(ctx.tx, "ROLLBACK TO job").and_then(|()| run_cached(ctx.tx, "RELEASE job"))
        };
        if let Err(e) = closed {
            tracing::error!(error = %e, "cannot close a savepoint");
            ok = false;
        }
        if ok {
            events.extend(job_events);
        }
        finishes.push(outcome.finish);
    }
    drop(ctx);
    let jobs = finishes.len();
    let commit_started = std::time::Instant::now();
    let committed = tx.commit().map_err(|e| Arc::new(StoreError::from(e)));
    let took = commit_started.elapsed();
    stats.record(took, committed.is_ok());
    metrics::histogram!(crate::metrics::COMMIT_SECONDS).record(took.as_secs_f64());
    metrics::histogram!(crate::metrics::COMMIT_BATCH).record(jobs as f64);
    if let Err(error) = &committed {
        metrics::counter!(crate::metrics::COMMIT_FAILURES).increment(1);
        tracing::error!(%error, jobs = finishes.len(), "group commit failed; nothing in it was stored");
    }
    let committed_ok = committed.is_ok();
    for finish in finishes {
        finish(committed.clone());
    }
    if committed_ok && !events.is_empty() {
        publish(events);
    }
}
