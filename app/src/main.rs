// Windows release builds are GUI programs: no console window behind the desk.
#![cfg_attr(all(windows, not(debug_assertions)), windows_subsystem = "windows")]

use std::path::PathBuf;

fn usage() -> ! {
    eprintln!(
        "usage: gymgate-desk [--demo] [--data-dir DIR]\n  \
         --demo       pair with the local demo server (gymgate-server demo)\n  \
         --data-dir   where the cache, pairing and logs live"
    );
    std::process::exit(2);
}

fn main() -> std::process::ExitCode {
    let mut demo = false;
    let mut data_dir: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--demo" => demo = true,
            "--data-dir" => {
                data_dir = Some(args.next().map(PathBuf::from).unwrap_or_else(|| usage()))
            }
            _ => usage(),
        }
    }
    let data_dir = data_dir.unwrap_or_else(|| gymgate_desk::default_data_dir(demo));
    let _log_guard = gymgate_desk::init_logging(&data_dir);
    tracing::info!(data_dir = %data_dir.display(), demo, "gymgate desk starting");
    match gymgate_desk::ui::run(data_dir, demo) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "the desk window failed");
            eprintln!("gymgate-desk: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
