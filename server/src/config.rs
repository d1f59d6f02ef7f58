//! Server settings. Defaults are the production values; tests shorten the timers.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use crate::auth::logins::LoginPolicy;
pub use crate::server::ConnectionLimits;

#[derive(Debug, Clone)]
pub struct Config {
    /// The SQLite file, unless `database_url` names a PostgreSQL database.
    pub db_path: PathBuf,
    /// `postgres://…`: several nodes share this database (a secret: it may hold a password).
    pub database_url: Option<String>,
    /// This node's name among the nodes of one database (its host, usually); a node starting
    /// under the name of one that is still marked live replaces it.
    pub node_name: String,
    /// Every node's address as desks reach it; sent to desks, which fail over between them.
    pub public_urls: Vec<String>,
    /// How often this node writes its heartbeat.
    pub heartbeat_every: Duration,
    /// How long the lease on the shared duties lasts without a renewal (several nodes): a
    /// leader that freezes or loses the database hands them over within this.
    pub leader_lease: Duration,
    /// Writer sessions a node keeps on PostgreSQL, each committing one batch of jobs at a
    /// time: more let more batches wait on commits at once, fewer make bigger batches.
    pub postgres_writers: usize,
    /// Write jobs one PostgreSQL transaction may carry (1: each its own). Measured on the
    /// 2-core test machine, batches made things worse (docs/benchmarks.md): a batch holds its
    /// transaction open for all its jobs' round trips, and the centers' rows, updated by
    /// every event, keep every version newer than the oldest open transaction.
    pub postgres_batch: usize,
    /// How often a node looks for events committed by other nodes that it was not told of.
    pub follow_every: Duration,
    /// Where the keys that sign offline passes are kept (made on first start).
    pub pass_keys_dir: PathBuf,
    /// Bearer token of the admin API. Compared in constant time; never logged.
    pub admin_token: String,
    /// Events are kept at least this long; desks further behind take a snapshot.
    pub retention: chrono::Duration,
    /// A deleted member's visits (pseudonymous) are kept this long after the visit.
    pub deleted_visits: chrono::Duration,
    pub pairing_code_ttl: chrono::Duration,
    pub member_token_ttl: chrono::Duration,
    /// A pending check-in nobody admitted or denied within this expires (the visit is given
    /// back).
    pub pending_expiry: chrono::Duration,
    /// How often pending check-ins are looked at for expiry.
    pub expiry_check_every: Duration,
    /// How often the database is checked for damage (`PRAGMA quick_check`) after the check
    /// at start.
    pub integrity_check_every: Duration,
    /// Reverse proxies in front of the server: they are believed about the client's address
    /// (`X-Forwarded-For`) and exempt from the per-address connection cap.
    pub trusted_proxies: Vec<IpAddr>,
    pub limits: Limits,
    pub logins: LoginPolicy,
    pub connections: ConnectionLimits,
    pub alerts: AlertConfig,
    /// Console accounts with the admin role act only once they have a second factor (TOTP).
    pub require_admin_totp: bool,
    /// Public keys of the desk's release signers: a release is accepted for rollout only when
    /// one of them signed it (the desks check again with the keys built into them). The
    /// private keys are never on the server.
    pub release_keys: Vec<gymgate_shared::release::ReleaseKey>,
}

