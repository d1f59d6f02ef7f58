//! Trust, operators' data and the server itself (issue 13, findings 7–11): member imports as
//! jobs that survive a restart, CSV as Korean offices write it, a damaged database noticed,
//! connections that send nothing, feeds held by one token, secrets off the command line.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use gymgate_shared::api::ImportState;
use gymgate_tests::{
    ADMIN_TOKEN, Fixture, MemberClient, PIN, ServerProcess, TestServer, WebhookStub,
};

const EXE: &str = env!("CARGO_BIN_EXE_gymgate-server-under-test");
const HEADER: &str =
    "member_no,name,phone,pin,plan,visits_per_month,valid_from,valid_until,birthday\n";

/// Starts `command` (a `serve`) and reads the address it listens on from its first line.
async fn serving(
    mut command: tokio::process::Command,
) -> anyhow::Result<(tokio::process::Child, String)> {
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let first = tokio::time::timeout(gymgate_tests::WAIT, lines.next_line())
        .await??
        .ok_or_else(|| anyhow::anyhow!("the server exited"))?;
    Ok((child, first.replace("listening on ", "")))
}

fn member_rows(prefix: &str, count: usize) -> String {
    let today = gymgate_shared::kst::date_of(chrono::Utc::now());
    let (from, until) = (
        today - chrono::Duration::days(1),
        today + chrono::Duration::days(90),
    );
    let mut csv = String::new();
    for i in 0..count {
        csv.push_str(&format!(
            "{prefix}{i:05},회원{i},010-1234-{:04},{PIN},월 8회,8,{from},{until},\n",
            i % 10_000
        ));
    }
    csv
}

/// Finding 7. An import is a job on the server: answered at once, followed as it runs,
/// committed in chunks; the server is SIGKILLed in the middle and, restarted, goes on from
/// the first line not committed; every line is imported or reported, none twice.
#[tokio::test]
async fn a_member_import_is_a_job_that_survives_a_kill_and_reports_every_line() -> anyhow::Result<()>
{
    const ROWS: usize = 300;
    let (_keep, data) = gymgate_tests::server::data_dir()?;
    let server = ServerProcess::spawn(EXE, &data).await?;
    let admin = server.admin();
    let mut csv = String::from(HEADER);
    csv.push_str(&member_rows("IM", ROWS));
    // Two bad lines among the good ones: lines 52 and 253 of the file.
    let mut lines: Vec<&str> = csv.lines().collect();
    lines.insert(
        51,
        "BAD-1,이름,010-1234-0000,12,무제한,,2026-01-01,2026-12-31,",
    );
    lines.insert(
        252,
        "BAD-2,이름,010-1234-0000,1234,무제한,,not-a-date,2026-12-31,",
    );
    let csv = lines.join("\n");

    let started = Instant::now();
    let job = admin.start_import(csv.into_bytes()).await?;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the upload waits for the job"
    );
    assert_eq!(job.lines as usize, ROWS + 2);
    assert_eq!(job.encoding, "utf-8");
    // Killed once some chunks are in, well before the end.
    let deadline = Instant::now() + gymgate_tests::WAIT;
    let done_at_kill = loop {
        let now = admin.import_job(&job.id).await?;
        if now.lines_done > 0 {
            break now.lines_done;
        }
        anyhow::ensure!(Instant::now() < deadline, "the import never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    anyhow::ensure!((done_at_kill as usize) < ROWS, "the import ended too soon");
    server.kill().await?;

    let server = ServerProcess::spawn(EXE, &data).await?;
    let admin = server.admin();
    let finished = admin.wait_import(&job.id, |_| {}).await?;
    assert_eq!(finished.state, ImportState::Done);
    assert_eq!(finished.lines_done as usize, ROWS + 2);
    assert_eq!(
        (finished.created + finished.updated) as usize,
        ROWS,
        "{finished:?}"
    );
    let lines: Vec<u64> = finished.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [52, 253], "{:?}", finished.errors);
    assert_eq!(finished.errors[0].member_no.as_deref(), Some("BAD-1"));
    assert!(finished.errors[0].message.contains("PIN"));
    println!(
        "import of {ROWS} rows: killed at line {done_at_kill}, finished after the restart: \
         {} created, {} updated, {} reported",
        finished.created, finished.updated, finished.error_count
    );
    // The first and the last row both log in.
    for no in ["IM00000", &format!("IM{:05}", ROWS - 1)] {
        MemberClient::login(&server.url(), no, PIN).await?;
    }
    Ok(())
}

