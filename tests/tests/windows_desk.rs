//! The Windows desk, as `.ci/windows` builds it, run under Wine in a virtual display (Xvfb): it
//! pairs unattended with a server running natively on loopback, shows a member's check-in, and
//! keeps its pairing and cache under the Wine user's `%APPDATA%`; and, installed as a center
//! installs it, it updates itself to a signed release while idle, comes back on it and says
//! so, and puts itself back when a release cannot start. CI runs `.ci/windows` first and these
//! never skip there; elsewhere they run once `.ci/windows` has been run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use gymgate_tests::{Fixture, MemberClient, PIN, TestServer};

/// Wine and the desk's first frame take a while on a 2-core machine.
const START: Duration = Duration::from_secs(120);
/// Download at the desk's rate (512 KiB/s), the quiet-moment notice, the installer, the new
/// version's start under Wine.
const UPDATE: Duration = Duration::from_secs(240);
/// The public key `.ci/windows` builds into the desk it checks (the tests' release key).
const CI_RELEASE_KEY: &str = "GX9rI-FshTLGq8g4-s1ep4m-DHaykgM0A5v6iz02jWE";

/// The tests share one Wine prefix (and its wineserver, which each stops at the end).
static ONE_PREFIX: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Windows {
    exe: PathBuf,
    prefix: PathBuf,
}

