//! Installing a downloaded, checked release, and taking it back when it does not work.
//!
//! The desk never replaces itself while it runs (Windows locks a running program's file).
//! When it is idle it copies its own program to `updates/previous/` — the version that stays
//! on disk — writes `updates/handover.json`, starts that copy as the *helper*
//! (`gymgate-desk --apply-update`) and closes. The helper is the old, known-good version: it
//! waits for the desk to be gone, runs the signed installer silently (`/S`), starts the new
//! desk and waits for it to say it connected (`updates/confirmed`, written at its first
//! `welcome`). A new desk that cannot be started, or stops, twice, or does not connect within
//! the trial, is replaced by the previous program again and started; either way the helper
//! leaves `updates/outcome.json`, which the next desk reports in its health (`updated 0.2.0`,
//! `failed 0.2.0: rolled_back_crash`) and which keeps it from taking the same release again.
//!
//! A new version that connected and then ends without stopping twice within a day of its
//! install (`updates/installed.json` keeps the update and counts them) is rolled back at the
//! next start: it starts the previous version as a helper (`--roll-back`) and closes without
//! opening its window; the helper puts itself back in place and starts, reporting
//! `failed 0.2.0: rolled_back_crash`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// This program's version, as it says in `hello`: the package's, or the one its build was
/// given in `GYMGATE_DESK_VERSION` (how CI builds a second release of the same source, to
/// update an installed desk to).
pub const RUNNING: &str = match option_env!("GYMGATE_DESK_VERSION") {
    Some(version) => version,
    None => env!("CARGO_PKG_VERSION"),
};

/// The argument that makes the desk program the helper.
pub const APPLY_ARG: &str = "--apply-update";
/// The argument that makes the previous version take the desk back from a crashing one.
pub const ROLL_BACK_ARG: &str = "--roll-back";

const HANDOVER: &str = "handover.json";
const INSTALLED: &str = "installed.json";
const CONFIRMED: &str = "confirmed";
const OUTCOME: &str = "outcome.json";
const HELPER_LOG: &str = "update.log";

/// How long a new version has to start and connect. Under a minute is too short for a PC
/// that just woke up; a desk that has not connected in five is not going to.
pub const TRIAL: Duration = Duration::from_secs(5 * 60);
/// Failed starts (could not be started, or stopped before connecting) before a rollback.
const STARTS: u32 = 2;
/// Ends without stopping (a crash, a kill, a power cut) of a connected new version before it
/// is rolled back, and for how long after its install they count: a version running well for
/// days is not blamed for the PC losing power.
const CRASHES: u32 = 2;
const CRASH_WATCH_HOURS: i64 = 24;

/// What the closing desk leaves for the helper.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Handover {
    pub from: String,
    pub to: String,
    pub installer: PathBuf,
    /// The installed program the new version replaces.
    pub program: PathBuf,
    /// The copy of the version running now, kept for a rollback.
    pub previous: PathBuf,
    /// How the desk was started (its data folder, its server): the new one starts the same.
    pub args: Vec<String>,
    pub trial_s: u64,
}

/// An update that stayed: what `--roll-back` needs, and the new version's unclean ends since.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Installed {
    update: Handover,
    at: chrono::DateTime<chrono::Utc>,
    crashes: u32,
}

/// What became of an update, as the helper left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub version: String,
    /// `updated`, or why it was rolled back (`rolled_back_start`, `rolled_back_crash`,
    /// `rolled_back_no_connect`, `install_failed`).
    pub result: String,
}

impl Outcome {
    pub fn updated(&self) -> bool {
        self.result == "updated"
    }

    /// The desk's health line for it.
    pub fn status(&self) -> String {
        if self.updated() {
            format!("updated {}", self.version)
        } else {
            format!("failed {}: {}", self.version, self.result)
        }
    }
}

fn updates(data_dir: &Path) -> PathBuf {
    data_dir.join("updates")
}

/// The last update's outcome, if the helper left one.
pub fn outcome(data_dir: &Path) -> Option<Outcome> {
    read_json(&updates(data_dir).join(OUTCOME))
}

/// One of the helper's files; a missing or half-written one is as good as none.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Called at the new version's first `welcome`: the trial is over, the helper can go.
/// True when this call ended a trial (this version is the update just installed): the
/// helper writes its outcome only after it sees the confirmation, too late for the new
/// version's start, so the new version reports its update from here.
pub fn confirm(data_dir: &Path) -> bool {
    let dir = updates(data_dir);
    let Some(handover) = read_handover(&dir) else {
        return false;
    };
    if handover.to != RUNNING || dir.join(CONFIRMED).exists() {
        return false;
    }
    match std::fs::write(dir.join(CONFIRMED), RUNNING) {
        Ok(()) => {
            tracing::info!(version = RUNNING, "this version started and connected");
            true
        }
        Err(error) => {
            tracing::warn!(%error, "cannot confirm the update to the helper");
            false
        }
    }
}

