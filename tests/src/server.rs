//! Starting servers for tests and giving them centers, desks and members.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use chrono::Utc;
use gymgate_server::AdminClient;
use gymgate_server::{Config, Limits};
use gymgate_shared::api::{AdminCenter, NewCenter, PairRequest, PairResponse};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::{ADMIN_TOKEN, PIN};

/// A server running inside the test process on 127.0.0.1:0 with its own database file.
pub struct TestServer {
    pub addr: SocketAddr,
    pub data: tempfile::TempDir,
    /// The running server's state, for tests that inject faults at the storage boundary.
    pub state: gymgate_server::AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), gymgate_server::ServerError>>>,
}

impl TestServer {
    pub async fn start() -> anyhow::Result<TestServer> {
        Self::start_with(|_| {}).await
    }

    /// Starts with the production defaults, adjusted by `tune`.
    pub async fn start_with(tune: impl FnOnce(&mut Config)) -> anyhow::Result<TestServer> {
        let data = tempfile::tempdir()?;
        Self::start_in(data, tune).await
    }

    /// Starts on an existing data directory (a restart).
    pub async fn start_in(
        data: tempfile::TempDir,
        tune: impl FnOnce(&mut Config),
    ) -> anyhow::Result<TestServer> {
        let server = Self::start_unchecked(data, tune).await?;
        server.wait_ready().await?;
        Ok(server)
    }

    /// [`TestServer::start_in`] on a given address (a server restarted where desks and
    /// proxies already point).
    pub async fn start_in_at(
        data: tempfile::TempDir,
        addr: SocketAddr,
        tune: impl FnOnce(&mut Config),
    ) -> anyhow::Result<TestServer> {
        let server = Self::start_on(data, Some(addr), tune).await?;
        server.wait_ready().await?;
        Ok(server)
    }

    /// [`TestServer::start_in`] without waiting for `/readyz` (for servers that must not
    /// become ready).
    pub async fn start_unchecked(
        data: tempfile::TempDir,
        tune: impl FnOnce(&mut Config),
    ) -> anyhow::Result<TestServer> {
        Self::start_on(data, None, tune).await
    }