#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest WebSocket message a desk may send.
    pub max_frame_bytes: usize,
    /// Largest JSON request body.
    pub max_body_bytes: usize,
    /// Largest CSV member import (100,000 members are ~8 MB).
    pub max_import_bytes: usize,
    /// A desk must say hello within this.
    pub hello_timeout: Duration,
    pub ping_interval: Duration,
    /// A desk silent this long (no frame, not even a pong) is dead.
    pub idle_timeout: Duration,
    /// A send to a desk that takes longer than this means the desk is stuck.
    pub write_timeout: Duration,
    /// Live events waiting for one desk before it counts as too slow.
    pub send_queue_depth: usize,
    /// Frames a desk may send per second on average (twice this in a burst). A desk acks
    /// every event, so this sits well above the fastest replay a desk can apply.
    pub desk_frames_per_second: u32,
    pub taps_per_member_per_minute: u32,
    pub pair_attempts_per_ip_per_minute: u32,
    /// Live feeds (`GET /api/v1/me/events`) one member may hold; a new one closes the oldest.
    pub feeds_per_member: usize,
    /// Member rows an import commits per write job.
    pub import_chunk: usize,
    /// Offline pass certificates one member may be issued per hour.
    pub passes_per_member_per_hour: u32,
    /// Pass-holder lookups one desk may make per minute.
    pub lookups_per_desk_per_minute: u32,
    /// And per Korean day: a desk checks in new visitors, it does not read the member list.
    pub lookups_per_desk_per_day: u64,
    /// A whole request, its body included, must arrive and be answered within this (a body
    /// sent a byte at a time cannot hold a connection); the answer may stream on after it.
    pub request_timeout: Duration,
    /// The same for uploads of member lists (large zips over slow links).
    pub import_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: gymgate_shared::protocol::MAX_FRAME_BYTES,
            max_body_bytes: 64 * 1024,
            // A zip of a member list with photos: ~2,500 photos of 50 KB.
            max_import_bytes: 128 * 1024 * 1024,
            hello_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(25),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(15),
            send_queue_depth: 256,
            desk_frames_per_second: 5000,
            taps_per_member_per_minute: 10,
            pair_attempts_per_ip_per_minute: 10,
            feeds_per_member: 4,
            import_chunk: 100,
            passes_per_member_per_hour: 30,
            lookups_per_desk_per_minute: 30,
            lookups_per_desk_per_day: 300,
            request_timeout: Duration::from_secs(30),
            import_timeout: Duration::from_secs(600),
        }
    }
}

impl Config {
    pub fn new(db_path: impl Into<PathBuf>, admin_token: impl Into<String>) -> Config {
        let db_path: PathBuf = db_path.into();
        let pass_keys_dir = db_path
            .parent()
            .map_or_else(|| PathBuf::from("pass-keys"), |dir| dir.join("pass-keys"));
        Config {
            db_path,
            database_url: None,
            node_name: "gymgate".to_owned(),
            public_urls: Vec::new(),
            heartbeat_every: Duration::from_secs(5),
            leader_lease: Duration::from_secs(10),
            postgres_writers: 8,
            postgres_batch: 1,
            follow_every: Duration::from_secs(1),
            pass_keys_dir,
            admin_token: admin_token.into(),
            retention: chrono::Duration::days(30),
            deleted_visits: chrono::Duration::days(365 * 5),
            pairing_code_ttl: chrono::Duration::hours(24),
            member_token_ttl: chrono::Duration::days(30),
            pending_expiry: chrono::Duration::minutes(20),
            expiry_check_every: Duration::from_secs(30),
            integrity_check_every: Duration::from_secs(6 * 3600),
            trusted_proxies: Vec::new(),
            limits: Limits::default(),
            logins: LoginPolicy::default(),
            connections: ConnectionLimits::default(),
            alerts: AlertConfig::default(),
            require_admin_totp: true,
            release_keys: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AlertConfig {
    /// A Slack incoming webhook URL.
    pub slack_url: Option<String>,
    /// An SMS gateway's webhook (same `{"text": …}` body), for escalations.
    pub sms_url: Option<String>,
    pub rules: Rules,
    pub check_every: Duration,
    /// The desks' lookups (fifteen days of them) are read this often for the "desk reading
    /// members" alert; between reads the last answer stands.
    pub lookups_every: Duration,
    /// The fraud signals (a month of visits, center by center) are read this often.
    pub signals_every: Duration,
    pub delivery: Delivery,
    pub clock: Clock,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            slack_url: None,
            sms_url: None,
            rules: Rules::default(),
            check_every: Duration::from_secs(15),
            lookups_every: Duration::from_secs(60),
            signals_every: Duration::from_secs(900),
            delivery: Delivery::default(),
            clock: Clock::System,
        }
    }
}

/// The time the alert rules and the incident log see. Tests use a manual clock to let
/// minutes pass at once.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    #[default]
    System,
    Manual(Arc<Mutex<DateTime<Utc>>>),
}

impl Clock {
    pub fn manual(start: DateTime<Utc>) -> Clock {
        Clock::Manual(Arc::new(Mutex::new(start)))
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Manual(at) => at.lock().map(|t| *t).unwrap_or_else(|p| *p.into_inner()),
        }
    }

    /// Moves a manual clock on; the system clock cannot be moved.
    pub fn advance(&self, by: chrono::Duration) {
        if let Clock::Manual(at) = self {
            let mut at = at.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            *at += by;
        }
    }
}

