//! Trust, accounts and PINs (issue 13, findings 4–6): guessing is slowed, locked and noticed;
//! unknown numbers look like known ones; bogus logins hold no memory; a flood from one
//! address does not starve everyone else.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use gymgate_tests::{Fixture, PIN, ServerProcess, TestServer, WebhookStub};
use reqwest::StatusCode;

const EXE: &str = env!("CARGO_BIN_EXE_gymgate-server-under-test");

/// The starvation test measures login times, so it runs alone: the other tests here (one of
/// them sends 100,000 logins to a server of its own) share the machine's cores with it
/// otherwise, and on a 2-core CI machine that, not the server, decided whether 95% of its
/// logins made 2 s. They take this shared, it takes it exclusively.
static CORES: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// A phone on a given loopback address (the server limits per address).
fn phone(last: u8) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 2, last)))
        .timeout(Duration::from_secs(30))
        .build()?)
}

async fn login(
    http: &reqwest::Client,
    url: &str,
    member_no: &str,
    pin: &str,
) -> anyhow::Result<(StatusCode, String, reqwest::header::HeaderMap)> {
    let response = http
        .post(format!("{url}/api/v1/auth/member"))
        .json(&serde_json::json!({"member_no": member_no, "pin": pin}))
        .send()
        .await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body: serde_json::Value = response.json().await?;
    let code = body["error"]["code"].as_str().unwrap_or("").to_owned();
    Ok((status, code, headers))
}

/// Finding 4. Wrong PINs for one member are slowed (a growing delay, answered at once with
/// 429 and Retry-After), then locked (403 `account_locked`, even for the right PIN); an
/// operator sees the lock and lifts it through the API or the CLI.
#[tokio::test]
async fn wrong_pins_are_slowed_then_locked_and_an_operator_unlocks() -> anyhow::Result<()> {
    let _shared = CORES.read().await;
    let server = TestServer::start_with(|c| {
        c.logins.free_failures = 2;
        c.logins.first_delay = Duration::from_millis(150);
        c.logins.max_delay = Duration::from_millis(300);
        c.logins.lock_after = 5;
    })
    .await?;
    let fx = Fixture::new(server.url());
    let numbers = fx.members("LK", 1, None).await?;
    let (url, http) = (server.url(), reqwest::Client::new());
    let no = numbers[0].as_str();

    for _ in 0..3 {
        assert_eq!(
            login(&http, &url, no, "0000").await?.1,
            "invalid_credentials"
        );
    }
    // Three failures, two free: the next try must wait.
    let (status, code, headers) = login(&http, &url, no, PIN).await?;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "login_delayed")
    );
    assert!(headers.contains_key("retry-after"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        login(&http, &url, no, "0000").await?.1,
        "invalid_credentials"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    // The fifth wrong PIN locks the number.
    let (status, code, _) = login(&http, &url, no, "0000").await?;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "account_locked")
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (status, code, _) = login(&http, &url, no, PIN).await?;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "account_locked"),
        "locked even for the right PIN"
    );
    let lock = fx.admin.pin_lock(no).await?;
    assert_eq!(lock.failures, 5);
    let until = lock
        .locked_until
        .ok_or_else(|| anyhow::anyhow!("not locked"))?;
    assert!(until > chrono::Utc::now() + chrono::Duration::hours(23));

    // Unlocked with the CLI, the member logs in.
    let unlocked = tokio::process::Command::new(EXE)
        .args(["admin", "--url", &url, "member", "unlock", no])
        .env("GYMGATE_ADMIN_TOKEN", gymgate_tests::ADMIN_TOKEN)
        .output()
        .await?;
    assert!(unlocked.status.success(), "{unlocked:?}");
    assert!(String::from_utf8_lossy(&unlocked.stdout).contains("unlocked"));
    let (status, _, _) = login(&http, &url, no, PIN).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fx.admin.pin_lock(no).await?.failures, 0);
    Ok(())
}

