//! gymgate-load: real desks (WebSockets) and members (HTTP taps) against a server, with the
//! figures the targets are stated in. Bounded in count and time; loopback only.
//!
//!   cargo run --release -p gymgate-tests --bin gymgate-load -- --desks 10000 --rate 1000 --seconds 20
//!   cargo run --release -p gymgate-tests --bin gymgate-load -- --desks 10000 --idle
//!   cargo run --release -p gymgate-tests --bin gymgate-load -- --desks 10000 --storm

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use gymgate_server::AdminClient;
use gymgate_shared::api::NewCenter;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const ADMIN_TOKEN: &str = "load-admin-token-0123456789";
const PIN: &str = "2580";
/// Desks connect from 127.0.0.2 … 127.0.0.201 so ephemeral ports never run out.
const SOURCE_ADDRESSES: u32 = 200;
/// Members log in and tap from 127.0.1.1 … 127.0.1.200, as phones come from many addresses:
/// the server limits logins and connections per address.
const MEMBER_ADDRESSES: u8 = 200;
/// Members per import request.
const IMPORT_PART: usize = 250;

#[derive(Parser, Clone)]
#[command(about = "Load and measure a gymgate server")]
struct Args {
    /// A running server to target (several nodes: comma-separated; desks and taps are spread
    /// over them); without it one is started in a temporary folder.
    #[arg(long)]
    url: Option<String>,
    #[arg(long, default_value = ADMIN_TOKEN)]
    admin_token: String,
    /// The target server's PID, for memory and CPU figures (known when started here).
    #[arg(long)]
    server_pid: Option<u32>,
    #[arg(long, default_value_t = 1000)]
    desks: usize,
    #[arg(long, default_value_t = 5)]
    desks_per_center: usize,
    #[arg(long, default_value_t = 200)]
    members: usize,
    /// Taps per second.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Taps in flight at most.
    #[arg(long, default_value_t = 512)]
    concurrency: usize,
    /// Connect the desks, measure memory, and stop (no taps).
    #[arg(long)]
    idle: bool,
    /// Connect the desks, restart the server, and time until every desk has resumed.
    #[arg(long)]
    storm: bool,
    /// With --idle: keep the desks connected this many seconds after measuring (to profile
    /// the server meanwhile, e.g. with heaptrack).
    #[arg(long, default_value_t = 0)]
    hold: u64,
}

struct Shared {
    centers: HashMap<String, u32>,
    members: HashMap<String, u32>,
    sent: Mutex<HashMap<(u32, u32), Instant>>,
    to_desk: Mutex<Histogram<u64>>,
    to_201: Mutex<Histogram<u64>>,
    deliveries: AtomicU64,
    gaps: AtomicU64,
    connected: AtomicUsize,
    resumed: AtomicUsize,
    reconnects: AtomicU64,
    tap_errors: Mutex<HashMap<String, u64>>,
    taps_ok: AtomicU64,
}

