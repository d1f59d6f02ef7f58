use std::process::ExitCode;

fn main() -> ExitCode {
    match gymgate_server::cli::main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One readable line with its causes, never a backtrace, for operators.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
