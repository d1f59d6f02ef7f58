//! What stands between a PIN guess and the PIN hasher.
//!
//! A 4-digit PIN has 10,000 values, so guessing must be bounded per member (growing delays,
//! then a lock) and per source (attempts and failures per address), and a flood from one
//! source must not take the hasher from everyone else. Everything that refuses does so before
//! any hashing; the per-member state lives in the database, so a restart does not reset it.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::auth::rate_limit::{InFlight, InFlightGuard, RateLimiter};
use crate::error::AppError;
use crate::store::logins::Failures;

#[derive(Debug, Clone)]
pub struct LoginPolicy {
    /// Wrong PINs within `window` that lock a member number.
    pub lock_after: u32,
    /// How long a lock lasts unless an operator lifts it.
    pub lock_for: chrono::Duration,
    /// Failures are counted over this window (a day).
    pub window: chrono::Duration,
    /// Failures before any delay (typos happen).
    pub free_failures: u32,
    /// The delay after the first failure past the free ones; it doubles with each failure.
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// Login attempts one address may make per minute, right or wrong.
    pub attempts_per_ip_per_minute: u32,
    /// Wrong PINs one address may send per hour, over all member numbers.
    pub failures_per_ip_per_hour: u32,
    /// PIN checks one address may have running at once; more wait their turn this long at
    /// most (several members behind one gym's Wi-Fi queue instead of being refused).
    pub checks_per_ip: usize,
    pub address_queue_wait: Duration,
}

impl Default for LoginPolicy {
    fn default() -> Self {
        LoginPolicy {
            lock_after: 20,
            lock_for: chrono::Duration::hours(24),
            window: chrono::Duration::hours(24),
            free_failures: 3,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            attempts_per_ip_per_minute: 30,
            failures_per_ip_per_hour: 100,
            checks_per_ip: 2,
            address_queue_wait: Duration::from_secs(2),
        }
    }
}

impl LoginPolicy {
    /// How long after its last failure a member number may try again.
    pub fn delay_after(&self, failures: u32) -> Duration {
        let Some(over) = failures.checked_sub(self.free_failures) else {
            return Duration::ZERO;
        };
        if over == 0 {
            return Duration::ZERO;
        }
        let factor = 1u32.checked_shl(over - 1).unwrap_or(u32::MAX);
        self.first_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }
}

/// Whether a member number may try a PIN now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// Too soon after the last wrong PIN.
    Delayed {
        retry_after: Duration,
    },
    Locked {
        until: DateTime<Utc>,
    },
}

pub fn gate(policy: &LoginPolicy, failures: Option<&Failures>, now: DateTime<Utc>) -> Gate {
    let Some(state) = failures else {
        return Gate::Open;
    };
    if let Some(until) = state.locked_until.filter(|until| *until > now) {
        return Gate::Locked { until };
    }
    if now - state.first_at >= policy.window {
        return Gate::Open;
    }
    let delay = policy.delay_after(state.failures);
    let ready_at = state.last_at + chrono::Duration::from_std(delay).unwrap_or_default();
    if ready_at > now {
        let retry_after = (ready_at - now).to_std().unwrap_or_default();
        return Gate::Delayed { retry_after };
    }
    Gate::Open
}

/// The in-memory side: per-address limits, PIN checks in flight, and the failure count the
/// alert reads.
pub struct LoginGuard {
    pub policy: LoginPolicy,
    attempts: RateLimiter<IpAddr>,
    failures: RateLimiter<IpAddr>,
    per_address: InFlight<IpAddr>,
    /// One PIN check per member number at a time: parallel guesses would each pass the delay
    /// check before any of their failures was stored.
    per_member: InFlight<String>,
    /// Wrong PINs since the server started.
    pub failed_total: AtomicU64,
}

/// Held while one PIN check runs.
pub struct Admitted {
    _address: InFlightGuard<IpAddr>,
    _member: InFlightGuard<String>,
}

impl LoginGuard {
    pub fn new(policy: LoginPolicy) -> LoginGuard {
        LoginGuard {
            attempts: RateLimiter::new(policy.attempts_per_ip_per_minute, Duration::from_secs(60)),
            failures: RateLimiter::new(policy.failures_per_ip_per_hour, Duration::from_secs(3600)),
            per_address: InFlight::new(policy.checks_per_ip),
            per_member: InFlight::new(1),
            failed_total: AtomicU64::new(0),
            policy,
        }
    }

    /// Lets one login attempt from `address` for `member_no` go on to the PIN check: refused
    /// at once past the address's limits or while the same number is being checked, and
    /// queued (briefly) behind the address's other checks.
    pub async fn admit(&self, address: IpAddr, member_no: &str) -> Result<Admitted, AppError> {
        let address = crate::auth::client_ip::network(address);
        if !self.attempts.allow(&address) || self.failures.is_over(&address) {
            return Err(AppError::RateLimited);
        }
        let member_guard = self
            .per_member
            .enter(&member_no.to_owned())
            .ok_or(AppError::RateLimited)?;
        let address_guard = self
            .per_address
            .enter_within(&address, self.policy.address_queue_wait)
            .await
            .ok_or(AppError::RateLimited)?;
        Ok(Admitted {
            _address: address_guard,
            _member: member_guard,
        })
    }

