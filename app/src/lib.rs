//! The gymgate center program: [`core`] (cache, outbox, link, sync; no widgets) and [`ui`]
//! (iced screens that only draw and map messages).

pub mod core;
pub mod sound;
pub mod ui;

use std::path::{Path, PathBuf};

/// The user's data directory for the desk (a `demo` folder for `--demo`, so trying the demo
/// never touches a real pairing).
pub fn default_data_dir(demo: bool) -> PathBuf {
    let base = directories::ProjectDirs::from("kr", "gymgate", "gymgate-desk")
        .map(|dirs| dirs.data_dir().to_owned())
        .unwrap_or_else(|| PathBuf::from("gymgate-desk-data"));
    if demo { base.join("demo") } else { base }
}

/// Logs to a daily rolling file in the data directory (and to stderr in debug builds).
pub fn init_logging(data_dir: &Path) -> tracing_appender::non_blocking::WorkerGuard {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let appender = tracing_appender::rolling::daily(data_dir.join("logs"), "desk.log");
    let (file, guard) = tracing_appender::non_blocking(appender);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,wgpu=warn,iced=warn"));
    let registry = tracing_subscriber::registry().with(filter).with(
        tracing_subscriber::fmt::layer()
            .with_writer(file)
            .with_ansi(false),
    );
    if cfg!(debug_assertions) {
        registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .init();
    } else {
        registry.init();
    }
    guard
}
