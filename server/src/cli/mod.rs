//! The `gymgate-server` command line: serve, demo, admin (through [`AdminClient`], the
//! admin API's client, which tests and tools use too).

mod admin_client;

pub use admin_client::{AdminClient, AdminError};

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::{Config, demo};
use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use gymgate_shared::api::{BlockRequest, NewCenter, NewMember, NewNotice, Severity};
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(name = "gymgate-server", version, about = "The gymgate central server")]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// With no subcommand, `serve` with these options.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the member API, admin API and desk WebSocket (the default).
    Serve(ServeArgs),
    /// Serve a demo: a center "강남점", 200 members, a known pairing code, simulated taps.
    Demo(DemoArgs),
    /// Operate a running server through its admin API.
    Admin(AdminArgs),
    /// Check a server from outside (cron, Task Scheduler): exit 0 when it is ready; otherwise
    /// print why, post to the webhook if given, and exit 2.
    Probe(ProbeArgs),
    /// Copy the database of a running (or stopped) server to a file with SQLite's online
    /// backup API, then check the copy. Run it on the server's host.
    Backup(BackupArgs),
    /// Put a backup in place as the database of a stopped server, with a new epoch (desks
    /// re-sync and send their visits again); the files it replaces are moved aside, not
    /// deleted.
    Restore(RestoreArgs),
    /// Desk releases, where the release key is (never on the server): make a key, sign an
    /// installer.
    #[command(subcommand)]
    Release(ReleaseCommand),
    /// Give a PostgreSQL database a new epoch after promoting a standby or a point-in-time
    /// recovery (GYMGATE_DATABASE_URL from the environment or --secrets-file), before the
    /// nodes serve from it.
    NewEpoch(NewEpochArgs),
}

#[derive(Subcommand)]
enum ReleaseCommand {
    /// Make a release signing key: the private key goes to --out (mode 600, never
    /// overwritten), the public key is printed (give it to the servers' --release-keys and to
    /// the desk build's GYMGATE_RELEASE_KEYS).
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign an installer: writes the signed manifest (JSON) to --out.
    Sign {
        /// The file `keygen` wrote.
        #[arg(long)]
        key_file: PathBuf,
        #[arg(long)]
        installer: PathBuf,
        #[arg(long)]
        version: String,
        /// The oldest desk version this installer updates.
        #[arg(long)]
        min_from: String,
        #[arg(long)]
        notes_ko: String,
        #[arg(long)]
        notes_en: String,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Args)]
struct RestoreArgs {
    #[arg(long, env = "GYMGATE_DATA_DIR", default_value = "gymgate-data")]
    data_dir: PathBuf,
    /// The backup file (`gymgate-server backup --to …`).
    #[arg(long)]
    from: PathBuf,
}

#[derive(Args)]
struct NewEpochArgs {
    /// A file of KEY=value lines (mode 600) holding GYMGATE_DATABASE_URL.
    #[arg(long, env = "GYMGATE_SECRETS_FILE")]
    secrets_file: Option<PathBuf>,
}

#[derive(Args)]
struct BackupArgs {
    #[arg(long, env = "GYMGATE_DATA_DIR", default_value = "gymgate-data")]
    data_dir: PathBuf,
    /// The file to write (must not exist yet).
    #[arg(long)]
    to: PathBuf,
}

#[derive(Args)]
struct ProbeArgs {
    #[arg(long, env = "GYMGATE_URL")]
    url: String,
    /// Seconds to wait for an answer.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
    /// A file of KEY=value lines (mode 600) with GYMGATE_PROBE_WEBHOOK: a Slack incoming
    /// webhook (or any URL taking `{"text": …}`) told when the check fails. The environment
    /// variable GYMGATE_PROBE_WEBHOOK works too.
    #[arg(long, env = "GYMGATE_SECRETS_FILE")]
    secrets_file: Option<PathBuf>,
    #[command(flatten)]
    refused: SecretFlags,
}

/// Flags that used to carry secrets. A secret on the command line is visible to every user of
/// the machine (`ps`, /proc) and lands in shell histories; these only explain where it goes.
#[derive(Args)]
struct SecretFlags {
    #[arg(long = "admin-token", hide = true)]
    admin_token: Option<String>,
    #[arg(long = "token", hide = true)]
    token: Option<String>,
    #[arg(long = "slack-webhook", hide = true)]
    slack_webhook: Option<String>,
    #[arg(long = "sms-webhook", hide = true)]
    sms_webhook: Option<String>,
    #[arg(long = "webhook", hide = true)]
    webhook: Option<String>,
}

impl SecretFlags {
    fn refuse(&self) -> anyhow::Result<()> {
        let given = [
            (
                "--admin-token / --token",
                "GYMGATE_ADMIN_TOKEN",
                self.admin_token.is_some() || self.token.is_some(),
            ),
            (
                "--slack-webhook",
                "GYMGATE_SLACK_WEBHOOK",
                self.slack_webhook.is_some(),
            ),
            (
                "--sms-webhook",
                "GYMGATE_SMS_WEBHOOK",
                self.sms_webhook.is_some(),
            ),
            ("--webhook", "GYMGATE_PROBE_WEBHOOK", self.webhook.is_some()),
        ];
        if let Some((flag, variable, _)) = given.into_iter().find(|(_, _, given)| *given) {
            bail!(
                "{flag} is not taken on the command line: every user of this machine can read a \
                 command line (ps). Set {variable} in the environment, or put {variable}=… in a \
                 file only you can read (chmod 600) and pass --secrets-file FILE"
            );
        }
        Ok(())
    }
}