fn read_handover(dir: &Path) -> Option<Handover> {
    read_json(&dir.join(HANDOVER))
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("this program's own file cannot be found: {0}")]
    Program(std::io::Error),
    #[error("cannot keep the running version for a rollback: {0}")]
    Keep(std::io::Error),
    #[error("cannot start the update helper: {0}")]
    Helper(std::io::Error),
}

/// Hands the checked installer of `version` to the helper; the caller closes the desk once
/// this returns `Ok`. `args` are the desk's own arguments.
pub fn hand_over(
    data_dir: &Path,
    version: &str,
    installer: &Path,
    args: Vec<String>,
    trial: Duration,
) -> Result<(), InstallError> {
    let program = std::env::current_exe().map_err(InstallError::Program)?;
    let dir = updates(data_dir);
    let kept = dir.join("previous");
    // One previous version on disk: the one running now.
    let _ = std::fs::remove_dir_all(&kept);
    std::fs::create_dir_all(&kept).map_err(InstallError::Keep)?;
    let name = program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "gymgate-desk.exe".into());
    let previous = kept.join(format!("{RUNNING}-{name}"));
    std::fs::copy(&program, &previous).map_err(InstallError::Keep)?;
    let _ = std::fs::remove_file(dir.join(CONFIRMED));
    let _ = std::fs::remove_file(dir.join(OUTCOME));
    let _ = std::fs::remove_file(dir.join(INSTALLED));
    let handover = Handover {
        from: RUNNING.to_owned(),
        to: version.to_owned(),
        installer: installer.to_owned(),
        program,
        previous: previous.clone(),
        args,
        trial_s: trial.as_secs().max(1),
    };
    let json = serde_json::to_vec_pretty(&handover).map_err(|e| InstallError::Keep(e.into()))?;
    std::fs::write(dir.join(HANDOVER), json).map_err(InstallError::Keep)?;
    start_helper(&previous, APPLY_ARG, data_dir).map_err(InstallError::Helper)?;
    tracing::info!(
        from = RUNNING,
        to = version,
        "update handed to the helper; closing"
    );
    Ok(())
}

