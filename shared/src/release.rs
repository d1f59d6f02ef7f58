//! Releases of the Windows desk: a manifest (version, the installer's SHA-256 and size, the
//! oldest version it updates from, notes) signed with a release key that lives where releases
//! are made, never on the server. Desks carry the release public keys in their binary, so a
//! server that was broken into can hand out nothing a desk will run.
//!
//! The signature covers the manifest's exact JSON text (kept as a string on the wire), with a
//! domain prefix so a release signature can never pass for anything else.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const DOMAIN: &[u8] = b"gymgate-release-v1\n";

/// What a release is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: String,
    /// Lower-case hex SHA-256 of the installer.
    pub sha256: String,
    /// The installer's size in bytes.
    pub size: u64,
    /// Desks older than this must be reinstalled by hand (the installer cannot update them).
    pub min_from: String,
    pub notes_ko: String,
    pub notes_en: String,
}

/// A manifest as signed: its JSON text, the signing key's id and the signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedManifest {
    pub manifest: String,
    pub key_id: String,
    /// base64url of the 64-byte Ed25519 signature.
    pub signature: String,
}

/// A release public key (base64url of the 32-byte Ed25519 key); its id is the first 8 bytes
/// of its SHA-256, base64url.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseKey {
    pub key_id: String,
    key: VerifyingKey,
}

impl ReleaseKey {
    pub fn parse(public_key: &str) -> Option<ReleaseKey> {
        let bytes: [u8; 32] = URL_SAFE_NO_PAD
            .decode(public_key.trim())
            .ok()?
            .try_into()
            .ok()?;
        let key = VerifyingKey::from_bytes(&bytes).ok()?;
        Some(ReleaseKey {
            key_id: key_id(&key),
            key,
        })
    }

    pub fn of(signing: &SigningKey) -> ReleaseKey {
        let key = signing.verifying_key();
        ReleaseKey {
            key_id: key_id(&key),
            key,
        }
    }

    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.as_bytes())
    }
}

fn key_id(key: &VerifyingKey) -> String {
    URL_SAFE_NO_PAD.encode(&Sha256::digest(key.as_bytes())[..8])
}

/// Keys from a comma- or newline-separated list of public keys; unreadable entries are
/// reported by their position.
pub fn parse_keys(list: &str) -> Result<Vec<ReleaseKey>, String> {
    list.split([',', '\n'])
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .enumerate()
        .map(|(n, k)| {
            ReleaseKey::parse(k).ok_or(format!("release key {} is not a public key", n + 1))
        })
        .collect()
}

/// Why a release is refused (the desk reports the code; staff never see it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    #[error("no release key of this desk signed it")]
    UnknownKey,
    #[error("the signature does not match the manifest")]
    BadSignature,
    #[error("the manifest cannot be read")]
    Malformed,
    #[error("not newer than the version running")]
    NotNewer,
    #[error("this version cannot update from the one running")]
    TooOld,
    #[error("the installer's size or SHA-256 differs from the manifest")]
    WrongInstaller,
}

impl ReleaseError {
    pub fn code(self) -> &'static str {
        match self {
            ReleaseError::UnknownKey => "unknown_key",
            ReleaseError::BadSignature => "bad_signature",
            ReleaseError::Malformed => "malformed_manifest",
            ReleaseError::NotNewer => "downgrade",
            ReleaseError::TooOld => "too_old_to_update",
            ReleaseError::WrongInstaller => "wrong_installer",
        }
    }
}

impl Manifest {
    /// Signs this manifest (run where the release key is: `gymgate-server release sign`).
    pub fn sign(&self, key: &SigningKey) -> Result<SignedManifest, serde_json::Error> {
        let manifest = serde_json::to_string(self)?;
        let signature = key.sign(&[DOMAIN, manifest.as_bytes()].concat());
        Ok(SignedManifest {
            manifest,
            key_id: ReleaseKey::of(key).key_id,
            signature: URL_SAFE_NO_PAD.encode(signature.to_bytes()),
        })
    }

    /// Whether `installer` is the file this manifest names.
    pub fn matches(&self, installer: &[u8]) -> Result<(), ReleaseError> {
        if installer.len() as u64 != self.size || sha256_hex(installer) != self.sha256 {
            return Err(ReleaseError::WrongInstaller);
        }
        Ok(())
    }
}