/// Secrets from the environment, else from a `KEY=value` file readable by its owner only
/// (the same format as a systemd `EnvironmentFile=`).
struct Secrets {
    file: std::collections::HashMap<String, String>,
}

impl Secrets {
    fn load(path: Option<&std::path::Path>) -> anyhow::Result<Secrets> {
        let Some(path) = path else {
            return Ok(Secrets {
                file: Default::default(),
            });
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the secrets file {}", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)?.permissions().mode();
            if mode & 0o077 != 0 {
                bail!(
                    "{} can be read by other users (mode {:o}); run: chmod 600 {}",
                    path.display(),
                    mode & 0o777,
                    path.display()
                );
            }
        }
        let mut file = std::collections::HashMap::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                bail!("{} line {}: expected KEY=value", path.display(), number + 1);
            };
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            file.insert(key.trim().to_owned(), value.to_owned());
        }
        Ok(Secrets { file })
    }

    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key)
            .ok()
            .or_else(|| self.file.get(key).cloned())
            .filter(|v| !v.is_empty())
    }
}

#[derive(Args)]
struct ServeArgs {
    #[arg(long, env = "GYMGATE_ADDR", default_value = "0.0.0.0:8080")]
    addr: SocketAddr,
    /// Holds gymgate.db (back it up with the SQLite online backup API, see docs/operations.md).
    #[arg(long, env = "GYMGATE_DATA_DIR", default_value = "gymgate-data")]
    data_dir: PathBuf,
    /// A file of KEY=value lines, readable by its owner only (chmod 600), holding the secrets:
    /// GYMGATE_ADMIN_TOKEN (required, ≥ 16 characters), GYMGATE_SLACK_WEBHOOK,
    /// GYMGATE_SMS_WEBHOOK, and GYMGATE_DATABASE_URL (postgres://…: several nodes share that
    /// database; without it, SQLite in --data-dir). The same variables in the environment work
    /// too (and win).
    #[arg(long, env = "GYMGATE_SECRETS_FILE")]
    secrets_file: Option<PathBuf>,
    #[command(flatten)]
    refused: SecretFlags,
    /// This node's name among the nodes of one database (default: the host's name and port).
    /// A node starting under the name of one still marked live replaces it.
    #[arg(long, env = "GYMGATE_NODE_NAME")]
    node_name: Option<String>,
    /// Every node's address as desks reach it (comma-separated): desks learn them and fail
    /// over between them.
    #[arg(long, env = "GYMGATE_PUBLIC_URLS", value_delimiter = ',')]
    public_url: Vec<String>,
    /// Public keys of the desk's release signers (comma-separated; `release keygen` prints
    /// one): only releases one of them signed can be uploaded and rolled out.
    #[arg(long, env = "GYMGATE_RELEASE_KEYS", value_delimiter = ',')]
    release_keys: Vec<String>,
    /// Seconds without a heartbeat after which a node counts as down (and is alerted).
    #[arg(long, env = "GYMGATE_NODE_DOWN_SECONDS", default_value_t = 30)]
    node_down_seconds: u32,
    /// Seconds the lease on the shared duties (alerts, expiry, imports, retention) lasts
    /// without a renewal when nodes share PostgreSQL: a frozen or cut-off leader hands them
    /// over within this.
    #[arg(long, env = "GYMGATE_LEADER_LEASE_SECONDS", default_value_t = 10)]
    leader_lease_seconds: u32,
    /// Writer sessions each node keeps on PostgreSQL (each commits one batch of taps at a
    /// time).
    #[arg(long, env = "GYMGATE_POSTGRES_WRITERS", default_value_t = 8)]
    postgres_writers: u16,
    /// Write jobs one PostgreSQL transaction may carry (group commit; 1: each its own, the
    /// default; at most 256). See docs/operations.md before raising it.
    #[arg(long, env = "GYMGATE_POSTGRES_BATCH", default_value_t = 1)]
    postgres_batch: u16,
    /// Days events are kept for desks to resume from.
    #[arg(long, env = "GYMGATE_RETENTION_DAYS", default_value_t = 30)]
    retention_days: i64,
    /// Years a deleted member's visits are kept (pseudonymous) for settlement and the
    /// partners' accounts; then they go (docs/operations.md, "Members' own data").
    #[arg(long, env = "GYMGATE_DELETED_VISITS_YEARS", default_value_t = 5)]
    deleted_visits_years: i64,
    /// Taps one member may make per minute (429 beyond).
    #[arg(long, env = "GYMGATE_TAPS_PER_MEMBER_PER_MINUTE", default_value_t = 10)]
    taps_per_member_per_minute: u32,
    /// Desk pairing attempts one address may make per minute.
    #[arg(long, env = "GYMGATE_PAIRS_PER_IP_PER_MINUTE", default_value_t = 10)]
    pairs_per_ip_per_minute: u32,
    /// Reverse proxies in front of the server (comma-separated addresses): their
    /// X-Forwarded-For is believed, and they are exempt from the per-address connection cap.
    #[arg(long, env = "GYMGATE_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxy: Vec<std::net::IpAddr>,
    /// Connections one address may hold open.
    #[arg(long, env = "GYMGATE_MAX_CONNECTIONS_PER_IP", default_value_t = 512)]
    max_connections_per_ip: usize,
    /// Minutes a pending check-in waits for staff before it expires.
    #[arg(long, env = "GYMGATE_PENDING_EXPIRY_MINUTES", default_value_t = 20)]
    pending_expiry_minutes: u32,
    /// Wrong PINs within a day that lock a member number for a day (operators can unlock).
    #[arg(long, env = "GYMGATE_PIN_LOCK_AFTER", default_value_t = 20)]
    pin_lock_after: u32,
    /// Login attempts one address may make per minute.
    #[arg(long, env = "GYMGATE_LOGINS_PER_IP_PER_MINUTE", default_value_t = 30)]
    logins_per_ip_per_minute: u32,
    /// Wrong PINs one address may send per hour, over all member numbers.
    #[arg(
        long,
        env = "GYMGATE_LOGIN_FAILURES_PER_IP_PER_HOUR",
        default_value_t = 100
    )]
    login_failures_per_ip_per_hour: u32,
    /// Wrong PINs a minute, server-wide, that raise the guessing alert.
    #[arg(
        long,
        env = "GYMGATE_ALERT_LOGIN_FAILURES_PER_MINUTE",
        default_value_t = 60
    )]
    alert_login_failures_per_minute: u64,
    /// Reports of one kind from members' phones in 5 minutes that raise an alert.
    #[arg(long, env = "GYMGATE_ALERT_APP_REPORTS", default_value_t = 50)]
    alert_app_reports: u64,
    /// Alert when every desk of an open center has been offline this long.
    #[arg(
        long,
        env = "GYMGATE_ALERT_CENTER_OFFLINE_MINUTES",
        default_value_t = 5
    )]
    alert_center_offline_minutes: u32,
    /// Send an alert by SMS too once it has lasted this long.
    #[arg(long, env = "GYMGATE_ALERT_ESCALATE_MINUTES", default_value_t = 15)]
    alert_escalate_minutes: u32,
    /// Alert when this percentage of taps fails over five minutes.
    #[arg(long, env = "GYMGATE_ALERT_TAP_FAILURE_PERCENT", default_value_t = 5.0)]
    alert_tap_failure_percent: f64,
    /// Alert when database commits take this long on average over five minutes.
    #[arg(long, env = "GYMGATE_ALERT_COMMIT_MS", default_value_t = 250)]
    alert_commit_ms: u64,
    /// Seconds between two looks at the server's health.
    #[arg(long, env = "GYMGATE_ALERT_CHECK_SECONDS", default_value_t = 15)]
    alert_check_seconds: u64,
}

