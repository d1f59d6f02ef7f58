//! Fixed-window counters per key (member, address) and in-flight counters, in memory and with
//! a hard cap on how many keys they hold: a client that sends a new key every time (bogus
//! member numbers, many source addresses) can fill the table but never grow it. A full table
//! makes room by forgetting its oldest windows, never by refusing a key it has not seen: a
//! flood of new keys must not shut out the innocent (it costs the flood its own counts, and is
//! alerted on elsewhere). A restart forgets the counts, which is harmless for limits measured
//! in minutes.
//!
//! Hand-written rather than `governor`'s keyed limiter: that store grows with every new key
//! until someone calls `retain_recent`, so a flood of keys grows it between sweeps, and the
//! failure counters here are hit after the fact (a wrong PIN), which GCRA's "may I?" does not
//! model. Addresses are keyed by [`crate::auth::client_ip::network`] (an IPv6 /64 is one key).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Keys a limiter holds at most (~64 bytes each for an address key).
pub const DEFAULT_CAPACITY: usize = 65_536;

pub struct RateLimiter<K = String> {
    window: Duration,
    max: u32,
    capacity: usize,
    hits: Mutex<HashMap<K, (Instant, u32)>>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    pub fn new(max: u32, window: Duration) -> RateLimiter<K> {
        Self::with_capacity(max, window, DEFAULT_CAPACITY)
    }