/// Finding 8. Excel in Korea saves CP949: such a file is read (names in Hangul intact) and
/// the job says so; an unclosed quote spoils its own line only, reported with its number;
/// a file in no known encoding is refused saying how to save it; the error report the server
/// writes is a CSV whose cells cannot run as formulas.
#[tokio::test]
async fn csv_as_korean_offices_write_it_is_read_and_every_bad_line_reported() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let rows = format!(
        "{HEADER}CP-001,김민준,010-1111-2222,{PIN},월 8회,8,2026-01-01,2099-12-31,\n\
         CP-002,\"이서연,010-3333-4444,{PIN},월 8회,8,2026-01-01,2099-12-31,\n\
         CP-003,박도윤,010-5555-6666,{PIN},월 8회,8,2026-01-01,2099-12-31,\n\
         =HYPERLINK(\"http://x\"),최,010-5555-6666,{PIN},월 8회,8,2026-01-01,2099-12-31,\n"
    );
    let (cp949, _, unmappable) = encoding_rs::EUC_KR.encode(&rows);
    assert!(!unmappable);
    let job = fx.admin.start_import(cp949.into_owned()).await?;
    assert_eq!(job.encoding, "cp949");
    let done = fx.admin.wait_import(&job.id, |_| {}).await?;
    assert_eq!(done.created, 2, "{done:?}");
    let lines: Vec<u64> = done.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [3, 5], "{:?}", done.errors);
    assert!(
        done.errors[0].message.contains("따옴표"),
        "{:?}",
        done.errors[0]
    );
    let member = MemberClient::login(&server.url(), "CP-003", PIN).await?;
    assert_eq!(member.session.member.name, "박도윤");

    // The report as a spreadsheet: BOM first, the formula-looking member number made text.
    let report = fx.admin.import_errors_csv(&job.id).await?;
    let text = String::from_utf8(report)?;
    assert!(text.starts_with('\u{feff}'));
    assert!(text.contains("\"'=HYPERLINK(\"\"http://x\"\")\""), "{text}");
    assert!(!text.contains(",=HYPERLINK"), "{text}");

    // Neither UTF-8 nor CP949: refused at once, nothing stored.
    let refused = fx
        .admin
        .start_import(vec![0x80, 0xFF, 0xFE, 0x80, 0x00])
        .await;
    let message = format!("{refused:?}");
    assert!(message.contains("invalid_encoding"), "{message}");
    assert!(message.contains("CSV UTF-8"), "{message}");
    // No header: refused, naming the columns.
    let refused = fx
        .admin
        .start_import(b"member_no,name\nX,Y\n".to_vec())
        .await;
    assert!(
        format!("{refused:?}").contains("invalid_csv"),
        "{refused:?}"
    );
    Ok(())
}

