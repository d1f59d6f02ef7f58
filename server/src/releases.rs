//! Desk releases: the signing side (`gymgate-server release keygen|sign`, run where the
//! release key is kept, never on a server) and, on the server, which release each desk
//! should be offered (canary centers, then a stable percentage of desks).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use gymgate_shared::release::{Manifest, ReleaseKey, SignedManifest, sha256_hex};
use rand::RngCore;

const KEY_VAR: &str = "GYMGATE_RELEASE_KEY";

/// Makes a signing key in a new file readable by its owner only.
pub fn keygen(out: &Path) -> anyhow::Result<ReleaseKey> {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(out)
        .with_context(|| format!("cannot create {} (it must not exist yet)", out.display()))?;
    writeln!(file, "{KEY_VAR}={}", URL_SAFE_NO_PAD.encode(secret))?;
    file.sync_all()?;
    Ok(ReleaseKey::of(&SigningKey::from_bytes(&secret)))
}

fn read_key(path: &Path) -> anyhow::Result<SigningKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the release key {}", path.display()))?;
    let encoded = text
        .lines()
        .find_map(|line| line.trim().strip_prefix(&format!("{KEY_VAR}=")))
        .with_context(|| format!("{} has no {KEY_VAR}= line", path.display()))?;
    let secret: [u8; 32] = URL_SAFE_NO_PAD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .with_context(|| format!("{} does not hold a release key", path.display()))?;
    Ok(SigningKey::from_bytes(&secret))
}

/// Signs `installer` as `manifest` (its hash and size filled in) into `out`.
pub fn sign(
    key_file: &Path,
    installer: &Path,
    mut manifest: Manifest,
    out: &Path,
) -> anyhow::Result<Manifest> {
    let key = read_key(key_file)?;
    for (what, version) in [
        ("--version", &manifest.version),
        ("--min-from", &manifest.min_from),
    ] {
        if gymgate_shared::release::version_key(version).is_none() {
            bail!("{what} {version:?} is not a version like 0.3.0");
        }
    }
    let bytes =
        std::fs::read(installer).with_context(|| format!("cannot read {}", installer.display()))?;
    manifest.size = bytes.len() as u64;
    manifest.sha256 = sha256_hex(&bytes);
    let signed = manifest.sign(&key)?;
    std::fs::write(out, serde_json::to_string_pretty(&signed)?)
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok(manifest)
}

/// How a rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutState {
    Active,
    Paused,
    Halted,
}

impl RolloutState {
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutState::Active => "active",
            RolloutState::Paused => "paused",
            RolloutState::Halted => "halted",
        }
    }

    pub fn parse(text: &str) -> Option<RolloutState> {
        match text {
            "active" => Some(RolloutState::Active),
            "paused" => Some(RolloutState::Paused),
            "halted" => Some(RolloutState::Halted),
            _ => None,
        }
    }
}

/// A rollout as the offer is decided from it.
#[derive(Debug, Clone)]
pub struct Rollout {
    pub version: String,
    pub signed: SignedManifest,
    pub min_from: String,
    pub canary_centers: Vec<gymgate_shared::CenterId>,
    pub percent: u8,
    /// When, daily in Korean hours, its desks may install (`None`: at any quiet moment).
    pub quiet_hours: Option<gymgate_shared::hours::OpeningHours>,
    pub state: RolloutState,
}

impl Rollout {
    /// Whether this desk is offered the release now: the rollout is active, and the desk's
    /// center is a canary or its cohort is within the percentage. Paused and halted offer
    /// nothing (a desk that has not installed yet lets its download wait); a paused rollout
    /// can resume, a halted one cannot.
    pub fn includes(&self, desk_id: &str, center: &gymgate_shared::CenterId) -> bool {
        self.state == RolloutState::Active
            && (self.canary_centers.contains(center)
                || gymgate_shared::release::cohort(desk_id) < self.percent)
    }
}