#[derive(Args)]
struct DemoArgs {
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    #[arg(long, default_value = "gymgate-demo")]
    data_dir: PathBuf,
    /// Simulated taps per second (0 for none).
    #[arg(long, default_value_t = 0.2)]
    tap_rate: f64,
}

#[derive(Args)]
struct AdminArgs {
    #[arg(long, env = "GYMGATE_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A file (mode 600) with GYMGATE_ADMIN_TOKEN=…; or set GYMGATE_ADMIN_TOKEN itself.
    #[arg(long, env = "GYMGATE_SECRETS_FILE")]
    secrets_file: Option<PathBuf>,
    #[command(flatten)]
    refused: SecretFlags,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Centers: add (prints a pairing code), list, new pairing code.
    #[command(subcommand)]
    Center(CenterCommand),
    /// Desks: list, revoke.
    #[command(subcommand)]
    Desk(DeskCommand),
    /// Members: add, import a CSV, block or unblock.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Notices to every desk and member: post, list, clear.
    #[command(subcommand)]
    Notice(NoticeCommand),
    /// The incident log: list, and add cause / action / follow-up notes.
    #[command(subcommand)]
    Incident(IncidentCommand),
    /// Visits a desk admitted offline that the server's rules refused: list, accept, reject.
    #[command(subcommand)]
    Dispute(DisputeCommand),
    /// Console accounts: add (the first admin is made this way), list.
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Desk releases: upload a signed one, roll it out, pause, resume, halt, list.
    #[command(subcommand)]
    Release(AdminReleaseCommand),
}

