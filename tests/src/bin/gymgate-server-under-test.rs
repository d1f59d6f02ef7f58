//! The server's own command line, built inside this package so end-to-end tests can run it as
//! a real process (and SIGKILL it) through `CARGO_BIN_EXE_gymgate-server-under-test`.

fn main() -> std::process::ExitCode {
    gymgate_server::main_exit_code()
}