    pub fn failed(&self, address: IpAddr) {
        self.failures.hit(&crate::auth::client_ip::network(address));
        self.failed_total.fetch_add(1, Ordering::Relaxed);
    }

    pub fn failed_total(&self) -> u64 {
        self.failed_total.load(Ordering::Relaxed)
    }
}

/// Member numbers are 1 to 20 letters, digits or '-' (as the import checks them); anything
/// else cannot be a member and is refused before any state is kept for it.
pub fn plausible_member_no(text: &str) -> bool {
    (1..=20).contains(&text.len()) && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// PINs are 4 to 8 digits.
pub fn plausible_pin(text: &str) -> bool {
    (4..=8).contains(&text.len()) && text.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finding 7. One IPv6 /64 is one address to the limits: walking through its addresses
    /// gets no more attempts. And a table filled by a flood from 70,000 networks still lets a
    /// fresh address log in (before: a full table refused every new address, server-wide).
    #[tokio::test]
    async fn finding_7_a_64_is_one_address_and_a_full_table_shuts_out_nobody() {
        let guard = LoginGuard::new(LoginPolicy::default());
        let mut admitted = 0;
        for i in 0..1_000u16 {
            let address = IpAddr::from([0x2001, 0xdb8, 0, 1, i, i, 1, 1]);
            if guard.admit(address, &format!("M{i}")).await.is_ok() {
                admitted += 1;
            }
        }
        assert_eq!(
            admitted, 30,
            "addresses of one /64 each got their own attempts"
        );

        for i in 0..70_000u32 {
            let [a, b] = [(i >> 16) as u16, i as u16];
            let address = IpAddr::from([0x2001, 0xdb8, 0x100 + a, b, 0, 0, 0, 1]);
            let _ = guard.admit(address, "flood").await;
        }
        assert!(guard.attempts.len() <= crate::auth::rate_limit::DEFAULT_CAPACITY);
        let fresh = IpAddr::from([198, 51, 100, 7]);
        assert!(
            guard.admit(fresh, "100234").await.is_ok(),
            "a fresh address was refused after the flood filled the table"
        );
        guard.failed(fresh);
        assert!(guard.failures.len() <= crate::auth::rate_limit::DEFAULT_CAPACITY);
    }

    #[test]
    fn delays_grow_after_the_free_failures_and_stop_at_the_cap() {
        let policy = LoginPolicy::default();
        let secs = |n| policy.delay_after(n).as_secs();
        assert_eq!((secs(0), secs(1), secs(3)), (0, 0, 0));
        assert_eq!((secs(4), secs(5), secs(6), secs(10)), (1, 2, 4, 64));
        assert_eq!((secs(13), secs(14)), (512, 900));
        assert_eq!(secs(40), 900);
    }

    #[test]
    fn the_gate_follows_the_stored_failures() {
        let policy = LoginPolicy::default();
        let now = Utc::now();
        assert_eq!(gate(&policy, None, now), Gate::Open);
        let mut state = Failures {
            failures: 5,
            first_at: now - chrono::Duration::minutes(10),
            last_at: now - chrono::Duration::seconds(1),
            locked_until: None,
        };
        assert!(matches!(
            gate(&policy, Some(&state), now),
            Gate::Delayed { retry_after } if retry_after <= Duration::from_secs(1)
        ));
        state.last_at = now - chrono::Duration::seconds(3);
        assert_eq!(gate(&policy, Some(&state), now), Gate::Open);
        state.locked_until = Some(now + chrono::Duration::hours(1));
        assert!(matches!(
            gate(&policy, Some(&state), now),
            Gate::Locked { .. }
        ));
    }

    #[test]
    fn implausible_input_is_told_apart_before_any_state() {
        assert!(plausible_member_no("100001") && plausible_member_no("A-1"));
        assert!(!plausible_member_no("") && !plausible_member_no(&"9".repeat(21)));
        assert!(!plausible_member_no("' OR 1=1 --") && !plausible_member_no("회원"));
        assert!(plausible_pin("1234") && plausible_pin("12345678"));
        assert!(!plausible_pin("123") && !plausible_pin("12a4") && !plausible_pin("123456789"));
    }

    #[tokio::test]
    async fn one_address_gets_a_bounded_share() {
        let guard = LoginGuard::new(LoginPolicy {
            attempts_per_ip_per_minute: 100,
            address_queue_wait: Duration::from_millis(50),
            ..LoginPolicy::default()
        });
        let flood: IpAddr = [127, 0, 0, 2].into();
        let a = guard.admit(flood, "1").await.expect("first");
        let b = guard.admit(flood, "2").await.expect("second");
        assert!(
            guard.admit(flood, "3").await.is_err(),
            "a third check from one address waits its turn, and gives up"
        );
        assert!(
            guard.admit([127, 0, 0, 3].into(), "1").await.is_err(),
            "member 1 is being checked already"
        );
        assert!(guard.admit([127, 0, 0, 3].into(), "4").await.is_ok());
        drop((a, b));
        assert!(guard.admit(flood, "3").await.is_ok());
    }
}