    async fn start_on(
        data: tempfile::TempDir,
        addr: Option<SocketAddr>,
        tune: impl FnOnce(&mut Config),
    ) -> anyhow::Result<TestServer> {
        let mut config = Config::new(data.path().join("gymgate.db"), ADMIN_TOKEN);
        // Tests log many members in from one address; the login tests set their own limits.
        config.logins.attempts_per_ip_per_minute = 100_000;
        config.logins.failures_per_ip_per_hour = 100_000;
        config.logins.checks_per_ip = 8;
        // Storm tests connect thousands of desks from one address.
        config.connections.max_per_address = 100_000;
        config.limits = Limits {
            // Tests tap many times per member and pair many desks from one address.
            taps_per_member_per_minute: 1000,
            pair_attempts_per_ip_per_minute: 1000,
            // Test desks call a link dead after 2 s of silence; keep it talking.
            ping_interval: std::time::Duration::from_millis(500),
            ..Limits::default()
        };
        if crate::postgres::backend() == crate::postgres::Backend::Postgres {
            config.database_url = postgres_or_note(data.path()).await?;
        }
        tune(&mut config);
        let listener = match addr {
            Some(addr) => TcpListener::bind(addr).await?,
            None => TcpListener::bind("127.0.0.1:0").await?,
        };
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let (started_tx, started_rx) = oneshot::channel();
        let task = tokio::spawn(gymgate_server::run_with(
            listener,
            config,
            async move {
                let _ = stopped.await;
            },
            move |started| {
                let _ = started_tx.send(started.state);
            },
        ));
        let state = started_rx.await.context("the server did not start")?;
        Ok(TestServer {
            addr,
            data,
            state,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn admin(&self) -> AdminClient {
        AdminClient::new(&self.url(), ADMIN_TOKEN)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        wait_ready(&self.url()).await
    }

    /// Graceful stop; returns the data directory for a restart.
    pub async fn stop(mut self) -> anyhow::Result<tempfile::TempDir> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await??;
        }
        let data = std::mem::replace(&mut self.data, tempfile::tempdir()?);
        Ok(data)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The data directory's PostgreSQL database; without a cluster outside CI, `None` (the test
/// runs on SQLite, and says so).
async fn postgres_or_note(data_dir: &Path) -> anyhow::Result<Option<String>> {
    if crate::postgres::admin_url()?.is_none() {
        eprintln!("!!! this test runs on SQLite instead");
        return Ok(None);
    }
    Ok(Some(crate::postgres::database_for(data_dir).await?))
}

pub async fn wait_ready(url: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + crate::WAIT;
    loop {
        if let Ok(r) = client.get(format!("{url}/readyz")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("server at {url} not ready in time");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The real `gymgate-server` program as a child process, for crash tests.
pub struct ServerProcess {
    pub addr: SocketAddr,
    child: tokio::process::Child,
}

impl ServerProcess {
    /// `exe` is `env!("CARGO_BIN_EXE_gymgate-server-under-test")`, which cargo defines only
    /// for this package's integration tests.
    pub async fn spawn(exe: &str, data_dir: &Path) -> anyhow::Result<ServerProcess> {
        Self::spawn_with(exe, data_dir, &[]).await
    }

    /// [`ServerProcess::spawn`] with more `serve` options.
    pub async fn spawn_with(
        exe: &str,
        data_dir: &Path,
        options: &[&str],
    ) -> anyhow::Result<ServerProcess> {
        Self::spawn_on(exe, data_dir, "127.0.0.1:0", options).await
    }

    /// With more `serve` options and environment (secrets go in the environment, never on
    /// the command line).
    pub async fn spawn_env(
        exe: &str,
        data_dir: &Path,
        options: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<ServerProcess> {
        Self::spawn_full(exe, data_dir, "127.0.0.1:0", options, env).await
    }

    /// On a given address, with environment.
    pub async fn spawn_on_env(
        exe: &str,
        data_dir: &Path,
        addr: &str,
        options: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<ServerProcess> {
        Self::spawn_full(exe, data_dir, addr, options, env).await
    }

    /// On a given address: a restart where the desks expect the server to be.
    pub async fn spawn_on(
        exe: &str,
        data_dir: &Path,
        addr: &str,
        options: &[&str],
    ) -> anyhow::Result<ServerProcess> {
        Self::spawn_full(exe, data_dir, addr, options, &[]).await
    }

    async fn spawn_full(
        exe: &str,
        data_dir: &Path,
        addr: &str,
        options: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<ServerProcess> {
        let database = if crate::postgres::backend() == crate::postgres::Backend::Postgres
            && !env.iter().any(|(k, _)| *k == "GYMGATE_DATABASE_URL")
        {
            postgres_or_note(data_dir).await?
        } else {
            None
        };
        let mut child = tokio::process::Command::new(exe);
        if let Some(url) = &database {
            child.env("GYMGATE_DATABASE_URL", url);
        }
        let mut child = child
            .args(["serve", "--addr", addr, "--data-dir"])
            .arg(data_dir)
            .args(options)
            .env("GYMGATE_ADMIN_TOKEN", ADMIN_TOKEN)
            // Tests log many members in from one address; a test may set its own limits.
            .env("GYMGATE_LOGINS_PER_IP_PER_MINUTE", "100000")
            .env("GYMGATE_LOGIN_FAILURES_PER_IP_PER_HOUR", "100000")
            .env("GYMGATE_MAX_CONNECTIONS_PER_IP", "100000")
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the server process")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(crate::WAIT, lines.next_line())
            .await
            .context("server did not print its address")??
            .context("server exited before listening")?;
        let addr = first
            .strip_prefix("listening on http://")
            .context("unexpected first line")?
            .parse()?;
        let server = ServerProcess { addr, child };
        wait_ready(&server.url()).await?;
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn admin(&self) -> AdminClient {
        AdminClient::new(&self.url(), ADMIN_TOKEN)
    }

    /// The process id (for memory figures).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL: no shutdown code runs, exactly like a power cut to the process.
    pub async fn kill(mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }
}

/// Centers, desks and members set up through the admin API.
pub struct Fixture {
    pub url: String,
    pub admin: AdminClient,
}

impl Fixture {
    pub fn new(url: String) -> Fixture {
        let admin = AdminClient::new(&url, ADMIN_TOKEN);
        Fixture { url, admin }
    }

    pub async fn center(&self, name: &str) -> anyhow::Result<AdminCenter> {
        self.center_with(NewCenter {
            name: name.into(),
            address: "서울".into(),
            hours: None,
            schedule: None,
            requires_approval: false,
        })
        .await
    }

    pub async fn center_with(&self, center: NewCenter) -> anyhow::Result<AdminCenter> {
        Ok(self.admin.add_center(&center).await?)
    }

    /// Pairs a new desk with a center; returns its id and token.
    pub async fn desk(&self, center_id: &str) -> anyhow::Result<PairResponse> {
        let code = self.admin.pairing_code(center_id).await?;
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/desks/pair", self.url))
            .json(&PairRequest {
                code: code.code,
                name: "1층 데스크".into(),
            })
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("pairing failed: {}", response.text().await?);
        }
        Ok(response.json().await?)
    }

    /// Imports members `{prefix}0001..` with PIN [`PIN`], 8 visits a month (or unlimited),
    /// valid for a year around today. Returns their member numbers.
    pub async fn members(
        &self,
        prefix: &str,
        count: usize,
        visits_per_month: Option<u32>,
    ) -> anyhow::Result<Vec<String>> {
        let today = gymgate_shared::kst::date_of(Utc::now());
        let from = today - chrono::Duration::days(30);
        let until = today + chrono::Duration::days(300);
        let visits = visits_per_month.map(|v| v.to_string()).unwrap_or_default();
        let plan = match visits_per_month {
            Some(v) => format!("월 {v}회"),
            None => "무제한".into(),
        };
        let mut csv = String::from(
            "member_no,name,phone,pin,plan,visits_per_month,valid_from,valid_until,birthday\n",
        );
        let numbers: Vec<String> = (1..=count).map(|i| format!("{prefix}{i:04}")).collect();
        for (i, no) in numbers.iter().enumerate() {
            csv.push_str(&format!(
                "{no},회원{i},010-0000-{:04},{PIN},{plan},{visits},{from},{until},\n",
                i % 10_000
            ));
        }
        let report = self.admin.import_members(csv).await?;
        if !report.errors.is_empty() || report.created as usize != count {
            bail!("import failed: {report:?}");
        }
        Ok(numbers)
    }
}

/// A temporary directory path for a process-based server.
pub fn data_dir() -> anyhow::Result<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_path_buf();
    Ok((dir, path))
}
