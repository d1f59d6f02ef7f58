//! The alert rules as plain state: fed a [`Sample`] of the server's health at a moment, they
//! say which alerts were raised, escalated or resolved. No I/O, no clock of their own, so
//! they are tested by feeding samples at made-up times.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};
use gymgate_shared::CenterId;
use gymgate_shared::hours::CenterHours;

use crate::config::Rules;

/// A center that has at least one paired desk.
#[derive(Debug, Clone)]
pub struct CenterHealth {
    pub id: CenterId,
    pub name: String,
    pub hours: CenterHours,
    pub desks_online: usize,
}

/// A server node that has not stopped, and its last heartbeat.
#[derive(Debug, Clone)]
pub struct NodeHealth {
    pub id: String,
    pub name: String,
    pub beat_at: DateTime<Utc>,
}

/// The server's health at `now`. Counters are running totals since the server started.
#[derive(Debug, Clone)]
pub struct Sample {
    pub now: DateTime<Utc>,
    /// `None` when they could not be read this time: center alerts stay as they were.
    pub centers: Option<Vec<CenterHealth>>,
    pub taps_answered: u64,
    pub taps_failed: u64,
    pub commits: u64,
    pub commit_micros: u64,
    /// Wrong PINs since the server started.
    pub login_failures: u64,
    /// What the other nodes sharing the database counted over the last `window` (taps
    /// answered and failed, wrong PINs); zero on SQLite.
    pub elsewhere: crate::store::nodes::Counts,
    /// What the last integrity check found wrong with the database.
    pub database_damage: Option<String>,
    /// The nodes sharing the database (one on SQLite).
    pub nodes: Vec<NodeHealth>,
    /// Desks looking up far more members than they usually do; `None` when they could not
    /// be read this time (their alerts stay as they were).
    pub lookup_outliers: Option<Vec<crate::store::desks::LookupOutlier>>,
    /// Console accounts locked by wrong passwords from many addresses (name, until); `None`
    /// when they could not be read this time.
    pub locked_operators: Option<Vec<(String, DateTime<Utc>)>>,
    /// What members' phones reported in the last `window`, by kind (this node's).
    pub app_reports: Vec<(&'static str, u64)>,
    /// Desks whose health shows something wrong (see `desk::health`); `None` when they
    /// could not be read this time (their alerts stay as they were).
    pub troubled_desks: Option<Vec<TroubledDesk>>,
    /// Releases whose update failed at several desks (their rollouts halted); `None` when
    /// they could not be read this time.
    pub failing_updates: Option<Vec<FailingUpdate>>,
    /// Patterns in the visits that say visits may be made up; `None` when they could not
    /// be read this time (their alerts stay as they were).
    pub fraud_signals: Option<Vec<crate::store::signals::FraudSignal>>,
    /// Operators who read many members' personal data within the rules' window (who, how
    /// many); `None` when it could not be read this time.
    pub bulk_readers: Option<Vec<(String, u64)>>,
}

/// A release that failed to install at `desks` desks.
#[derive(Debug, Clone)]
pub struct FailingUpdate {
    pub version: String,
    pub desks: u64,
}

/// A desk with what is wrong with it.
#[derive(Debug, Clone)]
pub struct TroubledDesk {
    pub desk_id: gymgate_shared::DeskId,
    pub center_name: String,
    pub desk_name: String,
    pub problems: Vec<gymgate_shared::api::DeskProblem>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Stable name of the condition, the incident log's key.
    pub key: String,
    pub text_ko: String,
    pub text_en: String,
    /// When the condition began (before the alert was raised, for the offline rule).
    pub since: DateTime<Utc>,
    pub raised_at: DateTime<Utc>,
    pub escalated: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Raised(Alert),
    Escalated(Alert),
    Resolved { alert: Alert, at: DateTime<Utc> },
}

/// A condition holding now, with the text an alert for it would carry.
struct Firing {
    text_ko: String,
    text_en: String,
    since: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy)]
struct Counters {
    at: DateTime<Utc>,
    taps_answered: u64,
    taps_failed: u64,
    commits: u64,
    commit_micros: u64,
    login_failures: u64,
}

#[derive(Default)]
pub struct Engine {
    rules: Rules,
    active: HashMap<String, Alert>,
    /// Since when each open center has had no desk connected.
    offline_since: HashMap<CenterId, DateTime<Utc>>,
    history: VecDeque<Counters>,
    /// Condition starts of the rate rules, kept while they hold.
    taps_failing_since: Option<DateTime<Utc>>,
    commits_slow_since: Option<DateTime<Utc>>,
    guessing_since: Option<DateTime<Utc>>,
    damaged_since: Option<DateTime<Utc>>,
}

