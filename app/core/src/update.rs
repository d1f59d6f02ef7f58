//! Updates of the Windows desk: a release the server offers is checked against the release
//! keys built into this program (a server cannot make the desk run code nobody with the
//! release key signed), must be newer than this version and able to update it, and is
//! downloaded in the background — resumable, at a limited rate, its size and SHA-256 checked
//! — into `updates/<version>.exe`. What the desk is doing is reported in its health
//! (`downloading 0.2.0`, `ready 0.2.0`, `failed 0.2.0: bad_signature`), never asked of staff.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gymgate_shared::protocol::UpdateOffer;
use gymgate_shared::release::{Manifest, ReleaseKey};
use tokio::io::AsyncWriteExt;

use super::config::Pairing;

/// The release public keys this program was built with (`GYMGATE_RELEASE_KEYS` at build
/// time, comma-separated). A build without them takes no update.
pub fn built_in_keys() -> Vec<ReleaseKey> {
    gymgate_shared::release::parse_keys(option_env!("GYMGATE_RELEASE_KEYS").unwrap_or(""))
        .unwrap_or_default()
}

/// This program's version, as it says in `hello`.
pub const RUNNING: &str = env!("CARGO_PKG_VERSION");

/// Download attempts of one offer before the desk waits for the next offer (a new
/// connection).
const ATTEMPTS: u32 = 8;

pub struct Updater {
    dir: PathBuf,
    keys: Vec<ReleaseKey>,
    bytes_per_s: u64,
    status: Arc<Mutex<Option<String>>>,
    task: Mutex<Option<(String, tokio::task::JoinHandle<()>)>>,
}

impl Updater {
    pub fn new(data_dir: &Path, keys: Vec<ReleaseKey>, bytes_per_s: u64) -> Updater {
        Updater {
            dir: data_dir.join("updates"),
            keys,
            bytes_per_s: bytes_per_s.max(1024),
            status: Arc::default(),
            task: Mutex::default(),
        }
    }

    /// What the desk reports in its health.
    pub fn status(&self) -> Option<String> {
        self.status.lock().ok().and_then(|s| s.clone())
    }

    /// The verified installer waiting to be installed, if any.
    pub fn ready(&self) -> Option<(String, PathBuf)> {
        let status = self.status()?;
        let version = status.strip_prefix("ready ")?;
        Some((version.to_owned(), self.dir.join(format!("{version}.exe"))))
    }

    fn set(&self, status: Option<String>) {
        set(&self.status, status);
    }

    /// The server's offer (in `welcome` or an `update` message): `None` stops a download and
    /// withdraws a downloaded release from installing.
    pub fn offer(&self, pairing: &Pairing, offer: Option<&UpdateOffer>) {
        let Ok(mut task) = self.task.lock() else {
            return;
        };
        let Some(offer) = offer else {
            if let Some((version, handle)) = task.take() {
                handle.abort();
                tracing::info!(%version, "update withdrawn by the server");
            }
            // A failure stays reported (operators see which desks failed a halted release).
            if !self.status().is_some_and(|s| s.starts_with("failed ")) {
                self.set(None);
            }
            return;
        };
        let manifest = match offer.release.verify_for(&self.keys, RUNNING) {
            Ok(manifest) => manifest,
            Err(error) => {
                let version = serde_json::from_str::<Manifest>(&offer.release.manifest)
                    .map(|m| m.version)
                    .unwrap_or_else(|_| "?".into());
                tracing::warn!(%version, %error, "update refused");
                self.set(Some(format!("failed {version}: {}", error.code())));
                return;
            }
        };
        if let Some((version, handle)) = task.as_ref()
            && *version == manifest.version
            && !handle.is_finished()
        {
            return;
        }
        if let Some((_, handle)) = task.take() {
            handle.abort();
        }
        self.set(Some(format!("downloading {}", manifest.version)));
        let job = Download {
            url: format!("{}{}", pairing.server_url, offer.url),
            token: pairing.token.clone(),
            dir: self.dir.clone(),
            bytes_per_s: self.bytes_per_s,
            status: self.status.clone(),
        };
        let version = manifest.version.clone();
        *task = Some((version, tokio::spawn(job.run(manifest))));
    }
}

fn set(status: &Mutex<Option<String>>, value: Option<String>) {
    if let Ok(mut status) = status.lock() {
        *status = value;
    }
}

