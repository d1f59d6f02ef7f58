//! The desk program killed with SIGKILL: after offline check-ins, and in the middle of sending
//! them. Its outbox survives and every check-in reaches the server exactly once.

use std::process::Stdio;
use std::time::Duration;

use gymgate_tests::desk_core::visited_yesterday;
use gymgate_tests::{DeskClient, Fixture, MemberClient, PIN, Proxy, TestServer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

const CORE: &str = env!("CARGO_BIN_EXE_gymgate-desk-core");

struct DeskProcess {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl DeskProcess {
    /// Starts the desk core; returns it and its outbox size at start.
    async fn start(
        data: &std::path::Path,
        url: &str,
        paired: &gymgate_shared::api::PairResponse,
    ) -> anyhow::Result<(DeskProcess, usize)> {
        let mut child = tokio::process::Command::new(CORE)
            .arg(data)
            .arg(url)
            .arg(paired.desk_id.as_str())
            .arg(paired.center_id.as_str())
            .arg(&paired.token)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdin"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut desk = DeskProcess {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        };
        let first = desk.line_starting("started").await?;
        let pending = first.rsplit(' ').next().unwrap_or("").parse()?;
        Ok((desk, pending))
    }

    async fn line_starting(&mut self, prefix: &str) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .map_err(|_| anyhow::anyhow!("no '{prefix}' line in time"))??
                .ok_or_else(|| anyhow::anyhow!("desk exited before '{prefix}'"))?;
            if line.starts_with(prefix) {
                return Ok(line);
            }
        }
    }

    async fn check_in(&mut self, member: &MemberClient) -> anyhow::Result<String> {
        let command = format!("checkin {}\n", member.session.member.id);
        self.stdin.write_all(command.as_bytes()).await?;
        let answer = self.line_starting("ok").await?;
        Ok(answer.trim_start_matches("ok ").to_owned())
    }

    /// Sends a command and waits for the process to end.
    async fn end_with(mut self, command: &str) -> anyhow::Result<std::process::ExitStatus> {
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await?;
        Ok(tokio::time::timeout(gymgate_tests::WAIT, self.child.wait()).await??)
    }

    async fn kill(mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }
}

