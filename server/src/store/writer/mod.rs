//! The single writer thread and its group commit, the same for every database: a batch is one
//! transaction, each job in it a savepoint, and callers hear back after the commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use chrono::{DateTime, SubsecRound, Utc};
use gymgate_shared::CenterId;
use gymgate_shared::protocol::EventPayload;
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::events::{self, StoredEvent};
use super::sql::Conn;

/// Jobs waiting beyond this make callers wait for room: back-pressure instead of unbounded
/// memory when the disk is slower than the taps.
const QUEUE_DEPTH: usize = 8192;
/// Upper bound of jobs in one transaction, so one slow batch cannot delay its first caller
/// without limit.
const MAX_BATCH: usize = 1024;

/// Called on the writer thread after each successful commit with that batch's events, in
/// commit order. It must not block.
pub type Publisher = Box<dyn Fn(Vec<StoredEvent>) + Send + Sync>;

/// The writer's connection to one database.
pub(super) trait Session: Send + 'static {
    fn conn(&mut self) -> &mut dyn Conn;
    /// Runs a transaction-control statement: BEGIN, COMMIT, ROLLBACK, SAVEPOINT job, ….
    fn control(&mut self, sql: &str) -> Result<(), StoreError>;
    /// False when the database ended the transaction by itself (SQLite does on some I/O and
    /// full-disk errors).
    fn in_transaction(&mut self) -> bool;
    /// Called after each batch, told whether jobs are waiting.
    fn between_batches(&mut self, _queue_empty: bool) {}
    /// True where the batch, not each job, gives events their seqs: then [`store_events`]
    /// stores all of a batch's events at its end, taking the centers' rows in one order, so
    /// batches committing at once on many nodes cannot deadlock over them.
    ///
    /// [`store_events`]: Session::store_events
    fn defers_events(&self) -> bool {
        false
    }
    /// True when the database ended the session (a pool's writer then opens a new one).
    fn is_closed(&self) -> bool {
        false
    }
    /// True when a statement of the job just run failed, whatever the job answered:
    /// PostgreSQL refuses every later statement of the transaction until a rollback.
    fn job_failed(&mut self) -> bool {
        false
    }
    /// Gives the batch's deferred events their seqs and stores them, in the transaction.
    fn store_events(&mut self, _events: &mut [StoredEvent]) -> Result<(), StoreError> {
        Ok(())
    }
}

/// What a job sees: the connection with the batch's transaction open, the time of the batch,
/// and a place to append events that are published only if the whole batch commits.
pub struct WriteCtx<'a> {
    pub tx: &'a mut dyn Conn,
    pub now: DateTime<Utc>,
    events: Vec<StoredEvent>,
    /// The events get their seqs at the end of the batch ([`Session::defers_events`]).
    defer: bool,
}

impl WriteCtx<'_> {
    /// Logs a change an operator (or the admin token) made, in this transaction: the change
    /// and its record are stored together or not at all.
    pub fn audit(
        &mut self,
        actor: &str,
        action: &str,
        subject: &super::audit::Subject,
        before: Option<&serde_json::Value>,
        after: Option<&serde_json::Value>,
    ) -> Result<(), StoreError> {
        super::audit::record(self.tx, self.now, actor, action, subject, before, after)
    }

    /// Appends an event to a center's log with the next seq, in this transaction (on
    /// PostgreSQL at the end of the batch, still before its commit).
    pub fn append_event(
        &mut self,
        center_id: &CenterId,
        payload: &EventPayload,
    ) -> Result<(), StoreError> {
        let data = payload.to_json()?;
        let kind = payload.kind();
        let seq = if self.defer {
            0
        } else {
            events::append(self.tx, center_id, self.now, kind, &data)?
        };
        let (member_id, checkin_id) = match payload {
            EventPayload::Checkin(card) => (
                Some(card.checkin.member_id.clone()),
                Some(card.checkin.id.clone()),
            ),
            EventPayload::CheckinUpdated(card) => (Some(card.checkin.member_id.clone()), None),
            EventPayload::Member(_)
            | EventPayload::Notice(_)
            | EventPayload::Revocation(_)
            | EventPayload::Support(_)
            | EventPayload::Hours(_) => (None, None),
        };
        self.events.push(StoredEvent {
            center_id: center_id.clone(),
            seq,
            at: super::ts(self.now),
            kind,
            data,
            member_id,
            checkin_id,
        });
        Ok(())
    }
}

