//! The console with 100,000 members and 1,500 centers: member pages (the first page, pages
//! deep in the list by keyset paging, searches by number, name and phone) and a month's
//! settlement of every center, each timed over real HTTP. Prints percentiles.
//!   cargo bench -p gymgate-server --bench console
//! On PostgreSQL, a fresh empty database (its tables are made by the server):
//!   GYMGATE_BENCH_DATABASE_URL=postgres://…/fresh cargo bench -p gymgate-server --bench console

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use gymgate_server::testing::{Store, ts};
use gymgate_server::{AppError, Config};
use gymgate_shared::{CenterId, CheckinId, MemberId};

const MEMBERS: usize = 100_000;
const ROUNDS: usize = 200;
/// Centers, and each one's visits in the settled month (November 2026): 300,000 in all, a
/// month of 100,000 members at three visits each.
const CENTERS: usize = 1_500;
const VISITS_PER_CENTER: usize = 200;
/// A settlement reads every center's month: fewer rounds.
const SETTLEMENT_ROUNDS: usize = 10;
const TOKEN: &str = "bench-admin-token-0123456789";

/// The path of the i-th request of a case.
type RequestPath = Box<dyn Fn(usize) -> String>;

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |p: f64| {
        let i = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1000.0
    };
    format!(
        "p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        at(0.50),
        at(0.95),
        at(0.99),
        at(1.0)
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("console.db");
    let database_url = std::env::var("GYMGATE_BENCH_DATABASE_URL").ok();
    let store = match &database_url {
        // The blocking driver starts a runtime of its own: open it off this one.
        Some(url) => {
            let url = url.clone();
            tokio::task::spawn_blocking(move || {
                Store::open_postgres(&url, "bench", 2, 1, Box::new(|_| {}))
            })
            .await??
        }
        None => Store::open_sqlite(&db, Box::new(|_| {}))?,
    };
    println!(
        "backend: {}",
        if database_url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    let started = Instant::now();
    // A few write jobs of 10,000 members each, as an import would leave them.
    store
        .writer
        .write(|ctx| -> Result<(), AppError> {
            ctx.tx.execute(
                "INSERT INTO plans (name, visits_per_month) VALUES ('월 8회', 8)",
                &[],
            )?;
            Ok(())
        })
        .await?;
    for chunk in 0..MEMBERS / 10_000 {
        store
            .writer
            .write(move |ctx| -> Result<(), AppError> {
                let now = ts(ctx.now);
                for i in chunk * 10_000..(chunk + 1) * 10_000 {
                    ctx.tx.execute(
                        "INSERT INTO members (id, member_no, name, phone, pin_hash, plan_id,
                                              valid_from, valid_until, created_at)
                         VALUES (?1, ?2, ?3, ?4, 'x', 1, '2026-01-01', '2027-12-31', ?5)",
                        &[
                            &MemberId::generate(),
                            &format!("{:06}", 100_000 + i),
                            &format!("회원{}", i % 5000),
                            &format!("010-{:04}-{:04}", i / 10_000, i % 10_000),
                            &now,
                        ],
                    )?;
                }
                Ok(())
            })
            .await?;
    }
    println!(
        "{MEMBERS} members stored in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let centers: Vec<CenterId> = (0..CENTERS).map(|_| CenterId::generate()).collect();
    for (c, center) in centers.iter().enumerate() {
        let center = center.clone();
        store
            .writer
            .write(move |ctx| -> Result<(), AppError> {
                ctx.tx.execute(
                    "INSERT INTO centers (id, name, created_at) VALUES (?1, ?2, ?3)",
                    &[&center, &format!("센터{c:04}"), &ts(ctx.now)],
                )?;
                // Members take turns, visits spread over the month's 30 days and 12 hours.
                for v in 0..VISITS_PER_CENTER {
                    let n = c * VISITS_PER_CENTER + v;
                    let at = Utc
                        .with_ymd_and_hms(2026, 11, 1 + (n % 30) as u32, (n % 12) as u32, 0, 0)
                        .single()
                        .unwrap_or_default();
                    let status = if n.is_multiple_of(20) {
                        "voided"
                    } else {
                        "admitted"
                    };
                    ctx.tx.execute(
                        "INSERT INTO checkins (id, member_id, center_id, status, method, at, rev,
                                               history)
                         SELECT ?1, id, ?2, ?3, 'app', ?4, 1, '[]' FROM members
                         WHERE member_no = ?5",
                        &[
                            &CheckinId::generate(),
                            &center,
                            &status,
                            &ts(at),
                            &format!("{:06}", 100_000 + n % MEMBERS),
                        ],
                    )?;
                }
                Ok(())
            })
            .await?;
    }
    drop(store);
    println!(
        "{CENTERS} centers with {} visits in 2026-11 stored in {:.1} s",
        CENTERS * VISITS_PER_CENTER,
        started.elapsed().as_secs_f64()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut config = Config::new(db, TOKEN);
    config.database_url = database_url;
    let server = tokio::spawn(gymgate_server::run(listener, config, async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let get = |path: String| {
        let request = http.get(format!("{url}{path}")).bearer_auth(TOKEN);
        async move {
            let t = Instant::now();
            let response = request.send().await?;
            anyhow::ensure!(response.status().is_success(), "{}", response.status());
            let body: serde_json::Value = response.json().await?;
            anyhow::ensure!(
                body["members"].as_array().is_some_and(|m| !m.is_empty()),
                "empty page"
            );
            Ok::<_, anyhow::Error>(t.elapsed())
        }
    };
    // Ready once a page answers.
    let deadline = Instant::now() + Duration::from_secs(30);
    while get("/api/v1/admin/members?limit=50".into()).await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cases: Vec<(&str, RequestPath)> = vec![
        (
            "first page",
            Box::new(|_| "/api/v1/admin/members?limit=50".into()),
        ),
        (
            "a page deep in the list (after=…)",
            Box::new(|i| {
                format!(
                    "/api/v1/admin/members?limit=50&after={:06}",
                    100_000 + (i * 487) % 99_000
                )
            }),
        ),
        (
            "search by member number prefix",
            Box::new(|i| format!("/api/v1/admin/members?q={:05}", 10_000 + (i * 37) % 9_000)),
        ),
        (
            "search by name",
            Box::new(|i| {
                format!(
                    "/api/v1/admin/members?q=%ED%9A%8C%EC%9B%90{}",
                    (i * 13) % 5000
                )
            }),
        ),
        (
            "search by phone (digits only)",
            Box::new(|i| {
                format!(
                    "/api/v1/admin/members?q=010{:04}{:04}",
                    i % 10,
                    (i * 7) % 10_000
                )
            }),
        ),
    ];
    for (name, path) in &cases {
        let mut samples = Vec::with_capacity(ROUNDS);
        for i in 0..ROUNDS {
            samples.push(get(path(i)).await?);
        }
        println!("{name:38} {ROUNDS} requests: {}", percentiles(samples));
    }
    // Settlement: every center's month, its totals and its statement digest, as JSON and as
    // the CSV operators download.
    for (name, path) in [
        (
            "settlement of 2026-11 (JSON)",
            "/api/v1/admin/settlement?month=2026-11",
        ),
        (
            "settlement of 2026-11 (CSV)",
            "/api/v1/admin/settlement.csv?month=2026-11",
        ),
    ] {
        let mut samples = Vec::with_capacity(SETTLEMENT_ROUNDS);
        let mut size = 0;
        for _ in 0..SETTLEMENT_ROUNDS {
            let t = Instant::now();
            let response = http
                .get(format!("{url}{path}"))
                .bearer_auth(TOKEN)
                .send()
                .await?;
            anyhow::ensure!(response.status().is_success(), "{}", response.status());
            let body = response.bytes().await?;
            samples.push(t.elapsed());
            size = body.len();
            if path.contains(".csv") {
                // A header line and one line per center.
                let lines = body.iter().filter(|&&b| b == b'\n').count();
                anyhow::ensure!(lines == CENTERS + 1, "{lines} CSV lines");
            } else {
                let statements: serde_json::Value = serde_json::from_slice(&body)?;
                let admitted: u64 = statements
                    .as_array()
                    .map(|all| {
                        all.iter()
                            .filter_map(|s| s["totals"]["admitted"].as_u64())
                            .sum()
                    })
                    .unwrap_or(0);
                let expected = (CENTERS * VISITS_PER_CENTER * 19 / 20) as u64;
                anyhow::ensure!(admitted == expected, "{admitted} admitted, not {expected}");
            }
        }
        println!(
            "{name:38} {SETTLEMENT_ROUNDS} requests ({} KB): {}",
            size / 1024,
            percentiles(samples)
        );
    }
    let _ = stop.send(());
    server.await??;
    Ok(())
}
