//! The keys that sign offline passes, and issuing a pass certificate to a member's phone.
//!
//! Keys live in the data directory (`pass-keys/<unix seconds>.key`, 32 secret bytes, readable
//! by the server's user only), made on first start. The newest signs; every key in the folder
//! is published to desks, so a rotation is: start with a new key file in place (or remove them
//! all but the newest after 7 days, when every certificate of the old one has expired).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use ed25519_dalek::{SigningKey, VerifyingKey};
use gymgate_shared::api::PassCertificate;
use gymgate_shared::pass::{self, Certificate, PassKey};
use rand::RngCore;

use crate::store::members::MemberRow;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or write the pass keys in {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a pass key (32 bytes)")]
    Invalid { path: PathBuf },
}

pub struct PassSigner {
    signing: SigningKey,
    published: Vec<PassKey>,
}

impl std::fmt::Debug for PassSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassSigner")
            .field("published", &self.published)
            .finish()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

impl PassSigner {
    /// Reads the keys in `dir`, making the first one if there is none.
    pub fn load_or_create(dir: &Path) -> Result<PassSigner, KeyError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io(dir))?;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|e| e == "key"))
            .collect();
        if files.is_empty() {
            files.push(create_key(dir)?);
        }
        // Named by creation time: the last is the newest.
        files.sort();
        let mut keys = Vec::with_capacity(files.len());
        for path in &files {
            let bytes = std::fs::read(path).map_err(io(path))?;
            let secret: [u8; 32] = bytes
                .try_into()
                .map_err(|_| KeyError::Invalid { path: path.clone() })?;
            keys.push(SigningKey::from_bytes(&secret));
        }
        let published = keys
            .iter()
            .map(|k| PassKey::of(&k.verifying_key()))
            .collect();
        let signing = keys.pop().ok_or(KeyError::Invalid {
            path: dir.to_owned(),
        })?;
        Ok(PassSigner { signing, published })
    }

    /// The signer for keys kept in the database (PostgreSQL), oldest first: the newest signs.
    pub fn from_secrets(secrets: &[Vec<u8>]) -> Result<PassSigner, KeyError> {
        let invalid = || KeyError::Invalid {
            path: PathBuf::from("pass_keys table"),
        };
        let mut keys = Vec::with_capacity(secrets.len());
        for secret in secrets {
            let secret: [u8; 32] = secret.as_slice().try_into().map_err(|_| invalid())?;
            keys.push(SigningKey::from_bytes(&secret));
        }
        let published = keys
            .iter()
            .map(|k| PassKey::of(&k.verifying_key()))
            .collect();
        let signing = keys.pop().ok_or_else(invalid)?;
        Ok(PassSigner { signing, published })
    }

    /// A new key's id and secret bytes (for the database).
    pub fn new_secret() -> (String, [u8; 32]) {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let kid = PassKey::of(&SigningKey::from_bytes(&secret).verifying_key()).kid;
        (kid, secret)
    }

    /// Every public key a valid certificate may be signed with.
    pub fn keys(&self) -> &[PassKey] {
        &self.published
    }

    /// A certificate for `member`'s phone (`device_key`), valid for a week.
    pub fn issue(
        &self,
        member: &MemberRow,
        visits_left: Option<u32>,
        device_key: [u8; 32],
        now: DateTime<Utc>,
    ) -> PassCertificate {
        let verifying = self.signing.verifying_key();
        let certificate = Certificate {
            kid: pass::key_id(&verifying),
            member_id: member.id.clone(),
            name: member.name.clone(),
            plan: member.plan.clone(),
            valid_from: member.valid_from,
            valid_until: member.valid_until,
            visits_left,
            device_key,
            issued_at: now,
            expires_at: now + pass::MAX_VALIDITY,
        };
        let issued = certificate.issue(&self.signing);
        PassCertificate {
            certificate: issued,
            issued_at: certificate.issued_at,
            expires_at: certificate.expires_at,
            kid: PassKey::of(&verifying).kid,
        }
    }
}

/// A device key as the phone sends it (base64url, 32 bytes), if it is a usable Ed25519 key.
pub fn device_key(text: &str) -> Option<[u8; 32]> {
    use base64::Engine;
    let bytes: [u8; 32] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim())
        .ok()?
        .try_into()
        .ok()?;
    VerifyingKey::from_bytes(&bytes).ok()?;
    Some(bytes)
}

fn create_key(dir: &Path) -> Result<PathBuf, KeyError> {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let path = dir.join(format!("{}.key", Utc::now().timestamp()));
    let partial = path.with_extension("partial");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&partial).map_err(io(&partial))?;
        std::io::Write::write_all(&mut file, &secret).map_err(io(&partial))?;
        file.sync_all().map_err(io(&partial))?;
    }
    std::fs::rename(&partial, &path).map_err(io(&path))?;
    tracing::info!(path = %path.display(), "made a new key for offline passes");
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_kept_private_and_every_key_is_published() {
        let dir = tempfile::tempdir().expect("temp dir");
        let keys = dir.path().join("pass-keys");
        let first = PassSigner::load_or_create(&keys).expect("create");
        assert_eq!(first.keys().len(), 1);
        let again = PassSigner::load_or_create(&keys).expect("load");
        assert_eq!(again.keys(), first.keys(), "the same key after a restart");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for entry in std::fs::read_dir(&keys).expect("dir").flatten() {
                let mode = entry.metadata().expect("meta").permissions().mode();
                assert_eq!(mode & 0o077, 0, "{:?} readable by others", entry.path());
            }
        }
        // A rotation: a newer key signs, both are published.
        std::fs::write(keys.join("9999999999.key"), [5u8; 32]).expect("write");
        let rotated = PassSigner::load_or_create(&keys).expect("load");
        assert_eq!(rotated.keys().len(), 2);
        let newest = PassKey::of(&SigningKey::from_bytes(&[5u8; 32]).verifying_key());
        assert_eq!(rotated.keys().last(), Some(&newest));
        std::fs::write(keys.join("0.key"), [1u8; 3]).expect("write");
        assert!(matches!(
            PassSigner::load_or_create(&keys),
            Err(KeyError::Invalid { .. })
        ));
    }

    #[test]
    fn device_keys_must_be_ed25519_points() {
        use base64::Engine;
        let good = SigningKey::from_bytes(&[4u8; 32]).verifying_key();
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(good.as_bytes());
        assert_eq!(device_key(&text), Some(good.to_bytes()));
        assert_eq!(device_key("short"), None);
        assert_eq!(device_key(""), None);
    }
}
