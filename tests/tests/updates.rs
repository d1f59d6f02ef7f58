//! Signed, staged updates of the Windows desk (issue 25), up to the verified download: a
//! release signed with a key the server never holds is uploaded, rolled out to a canary
//! center and then to a share of desks; real desk cores download it in the background,
//! check signature, size and hash, and report it ready; pause withdraws it, resume brings
//! it back, halt is final. A release a desk's own keys did not sign is refused by the desk
//! even when the server accepted it, and failures at several desks halt the rollout by
//! themselves. Installing, restarting on the new version and rolling back run under Wine
//! in `windows_desk.rs`.

use std::time::Duration;

use ed25519_dalek::SigningKey;
use gymgate_server::AdminError;
use gymgate_shared::release::{Manifest, ReleaseKey, SignedManifest, sha256_hex};
use gymgate_tests::desk_core::{pairing, release_key, release_key_public};
use gymgate_tests::{Fixture, RunningDesk, TestServer, WAIT};

fn installer(size: usize, seed: u8) -> Vec<u8> {
    let mut bytes = b"MZ gymgate-desk setup ".to_vec();
    bytes.extend((0..size).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    bytes
}

fn signed(version: &str, bytes: &[u8], key: &SigningKey) -> anyhow::Result<SignedManifest> {
    Ok(Manifest {
        version: version.into(),
        sha256: sha256_hex(bytes),
        size: bytes.len() as u64,
        min_from: "0.1.0".into(),
        notes_ko: "입장 화면 개선".into(),
        notes_en: "a better entry screen".into(),
    }
    .sign(key)?)
}

fn refused(result: Result<impl std::fmt::Debug, AdminError>) -> String {
    match result {
        Err(AdminError::Refused { code, .. }) => code,
        other => format!("not refused: {other:?}"),
    }
}

/// What the server last heard from each desk about its update.
async fn update_of(fx: &Fixture, desk: &str) -> anyhow::Result<Option<String>> {
    Ok(fx
        .admin
        .desks()
        .await?
        .into_iter()
        .find(|d| d.id.as_str() == desk)
        .and_then(|d| d.health)
        .and_then(|h| h.health.update))
}

async fn wait_update(fx: &Fixture, desk: &str, want: Option<&str>) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = update_of(fx, desk).await?;
        if now.as_deref() == want {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "desk {desk} says {now:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_signed_release_reaches_canaries_then_a_share_and_desks_download_it() -> anyhow::Result<()>
{
    let server = TestServer::start_with(|c| c.release_keys = vec![release_key_public()]).await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let canary = fx.center("강남점").await?;
    let other = fx.center("홍대점").await?;
    let bytes = installer(400_000, 1);
    let release = signed("0.2.0", &bytes, &release_key())?;

    // What the server refuses: another key, a changed manifest, the wrong file, too early.
    let stranger = SigningKey::from_bytes(&[7u8; 32]);
    assert_eq!(
        refused(
            fx.admin
                .upload_release(&signed("0.2.0", &bytes, &stranger)?, bytes.clone())
                .await
        ),
        "unknown_key"
    );
    let mut tampered = release.clone();
    tampered.manifest = tampered.manifest.replace("0.2.0", "0.2.1");
    assert_eq!(
        refused(fx.admin.upload_release(&tampered, bytes.clone()).await),
        "bad_signature"
    );
    let mut wrong = bytes.clone();
    wrong[100] ^= 1;
    assert_eq!(
        refused(fx.admin.upload_release(&release, wrong).await),
        "wrong_installer"
    );
    assert_eq!(
        refused(fx.admin.set_rollout("0.2.0", &[], 100).await),
        "release_not_ready"
    );
    fx.admin.upload_release(&release, bytes.clone()).await?;
    assert_eq!(
        refused(fx.admin.upload_release(&release, bytes.clone()).await),
        "release_exists",
        "a whole release is never replaced"
    );

    // Resumable: the server answers a range.
    let pair_a = fx.desk(canary.id.as_str()).await?;
    let pair_b = fx.desk(other.id.as_str()).await?;
    let ranged = reqwest::Client::new()
        .get(format!("{url}/api/v1/desk/releases/0.2.0/installer"))
        .bearer_auth(&pair_b.token)
        .header("Range", "bytes=1000-")
        .send()
        .await?;
    assert_eq!(ranged.status(), 206);
    assert_eq!(
        ranged.headers()["content-range"].to_str()?,
        format!("bytes 1000-{}/{}", bytes.len() - 1, bytes.len())
    );
    assert_eq!(ranged.bytes().await?.as_ref(), &bytes[1000..]);
    let anonymous = reqwest::get(format!("{url}/api/v1/desk/releases/0.2.0/installer")).await?;
    assert_eq!(anonymous.status(), 401);

    let dir_a = tempfile::tempdir()?;
    let dir_b = tempfile::tempdir()?;
    // Desk B had half of it from an earlier, cut download.
    std::fs::create_dir_all(dir_b.path().join("updates"))?;
    std::fs::write(dir_b.path().join("updates/0.2.0.part"), &bytes[..200_000])?;
    let mut desk_a = RunningDesk::start(dir_a.path(), pairing(&url, &pair_a)).await?;
    let mut desk_b = RunningDesk::start(dir_b.path(), pairing(&url, &pair_b)).await?;
    desk_a.wait_online().await?;
    desk_b.wait_online().await?;
    let (a, b) = (pair_a.desk_id.to_string(), pair_b.desk_id.to_string());

    // Canaries first.
    fx.admin
        .set_rollout("0.2.0", &[canary.id.to_string()], 0)
        .await?;
    wait_update(&fx, &a, Some("ready 0.2.0")).await?;
    assert_eq!(
        std::fs::read(dir_a.path().join("updates/0.2.0.exe"))?,
        bytes
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(update_of(&fx, &b).await?, None, "not a canary, not in 0%");
    assert!(!dir_b.path().join("updates/0.2.0.exe").exists());

    // Then everyone.
    fx.admin
        .set_rollout("0.2.0", &[canary.id.to_string()], 100)
        .await?;
    wait_update(&fx, &b, Some("ready 0.2.0")).await?;
    assert_eq!(
        std::fs::read(dir_b.path().join("updates/0.2.0.exe"))?,
        bytes
    );
    assert!(!dir_b.path().join("updates/0.2.0.part").exists());
    assert!(
        desk_a.core.update_due(chrono::Utc::now()),
        "any quiet moment"
    );

    // Operators keep installs to hours the centers are closed: the desks hear it at once and
    // keep the checked download waiting for them; widening keeps the hours; "" clears them.
    assert_eq!(
        refused(
            fx.admin
                .set_rollout_in_hours("0.2.0", &[canary.id.to_string()], 100, "새벽")
                .await
        ),
        "invalid_quiet_hours"
    );
    let now = chrono::Utc::now();
    let later = now + chrono::Duration::hours(2);
    let window = |at: chrono::DateTime<chrono::Utc>| {
        let local = at.with_timezone(&gymgate_shared::kst::offset());
        format!("{:02}:00", chrono::Timelike::hour(&local))
    };
    let hours = format!(
        "{}-{}",
        window(later),
        window(later + chrono::Duration::hours(1))
    );
    fx.admin
        .set_rollout_in_hours("0.2.0", &[canary.id.to_string()], 100, &hours)
        .await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    while desk_a.core.update_due(chrono::Utc::now()) || desk_b.core.update_due(chrono::Utc::now()) {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "desks not told of {hours}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Two hours from now is in the window's first hour.
    assert!(desk_a.core.update_due(later) && desk_b.core.update_due(later));
    assert_eq!(update_of(&fx, &a).await?.as_deref(), Some("ready 0.2.0"));
    fx.admin
        .set_rollout("0.2.0", &[canary.id.to_string()], 100)
        .await?;
    assert_eq!(
        fx.admin.releases().await?["rollouts"][0]["quiet_hours"],
        hours.as_str()
    );
    fx.admin
        .set_rollout_in_hours("0.2.0", &[canary.id.to_string()], 100, "")
        .await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    while !desk_a.core.update_due(chrono::Utc::now()) {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "hours not cleared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Paused: withdrawn from installing; resumed: ready again at once (already checked).
    fx.admin
        .rollout_action("0.2.0", "pause", Some("상담 폭주"))
        .await?;
    wait_update(&fx, &a, None).await?;
    fx.admin.rollout_action("0.2.0", "resume", None).await?;
    wait_update(&fx, &a, Some("ready 0.2.0")).await?;
    fx.admin
        .rollout_action("0.2.0", "halt", Some("bug"))
        .await?;
    wait_update(&fx, &b, None).await?;
    assert_eq!(
        refused(fx.admin.rollout_action("0.2.0", "resume", None).await),
        "rollout_halted"
    );

    let overview = fx.admin.releases().await?;
    assert_eq!(overview["releases"][0]["version"], "0.2.0");
    assert_eq!(overview["releases"][0]["ready"], true);
    assert_eq!(overview["rollouts"][0]["state"], "halted");
    assert_eq!(
        overview["fleet"][0]["version"],
        gymgate_desk_core::update::RUNNING
    );
    assert_eq!(overview["fleet"][0]["desks"], 2);

    let audit = fx.admin.audit().await?;
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    for action in [
        "release.manifest",
        "release.installer",
        "rollout.set",
        "rollout.paused",
        "rollout.active",
        "rollout.halted",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    desk_a.stop().await?;
    desk_b.stop().await?;
    Ok(())
}

#[tokio::test]
async fn desks_refuse_what_their_keys_did_not_sign_and_failures_halt_the_rollout()
-> anyhow::Result<()> {
    // A server given a key the desks do not trust (as a server broken into would be).
    let rogue = SigningKey::from_bytes(&[9u8; 32]);
    let server = TestServer::start_with(|c| {
        c.release_keys = vec![release_key_public(), ReleaseKey::of(&rogue)];
        c.alerts.check_every = Duration::from_millis(50);
        c.alerts.rules.update_failures = 2;
    })
    .await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    let mut desks = Vec::new();
    let mut dirs = Vec::new();
    for _ in 0..2 {
        let paired = fx.desk(center.id.as_str()).await?;
        let dir = tempfile::tempdir()?;
        let mut desk = RunningDesk::start(dir.path(), pairing(&url, &paired)).await?;
        desk.wait_online().await?;
        desks.push((paired.desk_id.to_string(), desk));
        dirs.push(dir);
    }
    // A downgrade signed with the right key is refused by the desk too.
    let old = installer(1000, 2);
    fx.admin
        .upload_release(&signed("0.0.9", &old, &release_key())?, old.clone())
        .await?;
    let bytes = installer(50_000, 3);
    fx.admin
        .upload_release(&signed("0.3.0", &bytes, &rogue)?, bytes)
        .await?;
    fx.admin.set_rollout("0.0.9", &[], 100).await?;
    tokio::time::sleep(Duration::from_millis(700)).await;
    for (id, _) in &desks {
        assert_eq!(
            update_of(&fx, id).await?,
            None,
            "0.0.9 is not offered to a newer desk"
        );
    }
    fx.admin.set_rollout("0.3.0", &[], 100).await?;
    for (id, _) in &desks {
        wait_update(&fx, id, Some("failed 0.3.0: unknown_key")).await?;
    }
    for dir in &dirs {
        assert!(
            !dir.path().join("updates/0.3.0.exe").exists(),
            "nothing downloaded"
        );
        assert!(!dir.path().join("updates/0.3.0.part").exists());
    }

    // Two desks failed: the server halts the rollout itself and says why.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let overview = fx.admin.releases().await?;
        let rollout = overview["rollouts"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["version"] == "0.3.0"))
            .cloned()
            .unwrap_or_default();
        if rollout["state"] == "halted" {
            assert!(
                rollout["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("2대"),
                "{rollout}"
            );
            assert_eq!(overview["failures"].as_array().map(Vec::len), Some(2));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not halted: {overview}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while !fx
        .admin
        .incidents(50)
        .await?
        .iter()
        .any(|i| i.key == "update_failing:0.3.0" && i.title.contains("0.3.0"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no update_failing incident"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let audit = fx.admin.audit().await?;
    assert!(
        audit
            .iter()
            .any(|a| a.action == "rollout.halted" && a.actor == "server"),
        "halted by the server, audited"
    );
    for (_, desk) in desks {
        desk.stop().await?;
    }
    Ok(())
}

/// An installer is tens of megabytes over an operator's uplink: its upload is not cut by the
/// 30 s limit other requests have (here 1 s), as a member list's is not.
#[tokio::test]
async fn an_installer_upload_may_take_longer_than_other_requests() -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start_with(|c| {
        c.release_keys = vec![release_key_public()];
        c.limits.request_timeout = Duration::from_secs(1);
    })
    .await?;
    let fx = Fixture::new(server.url());
    let bytes = installer(20_000, 4);
    let release = signed("0.2.0", &bytes, &release_key())?;
    let status = reqwest::Client::new()
        .put(format!("{}/api/v1/admin/releases/0.2.0", fx.url))
        .bearer_auth(gymgate_tests::ADMIN_TOKEN)
        .json(&release)
        .send()
        .await?
        .status();
    assert_eq!(status, 201, "the manifest first");
    let mut slow = tokio::net::TcpStream::connect(server.addr).await?;
    slow.write_all(
        format!(
            "PUT /api/v1/admin/releases/0.2.0/installer HTTP/1.1\r\nhost: gate\r\n\
             authorization: Bearer {}\r\ncontent-length: {}\r\n\r\n",
            gymgate_tests::ADMIN_TOKEN,
            bytes.len()
        )
        .as_bytes(),
    )
    .await?;
    // Two seconds for 20 KB: ten pieces, 200 ms apart.
    for piece in bytes.chunks(bytes.len() / 10 + 1) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        slow.write_all(piece).await?;
    }
    let mut answer = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut answer)).await??;
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    Ok(())
}