#[derive(Subcommand)]
enum AdminReleaseCommand {
    /// Upload what `release sign` made: the signed manifest and the installer.
    Upload {
        #[arg(long)]
        manifest: PathBuf,
        #[arg(long)]
        installer: PathBuf,
    },
    /// Start or widen a rollout: canary centers (repeat --canary), then a share of desks.
    Rollout {
        version: String,
        #[arg(long = "canary")]
        canary: Vec<String>,
        #[arg(long, default_value_t = 0)]
        percent: u8,
        /// Desks install only in these Korean hours, daily (e.g. 02:00-05:00); "" clears
        /// them. Left out, the rollout keeps the hours it had.
        #[arg(long)]
        quiet_hours: Option<String>,
    },
    Pause {
        version: String,
        #[arg(long)]
        reason: Option<String>,
    },
    Resume {
        version: String,
    },
    /// Stop a rollout for good (sign a new version to go on).
    Halt {
        version: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Releases, rollouts, the fleet by version and failed updates (JSON).
    List,
}

#[derive(Subcommand)]
enum OperatorCommand {
    /// The password is asked for (or read from standard input's first line), never taken
    /// from the command line.
    Add {
        username: String,
        /// admin, support or viewer.
        #[arg(long, default_value = "admin")]
        role: String,
    },
    List,
}

#[derive(Subcommand)]
enum DisputeCommand {
    List,
    /// The visit counts (and is paid to the center).
    Accept {
        checkin_id: String,
        #[arg(long)]
        reason: Option<String>,
        /// Count it although the rules refuse it now (needs --reason; audited).
        #[arg(long = "override")]
        override_rules: bool,
    },
    /// The visit does not count; the reason is shown to the center and the member.
    Reject {
        checkin_id: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum IncidentCommand {
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    Note {
        incident_id: String,
        /// What went wrong underneath.
        #[arg(long)]
        cause: Option<String>,
        /// What was done about it.
        #[arg(long)]
        action: Option<String>,
        /// What should change so it does not happen again.
        #[arg(long)]
        follow_up: Option<String>,
    },
}

#[derive(Subcommand)]
enum CenterCommand {
    Add {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        address: String,
        /// "06:00-23:00" or "24h".
        #[arg(long)]
        hours: Option<String>,
        #[arg(long)]
        requires_approval: bool,
    },
    List,
    PairCode {
        center_id: String,
    },
}

#[derive(Subcommand)]
enum DeskCommand {
    List,
    Revoke {
        desk_id: String,
    },
    /// Ask a desk for its recent log (about 1 MB, redacted); audited.
    LogRequest {
        desk_id: String,
    },
    /// The logs asked of a desk, newest first.
    Logs {
        desk_id: String,
    },
    /// Print an uploaded log (reading it is audited).
    Log {
        request_id: String,
    },
}

#[derive(Subcommand)]
enum MemberCommand {
    Add {
        #[arg(long)]
        member_no: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        phone: String,
        #[arg(long)]
        pin: String,
        #[arg(long)]
        plan: String,
        /// Omit for unlimited.
        #[arg(long)]
        visits_per_month: Option<u32>,
        #[arg(long)]
        valid_from: chrono::NaiveDate,
        #[arg(long)]
        valid_until: chrono::NaiveDate,
        #[arg(long)]
        birthday: Option<chrono::NaiveDate>,
    },
    /// CSV (UTF-8 or CP949, as Excel saves it) with the header
    /// member_no,name,phone,pin,plan,visits_per_month,valid_from,valid_until,birthday[,photo];
    /// or a zip holding that CSV and the photo files (JPEG/PNG) its `photo` column names.
    /// Runs as a job on the server; this shows its progress (Ctrl-C leaves it running).
    Import {
        file: PathBuf,
        /// Also write the lines that were not imported to this CSV file.
        #[arg(long)]
        errors_csv: Option<PathBuf>,
    },
    /// Follow an import started earlier.
    ImportStatus { job_id: String },
    /// Lift a member's PIN lock (after too many wrong PINs) and forget their wrong PINs.
    Unlock { member_no: String },
    Block {
        member_no: String,
        #[arg(long)]
        reason: Option<String>,
        /// Lift the block instead.
        #[arg(long)]
        unblock: bool,
    },
}

#[derive(Subcommand)]
enum NoticeCommand {
    Post {
        #[arg(long)]
        ko: String,
        #[arg(long)]
        en: String,
        /// info, warning or critical.
        #[arg(long, default_value = "info")]
        severity: String,
        /// RFC 3339 end time.
        #[arg(long)]
        ends_at: Option<chrono::DateTime<chrono::Utc>>,
    },
    List,
    Clear {
        notice_id: String,
    },
}

fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Ctrl-C or SIGTERM (systemd stop, container stop).
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutting down");
}

/// The first stdout line names the bound address, so scripts and tests can use port 0.
async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    println!("listening on http://{bound}");
    std::io::stdout().flush()?;
    Ok(listener)
}

/// `main` for the `gymgate-server` binaries: errors become one readable line and exit code 1
/// (never a backtrace, which is for developers, not operators).
pub fn main_exit_code() -> std::process::ExitCode {
    match main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The whole `gymgate-server` command line. Lives in the library so the end-to-end tests can
/// run the very same program as a real process.
pub fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(run_cli(Cli::parse()))
}

async fn run_cli(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => {
            init_logging();
            serve(cli.serve).await
        }
        Some(Command::Serve(args)) => {
            init_logging();
            serve(args).await
        }
        Some(Command::Demo(args)) => {
            init_logging();
            run_demo(args).await
        }
        Some(Command::Admin(args)) => admin(args).await,
        Some(Command::Probe(args)) => probe(args).await,
        Some(Command::Backup(args)) => backup(args).await,
        Some(Command::Restore(args)) => restore(args).await,
        Some(Command::NewEpoch(args)) => new_epoch(args).await,
        Some(Command::Release(command)) => release(command),
    }
}

async fn admin_release(client: &AdminClient, command: AdminReleaseCommand) -> anyhow::Result<()> {
    match command {
        AdminReleaseCommand::Upload {
            manifest,
            installer,
        } => {
            let signed: gymgate_shared::release::SignedManifest = serde_json::from_str(
                &std::fs::read_to_string(&manifest)
                    .with_context(|| format!("cannot read {}", manifest.display()))?,
            )
            .with_context(|| format!("{} is not a signed manifest", manifest.display()))?;
            let bytes = std::fs::read(&installer)
                .with_context(|| format!("cannot read {}", installer.display()))?;
            let version = client.upload_release(&signed, bytes).await?;
            println!(
                "release {version} uploaded; roll it out with `admin release rollout {version} --canary <center id>`"
            );
        }
        AdminReleaseCommand::Rollout {
            version,
            canary,
            percent,
            quiet_hours,
        } => {
            let row = match &quiet_hours {
                Some(hours) => {
                    client
                        .set_rollout_in_hours(&version, &canary, percent, hours)
                        .await?
                }
                None => client.set_rollout(&version, &canary, percent).await?,
            };
            let when = match row.get("quiet_hours").and_then(|h| h.as_str()) {
                Some(hours) => format!("installed between {hours} (KST)"),
                None => "installed at the first quiet moment".to_owned(),
            };
            println!("{version}: canary centers {canary:?}, {percent}% of desks, {when}");
        }
        AdminReleaseCommand::Pause { version, reason } => {
            client
                .rollout_action(&version, "pause", reason.as_deref())
                .await?;
            println!("{version} paused");
        }
        AdminReleaseCommand::Resume { version } => {
            client.rollout_action(&version, "resume", None).await?;
            println!("{version} resumed");
        }
        AdminReleaseCommand::Halt { version, reason } => {
            client
                .rollout_action(&version, "halt", reason.as_deref())
                .await?;
            println!("{version} halted");
        }
        AdminReleaseCommand::List => {
            println!(
                "{}",
                serde_json::to_string_pretty(&client.releases().await?)?
            );
        }
    }
    Ok(())
}

