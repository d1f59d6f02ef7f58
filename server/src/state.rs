//! What every request handler, desk session and background task shares.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gymgate_shared::{DeskId, MemberId};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::logins::LoginGuard;
use crate::auth::member_sessions::MemberSessions;
use crate::auth::rate_limit::RateLimiter;
use crate::config::Config;
use crate::hub::Hub;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Store,
    pub hub: Arc<Hub>,
    pub config: Config,
    pub shutdown: CancellationToken,
    pub desk_tasks: TaskTracker,
    pub pins: crate::auth::pins::PinWorkers,
    pub tap_limiter: RateLimiter<MemberId>,
    pub pair_limiter: RateLimiter<IpAddr>,
    pub logins: LoginGuard,
    /// What a PIN is checked against when the member number belongs to nobody: the same
    /// work as for a real member, so the answer's timing says nothing.
    pub unknown_member_pin_hash: String,
    pub tap_stats: crate::metrics::TapStats,
    /// Member tokens already checked, so a tap does not ask the database again.
    pub member_sessions: MemberSessions,
    /// Woken when an import job is queued.
    pub import_wake: tokio::sync::Notify,
    /// Set when the database failed its integrity check: what the check said.
    pub damage: Mutex<Option<String>>,
    /// Signs offline pass certificates; its public keys go to desks.
    pub passes: crate::passes::PassSigner,
    /// Certificates one member may be issued per hour (a phone asks whenever it is online).
    pub pass_limiter: RateLimiter<MemberId>,
    /// Lookups one desk may make per minute.
    pub lookup_limiter: RateLimiter<DeskId>,
    /// This node among the nodes sharing the database.
    pub node: crate::cluster::node::Node,
    /// Each desk's clock minus the server's at its last hello (this node's desks).
    pub desk_clocks: Mutex<std::collections::HashMap<DeskId, i64>>,
    /// Console logins per address per minute (each costs an argon2 verification).
    pub console_login_limiter: RateLimiter<IpAddr>,
    /// What members' phones report going wrong (this node's), for the alert engine.
    pub app_reports: crate::app_reports::AppReports,
    /// Reports per address (network) per minute.
    pub report_limiter: RateLimiter<IpAddr>,
    /// The console's live page, computed once a tick for every open console.
    pub now_feed: tokio::sync::watch::Sender<Option<NowFeedItem>>,
    /// The installer desks download now (version and bytes), read from the store once rather
    /// than once per desk.
    pub installer: Mutex<Option<(String, axum::body::Bytes)>>,
}

/// One tick of the live page: the view, or why it could not be made (in the staff's words).
pub type NowFeedItem = Result<Arc<gymgate_shared::api::NowView>, String>;

/// A phone reports a few failures a minute at most; more from one address is noise or abuse.
const REPORTS_PER_ADDRESS_PER_MINUTE: u32 = 20;

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// What a server is made of before it starts.
pub struct Parts {
    pub store: Store,
    pub hub: Arc<Hub>,
    pub config: Config,
    pub shutdown: CancellationToken,
    pub pins: crate::auth::pins::PinWorkers,
    pub unknown_member_pin_hash: String,
    pub passes: crate::passes::PassSigner,
    pub node: crate::cluster::node::Node,
}

impl AppState {
    pub fn new(parts: Parts) -> Self {
        let Parts {
            store,
            hub,
            config,
            shutdown,
            pins,
            unknown_member_pin_hash,
            passes,
            node,
        } = parts;
        let minute = Duration::from_secs(60);
        let limits = &config.limits;
        AppState(Arc::new(Inner {
            tap_limiter: RateLimiter::new(limits.taps_per_member_per_minute, minute),
            pair_limiter: RateLimiter::new(limits.pair_attempts_per_ip_per_minute, minute),
            logins: LoginGuard::new(config.logins.clone()),
            unknown_member_pin_hash,
            import_wake: tokio::sync::Notify::new(),
            damage: Mutex::new(None),
            passes,
            pass_limiter: RateLimiter::new(
                limits.passes_per_member_per_hour,
                Duration::from_secs(3600),
            ),
            lookup_limiter: RateLimiter::new(limits.lookups_per_desk_per_minute, minute),
            store,
            hub,
            config,
            shutdown,
            desk_tasks: TaskTracker::new(),
            pins,
            tap_stats: Default::default(),
            member_sessions: MemberSessions::default(),
            node,
            desk_clocks: Mutex::default(),
            console_login_limiter: RateLimiter::new(30, minute),
            app_reports: Default::default(),
            report_limiter: RateLimiter::new(REPORTS_PER_ADDRESS_PER_MINUTE, minute),
            now_feed: tokio::sync::watch::Sender::new(None),
            installer: Mutex::new(None),
        }))
    }
}

impl AppState {
    /// The address a request comes from, seen through the trusted proxies.
    pub fn client_ip(&self, peer: std::net::SocketAddr, headers: &axum::http::HeaderMap) -> IpAddr {
        crate::auth::client_ip::client_ip(peer.ip(), headers, &self.config.trusted_proxies)
    }

    /// Paired desks only call this, so the map holds at most one entry per desk.
    pub fn remember_desk_clock(&self, desk: &DeskId, skew: chrono::Duration) {
        if let Ok(mut clocks) = self.desk_clocks.lock() {
            clocks.insert(desk.clone(), skew.num_seconds());
        }
    }

    pub fn desk_clock(&self, desk: &DeskId) -> Option<i64> {
        self.desk_clocks.lock().ok()?.get(desk).copied()
    }

    /// A member's sessions ended (their PIN changed): tokens this node remembers are
    /// forgotten and their live streams close. (The tokens themselves were deleted in the
    /// change's transaction.)
    pub fn end_member_sessions(&self, member: &MemberId) {
        self.member_sessions.forget_member(member);
        self.hub.end_member_feeds(member);
    }

    /// What the last integrity check found wrong with the database, if anything.
    pub fn damage(&self) -> Option<String> {
        self.damage.lock().ok().and_then(|d| d.clone())
    }
}
