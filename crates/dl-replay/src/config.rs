//! Configuration of the replay guard and of per-caller rate limits.

use std::time::Duration;

use crate::ReplayError;

/// Longest acceptance window or clock-skew tolerance accepted by [`ReplayConfig::validate`] (7 days).
const MAX_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
/// Longest key prefix accepted by [`ReplayConfig::validate`].
const MAX_PREFIX_LEN: usize = 64;

/// Smallest rate a sanitized [`RateLimit`] uses: one request per day.
const MIN_PER_SECOND: f64 = 1.0 / 86_400.0;
/// Largest rate a sanitized [`RateLimit`] uses (one request per nanosecond: effectively unlimited).
const MAX_PER_SECOND: f64 = 1.0e9;
/// Largest burst a sanitized [`RateLimit`] uses.
const MAX_BURST: u32 = 1_000_000;

/// Settings of a [`ReplayGuard`](crate::ReplayGuard).
///
/// Acceptance rule for `issued_at` (the caller's clock) against `now` (the worker's clock):
/// `now - window <= issued_at <= now + max_skew`. A request older than `window` is
/// [`Verdict::Stale`](crate::Verdict::Stale); one dated more than `max_skew` ahead is
/// [`Verdict::Future`](crate::Verdict::Future). Both are `STALE_REQUEST`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayConfig {
    /// How old (`now - issued_at`) a request may be. Default 5 minutes.
    pub window: Duration,
    /// How far in the future `issued_at` may lie (caller clock ahead of ours). Default 30 s.
    pub max_skew: Duration,
    /// Prefix of every Redis key this crate writes. Default `"dl:"`, giving
    /// `dl:nonce:<hex>` and `dl:rl:<hex>`.
    pub key_prefix: String,
    /// Upper bound of every Redis call (connect, one pipelined batch, ping). Default 2 s.
    pub op_timeout: Duration,
    /// Rate limit for callers whose [`CheckItem::rate_limit`](crate::CheckItem::rate_limit) is
    /// `None`. `None` here too means "not rate limited". Default `None`.
    pub default_rate_limit: Option<RateLimit>,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(300),
            max_skew: Duration::from_secs(30),
            key_prefix: "dl:".to_owned(),
            op_timeout: Duration::from_secs(2),
            default_rate_limit: None,
        }
    }
}

impl ReplayConfig {
    /// Time to live of a nonce key: the length of the acceptance window for `issued_at`
    /// (`window + max_skew`) plus another `max_skew` as margin for clock differences between
    /// worker replicas. A nonce therefore outlives every moment at which any replica (whose
    /// clock is within `max_skew` of ours) could still accept the same request as timely.
    pub fn nonce_ttl(&self) -> Duration {
        self.window
            .saturating_add(self.max_skew)
            .saturating_add(self.max_skew)
    }

    /// Checks the settings; [`ReplayGuard::connect`](crate::ReplayGuard::connect) calls it.
    pub fn validate(&self) -> Result<(), ReplayError> {
        if self.window.is_zero() || self.window > MAX_WINDOW {
            return Err(ReplayError::Config(format!(
                "window must be between 1 ms and {} s",
                MAX_WINDOW.as_secs()
            )));
        }
        if self.window.as_millis() == 0 {
            return Err(ReplayError::Config("window must be at least 1 ms".into()));
        }
        if self.max_skew > MAX_WINDOW {
            return Err(ReplayError::Config(format!(
                "max_skew must be at most {} s",
                MAX_WINDOW.as_secs()
            )));
        }
        if self.op_timeout.is_zero() {
            return Err(ReplayError::Config("op_timeout must be positive".into()));
        }
        if self.key_prefix.len() > MAX_PREFIX_LEN
            || self
                .key_prefix
                .chars()
                .any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(ReplayError::Config(format!(
                "key_prefix must be at most {MAX_PREFIX_LEN} bytes without spaces or control characters"
            )));
        }
        if let Some(rl) = &self.default_rate_limit {
            rl.validate()?;
        }
        Ok(())
    }

    pub(crate) fn window_ms(&self) -> i64 {
        duration_ms(self.window)
    }

    pub(crate) fn max_skew_ms(&self) -> i64 {
        duration_ms(self.max_skew)
    }

    pub(crate) fn nonce_ttl_ms(&self) -> i64 {
        duration_ms(self.nonce_ttl()).max(1)
    }
}