fn histogram() -> anyhow::Result<Mutex<Histogram<u64>>> {
    Ok(Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3)?))
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:>16} [{bar:40}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// The server under test as a child process on a fixed port (kept across a restart).
struct Spawned {
    child: tokio::process::Child,
    data: tempfile::TempDir,
    addr: SocketAddr,
}

async fn spawn_server(data: tempfile::TempDir, addr: SocketAddr) -> anyhow::Result<Spawned> {
    let exe = std::env::current_exe()?
        .parent()
        .context("no folder")?
        .join("gymgate-server-under-test");
    let mut child = tokio::process::Command::new(&exe)
        .args(["serve", "--addr", &addr.to_string(), "--data-dir"])
        .arg(data.path())
        .env("GYMGATE_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("GYMGATE_TAPS_PER_MEMBER_PER_MINUTE", "1000000")
        .env("GYMGATE_PAIRS_PER_IP_PER_MINUTE", "1000000")
        .env("RUST_LOG", "warn")
        // As the production service file sets it (docs/operations.md): handshake buffers of
        // 8 KiB and more get their own pages instead of leaving holes between idle desks.
        .env(
            "MALLOC_MMAP_THRESHOLD_",
            std::env::var("MALLOC_MMAP_THRESHOLD_").unwrap_or_else(|_| "8192".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .context("server did not start")??
        .context("server exited")?;
    gymgate_tests::server::wait_ready(&format!("http://{addr}")).await?;
    Ok(Spawned { child, data, addr })
}

fn proc_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// User + system CPU seconds of a process.
fn proc_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut spawned = None;
    let (url, server_pid) = match &args.url {
        Some(url) => (url.clone(), args.server_pid),
        None => {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let server = spawn_server(
                tempfile::tempdir()?,
                SocketAddr::from(([127, 0, 0, 1], port)),
            )
            .await?;
            let pid = server.child.id();
            let url = format!("http://{}", server.addr);
            spawned = Some(server);
            (url, pid)
        }
    };
    // Several nodes: set up through the first; desks and taps take turns over all of them.
    let urls: Vec<String> = url.split(',').map(|u| u.trim().to_owned()).collect();
    let url = urls[0].clone();
    let admin = AdminClient::new(&url, &args.admin_token);
    let center_count = args.desks.div_ceil(args.desks_per_center);
    println!(
        "gymgate-load: {} desks in {center_count} centers ({} each), {} members, {} taps/s for {} s against {url}",
        args.desks, args.desks_per_center, args.members, args.rate, args.seconds
    );

    // ---- setup through the admin API ----
    let progress = bar(center_count as u64, "centers");
    let centers: Vec<String> = futures_util::stream::iter(0..center_count)
        .map(|i| {
            let admin = &admin;
            let progress = &progress;
            async move {
                let center = admin
                    .add_center(&NewCenter {
                        name: format!("부하센터 {i}"),
                        address: String::new(),
                        hours: None,
                        schedule: None,
                        requires_approval: false,
                    })
                    .await?;
                progress.inc(1);
                anyhow::Ok(center.id.to_string())
            }
        })
        .buffered(32)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    progress.finish();

    let today = gymgate_shared::kst::date_of(chrono::Utc::now());
    // In parts: the server hashes every PIN (argon2, two threads), and one request for
    // thousands of members would outlast the admin client's timeout.
    let progress = bar(args.members as u64, "member import");
    for first in (0..args.members).step_by(IMPORT_PART) {
        let part = first..(first + IMPORT_PART).min(args.members);
        let mut csv = String::from(
            "member_no,name,phone,pin,plan,visits_per_month,valid_from,valid_until,birthday\n",
        );
        for i in part.clone() {
            csv.push_str(&format!(
                "L{i:06},부하회원{i},010-0000-{:04},{PIN},무제한,,{},{},\n",
                i % 10_000,
                today - chrono::Duration::days(1),
                today + chrono::Duration::days(365)
            ));
        }
        let report = admin.import_members(csv).await?;
        if !report.errors.is_empty() {
            bail!("member import failed: {:?}", report.errors.first());
        }
        progress.inc(part.len() as u64);
    }
    progress.finish();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let phones: Vec<reqwest::Client> = (1..=MEMBER_ADDRESSES)
        .map(|last| {
            reqwest::Client::builder()
                .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 1, last)))
                .pool_max_idle_per_host(args.concurrency / usize::from(MEMBER_ADDRESSES) + 1)
                .build()
        })
        .collect::<Result<_, _>>()?;
    let progress = bar(args.members as u64, "member logins");
    let sessions: Vec<gymgate_shared::api::MemberSession> =
        futures_util::stream::iter(0..args.members)
            .map(|i| {
                let (http, url, progress) = (&phones[i % phones.len()], &url, &progress);
                async move {
                    let session = http
                        .post(format!("{url}/api/v1/auth/member"))
                        .json(&serde_json::json!({"member_no": format!("L{i:06}"), "pin": PIN}))
                        .send()
                        .await?
                        .error_for_status()?
                        .json()
                        .await?;
                    progress.inc(1);
                    anyhow::Ok(session)
                }
            })
            .buffered(8)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
    progress.finish();

    let progress = bar(args.desks as u64, "desk pairings");
    let desks: Vec<(usize, String)> = futures_util::stream::iter(0..args.desks)
        .map(|i| {
            let (admin, http, url, centers, progress) = (&admin, &http, &url, &centers, &progress);
            async move {
                let center = i % centers.len();
                let code = admin.pairing_code(&centers[center]).await?;
                let paired: gymgate_shared::api::PairResponse = http
                    .post(format!("{url}/api/v1/desks/pair"))
                    .json(&serde_json::json!({"code": code.code, "name": format!("desk {i}")}))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                progress.inc(1);
                anyhow::Ok((center, paired.token))
            }
        })
        .buffered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    progress.finish();

    let shared = Arc::new(Shared {
        centers: centers
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i as u32))
            .collect(),
        members: sessions
            .iter()
            .enumerate()
            .map(|(i, s)| (s.member.id.to_string(), i as u32))
            .collect(),
        sent: Mutex::new(HashMap::new()),
        to_desk: histogram()?,
        to_201: histogram()?,
        deliveries: AtomicU64::new(0),
        gaps: AtomicU64::new(0),
        connected: AtomicUsize::new(0),
        resumed: AtomicUsize::new(0),
        reconnects: AtomicU64::new(0),
        tap_errors: Mutex::new(HashMap::new()),
        taps_ok: AtomicU64::new(0),
    });

    // ---- connect the desks ----
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = server_pid.and_then(proc_rss_kb);
    let started = Instant::now();
    let progress = bar(args.desks as u64, "desks connected");
    let targets: Vec<(String, SocketAddr)> = urls
        .iter()
        .map(|url| {
            let addr: SocketAddr = url
                .trim_start_matches("http://")
                .parse()
                .context("--url must be http://IP:PORT")?;
            Ok((url.replacen("http://", "ws://", 1), addr))
        })
        .collect::<anyhow::Result<_>>()?;
    let stop = tokio_util::sync::CancellationToken::new();
    let mut desk_tasks = Vec::new();
    for (i, (_, token)) in desks.iter().enumerate() {
        let (ws_base, server_addr) = &targets[i % targets.len()];
        let source = IpAddr::V4(Ipv4Addr::new(
            127,
            0,
            0,
            2 + (i as u32 % SOURCE_ADDRESSES) as u8,
        ));
        desk_tasks.push(tokio::spawn(desk(
            format!("{ws_base}/ws/desk"),
            *server_addr,
            source,
            token.clone(),
            shared.clone(),
            stop.clone(),
        )));
        if i % 500 == 499 {
            // Let the server breathe while thousands of handshakes arrive.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    while shared.connected.load(Ordering::Relaxed) < args.desks {
        progress.set_position(shared.connected.load(Ordering::Relaxed) as u64);
        if started.elapsed() > Duration::from_secs(120) {
            bail!(
                "only {} of {} desks connected in 120 s",
                shared.connected.load(Ordering::Relaxed),
                args.desks
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    progress.finish();
    println!(
        "connected {} desks in {:.1?}",
        args.desks,
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_connected = server_pid.and_then(proc_rss_kb);
    if let (Some(before), Some(after)) = (rss_before, rss_connected) {
        println!(
            "server RSS: {:.1} MB before desks, {:.1} MB with {} idle desks: {:.2} KB per desk",
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            args.desks,
            (after.saturating_sub(before)) as f64 / args.desks as f64
        );
    }
    if args.hold > 0 {
        println!("holding the desks connected for {} s", args.hold);
        tokio::time::sleep(Duration::from_secs(args.hold)).await;
    }

    if args.storm {
        let Some(server) = spawned.take() else {
            bail!("--storm needs the server started by this tool (no --url)");
        };
        storm(server, &shared, args.desks).await?;
    } else if !args.idle {
        taps(
            &args, &urls, &phones, &sessions, &centers, &shared, server_pid,
        )
        .await?;
    }
    stop.cancel();
    for task in desk_tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    Ok(())
}

async fn taps(
    args: &Args,
    urls: &[String],
    phones: &[reqwest::Client],
    sessions: &[gymgate_shared::api::MemberSession],
    centers: &[String],
    shared: &Arc<Shared>,
    server_pid: Option<u32>,
) -> anyhow::Result<()> {
    let total = (args.rate * args.seconds as f64) as usize;
    if total > sessions.len() * centers.len() {
        bail!(
            "{total} taps need more member × center pairs than {} × {} (one visit per center per day)",
            sessions.len(),
            centers.len()
        );
    }
    let progress = bar(total as u64, "taps");
    let permits = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let cpu_before = server_pid.and_then(proc_cpu_seconds);
    let probe = WakeProbe::start();
    let started = Instant::now();
    let mut next = tokio::time::Instant::now();
    let mut inflight = Vec::with_capacity(total);
    for n in 0..total {
        next += interval;
        tokio::time::sleep_until(next).await;
        let permit = permits.clone().acquire_owned().await?;
        // Consecutive taps go to different centers and members, as real traffic spreads over
        // the gyms (taking the centers one after another put the whole rate on one center's
        // desks at a time). Each (member, center) pair is used once: for a center, the round
        // `n / centers` is below the member count.
        let center = n % centers.len();
        let member = (n / centers.len() + center) % sessions.len();
        let (http, shared, progress) = (
            phones[member % phones.len()].clone(),
            shared.clone(),
            progress.clone(),
        );
        let token = sessions[member].token.clone();
        let center_id = centers[center].clone();
        let url = urls[n % urls.len()].clone();
        inflight.push(tokio::spawn(async move {
            let sent = Instant::now();
            if let Ok(mut map) = shared.sent.lock() {
                map.insert((member as u32, center as u32), sent);
            }
            let answer = http
                .post(format!("{url}/api/v1/checkins"))
                .bearer_auth(token)
                .header("Idempotency-Key", format!("load-{n}"))
                .json(&serde_json::json!({"center_id": center_id}))
                .send()
                .await;
            match answer {
                Ok(r) if r.status().as_u16() == 201 => {
                    shared.taps_ok.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut h) = shared.to_201.lock() {
                        let _ = h.record(sent.elapsed().as_micros() as u64);
                    }
                }
                Ok(r) => {
                    if let Ok(mut errors) = shared.tap_errors.lock() {
                        *errors.entry(format!("HTTP {}", r.status())).or_default() += 1;
                    }
                }
                Err(e) => {
                    if let Ok(mut errors) = shared.tap_errors.lock() {
                        *errors.entry(format!("{e}")).or_default() += 1;
                    }
                }
            }
            progress.inc(1);
            drop(permit);
        }));
    }
    for task in inflight {
        let _ = task.await;
    }
    let tapping = started.elapsed();
    progress.finish();
    let ok = shared.taps_ok.load(Ordering::Relaxed);
    let expected = ok * args.desks_per_center as u64;
    let wait_from = Instant::now();
    while shared.deliveries.load(Ordering::Relaxed) < expected
        && wait_from.elapsed() < Duration::from_secs(15)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cpu = match (cpu_before, server_pid.and_then(proc_cpu_seconds)) {
        (Some(a), Some(b)) => format!(
            "{:.0}% of one core",
            (b - a) / tapping.as_secs_f64() * 100.0
        ),
        _ => "unknown".into(),
    };
    let pct = |h: &Mutex<Histogram<u64>>, q: f64| {
        h.lock()
            .map(|h| h.value_at_quantile(q) as f64 / 1000.0)
            .unwrap_or(f64::NAN)
    };
    println!("\n== results ==");
    println!(
        "taps: {ok} answered 201 of {total} in {tapping:.1?} = {:.0} taps/s",
        ok as f64 / tapping.as_secs_f64()
    );
    println!(
        "tap → 201:  p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms",
        pct(&shared.to_201, 0.5),
        pct(&shared.to_201, 0.99),
        pct(&shared.to_201, 0.999)
    );
    println!(
        "tap → desk: p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  ({} deliveries of {expected} expected, {} gaps)",
        pct(&shared.to_desk, 0.5),
        pct(&shared.to_desk, 0.99),
        pct(&shared.to_desk, 0.999),
        shared.deliveries.load(Ordering::Relaxed),
        shared.gaps.load(Ordering::Relaxed)
    );
    println!("server CPU while tapping: {cpu}");
    match probe.finish() {
        Some(wake) => println!(
            "a sleeping thread's wake-up meanwhile (what any hop of a tap may wait): p50 {:.0} µs  p99 {:.0} µs  p99.9 {:.0} µs  max {:.0} µs  ({} samples)",
            wake.p50, wake.p99, wake.p999, wake.max, wake.samples
        ),
        None => println!("wake-up probe: no samples"),
    }
    if let Some(rss) = server_pid.and_then(proc_rss_kb) {
        println!("server RSS after the run: {:.1} MB", rss as f64 / 1024.0);
    }
    if let Ok(errors) = shared.tap_errors.lock()
        && !errors.is_empty()
    {
        println!("errors: {errors:?}");
    }
    Ok(())
}

/// Restarts the server (SIGTERM: desks get "going away") and times the resume.
async fn storm(mut server: Spawned, shared: &Arc<Shared>, desks: usize) -> anyhow::Result<()> {
    let pid = server.child.id().context("server already gone")?;
    shared.resumed.store(0, Ordering::Relaxed);
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    server.child.wait().await?;
    let down = Instant::now();
    let data = std::mem::replace(&mut server.data, tempfile::tempdir()?);
    let restarted = spawn_server(data, server.addr).await?;
    let up = Instant::now();
    println!("server restarted in {:.1?}", up - down);
    let progress = bar(desks as u64, "desks resumed");
    let mut milestones = Vec::new();
    while shared.resumed.load(Ordering::Relaxed) < desks {
        let resumed = shared.resumed.load(Ordering::Relaxed);
        progress.set_position(resumed as u64);
        for fraction in [0.5, 0.9, 0.99] {
            if resumed as f64 >= desks as f64 * fraction
                && milestones.len() < 3
                && !milestones.iter().any(|(f, _)| *f == fraction)
            {
                milestones.push((fraction, up.elapsed()));
            }
        }
        if up.elapsed() > Duration::from_secs(120) {
            bail!("only {resumed} of {desks} desks resumed within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    progress.finish();
    println!("\n== reconnect storm ==");
    for (fraction, at) in milestones {
        println!(
            "{:>3.0}% resumed {:.2?} after the server was ready",
            fraction * 100.0,
            at
        );
    }
    println!(
        "100% ({desks}) resumed {:.2?} after the server was ready; {} reconnect attempts; {} gaps",
        up.elapsed(),
        shared.reconnects.load(Ordering::Relaxed),
        shared.gaps.load(Ordering::Relaxed)
    );
    drop(restarted);
    Ok(())
}

/// What the load tool reads of a server message: only the fields it measures by, borrowed
/// from the frame (a `serde_json::Value` per event, a `BTreeMap` per object, was a tenth of the
/// load tool's CPU, and the load tool shares the server's cores).
#[derive(serde::Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    seq: Option<u64>,
    resumed: Option<bool>,
    head_seq: Option<u64>,
    #[serde(borrow)]
    epoch: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    data: Option<EventData<'a>>,
}

#[derive(serde::Deserialize, Default)]
struct EventData<'a> {
    #[serde(borrow)]
    member: Option<HasId<'a>>,
    #[serde(borrow)]
    checkin: Option<HasCenter<'a>>,
}

#[derive(serde::Deserialize)]
struct HasId<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
}

#[derive(serde::Deserialize)]
struct HasCenter<'a> {
    #[serde(borrow)]
    center_id: std::borrow::Cow<'a, str>,
}

/// One desk: connect, hello with its cursor, store-and-ack every event, reconnect with the
/// real desk's jittered backoff.
async fn desk(
    url: String,
    server: SocketAddr,
    source: IpAddr,
    token: String,
    shared: Arc<Shared>,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut epoch: Option<String> = None;
    let mut last_seq = 0u64;
    let mut backoff = gymgate_desk_core::backoff::Backoff::default();
    let mut first = true;
    while !stop.is_cancelled() {
        if !first {
            shared.reconnects.fetch_add(1, Ordering::Relaxed);
            tokio::select! {
                _ = tokio::time::sleep(backoff.next_delay()) => {}
                _ = stop.cancelled() => return,
            }
        }
        let session = async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(source, 0))?;
            let stream = socket.connect(server).await?;
            let mut request = url.as_str().into_client_request()?;
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse()?);
            let config = WebSocketConfig::default()
                .read_buffer_size(4096)
                .write_buffer_size(0);
            let (mut ws, _) =
                tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await?;
            let hello = serde_json::json!({"type": "hello", "protocol": 1, "epoch": epoch, "last_seq": last_seq});
            ws.send(Message::Text(hello.to_string().into())).await?;
            anyhow::Ok(ws)
        };
        let mut ws = match session.await {
            Ok(ws) => ws,
            Err(_) => {
                first = false;
                continue;
            }
        };
        loop {
            let frame = tokio::select! {
                frame = ws.next() => frame,
                _ = stop.cancelled() => { let _ = ws.close(None).await; return; }
            };
            let Some(Ok(frame)) = frame else { break };
            let Message::Text(text) = frame else { continue };
            let Ok(incoming) = serde_json::from_str::<Incoming<'_>>(&text) else {
                continue;
            };
            match incoming.kind.as_ref() {
                "welcome" => {
                    let resumed = incoming.resumed.unwrap_or(false);
                    if !resumed {
                        last_seq = incoming.head_seq.unwrap_or(0);
                    }
                    epoch = incoming.epoch.map(|e| e.into_owned());
                    if first {
                        shared.connected.fetch_add(1, Ordering::Relaxed);
                    } else if resumed {
                        shared.resumed.fetch_add(1, Ordering::Relaxed);
                    }
                    first = false;
                    backoff.reset();
                }
                "event" => {
                    let now = Instant::now();
                    let seq = incoming.seq.unwrap_or(0);
                    if seq != last_seq + 1 {
                        shared.gaps.fetch_add(1, Ordering::Relaxed);
                    }
                    last_seq = seq;
                    let data = incoming.data.unwrap_or_default();
                    let key = (
                        data.member.and_then(|m| shared.members.get(m.id.as_ref())),
                        data.checkin
                            .and_then(|c| shared.centers.get(c.center_id.as_ref())),
                    );
                    if let (Some(&member), Some(&center)) = key {
                        let sent = shared
                            .sent
                            .lock()
                            .ok()
                            .and_then(|m| m.get(&(member, center)).copied());
                        if let (Some(sent), Ok(mut h)) = (sent, shared.to_desk.lock()) {
                            let _ = h.record(now.duration_since(sent).as_micros() as u64);
                        }
                    }
                    shared.deliveries.fetch_add(1, Ordering::Relaxed);
                    let ack = format!(r#"{{"type":"ack","seq":{seq}}}"#);
                    if ws.send(Message::Text(ack.into())).await.is_err() {
                        break;
                    }
                }
                _ => {}
            }
        }
    }
}