/// The kept previous version, as the helper (`--apply-update`) or to take the desk back
/// (`--roll-back`), without a window of its own.
fn start_helper(previous: &Path, mode: &str, data_dir: &Path) -> std::io::Result<Child> {
    let mut helper = Command::new(previous);
    helper
        .arg(mode)
        .arg(data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    detach(&mut helper);
    helper.spawn()
}

/// The helper outlives the desk that started it and the console it may have had.
fn detach(command: &mut Command) {
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        const DETACHED_PROCESS: u32 = 0x0000_0008;
        const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
        command.creation_flags(DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
}

/// The helper's whole run (`gymgate-desk --apply-update <data dir>`); returns the exit code.
pub fn apply(data_dir: &Path) -> i32 {
    let dir = updates(data_dir);
    let log = Log(dir.join(HELPER_LOG));
    let Some(handover) = read_handover(&dir) else {
        log.line("no handover to apply");
        return 2;
    };
    log.line(&format!("updating {} to {}", handover.from, handover.to));
    wait_for_desk_to_close(data_dir, &log);
    let result = install_and_try(&handover, &dir, &log);
    let outcome = Outcome {
        version: handover.to.clone(),
        result: result.clone(),
    };
    if outcome.updated() {
        // The new version is running already: it reports its update from its own
        // confirmation (`confirm`), this file is for the versions after it.
        write_outcome(&dir, &outcome, &log);
        let installed = Installed {
            update: handover.clone(),
            at: chrono::Utc::now(),
            crashes: 0,
        };
        if let Err(error) = write_installed(&dir, &installed) {
            log.line(&format!(
                "cannot keep the update for a later rollback: {error}"
            ));
        }
    } else {
        log.line(&format!("rolling back to {}: {result}", handover.from));
        go_back(&handover, &outcome, &dir, &log);
    }
    let _ = std::fs::remove_file(dir.join(HANDOVER));
    let _ = std::fs::remove_file(dir.join(CONFIRMED));
    log.line(&format!("done: {}", outcome.status()));
    if outcome.updated() { 0 } else { 1 }
}

fn write_installed(dir: &Path, installed: &Installed) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(installed).map_err(std::io::Error::other)?;
    std::fs::write(dir.join(INSTALLED), json)
}

fn read_installed(dir: &Path) -> Option<Installed> {
    read_json(&dir.join(INSTALLED))
}

/// At the start of a version an update installed, when the run before ended without
/// stopping: the second such end within a day of the install hands the desk back to the
/// version it came from. True when the helper has it: this program closes without opening
/// its window (the helper waits for it to be gone).
pub fn roll_back_if_crashing(
    data_dir: &Path,
    ended_without_stopping: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    if !ended_without_stopping {
        return false;
    }
    let dir = updates(data_dir);
    let Some(mut installed) = read_installed(&dir) else {
        return false;
    };
    if installed.update.to != RUNNING
        || now - installed.at > chrono::Duration::hours(CRASH_WATCH_HOURS)
        || !installed.update.previous.is_file()
    {
        return false;
    }
    installed.crashes += 1;
    if let Err(error) = write_installed(&dir, &installed) {
        tracing::warn!(%error, "cannot count this version's crash");
    }
    tracing::warn!(
        version = RUNNING,
        crashes = installed.crashes,
        "this version ended without stopping since its update"
    );
    if installed.crashes < CRASHES {
        return false;
    }
    match start_helper(&installed.update.previous, ROLL_BACK_ARG, data_dir) {
        Ok(_) => {
            tracing::warn!(to = %installed.update.from, "rolling back a version that keeps crashing");
            true
        }
        Err(error) => {
            tracing::error!(%error, "cannot start the previous version to roll back");
            false
        }
    }
}

/// The previous version's run as `--roll-back <data dir>`: puts itself back in place of the
/// crashing version, leaves the outcome and starts; returns the exit code.
pub fn roll_back(data_dir: &Path) -> i32 {
    let dir = updates(data_dir);
    let log = Log(dir.join(HELPER_LOG));
    let Some(installed) = read_installed(&dir) else {
        log.line("no installed update to roll back");
        return 2;
    };
    let update = installed.update;
    log.line(&format!(
        "{} ended without stopping {} times since its update; rolling back to {}",
        update.to, installed.crashes, update.from
    ));
    wait_for_desk_to_close(data_dir, &log);
    let outcome = Outcome {
        version: update.to.clone(),
        result: "rolled_back_crash".into(),
    };
    // Watched no more either way: a program that could not be put back keeps running (and
    // says the update failed) rather than the desk staying closed.
    let _ = std::fs::remove_file(dir.join(INSTALLED));
    go_back(&update, &outcome, &dir, &log);
    log.line(&format!("done: {}", outcome.status()));
    1
}

/// Puts the kept previous version back in place, leaves `outcome` and starts the desk (the
/// version put back, or whatever is installed if that failed: a desk must run).
fn go_back(update: &Handover, outcome: &Outcome, dir: &Path, log: &Log) {
    if let Err(error) = restore(update) {
        log.line(&format!("cannot put the previous version back: {error}"));
    }
    // Written before the start: the desk reads it once, at its start, and must not take the
    // release it just came back from again.
    write_outcome(dir, outcome, log);
    match start(update) {
        Ok(_) => log.line(&format!("started {} again", update.from)),
        Err(error) => log.line(&format!("cannot start {}: {error}", update.from)),
    }
}

fn write_outcome(dir: &Path, outcome: &Outcome, log: &Log) {
    match serde_json::to_vec(outcome) {
        Ok(json) => {
            if let Err(error) = std::fs::write(dir.join(OUTCOME), json) {
                log.line(&format!("cannot write the outcome: {error}"));
            }
        }
        Err(error) => log.line(&format!("cannot write the outcome: {error}")),
    }
}

/// Runs the installer, then starts the new desk until it connects or has failed enough.
fn install_and_try(handover: &Handover, dir: &Path, log: &Log) -> String {
    let mut installer = Command::new(&handover.installer);
    installer.arg("/S").arg("/UPDATE");
    if let Some(folder) = handover.program.parent() {
        // NSIS reads the folder from the last argument, unquoted.
        installer.arg(format!("/D={}", folder.display()));
    }
    match installer.status() {
        Ok(status) if status.success() => log.line("installed"),
        Ok(status) => {
            log.line(&format!("the installer failed: {status}"));
            return "install_failed".into();
        }
        Err(error) => {
            log.line(&format!("cannot run the installer: {error}"));
            return "install_failed".into();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(handover.trial_s);
    let mut failed = 0;
    let mut why = "rolled_back_start";
    while failed < STARTS {
        let mut child = match start(handover) {
            Ok(child) => child,
            Err(error) => {
                log.line(&format!("the new version does not start: {error}"));
                failed += 1;
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        loop {
            if std::fs::read_to_string(dir.join(CONFIRMED)).is_ok_and(|v| v == handover.to) {
                log.line("the new version connected");
                return "updated".into();
            }
            if let Ok(Some(status)) = child.try_wait() {
                log.line(&format!("the new version stopped: {status}"));
                failed += 1;
                why = "rolled_back_crash";
                break;
            }
            if Instant::now() > deadline {
                log.line("the new version did not connect in time");
                let _ = child.kill();
                let _ = child.wait();
                return "rolled_back_no_connect".into();
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    why.into()
}

fn start(handover: &Handover) -> std::io::Result<Child> {
    let mut desk = Command::new(&handover.program);
    desk.args(&handover.args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    detach(&mut desk);
    desk.spawn()
}

/// Puts the kept program back; a stopping process may hold the file for a moment.
fn restore(handover: &Handover) -> std::io::Result<()> {
    let mut tries = 0;
    loop {
        match std::fs::copy(&handover.previous, &handover.program) {
            Ok(_) => return Ok(()),
            Err(error) if tries >= 40 => return Err(error),
            Err(_) => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(250));
            }
        }
    }
}

/// The desk that handed over closes its window and its cache; the installer must not meet it.
fn wait_for_desk_to_close(data_dir: &Path, log: &Log) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match super::instance::claim(data_dir) {
            Ok(_lock) => return,
            Err(super::instance::InstanceError::AlreadyRunning) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(error) => {
                // The installer stops a desk still running; its cache is durable.
                log.line(&format!(
                    "the desk is still there ({error}); installing anyway"
                ));
                return;
            }
        }
    }
}

/// The helper's own log: it runs without a window, and the desk's log belongs to the desk.
struct Log(PathBuf);

impl Log {
    fn line(&self, text: &str) {
        use std::io::Write;
        let line = format!(
            "{} {} helper: {text}\n",
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
            RUNNING
        );
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.0)
        {
            let _ = file.write_all(line.as_bytes());
        }
    }
}

/// The helper with stand-ins for the installer and the desk (shell scripts): what it does
/// when the new version connects, and when it stops before it does. The whole update of the
/// real program under Wine is `tests/tests/windows_desk.rs`.
#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use super::{Handover, Outcome, apply, outcome};

    fn script(path: &Path, body: &str) -> std::io::Result<()> {
        std::fs::write(path, format!("#!/bin/sh\n{body}\n"))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
    }

    /// A data folder with a handover from 0.1.0 to 0.2.0 whose installer puts `new_program`
    /// in place of the program.
    fn handover(dir: &Path, new_program: &str) -> anyhow::Result<Handover> {
        let data = dir.join("data");
        let updates = data.join("updates");
        std::fs::create_dir_all(updates.join("previous"))?;
        let program = dir.join("installed").join("desk");
        std::fs::create_dir_all(program.parent().unwrap_or(dir))?;
        // The previous version notes what it finds at its start: a rolled-back desk must
        // read the outcome then, or it takes the same release again.
        let old = r#"cp "$1/updates/outcome.json" "$1/outcome-at-start" 2>/dev/null; exec sleep 2"#;
        script(&program, old)?;
        let previous = updates.join("previous/0.1.0-desk");
        std::fs::copy(&program, &previous)?;
        let new = dir.join("new-desk");
        script(&new, new_program)?;
        let installer = updates.join("0.2.0.exe");
        script(
            &installer,
            &format!("cp '{}' '{}'", new.display(), program.display()),
        )?;
        let handover = Handover {
            from: "0.1.0".into(),
            to: "0.2.0".into(),
            installer,
            program,
            previous,
            args: vec![data.display().to_string()],
            trial_s: 20,
        };
        std::fs::write(
            updates.join(super::HANDOVER),
            serde_json::to_vec(&handover)?,
        )?;
        Ok(handover)
    }

    #[test]
    fn a_new_version_that_connects_stays() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        // The new desk connects: it writes what the real one writes at its first welcome.
        let h = handover(
            dir.path(),
            r#"printf 0.2.0 > "$1/updates/confirmed"; exec sleep 2"#,
        )?;
        let data = dir.path().join("data");
        assert_eq!(apply(&data), 0);
        assert_eq!(
            outcome(&data),
            Some(Outcome {
                version: "0.2.0".into(),
                result: "updated".into()
            })
        );
        assert!(std::fs::read_to_string(&h.program)?.contains("confirmed"));
        assert!(h.previous.is_file(), "the previous version stays on disk");
        assert!(!data.join("updates").join(super::HANDOVER).exists());
        let installed = super::read_installed(&data.join("updates")).expect("installed.json");
        assert_eq!(
            (installed.update.to.as_str(), installed.crashes),
            ("0.2.0", 0)
        );
        Ok(())
    }

    #[test]
    fn a_connected_version_that_ends_without_stopping_twice_goes_back() -> anyhow::Result<()> {
        use super::{Installed, RUNNING, roll_back, roll_back_if_crashing};
        let dir = tempfile::tempdir()?;
        // Installed by an update from 0.0.9 to this version, which then connected.
        let mut h = handover(dir.path(), "exit 0")?;
        let data = dir.path().join("data");
        let updates = data.join("updates");
        let started = dir.path().join("previous-started");
        script(
            &h.previous,
            &format!(r#"echo "$@" >> '{}'; exec sleep 1"#, started.display()),
        )?;
        h.from = "0.0.9".into();
        h.to = RUNNING.into();
        let at = chrono::Utc::now();
        let installed = Installed {
            update: h.clone(),
            at,
            crashes: 0,
        };
        std::fs::write(
            updates.join(super::INSTALLED),
            serde_json::to_vec(&installed)?,
        )?;
        let crashes = || super::read_installed(&updates).map(|i| i.crashes);

        assert!(!roll_back_if_crashing(&data, false, at), "a clean stop");
        assert_eq!(crashes(), Some(0));
        let a_day_later = at + chrono::Duration::hours(25);
        assert!(!roll_back_if_crashing(&data, true, a_day_later));
        assert_eq!(
            crashes(),
            Some(0),
            "a crash a day after the update is not its fault"
        );
        assert!(!roll_back_if_crashing(&data, true, at), "one crash");
        assert_eq!(crashes(), Some(1));
        assert!(
            roll_back_if_crashing(&data, true, at),
            "the second: rolled back"
        );
        let mut seen = String::new();
        for _ in 0..100 {
            seen = std::fs::read_to_string(&started).unwrap_or_default();
            if !seen.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(
            seen.trim(),
            format!("{} {}", super::ROLL_BACK_ARG, data.display()),
            "the previous version was started to take the desk back"
        );

        // What that helper does: itself back in place, the outcome, then the desk started.
        assert_eq!(roll_back(&data), 1);
        assert_eq!(std::fs::read(&h.program)?, std::fs::read(&h.previous)?);
        assert_eq!(
            outcome(&data).map(|o| o.status()),
            Some(format!("failed {RUNNING}: rolled_back_crash"))
        );
        assert!(
            crashes().is_none(),
            "a rolled-back update is not watched again"
        );
        for _ in 0..100 {
            seen = std::fs::read_to_string(&started).unwrap_or_default();
            if seen.lines().count() == 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(
            seen.lines().nth(1),
            Some(data.display().to_string().as_str()),
            "started as the desk, with the desk's arguments"
        );
        let log = std::fs::read_to_string(updates.join(super::HELPER_LOG))?;
        assert!(log.contains("rolling back to 0.0.9"), "{log}");
        Ok(())
    }

    #[test]
    fn a_new_version_that_stops_twice_is_rolled_back() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let h = handover(dir.path(), r#"echo started >> "$1/starts"; exit 3"#)?;
        let data = dir.path().join("data");
        assert_eq!(apply(&data), 1);
        assert_eq!(
            outcome(&data).map(|o| o.status()),
            Some("failed 0.2.0: rolled_back_crash".into())
        );
        assert_eq!(
            std::fs::read_to_string(data.join("starts"))?
                .lines()
                .count(),
            2
        );
        assert_eq!(std::fs::read(&h.program)?, std::fs::read(&h.previous)?);
        let log = std::fs::read_to_string(data.join("updates").join(super::HELPER_LOG))?;
        assert!(log.contains("rolling back to 0.1.0"), "{log}");
        let mut seen = None;
        for _ in 0..100 {
            seen = std::fs::read_to_string(data.join("outcome-at-start")).ok();
            if seen.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(
            seen.is_some_and(|s| s.contains("rolled_back_crash")),
            "the version rolled back to found the outcome at its start"
        );
        Ok(())
    }

    #[test]
    fn an_installer_that_fails_leaves_the_running_version() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let h = handover(dir.path(), "exit 0")?;
        script(&h.installer, "exit 2")?;
        let data = dir.path().join("data");
        assert_eq!(apply(&data), 1);
        assert_eq!(
            outcome(&data).map(|o| o.status()),
            Some("failed 0.2.0: install_failed".into())
        );
        assert_eq!(std::fs::read(&h.program)?, std::fs::read(&h.previous)?);
        Ok(())
    }
}