/// Milliseconds of a duration, saturating at `i64::MAX`.
fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A per-caller rate limit, enforced with GCRA (generic cell rate algorithm) on state kept in
/// Redis, so all worker replicas share it.
///
/// `per_second` is the sustained rate; `burst` is how many requests an idle caller may send back
/// to back before the sustained rate applies (at least 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second (> 0, finite).
    pub per_second: f64,
    /// Requests allowed back to back from idle (>= 1).
    pub burst: u32,
}

impl RateLimit {
    /// Checks that `per_second` is finite and positive and `burst` at least 1.
    pub fn validate(&self) -> Result<(), ReplayError> {
        if !self.per_second.is_finite() || self.per_second <= 0.0 {
            return Err(ReplayError::Config(
                "rate limit per_second must be a positive finite number".into(),
            ));
        }
        if self.burst == 0 {
            return Err(ReplayError::Config(
                "rate limit burst must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The limit as actually enforced. Values that [`validate`](Self::validate) would refuse are
    /// clamped rather than failing a whole batch: a non-finite or non-positive rate becomes the
    /// slowest rate (one per day), a rate above 10^9/s becomes 10^9/s, a burst of 0 becomes 1 and
    /// a burst above 10^6 becomes 10^6.
    pub fn sanitized(&self) -> RateLimit {
        let per_second = if self.per_second.is_nan() || self.per_second <= 0.0 {
            MIN_PER_SECOND
        } else {
            self.per_second.clamp(MIN_PER_SECOND, MAX_PER_SECOND)
        };
        RateLimit {
            per_second,
            burst: self.burst.clamp(1, MAX_BURST),
        }
    }

    /// GCRA emission interval in milliseconds (`1000 / per_second`) of the sanitized limit.
    pub(crate) fn emission_interval_ms(&self) -> f64 {
        1000.0 / self.sanitized().per_second
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_ttl_covers_window_and_skew() {
        let c = ReplayConfig::default();
        c.validate().unwrap();
        assert_eq!(c.nonce_ttl(), Duration::from_secs(360));
        assert_eq!(c.nonce_ttl_ms(), 360_000);
        assert_eq!(c.window_ms(), 300_000);
        assert_eq!(c.max_skew_ms(), 30_000);
    }

    #[test]
    fn invalid_configs_are_refused() {
        let bad = [
            ReplayConfig {
                window: Duration::ZERO,
                ..Default::default()
            },
            ReplayConfig {
                window: Duration::from_micros(10),
                ..Default::default()
            },
            ReplayConfig {
                window: Duration::from_secs(30 * 24 * 3600),
                ..Default::default()
            },
            ReplayConfig {
                op_timeout: Duration::ZERO,
                ..Default::default()
            },
            ReplayConfig {
                key_prefix: "a b".into(),
                ..Default::default()
            },
            ReplayConfig {
                key_prefix: "x".repeat(65),
                ..Default::default()
            },
            ReplayConfig {
                default_rate_limit: Some(RateLimit {
                    per_second: f64::NAN,
                    burst: 1,
                }),
                ..Default::default()
            },
        ];
        for c in bad {
            let e = c.validate().unwrap_err();
            assert_eq!(e.code(), "REPLAY_CONFIG_INVALID");
        }
    }

    #[test]
    fn rate_limits_are_sanitized_never_panicking() {
        for per_second in [f64::NAN, f64::NEG_INFINITY, -1.0, 0.0, 1e-300] {
            let s = RateLimit {
                per_second,
                burst: 0,
            }
            .sanitized();
            assert_eq!(s.per_second, MIN_PER_SECOND);
            assert_eq!(s.burst, 1);
        }
        let s = RateLimit {
            per_second: f64::INFINITY,
            burst: u32::MAX,
        }
        .sanitized();
        assert_eq!(s.per_second, MAX_PER_SECOND);
        assert_eq!(s.burst, MAX_BURST);
        let ok = RateLimit {
            per_second: 4.0,
            burst: 3,
        };
        ok.validate().unwrap();
        assert_eq!(ok.sanitized(), ok);
        assert_eq!(ok.emission_interval_ms(), 250.0);
    }
}
