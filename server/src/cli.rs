//! The `gymgate-server` command line: serve, demo, admin.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::admin_client::AdminClient;
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
    /// A Slack incoming webhook (or any URL taking `{"text": …}`) told when the check fails.
    #[arg(long, env = "GYMGATE_PROBE_WEBHOOK")]
    webhook: Option<String>,
}

#[derive(Args)]
struct ServeArgs {
    #[arg(long, env = "GYMGATE_ADDR", default_value = "0.0.0.0:8080")]
    addr: SocketAddr,
    /// Holds gymgate.db (back it up with the SQLite online backup API, see docs/operations.md).
    #[arg(long, env = "GYMGATE_DATA_DIR", default_value = "gymgate-data")]
    data_dir: PathBuf,
    /// Bearer token of the admin API. Required.
    #[arg(long, env = "GYMGATE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Days events are kept for desks to resume from.
    #[arg(long, env = "GYMGATE_RETENTION_DAYS", default_value_t = 30)]
    retention_days: i64,
    /// Taps one member may make per minute (429 beyond).
    #[arg(long, env = "GYMGATE_TAPS_PER_MEMBER_PER_MINUTE", default_value_t = 10)]
    taps_per_member_per_minute: u32,
    /// Desk pairing attempts one address may make per minute.
    #[arg(long, env = "GYMGATE_PAIRS_PER_IP_PER_MINUTE", default_value_t = 10)]
    pairs_per_ip_per_minute: u32,
    /// Slack incoming webhook for alerts (raised, resolved, restarts).
    #[arg(long, env = "GYMGATE_SLACK_WEBHOOK", hide_env_values = true)]
    slack_webhook: Option<String>,
    /// SMS gateway webhook (POST `{"text": …}`) for alerts lasting past --escalate-minutes.
    #[arg(long, env = "GYMGATE_SMS_WEBHOOK", hide_env_values = true)]
    sms_webhook: Option<String>,
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
    #[arg(long, env = "GYMGATE_ADMIN_TOKEN", hide_env_values = true)]
    token: String,
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
    Revoke { desk_id: String },
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
    /// CSV header: member_no,name,phone,pin,plan,visits_per_month,valid_from,valid_until,birthday
    Import { file: PathBuf },
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
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let Some(admin_token) = args.admin_token.filter(|t| t.len() >= 16) else {
        bail!(
            "set an admin token of at least 16 characters with --admin-token or GYMGATE_ADMIN_TOKEN"
        );
    };
    if args.retention_days < 1 {
        bail!("--retention-days must be at least 1");
    }
    let mut config = Config::new(args.data_dir.join("gymgate.db"), admin_token);
    config.retention = chrono::Duration::days(args.retention_days);
    config.limits.taps_per_member_per_minute = args.taps_per_member_per_minute;
    config.limits.pair_attempts_per_ip_per_minute = args.pairs_per_ip_per_minute;
    if !(0.0..=100.0).contains(&args.alert_tap_failure_percent) {
        bail!("--alert-tap-failure-percent must be between 0 and 100");
    }
    let alerts = &mut config.alerts;
    alerts.slack_url = args.slack_webhook.filter(|u| !u.is_empty());
    alerts.sms_url = args.sms_webhook.filter(|u| !u.is_empty());
    alerts.rules.center_offline_after =
        chrono::Duration::minutes(args.alert_center_offline_minutes.into());
    alerts.rules.escalate_after = chrono::Duration::minutes(args.alert_escalate_minutes.into());
    alerts.rules.tap_failure_ratio = args.alert_tap_failure_percent / 100.0;
    alerts.rules.commit_latency = std::time::Duration::from_millis(args.alert_commit_ms);
    let listener = bind(args.addr).await?;
    crate::run(listener, config, shutdown_signal()).await?;
    Ok(())
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
    if let Some(webhook) = &args.webhook {
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

async fn admin(args: AdminArgs) -> anyhow::Result<()> {
    let client = AdminClient::new(&args.url, &args.token);
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
        AdminCommand::Desk(DeskCommand::Revoke { desk_id }) => {
            client.revoke_desk(&desk_id).await?;
            println!("desk {desk_id} revoked; it must be paired again");
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
        AdminCommand::Member(MemberCommand::Import { file }) => {
            let csv = tokio::fs::read_to_string(&file)
                .await
                .with_context(|| format!("cannot read {}", file.display()))?;
            let report = client.import_members(csv).await?;
            println!(
                "created {}, updated {}, errors {}",
                report.created,
                report.updated,
                report.errors.len()
            );
            for e in &report.errors {
                println!("  line {}: {}", e.line, e.message);
            }
            if !report.errors.is_empty() {
                bail!("{} rows were not imported", report.errors.len());
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