fn windows() -> anyhow::Result<Option<Windows>> {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/windows");
    let windows = Windows {
        exe: out.join("dist/gymgate-desk.exe"),
        prefix: out.join("wine"),
    };
    let ready = windows.exe.is_file()
        && windows.prefix.join("system.reg").is_file()
        && which("Xvfb")
        && which("wine")
        && which("xwd")
        && which("compare");
    if ready {
        return Ok(Some(windows));
    }
    if std::env::var_os("CI").is_some() {
        bail!(
            "the Windows desk or its tools are missing in CI: .ci/run must run .ci/windows first"
        );
    }
    eprintln!(
        "\n!!! SKIPPING WINDOWS DESK TEST: run .ci/windows first (it builds \
         target/windows/dist/gymgate-desk.exe and the Wine prefix; CI never skips)\n"
    );
    Ok(None)
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// An X server in memory; stopped when dropped.
struct VirtualDisplay {
    child: std::process::Child,
    display: String,
}

impl VirtualDisplay {
    fn start() -> anyhow::Result<VirtualDisplay> {
        let number = (90..190)
            .find(|n| !Path::new(&format!("/tmp/.X{n}-lock")).exists())
            .context("no free X display number")?;
        let child = Command::new("Xvfb")
            .args([
                &format!(":{number}"),
                "-screen",
                "0",
                "1366x768x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start Xvfb")?;
        let display = VirtualDisplay {
            child,
            display: format!(":{number}"),
        };
        let socket = format!("/tmp/.X11-unix/X{number}");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !Path::new(&socket).exists() {
            if std::time::Instant::now() > deadline {
                bail!("Xvfb did not start on {}", display.display);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(display)
    }

    /// The whole screen as a PNG.
    fn screenshot(&self, path: &Path) -> anyhow::Result<()> {
        let status = Command::new("sh")
            .arg("-c")
            .arg(r#"xwd -root -silent -display "$1" | convert xwd:- "png:$2""#)
            .args(["screenshot", &self.display])
            .arg(path)
            .status()?;
        if !status.success() {
            bail!("the screenshot failed: {status}");
        }
        Ok(())
    }
}

impl Drop for VirtualDisplay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Stops every Windows process of the prefix, also when the test fails half-way.
struct WineSession<'a> {
    prefix: &'a Path,
}

impl WineSession<'_> {
    fn stop(&self) {
        let _ = Command::new("wineserver")
            .arg("-k")
            .env("WINEPREFIX", self.prefix)
            .status();
        let _ = Command::new("wineserver")
            .arg("-w")
            .env("WINEPREFIX", self.prefix)
            .status();
    }
}

impl Drop for WineSession<'_> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `%APPDATA%` of the prefix's user(s), where the desk keeps its data.
fn roaming_dirs(prefix: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for user in std::fs::read_dir(prefix.join("drive_c/users"))? {
        let user = user?.path();
        if user.file_name().is_some_and(|n| n != "Public") {
            dirs.push(user.join("AppData/Roaming"));
        }
    }
    Ok(dirs)
}

/// Pixels that differ between two screenshots (ImageMagick's `compare -metric AE`).
fn pixels_changed(a: &Path, b: &Path) -> anyhow::Result<f64> {
    let output = Command::new("compare")
        .args(["-metric", "AE"])
        .arg(a)
        .arg(b)
        .arg("null:")
        .output()?;
    // `compare` prints the count on stderr and exits 1 when the images differ.
    let text = String::from_utf8_lossy(&output.stderr);
    let count = text.split_whitespace().next().unwrap_or_default();
    count
        .parse()
        .with_context(|| format!("compare said {text:?}"))
}

/// How many colours an image has: a blank or black window has one or two.
fn colours(image: &Path) -> anyhow::Result<u64> {
    let output = Command::new("identify")
        .args(["-format", "%k"])
        .arg(image)
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim()
        .parse()
        .with_context(|| format!("identify said {text:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_windows_desk_pairs_shows_a_check_in_and_keeps_its_cache_in_appdata()
-> anyhow::Result<()> {
    let Some(windows) = windows()? else {
        return Ok(());
    };
    let _prefix = ONE_PREFIX.lock().await;
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let numbers = fx.members("WIN", 1, Some(8)).await?;
    let code = fx.admin.pairing_code(center.id.as_str()).await?;

    // A PC that never ran the desk: no pairing, no cache.
    for roaming in roaming_dirs(&windows.prefix)? {
        let data = roaming.join("gymgate");
        if data.exists() {
            std::fs::remove_dir_all(&data)?;
        }
    }
    let display = VirtualDisplay::start()?;
    let wine = WineSession {
        prefix: &windows.prefix,
    };
    let shots = tempfile::tempdir()?;
    let log = std::fs::File::create(shots.path().join("wine.log"))?;
    let mut desk = Command::new("wine")
        .arg(&windows.exe)
        .args(["--server", &server.url(), "--desk-name", "1층 데스크"])
        .env("WINEPREFIX", &windows.prefix)
        .env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=;winemenubuilder.exe=d")
        .env("DISPLAY", &display.display)
        .env("GYMGATE_PAIRING_CODE", &code.code)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("cannot start wine")?;

    // Paired and online: the server sees the desk's connection.
    let deadline = tokio::time::Instant::now() + START;
    let paired = loop {
        let desks = fx.admin.desks().await?;
        if let Some(desk) = desks
            .into_iter()
            .find(|d| d.center_id == center.id && d.online)
        {
            break desk;
        }
        if let Some(status) = desk.try_wait()? {
            // `wine` hands the program to wineserver and may exit early; only a failure counts.
            if !status.success() {
                bail!(
                    "wine exited with {status}: {}",
                    std::fs::read_to_string(shots.path().join("wine.log"))?
                );
            }
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "the Windows desk did not come online within {START:?}: {}",
                std::fs::read_to_string(shots.path().join("wine.log"))?
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(paired.name, "1층 데스크");
    assert!(
        paired
            .app_version
            .as_deref()
            .is_some_and(|v| v.contains(env!("CARGO_PKG_VERSION"))),
        "{paired:?}"
    );
    // The board has drawn its first frames; what changes on its own (a clock) is the noise.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = shots.path().join("before.png");
    display.screenshot(&before)?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let still = shots.path().join("still.png");
    display.screenshot(&still)?;
    let noise = pixels_changed(&before, &still)?;

    let member = MemberClient::login(&server.url(), &numbers[0], PIN).await?;
    let answer = member.tap(center.id.as_str(), "windows-tap-1").await?;
    let checkin = answer.checkin()?.clone();

    // The check-in's card appears: a good part of the board changes (name, time, visits left).
    let after = shots.path().join("after.png");
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT * 3;
    let changed = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        display.screenshot(&after)?;
        let changed = pixels_changed(&before, &after)?;
        if changed > noise + 5_000.0 {
            break changed;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the board did not change after the check-in: {changed} pixels (noise {noise})");
        }
    };
    // Let the card finish drawing before the picture is kept.
    tokio::time::sleep(Duration::from_secs(1)).await;
    display.screenshot(&after)?;
    if let Some(dir) = std::env::var_os("GYMGATE_SCREENSHOTS") {
        std::fs::copy(&after, Path::new(&dir).join("desk-windows.png"))?;
    }
    let shades = colours(&after)?;
    assert!(shades > 50, "a blank window: {shades} colours");
    // The check-in's card changed a good part of the board (name, time, visits left).
    assert!(changed > noise, "{changed} pixels changed, noise {noise}");

    wine.stop();
    let _ = desk.wait();
    drop(display);
    // The server keeps a desk's acknowledged position when its connection ends: the desk
    // acknowledged the check-in's event, which it does only once the event is in its cache.
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
    loop {
        let desks = fx.admin.desks().await?;
        let desk = desks
            .iter()
            .find(|d| d.id == paired.id)
            .context("the desk is gone")?;
        if !desk.online {
            assert!(desk.acked_seq > paired.acked_seq, "{desk:?} vs {paired:?}");
            break;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the server still sees the stopped desk online");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // What the desk wrote is under the Wine user's %APPDATA%: its pairing and its cache, with
    // the check-in in it.
    let data = roaming_dirs(&windows.prefix)?
        .into_iter()
        .map(|roaming| roaming.join("gymgate/gymgate-desk/data"))
        .find(|dir| dir.join("desk.json").is_file())
        .context("no pairing under %APPDATA%\\gymgate\\gymgate-desk\\data")?;
    let copy = tempfile::tempdir()?;
    for file in ["cache.db", "cache.db-wal"] {
        if data.join(file).exists() {
            std::fs::copy(data.join(file), copy.path().join(file))?;
        }
    }
    let cache = rusqlite::Connection::open(copy.path().join("cache.db"))?;
    let stored: String = cache.query_row(
        "SELECT status FROM checkins WHERE id = ?1",
        [checkin.id.as_str()],
        |row| row.get(0),
    )?;
    assert_eq!(stored, "admitted");
    assert!(data.join("logs").is_dir(), "no logs in {}", data.display());
    Ok(())
}

fn wine(windows: &Windows, display: &VirtualDisplay) -> Command {
    let mut wine = Command::new("wine");
    wine.env("WINEPREFIX", &windows.prefix)
        .env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=;winemenubuilder.exe=d")
        .env("DISPLAY", &display.display)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    wine
}

/// The Wine user's folder (`C:\users\<name>`).
fn user_dir(prefix: &Path) -> anyhow::Result<PathBuf> {
    roaming_dirs(prefix)?
        .into_iter()
        .filter_map(|roaming| roaming.parent().and_then(Path::parent).map(Path::to_owned))
        .next()
        .context("no user in the Wine prefix")
}

/// The releases `.ci/windows` made to update to: (version, installer), oldest first.
fn releases(windows: &Windows) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let dir = windows.exe.with_file_name("updates");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("no {}", dir.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if let Some(version) = name
            .strip_prefix("gymgate-desk-")
            .and_then(|rest| rest.strip_suffix("-setup.exe"))
        {
            found.push((version.to_owned(), path));
        }
    }
    found.sort_by_key(|(version, _)| gymgate_shared::release::version_key(version));
    Ok(found)
}

fn sign(version: &str, bytes: &[u8]) -> anyhow::Result<gymgate_shared::release::SignedManifest> {
    use gymgate_shared::release::{Manifest, sha256_hex};
    Ok(Manifest {
        version: version.into(),
        sha256: sha256_hex(bytes),
        size: bytes.len() as u64,
        min_from: env!("CARGO_PKG_VERSION").into(),
        notes_ko: "CI 업데이트 확인".into(),
        notes_en: "CI update check".into(),
    }
    .sign(&gymgate_tests::desk_core::release_key())?)
}

/// Waits until the server sees the desk online on `version`, its health saying `update`.
async fn wait_for_desk(
    fx: &Fixture,
    center: &gymgate_shared::CenterId,
    version: &str,
    update: Option<&str>,
    within: Duration,
    log: &Path,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let desks = fx.admin.desks().await?;
        let desk = desks.iter().find(|d| &d.center_id == center);
        let seen = desk.map(|d| {
            (
                d.online,
                d.app_version.clone(),
                d.health.as_ref().and_then(|h| h.health.update.clone()),
            )
        });
        if let Some((true, Some(running), said)) = &seen
            && running == version
            && said.as_deref() == update
        {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "the installed desk is {seen:?}, not online on {version} saying {update:?}; \
                 its update helper wrote: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until the server sees the center's desk gone.
async fn wait_offline(
    fx: &Fixture,
    center: &gymgate_shared::CenterId,
    within: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let desks = fx.admin.desks().await?;
        if !desks.iter().any(|d| &d.center_id == center && d.online) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the desk is still online after it was killed");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_installed_windows_desk_updates_itself_and_rolls_back_releases_that_crash_or_cannot_start()
-> anyhow::Result<()> {
    let Some(windows) = windows()? else {
        return Ok(());
    };
    let _prefix = ONE_PREFIX.lock().await;
    assert_eq!(
        gymgate_tests::desk_core::release_key_public().public_key(),
        CI_RELEASE_KEY,
        ".ci/windows builds the desk with the tests' release key"
    );
    let releases = releases(&windows)?;
    let [(next, next_setup), (broken, broken_setup)] = releases.as_slice() else {
        bail!("expected the next and a broken release from .ci/windows, found {releases:?}");
    };
    let setup = windows.exe.with_file_name(format!(
        "gymgate-desk-{}-setup.exe",
        env!("CARGO_PKG_VERSION")
    ));
    let server = TestServer::start_with(|c| {
        c.release_keys = vec![gymgate_tests::desk_core::release_key_public()]
    })
    .await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("판교점").await?;
    let code = fx.admin.pairing_code(center.id.as_str()).await?;

    // A PC with the desk installed the way a center installs it, never started.
    let user = user_dir(&windows.prefix)?;
    let installed = user.join("AppData/Local/Programs/gymgate");
    let data = user.join("AppData/Roaming/gymgate/gymgate-desk/data");
    for dir in [&installed, &user.join("AppData/Roaming/gymgate")] {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
    }
    let display = VirtualDisplay::start()?;
    let session = WineSession {
        prefix: &windows.prefix,
    };
    let status = wine(&windows, &display).arg(&setup).arg("/S").status()?;
    anyhow::ensure!(status.success(), "the installer failed: {status}");
    let program = installed.join("gymgate-desk.exe");
    anyhow::ensure!(program.is_file(), "not installed: {}", program.display());
    let helper_log = data.join("updates/update.log");

    let _desk = wine(&windows, &display)
        .arg(&program)
        .args(["--server", &server.url(), "--desk-name", "안내 데스크"])
        .env("GYMGATE_PAIRING_CODE", &code.code)
        .spawn()?;
    wait_for_desk(
        &fx,
        &center.id,
        env!("CARGO_PKG_VERSION"),
        None,
        START,
        &helper_log,
    )
    .await?;

    // The next release, to this center as a canary: downloaded, checked against the key built
    // into the desk, installed while nobody is at the counter; the new version connects and
    // says it updated.
    let bytes = std::fs::read(next_setup)?;
    fx.admin.upload_release(&sign(next, &bytes)?, bytes).await?;
    let rolled_out = std::time::Instant::now();
    fx.admin
        .set_rollout(next, &[center.id.as_str().to_owned()], 0)
        .await?;
    let updated = format!("updated {next}");
    wait_for_desk(&fx, &center.id, next, Some(&updated), UPDATE, &helper_log).await?;
    // The figure docs/benchmarks.md records (download, install, start, connect under Wine).
    eprintln!(
        "update: rollout of {next} to the desk online on it: {:.1} s",
        rolled_out.elapsed().as_secs_f64()
    );
    assert_eq!(
        std::fs::read(&program)?,
        std::fs::read(next_setup.with_file_name(next).join("gymgate-desk.exe"))?,
        "the installed program is the new release's"
    );
    // The version it came from stays on disk for a rollback.
    let kept: Vec<_> = std::fs::read_dir(data.join("updates/previous"))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        kept,
        [format!("{}-gymgate-desk.exe", env!("CARGO_PKG_VERSION"))]
    );

    // The new version connected, then ends without stopping twice (`taskkill /f`: what a
    // crash or a power cut leaves) and staff start it again: at the second start it hands the
    // desk back to the version it came from, which reports why and refuses the release.
    let first = env!("CARGO_PKG_VERSION");
    let mut restarted = Vec::new();
    for crash in 1..=2 {
        let status = wine(&windows, &display)
            .args(["taskkill", "/f", "/im", "gymgate-desk.exe"])
            .status()?;
        anyhow::ensure!(status.success(), "taskkill failed: {status}");
        wait_offline(&fx, &center.id, START).await?;
        restarted.push(
            wine(&windows, &display)
                .arg(&program)
                .args(["--server", &server.url(), "--desk-name", "안내 데스크"])
                .spawn()?,
        );
        if crash == 1 {
            wait_for_desk(&fx, &center.id, next, Some(&updated), START, &helper_log).await?;
        }
    }
    let crashed = format!("failed {next}: rolled_back_crash");
    wait_for_desk(&fx, &center.id, first, Some(&crashed), UPDATE, &helper_log).await?;
    assert_eq!(
        std::fs::read(&program)?,
        std::fs::read(&windows.exe)?,
        "the program is the first release's again"
    );

    // A signed release whose program Windows cannot start: the helper puts the running
    // version back, starts it, and the desk reports the release failed.
    let bytes = std::fs::read(broken_setup)?;
    fx.admin
        .upload_release(&sign(broken, &bytes)?, bytes)
        .await?;
    let rolled_out = std::time::Instant::now();
    fx.admin
        .set_rollout(broken, &[center.id.as_str().to_owned()], 0)
        .await?;
    let failed = format!("failed {broken}: rolled_back_start");
    wait_for_desk(&fx, &center.id, first, Some(&failed), UPDATE, &helper_log).await?;
    eprintln!(
        "update: rollout of the broken {broken} to the desk back online on {first}: {:.1} s",
        rolled_out.elapsed().as_secs_f64()
    );
    assert_eq!(
        std::fs::read(&program)?,
        std::fs::read(&windows.exe)?,
        "the program is the previous release's again"
    );
    let log = std::fs::read_to_string(&helper_log)?;
    for line in [
        format!("{next} ended without stopping 2 times since its update; rolling back to {first}"),
        format!("rolling back to {first}: rolled_back_start"),
    ] {
        assert!(
            log.contains(&line),
            "the helper's log lacks {line:?}: {log}"
        );
    }
    session.stop();
    Ok(())
}