/// Finding 9. A database with a damaged page is found out at start: `/readyz` fails with
/// `database_damaged`, an alert goes out, and the log says what to do. Before, it started
/// and reported ready.
#[tokio::test]
async fn a_damaged_database_fails_readiness_and_is_alerted() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let numbers = fx.members("DB", 30, None).await?;
    for no in &numbers {
        let member = MemberClient::login(&server.url(), no, PIN).await?;
        member.tap(center.id.as_str(), "k").await?.checkin()?;
    }
    let data = server.stop().await?;
    let path = data.path().join("gymgate.db");
    let root: i64 = {
        let conn = rusqlite::Connection::open(&path)?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        conn.query_row(
            "SELECT rootpage FROM sqlite_schema WHERE name = 'checkins_member_month'",
            [],
            |r| r.get(0),
        )?
    };
    {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)?;
        let mut page = vec![0u8; 4096];
        let offset = (root as u64 - 1) * 4096;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset))?;
        file.read_exact(&mut page)?;
        // Keep the page type, scramble the cell pointers and cells.
        for (i, byte) in page.iter_mut().enumerate().skip(8) {
            *byte = (i * 131 % 251) as u8;
        }
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset))?;
        file.write_all(&page)?;
        file.sync_all()?;
    }

    let slack = WebhookStub::start().await?;
    let server = TestServer::start_unchecked(data, |c| {
        c.alerts.slack_url = Some(slack.url.clone());
        c.alerts.check_every = Duration::from_millis(50);
    })
    .await?;
    let answer = reqwest::get(format!("{}/readyz", server.url())).await?;
    assert_eq!(answer.status(), 503, "a damaged database reported ready");
    let body: serde_json::Value = answer.json().await?;
    assert_eq!(body["error"]["code"], "database_damaged");
    let deadline = Instant::now() + gymgate_tests::WAIT;
    let alert = loop {
        let messages = slack.delivered();
        if let Some(alert) = messages.iter().find(|m| m.contains("damaged")) {
            break alert.clone();
        }
        anyhow::ensure!(Instant::now() < deadline, "no damage alert: {messages:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(alert.contains("손상"), "{alert}");
    assert!(alert.contains("backup"), "{alert}");
    let log = server.admin().incidents(10).await?;
    assert!(log.iter().any(|i| i.key == "database_damaged"), "{log:?}");
    Ok(())
}

/// Finding 9, as operators meet it: the real server on a damaged file answers `/readyz`
/// with 503 `database_damaged` and says where the runbook is.
#[tokio::test]
async fn a_damaged_database_answers_not_ready_with_what_to_do() -> anyhow::Result<()> {
    let (_keep, data) = gymgate_tests::server::data_dir()?;
    {
        let server = ServerProcess::spawn(EXE, &data).await?;
        let fx = Fixture::new(server.url());
        fx.center("강남점").await?;
        fx.members("DR", 40, None).await?;
        server.kill().await?;
    }
    let path = data.join("gymgate.db");
    let root: i64 = {
        let conn = rusqlite::Connection::open(&path)?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        conn.query_row(
            "SELECT rootpage FROM sqlite_schema WHERE name = 'members'",
            [],
            |r| r.get(0),
        )?
    };
    {
        let mut file = std::fs::OpenOptions::new().write(true).open(&path)?;
        std::io::Seek::seek(
            &mut file,
            std::io::SeekFrom::Start((root as u64 - 1) * 4096 + 8),
        )?;
        file.write_all(&[0xA5; 2000])?;
        file.sync_all()?;
    }
    let mut command = tokio::process::Command::new(EXE);
    command
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("GYMGATE_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("RUST_LOG", "error")
        .stderr(std::process::Stdio::piped());
    let (mut child, url) = serving(command).await?;
    let deadline = Instant::now() + gymgate_tests::WAIT;
    let body = loop {
        if let Ok(answer) = reqwest::get(format!("{url}/readyz")).await {
            let status = answer.status();
            let body: serde_json::Value = answer.json().await.unwrap_or_default();
            if status == 503 {
                break body;
            }
            anyhow::ensure!(status != 200, "a damaged database reported ready");
        }
        anyhow::ensure!(Instant::now() < deadline, "/readyz never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(body["error"]["code"], "database_damaged");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("docs/operations.md"), "{message}");
    child.start_kill()?;
    let output = child.wait_with_output().await?;
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("restore the last backup"), "{log}");
    Ok(())
}

/// Finding 10. Sockets that send nothing are closed after the header timeout, and one
/// address holds at most its share of connections (the rest are told so and closed) while
/// others are served. Before, 1,100 silent sockets exhausted the descriptors.
#[tokio::test]
async fn silent_connections_are_closed_and_one_address_cannot_hold_them_all() -> anyhow::Result<()>
{
    let server = TestServer::start_with(|c| {
        c.connections.header_timeout = Duration::from_millis(400);
        c.connections.max_per_address = 20;
    })
    .await?;
    let silent_from = std::net::SocketAddr::from(([127, 0, 3, 1], 0));
    let mut silent = Vec::new();
    for _ in 0..25 {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(silent_from)?;
        silent.push(socket.connect(server.addr).await?);
    }
    // Past 20, a connection is answered 503 at once.
    let mut refused = 0;
    for stream in &mut silent[20..] {
        let mut buf = vec![0u8; 512];
        let n = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::io::AsyncReadExt::read(stream, &mut buf),
        )
        .await??;
        if String::from_utf8_lossy(&buf[..n]).contains("too_many_connections") {
            refused += 1;
        }
    }
    assert_eq!(refused, 5);
    // Another address is served meanwhile.
    let other = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 3, 2]))
        .build()?;
    assert_eq!(
        other
            .get(format!("{}/readyz", server.url()))
            .send()
            .await?
            .status(),
        200
    );
    // The silent ones are closed by the server (EOF), each within the timeout and a margin.
    let started = Instant::now();
    for stream in &mut silent[..20] {
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(
            Duration::from_secs(3),
            tokio::io::AsyncReadExt::read(stream, &mut buf),
        )
        .await
        .map_err(|_| anyhow::anyhow!("a silent connection was kept open"))??;
        assert_eq!(n, 0, "closed without an answer");
    }
    println!(
        "20 silent connections closed after {} ms; 5 over the cap refused at once",
        started.elapsed().as_millis()
    );
    // Their places are free again; a kept-alive connection idle past the timeout is closed.
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(silent_from)?;
    let mut stream = socket.connect(server.addr).await?;
    tokio::io::AsyncWriteExt::write_all(&mut stream, b"GET /livez HTTP/1.1\r\nhost: x\r\n\r\n")
        .await?;
    let mut answer = vec![0u8; 1024];
    let n = tokio::io::AsyncReadExt::read(&mut stream, &mut answer).await?;
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 200"));
    let n = tokio::time::timeout(
        Duration::from_secs(3),
        tokio::io::AsyncReadExt::read(&mut stream, &mut answer),
    )
    .await
    .map_err(|_| anyhow::anyhow!("an idle kept-alive connection was kept open"))??;
    assert_eq!(n, 0);
    Ok(())
}