#[tokio::test]
async fn a_killed_desk_loses_no_checkin_and_sends_each_once() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let proxy = Proxy::start(server.addr).await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let paired = fx.desk(center.id.as_str()).await?;
    let watcher = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("K", 5, None).await?;
    let mut members = Vec::new();
    for no in &numbers {
        members.push(MemberClient::login(&server.url(), no, PIN).await?);
    }
    visited_yesterday(&server.url(), &paired.token, &members).await?;
    let head_before: u64 = fx.admin.centers().await?.iter().map(|c| c.head_seq).sum();
    let (mut watch, _) = DeskClient::join(&server.url(), &watcher.token, None, 0).await?;
    let data = tempfile::tempdir()?;

    // First run: sync, lose the link, check five members in, die without warning.
    let (mut desk, pending) = DeskProcess::start(data.path(), &proxy.url(), &paired).await?;
    assert_eq!(pending, 0);
    desk.line_starting("online").await?;
    proxy.cut();
    desk.line_starting("offline").await?;
    let mut local_ids = Vec::new();
    for member in &members {
        local_ids.push(desk.check_in(member).await?);
    }
    desk.kill().await?;

    // Second run: the outbox is intact; killed again the moment the link is back (mid-sync).
    let (desk, pending) = DeskProcess::start(data.path(), &proxy.url(), &paired).await?;
    assert_eq!(pending, 5, "the outbox survived SIGKILL");
    let mut desk = desk;
    proxy.restore();
    desk.line_starting("online").await?;
    desk.kill().await?;

    // Third run: whatever was left is sent; what was already accepted is a duplicate.
    let (mut desk, pending) = DeskProcess::start(data.path(), &proxy.url(), &paired).await?;
    assert!(pending <= 5);
    if pending > 0 {
        desk.line_starting("pending 0").await?;
    }

    // Another desk of the center saw exactly these five check-ins, once each.
    let mut seen = Vec::new();
    for _ in 0..5 {
        let event = watch.next_event().await?;
        seen.push(
            event.data["checkin"]["local_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    watch.expect_silence(Duration::from_millis(500)).await?;
    seen.sort();
    local_ids.sort();
    assert_eq!(seen, local_ids);
    let head_after: u64 = fx.admin.centers().await?.iter().map(|c| c.head_seq).sum();
    assert_eq!(
        head_after - head_before,
        5,
        "each offline check-in counted once"
    );
    println!(
        "desk SIGKILL: 5 offline check-ins, killed twice (offline, mid-sync), 5 accepted once, 0 lost"
    );
    desk.kill().await
}

/// Reads the cursor of a dead desk's cache file directly, and checks the file is sound.
fn cursor_on_disk(data: &std::path::Path) -> anyhow::Result<u64> {
    let cache = rusqlite::Connection::open(data.join("cache.db"))?;
    let check: String = cache.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    anyhow::ensure!(check == "ok", "cache damaged: {check}");
    let seq: i64 = cache.query_row("SELECT last_seq FROM cursor", [], |r| r.get(0))?;
    let cards: i64 = cache.query_row("SELECT COUNT(*) FROM checkins", [], |r| r.get(0))?;
    // The cursor and the cards it covers are written in one transaction.
    anyhow::ensure!(cards == seq, "cursor {seq} but {cards} check-ins cached");
    Ok(u64::try_from(seq)?)
}

#[tokio::test]
async fn a_desk_killed_during_replay_resumes_where_its_cache_says() -> anyhow::Result<()> {
    const MISSED: usize = 400;
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let paired = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("R", MISSED, None).await?;
    let data = tempfile::tempdir()?;

    // The desk syncs once, then is off while 600 members come in.
    let (mut desk, _) = DeskProcess::start(data.path(), &server.url(), &paired).await?;
    desk.line_starting("online").await?;
    desk.kill().await?;
    for no in &numbers {
        let member = MemberClient::login(&server.url(), no, PIN).await?;
        member.tap(center.id.as_str(), "in").await?.checkin()?;
    }
    let head = MISSED as u64;

    // Killed while catching up, at growing moments, until one kill lands mid-replay.
    let mut kills = Vec::new();
    let mut mid_replay = false;
    for delay_ms in [0u64, 5, 15, 30, 60, 120, 250] {
        let (mut desk, _) = DeskProcess::start(data.path(), &server.url(), &paired).await?;
        desk.line_starting("online").await?;
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        desk.kill().await?;
        let seq = cursor_on_disk(data.path())?;
        kills.push(seq);
        if seq > 0 && seq < head && kills.iter().filter(|s| **s > 0 && **s < head).count() >= 2 {
            mid_replay = true;
            break;
        }
        if seq == head {
            break;
        }
    }
    assert!(
        mid_replay || kills.iter().any(|s| *s > 0 && *s < head),
        "no kill landed mid-replay: {kills:?}"
    );

    // Last start: it converges to the server's state, each check-in once.
    let (mut desk, _) = DeskProcess::start(data.path(), &server.url(), &paired).await?;
    desk.line_starting("online").await?;
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
    let state = loop {
        desk.stdin.write_all(b"state\n").await?;
        let line = desk.line_starting("state").await?;
        if line.contains(&format!("last_seq {head} ")) || tokio::time::Instant::now() > deadline {
            break line;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        state,
        format!("state today {MISSED} last_seq {head} pending 0")
    );
    desk.kill().await?;
    assert_eq!(cursor_on_disk(data.path())?, head);
    println!(
        "reliability: desk SIGKILL during replay | {MISSED} events missed | killed at cursors {kills:?} \
         | converged to {head}, {MISSED} check-ins cached | lost 0 | doubled 0"
    );
    Ok(())
}

/// Issue 25: the desk counts its starts and crashes of the day and tells the server, with a
/// report of each crash sent on the next start. A desk closed as staff close it is not a
/// crash; one killed (SIGKILL, a power cut) or panicking is, and the second crash in a day
/// shows it as "crashing".
#[tokio::test]
async fn crashes_are_counted_and_reported_on_the_next_start() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    let paired = fx.desk(center.id.as_str()).await?;
    let data = tempfile::tempdir()?;
    // Waits until the server has health saying `restarts` and `crashes`.
    let health = |restarts: u32, crashes: u32| {
        let fx = &fx;
        let desk_id = paired.desk_id.clone();
        async move {
            let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
            loop {
                let desk = fx
                    .admin
                    .desks()
                    .await?
                    .into_iter()
                    .find(|d| d.id == desk_id);
                let health = desk.and_then(|d| d.health);
                if let Some(h) = &health
                    && (h.health.restarts_24h, h.health.crashes_24h) == (restarts, crashes)
                {
                    return anyhow::Ok(health);
                }
                anyhow::ensure!(
                    tokio::time::Instant::now() < deadline,
                    "the server has {health:?}, not {restarts} restarts and {crashes} crashes"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let reports = |kind: &'static str| {
        let (fx, desk_id) = (&fx, paired.desk_id.clone());
        async move {
            // The desk sends its reports right after its health: wait for them a moment.
            let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT;
            loop {
                let all = fx.admin.desk_reports(desk_id.as_str()).await?;
                let found = all
                    .into_iter()
                    .filter(|r| r.kind == kind)
                    .collect::<Vec<_>>();
                if !found.is_empty() || tokio::time::Instant::now() >= deadline {
                    return anyhow::Ok(found);
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    };

    let (mut desk, _) = DeskProcess::start(data.path(), &url, &paired).await?;
    desk.line_starting("online").await?;
    let first = health(0, 0).await?.expect("health");
    assert!(
        first.health.disk_free_mb.is_some_and(|mb| mb > 0),
        "{first:?}"
    );
    assert!(first.health.last_sync.is_some(), "{first:?}");
    assert!(desk.end_with("quit").await?.success());

    let (mut desk, _) = DeskProcess::start(data.path(), &url, &paired).await?;
    desk.line_starting("online").await?;
    health(1, 0).await?;
    assert!(
        reports("crash").await?.is_empty(),
        "a clean stop is no crash"
    );
    desk.kill().await?;

    let (mut desk, _) = DeskProcess::start(data.path(), &url, &paired).await?;
    desk.line_starting("online").await?;
    health(2, 1).await?;
    let crash = reports("crash").await?;
    assert_eq!(crash.len(), 1, "{crash:?}");
    assert!(
        crash[0].text.contains("ended without stopping"),
        "{crash:?}"
    );
    let ended = desk.end_with("panic").await?;
    assert!(!ended.success(), "a panic ends the program");

    let (mut desk, _) = DeskProcess::start(data.path(), &url, &paired).await?;
    desk.line_starting("online").await?;
    let sick = health(3, 2).await?.expect("health");
    assert!(
        sick.problems.iter().any(|p| p.code == "crashing"),
        "{sick:?}"
    );
    let panic = reports("panic").await?;
    assert_eq!(panic.len(), 1, "{panic:?}");
    assert!(
        panic[0].text.contains("panicked at") && panic[0].text.contains("asked to panic"),
        "{panic:?}"
    );
    // Sent, so no longer waiting on the desk's disk.
    let waiting = std::fs::read_dir(data.path().join("reports"))?.count();
    assert_eq!(waiting, 0);
    desk.kill().await
}
