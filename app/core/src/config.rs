//! The desk's pairing (server address and desk token) and its settings, as small JSON files
//! in the data directory. The token file is readable by the current user only.

use std::path::{Path, PathBuf};

use gymgate_shared::api::{ErrorBody, PairRequest, PairResponse};
use gymgate_shared::{CenterId, DeskId};
use serde::{Deserialize, Serialize};

const PAIRING_FILE: &str = "desk.json";
const SETTINGS_FILE: &str = "settings.json";
/// Pairings this PC had before, kept while check-ins made under them wait to be sent.
const PREVIOUS_DIR: &str = "previous-pairings";

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pairing {
    pub server_url: String,
    pub desk_id: DeskId,
    pub center_id: CenterId,
    pub desk_name: String,
    pub token: String,
    /// Every server node's address, as the server last said (several nodes share one
    /// database): when the one in use stops answering, the desk tries the next.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<String>,
}

impl Pairing {
    /// The addresses to try, the paired one first.
    pub fn addresses(&self) -> Vec<String> {
        let mut all = vec![self.server_url.clone()];
        for server in &self.servers {
            if !all.contains(server) {
                all.push(server.clone());
            }
        }
        all
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    #[default]
    Ko,
    En,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub sound: bool,
    pub language: Language,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            sound: true,
            language: Language::Ko,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid: {source}")]
    Invalid {
        path: PathBuf,
        source: serde_json::Error,
    },
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum PairError {
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    #[error("{message}")]
    Refused { code: String, message: String },
    #[error("the server address is not valid: {0}")]
    BadAddress(String),
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, ConfigError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| ConfigError::Invalid {
                    path: path.to_owned(),
                    source,
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes through a temporary file and a rename, so a crash never leaves half a file.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ConfigError> {
    let io = |source| ConfigError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).map_err(io)?;
        std::io::Write::write_all(&mut file, bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)
}

pub fn load_pairing(dir: &Path) -> Result<Option<Pairing>, ConfigError> {
    read_json(&dir.join(PAIRING_FILE))
}

pub fn save_pairing(dir: &Path, pairing: &Pairing) -> Result<(), ConfigError> {
    let bytes = serde_json::to_vec_pretty(pairing).map_err(|source| ConfigError::Invalid {
        path: dir.join(PAIRING_FILE),
        source,
    })?;
    write_private(&dir.join(PAIRING_FILE), &bytes)
}

/// Ends the pairing. The file is kept aside (still readable by this user only) under the
/// desk's id: check-ins this PC made under it and has not sent yet are sent as that desk's
/// (that center's) visits by the next pairing's core, never as its own.
pub fn remove_pairing(dir: &Path) -> Result<(), ConfigError> {
    let path = dir.join(PAIRING_FILE);
    let pairing = match load_pairing(dir) {
        Ok(Some(pairing)) => pairing,
        Ok(None) => return Ok(()),
        // Unreadable: nothing to keep.
        Err(_) => {
            return std::fs::remove_file(&path).map_err(|source| ConfigError::Io { path, source });
        }
    };
    let kept = previous_path(dir, &pairing.desk_id);
    if let Some(parent) = kept.parent() {
        std::fs::create_dir_all(parent).map_err(|source| ConfigError::Io {
            path: parent.to_owned(),
            source,
        })?;
    }
    std::fs::rename(&path, &kept).map_err(|source| ConfigError::Io { path, source })
}

fn previous_path(dir: &Path, desk: &DeskId) -> PathBuf {
    // Desk ids are UUIDs; anything else is not used as a file name.
    let name: String = desk
        .as_str()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    dir.join(PREVIOUS_DIR).join(format!("{name}.json"))
}

/// An earlier pairing of this PC, if it is still kept.
pub fn load_previous_pairing(dir: &Path, desk: &DeskId) -> Result<Option<Pairing>, ConfigError> {
    read_json(&previous_path(dir, desk))
}

/// Drops an earlier pairing once nothing of it is waiting (or it can never be used again).
pub fn forget_previous_pairing(dir: &Path, desk: &DeskId) -> Result<(), ConfigError> {
    let path = previous_path(dir, desk);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(ConfigError::Io { path, source: e })
        }
        _ => Ok(()),
    }
}

pub fn load_settings(dir: &Path) -> Settings {
    match read_json(&dir.join(SETTINGS_FILE)) {
        Ok(Some(settings)) => settings,
        Ok(None) => Settings::default(),
        Err(error) => {
            tracing::warn!(%error, "settings unreadable; using defaults");
            Settings::default()
        }
    }
}

pub fn save_settings(dir: &Path, settings: &Settings) -> Result<(), ConfigError> {
    let bytes = serde_json::to_vec_pretty(settings).map_err(|source| ConfigError::Invalid {
        path: dir.join(SETTINGS_FILE),
        source,
    })?;
    write_private(&dir.join(SETTINGS_FILE), &bytes)
}

/// Normalises what staff type: `192.168.0.10:8080` becomes `http://192.168.0.10:8080`.
pub fn normalize_server_url(text: &str) -> Result<String, PairError> {
    let text = text.trim();
    let (scheme, rest) = if let Some(rest) = text.strip_prefix("https://") {
        ("https", rest)
    } else if let Some(rest) = text.strip_prefix("http://") {
        ("http", rest)
    } else {
        ("http", text)
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() {
        return Err(PairError::BadAddress("no host given".into()));
    }
    let url = format!("{scheme}://{rest}");
    let parsed = reqwest::Url::parse(&url).map_err(|e| PairError::BadAddress(e.to_string()))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(PairError::BadAddress(url));
    }
    Ok(url)
}

/// Trades a pairing code for a desk token.
pub async fn pair(server_url: &str, code: &str, desk_name: &str) -> Result<Pairing, PairError> {
    let server_url = normalize_server_url(server_url)?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .map_err(|e| PairError::Unreachable(e.to_string()))?;
    let response = client
        .post(format!("{server_url}/api/v1/desks/pair"))
        .json(&PairRequest {
            code: code.trim().to_owned(),
            name: desk_name.trim().to_owned(),
        })
        .send()
        .await
        .map_err(|e| PairError::Unreachable(e.to_string()))?;
    if !response.status().is_success() {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        return Err(match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => PairError::Refused {
                code: body.error.code,
                message: body.error.message,
            },
            Err(_) => PairError::Refused {
                code: "http_error".into(),
                message: format!("HTTP {status}"),
            },
        });
    }
    let paired: PairResponse = response
        .json()
        .await
        .map_err(|e| PairError::Unreachable(e.to_string()))?;
    Ok(Pairing {
        server_url,
        desk_id: paired.desk_id,
        center_id: paired.center_id,
        desk_name: desk_name.trim().to_owned(),
        token: paired.token,
        servers: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairing_round_trips_and_is_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(load_pairing(dir.path()).expect("load"), None);
        let pairing = Pairing {
            server_url: "http://127.0.0.1:8080".into(),
            desk_id: DeskId::new("d"),
            center_id: CenterId::new("c"),
            desk_name: "1층".into(),
            token: "secret".into(),
            servers: Vec::new(),
        };
        save_pairing(dir.path(), &pairing).expect("save");
        assert_eq!(
            load_pairing(dir.path()).expect("load"),
            Some(pairing.clone())
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(PAIRING_FILE))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        remove_pairing(dir.path()).expect("remove");
        assert_eq!(load_pairing(dir.path()).expect("load"), None);
        // Kept aside under the desk's id, still private, until forgotten.
        assert_eq!(
            load_previous_pairing(dir.path(), &pairing.desk_id).expect("previous"),
            Some(pairing.clone())
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(previous_path(dir.path(), &pairing.desk_id))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        forget_previous_pairing(dir.path(), &pairing.desk_id).expect("forget");
        assert_eq!(
            load_previous_pairing(dir.path(), &pairing.desk_id).expect("previous"),
            None
        );
        std::fs::write(dir.path().join(PAIRING_FILE), "{not json").expect("write");
        assert!(load_pairing(dir.path()).is_err());
    }

    #[test]
    fn server_addresses_are_normalised() {
        assert_eq!(
            normalize_server_url(" 10.0.0.5:8080/ ").ok().as_deref(),
            Some("http://10.0.0.5:8080")
        );
        assert_eq!(
            normalize_server_url("https://gate.example.kr")
                .ok()
                .as_deref(),
            Some("https://gate.example.kr")
        );
        assert!(normalize_server_url("").is_err());
        assert!(normalize_server_url("http://").is_err());
    }
}

const PRESENCE_KEY_FILE: &str = "presence-key.json";

#[derive(serde::Serialize, serde::Deserialize)]
struct PresenceKeyFile {
    desk_id: String,
    /// base64url of the Ed25519 seed.
    seed: String,
}

/// The key this desk signs its presence codes with (`gymgate_shared::presence`), made the
/// first time the desk runs under a pairing and kept beside it, readable by this user only.
/// A new pairing (another desk id) gets a new key: the server keeps the first key each
/// pairing registers.
pub fn presence_key(
    dir: &Path,
    desk_id: &gymgate_shared::DeskId,
) -> Result<ed25519_dalek::SigningKey, ConfigError> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let path = dir.join(PRESENCE_KEY_FILE);
    // A damaged file is replaced: the next hello registers nothing new, so codes fail until the
    // desk is paired again, which operators see as refused presence taps.
    if let Some(kept) = read_json::<PresenceKeyFile>(&path).ok().flatten()
        && kept.desk_id == desk_id.as_str()
        && let Some(seed) = URL_SAFE_NO_PAD
            .decode(&kept.seed)
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
    {
        return Ok(ed25519_dalek::SigningKey::from_bytes(&seed));
    }
    let seed: [u8; 32] = rand::random();
    let file = PresenceKeyFile {
        desk_id: desk_id.to_string(),
        seed: URL_SAFE_NO_PAD.encode(seed),
    };
    let bytes = serde_json::to_vec(&file).map_err(|source| ConfigError::Invalid {
        path: path.clone(),
        source,
    })?;
    write_private(&path, &bytes)?;
    Ok(ed25519_dalek::SigningKey::from_bytes(&seed))
}
