//! The server's own command line, built inside this package so end-to-end tests can run it as
//! a real process (and SIGKILL it) through `CARGO_BIN_EXE_gymgate-server-under-test`.

use std::process::ExitCode;

fn main() -> ExitCode {
    match gymgate_server::cli::main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