/// The release a desk running `running` should be offered, from the rollouts newest first:
/// the newest that includes it, is newer than what it runs, and can update from it. The
/// browser desk (`web-…`) updates with its page, never from an installer.
pub fn offer_for<'a>(
    rollouts: &'a [Rollout],
    desk_id: &str,
    center: &gymgate_shared::CenterId,
    running: Option<&str>,
) -> Option<&'a Rollout> {
    use gymgate_shared::release::version_key;
    let running = running.filter(|v| !v.starts_with("web-"))?;
    let running = version_key(running)?;
    rollouts.iter().find(|r| {
        r.includes(desk_id, center)
            && version_key(&r.version).is_some_and(|v| v > running)
            && version_key(&r.min_from).is_some_and(|min| running >= min)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_made_here_signs_what_its_public_key_verifies() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let key_file = dir.path().join("release.key");
        let public = keygen(&key_file)?;
        assert!(keygen(&key_file).is_err(), "never overwritten");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&key_file)?.permissions().mode() & 0o777,
                0o600
            );
        }
        let installer = dir.path().join("setup.exe");
        std::fs::write(&installer, b"MZ installer")?;
        let out = dir.path().join("manifest.json");
        let manifest = Manifest {
            version: "0.3.0".into(),
            sha256: String::new(),
            size: 0,
            min_from: "0.1.0".into(),
            notes_ko: "수정".into(),
            notes_en: "fixes".into(),
        };
        let signed_as = sign(&key_file, &installer, manifest, &out)?;
        let signed: SignedManifest = serde_json::from_str(&std::fs::read_to_string(&out)?)?;
        let verified = signed.verify(&[ReleaseKey::parse(&public.public_key()).context("key")?])?;
        assert_eq!(verified, signed_as);
        assert_eq!(verified.size, 12);
        verified.matches(b"MZ installer")?;
        Ok(())
    }

    #[test]
    fn canaries_first_then_a_stable_share_never_a_downgrade() {
        let signed = SignedManifest {
            manifest: String::new(),
            key_id: String::new(),
            signature: String::new(),
        };
        let canary = gymgate_shared::CenterId::new("canary");
        let other = gymgate_shared::CenterId::new("other");
        let mut rollout = Rollout {
            version: "0.3.0".into(),
            signed,
            min_from: "0.2.0".into(),
            canary_centers: vec![canary.clone()],
            percent: 0,
            quiet_hours: None,
            state: RolloutState::Active,
        };
        let desks: Vec<String> = (0..1000).map(|n| format!("desk-{n}")).collect();
        let offered = |r: &Rollout, center: &gymgate_shared::CenterId| {
            desks
                .iter()
                .filter(|d| offer_for(std::slice::from_ref(r), d, center, Some("0.2.1")).is_some())
                .count()
        };
        assert_eq!(offered(&rollout, &canary), 1000);
        assert_eq!(offered(&rollout, &other), 0);
        rollout.percent = 25;
        let quarter = offered(&rollout, &other);
        assert!((200..300).contains(&quarter), "{quarter}");
        rollout.state = RolloutState::Paused;
        assert_eq!(offered(&rollout, &canary), 0);
        rollout.state = RolloutState::Halted;
        assert_eq!(offered(&rollout, &canary), 0);
        rollout.state = RolloutState::Active;
        rollout.percent = 100;
        let all = std::slice::from_ref(&rollout);
        assert!(
            offer_for(all, "d", &other, Some("0.3.0")).is_none(),
            "not newer"
        );
        assert!(
            offer_for(all, "d", &other, Some("0.1.0")).is_none(),
            "too old to update"
        );
        assert!(
            offer_for(all, "d", &other, Some("web-0.2.5")).is_none(),
            "a browser desk"
        );
        assert!(offer_for(all, "d", &other, Some("0.2.5")).is_some());
        assert!(
            offer_for(all, "d", &other, None).is_none(),
            "unknown version"
        );
    }
}
