//! Updates of the Windows desk: a release the server offers is checked against the release
//! keys built into this program (a server cannot make the desk run code nobody with the
//! release key signed), must be newer than this version and able to update it, and is
//! downloaded in the background — resumable, at a limited rate, its size and SHA-256 checked
//! — into `updates/<version>.exe`. What the desk is doing is reported in its health
//! (`downloading 0.2.0`, `ready 0.2.0`, `failed 0.2.0: bad_signature`), never asked of staff.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use gymgate_shared::hours::OpeningHours;
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

pub use super::install::RUNNING;

/// Download attempts of one offer before the desk waits for the next offer (a new
/// connection).
const ATTEMPTS: u32 = 8;

pub struct Updater {
    data_dir: PathBuf,
    dir: PathBuf,
    /// A release the helper rolled back: never taken again (a new release is).
    rolled_back: Option<String>,
    keys: Vec<ReleaseKey>,
    bytes_per_s: u64,
    status: Arc<Mutex<Option<String>>>,
    task: Mutex<Option<(String, tokio::task::JoinHandle<()>)>>,
    /// The daily Korean hours the rollout allows installing in (`None`: any time).
    quiet_hours: Mutex<Option<OpeningHours>>,
}

impl Updater {
    pub fn new(data_dir: &Path, keys: Vec<ReleaseKey>, bytes_per_s: u64) -> Updater {
        // The last update's outcome is reported until the next offer changes it.
        let outcome = super::install::outcome(data_dir);
        let status = outcome
            .as_ref()
            .filter(|o| !o.updated() || o.version == RUNNING)
            .map(super::install::Outcome::status);
        Updater {
            data_dir: data_dir.to_owned(),
            dir: data_dir.join("updates"),
            rolled_back: outcome.filter(|o| !o.updated()).map(|o| o.version),
            keys,
            bytes_per_s: bytes_per_s.max(1024),
            status: Arc::new(Mutex::new(status)),
            task: Mutex::default(),
            quiet_hours: Mutex::default(),
        }
    }