/// When alerts fire (thresholds of the rules in `alerts::engine`).
#[derive(Debug, Clone)]
pub struct Rules {
    /// A center with no desk connected for this long while open is alerted.
    pub center_offline_after: chrono::Duration,
    /// An alert lasting this long also goes to the escalation channel (SMS).
    pub escalate_after: chrono::Duration,
    /// Share of answered taps that failed (5xx) over `window`.
    pub tap_failure_ratio: f64,
    /// Fewer answered taps than this in `window` never alert (one failure of three is noise).
    pub tap_failure_min_taps: u64,
    /// Mean time of a group commit over `window`.
    pub commit_latency: std::time::Duration,
    /// The span the ratio and the mean are taken over.
    pub window: chrono::Duration,
    /// Wrong PINs per minute, server-wide and averaged over `window`, that mean someone is
    /// guessing.
    pub login_failures_per_minute: u64,
    /// A node whose heartbeat is older than this (and that did not stop) is down.
    pub node_down_after: chrono::Duration,
    /// A desk with at least this many lookups in the last 24 hours, and `lookup_factor`
    /// times its daily average of the 14 days before, is alerted (a desk reading members).
    pub lookup_floor: u64,
    pub lookup_factor: f64,
    /// Reports of one kind from members' phones within `window` that mean something is
    /// broken for many of them (a bad release, an API change the app cannot read).
    pub app_reports_per_window: u64,
    /// A connected desk whose oldest unsent check-in is this old: its outbox is stuck.
    pub outbox_stuck_after: chrono::Duration,
    /// Starts of the desk program in 24 hours, or starts after a crash, that mean it keeps
    /// falling over.
    pub desk_restarts_per_day: u32,
    pub desk_crashes_per_day: u32,
    /// Less free disk than this where a desk keeps its cache.
    pub desk_disk_free_mb: u64,
    /// A desk PC's clock off by more than this (offline passes and visit times suffer).
    pub desk_clock_off_s: i64,
    /// This many connections of one desk within `desk_flap_window`: its link is flapping.
    pub desk_flap_connects: u64,
    pub desk_flap_window: chrono::Duration,
    /// Desks reporting a failed update of one release that halt its rollout by themselves.
    pub update_failures: u64,
    /// The fraud signals' thresholds (docs/settlement.md, "Fraud signals").
    pub fraud: crate::store::signals::FraudRules,
    /// Reads of members' personal data (member pages, member searches) by one operator
    /// within `bulk_reads_window` that mean someone is copying them.
    pub bulk_reads: u64,
    pub bulk_reads_window: chrono::Duration,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            center_offline_after: chrono::Duration::minutes(5),
            escalate_after: chrono::Duration::minutes(15),
            tap_failure_ratio: 0.05,
            tap_failure_min_taps: 20,
            commit_latency: std::time::Duration::from_millis(250),
            window: chrono::Duration::minutes(5),
            login_failures_per_minute: 60,
            node_down_after: chrono::Duration::seconds(30),
            lookup_floor: 60,
            lookup_factor: 5.0,
            app_reports_per_window: 50,
            outbox_stuck_after: chrono::Duration::minutes(10),
            desk_restarts_per_day: 5,
            desk_crashes_per_day: 2,
            desk_disk_free_mb: 500,
            desk_clock_off_s: 120,
            update_failures: 3,
            desk_flap_connects: 6,
            desk_flap_window: chrono::Duration::minutes(10),
            fraud: Default::default(),
            bulk_reads: 100,
            bulk_reads_window: chrono::Duration::minutes(10),
        }
    }
}

/// How an alert channel delivers (`alerts::webhook`).
#[derive(Debug, Clone)]
pub struct Delivery {
    /// At most one message per this (Slack allows about one per second per webhook).
    pub min_interval: Duration,
    /// One attempt's limit, connecting included.
    pub timeout: Duration,
    pub attempts: u32,
    /// First wait between attempts; it doubles each time.
    pub backoff: Duration,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            min_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
            attempts: 5,
            backoff: Duration::from_secs(2),
        }
    }
}
