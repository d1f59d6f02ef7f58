//! The center program (iced desktop app with an offline cache) is being built; until then this
//! binary only says so, so the workspace builds end to end.

fn main() {
    eprintln!(
        "gymgate-desk: the center program is not built yet. Run the server demo with\n  \
         cargo run --release -p gymgate-server -- demo"
    );
    std::process::exit(2);
}