/// Measures how long a thread blocked on a channel takes to run after it is woken, while the
/// load runs: every hop of a tap (load tool → server worker → writer → worker → desk task →
/// load tool) is such a wake-up, so this is the floor the machine itself puts under the tap
/// latency. Two plain threads, a message every millisecond.
struct WakeProbe {
    stop: Arc<std::sync::atomic::AtomicBool>,
    receiver: std::thread::JoinHandle<Vec<u64>>,
}

struct WakeFigures {
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
    samples: usize,
}

impl WakeProbe {
    fn start() -> WakeProbe {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (send, receive) = std::sync::mpsc::channel::<Instant>();
        let sending = stop.clone();
        std::thread::spawn(move || {
            while !sending.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(1));
                if send.send(Instant::now()).is_err() {
                    return;
                }
            }
        });
        let receiver = std::thread::spawn(move || {
            // Ends when the sender stops and drops its end.
            receive
                .iter()
                .map(|sent| sent.elapsed().as_nanos() as u64)
                .collect()
        });
        WakeProbe { stop, receiver }
    }

    fn finish(self) -> Option<WakeFigures> {
        self.stop.store(true, Ordering::Relaxed);
        let mut waits = self.receiver.join().ok()?;
        if waits.is_empty() {
            return None;
        }
        waits.sort_unstable();
        let at = |q: f64| {
            let i = ((waits.len() as f64 * q) as usize).min(waits.len() - 1);
            waits[i] as f64 / 1000.0
        };
        Some(WakeFigures {
            p50: at(0.5),
            p99: at(0.99),
            p999: at(0.999),
            max: at(1.0),
            samples: waits.len(),
        })
    }
}