fn release(command: ReleaseCommand) -> anyhow::Result<()> {
    match command {
        ReleaseCommand::Keygen { out } => {
            let key = crate::releases::keygen(&out)?;
            println!(
                "release key {} written to {} (keep it offline; it is never given to a server)\npublic key: {}",
                key.key_id,
                out.display(),
                key.public_key()
            );
        }
        ReleaseCommand::Sign {
            key_file,
            installer,
            version,
            min_from,
            notes_ko,
            notes_en,
            out,
        } => {
            let manifest = crate::releases::sign(
                &key_file,
                &installer,
                gymgate_shared::release::Manifest {
                    version,
                    sha256: String::new(),
                    size: 0,
                    min_from,
                    notes_ko,
                    notes_en,
                },
                &out,
            )?;
            println!(
                "signed {} ({} bytes, sha256 {}) into {}",
                manifest.version,
                manifest.size,
                manifest.sha256,
                out.display()
            );
        }
    }
    Ok(())
}

async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let db = args.data_dir.join("gymgate.db");
    let from = args.from.clone();
    let report = tokio::task::spawn_blocking(move || crate::store::restore(&from, &db))
        .await
        .context("the restore task failed")??;
    if let Some(aside) = &report.replaced_to {
        println!("the database it replaced is kept in {}", aside.display());
    }
    println!(
        "restored {} into {} with the new epoch {}; start the server: desks re-sync from a \
         snapshot and send their check-ins again (each is stored once)",
        args.from.display(),
        args.data_dir.display(),
        report.epoch
    );
    Ok(())
}

async fn new_epoch(args: NewEpochArgs) -> anyhow::Result<()> {
    let secrets = Secrets::load(args.secrets_file.as_deref())?;
    let Some(url) = secrets.get("GYMGATE_DATABASE_URL") else {
        bail!("set GYMGATE_DATABASE_URL (environment, or a --secrets-file readable only by you)");
    };
    let epoch = tokio::task::spawn_blocking(move || crate::store::new_epoch_postgres(&url))
        .await
        .context("the task failed")??;
    println!(
        "the database has the new epoch {epoch}; start (or restart) the nodes: desks re-sync \
         and send their check-ins again"
    );
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    args.refused.refuse()?;
    let secrets = Secrets::load(args.secrets_file.as_deref())?;
    let Some(admin_token) = secrets.get("GYMGATE_ADMIN_TOKEN").filter(|t| t.len() >= 16) else {
        bail!(
            "set an admin token of at least 16 characters in GYMGATE_ADMIN_TOKEN (environment, \
             or a --secrets-file readable only by you)"
        );
    };
    if args.retention_days < 1 {
        bail!("--retention-days must be at least 1");
    }
    let mut config = Config::new(args.data_dir.join("gymgate.db"), admin_token);
    config.database_url = secrets
        .get("GYMGATE_DATABASE_URL")
        .filter(|url| !url.trim().is_empty());
    if let Some(url) = &config.database_url
        && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
    {
        bail!("GYMGATE_DATABASE_URL must be a postgres:// URL");
    }
    config.node_name = args
        .node_name
        .clone()
        .unwrap_or_else(|| format!("{}:{}", host_name(), args.addr.port()));
    config.public_urls = args
        .public_url
        .iter()
        .map(|url| url.trim().trim_end_matches('/').to_owned())
        .filter(|url| !url.is_empty())
        .collect();
    config.release_keys = gymgate_shared::release::parse_keys(&args.release_keys.join(","))
        .map_err(|e| anyhow::anyhow!("--release-keys: {e}"))?;
    config.retention = chrono::Duration::days(args.retention_days);
    if !(1..=10).contains(&args.deleted_visits_years) {
        bail!("--deleted-visits-years must be 1 to 10");
    }
    config.deleted_visits = chrono::Duration::days(365 * args.deleted_visits_years);
    config.limits.taps_per_member_per_minute = args.taps_per_member_per_minute;
    config.limits.pair_attempts_per_ip_per_minute = args.pairs_per_ip_per_minute;
    config.trusted_proxies = args.trusted_proxy;
    config.connections.max_per_address = args.max_connections_per_ip.max(1);
    if args.pending_expiry_minutes < 1 {
        bail!("--pending-expiry-minutes must be at least 1");
    }
    config.pending_expiry = chrono::Duration::minutes(args.pending_expiry_minutes.into());
    config.logins.lock_after = args.pin_lock_after.max(1);
    config.logins.attempts_per_ip_per_minute = args.logins_per_ip_per_minute.max(1);
    config.logins.failures_per_ip_per_hour = args.login_failures_per_ip_per_hour.max(1);
    if !(0.0..=100.0).contains(&args.alert_tap_failure_percent) {
        bail!("--alert-tap-failure-percent must be between 0 and 100");
    }
    let alerts = &mut config.alerts;
    alerts.slack_url = secrets.get("GYMGATE_SLACK_WEBHOOK");
    alerts.sms_url = secrets.get("GYMGATE_SMS_WEBHOOK");
    alerts.rules.login_failures_per_minute = args.alert_login_failures_per_minute.max(1);
    alerts.rules.app_reports_per_window = args.alert_app_reports.max(1);
    alerts.rules.center_offline_after =
        chrono::Duration::minutes(args.alert_center_offline_minutes.into());
    alerts.rules.escalate_after = chrono::Duration::minutes(args.alert_escalate_minutes.into());
    alerts.rules.tap_failure_ratio = args.alert_tap_failure_percent / 100.0;
    alerts.rules.commit_latency = std::time::Duration::from_millis(args.alert_commit_ms);
    alerts.check_every = std::time::Duration::from_secs(args.alert_check_seconds.max(1));
    alerts.rules.node_down_after = chrono::Duration::seconds(args.node_down_seconds.max(2).into());
    config.leader_lease =
        std::time::Duration::from_secs(u64::from(args.leader_lease_seconds.max(1)));
    config.postgres_writers = usize::from(args.postgres_writers.max(1));
    config.postgres_batch = usize::from(args.postgres_batch.max(1));
    // A node beats a few times within the time it is allowed to be silent.
    config.heartbeat_every =
        std::time::Duration::from_secs(u64::from(args.node_down_seconds.max(2)) / 4)
            .max(std::time::Duration::from_millis(500));
    let listener = bind(args.addr).await?;
    crate::run(listener, config, shutdown_signal()).await?;
    Ok(())
}

