//! The console's live page at fleet scale (issue 25): 1,500 centers and 10,000 paired desks,
//! 200 of them real desks on real WebSockets that keep connecting and dropping (two changes a
//! second), and several consoles holding the live stream open. Prints the bytes per second
//! each console receives and the CPU the process spent (server and the consoles' readers)
//! per second, for docs/benchmarks.md. Real server, real SQLite file, real sockets.
//!   cargo run --release -p gymgate-tests --example console_bench

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gymgate_server::testing::{Store, hash_token, ts};
use gymgate_server::{AppError, Config};
use gymgate_shared::{CenterId, DeskId};
use gymgate_tests::DeskClient;
use rand::Rng;

const CENTERS: usize = 1_500;
const DESKS: usize = 10_000;
/// Desks that really connect, drop and come back during the run.
const LIVE_DESKS: usize = 200;
const CONSOLES: usize = 5;
const MEASURE: Duration = Duration::from_secs(30);
const TOKEN: &str = gymgate_tests::ADMIN_TOKEN;

fn desk_token(i: usize) -> String {
    format!("bench-desk-token-{i:05}-0123456789abcdef")
}

/// CPU time this process has used (all threads).
fn cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("bench.db");
    let store = Store::open_sqlite(&db, Box::new(|_| {}))?;
    store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            let now = ts(ctx.now);
            let centers: Vec<CenterId> = (0..CENTERS).map(|_| CenterId::generate()).collect();
            for (i, center) in centers.iter().enumerate() {
                ctx.tx.execute(
                    "INSERT INTO centers (id, name, address, created_at) VALUES (?1, ?2, '서울', ?3)",
                    &[center, &format!("센터 {i:04}"), &now],
                )?;
            }
            for i in 0..DESKS {
                ctx.tx.execute(
                    "INSERT INTO desks (id, center_id, name, token_hash, paired_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    &[
                        &DeskId::generate(),
                        &centers[i % CENTERS],
                        &format!("데스크 {}", i / CENTERS + 1),
                        &hash_token(&desk_token(i)),
                        &now,
                    ],
                )?;
            }
            Ok(())
        })
        .await?;
    drop(store);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gymgate_server::run(
        listener,
        Config::new(db, TOKEN),
        async move {
            let _ = stopped.await;
        },
    ));
    gymgate_tests::server::wait_ready(&url).await?;
    let http = reqwest::Client::new();
    let full = http
        .get(format!("{url}/api/v1/admin/now"))
        .bearer_auth(TOKEN)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    println!(
        "{CENTERS} centers, {DESKS} desks: the whole live page is {:.2} MB",
        full.len() as f64 / 1e6
    );

    // Half the live desks online before the consoles open.
    let mut live: Vec<Option<DeskClient>> = Vec::with_capacity(LIVE_DESKS);
    for i in 0..LIVE_DESKS {
        live.push(if i % 2 == 0 {
            Some(DeskClient::join(&url, &desk_token(i), None, 0).await?.0)
        } else {
            None
        });
    }

    let bytes: Arc<Vec<AtomicU64>> = Arc::new((0..CONSOLES).map(|_| AtomicU64::new(0)).collect());
    let events: Arc<Vec<AtomicU64>> = Arc::new((0..CONSOLES).map(|_| AtomicU64::new(0)).collect());
    let mut readers = Vec::new();
    for c in 0..CONSOLES {
        let mut response = http
            .get(format!("{url}/api/v1/admin/now/stream"))
            .bearer_auth(TOKEN)
            .send()
            .await?
            .error_for_status()?;
        let (bytes, events) = (bytes.clone(), events.clone());
        readers.push(tokio::spawn(async move {
            while let Ok(Some(chunk)) = response.chunk().await {
                bytes[c].fetch_add(chunk.len() as u64, Ordering::Relaxed);
                let starts = chunk.windows(7).filter(|w| w == b"event: ").count();
                events[c].fetch_add(starts as u64, Ordering::Relaxed);
            }
        }));
    }
    // Past the first (whole) page of every console: what is measured is the steady state.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let bytes_before: Vec<u64> = bytes.iter().map(|b| b.load(Ordering::Relaxed)).collect();
    let events_before: Vec<u64> = events.iter().map(|e| e.load(Ordering::Relaxed)).collect();
    let (cpu_before, started) = (cpu(), Instant::now());
    let mut changes = 0u32;
    while started.elapsed() < MEASURE {
        let i = rand::rng().random_range(0..LIVE_DESKS);
        match live[i].take() {
            Some(desk) => desk.close().await?,
            None => live[i] = Some(DeskClient::join(&url, &desk_token(i), None, 0).await?.0),
        }
        changes += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (cpu_used, took) = (cpu() - cpu_before, started.elapsed());
    let per_console: Vec<f64> = bytes
        .iter()
        .zip(&bytes_before)
        .map(|(b, before)| (b.load(Ordering::Relaxed) - before) as f64 / took.as_secs_f64())
        .collect();
    let events_per_s = events
        .iter()
        .zip(&events_before)
        .map(|(e, before)| (e.load(Ordering::Relaxed) - before) as f64)
        .sum::<f64>()
        / CONSOLES as f64
        / took.as_secs_f64();
    let mean = per_console.iter().sum::<f64>() / CONSOLES as f64;
    let max = per_console.iter().copied().fold(0.0, f64::max);
    println!(
        "{CONSOLES} consoles on the live stream for {:.0} s, {changes} desk connections made or dropped:",
        took.as_secs_f64()
    );
    println!(
        "  per console: {:.1} KB/s mean, {:.1} KB/s max, {events_per_s:.2} events/s",
        mean / 1e3,
        max / 1e3
    );
    println!(
        "  CPU: {:.1}% of one core ({:.2} s in {:.0} s)",
        cpu_used.as_secs_f64() / took.as_secs_f64() * 100.0,
        cpu_used.as_secs_f64(),
        took.as_secs_f64()
    );
    for desk in live.into_iter().flatten() {
        desk.close().await?;
    }
    for reader in &readers {
        reader.abort();
    }
    let _ = stop.send(());
    server.await??;
    Ok(())
}