impl SignedManifest {
    /// The manifest, if one of `keys` signed it.
    pub fn verify(&self, keys: &[ReleaseKey]) -> Result<Manifest, ReleaseError> {
        let key = keys
            .iter()
            .find(|k| k.key_id == self.key_id)
            .ok_or(ReleaseError::UnknownKey)?;
        let bytes: [u8; 64] = URL_SAFE_NO_PAD
            .decode(&self.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(ReleaseError::BadSignature)?;
        key.key
            .verify(
                &[DOMAIN, self.manifest.as_bytes()].concat(),
                &Signature::from_bytes(&bytes),
            )
            .map_err(|_| ReleaseError::BadSignature)?;
        let manifest: Manifest =
            serde_json::from_str(&self.manifest).map_err(|_| ReleaseError::Malformed)?;
        if version_key(&manifest.version).is_none() || version_key(&manifest.min_from).is_none() {
            return Err(ReleaseError::Malformed);
        }
        Ok(manifest)
    }

    /// Verified, and an update for a desk running `running`: newer, and able to update it.
    pub fn verify_for(&self, keys: &[ReleaseKey], running: &str) -> Result<Manifest, ReleaseError> {
        let manifest = self.verify(keys)?;
        let (Some(new), Some(now), Some(min)) = (
            version_key(&manifest.version),
            version_key(running),
            version_key(&manifest.min_from),
        ) else {
            return Err(ReleaseError::Malformed);
        };
        if new <= now {
            return Err(ReleaseError::NotNewer);
        }
        if now < min {
            return Err(ReleaseError::TooOld);
        }
        Ok(manifest)
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A version's numbers (`0.1.10` → [0, 1, 10]; the browser desk's `web-0.1.0` → [0, 1, 0]),
/// compared as numbers. `None` for one without numbers.
pub fn version_key(version: &str) -> Option<Vec<u64>> {
    let numbers = version
        .trim()
        .trim_start_matches(|c: char| !c.is_ascii_digit());
    let numbers = numbers.split(['-', '+']).next()?;
    numbers
        .split('.')
        .map(|part| part.parse().ok())
        .collect::<Option<Vec<u64>>>()
        .filter(|key| !key.is_empty())
}

/// A desk's place in a percentage rollout, 0–99, the same on every node and every day.
pub fn cohort(desk_id: &str) -> u8 {
    let digest = Sha256::digest([b"gymgate-cohort\n", desk_id.as_bytes()].concat());
    (u16::from_be_bytes([digest[0], digest[1]]) % 100) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn manifest() -> Manifest {
        Manifest {
            version: "0.3.0".into(),
            sha256: sha256_hex(b"installer"),
            size: 9,
            min_from: "0.2.0".into(),
            notes_ko: "오류 수정".into(),
            notes_en: "fixes".into(),
        }
    }

    #[test]
    fn a_signed_manifest_verifies_only_with_its_key_and_unchanged() {
        let signed = manifest().sign(&key(1)).expect("sign");
        let keys = [ReleaseKey::of(&key(2)), ReleaseKey::of(&key(1))];
        assert_eq!(signed.verify(&keys), Ok(manifest()));
        assert_eq!(
            signed.verify(&[ReleaseKey::of(&key(2))]),
            Err(ReleaseError::UnknownKey)
        );
        let mut tampered = signed.clone();
        tampered.manifest = tampered.manifest.replace("0.3.0", "0.9.0");
        assert_eq!(tampered.verify(&keys), Err(ReleaseError::BadSignature));
        // A signature by another key under the right key's id.
        let mut forged = manifest().sign(&key(3)).expect("sign");
        forged.key_id = signed.key_id.clone();
        assert_eq!(forged.verify(&keys), Err(ReleaseError::BadSignature));
        let mut garbled = signed.clone();
        garbled.signature = "not base64!".into();
        assert_eq!(garbled.verify(&keys), Err(ReleaseError::BadSignature));
    }

    #[test]
    fn a_desk_takes_only_newer_releases_it_can_update_from() {
        let signed = manifest().sign(&key(1)).expect("sign");
        let keys = [ReleaseKey::of(&key(1))];
        assert!(signed.verify_for(&keys, "0.2.5").is_ok());
        assert_eq!(
            signed.verify_for(&keys, "0.3.0"),
            Err(ReleaseError::NotNewer)
        );
        assert_eq!(
            signed.verify_for(&keys, "0.10.0"),
            Err(ReleaseError::NotNewer)
        );
        assert_eq!(signed.verify_for(&keys, "0.1.9"), Err(ReleaseError::TooOld));
        assert_eq!(manifest().matches(b"installer"), Ok(()));
        assert_eq!(
            manifest().matches(b"installeR"),
            Err(ReleaseError::WrongInstaller)
        );
        assert_eq!(
            manifest().matches(b"install"),
            Err(ReleaseError::WrongInstaller)
        );
    }

    #[test]
    fn keys_parse_from_a_list_and_cohorts_spread() {
        let list = format!(
            "{}, {}\n",
            ReleaseKey::of(&key(1)).public_key(),
            ReleaseKey::of(&key(2)).public_key()
        );
        assert_eq!(parse_keys(&list).expect("two keys").len(), 2);
        assert_eq!(
            parse_keys("abc").err().as_deref(),
            Some("release key 1 is not a public key")
        );
        let mut buckets = [0u32; 10];
        for n in 0..10_000 {
            buckets[usize::from(cohort(&format!("desk-{n}")) / 10)] += 1;
        }
        assert!(
            buckets.iter().all(|&b| (800..1200).contains(&b)),
            "{buckets:?}"
        );
        assert_eq!(cohort("desk-1"), cohort("desk-1"));
        assert_eq!(version_key("web-0.1.10"), Some(vec![0, 1, 10]));
        assert_eq!(version_key("test-desk"), None);
    }
}