/// The host's name (Linux), for a node's default name.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "gymgate".to_owned())
}

async fn run_demo(args: DemoArgs) -> anyhow::Result<()> {
    let config = Config::new(args.data_dir.join("gymgate.db"), demo::DEMO_ADMIN_TOKEN);
    let listener = bind(args.addr).await?;
    let addr = listener.local_addr()?;
    let tap_rate = args.tap_rate;
    crate::run_with(listener, config, shutdown_signal(), move |started| {
        let state = started.state;
        tokio::spawn(async move {
            match demo::seed(&state).await {
                Ok(center_id) => {
                    println!(
                        "demo center {} ({center_id}): pair a desk with code {}\n\
                         demo members {}..{} log in with PIN {}; admin token {}\n\
                         desk: cargo run -p gymgate-desk -- --demo   (server http://{addr})",
                        demo::DEMO_CENTER_NAME,
                        demo::DEMO_PAIRING_CODE,
                        demo::FIRST_MEMBER_NO,
                        demo::FIRST_MEMBER_NO + demo::DEMO_MEMBERS as u32 - 1,
                        demo::DEMO_PIN,
                        demo::DEMO_ADMIN_TOKEN,
                    );
                    demo::simulate_taps(state, center_id, tap_rate).await;
                }
                Err(error) => tracing::error!(%error, "cannot seed the demo data"),
            }
        });
    })
    .await?;
    Ok(())
}

async fn probe(args: ProbeArgs) -> anyhow::Result<()> {
    args.refused.refuse()?;
    let webhook = Secrets::load(args.secrets_file.as_deref())?.get("GYMGATE_PROBE_WEBHOOK");
    let url = args.url.trim_end_matches('/').to_owned();
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(args.timeout.max(1)))
        .build()?;
    let problem = match client.get(format!("{url}/readyz")).send().await {
        Ok(response) if response.status().is_success() => None,
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            Some(format!(
                "not ready (HTTP {status}): {}",
                body.chars().take(300).collect::<String>()
            ))
        }
        Err(error) if error.is_timeout() => Some(format!("no answer within {} s", args.timeout)),
        Err(error) => Some(format!("unreachable: {error}")),
    };
    let Some(problem) = problem else {
        println!("ok: {url} is ready");
        return Ok(());
    };
    let text = format!("gymgate probe: {url} is {problem}");
    eprintln!("{text}");
    if let Some(webhook) = &webhook {
        let sent = client
            .post(webhook)
            .json(&serde_json::json!({ "text": text }))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            // The webhook URL carries its token; keep it out of the output.
            .map_err(reqwest::Error::without_url);
        if let Err(error) = sent {
            eprintln!("and the alert webhook failed too: {error}");
        }
    }
    std::process::exit(2);
}

async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let source = args.data_dir.join("gymgate.db");
    if !source.exists() {
        bail!("no database at {}", source.display());
    }
    let to = args.to.clone();
    let report = tokio::task::spawn_blocking(move || crate::store::backup(&source, &to))
        .await
        .context("the backup task failed")??;
    println!(
        "backup written to {} ({} pages, {} bytes, integrity ok)",
        args.to.display(),
        report.pages,
        report.bytes
    );
    Ok(())
}

