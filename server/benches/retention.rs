//! What a retention run costs the taps that arrive meanwhile: 200,000 events past retention
//! over 200 centers and 50,000 expired member tokens are deleted while a write (a tap's
//! stand-in: one row changed, committed with fsync) arrives every millisecond. Prints how long
//! those writes took, for the whole sweep in one job (as retention used to run) and for jobs
//! of 2,000 and of 500 rows (the server's chunk).
//!   cargo bench -p gymgate-server --bench retention

use std::time::{Duration, Instant};

use chrono::Utc;
use gymgate_server::testing::prune_in_chunks;
use gymgate_server::testing::{Store, StoreError, ts};

const CENTERS: usize = 200;
const OLD_EVENTS_PER_CENTER: usize = 1000;
const EXPIRED_TOKENS: usize = 50_000;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    println!(
        "retention of {} events and {EXPIRED_TOKENS} tokens, one write per ms meanwhile",
        CENTERS * OLD_EVENTS_PER_CENTER
    );
    println!("| jobs of | sweep | jobs | writes meanwhile | p50 | p99 | max |");
    println!("|---|---|---|---|---|---|---|");
    for (label, chunk) in [
        ("the whole sweep", usize::MAX),
        ("2,000 rows", 2000),
        ("500 rows", 500),
    ] {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("retention.db");
        let store = Store::open_sqlite(&path, Box::new(|_| {}))?;
        fill(&path)?;
        runtime.block_on(async {
            let writer = store.writer.clone();
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let stop_writes = stop.clone();
            let tapping = tokio::spawn(async move {
                let mut took = Vec::new();
                let mut every = tokio::time::interval(Duration::from_millis(1));
                loop {
                    every.tick().await;
                    let started = Instant::now();
                    let write = writer
                        .write(|ctx| -> Result<usize, StoreError> {
                            ctx.tx.execute(
                                "UPDATE centers SET address = address || '' WHERE id = 'c0'",
                                &[],
                            )
                        })
                        .await;
                    if write.is_err() {
                        return took;
                    }
                    took.push(started.elapsed());
                    if stop_writes.load(std::sync::atomic::Ordering::Relaxed) {
                        return took;
                    }
                }
            });
            // Let the writes settle into their rhythm first.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let started = Instant::now();
            let pruned =
                prune_in_chunks(&store.writer, Utc::now(), chrono::Duration::days(30), chunk)
                    .await?;
            let sweep = started.elapsed();
            tokio::time::sleep(Duration::from_millis(200)).await;
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let mut took = tapping.await?;
            anyhow::ensure!(
                pruned.events == CENTERS * OLD_EVENTS_PER_CENTER && pruned.tokens == EXPIRED_TOKENS,
                "not everything was pruned: {pruned:?}"
            );
            took.sort();
            let at = |q: f64| {
                took.get(((took.len() as f64 * q) as usize).min(took.len().saturating_sub(1)))
                    .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
            };
            println!(
                "| {label} | {:.0} ms | {} | {} | {:.2} ms | {:.2} ms | {:.1} ms |",
                sweep.as_secs_f64() * 1000.0,
                pruned.jobs,
                took.len(),
                at(0.5),
                at(0.99),
                at(1.0)
            );
            anyhow::Ok(())
        })?;
    }
    Ok(())
}

/// Old events, a few recent ones per center, expired tokens: written directly, one
/// transaction.
fn fill(path: &std::path::Path) -> anyhow::Result<()> {
    let mut conn = rusqlite::Connection::open(path)?;
    let tx = conn.transaction()?;
    let old = Utc::now() - chrono::Duration::days(40);
    let recent = ts(Utc::now());
    tx.execute_batch(
        "INSERT INTO plans (id, name, visits_per_month) VALUES (1, '무제한', NULL);
         INSERT INTO members (id, member_no, name, phone, pin_hash, plan_id, valid_from,
                              valid_until, created_at)
         VALUES ('m1', 'A1', '회원', '010', 'x', 1, '2020-01-01', '2099-12-31', '2026-01-01');",
    )?;
    {
        let mut center =
            tx.prepare("INSERT INTO centers (id, name, created_at) VALUES (?1, ?1, ?2)")?;
        let mut event = tx.prepare(
            "INSERT INTO events (center_id, seq, at, kind, data) VALUES (?1, ?2, ?3, 'notice', '{}')",
        )?;
        for c in 0..CENTERS {
            let id = format!("c{c}");
            center.execute(rusqlite::params![id, recent])?;
            for seq in 1..=OLD_EVENTS_PER_CENTER {
                let at = ts(old + chrono::Duration::seconds(seq as i64));
                event.execute(rusqlite::params![id, seq as i64, at])?;
            }
            for seq in OLD_EVENTS_PER_CENTER + 1..=OLD_EVENTS_PER_CENTER + 5 {
                event.execute(rusqlite::params![id, seq as i64, recent])?;
            }
        }
        let mut token = tx.prepare(
            "INSERT INTO member_tokens (token_hash, member_id, created_at, expires_at)
             VALUES (?1, 'm1', ?2, ?2)",
        )?;
        for n in 0..EXPIRED_TOKENS {
            token.execute(rusqlite::params![
                (n as u64).to_le_bytes().to_vec(),
                ts(old)
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}