type Job = Box<dyn FnOnce(&mut WriteCtx<'_>) -> Outcome + Send>;

struct Outcome {
    ok: bool,
    finish: Finish,
}

#[derive(Clone)]
pub struct Writer {
    /// One queue per writer session: SQLite has one; on PostgreSQL a member's jobs all go
    /// to one session ([`Writer::write_for`]), so no two of this node's open batches ever
    /// wait on each other for a member's row, each holding the one the other needs.
    lanes: Arc<[mpsc::Sender<Job>]>,
    /// Where the next job for no one in particular goes (round robin).
    next: Arc<AtomicU64>,
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
    pub(super) fn start(session: impl Session, publish: Publisher) -> Result<Writer, StoreError> {
        let (lane, queue) = mpsc::channel(QUEUE_DEPTH);
        let stats = Arc::new(CommitStats::default());
        let thread_stats = stats.clone();
        thread::Builder::new()
            .name("gymgate-writer".into())
            .spawn(move || writer_loop(session, queue, publish, &thread_stats))
            .map_err(|e| StoreError::Join(format!("cannot start writer thread: {e}")))?;
        Ok(Writer::over(vec![lane], stats))
    }

    fn over(lanes: Vec<mpsc::Sender<Job>>, stats: Arc<CommitStats>) -> Writer {
        Writer {
            lanes: lanes.into(),
            next: Arc::new(AtomicU64::new(0)),
            stats,
        }
    }

    /// True once the writer threads have stopped taking jobs.
    pub fn is_closed(&self) -> bool {
        self.lanes.iter().all(mpsc::Sender::is_closed)
    }

    /// [`Writer::write`] for a job that locks `member`'s row (a tap, a desk's record of
    /// them): it runs in the same writer session as every other job for that member.
    pub async fn write_for<T, E, F>(&self, member: &str, job: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<T, E> + Send + 'static,
    {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        member.hash(&mut hasher);
        self.write_in(hasher.finish(), job).await
    }

    /// Runs `job` in the next group commit and returns its result once that commit is durable.
    /// An `Err` from the job rolls back only that job (a savepoint), not its batch-mates.
    pub async fn write<T, E, F>(&self, job: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<T, E> + Send + 'static,
    {
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        self.write_in(turn, job).await
    }

    async fn write_in<T, E, F>(&self, lane: u64, job: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<T, E> + Send + 'static,
    {
        let lanes = self.lanes.len().max(1) as u64;
        let Some(lane) = usize::try_from(lane % lanes)
            .ok()
            .and_then(|i| self.lanes.get(i))
        else {
            return Err(E::from(StoreError::WriterGone));
        };
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
                        let _ =
                            reply.send(committed.map(|()| value).map_err(|e| E::from(e.shared())));
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
        lane.send(job)
            .await
            .map_err(|_| E::from(StoreError::WriterGone))?;
        // The writer drops a job it could not run (no transaction could be opened): the job
        // was not stored, and the caller must hear exactly that.
        answer.await.map_err(|_| E::from(StoreError::NotStored))?
    }
}

/// Jobs in one PostgreSQL transaction at most, whatever a node is set to: a batch's
/// centers' rows stay locked from its end to its commit.
const MAX_PG_BATCH: usize = 256;

/// Writer threads for PostgreSQL, each with a session and a queue of its own: each takes
/// whatever jobs wait in its queue, up to `batch` (at most [`MAX_PG_BATCH`]), and runs them
/// as one group commit, as the SQLite writer does; with `batch` 1, each job alone. Several threads (and nodes) commit at once: while one
/// waits for its commit, batches gather and run on the others.
pub(super) fn start_pool<S: Session>(
    connect: impl Fn() -> Result<S, StoreError> + Send + Sync + 'static,
    workers: usize,
    batch: usize,
    publish: Publisher,
) -> Result<Writer, StoreError> {
    let most = batch.clamp(1, MAX_PG_BATCH);
    let stats = Arc::new(CommitStats::default());
    let publish = Arc::new(publish);
    let connect = Arc::new(connect);
    let workers = workers.max(1);
    let mut lanes = Vec::with_capacity(workers);
    for n in 0..workers {
        let (lane, mut queue) = mpsc::channel::<Job>((QUEUE_DEPTH / workers).max(64));
        lanes.push(lane);
        let (stats, publish, connect) = (stats.clone(), publish.clone(), connect.clone());
        thread::Builder::new()
            .name(format!("gymgate-writer-{n}"))
            .spawn(move || {
                let mut session: Option<S> = None;
                let mut batch: Vec<Job> = Vec::with_capacity(most);
                // Ends when every Writer handle is dropped and the lane is drained.
                while gather(&mut queue, &mut batch, most) {
                    if session
                        .as_ref()
                        .is_none_or(Session::is_closed)
                    {
                        match connect() {
                            Ok(fresh) => session = Some(fresh),
                            Err(error) => {
                                // Dropped unrun: their callers hear that they were not stored.
                                tracing::error!(%error, jobs = batch.len(), "the writer cannot reach the database");
                                batch.clear();
                                std::thread::sleep(std::time::Duration::from_millis(200));
                                continue;
                            }
                        }
                    }
                    if let Some(session) = session.as_mut() {
                        run_batch(session, &mut batch, &publish, &stats);
                    }
                    batch.clear();
                }
                tracing::debug!("database writer stopped");
            })
            .map_err(|e| StoreError::Join(format!("cannot start writer thread: {e}")))?;
    }
    Ok(Writer::over(lanes, stats))
}

/// Waits for a job, then takes whatever else is waiting, up to `most` in all; false once
/// every sender is gone and the queue is drained.
fn gather(queue: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>, most: usize) -> bool {
    let Some(first) = queue.blocking_recv() else {
        return false;
    };
    batch.push(first);
    while batch.len() < most {
        match queue.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    true
}

fn writer_loop(
    mut session: impl Session,
    mut queue: mpsc::Receiver<Job>,
    publish: Publisher,
    stats: &CommitStats,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    // Ends when every Writer handle is dropped and the queue is drained: shutdown loses no job.
    while gather(&mut queue, &mut batch, MAX_BATCH) {
        run_batch(&mut session, &mut batch, &publish, stats);
        session.between_batches(queue.is_empty());
    }
    tracing::debug!("database writer stopped");
}

type Finish = Box<dyn FnOnce(Result<(), Arc<StoreError>>) + Send>;

/// Runs one group commit. A lone job runs without a savepoint: if it fails, its transaction
/// is rolled back whole.
fn run_batch(
    session: &mut impl Session,
    batch: &mut Vec<Job>,
    publish: &Publisher,
    stats: &CommitStats,
) {
    if session.in_transaction() {
        // An earlier batch could not end its transaction (its COMMIT and ROLLBACK both
        // failed); without ending it here, no batch could ever begin again.
        if let Err(error) = session.control("ROLLBACK") {
            tracing::error!(%error, "cannot end a transaction left open by an earlier batch");
        }
    }
    if let Err(error) = session.control("BEGIN") {
        tracing::error!(%error, jobs = batch.len(), "cannot begin a transaction; batch not stored");
        batch.clear();
        return;
    }
    let lone = batch.len() == 1;
    let mut finishes: Vec<Finish> = Vec::with_capacity(batch.len());
    let mut events = Vec::new();
    let mut lone_failed = false;
    // Stored times have microsecond precision; a batch's clock has the same, so a check-in
    // answered now and the same one read back later are identical.
    let now = Utc::now().trunc_subsecs(6);
    let defer = session.defers_events();
    let mut jobs = batch.drain(..);
    while let Some(job) = jobs.next() {
        if !lone && let Err(error) = session.control("SAVEPOINT job") {
            tracing::error!(%error, "cannot open a savepoint; job not stored");
            continue;
        }
        let mut ctx = WriteCtx {
            tx: session.conn(),
            now,
            events: Vec::new(),
            defer,
        };
        let mut outcome = job(&mut ctx);
        let job_events = ctx.events;
        if outcome.ok && session.job_failed() {
            // The job went on past a failed statement (or took its error for an answer):
            // none of it may stay, and its caller hears that it was not stored.
            let finish = std::mem::replace(&mut outcome.finish, Box::new(|_| {}));
            outcome = Outcome {
                ok: false,
                finish: Box::new(move |_| finish(Err(Arc::new(StoreError::NotStored)))),
            };
        }
        if !session.in_transaction() {
            // The database rolled the whole transaction back under this job: everything the
            // batch wrote so far is gone, and the rest of the batch must not run outside a
            // transaction, where each statement would commit alone.
            tracing::error!(
                "the transaction was rolled back during a write job; its batch-mates so far were not stored"
            );
            let lost = Arc::new(StoreError::NotStored);
            for finish in finishes.drain(..).chain([outcome.finish]) {
                finish(Err(lost.clone()));
            }
            events.clear();
            if let Err(error) = session.control("BEGIN") {
                tracing::error!(%error, jobs = jobs.len(), "cannot begin a transaction; rest of the batch not stored");
                return;
            }
            continue;
        }
        let mut ok = outcome.ok;
        if lone {
            lone_failed = !ok;
        } else {
            let closed = if ok {
                session.control("RELEASE job")
            } else {
                session
                    .control("ROLLBACK TO job")
                    .and_then(|()| session.control("RELEASE job"))
            };
            if let Err(e) = closed {
                tracing::error!(error = %e, "cannot close a savepoint");
                ok = false;
            }
        }
        if ok {
            events.extend(job_events);
        }
        finishes.push(outcome.finish);
    }
    drop(jobs);
    if finishes.is_empty() {
        // Every job was lost to a rolled-back transaction or never started: nothing to keep.
        if let Err(error) = session.control("ROLLBACK") {
            tracing::error!(%error, "cannot end an empty transaction");
        }
        return;
    }
    if lone_failed {
        // The failed job answers with its own error; nothing of it may stay.
        if let Err(error) = session.control("ROLLBACK") {
            tracing::error!(%error, "cannot roll back a failed write job");
        }
        for finish in finishes {
            finish(Ok(()));
        }
        return;
    }
    let jobs = finishes.len();
    if !events.is_empty()
        && let Err(error) = session.store_events(&mut events)
    {
        tracing::error!(%error, jobs, "the batch's events could not be stored; nothing in it was");
        if let Err(error) = session.control("ROLLBACK") {
            tracing::error!(%error, "cannot roll back a batch whose events were not stored");
        }
        stats.record(std::time::Duration::ZERO, false);
        metrics::counter!(crate::metrics::COMMIT_FAILURES).increment(1);
        let error = Arc::new(error);
        for finish in finishes {
            finish(Err(error.clone()));
        }
        return;
    }
    let commit_started = std::time::Instant::now();
    let committed = session.control("COMMIT").map_err(Arc::new);
    let took = commit_started.elapsed();
    if committed.is_err() && session.in_transaction() {
        // A failed COMMIT can leave the transaction open; none of it was stored.
        if let Err(error) = session.control("ROLLBACK") {
            tracing::error!(%error, "cannot roll back after a failed commit");
        }
    }
    stats.record(took, committed.is_ok());
    metrics::histogram!(crate::metrics::COMMIT_SECONDS).record(took.as_secs_f64());
    metrics::histogram!(crate::metrics::COMMIT_BATCH).record(jobs as f64);
    if let Err(error) = &committed {
        metrics::counter!(crate::metrics::COMMIT_FAILURES).increment(1);
        tracing::error!(%error, jobs, "group commit failed; nothing in it was stored");
    }
    let committed_ok = committed.is_ok();
    for finish in finishes {
        finish(committed.clone());
    }
    if committed_ok && !events.is_empty() {
        publish(events);
    }
}

#[cfg(test)]
mod tests;
