// Windows release builds are GUI programs: no console window behind the desk.
#![cfg_attr(all(windows, not(debug_assertions)), windows_subsystem = "windows")]

use std::path::PathBuf;

use gymgate_desk::ui::AutoPair;

/// Where an unattended install puts the pairing code: an environment variable, never the
/// command line (other users of the PC can read command lines; logs record them).
const PAIRING_CODE_VAR: &str = "GYMGATE_PAIRING_CODE";

fn usage() -> ! {
    eprintln!(
        "usage: gymgate-desk [--demo] [--data-dir DIR] [--server URL [--desk-name NAME]]\n  \
         --demo       pair with the local demo server (gymgate-server demo)\n  \
         --data-dir   where the cache, pairing and logs live\n  \
         --server     pair with this server on first start, with the code in\n               \
         {PAIRING_CODE_VAR} (for unattended installs)\n  \
         --desk-name  the desk's name when paired that way (default: 데스크)\n  \
         --version    print the version"
    );
    std::process::exit(2);
}

fn main() -> std::process::ExitCode {
    let mut demo = false;
    let mut data_dir: Option<PathBuf> = None;
    let mut server: Option<String> = None;
    let mut desk_name = "데스크".to_owned();
    let given: Vec<String> = std::env::args().skip(1).collect();
    // The update helper: a copy of the version that was running, without a window.
    if given.first().map(String::as_str) == Some(gymgate_desk_core::install::APPLY_ARG) {
        let Some(dir) = given.get(1) else { usage() };
        let code = gymgate_desk_core::install::apply(std::path::Path::new(dir));
        return std::process::ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    // The previous version, taking the desk back from a new one that keeps crashing.
    if given.first().map(String::as_str) == Some(gymgate_desk_core::install::ROLL_BACK_ARG) {
        let Some(dir) = given.get(1) else { usage() };
        let code = gymgate_desk_core::install::roll_back(std::path::Path::new(dir));
        return std::process::ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let mut args = given.clone().into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--demo" => demo = true,
            "--data-dir" => {
                data_dir = Some(args.next().map(PathBuf::from).unwrap_or_else(|| usage()))
            }
            "--server" => server = Some(args.next().unwrap_or_else(|| usage())),
            "--desk-name" => desk_name = args.next().unwrap_or_else(|| usage()),
            "--version" => {
                println!("gymgate-desk {}", gymgate_desk_core::update::RUNNING);
                return std::process::ExitCode::SUCCESS;
            }
            _ => usage(),
        }
    }
    let auto_pair = match (demo, server) {
        (true, _) => Some(AutoPair::demo()),
        (false, Some(server)) => Some(AutoPair {
            server,
            // Without a code the pairing screen opens with the server filled in.
            code: std::env::var(PAIRING_CODE_VAR).unwrap_or_default(),
            name: desk_name,
        }),
        (false, None) => None,
    };
    let data_dir = data_dir.unwrap_or_else(|| gymgate_desk::default_data_dir(demo));
    let _log_guard = gymgate_desk::init_logging(&data_dir);
    let _instance = match gymgate_desk_core::instance::claim(&data_dir) {
        Ok(instance) => Some(instance),
        Err(gymgate_desk_core::instance::InstanceError::AlreadyRunning) => {
            tracing::info!("a second start while the desk runs; saying so and closing");
            eprintln!("gymgate-desk: already running with {}", data_dir.display());
            return match gymgate_desk::ui::run_already_running(&data_dir) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(_) => std::process::ExitCode::FAILURE,
            };
        }
        Err(error) => {
            // The cache's own checks still guard the files; the desk must run.
            tracing::warn!(%error, "cannot take the single-instance lock; starting anyway");
            None
        }
    };
    tracing::info!(
        data_dir = %data_dir.display(),
        demo,
        version = gymgate_desk_core::update::RUNNING,
        "gymgate desk starting"
    );
    // A new version that keeps ending without stopping goes back to the one before it; the
    // running mark stays, so the version rolled back to counts and reports this crash.
    if gymgate_desk_core::install::roll_back_if_crashing(
        &data_dir,
        gymgate_desk_core::health::ended_without_stopping(&data_dir),
        chrono::Utc::now(),
    ) {
        return std::process::ExitCode::SUCCESS;
    }
    // A panic leaves a short report for the server; the next start counts it as a crash.
    gymgate_desk_core::health::install_panic_hook(data_dir.clone());
    // An update starts the new version with the same arguments.
    let outcome = gymgate_desk::ui::run(data_dir.clone(), auto_pair, given);
    // The window closed as staff closed it: the next start is not a crash.
    gymgate_desk_core::health::note_clean_stop(&data_dir);
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "the desk window failed");
            eprintln!("gymgate-desk: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
