//! What a desk's health says is wrong with it: the "center program is not working normally"
//! rules, as plain functions of what the desk last reported, so the console's desk list and
//! the alert engine judge a desk alike.

use chrono::{DateTime, Utc};
use gymgate_shared::api::DeskProblem;
use gymgate_shared::protocol::DeskHealth;

use crate::config::Rules;

/// What the store keeps of the last report.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Stored {
    pub health: DeskHealth,
    /// The desk's clock minus the server's as the report arrived, in seconds.
    pub clock_skew_s: Option<i64>,
}

/// One desk's figures, as the store has them.
#[derive(Debug, Clone)]
pub struct Figures {
    pub stored: Option<(Stored, DateTime<Utc>)>,
    /// The version the desk said in its last hello.
    pub app_version: Option<String>,
    /// Connections since `connects_since`.
    pub connects: u64,
    pub connects_since: Option<DateTime<Utc>>,
}

impl Figures {
    /// From the store's row; a report that cannot be read counts as none.
    pub fn of(row: &crate::store::desks::DeskRow) -> Figures {
        Figures {
            stored: row.health.as_ref().and_then(|(json, at)| {
                serde_json::from_str::<Stored>(json)
                    .ok()
                    .map(|stored| (stored, *at))
            }),
            app_version: row.app_version.clone(),
            connects: row.connects,
            connects_since: row.connects_since,
        }
    }

    /// Connections within the flapping window that ends now.
    pub fn connects_recent(&self, now: DateTime<Utc>, rules: &Rules) -> u64 {
        match self.connects_since {
            Some(since) if now - since <= rules.desk_flap_window => self.connects,
            _ => 0,
        }
    }
}

/// What is wrong, worst first. A desk's report is judged only while it is connected (its
/// last one is not its present once it went away: the center-offline rule covers that);
/// flapping is judged either way.
pub fn problems(
    figures: &Figures,
    online: bool,
    now: DateTime<Utc>,
    rules: &Rules,
    min_version: Option<&str>,
) -> Vec<DeskProblem> {
    let mut found = Vec::new();
    let problem = |code: &str, text_ko: String, text_en: String| DeskProblem {
        code: code.to_owned(),
        text_ko,
        text_en,
    };
    if let Some((stored, _)) = &figures.stored
        && online
    {
        let health = &stored.health;
        if health.outbox > 0
            && let Some(oldest) = health.outbox_oldest
            && now - oldest >= rules.outbox_stuck_after
        {
            let minutes = (now - oldest).num_minutes();
            found.push(problem(
                "outbox_stuck",
                format!(
                    "연결된 채 오프라인 입장 {}건이 {minutes}분째 전송되지 않음",
                    health.outbox
                ),
                format!(
                    "connected, yet {} offline check-ins unsent for {minutes} min",
                    health.outbox
                ),
            ));
        }
        if health.crashes_24h >= rules.desk_crashes_per_day
            || health.restarts_24h >= rules.desk_restarts_per_day
        {
            found.push(problem(
                "crashing",
                format!(
                    "24시간 동안 {}번 다시 시작 (비정상 종료 {}번)",
                    health.restarts_24h, health.crashes_24h
                ),
                format!(
                    "restarted {} times in 24 h ({} after a crash)",
                    health.restarts_24h, health.crashes_24h
                ),
            ));
        }
        if let Some(free) = health.disk_free_mb
            && free < rules.desk_disk_free_mb
        {
            found.push(problem(
                "disk_low",
                format!("디스크 여유 공간 {free} MB"),
                format!("{free} MB of disk left"),
            ));
        }
        if let Some(skew) = stored.clock_skew_s
            && skew.abs() > rules.desk_clock_off_s
        {
            let (ko, en) = if skew > 0 {
                ("빠름", "fast")
            } else {
                ("느림", "slow")
            };
            found.push(problem(
                "clock_off",
                format!("PC 시계가 {}초 {ko}", skew.abs()),
                format!("the PC's clock is {} s {en}", skew.abs()),
            ));
        }
    }
    if online
        && let (Some(min), Some(version)) = (min_version, figures.app_version.as_deref())
        && let (Some(wanted), Some(running)) = (version_key(min), version_key(version))
        && running < wanted
    {
        found.push(problem(
            "outdated",
            format!("지원하지 않는 버전 {version} (최소 {min})"),
            format!("version {version} is below the minimum supported {min}"),
        ));
    }
    let connects = figures.connects_recent(now, rules);
    if connects >= rules.desk_flap_connects {
        let minutes = rules.desk_flap_window.num_minutes();
        found.push(problem(
            "flapping",
            format!("{minutes}분 동안 {connects}번 다시 연결 (연결이 불안정)"),
            format!("connected {connects} times in {minutes} min (an unstable link)"),
        ));
    }
    found
}

pub use gymgate_shared::release::version_key;

#[cfg(test)]
mod tests {
    use super::*;

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + chrono::Duration::days(20_000) + chrono::Duration::seconds(seconds)
    }

    fn codes(figures: &Figures, online: bool, now: DateTime<Utc>) -> Vec<String> {
        problems(figures, online, now, &Rules::default(), None)
            .into_iter()
            .map(|p| p.code)
            .collect()
    }

    #[test]
    fn each_rule_fires_at_its_threshold_and_not_before() {
        let rules = Rules::default();
        let stuck = rules.outbox_stuck_after.num_seconds();
        let mut figures = Figures {
            stored: Some((
                Stored {
                    health: DeskHealth {
                        outbox: 3,
                        outbox_oldest: Some(t(0)),
                        disk_free_mb: Some(rules.desk_disk_free_mb),
                        restarts_24h: rules.desk_restarts_per_day - 1,
                        crashes_24h: rules.desk_crashes_per_day - 1,
                        ..DeskHealth::default()
                    },
                    clock_skew_s: Some(rules.desk_clock_off_s),
                },
                t(stuck - 1),
            )),
            app_version: Some("0.1.0".into()),
            connects: rules.desk_flap_connects - 1,
            connects_since: Some(t(stuck - 60)),
        };
        assert!(codes(&figures, true, t(stuck - 1)).is_empty());
        assert_eq!(codes(&figures, true, t(stuck)), ["outbox_stuck"]);

        if let Some((stored, _)) = &mut figures.stored {
            stored.health.crashes_24h += 1;
            stored.health.disk_free_mb = Some(rules.desk_disk_free_mb - 1);
            stored.clock_skew_s = Some(-rules.desk_clock_off_s - 1);
        }
        figures.connects += 1;
        assert_eq!(
            codes(&figures, true, t(stuck)),
            [
                "outbox_stuck",
                "crashing",
                "disk_low",
                "clock_off",
                "flapping"
            ]
        );
        // Gone, its last report says nothing of now; connections long ago neither.
        assert_eq!(codes(&figures, false, t(stuck)), ["flapping"]);
        let later = t(stuck) + rules.desk_flap_window;
        assert!(codes(&figures, false, later).is_empty());

        // Below the minimum supported version, by numbers, whichever program.
        let outdated = |figures: &Figures, min: &str| {
            problems(figures, true, later, &rules, Some(min))
                .iter()
                .any(|p| p.code == "outdated")
        };
        assert!(outdated(&figures, "0.1.10"));
        assert!(!outdated(&figures, "0.1.0"));
        figures.app_version = Some("web-0.2.0".into());
        assert!(!outdated(&figures, "0.1.10"));
        assert!(outdated(&figures, "0.10"));
        assert_eq!(version_key("test-desk"), None);
    }
}