/// A password typed without echo on a terminal, or the first line of standard input (for
/// scripts); never an argument, which any user could read with `ps`.
fn read_password() -> anyhow::Result<String> {
    use std::io::IsTerminal;
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("비밀번호 / password (10자 이상): ")?;
        let again = rpassword::prompt_password("한 번 더 / again: ")?;
        if first != again {
            bail!("the two passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if password.is_empty() {
        bail!("no password given (type it, or pipe it on standard input)");
    }
    Ok(password)
}

async fn admin(args: AdminArgs) -> anyhow::Result<()> {
    args.refused.refuse()?;
    let Some(token) = Secrets::load(args.secrets_file.as_deref())?.get("GYMGATE_ADMIN_TOKEN")
    else {
        bail!("set GYMGATE_ADMIN_TOKEN (environment, or a --secrets-file readable only by you)");
    };
    let client = AdminClient::new(&args.url, &token);
    match args.command {
        AdminCommand::Center(CenterCommand::Add {
            name,
            address,
            hours,
            requires_approval,
        }) => {
            let center = client
                .add_center(&NewCenter {
                    name,
                    address,
                    hours,
                    schedule: None,
                    requires_approval,
                })
                .await?;
            let code = client.pairing_code(center.id.as_str()).await?;
            println!("center {} ({})", center.name, center.id);
            println!(
                "pairing code {} (single use, expires {})",
                code.code, code.expires_at
            );
        }
        AdminCommand::Center(CenterCommand::List) => {
            for c in client.centers().await? {
                println!(
                    "{}\t{}\t{}\thours {}\thead_seq {}",
                    c.id, c.name, c.address, c.hours, c.head_seq
                );
            }
        }
        AdminCommand::Center(CenterCommand::PairCode { center_id }) => {
            let code = client.pairing_code(&center_id).await?;
            println!(
                "pairing code {} (single use, expires {})",
                code.code, code.expires_at
            );
        }
        AdminCommand::Desk(DeskCommand::List) => {
            for d in client.desks().await? {
                let status = match (d.revoked, d.online, d.offline_since) {
                    (true, _, _) => "revoked".to_owned(),
                    (false, true, _) => "online".to_owned(),
                    (false, false, Some(since)) => format!("offline since {}", since.to_rfc3339()),
                    (false, false, None) => "never connected".to_owned(),
                };
                println!(
                    "{}\t{}\t{}\t{status}\tversion {}\toutbox {}\tacked {}",
                    d.id,
                    d.center_id,
                    d.name,
                    d.app_version.as_deref().unwrap_or("?"),
                    d.outbox_backlog,
                    d.acked_seq
                );
            }
        }
        AdminCommand::Operator(OperatorCommand::Add { username, role }) => {
            let Some(role) = gymgate_shared::api::Role::parse(&role) else {
                bail!("role {role:?} is not admin, support or viewer");
            };
            let password = read_password()?;
            let operator = client
                .add_operator(&gymgate_shared::api::NewOperator {
                    username,
                    password,
                    role,
                })
                .await?;
            println!(
                "operator {} ({}) added; log in at {}/console",
                operator.username,
                operator.role.as_str(),
                args.url.trim_end_matches('/')
            );
            if operator.role == gymgate_shared::api::Role::Admin {
                println!(
                    "관리자 계정은 첫 로그인에서 2단계 인증(인증 앱)을 설정합니다 / an admin sets up \
                     two-step login (an authenticator app) at the first login"
                );
            }
        }
        AdminCommand::Operator(OperatorCommand::List) => {
            for o in client.operators().await? {
                println!(
                    "{}\t{}\t{}",
                    o.username,
                    o.role.as_str(),
                    if o.disabled { "disabled" } else { "active" }
                );
            }
        }
        AdminCommand::Desk(DeskCommand::Revoke { desk_id }) => {
            client.revoke_desk(&desk_id).await?;
            println!("desk {desk_id} revoked; it must be paired again");
        }
        AdminCommand::Release(command) => admin_release(&client, command).await?,
        AdminCommand::Desk(DeskCommand::LogRequest { desk_id }) => {
            let (request_id, delivered) = client.request_desk_log(&desk_id).await?;
            let when = if delivered {
                "the desk was asked now"
            } else {
                "the desk is asked when it next connects or reports"
            };
            println!("log request {request_id}: {when}; see `admin desk logs {desk_id}`");
        }
        AdminCommand::Desk(DeskCommand::Logs { desk_id }) => {
            for log in client.desk_logs(&desk_id).await? {
                let state = match log.uploaded_at {
                    Some(at) => format!("uploaded {} ({} bytes)", at.to_rfc3339(), log.bytes),
                    None => "waiting for the desk".to_owned(),
                };
                println!(
                    "{}	{}	by {}	{state}",
                    log.request_id,
                    log.requested_at.to_rfc3339(),
                    log.requested_by
                );
            }
        }
        AdminCommand::Desk(DeskCommand::Log { request_id }) => {
            print!("{}", client.desk_log(&request_id).await?);
        }
        AdminCommand::Member(MemberCommand::Add {
            member_no,
            name,
            phone,
            pin,
            plan,
            visits_per_month,
            valid_from,
            valid_until,
            birthday,
        }) => {
            client
                .add_member(&NewMember {
                    member_no: member_no.clone(),
                    name,
                    phone,
                    pin,
                    plan,
                    visits_per_month,
                    valid_from,
                    valid_until,
                    birthday,
                })
                .await?;
            println!("member {member_no} added");
        }
        AdminCommand::Member(MemberCommand::Import { file, errors_csv }) => {
            let csv = tokio::fs::read(&file)
                .await
                .with_context(|| format!("cannot read {}", file.display()))?;
            let job = client.start_import(csv).await?;
            println!(
                "import {} started: {} lines, read as {}",
                job.id, job.lines, job.encoding
            );
            follow_import(&client, &job.id, errors_csv.as_deref()).await?;
        }
        AdminCommand::Member(MemberCommand::ImportStatus { job_id }) => {
            follow_import(&client, &job_id, None).await?;
        }
        AdminCommand::Member(MemberCommand::Unlock { member_no }) => {
            let before = client.unlock_member(&member_no).await?;
            match before.locked_until {
                Some(until) => println!(
                    "member {member_no} unlocked (was locked until {} after {} wrong PINs)",
                    until.to_rfc3339(),
                    before.failures
                ),
                None => println!(
                    "member {member_no} was not locked ({} wrong PINs forgotten)",
                    before.failures
                ),
            }
        }
        AdminCommand::Member(MemberCommand::Block {
            member_no,
            reason,
            unblock,
        }) => {
            client
                .block_member(
                    &member_no,
                    &BlockRequest {
                        blocked: !unblock,
                        reason,
                    },
                )
                .await?;
            println!(
                "member {member_no} {}",
                if unblock { "unblocked" } else { "blocked" }
            );
        }
        AdminCommand::Notice(NoticeCommand::Post {
            ko,
            en,
            severity,
            ends_at,
        }) => {
            let severity = match severity.as_str() {
                "info" => Severity::Info,
                "warning" => Severity::Warning,
                "critical" => Severity::Critical,
                other => bail!("severity {other:?} is not info, warning or critical"),
            };
            let notice = client
                .post_notice(&NewNotice {
                    severity,
                    text_ko: ko,
                    text_en: en,
                    ends_at,
                    center_ids: Vec::new(),
                })
                .await?;
            println!("notice {} posted to every desk", notice.id);
        }
        AdminCommand::Notice(NoticeCommand::List) => {
            for n in client.notices().await? {
                println!("{}\t{:?}\t{}\t{}", n.id, n.severity, n.text_ko, n.text_en);
            }
        }
        AdminCommand::Notice(NoticeCommand::Clear { notice_id }) => {
            client.clear_notice(&notice_id).await?;
            println!("notice {notice_id} cleared");
        }
        AdminCommand::Incident(IncidentCommand::List { limit }) => {
            for i in client.incidents(limit).await? {
                let ended = i
                    .ended_at
                    .map_or_else(|| "ongoing".to_owned(), |at| at.to_rfc3339());
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    i.id,
                    i.kind.as_str(),
                    i.started_at.to_rfc3339(),
                    ended,
                    i.title
                );
                for (label, text) in [
                    ("cause", &i.cause),
                    ("action", &i.action),
                    ("follow-up", &i.follow_up),
                ] {
                    if !text.is_empty() {
                        println!("\t{label}: {text}");
                    }
                }
            }
        }
        AdminCommand::Dispute(DisputeCommand::List) => {
            for d in client.disputes().await? {
                let reason = d.checkin.dispute.as_ref().map_or("", |x| x.reason.as_str());
                let synced = d
                    .checkin
                    .dispute
                    .as_ref()
                    .map_or_else(String::new, |x| x.synced_at.to_rfc3339());
                println!(
                    "{}\t{}\t{} {}\t{}\tvisit {}\tsynced {}\t{}",
                    d.checkin.id,
                    d.checkin.center_name,
                    d.member_no,
                    d.member_name,
                    d.desk_name.as_deref().unwrap_or("?"),
                    d.checkin.at.to_rfc3339(),
                    synced,
                    reason
                );
            }
        }
        AdminCommand::Dispute(DisputeCommand::Accept {
            checkin_id,
            reason,
            override_rules,
        }) => {
            let checkin = client
                .decide_dispute(&checkin_id, true, reason, override_rules)
                .await?;
            println!("visit {} accepted: it counts", checkin.id);
        }
        AdminCommand::Dispute(DisputeCommand::Reject { checkin_id, reason }) => {
            let checkin = client
                .resolve_dispute(&checkin_id, false, Some(reason))
                .await?;
            println!("visit {} rejected: it does not count", checkin.id);
        }
        AdminCommand::Incident(IncidentCommand::Note {
            incident_id,
            cause,
            action,
            follow_up,
        }) => {
            if cause.is_none() && action.is_none() && follow_up.is_none() {
                bail!("give at least one of --cause, --action, --follow-up");
            }
            let incident = client
                .annotate_incident(
                    &incident_id,
                    &gymgate_shared::api::IncidentNotes {
                        cause,
                        action,
                        follow_up,
                    },
                )
                .await?;
            println!("incident {} noted", incident.id);
        }
    }
    Ok(())
}