/// Finding 10. One member token opening many live feeds holds only the newest few: each new
/// one ends the oldest. Before, one token held 5,000 streams (+75 MB).
#[tokio::test]
async fn one_member_token_holds_only_a_few_live_feeds() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| c.limits.feeds_per_member = 3).await?;
    let fx = Fixture::new(server.url());
    let center = fx.center("강남점").await?;
    let numbers = fx.members("FE", 1, None).await?;
    let member = MemberClient::login(&server.url(), &numbers[0], PIN).await?;
    let http = reqwest::Client::new();
    let mut feeds = Vec::new();
    for _ in 0..50 {
        feeds.push(
            http.get(format!("{}/api/v1/me/events", server.url()))
                .bearer_auth(&member.token)
                .send()
                .await?,
        );
    }
    // The 47 oldest were ended by the server.
    let mut ended = 0;
    for feed in &mut feeds[..47] {
        loop {
            match tokio::time::timeout(Duration::from_secs(5), feed.chunk()).await {
                Ok(Ok(None)) | Ok(Err(_)) => {
                    ended += 1;
                    break;
                }
                Ok(Ok(Some(_))) => {}
                Err(_) => break,
            }
        }
    }
    assert_eq!(ended, 47);
    // The newest still hears a tap.
    let tapped = member
        .tap(center.id.as_str(), "k")
        .await?
        .checkin()?
        .clone();
    let newest = feeds.last_mut().ok_or_else(|| anyhow::anyhow!("no feed"))?;
    let mut seen = String::new();
    while !seen.contains(tapped.id.as_str()) {
        let chunk = tokio::time::timeout(gymgate_tests::WAIT, newest.chunk())
            .await??
            .ok_or_else(|| anyhow::anyhow!("the newest feed ended"))?;
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    Ok(())
}

/// Finding 11. Secrets never on a command line: the old flags are refused with where the
/// secret goes instead; a secrets file readable by others is refused; one readable by its
/// owner alone works.
#[tokio::test]
async fn secrets_are_refused_on_the_command_line_and_read_from_a_private_file() -> anyhow::Result<()>
{
    let (_keep, data) = gymgate_tests::server::data_dir()?;
    let serve = |args: &[&str]| {
        tokio::process::Command::new(EXE)
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .args(args)
            .env_remove("GYMGATE_ADMIN_TOKEN")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .output()
    };
    let flagged = serve(&["--admin-token", "a-token-of-24-characters"]).await?;
    assert!(!flagged.status.success());
    let said = String::from_utf8_lossy(&flagged.stderr);
    assert!(
        said.contains("GYMGATE_ADMIN_TOKEN") && said.contains("ps"),
        "{said}"
    );
    let flagged = serve(&["--slack-webhook", "https://hooks.slack.com/services/x"]).await?;
    assert!(!flagged.status.success());
    assert!(String::from_utf8_lossy(&flagged.stderr).contains("GYMGATE_SLACK_WEBHOOK"));
    let admin = tokio::process::Command::new(EXE)
        .args(["admin", "--token", "secret", "center", "list"])
        .output()
        .await?;
    assert!(!admin.status.success());
    assert!(String::from_utf8_lossy(&admin.stderr).contains("GYMGATE_ADMIN_TOKEN"));

    let secrets = data.join("secrets.env");
    std::fs::write(
        &secrets,
        "# gymgate secrets\nGYMGATE_ADMIN_TOKEN=\"a-token-of-24-characters\"\n",
    )?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o644))?;
        let open = serve(&["--secrets-file", secrets.to_str().unwrap_or_default()]).await?;
        assert!(!open.status.success());
        assert!(
            String::from_utf8_lossy(&open.stderr).contains("chmod 600"),
            "{open:?}"
        );
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600))?;
    }
    let mut command = tokio::process::Command::new(EXE);
    command
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .arg("--secrets-file")
        .arg(&secrets)
        .env_remove("GYMGATE_ADMIN_TOKEN");
    let (mut child, url) = serving(command).await?;
    gymgate_tests::server::wait_ready(&url).await?;
    let admin = gymgate_server::AdminClient::new(&url, "a-token-of-24-characters");
    assert!(admin.centers().await?.is_empty());
    child.start_kill()?;
    Ok(())
}
