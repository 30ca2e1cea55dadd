//! Per-caller rate limits: GCRA (the generic cell rate algorithm, a token bucket kept as one
//! instant per key) in process, over a bounded table of callers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A limiter configuration that cannot work.
#[derive(Debug, thiserror::Error)]
#[error("rate limit {per_minute}/min with burst {burst} is not usable: {why}")]
pub struct LimitError {
    per_minute: f64,
    burst: u32,
    why: &'static str,
}

/// `per_minute` requests a minute per key on average, up to `burst` at once.
pub struct KeyedLimiter {
    /// Time one request costs.
    interval: Duration,
    /// How far ahead of now a key's next theoretical arrival may be (`burst - 1` intervals).
    tolerance: Duration,
    max_keys: usize,
    /// Theoretical arrival time of each key's next request; a key whose time has passed holds
    /// its full burst, the same as an unknown key.
    next: Mutex<HashMap<String, Instant>>,
}

impl KeyedLimiter {
    /// A limiter for at most `max_keys` keys at once (more distinct keys with requests in
    /// flight: refused, fail closed).
    pub fn new(per_minute: f64, burst: u32, max_keys: usize) -> Result<Self, LimitError> {
        let error = |why| LimitError {
            per_minute,
            burst,
            why,
        };
        if !(per_minute.is_finite() && per_minute > 0.0) {
            return Err(error("the rate must be a positive number"));
        }
        if burst == 0 || max_keys == 0 {
            return Err(error("burst and table size must be at least 1"));
        }
        let interval = Duration::try_from_secs_f64(60.0 / per_minute)
            .map_err(|_| error("the rate is too small"))?;
        let tolerance = interval
            .checked_mul(burst - 1)
            .ok_or_else(|| error("burst times interval overflows"))?;
        Ok(Self {
            interval,
            tolerance,
            max_keys,
            next: Mutex::new(HashMap::new()),
        })
    }

    /// Counts one request of `key`: `Err(retry_after)` when it is over its limit.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let tat = next.get(key).copied().unwrap_or(now).max(now);
        let ahead = tat.duration_since(now);
        if ahead > self.tolerance {
            return Err(ahead - self.tolerance);
        }
        if !next.contains_key(key) && next.len() >= self.max_keys {
            // Keys whose time has passed are at their full burst: forgetting them changes nothing.
            next.retain(|_, t| *t > now);
            if next.len() >= self.max_keys {
                return Err(self.interval);
            }
        }
        let Some(then) = tat.checked_add(self.interval) else {
            return Err(self.interval);
        };
        next.insert(key.to_string(), then);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_burst_then_the_rate_per_key() {
        let l = KeyedLimiter::new(60.0, 3, 10).unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.check_at("a", t0).is_ok());
        }
        assert_eq!(l.check_at("a", t0), Err(Duration::from_secs(1)));
        assert!(l.check_at("b", t0).is_ok(), "keys are independent");
        let t1 = t0 + Duration::from_secs(1);
        assert!(l.check_at("a", t1).is_ok(), "one interval later: one more");
        assert!(l.check_at("a", t1).is_err());
        let later = t0 + Duration::from_secs(100);
        for _ in 0..3 {
            assert!(l.check_at("a", later).is_ok(), "idle: the full burst again");
        }
    }

    #[test]
    fn the_table_is_bounded_and_fails_closed() {
        let l = KeyedLimiter::new(1.0, 1, 2).unwrap();
        let t0 = Instant::now();
        assert!(l.check_at("a", t0).is_ok());
        assert!(l.check_at("b", t0).is_ok());
        assert!(l.check_at("c", t0).is_err(), "full of active keys");
        let later = t0 + Duration::from_secs(61);
        assert!(l.check_at("c", later).is_ok(), "idle keys make room");
        assert!(l.next.lock().unwrap().len() <= 2);
    }

    #[test]
    fn unusable_settings_are_errors() {
        assert!(KeyedLimiter::new(0.0, 1, 1).is_err());
        assert!(KeyedLimiter::new(f64::NAN, 1, 1).is_err());
        assert!(KeyedLimiter::new(1e-300, 1, 1).is_err());
        assert!(KeyedLimiter::new(1.0, 0, 1).is_err());
        assert!(KeyedLimiter::new(1e-9, u32::MAX, 1).is_err());
        assert!(KeyedLimiter::new(0.001, 2, 1).is_ok());
    }
}