    pub fn with_capacity(max: u32, window: Duration, capacity: usize) -> RateLimiter<K> {
        RateLimiter {
            window,
            max,
            capacity: capacity.max(1),
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one hit for `key`; false when the key is over its limit in this window. With
    /// the table full, the oldest eighth of the windows is forgotten to make room.
    pub fn allow(&self, key: &K) -> bool {
        self.count(key, 1)
    }

    /// Whether `key` has used up its limit in this window (one more hit would be over it),
    /// without counting a hit.
    pub fn is_over(&self, key: &K) -> bool {
        let now = Instant::now();
        let Ok(hits) = self.hits.lock() else {
            return true;
        };
        match hits.get(key) {
            Some((start, count)) => now.duration_since(*start) < self.window && *count >= self.max,
            None => false,
        }
    }

    /// Counts a hit without asking (e.g. a failure noticed after the fact).
    pub fn hit(&self, key: &K) {
        self.count(key, 1);
    }

    fn count(&self, key: &K, add: u32) -> bool {
        let now = Instant::now();
        let Ok(mut hits) = self.hits.lock() else {
            return false;
        };
        if !hits.contains_key(key) && hits.len() >= self.capacity {
            let window = self.window;
            hits.retain(|_, (start, _)| now.duration_since(*start) < window);
            if hits.len() >= self.capacity {
                // Forget the oldest eighth at once, so a flood of new keys pays for this scan
                // once per capacity/8 keys, not on every request.
                let mut starts: Vec<Instant> = hits.values().map(|(start, _)| *start).collect();
                let cut = starts.len() / 8;
                let (_, oldest_kept, _) = starts.select_nth_unstable(cut);
                let oldest_kept = *oldest_kept;
                hits.retain(|_, (start, _)| *start > oldest_kept);
                metrics::counter!(crate::metrics::LIMITER_EVICTIONS).increment(1);
            }
        }
        let entry = hits.entry(key.clone()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(add);
        entry.1 <= self.max
    }

    /// Keys held now (for tests and metrics).
    pub fn len(&self) -> usize {
        self.hits.lock().map(|h| h.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// At most `max` operations per key at once (e.g. PIN checks per address). Entries exist only
/// while something is in flight, so the table is as large as the work running now.
pub struct InFlight<K> {
    max: usize,
    shared: Arc<Running<K>>,
}

struct Running<K> {
    counts: Mutex<HashMap<K, usize>>,
    /// Woken whenever an operation ends, for callers waiting for a place.
    freed: tokio::sync::Notify,
}

/// Ends its operation when dropped.
pub struct InFlightGuard<K: Hash + Eq> {
    key: Option<K>,
    shared: Arc<Running<K>>,
}

impl<K: Hash + Eq + Clone> InFlight<K> {
    pub fn new(max: usize) -> InFlight<K> {
        InFlight {
            max: max.max(1),
            shared: Arc::new(Running {
                counts: Mutex::new(HashMap::new()),
                freed: tokio::sync::Notify::new(),
            }),
        }
    }

    /// A guard when `key` has fewer than `max` operations running; `None` otherwise.
    pub fn enter(&self, key: &K) -> Option<InFlightGuard<K>> {
        let mut counts = self.shared.counts.lock().ok()?;
        let count = counts.entry(key.clone()).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(InFlightGuard {
            key: Some(key.clone()),
            shared: self.shared.clone(),
        })
    }

    /// [`InFlight::enter`], waiting up to `wait` for a place: several people behind one
    /// address (a gym's Wi-Fi) queue briefly instead of being turned away.
    pub async fn enter_within(&self, key: &K, wait: Duration) -> Option<InFlightGuard<K>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let freed = self.shared.freed.notified();
            tokio::pin!(freed);
            // Registered before trying, so an operation ending in between still wakes us.
            freed.as_mut().enable();
            if let Some(guard) = self.enter(key) {
                return Some(guard);
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return None;
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.shared.counts.lock().map(|r| r.len()).unwrap_or(0)
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: Hash + Eq> Drop for InFlightGuard<K> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else {
            return;
        };
        if let Ok(mut counts) = self.shared.counts.lock()
            && let Some(count) = counts.get_mut(&key)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&key);
            }
        }
        self.shared.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_and_window() {
        let limiter = RateLimiter::new(2, Duration::from_millis(50));
        let (a, b) = ("a".to_owned(), "b".to_owned());
        assert!(limiter.allow(&a));
        assert!(limiter.allow(&a));
        assert!(limiter.is_over(&a));
        assert!(!limiter.allow(&a));
        assert!(limiter.allow(&b));
        std::thread::sleep(Duration::from_millis(60));
        assert!(limiter.allow(&a));
    }

    /// Finding 7. A table full of live keys takes a new key (forgetting its oldest windows)
    /// and never grows past its capacity: a flood of new keys shuts out nobody.
    #[test]
    fn finding_7_a_full_table_evicts_instead_of_refusing_and_never_grows() {
        let limiter = RateLimiter::with_capacity(5, Duration::from_secs(60), 100);
        for i in 0..100u32 {
            assert!(limiter.allow(&i));
        }
        for i in 100..10_000u32 {
            assert!(limiter.allow(&i), "key {i} refused by a full table");
            assert!(limiter.len() <= 100);
        }
        // A key held now still counts normally (its first hit was in the flood).
        for _ in 0..4 {
            assert!(limiter.allow(&9_999));
        }
        assert!(!limiter.allow(&9_999));
        assert!(!limiter.is_over(&123_456), "an unseen key is never over");
    }

    #[test]
    fn expired_keys_make_room() {
        let limiter = RateLimiter::with_capacity(5, Duration::from_millis(30), 10);
        for i in 0..10u32 {
            limiter.hit(&i);
        }
        std::thread::sleep(Duration::from_millis(40));
        assert!(limiter.allow(&99));
        assert_eq!(limiter.len(), 1);
    }

    #[test]
    fn in_flight_is_bounded_per_key_and_released_on_drop() {
        let flights = InFlight::new(2);
        let one = flights.enter(&"ip").expect("first");
        let two = flights.enter(&"ip").expect("second");
        assert!(flights.enter(&"ip").is_none());
        assert!(flights.enter(&"other").is_some());
        drop(one);
        let three = flights.enter(&"ip").expect("room again");
        drop((two, three));
        assert!(flights.is_empty());
    }

    #[tokio::test]
    async fn a_waiting_operation_gets_the_place_freed_for_it() {
        let flights = Arc::new(InFlight::new(1));
        let held = flights.enter(&"ip").expect("first");
        let waiting = {
            let flights = flights.clone();
            tokio::spawn(async move {
                flights
                    .enter_within(&"ip", Duration::from_secs(5))
                    .await
                    .is_some()
            })
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        drop(held);
        assert!(waiting.await.expect("join"));
        let _held = flights.enter(&"ip").expect("again");
        assert!(
            flights
                .enter_within(&"ip", Duration::from_millis(30))
                .await
                .is_none(),
            "nobody frees it: the wait ends"
        );
    }
}