/// Finding 4. A member number that belongs to nobody costs what a real one costs (a PIN
/// hash, a write) and gets the same answers, up to the same lock: neither timing nor answers
/// list valid numbers. Before, unknown numbers answered in ~1 ms and known ones in ~26 ms.
#[tokio::test]
async fn unknown_member_numbers_cost_and_answer_the_same_as_known_ones() -> anyhow::Result<()> {
    let _shared = CORES.read().await;
    let server = TestServer::start_with(|c| c.logins.lock_after = 3).await?;
    let fx = Fixture::new(server.url());
    let known = fx.members("KN", 8, None).await?;
    let unknown: Vec<String> = (1..=8).map(|i| format!("NO{i:04}")).collect();
    let (url, http) = (server.url(), reqwest::Client::new());
    // Warm up both paths.
    login(&http, &url, &known[0], "9999").await?;
    login(&http, &url, &unknown[0], "9999").await?;
    let (mut known_ms, mut unknown_ms) = (Vec::new(), Vec::new());
    for (k, u) in known.iter().zip(&unknown).skip(1) {
        for (no, times) in [(k, &mut known_ms), (u, &mut unknown_ms)] {
            let started = Instant::now();
            let (status, code, _) = login(&http, &url, no, "9999").await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::UNAUTHORIZED, "invalid_credentials")
            );
        }
    }
    let median = |times: &mut Vec<f64>| {
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    let (k, u) = (median(&mut known_ms), median(&mut unknown_ms));
    println!("login with a wrong PIN: known numbers median {k:.1} ms, unknown {u:.1} ms");
    assert!(
        u > k * 0.6 && k > u * 0.6,
        "known {k:.1} ms vs unknown {u:.1} ms: the difference names valid numbers"
    );
    // The lock answers the same too.
    for no in [&known[0], &unknown[0]] {
        let mut last = String::new();
        for _ in 0..2 {
            last = login(&http, &url, no, "9999").await?.1;
        }
        assert_eq!(last, "account_locked", "{no}");
    }
    Ok(())
}

/// Finding 4. One address trying one PIN across many members is cut off by the per-address
/// limits (before: not slowed at all); other addresses are not.
#[tokio::test]
async fn one_address_guessing_across_many_members_is_cut_off() -> anyhow::Result<()> {
    let _shared = CORES.read().await;
    let server = TestServer::start_with(|c| {
        c.logins.attempts_per_ip_per_minute = 1000;
        c.logins.failures_per_ip_per_hour = 10;
    })
    .await?;
    let fx = Fixture::new(server.url());
    let numbers = fx.members("SP", 15, None).await?;
    let url = server.url();
    let guesser = phone(10)?;
    let mut answers = Vec::new();
    for no in &numbers[..12] {
        answers.push(login(&guesser, &url, no, "1111").await?.0.as_u16());
    }
    assert_eq!(&answers[..10], &[401; 10]);
    assert_eq!(&answers[10..], &[429, 429], "{answers:?}");
    // Even a right PIN from that address waits; from another address it works.
    assert_eq!(
        login(&guesser, &url, &numbers[12], PIN).await?.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login(&phone(11)?, &url, &numbers[12], PIN).await?.0,
        StatusCode::OK
    );
    Ok(())
}