impl Engine {
    pub fn new(rules: Rules) -> Engine {
        Engine {
            rules,
            ..Engine::default()
        }
    }

    /// Takes over alerts another node raised and announced (from the incident log): they are
    /// not raised again, and resolve here when their condition clears. One open long enough
    /// to have been escalated counts as escalated (no second SMS).
    pub fn adopt(&mut self, open: &[gymgate_shared::api::Incident], now: DateTime<Utc>) {
        for incident in open {
            let (text_ko, text_en) = incident
                .title
                .split_once(" / ")
                .unwrap_or((incident.title.as_str(), incident.title.as_str()));
            self.active.insert(
                incident.key.clone(),
                Alert {
                    key: incident.key.clone(),
                    text_ko: text_ko.to_owned(),
                    text_en: text_en.to_owned(),
                    since: incident.started_at,
                    raised_at: incident.started_at,
                    escalated: now - incident.started_at >= self.rules.escalate_after,
                },
            );
        }
    }

    #[cfg(test)]
    pub fn active(&self) -> impl Iterator<Item = &Alert> {
        self.active.values()
    }

    pub fn step(&mut self, sample: &Sample) -> Vec<Change> {
        let now = sample.now;
        let mut firing: HashMap<String, Firing> = HashMap::new();
        match &sample.centers {
            Some(centers) => self.centers_offline(now, centers, &mut firing),
            // Unknown this time: keep whatever center alerts are up.
            None => self.keep(CENTER_OFFLINE, &mut firing),
        }
        match &sample.lookup_outliers {
            Some(outliers) => Self::lookups(now, outliers, &mut firing),
            None => self.keep(DESK_LOOKUPS, &mut firing),
        }
        match &sample.fraud_signals {
            Some(signals) => {
                for signal in signals {
                    firing.insert(
                        format!("{FRAUD}{}", signal.key),
                        Firing {
                            text_ko: format!(
                                "부정 의심 — {} (콘솔 '검토'에서 방문 {}건 확인)",
                                signal.text_ko,
                                signal.checkin_ids.len()
                            ),
                            text_en: format!(
                                "possible fraud: {} (the console's Review lists {} visits)",
                                signal.text_en,
                                signal.checkin_ids.len()
                            ),
                            since: now,
                        },
                    );
                }
            }
            None => self.keep(FRAUD, &mut firing),
        }
        match &sample.bulk_readers {
            Some(readers) => {
                let minutes = self.rules.bulk_reads_window.num_minutes();
                for (actor, reads) in readers {
                    firing.insert(
                        format!("{BULK_READS}{actor}"),
                        Firing {
                            text_ko: format!(
                                "개인정보 대량 조회: {actor}이(가) {minutes}분 동안 회원 정보를 {reads}번 조회 — 감사 기록을 확인하세요 (유출이면 72시간 안에 신고: docs/operations.md)"
                            ),
                            text_en: format!(
                                "bulk reads of personal data: {actor} read members' data {reads} times in {minutes} minutes; check the audit log (a breach is reported within 72 hours: docs/operations.md)"
                            ),
                            since: now,
                        },
                    );
                }
            }
            None => self.keep(BULK_READS, &mut firing),
        }
        match &sample.locked_operators {
            Some(locked) => {
                for (name, until) in locked {
                    firing.insert(
                        format!("{OPERATOR_LOCKED}{name}"),
                        Firing {
                            text_ko: format!(
                                "운영자 계정 {name} 잠김 ({}까지): 여러 주소에서 비밀번호를 대입 중 — 감사 기록을 확인하세요",
                                until.with_timezone(&gymgate_shared::kst::offset()).format("%H:%M")
                            ),
                            text_en: format!(
                                "operator account {name} locked until {}: passwords guessed from many addresses; check the audit log",
                                until.format("%H:%M UTC")
                            ),
                            since: now,
                        },
                    );
                }
            }
            None => self.keep(OPERATOR_LOCKED, &mut firing),
        }
        match &sample.troubled_desks {
            Some(desks) => Self::desk_health(sample.now, desks, &mut firing),
            None => self.keep(DESK_HEALTH, &mut firing),
        }
        match &sample.failing_updates {
            Some(failing) => {
                for update in failing {
                    firing.insert(
                        format!("{UPDATE_FAILING}{}", update.version),
                        Firing {
                            text_ko: format!(
                                "데스크 업데이트 {} 실패: 데스크 {}대 — 배포를 자동으로 중단했습니다",
                                update.version, update.desks
                            ),
                            text_en: format!(
                                "desk update {} failed at {} desks; its rollout was halted",
                                update.version, update.desks
                            ),
                            since: sample.now,
                        },
                    );
                }
            }
            None => self.keep(UPDATE_FAILING, &mut firing),
        }
        self.rates(sample, &mut firing);
        self.app_reports(sample, &mut firing);
        self.damage(sample, &mut firing);
        self.nodes_down(sample, &mut firing);

        let mut changes = Vec::new();
        let mut resolved: Vec<String> = self
            .active
            .keys()
            .filter(|key| !firing.contains_key(*key))
            .cloned()
            .collect();
        resolved.sort();
        for key in resolved {
            if let Some(alert) = self.active.remove(&key) {
                changes.push(Change::Resolved { alert, at: now });
            }
        }
        let mut raised: Vec<(String, Firing)> = firing
            .into_iter()
            .filter(|(key, _)| !self.active.contains_key(key))
            .collect();
        raised.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, f) in raised {
            let alert = Alert {
                key: key.clone(),
                text_ko: f.text_ko,
                text_en: f.text_en,
                since: f.since,
                raised_at: now,
                escalated: false,
            };
            self.active.insert(key, alert.clone());
            changes.push(Change::Raised(alert));
        }
        let mut escalated: Vec<&mut Alert> = self
            .active
            .values_mut()
            .filter(|a| !a.escalated && now - a.raised_at >= self.rules.escalate_after)
            .collect();
        escalated.sort_by(|a, b| a.key.cmp(&b.key));
        for alert in escalated {
            alert.escalated = true;
            changes.push(Change::Escalated(alert.clone()));
        }
        changes
    }

    /// A node that stopped beating without stopping: its host died, hangs, or lost the
    /// database. Raised by whichever node watches, so a dead host is reported from inside.
    fn nodes_down(&self, sample: &Sample, firing: &mut HashMap<String, Firing>) {
        for node in &sample.nodes {
            let silent = sample.now - node.beat_at;
            if silent >= self.rules.node_down_after {
                let seconds = silent.num_seconds();
                firing.insert(
                    format!("{NODE_DOWN}{}", node.id),
                    Firing {
                        text_ko: format!("서버 노드 {} 응답 없음 ({seconds}초째)", node.name),
                        text_en: format!(
                            "server node {} is not answering (for {seconds} s)",
                            node.name
                        ),
                        since: node.beat_at,
                    },
                );
            }
        }
    }

    fn centers_offline(
        &mut self,
        now: DateTime<Utc>,
        centers: &[CenterHealth],
        firing: &mut HashMap<String, Firing>,
    ) {
        let mut still_offline = HashMap::new();
        for center in centers {
            // Closed centers switch their PCs off; that is not an outage.
            if center.desks_online > 0 || !center.hours.is_open(now) {
                continue;
            }
            let since = self.offline_since.get(&center.id).copied().unwrap_or(now);
            still_offline.insert(center.id.clone(), since);
            if now - since >= self.rules.center_offline_after {
                let minutes = (now - since).num_minutes();
                firing.insert(
                    format!("{CENTER_OFFLINE}{}", center.id),
                    Firing {
                        text_ko: format!("{}: 모든 데스크 연결 끊김 ({minutes}분째)", center.name),
                        text_en: format!("{}: every desk offline (for {minutes} min)", center.name),
                        since,
                    },
                );
            }
        }
        self.offline_since = still_offline;
    }

    fn rates(&mut self, sample: &Sample, firing: &mut HashMap<String, Firing>) {
        let now = sample.now;
        let current = Counters {
            at: now,
            taps_answered: sample.taps_answered,
            taps_failed: sample.taps_failed,
            commits: sample.commits,
            commit_micros: sample.commit_micros,
            login_failures: sample.login_failures,
        };
        // Keep one sample at or before the window's start as the baseline.
        while self.history.len() > 1
            && self
                .history
                .get(1)
                .is_some_and(|c| now - c.at >= self.rules.window)
        {
            self.history.pop_front();
        }
        let baseline = self.history.front().copied().unwrap_or(current);
        self.history.push_back(current);

        let answered = current.taps_answered.saturating_sub(baseline.taps_answered)
            + sample.elsewhere.answered;
        let failed =
            current.taps_failed.saturating_sub(baseline.taps_failed) + sample.elsewhere.failed;
        let ratio = if answered == 0 {
            0.0
        } else {
            failed as f64 / answered as f64
        };
        if answered >= self.rules.tap_failure_min_taps && ratio >= self.rules.tap_failure_ratio {
            let since = *self.taps_failing_since.get_or_insert(now);
            let percent = (ratio * 100.0).round();
            firing.insert(
                TAP_FAILURES.to_owned(),
                Firing {
                    text_ko: format!("탭 실패율 {percent}% ({answered}건 중 {failed}건 실패)"),
                    text_en: format!(
                        "tap failure ratio {percent}% ({failed} of {answered} failed)"
                    ),
                    since,
                },
            );
        } else {
            self.taps_failing_since = None;
        }

        let commits = current.commits.saturating_sub(baseline.commits);
        let micros = current.commit_micros.saturating_sub(baseline.commit_micros);
        let mean = std::time::Duration::from_micros(micros.checked_div(commits).unwrap_or(0));
        if commits > 0 && mean >= self.rules.commit_latency {
            let since = *self.commits_slow_since.get_or_insert(now);
            let ms = mean.as_millis();
            firing.insert(
                COMMIT_LATENCY.to_owned(),
                Firing {
                    text_ko: format!("DB 커밋 지연: 평균 {ms} ms"),
                    text_en: format!("database commits slow: {ms} ms on average"),
                    since,
                },
            );
        } else {
            self.commits_slow_since = None;
        }

        let here = current
            .login_failures
            .saturating_sub(baseline.login_failures);
        let failures = here + sample.elsewhere.pin_failures;
        // Over the span the history really covers (shorter than the window just after start;
        // the other nodes' counts are read over the same span).
        let minutes = ((now - baseline.at).num_seconds() as f64 / 60.0).max(1.0);
        let per_minute = failures as f64 / minutes;
        if failures > 0 && per_minute >= self.rules.login_failures_per_minute as f64 {
            let since = *self.guessing_since.get_or_insert(now);
            let rate = per_minute.round();
            firing.insert(
                PIN_GUESSING.to_owned(),
                Firing {
                    text_ko: format!(
                        "PIN 대입 공격 의심: 분당 {rate}회 틀림 ({failures}회) — 주소별 제한과 계정 잠금이 작동 중"
                    ),
                    text_en: format!(
                        "PIN guessing suspected: {rate} wrong PINs a minute ({failures} in all); \
                         per-address limits and locks are in force"
                    ),
                    since,
                },
            );
        } else {
            self.guessing_since = None;
        }
    }

    /// Alerts whose condition could not be read this time stay up as they are.
    fn keep(&self, prefix: &str, firing: &mut HashMap<String, Firing>) {
        for (key, alert) in &self.active {
            if key.starts_with(prefix) {
                firing.insert(
                    key.clone(),
                    Firing {
                        text_ko: alert.text_ko.clone(),
                        text_en: alert.text_en.clone(),
                        since: alert.since,
                    },
                );
            }
        }
    }

    /// A desk reading members: someone may be copying the member list through it.
    /// "The app loads abnormal data": many phones reporting the same failure at once.
    fn app_reports(&self, sample: &Sample, firing: &mut HashMap<String, Firing>) {
        let minutes = self.rules.window.num_minutes();
        for (kind, count) in &sample.app_reports {
            if *count < self.rules.app_reports_per_window {
                continue;
            }
            firing.insert(
                format!("{APP_REPORTS}{kind}"),
                Firing {
                    text_ko: format!(
                        "회원 앱 문제 급증: {} {count}건 (최근 {minutes}분) — 앱 버전별: /api/v1/admin/app-reports",
                        crate::app_reports::kind_ko(kind)
                    ),
                    text_en: format!(
                        "members' app: {count} '{kind}' reports in {minutes} min; by app version: /api/v1/admin/app-reports"
                    ),
                    since: sample.now,
                },
            );
        }
    }

    /// "The center program is not working normally": one alert per desk and problem, so
    /// each resolves when its own desk is well again.
    fn desk_health(
        now: DateTime<Utc>,
        desks: &[TroubledDesk],
        firing: &mut HashMap<String, Firing>,
    ) {
        for desk in desks {
            for problem in &desk.problems {
                firing.insert(
                    format!("{DESK_HEALTH}{}:{}", problem.code, desk.desk_id),
                    Firing {
                        text_ko: format!(
                            "{} {}: {}",
                            desk.center_name, desk.desk_name, problem.text_ko
                        ),
                        text_en: format!(
                            "{} {}: {}",
                            desk.center_name, desk.desk_name, problem.text_en
                        ),
                        since: now,
                    },
                );
            }
        }
    }

    fn lookups(
        now: DateTime<Utc>,
        outliers: &[crate::store::desks::LookupOutlier],
        firing: &mut HashMap<String, Firing>,
    ) {
        for desk in outliers {
            let usual = desk.usual.round();
            firing.insert(
                format!("{DESK_LOOKUPS}{}", desk.desk_id),
                Firing {
                    text_ko: format!(
                        "{} {}: 하루 회원 조회 {}회 (평소 하루 {usual}회) — 회원 정보 유출 의심, 감사 기록을 확인하세요",
                        desk.center_name, desk.desk_name, desk.last_day
                    ),
                    text_en: format!(
                        "{} {}: {} member lookups in a day (usually {usual}); possible member-data \
                         scraping, check the audit log",
                        desk.center_name, desk.desk_name, desk.last_day
                    ),
                    since: now,
                },
            );
        }
    }

    fn damage(&mut self, sample: &Sample, firing: &mut HashMap<String, Firing>) {
        let Some(damage) = &sample.database_damage else {
            self.damaged_since = None;
            return;
        };
        let since = *self.damaged_since.get_or_insert(sample.now);
        firing.insert(
            DATABASE_DAMAGED.to_owned(),
            Firing {
                text_ko: format!(
                    "데이터베이스 손상 감지: {damage} — 백업에서 복구하세요 (docs/operations.md)"
                ),
                text_en: format!(
                    "database damaged: {damage}; restore from the last backup (docs/operations.md)"
                ),
                since,
            },
        );
    }
}

