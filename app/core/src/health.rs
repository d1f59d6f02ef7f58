//! What the desk tells the server about itself (issue 25): its starts and crashes of the
//! last day, free disk, cache errors, and the short reports it leaves on disk when it
//! panics or its cache fails, sent on the next connection. Reports hold the failure's own
//! words and place only: no token, PIN or member data is ever put in one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};
use gymgate_shared::protocol::{DeskReport, MAX_REPORT_CHARS};

/// Reports wait here until they are sent.
pub const REPORTS_DIR: &str = "reports";
/// Starts of the last day, and whether each followed a crash.
const STARTS_FILE: &str = "starts.json";
/// Present while the program runs; found at start, it means the last run did not stop.
const RUNNING_MARK: &str = "running";
/// Reports kept waiting at most (a desk crashing in a loop must not fill its disk).
const REPORTS_KEPT: usize = 20;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Starts {
    pub restarts_24h: u32,
    pub crashes_24h: u32,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Start {
    at: DateTime<Utc>,
    after_crash: bool,
}

/// Notes this start (and whether the run before ended without stopping) and marks the
/// program running. Best effort: a desk that cannot write here still runs.
pub fn note_start(data_dir: &Path, now: DateTime<Utc>) -> Starts {
    let mark = data_dir.join(RUNNING_MARK);
    let after_crash = mark.exists();
    let file = data_dir.join(STARTS_FILE);
    let mut starts: Vec<Start> = std::fs::read(&file)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    starts.retain(|s| now - s.at < chrono::Duration::hours(24) && s.at <= now);
    starts.push(Start {
        at: now,
        after_crash,
    });
    if let Ok(json) = serde_json::to_vec(&starts)
        && let Err(error) = write_atomically(&file, &json)
    {
        tracing::warn!(%error, "cannot note this start");
    }
    if let Err(error) = std::fs::write(&mark, now.to_rfc3339()) {
        tracing::warn!(%error, "cannot mark the desk running");
    }
    if after_crash {
        leave_report(
            data_dir,
            "crash",
            "the previous run ended without stopping (killed, crashed or the PC lost power)",
        );
    }
    Starts {
        // This start is not a restart; the ones before it in the day are.
        restarts_24h: starts.len().saturating_sub(1) as u32,
        crashes_24h: starts.iter().filter(|s| s.after_crash).count() as u32,
    }
}

/// Whether the run before this start ended without stopping (read before `note_start`
/// marks this one running).
pub fn ended_without_stopping(data_dir: &Path) -> bool {
    data_dir.join(RUNNING_MARK).exists()
}

/// The program is stopping as it should: the next start is not a crash.
pub fn note_clean_stop(data_dir: &Path) {
    let _ = std::fs::remove_file(data_dir.join(RUNNING_MARK));
}

/// A panic leaves a report (where and what, cut to size) before the usual hook runs.
pub fn install_panic_hook(data_dir: PathBuf) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let place = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current().name().unwrap_or("?").to_owned();
        leave_report(
            &data_dir,
            "panic",
            &format!(
                "version {} thread {thread} panicked at {place}: {what}",
                super::update::RUNNING
            ),
        );
        previous(info);
    }));
}

/// Writes a report to send on the next connection; the oldest go once too many wait.
pub fn leave_report(data_dir: &Path, kind: &str, text: &str) {
    let dir = data_dir.join(REPORTS_DIR);
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let report = DeskReport {
        at: Utc::now(),
        kind: kind.to_owned(),
        text: text.chars().take(MAX_REPORT_CHARS).collect(),
    };
    let name = format!(
        "{}-{}.json",
        report.at.format("%Y%m%dT%H%M%S%.6fZ"),
        rand::random::<u32>()
    );
    if let Ok(json) = serde_json::to_vec(&report) {
        let _ = write_atomically(&dir.join(name), &json);
    }
    let mut waiting = waiting(&dir);
    while waiting.len() > REPORTS_KEPT {
        let _ = std::fs::remove_file(waiting.remove(0));
    }
}

