//! PIN hashing and checking (argon2) on a fixed pair of threads.
//!
//! Each argon2 call allocates ~19 MiB. Run on tokio's many blocking threads, every thread's
//! allocator arena keeps that memory afterwards (hundreds of MB after a burst of logins), and
//! a login flood could take the blocking pool from database reads. Two dedicated threads cap
//! both; a full queue answers "busy" at once instead of queueing without bound.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::error::AppError;
use crate::tokens;

const THREADS: usize = 2;
const QUEUE: usize = 256;

enum Job {
    Hash(String, oneshot::Sender<Result<String, String>>),
    Verify(String, String, oneshot::Sender<bool>),
}

#[derive(Clone)]
pub struct PinWorkers {
    jobs: mpsc::SyncSender<Job>,
}

impl PinWorkers {
    pub fn start() -> std::io::Result<PinWorkers> {
        let (jobs, queue) = mpsc::sync_channel::<Job>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..THREADS {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("gymgate-pin-{n}"))
                .spawn(move || {
                    loop {
                        // Ends when every sender is dropped.
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(Job::Hash(pin, reply)) => {
                                let _ =
                                    reply.send(tokens::hash_pin(&pin).map_err(|e| e.to_string()));
                            }
                            Ok(Job::Verify(pin, hash, reply)) => {
                                let _ = reply.send(tokens::verify_pin(&pin, &hash));
                            }
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(PinWorkers { jobs })
    }

    fn submit(&self, job: Job) -> Result<(), AppError> {
        self.jobs.try_send(job).map_err(|error| match error {
            mpsc::TrySendError::Full(_) => AppError::RateLimited,
            mpsc::TrySendError::Disconnected(_) => AppError::Internal("PIN workers stopped".into()),
        })
    }

    pub async fn hash(&self, pin: String) -> Result<String, AppError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Hash(pin, reply))?;
        answer
            .await
            .map_err(|_| AppError::Internal("PIN worker gone".into()))?
            .map_err(|e| AppError::Internal(format!("cannot hash a PIN: {e}")))
    }

    pub async fn verify(&self, pin: String, hash: String) -> Result<bool, AppError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Verify(pin, hash, reply))?;
        answer
            .await
            .map_err(|_| AppError::Internal("PIN worker gone".into()))
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
}
