//! Prometheus metrics (`GET /metrics`). Names follow Prometheus conventions with the
//! `gymgate_` prefix; labels are bounded words (outcomes), never ids, so series stay few.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const DESKS_CONNECTED: &str = "gymgate_desks_connected";
pub const TAPS: &str = "gymgate_taps_total";
pub const TAP_SECONDS: &str = "gymgate_tap_seconds";
pub const COMMIT_SECONDS: &str = "gymgate_db_commit_seconds";
pub const COMMIT_BATCH: &str = "gymgate_db_commit_batch_jobs";
pub const WRITE_WAIT_SECONDS: &str = "gymgate_db_write_wait_seconds";
pub const COMMIT_FAILURES: &str = "gymgate_db_commit_failures_total";
pub const EVENTS_REPLAYED: &str = "gymgate_events_replayed_total";
pub const OUTBOX_RECORDS: &str = "gymgate_outbox_records_total";
pub const SEND_QUEUE_DROPS: &str = "gymgate_send_queue_drops_total";

pub const ALERT_MESSAGES: &str = "gymgate_alert_messages_total";
/// 1 while this node runs the shared duties (alerts, expiry, imports, retention), else 0.
pub const NODE_LEADS: &str = "gymgate_node_leads";
pub const ACCEPT_ERRORS: &str = "gymgate_accept_errors_total";
pub const CONNECTIONS_REFUSED: &str = "gymgate_connections_refused_total";
/// Times a full rate-limit table forgot its oldest windows to take a new key (a flood).
pub const LIMITER_EVICTIONS: &str = "gymgate_limiter_evictions_total";
pub const LOGINS: &str = "gymgate_member_logins_total";
pub const APP_REPORTS: &str = "gymgate_app_reports_total";

/// Tap outcomes for in-process readers (the alert rules), per server rather than per process.
#[derive(Debug, Default)]
pub struct TapStats {
    /// Taps answered with a check-in or a refusal (rate-limited ones are not counted).
    pub answered: std::sync::atomic::AtomicU64,
    /// Of those, the ones the server failed to store (5xx).
    pub failed: std::sync::atomic::AtomicU64,
    /// Of those, the ones refused by the rules (a pass expired, a visit already today).
    pub refused: std::sync::atomic::AtomicU64,
    /// Taps per minute over the last day (this node's): the console's "taps per minute" and
    /// an incident's "taps refused".
    minutes: std::sync::Mutex<std::collections::VecDeque<Minute>>,
}

/// One minute's taps on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Minute {
    /// Minutes since the Unix epoch.
    pub minute: i64,
    pub answered: u32,
    pub refused: u32,
    pub failed: u32,
}

/// A day of minutes: bounded, whatever the traffic.
const MINUTES_KEPT: usize = 24 * 60;

impl TapStats {
    /// Counts one answered tap in its minute.
    pub fn count(&self, at: chrono::DateTime<chrono::Utc>, refused: bool, failed: bool) {
        let minute = at.timestamp().div_euclid(60);
        let Ok(mut minutes) = self.minutes.lock() else {
            return;
        };
        if minutes.back().is_none_or(|m| m.minute < minute) {
            minutes.push_back(Minute {
                minute,
                answered: 0,
                refused: 0,
                failed: 0,
            });
            while minutes.len() > MINUTES_KEPT {
                minutes.pop_front();
            }
        }
        if let Some(last) = minutes.iter_mut().rev().find(|m| m.minute == minute) {
            last.answered += 1;
            last.refused += u32::from(refused);
            last.failed += u32::from(failed);
        }
    }

    /// The minutes in `[from, to)` that saw taps, oldest first.
    pub fn between(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> Vec<Minute> {
        let (from, to) = (
            from.timestamp().div_euclid(60),
            to.timestamp().div_euclid(60),
        );
        self.minutes.lock().map_or_else(
            |_| Vec::new(),
            |minutes| {
                minutes
                    .iter()
                    .filter(|m| m.minute >= from && m.minute <= to)
                    .copied()
                    .collect()
            },
        )
    }
}

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once (tests run several servers in one process).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let latency = [
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ];
            let batch = [1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1024.0];
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &latency)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(COMMIT_BATCH.into()), &batch))
                .and_then(|b| b.install_recorder());
            match handle {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(error) => {
                    tracing::warn!(%error, "metrics disabled: cannot install the recorder");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(DESKS_CONNECTED, "Desk WebSocket connections open now");
    describe_counter!(
        TAPS,
        "Member taps by outcome: created, repeated, refused, rate_limited, failed"
    );
    describe_histogram!(
        TAP_SECONDS,
        "Time to answer a tap (includes the durable commit)"
    );
    describe_histogram!(
        COMMIT_SECONDS,
        "Time of one group commit (transaction and fsync)"
    );
    describe_histogram!(COMMIT_BATCH, "Write jobs per group commit");
    describe_histogram!(
        WRITE_WAIT_SECONDS,
        "Time a write job (a tap, a desk's record) waited in the queue before the writer ran it"
    );
    describe_counter!(
        APP_REPORTS,
        "Failures members' phones reported, by kind (script_error, api_unusable, service_worker, pass_failed, no_ed25519, other)"
    );
    describe_counter!(
        COMMIT_FAILURES,
        "Group commits that failed (nothing in them was stored)"
    );
    describe_counter!(
        EVENTS_REPLAYED,
        "Events sent to desks from the log while catching up"
    );
    describe_counter!(OUTBOX_RECORDS, "Desk outbox records by result");
    describe_counter!(
        ALERT_MESSAGES,
        "Alert messages by channel (slack, sms) and result: sent, failed, dropped"
    );
    describe_counter!(
        ACCEPT_ERRORS,
        "Connections the server could not accept (e.g. out of file descriptors)"
    );
    describe_counter!(
        CONNECTIONS_REFUSED,
        "Connections closed at once because their address already held its maximum"
    );
    describe_counter!(
        LOGINS,
        "Member logins by outcome: ok, wrong, locked, delayed, limited"
    );
    describe_counter!(
        SEND_QUEUE_DROPS,
        "Desks disconnected because their send queue was full"
    );
}

pub fn render() -> String {
    handle().map(PrometheusHandle::render).unwrap_or_default()
}
