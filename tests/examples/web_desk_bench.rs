//! The desk in a browser with 100,000 members in its center's roster (issue 24's figures):
//! the snapshot's size on the wire, pairing until the roster is in IndexedDB, roster search
//! percentiles in Chromium, the tab's JavaScript memory, and a reload from the service worker
//! with the server down (first paint, board ready). Real server, real SQLite file, real
//! headless Chromium. Prints the figures for docs/benchmarks.md.
//!   cargo run --release -p gymgate-tests --example web_desk_bench

use std::time::{Duration, Instant};

use gymgate_server::AppError;
use gymgate_server::Config;
use gymgate_server::testing::{Store, ts};
use gymgate_shared::{CenterId, MemberId};
use gymgate_tests::browser::{Browser, Screen};
use serde_json::Value;

const MEMBERS: usize = 100_000;
const QUERIES: usize = 500;
const TOKEN: &str = gymgate_tests::ADMIN_TOKEN;
const SURNAMES: [&str; 20] = [
    "김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오", "서", "신", "권", "황",
    "안", "송", "류", "홍",
];
const GIVEN: [&str; 30] = [
    "민준", "서연", "도윤", "지우", "하준", "서윤", "시우", "하은", "주원", "지유", "예준", "수아",
    "지호", "지민", "준서", "채원", "현우", "다은", "건우", "예은", "우진", "소율", "선우", "윤서",
    "연우", "가은", "유준", "지아", "정우", "하린",
];

