//! Bounded retries with exponential backoff and full jitter, and a circuit breaker.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Retry and timeout policy for KMS calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, including the first (at least 1).
    pub max_attempts: u32,
    /// Backoff base: attempt `n` (from 1) waits a uniformly random time in
    /// `[0, min(max_delay, base_delay × 2^(n-1))]` before attempt `n + 1` ("full jitter").
    pub base_delay: Duration,
    /// Cap of one backoff wait.
    pub max_delay: Duration,
    /// Timeout of one attempt (connect + request + response).
    pub call_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
            call_timeout: Duration::from_secs(3),
        }
    }
}

impl RetryPolicy {
    /// The full-jitter wait after failed attempt `attempt` (from 1).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(
            1u32.checked_shl(attempt.saturating_sub(1).min(20))
                .unwrap_or(u32::MAX),
        );
        let cap = exp.min(self.max_delay);
        let cap_us = u64::try_from(cap.as_micros()).unwrap_or(u64::MAX);
        if cap_us == 0 {
            return Duration::ZERO;
        }
        Duration::from_micros(random_u64() % (cap_us + 1))
    }

    /// Worst-case time one call can take: attempts × timeout + the capped waits between them.
    pub fn worst_case(&self) -> Duration {
        let attempts = self.max_attempts.max(1);
        let mut total = self.call_timeout.saturating_mul(attempts);
        for a in 1..attempts {
            let exp = self.base_delay.saturating_mul(
                1u32.checked_shl(a.saturating_sub(1).min(20))
                    .unwrap_or(u32::MAX),
            );
            total = total.saturating_add(exp.min(self.max_delay));
        }
        total
    }
}

fn random_u64() -> u64 {
    use rand_core::RngCore;
    rand_core::OsRng.next_u64()
}

/// Circuit breaker settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failed attempts (transient errors and timeouts) that open the circuit.
    pub failure_threshold: u32,
    /// Time the circuit stays open before one probe request is let through (half-open).
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cool_down: Duration::from_secs(10),
        }
    }
}

/// State of a [`CircuitBreaker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests flow.
    Closed,
    /// Requests are refused locally until the cool-down ends.
    Open,
    /// The cool-down ended; one probe request is (or may be) in flight.
    HalfOpen,
}

#[derive(Debug)]
struct Inner {
    consecutive_failures: u32,
    open_until: Option<Instant>,
    probe_in_flight: bool,
}

/// A circuit breaker: opens after `failure_threshold` consecutive failed attempts, refuses calls
/// while open, lets one probe through after `cool_down` (half-open): success closes it, failure
/// re-opens it for another cool-down. A KMS refusal (4xx) counts as success: the KMS answered.
#[derive(Debug)]
pub struct CircuitBreaker {
    cfg: BreakerConfig,
    inner: Mutex<Inner>,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(cfg: BreakerConfig) -> Self {
        Self {
            cfg,
            inner: Mutex::new(Inner {
                consecutive_failures: 0,
                open_until: None,
                probe_in_flight: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Current state.
    pub fn state(&self) -> BreakerState {
        let g = self.lock();
        match g.open_until {
            None => BreakerState::Closed,
            Some(until) if Instant::now() < until => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    /// Asks to send a request: `Ok` when allowed (closed, or as the half-open probe), `Err(wait)`
    /// with the remaining cool-down when refused.
    pub fn admit(&self) -> Result<(), Duration> {
        let mut g = self.lock();
        match g.open_until {
            None => Ok(()),
            Some(until) => {
                let now = Instant::now();
                if now < until {
                    Err(until - now)
                } else if g.probe_in_flight {
                    Err(Duration::ZERO)
                } else {
                    g.probe_in_flight = true;
                    Ok(())
                }
            }
        }
    }

    /// Records a successful (or cleanly refused) request: closes the circuit.
    pub fn on_success(&self) {
        let mut g = self.lock();
        let was_open = g.open_until.is_some();
        g.consecutive_failures = 0;
        g.open_until = None;
        g.probe_in_flight = false;
        drop(g);
        if was_open {
            tracing::info!("KMS circuit closed");
            crate::metrics::circuit_open(false);
        }
    }

    /// Records a failed attempt; opens (or re-opens) the circuit when the threshold is reached
    /// or the half-open probe failed.
    pub fn on_failure(&self) {
        let mut g = self.lock();
        g.consecutive_failures = g.consecutive_failures.saturating_add(1);
        let open = g.probe_in_flight || g.consecutive_failures >= self.cfg.failure_threshold.max(1);
        if open {
            g.open_until = Some(Instant::now() + self.cfg.cool_down);
            g.probe_in_flight = false;
        }
        let failures = g.consecutive_failures;
        drop(g);
        if open {
            tracing::warn!(
                failures,
                cool_down_ms = self.cfg.cool_down.as_millis() as u64,
                "KMS circuit open"
            );
            crate::metrics::circuit_open(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_bounded() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(80),
            call_timeout: Duration::from_millis(100),
        };
        for attempt in 0..100 {
            assert!(p.backoff(attempt) <= Duration::from_millis(80));
        }
        assert!(p.backoff(1) <= Duration::from_millis(10));
        assert_eq!(
            p.worst_case(),
            Duration::from_millis(1000 + 10 + 20 + 40 + 80 * 6)
        );
        let zero = RetryPolicy {
            base_delay: Duration::ZERO,
            ..p
        };
        assert_eq!(zero.backoff(3), Duration::ZERO);
    }

    #[test]
    fn breaker_opens_after_threshold_and_half_opens() {
        let b = CircuitBreaker::new(BreakerConfig {
            failure_threshold: 3,
            cool_down: Duration::ZERO,
        });
        b.on_failure();
        b.on_failure();
        assert_eq!(b.state(), BreakerState::Closed);
        b.on_failure();
        // Zero cool-down: immediately half-open; exactly one probe is admitted.
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.admit().is_ok());
        assert!(b.admit().is_err());
        b.on_failure(); // probe failed: open again
        assert!(b.admit().is_ok());
        b.on_success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.admit().is_ok());

        let long = CircuitBreaker::new(BreakerConfig {
            failure_threshold: 1,
            cool_down: Duration::from_secs(3600),
        });
        long.on_failure();
        assert_eq!(long.state(), BreakerState::Open);
        assert!(long.admit().is_err());
    }
}
