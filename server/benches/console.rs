//! The console's member pages with 100,000 members: the first page, pages deep in the list
//! (keyset paging), and searches by number, name and phone, each timed over real HTTP
//! against a real SQLite file. Prints percentiles.
//!   cargo bench -p gymgate-server --bench console

use std::time::{Duration, Instant};

use gymgate_server::testing::{Store, ts};
use gymgate_server::{AppError, Config};
use gymgate_shared::MemberId;

const MEMBERS: usize = 100_000;
const ROUNDS: usize = 200;
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
    let store = Store::open_sqlite(&db, Box::new(|_| {}))?;
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
    drop(store);
    println!(
        "{MEMBERS} members stored in {:.1} s",
        started.elapsed().as_secs_f64()
    );

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
    let _ = stop.send(());
    server.await??;
    Ok(())
}