/// Finding 4. Wrong PINs over the threshold per minute raise the guessing alert on the
/// Slack channel.
#[tokio::test]
async fn a_guessing_campaign_is_alerted() -> anyhow::Result<()> {
    let _shared = CORES.read().await;
    let slack = WebhookStub::start().await?;
    let server = TestServer::start_with(|c| {
        c.alerts.slack_url = Some(slack.url.clone());
        c.alerts.check_every = Duration::from_millis(50);
        c.alerts.delivery.min_interval = Duration::from_millis(20);
        c.alerts.rules.login_failures_per_minute = 10;
    })
    .await?;
    let fx = Fixture::new(server.url());
    let numbers = fx.members("AL", 12, None).await?;
    let http = reqwest::Client::new();
    for no in &numbers {
        login(&http, &server.url(), no, "0000").await?;
    }
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
    loop {
        let messages = slack.delivered();
        if messages.iter().any(|m| m.contains("PIN")) {
            let alert = messages
                .iter()
                .find(|m| m.contains("PIN"))
                .cloned()
                .unwrap_or_default();
            assert!(alert.contains("대입"), "{alert}");
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no guessing alert: {messages:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = fx.admin.incidents(20).await?;
    assert!(log.iter().any(|i| i.key == "pin_guessing"), "{log:?}");
    Ok(())
}

fn rss_kb(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS"))
}

/// Finding 5. 100,000 bogus logins, each a different member number (long garbage and
/// plausible numbers of nobody), grow the server's memory by at most 5 MB. Before, the
/// limiter kept an entry per number as sent (~60 KB each): 3,000 took RSS from 54 to 234 MB.
#[tokio::test]
async fn bogus_logins_leave_the_servers_memory_flat() -> anyhow::Result<()> {
    let _shared = CORES.read().await;
    const TOTAL: usize = 100_000;
    let (_keep, data) = gymgate_tests::server::data_dir()?;
    let server = ServerProcess::spawn_env(
        EXE,
        &data,
        &[],
        &[
            ("GYMGATE_LOGINS_PER_IP_PER_MINUTE", "30"),
            ("GYMGATE_LOGIN_FAILURES_PER_IP_PER_HOUR", "100"),
        ],
    )
    .await?;
    let pid = server
        .pid()
        .ok_or_else(|| anyhow::anyhow!("no server pid"))?;
    let url = server.url();
    let garbage = "가".repeat(600);
    let send = |from: usize, to: usize| {
        let (url, garbage) = (url.clone(), garbage.clone());
        async move {
            let phones: Vec<reqwest::Client> =
                (0..16).map(|i| phone(100 + i)).collect::<Result<_, _>>()?;
            let statuses = futures_util::StreamExt::collect::<Vec<_>>(
                futures_util::StreamExt::buffer_unordered(
                    futures_util::stream::iter((from..to).map(|i| {
                        let http = phones[i % phones.len()].clone();
                        let member_no = if i % 2 == 0 {
                            format!("{garbage}{i}")
                        } else {
                            format!("B{i:07}")
                        };
                        let url = url.clone();
                        async move {
                            http.post(format!("{url}/api/v1/auth/member"))
                                .json(&serde_json::json!({"member_no": member_no, "pin": "1234"}))
                                .send()
                                .await
                                .map(|r| r.status().as_u16())
                        }
                    })),
                    32,
                ),
            )
            .await;
            anyhow::Ok(statuses)
        }
    };
    // Warm-up: connections, buffers, the PIN workers' memory.
    send(0, 5_000).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kb(pid)?;
    let started = Instant::now();
    let statuses = send(5_000, 5_000 + TOTAL).await?;
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = rss_kb(pid)?;
    let answered: Vec<u16> = statuses.into_iter().collect::<Result<_, _>>()?;
    assert_eq!(answered.len(), TOTAL);
    assert!(
        answered.iter().all(|s| *s == 401 || *s == 429),
        "every bogus login is refused"
    );
    let grown_mb = after.saturating_sub(before) as f64 / 1024.0;
    println!(
        "{TOTAL} bogus logins in {:.1} s: RSS {:.1} → {:.1} MB (+{grown_mb:.2} MB)",
        took.as_secs_f64(),
        before as f64 / 1024.0,
        after as f64 / 1024.0
    );
    assert!(grown_mb <= 5.0, "RSS grew {grown_mb:.2} MB");
    // Still serving.
    let ready = reqwest::get(format!("{url}/readyz")).await?;
    assert_eq!(ready.status(), 200);
    Ok(())
}

/// Finding 6. 300 tasks flooding wrong PINs from one address while members log in from
/// others: at least 95% of those logins succeed within 2 s. Before, the flood filled the
/// two PIN workers' queue and 11 of 12 legitimate logins got 429.
#[tokio::test]
async fn a_wrong_pin_flood_from_one_address_does_not_starve_the_others() -> anyhow::Result<()> {
    let _alone = CORES.write().await;
    const MEMBERS: usize = 40;
    let server = TestServer::start_with(|c| {
        c.logins = gymgate_server::LoginPolicy::default();
    })
    .await?;
    let fx = Fixture::new(server.url());
    let numbers = fx.members("FL", MEMBERS + 50, None).await?;
    let url = server.url();
    let stop = tokio_util::sync::CancellationToken::new();
    let flooder = phone(200)?;
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut flood = Vec::new();
    for task in 0..300 {
        let (http, url, stop, sent) = (flooder.clone(), url.clone(), stop.clone(), sent.clone());
        let target = numbers[MEMBERS + task % 50].clone();
        flood.push(tokio::spawn(async move {
            // Bounded: stops when told, and after 10 s in any case.
            let deadline = Instant::now() + Duration::from_secs(10);
            while !stop.is_cancelled() && Instant::now() < deadline {
                let _ = login(&http, &url, &target, "0000").await;
                sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut logins = Vec::new();
    for (i, no) in numbers[..MEMBERS].iter().enumerate() {
        let (url, no) = (url.clone(), no.clone());
        let http = phone(i as u8 + 1)?;
        logins.push(tokio::spawn(async move {
            let started = Instant::now();
            let (status, _, _) = login(&http, &url, &no, PIN).await?;
            anyhow::Ok((status, started.elapsed()))
        }));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut fine = 0;
    let mut worst = Duration::ZERO;
    for task in logins {
        let (status, took) = task.await??;
        worst = worst.max(took);
        if status == StatusCode::OK && took <= Duration::from_secs(2) {
            fine += 1;
        }
    }
    stop.cancel();
    for task in flood {
        let _ = task.await;
    }
    println!(
        "flood of {} wrong-PIN logins from one address: {fine}/{MEMBERS} logins from other \
         addresses succeeded within 2 s (slowest {} ms)",
        sent.load(std::sync::atomic::Ordering::Relaxed),
        worst.as_millis()
    );
    assert!(
        fine * 100 >= MEMBERS * 95,
        "only {fine} of {MEMBERS} logins succeeded within 2 s"
    );
    Ok(())
}
