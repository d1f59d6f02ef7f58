//! One desk program per data directory, and its log files.
//!
//! A second start on the same data directory would open a second cache on the same SQLite
//! files and a second link for the same desk (each resuming, each acking): the first start
//! holds an OS lock on `desk.lock` for as long as it runs, and a second start finds it
//! taken. The OS lets go of the lock when the process ends, however it ends, so a crash never
//! leaves a stale lock behind (unlike a PID file).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// How many daily log files are kept (today's included): two weeks for support to look back.
pub const LOG_DAYS: usize = 14;
const LOCK_FILE: &str = "desk.lock";
const LOG_PREFIX: &str = "desk.log";

/// Held while this program runs; dropping it lets another start.
#[derive(Debug)]
pub struct Instance {
    _lock: File,
}

#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    #[error("the desk is already running with this data directory")]
    AlreadyRunning,
    #[error("cannot lock {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Claims `data_dir` for this process, or says another desk program holds it.
pub fn claim(data_dir: &Path) -> Result<Instance, InstanceError> {
    let path = data_dir.join(LOCK_FILE);
    let io = |source| InstanceError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(io)?;
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => Ok(Instance { _lock: file }),
        Err(TryLockError::WouldBlock) => Err(InstanceError::AlreadyRunning),
        Err(TryLockError::Error(source)) => Err(io(source)),
    }
}

/// The desk's log: one file a day under `logs/`, the newest [`LOG_DAYS`] kept (older ones
/// are deleted at start and at each day's rollover).
pub fn log_files(
    data_dir: &Path,
) -> Result<tracing_appender::rolling::RollingFileAppender, tracing_appender::rolling::InitError> {
    tracing_appender::rolling::RollingFileAppender::builder()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix(LOG_PREFIX)
        .max_log_files(LOG_DAYS)
        .build(data_dir.join("logs"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_start_on_the_same_data_is_refused_until_the_first_ends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = claim(dir.path()).expect("the first start");
        assert!(
            matches!(claim(dir.path()), Err(InstanceError::AlreadyRunning)),
            "a second start finds the first"
        );
        let other = tempfile::tempdir().expect("tempdir");
        let _elsewhere = claim(other.path()).expect("another data directory is another desk");
        drop(first);
        claim(dir.path()).expect("once the first has ended, a new start runs");
    }

    #[test]
    fn log_files_are_kept_for_two_weeks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(&logs).expect("logs");
        for day in 1..=30 {
            std::fs::write(logs.join(format!("desk.log.2026-10-{day:02}")), "old\n")
                .expect("an old log");
        }
        std::fs::write(logs.join("notes.txt"), "staff's own file\n").expect("other file");
        let _appender = log_files(dir.path()).expect("the appender");
        let mut kept: Vec<String> = std::fs::read_dir(&logs)
            .expect("read logs")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.starts_with("desk.log"))
            .collect();
        kept.sort();
        assert_eq!(kept.len(), LOG_DAYS, "{kept:?}");
        let today = chrono::Utc::now().format("desk.log.%Y-%m-%d").to_string();
        assert!(kept.contains(&today), "today's file is there: {kept:?}");
        assert!(
            logs.join("notes.txt").exists(),
            "only the desk's own logs are pruned"
        );
    }
}
