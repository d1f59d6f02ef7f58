fn main() -> std::process::ExitCode {
    gymgate_server::main_exit_code()
}
