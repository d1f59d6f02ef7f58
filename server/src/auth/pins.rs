//! PIN hashing and checking (argon2) on a fixed pair of threads.
//!
//! Each argon2 call allocates ~19 MiB. Run on tokio's many blocking threads, every thread's
//! allocator arena keeps that memory afterwards (hundreds of MB after a burst of logins), and
//! a login flood could take the blocking pool from database reads. Two dedicated threads cap
//! both; a full queue answers "busy" at once instead of queueing without bound.
//!
//! Logins go first: background work (a member import hashing 100,000 PINs) is taken only when
//! no login is waiting, so an import never makes a member wait at the door.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

use tokio::sync::oneshot;

use crate::auth::tokens;
use crate::error::AppError;

const THREADS: usize = 2;
/// Login jobs waiting at most; past this a login is answered "busy" at once.
const QUEUE: usize = 256;
/// Background jobs waiting at most (an import keeps one or two in flight).
const BACKGROUND_QUEUE: usize = 64;

enum Job {
    Hash(String, oneshot::Sender<Result<String, String>>),
    Verify(String, String, oneshot::Sender<bool>),
}

#[derive(Default)]
struct Queues {
    logins: VecDeque<Job>,
    background: VecDeque<Job>,
    /// Set when the last handle is dropped: the threads finish what is queued and end.
    closed: bool,
}

struct Shared {
    queues: Mutex<Queues>,
    ready: Condvar,
}

/// Which queue a job waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Login,
    Background,
}

#[derive(Clone)]
pub struct PinWorkers {
    shared: Arc<Shared>,
    _handle: Arc<Closer>,
}

/// Closes the queues when the last [`PinWorkers`] clone goes.
struct Closer(Arc<Shared>);

impl Drop for Closer {
    fn drop(&mut self) {
        if let Ok(mut queues) = self.0.queues.lock() {
            queues.closed = true;
        }
        self.0.ready.notify_all();
    }
}

fn next_job(shared: &Shared) -> Option<Job> {
    let mut queues = shared.queues.lock().ok()?;
    loop {
        if let Some(job) = queues.logins.pop_front() {
            return Some(job);
        }
        if let Some(job) = queues.background.pop_front() {
            return Some(job);
        }
        if queues.closed {
            return None;
        }
        queues = shared.ready.wait(queues).ok()?;
    }
}

impl PinWorkers {
    pub fn start() -> std::io::Result<PinWorkers> {
        let shared = Arc::new(Shared {
            queues: Mutex::new(Queues::default()),
            ready: Condvar::new(),
        });
        for n in 0..THREADS {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("gymgate-pin-{n}"))
                .spawn(move || {
                    while let Some(job) = next_job(&shared) {
                        match job {
                            Job::Hash(pin, reply) => {
                                let _ =
                                    reply.send(tokens::hash_pin(&pin).map_err(|e| e.to_string()));
                            }
                            Job::Verify(pin, hash, reply) => {
                                let _ = reply.send(tokens::verify_pin(&pin, &hash));
                            }
                        }
                    }
                })?;
        }
        Ok(PinWorkers {
            _handle: Arc::new(Closer(shared.clone())),
            shared,
        })
    }

    fn submit(&self, job: Job, priority: Priority) -> Result<(), AppError> {
        let mut queues = self
            .shared
            .queues
            .lock()
            .map_err(|_| AppError::Internal("PIN workers stopped".into()))?;
        let (queue, limit) = match priority {
            Priority::Login => (&mut queues.logins, QUEUE),
            Priority::Background => (&mut queues.background, BACKGROUND_QUEUE),
        };
        if queue.len() >= limit {
            return Err(AppError::RateLimited);
        }
        queue.push_back(job);
        drop(queues);
        self.shared.ready.notify_one();
        Ok(())
    }

    pub async fn hash(&self, pin: String) -> Result<String, AppError> {
        self.hash_with(pin, Priority::Login).await
    }

    pub async fn hash_with(&self, pin: String, priority: Priority) -> Result<String, AppError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Hash(pin, reply), priority)?;
        answer
            .await
            .map_err(|_| AppError::Internal("PIN worker gone".into()))?
            .map_err(|e| AppError::Internal(format!("cannot hash a PIN: {e}")))
    }

    pub async fn verify(&self, pin: String, hash: String) -> Result<bool, AppError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Verify(pin, hash, reply), Priority::Login)?;
        answer
            .await
            .map_err(|_| AppError::Internal("PIN worker gone".into()))
    }

    /// Jobs waiting now (both queues), for tests.
    pub fn waiting(&self) -> usize {
        self.shared
            .queues
            .lock()
            .map(|q| q.logins.len() + q.background.len())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_and_verifies_on_the_workers() {
        let workers = PinWorkers::start().expect("start");
        let hash = workers.hash("1234".into()).await.expect("hash");
        assert!(
            workers
                .verify("1234".into(), hash.clone())
                .await
                .expect("verify")
        );
        assert!(!workers.verify("4321".into(), hash).await.expect("verify"));
    }

    /// With background work queued, a login is taken before it.
    #[tokio::test]
    async fn logins_go_before_background_work() {
        let workers = PinWorkers::start().expect("start");
        let background: Vec<_> = (0..12)
            .map(|i| {
                let workers = workers.clone();
                tokio::spawn(async move {
                    workers
                        .hash_with(format!("{i:04}"), Priority::Background)
                        .await
                        .map(|_| std::time::Instant::now())
                })
            })
            .collect();
        // Let the background jobs reach the queue.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let login = workers.hash("9999".into()).await.expect("hash");
        let login_done = std::time::Instant::now();
        assert!(login.starts_with("$argon2"));
        let mut after = 0;
        for job in background {
            if job.await.expect("join").expect("hash") > login_done {
                after += 1;
            }
        }
        // Only the (at most two) jobs already running when it came could finish before it.
        assert!(
            after >= 9,
            "{after} of 12 background jobs finished after the login"
        );
    }
}