pub const CENTER_OFFLINE: &str = "center_offline:";
pub const NODE_DOWN: &str = "node_down:";
pub const TAP_FAILURES: &str = "tap_failures";
pub const COMMIT_LATENCY: &str = "commit_latency";
pub const PIN_GUESSING: &str = "pin_guessing";
pub const DATABASE_DAMAGED: &str = "database_damaged";
pub const DESK_LOOKUPS: &str = "desk_lookups:";
pub const FRAUD: &str = "fraud:";
pub const BULK_READS: &str = "bulk_reads:";
pub const OPERATOR_LOCKED: &str = "operator_locked:";
pub const APP_REPORTS: &str = "app_reports:";
/// `update_failing:<version>`.
pub const UPDATE_FAILING: &str = "update_failing:";
/// `desk_health:<problem>:<desk id>`.
pub const DESK_HEALTH: &str = "desk_health:";

#[cfg(test)]
mod tests {
    use super::*;
    use gymgate_shared::hours::{DayHours, OpeningHours, Schedule};

    fn t(minutes: i64) -> DateTime<Utc> {
        // 2026-11-23 10:00 KST, a Monday morning.
        DateTime::parse_from_rfc3339("2026-11-23T01:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .expect("valid time")
            + chrono::Duration::minutes(minutes)
    }

    fn center(id: &str, online: usize, hours: OpeningHours) -> CenterHealth {
        center_with(
            id,
            online,
            CenterHours {
                schedule: Schedule::uniform(DayHours::Open(hours)),
                holidays: vec![],
            },
        )
    }

    fn center_with(id: &str, online: usize, hours: CenterHours) -> CenterHealth {
        CenterHealth {
            id: CenterId::new(id),
            name: format!("{id}점"),
            hours,
            desks_online: online,
        }
    }

    fn sample(minutes: i64, centers: Vec<CenterHealth>) -> Sample {
        Sample {
            now: t(minutes),
            centers: Some(centers),
            taps_answered: 0,
            taps_failed: 0,
            commits: 0,
            commit_micros: 0,
            login_failures: 0,
            elsewhere: Default::default(),
            database_damage: None,
            nodes: Vec::new(),
            lookup_outliers: Some(Vec::new()),
            fraud_signals: Some(Vec::new()),
            bulk_readers: Some(Vec::new()),
            locked_operators: Some(Vec::new()),
            app_reports: Vec::new(),
            troubled_desks: Some(Vec::new()),
            failing_updates: Some(Vec::new()),
        }
    }

    fn raised(changes: &[Change]) -> Vec<&str> {
        changes
            .iter()
            .filter_map(|c| match c {
                Change::Raised(a) => Some(a.key.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_fraud_signal_is_raised_kept_while_unread_and_resolved_when_gone() {
        use crate::store::signals::{FraudSignal, SignalKind};
        let mut engine = Engine::new(Rules::default());
        let signal = FraudSignal {
            kind: SignalKind::StaffShare,
            center_id: CenterId::new("c1"),
            center_name: "강남점".into(),
            key: "staff_share:c1".into(),
            text_ko: "강남점: 직원 기록 입장 비율 65%".into(),
            text_en: "강남점: 65% of visits recorded by staff".into(),
            checkin_ids: vec![gymgate_shared::CheckinId::new("k1")],
        };
        let mut found = sample(0, Vec::new());
        found.fraud_signals = Some(vec![signal]);
        let changes = engine.step(&found);
        assert_eq!(raised(&changes), ["fraud:staff_share:c1"]);
        let Change::Raised(alert) = &changes[0] else {
            panic!("{changes:?}");
        };
        assert!(alert.text_ko.contains("부정 의심") && alert.text_ko.contains("1건"));
        // Not read this time: the alert stands.
        let mut unread = sample(1, Vec::new());
        unread.fraud_signals = None;
        assert!(engine.step(&unread).is_empty());
        let changes = engine.step(&sample(2, Vec::new()));
        assert!(
            matches!(&changes[..], [Change::Resolved { alert, .. }] if alert.key == "fraud:staff_share:c1"),
            "{changes:?}"
        );
    }

    #[test]
    fn a_spike_of_app_reports_is_raised_and_resolved_and_a_trickle_is_not() {
        let mut engine = Engine::new(Rules::default());
        let threshold = Rules::default().app_reports_per_window;
        let mut normal = sample(0, Vec::new());
        normal.app_reports = vec![("script_error", threshold - 1), ("no_ed25519", 3)];
        assert!(engine.step(&normal).is_empty(), "a trickle is normal");
        let mut spike = sample(1, Vec::new());
        spike.app_reports = vec![("pass_failed", threshold), ("script_error", 2)];
        let changes = engine.step(&spike);
        assert_eq!(raised(&changes), ["app_reports:pass_failed"]);
        assert!(engine.step(&spike).is_empty(), "raised once");
        let calm = sample(7, Vec::new());
        let changes = engine.step(&calm);
        assert!(
            matches!(&changes[..], [Change::Resolved { alert, .. }] if alert.key == "app_reports:pass_failed"),
            "{changes:?}"
        );
    }

    #[test]
    fn a_troubled_desk_is_raised_per_problem_kept_when_unread_and_resolved_when_well() {
        let mut engine = Engine::new(Rules::default());
        let problem = |code: &str| gymgate_shared::api::DeskProblem {
            code: code.into(),
            text_ko: format!("{code} 문제"),
            text_en: format!("{code} problem"),
        };
        let mut troubled = sample(0, Vec::new());
        troubled.troubled_desks = Some(vec![TroubledDesk {
            desk_id: gymgate_shared::DeskId::new("d1"),
            center_name: "강남점".into(),
            desk_name: "1번".into(),
            problems: vec![problem("outbox_stuck"), problem("disk_low")],
        }]);
        let changes = engine.step(&troubled);
        assert_eq!(
            raised(&changes),
            ["desk_health:disk_low:d1", "desk_health:outbox_stuck:d1"]
        );
        assert!(
            matches!(&changes[0], Change::Raised(a) if a.text_ko == "강남점 1번: disk_low 문제"),
            "{changes:?}"
        );
        let mut unread = sample(1, Vec::new());
        unread.troubled_desks = None;
        assert!(engine.step(&unread).is_empty(), "kept while unread");
        let changes = engine.step(&sample(2, Vec::new()));
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(changes.iter().all(|c| matches!(c, Change::Resolved { .. })));
    }

    #[test]
    fn an_offline_center_is_raised_after_the_delay_escalated_then_resolved() {
        let mut engine = Engine::new(Rules::default());
        let always = OpeningHours::ALWAYS;
        assert!(
            engine
                .step(&sample(0, vec![center("a", 1, always)]))
                .is_empty()
        );
        assert!(
            engine
                .step(&sample(1, vec![center("a", 0, always)]))
                .is_empty()
        );
        assert!(
            engine
                .step(&sample(5, vec![center("a", 0, always)]))
                .is_empty()
        );
        let changes = engine.step(&sample(6, vec![center("a", 0, always)]));
        assert_eq!(raised(&changes), vec!["center_offline:a"]);
        assert!(
            engine
                .step(&sample(7, vec![center("a", 0, always)]))
                .is_empty()
        );
        let changes = engine.step(&sample(21, vec![center("a", 0, always)]));
        assert!(matches!(&changes[..], [Change::Escalated(a)] if a.key == "center_offline:a"));
        assert!(
            engine
                .step(&sample(22, vec![center("a", 0, always)]))
                .is_empty()
        );
        let changes = engine.step(&sample(23, vec![center("a", 1, always)]));
        assert!(
            matches!(&changes[..], [Change::Resolved { alert, .. }] if alert.escalated && alert.since == t(1))
        );
    }

    #[test]
    fn a_closed_center_is_not_an_outage() {
        let mut engine = Engine::new(Rules::default());
        // 10:00 KST; this center opens at 11:00.
        let late = OpeningHours::parse("11:00-22:00").expect("hours");
        for minute in 0..50 {
            assert!(
                engine
                    .step(&sample(minute, vec![center("b", 0, late)]))
                    .is_empty()
            );
        }
        // From 11:00 it counts, so the alert comes at 11:05, not at once.
        assert!(
            engine
                .step(&sample(60, vec![center("b", 0, late)]))
                .is_empty()
        );
        let changes = engine.step(&sample(65, vec![center("b", 0, late)]));
        assert_eq!(raised(&changes), vec!["center_offline:b"]);
    }

    /// Chuseok, a closure or a weekday off page nobody; the same center on an open day does.
    #[test]
    fn holidays_closures_and_days_off_are_not_outages() {
        let monday: chrono::NaiveDate = "2026-11-23".parse().expect("date");
        let mut on_holiday = Schedule::uniform(DayHours::ALWAYS);
        on_holiday.holidays = Some(DayHours::Closed);
        let mut closed = Schedule::always();
        closed.closures.push(gymgate_shared::hours::Closure {
            from: monday,
            to: monday,
            reason: "내부 공사".into(),
        });
        let mut mondays_off = Schedule::always();
        mondays_off.week[0] = DayHours::Closed;
        let hours = |schedule: &Schedule, holidays: Vec<chrono::NaiveDate>| CenterHours {
            schedule: schedule.clone(),
            holidays,
        };
        let centers = |holiday: bool| {
            vec![
                center_with(
                    "holiday",
                    0,
                    hours(&on_holiday, if holiday { vec![monday] } else { vec![] }),
                ),
                center_with("closure", 0, hours(&closed, vec![])),
                center_with("off", 0, hours(&mondays_off, vec![])),
            ]
        };
        let mut engine = Engine::new(Rules::default());
        for minute in 0..=30 {
            assert!(engine.step(&sample(minute, centers(true))).is_empty());
        }
        // Not a holiday after all (an operator removed it): that center is paged about.
        let mut engine = Engine::new(Rules::default());
        engine.step(&sample(0, centers(false)));
        let changes = engine.step(&sample(30, centers(false)));
        assert_eq!(raised(&changes), vec!["center_offline:holiday"]);
    }

    #[test]
    fn unknown_centers_keep_their_alerts() {
        let mut engine = Engine::new(Rules::default());
        let always = OpeningHours::ALWAYS;
        engine.step(&sample(0, vec![center("a", 0, always)]));
        assert_eq!(
            engine.step(&sample(5, vec![center("a", 0, always)])).len(),
            1
        );
        let mut unknown = sample(6, vec![]);
        unknown.centers = None;
        assert!(engine.step(&unknown).is_empty());
        assert_eq!(engine.active().count(), 1);
    }

    #[test]
    fn tap_failures_over_the_ratio_alert_and_clear_once_the_window_is_clean() {
        let mut engine = Engine::new(Rules::default());
        let mut s = sample(0, vec![]);
        engine.step(&s);
        // 10 of 100 taps failed within a minute: 10% ≥ 5%.
        s.now = t(1);
        s.taps_answered = 100;
        s.taps_failed = 10;
        assert_eq!(raised(&engine.step(&s)), vec!["tap_failures"]);
        // Few taps, none failing, but the failed ones are still in the window.
        s.now = t(3);
        s.taps_answered = 110;
        assert!(engine.step(&s).is_empty());
        // Six minutes on, the window holds only good taps.
        s.now = t(9);
        s.taps_answered = 400;
        let changes = engine.step(&s);
        assert!(
            matches!(&changes[..], [Change::Resolved { alert, .. }] if alert.key == "tap_failures")
        );
    }

    #[test]
    fn a_few_failed_taps_are_not_an_alert() {
        let mut engine = Engine::new(Rules::default());
        let mut s = sample(0, vec![]);
        engine.step(&s);
        s.now = t(1);
        s.taps_answered = 3;
        s.taps_failed = 2;
        assert!(engine.step(&s).is_empty());
    }

    #[test]
    fn slow_commits_alert_on_their_mean() {
        let mut engine = Engine::new(Rules::default());
        let mut s = sample(0, vec![]);
        engine.step(&s);
        s.now = t(1);
        s.commits = 100;
        s.commit_micros = 100 * 3_000; // 3 ms: fine
        assert!(engine.step(&s).is_empty());
        s.now = t(2);
        s.commits = 110;
        s.commit_micros = 300_000 + 10 * 5_000_000; // ten 5 s commits: 457 ms mean
        assert_eq!(raised(&engine.step(&s)), vec!["commit_latency"]);
    }

    #[test]
    fn a_burst_of_wrong_pins_is_a_guessing_campaign_and_ends_when_it_stops() {
        let mut engine = Engine::new(Rules::default());
        let mut s = sample(0, vec![]);
        engine.step(&s);
        // 50 a minute: a busy morning's typos, no alert.
        s.now = t(1);
        s.login_failures = 50;
        assert!(engine.step(&s).is_empty());
        // 500 more in the next minute.
        s.now = t(2);
        s.login_failures = 550;
        assert_eq!(raised(&engine.step(&s)), vec!["pin_guessing"]);
        // Quiet for a whole window: resolved.
        s.now = t(9);
        let changes = engine.step(&s);
        assert!(
            matches!(&changes[..], [Change::Resolved { alert, .. }] if alert.key == "pin_guessing")
        );
    }

    #[test]
    fn wrong_pins_and_failed_taps_through_the_other_nodes_count() {
        let mut engine = Engine::new(Rules::default());
        let mut s = sample(0, vec![]);
        engine.step(&s);
        // This node (the leader) sees nothing; the others counted 400 wrong PINs in the
        // window (80 a minute over 5) and 30 of 100 taps failed.
        s.now = t(5);
        s.elsewhere = crate::store::nodes::Counts {
            answered: 100,
            refused: 0,
            failed: 30,
            pin_failures: 400,
        };
        let changes = engine.step(&s);
        let mut keys = raised(&changes);
        keys.sort();
        assert_eq!(keys, vec!["pin_guessing", "tap_failures"]);
        // 200 in the window (40 a minute): typos, not a campaign.
        s.now = t(6);
        s.elsewhere.pin_failures = 200;
        let changes = engine.step(&s);
        assert!(
            matches!(&changes[..], [Change::Resolved { alert, .. }] if alert.key == "pin_guessing"),
            "{changes:?}"
        );
    }

    #[test]
    fn a_damaged_database_is_alerted_while_it_lasts() {
        let mut engine = Engine::new(Rules::default());
        let mut s = sample(0, vec![]);
        s.database_damage = Some("Page 7: btree page damaged".into());
        let changes = engine.step(&s);
        assert_eq!(raised(&changes), vec!["database_damaged"]);
        assert!(matches!(&changes[0], Change::Raised(a) if a.text_ko.contains("백업")));
        s.now = t(1);
        assert!(engine.step(&s).is_empty());
        s.now = t(2);
        s.database_damage = None;
        assert!(matches!(&engine.step(&s)[..], [Change::Resolved { .. }]));
    }

    #[test]
    fn forty_centers_going_down_together_are_raised_in_one_step() {
        let mut engine = Engine::new(Rules::default());
        let always = OpeningHours::ALWAYS;
        let up: Vec<_> = (0..40)
            .map(|i| center(&format!("c{i}"), 1, always))
            .collect();
        let down: Vec<_> = (0..40)
            .map(|i| center(&format!("c{i}"), 0, always))
            .collect();
        engine.step(&sample(0, up));
        engine.step(&sample(1, down.clone()));
        assert_eq!(raised(&engine.step(&sample(6, down))).len(), 40);
    }
}