fn percentiles(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("bench.db");
    let store = Store::open_sqlite(&db, Box::new(|_| {}))?;
    let center = CenterId::generate();
    let started = Instant::now();
    {
        let center = center.clone();
        store
            .writer
            .write(move |ctx| -> Result<(), AppError> {
                let now = ts(ctx.now);
                ctx.tx.execute(
                    "INSERT INTO plans (name, visits_per_month) VALUES ('월 8회', 8)",
                    &[],
                )?;
                ctx.tx.execute(
                    "INSERT INTO centers (id, name, address, created_at) VALUES (?1, '강남점', '서울', ?2)",
                    &[&center, &now],
                )?;
                Ok(())
            })
            .await?;
    }
    // Every member visited two days ago: all of them are in the center's roster.
    for chunk in 0..MEMBERS / 10_000 {
        let center = center.clone();
        store
            .writer
            .write(move |ctx| -> Result<(), AppError> {
                let now = ts(ctx.now);
                let visit = ts(ctx.now - chrono::Duration::days(2));
                for i in chunk * 10_000..(chunk + 1) * 10_000 {
                    let member = MemberId::generate();
                    ctx.tx.execute(
                        "INSERT INTO members (id, member_no, name, phone, pin_hash, plan_id,
                                              valid_from, valid_until, created_at)
                         VALUES (?1, ?2, ?3, ?4, 'x', 1, '2026-01-01', '2027-12-31', ?5)",
                        &[
                            &member,
                            &format!("{}", 1_000_000 + i),
                            &format!("{}{}", SURNAMES[i % 20], GIVEN[(i / 20) % 30]),
                            &format!("010-{:04}-{:04}", i / 10_000, (i * 7919) % 10_000),
                            &now,
                        ],
                    )?;
                    ctx.tx.execute(
                        "INSERT INTO checkins (id, member_id, center_id, status, method, at, rev, history)
                         VALUES (?1, ?2, ?3, 'admitted', 'app', ?4, 1, '[]')",
                        &[&MemberId::generate(), &member, &center, &visit],
                    )?;
                }
                Ok(())
            })
            .await?;
    }
    drop(store);
    println!(
        "{MEMBERS} members and their visits stored in {:.1} s",
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
    gymgate_tests::server::wait_ready(&url).await?;
    let fx = gymgate_tests::Fixture::new(url.clone());

    // The snapshot on the wire, as a browser takes it (gzip) and as the iced desk does.
    let desk = fx.desk(center.as_str()).await?;
    let http = reqwest::Client::new();
    for (label, encoding) in [
        ("gzip (browser)", "gzip"),
        ("identity (iced desk)", "identity"),
    ] {
        let t = Instant::now();
        let body = http
            .get(format!("{url}/api/v1/desk/snapshot"))
            .bearer_auth(&desk.token)
            .header("accept-encoding", encoding)
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        println!(
            "snapshot of {MEMBERS} members, {label}: {:.2} MB in {:.2} s",
            body.len() as f64 / 1e6,
            t.elapsed().as_secs_f64()
        );
    }

    let Some(browser) = Browser::start_as(
        Screen::Window(1366, 900),
        &[
            "--enable-precise-memory-info".into(),
            "--js-flags=--expose-gc".into(),
        ],
    )
    .await?
    else {
        anyhow::bail!("the benchmark needs Debian's chromium and chromium-driver");
    };
    let code = fx.admin.pairing_code(center.as_str()).await?;
    browser.client.goto(&format!("{url}/desk/")).await?;
    browser.type_into("#pair-code", &code.code).await?;
    let t = Instant::now();
    browser.click("#pair-submit").await?;
    let long = Duration::from_secs(300);
    browser
        .until_within(
            "the roster in the desk",
            &format!("return window.gymgateDesk && window.gymgateDesk.roster.members.size === {MEMBERS} && document.body.dataset.link === 'online';"),
            long,
        )
        .await?;
    println!(
        "paired → snapshot stored in IndexedDB and on the board: {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let memory = "gc(); await new Promise(r => setTimeout(r, 500)); gc(); \
                  return performance.memory.usedJSHeapSize;";
    let heap = browser.run(memory, Value::Null).await?;
    println!(
        "tab JavaScript heap with {MEMBERS} members (after GC): {:.1} MB",
        heap.as_f64().unwrap_or_default() / 1e6
    );

    let search = browser
        .run(
            "const [surnames, given, n, members] = args[0]; const roster = window.gymgateDesk.roster; \
             let t = performance.now(); roster.search('김'); const index = performance.now() - t; \
             const kinds = { \
               'name (2 syllables)': i => given[i % 30], \
               'full name': i => surnames[i % 20] + given[i % 30], \
               'last 4 phone digits': i => String((i * 7919) % 10000).padStart(4, '0'), \
               'member number': i => String(1000000 + (i * 37) % members), \
               'name and phone (김민준 1234)': i => surnames[i % 20] + given[i % 30] + ' ' + String((i * 7919) % 10000).padStart(4, '0') }; \
             const out = { index, kinds: {} }; \
             for (const [kind, q] of Object.entries(kinds)) { const times = []; let hits = 0; \
               for (let i = 0; i < n; i++) { const text = q(i); t = performance.now(); \
                 hits += roster.search(text).length; times.push(performance.now() - t); } \
               out.kinds[kind] = { times, hits }; } \
             return out;",
            serde_json::json!([SURNAMES, GIVEN, QUERIES, MEMBERS]),
        )
        .await?;
    anyhow::ensure!(search.get("error").is_none(), "{search}");
    println!(
        "roster index built on first search: {:.0} ms",
        search["index"].as_f64().unwrap_or_default()
    );
    for (kind, result) in search["kinds"].as_object().into_iter().flatten() {
        let times: Vec<f64> = serde_json::from_value(result["times"].clone())?;
        println!(
            "search {kind:<30} {} ({} hits in {QUERIES} queries)",
            percentiles(times),
            result["hits"]
        );
    }

    // Under the service worker, then the server goes: the page reloads from the cache.
    browser.client.refresh().await?;
    browser
        .until_within(
            "the page under the worker",
            "return !!navigator.serviceWorker.controller && !!window.gymgateDesk;",
            long,
        )
        .await?;
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(30), server).await;
    let mut paints = Vec::new();
    let mut ready = Vec::new();
    for _ in 0..5 {
        browser.client.goto(&format!("{url}/desk/")).await?;
        let timing = browser
            .until_within(
                "the board ready offline",
                "const p = performance.getEntriesByName('first-contentful-paint')[0]; \
                 const r = performance.getEntriesByName('gymgate-desk-ready')[0]; \
                 return p && r ? [p.startTime, r.startTime] : null;",
                long,
            )
            .await?;
        paints.push(timing[0].as_f64().unwrap_or_default());
        ready.push(timing[1].as_f64().unwrap_or_default());
    }
    println!("server down, reload from the service worker, 5 loads:");
    println!("  first contentful paint: {}", percentiles(paints));
    println!(
        "  board ready with {MEMBERS} members loaded from IndexedDB: {}",
        percentiles(ready)
    );
    let heap = browser.run(memory, Value::Null).await?;
    println!(
        "  tab JavaScript heap after the offline reload (after GC): {:.1} MB",
        heap.as_f64().unwrap_or_default() / 1e6
    );
    browser.close().await
}
