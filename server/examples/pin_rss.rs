//! Server memory after many PIN checks stays flat (argon2 memory is reused per thread).
//!   cargo run --release -p gymgate-server --example pin_rss

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    println!("start: {} KB", rss_kb());
    for round in 1..=4 {
        for _ in 0..10 {
            let Ok(hash) = gymgate_server::testing::hash_pin("1234") else {
                eprintln!("hashing failed");
                return;
            };
            assert!(gymgate_server::testing::verify_pin("1234", &hash));
        }
        println!("after {} hash+verify: {} KB", round * 10, rss_kb());
    }
}