/// Shows an import's progress until it ends, then its report.
async fn follow_import(
    client: &AdminClient,
    id: &str,
    errors_csv: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{bar:40}] {pos}/{len} lines · {msg} · {elapsed} (ETA {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let finished = client
        .wait_import(id, |job| {
            bar.set_length(job.lines);
            bar.set_position(job.lines_done);
            bar.set_message(format!(
                "{} created, {} updated, {} errors",
                job.created, job.updated, job.error_count
            ));
        })
        .await;
    bar.finish_and_clear();
    let job = match finished {
        Ok(job) => job,
        Err(AdminError::ImportFailed(why)) => {
            let job = client.import_job(id).await?;
            print_import(&job);
            bail!("import {id} failed: {why}");
        }
        Err(error) => return Err(error.into()),
    };
    print_import(&job);
    if let Some(path) = errors_csv {
        let body = client.import_errors_csv(id).await?;
        std::fs::write(path, body).with_context(|| format!("cannot write {}", path.display()))?;
        println!("lines not imported written to {}", path.display());
    }
    if job.error_count > 0 {
        bail!("{} lines were not imported", job.error_count);
    }
    Ok(())
}

fn print_import(job: &gymgate_shared::api::ImportJob) {
    println!(
        "import {}: {} — {} of {} lines; created {}, updated {}, errors {}",
        job.id,
        job.state.as_str(),
        job.lines_done,
        job.lines,
        job.created,
        job.updated,
        job.error_count
    );
    for e in &job.errors {
        println!("  line {}: {}", e.line, e.message);
    }
    if job.error_count as usize > job.errors.len() {
        println!(
            "  … and {} more (see the errors CSV)",
            job.error_count as usize - job.errors.len()
        );
    }
}