struct Download {
    url: String,
    token: String,
    dir: PathBuf,
    bytes_per_s: u64,
    status: Arc<Mutex<Option<String>>>,
}

#[derive(Debug)]
enum Failure {
    /// Worth another try (the network, the server busy).
    Transient(String),
    /// The file is not the release (size, hash): refused.
    WrongInstaller,
}

impl Download {
    async fn run(self, manifest: Manifest) {
        let version = manifest.version.clone();
        let ready = self.dir.join(format!("{version}.exe"));
        // Downloaded and checked before (the desk restarted before installing).
        if let Ok(bytes) = tokio::fs::read(&ready).await
            && manifest.matches(&bytes).is_ok()
        {
            set(&self.status, Some(format!("ready {version}")));
            return;
        }
        let mut wait = Duration::from_secs(2);
        for attempt in 1..=ATTEMPTS {
            match self.fetch(&manifest, &ready).await {
                Ok(()) => {
                    tracing::info!(%version, "update downloaded and checked");
                    set(&self.status, Some(format!("ready {version}")));
                    return;
                }
                Err(Failure::WrongInstaller) => {
                    tracing::warn!(%version, "the downloaded installer is not the signed release");
                    set(
                        &self.status,
                        Some(format!("failed {version}: wrong_installer")),
                    );
                    return;
                }
                Err(Failure::Transient(why)) => {
                    tracing::warn!(%version, attempt, %why, "update download interrupted");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(120));
                }
            }
        }
        set(&self.status, Some(format!("waiting {version}: download")));
    }

    /// Downloads (resuming a partial file) and checks; the checked file is renamed in place.
    async fn fetch(&self, manifest: &Manifest, ready: &Path) -> Result<(), Failure> {
        let transient = |e: &dyn std::fmt::Display| Failure::Transient(e.to_string());
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| transient(&e))?;
        let part = self.dir.join(format!("{}.part", manifest.version));
        let have = tokio::fs::metadata(&part)
            .await
            .map(|m| m.len())
            .unwrap_or(0);
        if have > manifest.size {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(Failure::Transient(
                "a partial file larger than the release".into(),
            ));
        }
        if have < manifest.size {
            let client = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .read_timeout(Duration::from_secs(30))
                .build()
                .map_err(|e| transient(&e))?;
            let mut request = client.get(&self.url).bearer_auth(&self.token);
            if have > 0 {
                request = request.header(reqwest::header::RANGE, format!("bytes={have}-"));
            }
            let mut response = request
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|e| transient(&e))?;
            // A server that ignored the range sends it all: start the file again.
            let resumed = response.status() == reqwest::StatusCode::PARTIAL_CONTENT;
            let mut file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(resumed)
                .write(true)
                .truncate(!resumed)
                .open(&part)
                .await
                .map_err(|e| transient(&e))?;
            let mut written = if resumed { have } else { 0 };
            let started = tokio::time::Instant::now();
            let mut this_time = 0u64;
            while let Some(chunk) = response.chunk().await.map_err(|e| transient(&e))? {
                written += chunk.len() as u64;
                if written > manifest.size {
                    drop(file);
                    let _ = tokio::fs::remove_file(&part).await;
                    return Err(Failure::WrongInstaller);
                }
                file.write_all(&chunk).await.map_err(|e| transient(&e))?;
                this_time += chunk.len() as u64;
                // The front desk's internet is also the members' check-ins: keep to the rate.
                let due = Duration::from_secs_f64(this_time as f64 / self.bytes_per_s as f64);
                if let Some(ahead) = due.checked_sub(started.elapsed()) {
                    tokio::time::sleep(ahead).await;
                }
            }
            file.sync_all().await.map_err(|e| transient(&e))?;
            if written < manifest.size {
                return Err(Failure::Transient(format!(
                    "the download stopped at {written} of {} bytes",
                    manifest.size
                )));
            }
        }
        let bytes = tokio::fs::read(&part).await.map_err(|e| transient(&e))?;
        let checked = manifest.clone();
        let matches = tokio::task::spawn_blocking(move || checked.matches(&bytes).is_ok())
            .await
            .unwrap_or(false);
        if !matches {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(Failure::WrongInstaller);
        }
        tokio::fs::rename(&part, ready)
            .await
            .map_err(|e| transient(&e))
    }
}