    /// Hands the downloaded release to the helper, which installs it once the desk has
    /// closed (the caller closes it when this returns the version).
    pub fn install(&self, args: Vec<String>) -> Result<String, super::install::InstallError> {
        let Some((version, installer)) = self.ready() else {
            return Err(super::install::InstallError::Helper(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no checked release is waiting",
            )));
        };
        super::install::hand_over(
            &self.data_dir,
            &version,
            &installer,
            args,
            super::install::TRIAL,
        )?;
        self.set(Some(format!("installing {version}")));
        Ok(version)
    }

    /// At a welcome: when this version is the update on trial, it is now installed.
    pub fn confirm_trial(&self) {
        if super::install::confirm(&self.data_dir) {
            self.set(Some(format!("updated {RUNNING}")));
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

    /// Whether a checked release waits and the rollout's hours allow installing it at `now`
    /// (the desk still waits for a quiet moment at its counter).
    pub fn due(&self, now: DateTime<Utc>) -> bool {
        let within = self
            .quiet_hours
            .lock()
            .map(|hours| hours.is_none_or(|h| h.covers(now)))
            .unwrap_or(true);
        within && self.ready().is_some()
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
        if let Ok(mut hours) = self.quiet_hours.lock() {
            *hours = offer.and_then(|o| o.quiet_hours);
        }
        let Some(offer) = offer else {
            if let Some((version, handle)) = task.take() {
                handle.abort();
                tracing::info!(%version, "update withdrawn by the server");
            }
            // A failure stays reported (operators see which desks failed a halted release), and
            // so does the update this version came with.
            if !self
                .status()
                .is_some_and(|s| s.starts_with("failed ") || s.starts_with("updated "))
            {
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
        if self.rolled_back.as_deref() == Some(manifest.version.as_str()) {
            // Taking it again would roll back again; the server hears why from the status.
            if !self.status().is_some_and(|s| s.starts_with("failed ")) {
                self.set(Some(format!("failed {}: rolled_back", manifest.version)));
            }
            return;
        }
        if let Some((version, handle)) = task.as_ref()
            && *version == manifest.version
            && !handle.is_finished()
        {
            return;
        }
        // Offered again (a new connection, other quiet hours): what was checked stays.
        if self
            .ready()
            .is_some_and(|(version, installer)| version == manifest.version && installer.is_file())
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{DateTime, Utc};
    use ed25519_dalek::SigningKey;
    use gymgate_shared::hours::OpeningHours;
    use gymgate_shared::protocol::UpdateOffer;
    use gymgate_shared::release::{Manifest, ReleaseKey, sha256_hex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::{RUNNING, Updater};
    use crate::config::Pairing;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[42u8; 32])
    }

    fn manifest(version: &str, bytes: &[u8]) -> Manifest {
        Manifest {
            version: version.into(),
            sha256: sha256_hex(bytes),
            size: bytes.len() as u64,
            min_from: "0.0.1".into(),
            notes_ko: "개선".into(),
            notes_en: "better".into(),
        }
    }

    fn pairing(server_url: String) -> Pairing {
        Pairing {
            server_url,
            desk_id: gymgate_shared::DeskId::new("desk-1"),
            center_id: gymgate_shared::CenterId::new("center-1"),
            desk_name: "데스크".into(),
            token: "token".into(),
            servers: vec![],
        }
    }

    async fn settled(updater: &Updater, want: &str) -> Option<String> {
        for _ in 0..200 {
            if updater.status().as_deref() == Some(want) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        updater.status()
    }

    /// Serves `bytes` to every request, like a server (or whatever stands in for one) would.
    async fn serve(bytes: Vec<u8>) -> std::io::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    bytes.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&bytes).await;
            }
        });
        Ok(format!("http://{address}"))
    }

    #[tokio::test]
    async fn a_release_this_desk_cannot_trust_is_refused_before_any_download() -> anyhow::Result<()>
    {
        let dir = tempfile::tempdir()?;
        let updater = Updater::new(dir.path(), vec![ReleaseKey::of(&key())], 1 << 20);
        let pairing = pairing("http://127.0.0.1:9".into());
        let bytes = b"MZ installer".to_vec();
        let offer = |release| UpdateOffer {
            release,
            url: "/api/v1/desk/releases/x/installer".into(),
            quiet_hours: None,
        };
        let stranger = SigningKey::from_bytes(&[7u8; 32]);
        updater.offer(
            &pairing,
            Some(&offer(manifest("9.0.0", &bytes).sign(&stranger)?)),
        );
        assert_eq!(
            updater.status().as_deref(),
            Some("failed 9.0.0: unknown_key")
        );
        let mut tampered = manifest("9.0.0", &bytes).sign(&key())?;
        tampered.manifest = tampered.manifest.replace("9.0.0", "9.0.1");
        updater.offer(&pairing, Some(&offer(tampered)));
        assert_eq!(
            updater.status().as_deref(),
            Some("failed 9.0.1: bad_signature")
        );
        updater.offer(
            &pairing,
            Some(&offer(manifest("0.0.1", &bytes).sign(&key())?)),
        );
        assert_eq!(updater.status().as_deref(), Some("failed 0.0.1: downgrade"));
        assert!(
            !dir.path().join("updates").exists(),
            "nothing was downloaded"
        );
        Ok(())
    }

    #[tokio::test]
    async fn an_installer_that_is_not_the_signed_one_is_refused_and_removed() -> anyhow::Result<()>
    {
        let dir = tempfile::tempdir()?;
        let updater = Updater::new(dir.path(), vec![ReleaseKey::of(&key())], 1 << 20);
        let signed = b"MZ the signed installer".to_vec();
        let mut served = signed.clone();
        served[5] ^= 1;
        let url = serve(served).await?;
        let offer = UpdateOffer {
            release: manifest("9.0.0", &signed).sign(&key())?,
            url: "/installer".into(),
            quiet_hours: None,
        };
        updater.offer(&pairing(url.clone()), Some(&offer));
        let status = settled(&updater, "failed 9.0.0: wrong_installer").await;
        assert_eq!(status.as_deref(), Some("failed 9.0.0: wrong_installer"));
        let updates = dir.path().join("updates");
        assert!(!updates.join("9.0.0.exe").exists() && !updates.join("9.0.0.part").exists());
        assert!(updater.ready().is_none());

        // The real one is taken.
        let url = serve(signed.clone()).await?;
        updater.offer(&pairing(url), Some(&offer));
        assert_eq!(
            settled(&updater, "ready 9.0.0").await.as_deref(),
            Some("ready 9.0.0")
        );
        assert_eq!(std::fs::read(updates.join("9.0.0.exe"))?, signed);
        let at = |text: &str| -> anyhow::Result<DateTime<Utc>> {
            Ok(DateTime::parse_from_rfc3339(text)?.with_timezone(&Utc))
        };
        assert!(
            updater.due(at("2026-12-03T05:00:00Z")?),
            "no hours: any time"
        );

        // The rollout now says 02:00–05:00 Korean time: the same download waits for them.
        let in_hours = UpdateOffer {
            quiet_hours: OpeningHours::parse_window("02:00-05:00"),
            ..offer.clone()
        };
        updater.offer(&pairing(serve(signed).await?), Some(&in_hours));
        assert_eq!(updater.status().as_deref(), Some("ready 9.0.0"));
        assert!(!updater.due(at("2026-12-03T05:00:00Z")?), "14:00 KST");
        assert!(updater.due(at("2026-12-03T17:30:00Z")?), "02:30 KST");
        assert!(!updater.due(at("2026-12-03T20:00:00Z")?), "05:00 KST");
        // Withdrawn: nothing is due at any hour.
        updater.offer(&pairing("http://127.0.0.1:9".into()), None);
        assert!(!updater.due(at("2026-12-03T17:30:00Z")?));
        Ok(())
    }

    #[tokio::test]
    async fn the_helpers_outcome_is_reported_and_a_rolled_back_release_is_not_taken_again()
    -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let updates = dir.path().join("updates");
        std::fs::create_dir_all(&updates)?;
        std::fs::write(
            updates.join("outcome.json"),
            r#"{"version":"9.0.0","result":"rolled_back_crash"}"#,
        )?;
        let updater = Updater::new(dir.path(), vec![ReleaseKey::of(&key())], 1 << 20);
        assert_eq!(
            updater.status().as_deref(),
            Some("failed 9.0.0: rolled_back_crash")
        );
        let bytes = b"MZ".to_vec();
        let url = serve(bytes.clone()).await?;
        let offer = UpdateOffer {
            release: manifest("9.0.0", &bytes).sign(&key())?,
            url: "/installer".into(),
            quiet_hours: None,
        };
        updater.offer(&pairing(url), Some(&offer));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            updater.status().as_deref(),
            Some("failed 9.0.0: rolled_back_crash")
        );
        assert!(!updates.join("9.0.0.exe").exists(), "not downloaded again");
        // Withdrawn: the failure stays reported.
        updater.offer(&pairing("http://127.0.0.1:9".into()), None);
        assert_eq!(
            updater.status().as_deref(),
            Some("failed 9.0.0: rolled_back_crash")
        );

        std::fs::write(
            updates.join("outcome.json"),
            format!(r#"{{"version":"{RUNNING}","result":"updated"}}"#),
        )?;
        let updater = Updater::new(dir.path(), vec![], 1 << 20);
        assert_eq!(updater.status(), Some(format!("updated {RUNNING}")));
        updater.offer(&pairing("http://127.0.0.1:9".into()), None);
        assert_eq!(updater.status(), Some(format!("updated {RUNNING}")));
        Ok(())
    }

    /// The helper writes its outcome only once the new version has connected, after that
    /// version read the data folder at its start: the new version tells its own update from
    /// the handover it confirms (the first CI run of the Wine update test showed the desk on
    /// the new version reporting nothing).
    #[test]
    fn the_update_on_trial_reports_itself_installed_at_its_first_welcome() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let updates = dir.path().join("updates");
        std::fs::create_dir_all(&updates)?;
        let handover = super::super::install::Handover {
            from: "0.0.1".into(),
            to: RUNNING.into(),
            installer: updates.join(format!("{RUNNING}.exe")),
            program: dir.path().join("gymgate-desk.exe"),
            previous: updates.join("previous").join("0.0.1-gymgate-desk.exe"),
            args: vec![],
            trial_s: 300,
        };
        std::fs::write(
            updates.join("handover.json"),
            serde_json::to_vec(&handover)?,
        )?;
        let updater = Updater::new(dir.path(), vec![], 1 << 20);
        assert_eq!(
            updater.status(),
            None,
            "no outcome yet: the helper is waiting"
        );
        updater.confirm_trial();
        assert_eq!(updater.status(), Some(format!("updated {RUNNING}")));
        assert_eq!(std::fs::read_to_string(updates.join("confirmed"))?, RUNNING);
        // Nothing offered afterwards (the server offers only newer versions): it stays said.
        updater.offer(&pairing("http://127.0.0.1:9".into()), None);
        assert_eq!(updater.status(), Some(format!("updated {RUNNING}")));

        // A desk on another version (the one rolled back to) confirms nothing.
        let other = tempfile::tempdir()?;
        let other_updates = other.path().join("updates");
        std::fs::create_dir_all(&other_updates)?;
        let handover = super::super::install::Handover {
            to: "99.0.0".into(),
            ..handover
        };
        std::fs::write(
            other_updates.join("handover.json"),
            serde_json::to_vec(&handover)?,
        )?;
        let updater = Updater::new(other.path(), vec![], 1 << 20);
        updater.confirm_trial();
        assert_eq!(updater.status(), None);
        assert!(!other_updates.join("confirmed").exists());
        Ok(())
    }
}