/// Waiting reports, oldest first; a file that cannot be read is removed.
pub fn take_reports(data_dir: &Path) -> Vec<(PathBuf, DeskReport)> {
    waiting(&data_dir.join(REPORTS_DIR))
        .into_iter()
        .filter_map(|path| {
            let report = std::fs::read(&path)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<DeskReport>(&bytes).ok());
            if report.is_none() {
                let _ = std::fs::remove_file(&path);
            }
            report.map(|r| (path, r))
        })
        .collect()
}

fn waiting(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}

/// Free space where the cache lives, in MB.
pub fn disk_free_mb(data_dir: &Path) -> Option<u64> {
    fs4::available_space(data_dir)
        .ok()
        .map(|bytes| bytes / (1024 * 1024))
}

/// Cache failures since start; the first of each minute also leaves a report.
#[derive(Debug, Clone, Default)]
pub struct CacheErrors {
    count: Arc<AtomicU32>,
    last_report_minute: Arc<std::sync::atomic::AtomicI64>,
}

impl CacheErrors {
    pub fn count(&self) -> u32 {
        self.count.load(Ordering::Relaxed)
    }

    /// Counts a failure; the report is written on a blocking thread (this runs on the
    /// async threads, in `CacheHandle::call`).
    pub fn note(&self, data_dir: &Path, error: &str) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let minute = Utc::now().timestamp() / 60;
        if self.last_report_minute.swap(minute, Ordering::Relaxed) != minute {
            let (dir, text) = (data_dir.to_owned(), error.to_owned());
            tokio::task::spawn_blocking(move || leave_report(&dir, "cache", &text));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_after_an_unclean_end_count_as_crashes_and_a_clean_stop_does_not() {
        let dir = tempfile::tempdir().expect("dir");
        let t = |h: i64| Utc::now() - chrono::Duration::hours(30) + chrono::Duration::hours(h);
        assert_eq!(note_start(dir.path(), t(0)), Starts::default());
        note_clean_stop(dir.path());
        assert_eq!(
            note_start(dir.path(), t(7)),
            Starts {
                restarts_24h: 1,
                crashes_24h: 0
            }
        );
        // No clean stop: killed. The next start says so and leaves a report; the start of
        // more than a day before is forgotten.
        assert_eq!(
            note_start(dir.path(), t(25)),
            Starts {
                restarts_24h: 1,
                crashes_24h: 1
            }
        );
        let reports = take_reports(dir.path());
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].1.kind, "crash");
        for (path, _) in reports {
            std::fs::remove_file(path).expect("sent");
        }
        assert!(take_reports(dir.path()).is_empty());
    }

    #[test]
    fn reports_are_cut_to_size_and_only_the_newest_wait() {
        let dir = tempfile::tempdir().expect("dir");
        leave_report(dir.path(), "cache", &"가".repeat(MAX_REPORT_CHARS + 10));
        for i in 0..REPORTS_KEPT + 5 {
            leave_report(dir.path(), "cache", &format!("failure {i}"));
        }
        std::fs::write(dir.path().join(REPORTS_DIR).join("zz.json"), b"{broken").expect("write");
        let reports = take_reports(dir.path());
        assert_eq!(reports.len(), REPORTS_KEPT, "the broken one is dropped");
        assert!(reports.iter().all(|(_, r)| r.text.starts_with("failure")));
        assert_eq!(
            reports.last().map(|(_, r)| r.text.as_str()),
            Some(format!("failure {}", REPORTS_KEPT + 4).as_str())
        );
        let long = DeskReport {
            at: Utc::now(),
            kind: "cache".into(),
            text: "가".repeat(MAX_REPORT_CHARS + 10),
        };
        assert!(long.text.chars().count() > MAX_REPORT_CHARS);
        leave_report(dir.path(), "cache", &long.text);
        let newest = take_reports(dir.path());
        let cut = newest.last().expect("one");
        assert_eq!(cut.1.text.chars().count(), MAX_REPORT_CHARS);
    }
}
