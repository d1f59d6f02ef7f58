//! Runs the cache on a thread of its own. Callers send closures and await their results, so
//! SQLite never blocks iced's `update()` or a tokio worker.

use std::path::Path;
use std::sync::mpsc;
use std::thread;

use tokio::sync::oneshot;

use super::cache::{Cache, CacheError, Recovered};

type Job = Box<dyn FnOnce(&mut Cache) + Send>;

#[derive(Clone, Debug)]
pub struct CacheHandle {
    jobs: mpsc::Sender<Job>,
    /// Failed calls, for the desk's health; the folder their reports go to.
    errors: crate::health::CacheErrors,
    data_dir: std::path::PathBuf,
}

impl CacheHandle {
    /// Opens the cache on its thread; reports whether a damaged file had to be replaced.
    pub async fn open(path: &Path) -> Result<(CacheHandle, Option<Recovered>), CacheError> {
        let data_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let path = path.to_owned();
        let (opened, answer) = oneshot::channel();
        let (jobs, queue) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("gymgate-cache".into())
            .spawn(move || match Cache::open(&path) {
                Ok((mut cache, recovered)) => {
                    let _ = opened.send(Ok(recovered));
                    // Ends when every handle is dropped.
                    while let Ok(job) = queue.recv() {
                        job(&mut cache);
                    }
                }
                Err(error) => {
                    let _ = opened.send(Err(error));
                }
            })
            .map_err(|source| CacheError::Io {
                path: "gymgate-cache thread".into(),
                source,
            })?;
        let recovered = answer.await.map_err(|_| CacheError::Gone)??;
        Ok((
            CacheHandle {
                jobs,
                errors: Default::default(),
                data_dir,
            },
            recovered,
        ))
    }

    pub async fn call<T, F>(&self, f: F) -> Result<T, CacheError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Cache) -> Result<T, CacheError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Box::new(move |cache| {
                let _ = reply.send(f(cache));
            }))
            .map_err(|_| CacheError::Gone)?;
        let result = answer.await.map_err(|_| CacheError::Gone)?;
        if let Err(error) = &result
            && !matches!(error, CacheError::Gone)
        {
            self.errors.note(&self.data_dir, &error.to_string());
        }
        result
    }

    /// Calls that failed since the program started.
    pub fn errors(&self) -> u32 {
        self.errors.count()
    }
}
