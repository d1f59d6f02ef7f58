fn main() -> std::process::ExitCode {
    gymgate_server::cli::main_exit_code()
}
