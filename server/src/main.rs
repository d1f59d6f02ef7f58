fn main() -> anyhow::Result<()> {
    gymgate_server::cli::main()
}
