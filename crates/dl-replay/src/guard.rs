//! The Redis-backed replay guard.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Pipeline, ServerErrorKind, Value};

use crate::keys::{nonce_key, rate_key, result_key};
use crate::verdict::is_valid_request_id;
use crate::{RateLimit, ReplayConfig, ReplayError, Verdict};

/// Lua script: GCRA rate limit, then the nonce, atomically (see `check.lua`).
const CHECK_SCRIPT: &str = include_str!("check.lua");

/// Lua script: delete a nonce only while it holds the given position.
const RELEASE_SCRIPT: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/// Oldest Redis accepted: `SET … NX GET` needs 7.0.
const MIN_REDIS_MAJOR: u64 = 7;

/// One request to check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckItem<'a> {
    /// Authenticated caller (e.g. the JWT subject). Part of the nonce key, so callers never
    /// collide; never stored or logged in clear.
    pub caller: &'a str,
    /// The request id: the nonce.
    pub request_id: &'a str,
    /// `issued_at` of the request, milliseconds since the Unix epoch, on the caller's clock.
    pub issued_at_ms: i64,
    /// Position of the Kafka message that carried the request: `"topic/partition/offset"`.
    /// Stored in the nonce's value; the same position read back means a redelivery.
    pub position: &'a str,
    /// Digest of what the request asks (e.g. hex SHA-256 of function, version, date and input;
    /// without `|`), stored in the nonce's value beside the position: another message with the
    /// same digest is a [`Verdict::Resubmission`], with another a [`Verdict::RequestIdReused`].
    pub payload_digest: &'a str,
    /// The caller's rate limit; `None` uses [`ReplayConfig::default_rate_limit`].
    pub rate_limit: Option<RateLimit>,
}

/// A committed result, stored so that resubmissions of its request are answered with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredResult<'a> {
    /// The caller, as in the request's [`CheckItem`].
    pub caller: &'a str,
    /// The request id, as in the request's [`CheckItem`].
    pub request_id: &'a str,
    /// The encoded result, stored as is.
    pub result: &'a [u8],
}

/// Replay guard: checks batches of requests against the nonce store and rate limits in Redis.
///
/// Cheap to clone (an `Arc`); `Send + Sync`. Uses a redis `ConnectionManager`, which multiplexes
/// calls over one connection and reconnects after failures; every call is bounded by
/// [`ReplayConfig::op_timeout`].
#[derive(Clone)]
pub struct ReplayGuard {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    cfg: ReplayConfig,
    script_sha: String,
    round_trips: AtomicU64,
}

impl fmt::Debug for ReplayGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password: never print it.
        f.debug_struct("ReplayGuard")
            .field("cfg", &self.inner.cfg)
            .finish_non_exhaustive()
    }
}

/// What the pipeline does for one item that passed the local checks.
struct Pending {
    /// Index into the batch.
    idx: usize,
    nonce_key: String,
    /// Rate key and sanitized limit, when the item is rate limited (script path).
    rate: Option<(String, RateLimit)>,
}

impl ReplayGuard {
    /// Connects to Redis (`redis://[user:password@]host:port[/db]`), checks that the server is
    /// Redis 7.0 or newer and loads the Lua script.
    ///
    /// Errors: [`ReplayError::Config`] for an invalid configuration, URL or an old server;
    /// [`ReplayError::Unavailable`] when Redis cannot be reached within `op_timeout`.
    pub async fn connect(redis_url: &str, cfg: ReplayConfig) -> Result<Self, ReplayError> {
        let guard = Self::connect_lazy(redis_url, cfg)?;
        let mut conn = guard.inner.conn.clone();
        let mut pipe = redis::pipe();
        pipe.cmd("INFO")
            .arg("server")
            .cmd("SCRIPT")
            .arg("LOAD")
            .arg(CHECK_SCRIPT);
        let (info, sha): (String, String) = guard.round_trip(&pipe, &mut conn).await?;
        let major = redis_major_version(&info).ok_or_else(|| {
            ReplayError::Config("cannot read redis_version from INFO server".into())
        })?;
        if major < MIN_REDIS_MAJOR {
            return Err(ReplayError::Config(format!(
                "Redis {MIN_REDIS_MAJOR}.0 or newer is required (SET with NX and GET); server is {major}.x"
            )));
        }
        if sha != guard.inner.script_sha {
            return Err(ReplayError::Unavailable(
                "SCRIPT LOAD returned an unexpected digest".into(),
            ));
        }
        Ok(guard)
    }

    /// Like [`connect`](Self::connect) but without connecting: the first call connects. Neither
    /// the server version nor the script is checked up front (the script is loaded on first
    /// use). Useful to start a worker while Redis is still down; [`ping`](Self::ping) tells when
    /// it is reachable.
    pub fn connect_lazy(redis_url: &str, cfg: ReplayConfig) -> Result<Self, ReplayError> {
        cfg.validate()?;
        #[cfg(feature = "tls")]
        {
            // rustls needs a process-wide crypto provider; keep one already installed.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = Client::open(redis_url)
            .map_err(|e| ReplayError::Config(format!("invalid Redis URL: {}", e.category())))?;
        let mgr_cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(cfg.op_timeout))
            .set_response_timeout(Some(cfg.op_timeout))
            .set_number_of_retries(2)
            .set_max_delay(cfg.op_timeout);
        let conn = ConnectionManager::new_lazy_with_config(client, mgr_cfg)
            .map_err(|e| ReplayError::Config(format!("Redis connection manager: {e}")))?;
        let script_sha = redis::Script::new(CHECK_SCRIPT).get_hash().to_owned();
        Ok(ReplayGuard {
            inner: Arc::new(Inner {
                conn,
                cfg,
                script_sha,
                round_trips: AtomicU64::new(0),
            }),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &ReplayConfig {
        &self.inner.cfg
    }

    /// Redis key of the nonce of `(caller, request_id)` under this guard's prefix (for
    /// diagnostics and tests; it is a hash and reveals neither).
    pub fn nonce_key(&self, caller: &str, request_id: &str) -> String {
        nonce_key(&self.inner.cfg.key_prefix, caller, request_id)
    }

    /// Redis key of the rate-limit state of `caller` under this guard's prefix.
    pub fn rate_key(&self, caller: &str) -> String {
        rate_key(&self.inner.cfg.key_prefix, caller)
    }

    /// Number of Redis round trips this guard (and its clones) made so far: pipelines, pings and
    /// the connect check. A batch normally costs exactly one; two when Redis lost the script
    /// (restart, `SCRIPT FLUSH`) and it had to be loaded again.
    pub fn round_trips(&self) -> u64 {
        self.inner.round_trips.load(Ordering::Relaxed)
    }

    /// Health check: `PING` within `op_timeout`.
    pub async fn ping(&self) -> Result<(), ReplayError> {
        let mut conn = self.inner.conn.clone();
        let mut pipe = redis::pipe();
        pipe.cmd("PING");
        let (pong,): (String,) = self.round_trip(&pipe, &mut conn).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(ReplayError::Unavailable("unexpected reply to PING".into()))
        }
    }

    /// Checks a batch of requests; returns one verdict per item, in order.
    ///
    /// `now_ms` is the worker's wall clock (milliseconds since the Unix epoch). Per item, in
    /// order: request id validity, then the `issued_at` window (both without Redis), then, in
    /// one Redis round trip for the whole batch, the nonce and (for rate-limited callers) the
    /// rate limit. Items of the same batch are applied in order, so a request id repeated within
    /// a batch is a replay (or a redelivery, from the same position) of the first.
    ///
    /// Fail closed: any Redis error fails the whole batch with [`ReplayError::Unavailable`];
    /// do not accept any of its items. Re-checking the same messages later is safe.
    pub async fn check_batch(
        &self,
        now_ms: i64,
        items: &[CheckItem<'_>],
    ) -> Result<Vec<Verdict>, ReplayError> {
        let cfg = &self.inner.cfg;
        let window_ms = cfg.window_ms();
        let skew_ms = cfg.max_skew_ms();
        let ttl_ms = cfg.nonce_ttl_ms();

        let mut verdicts: Vec<Option<Verdict>> = Vec::with_capacity(items.len());
        let mut pending: Vec<Pending> = Vec::new();
        for (idx, item) in items.iter().enumerate() {
            if let Some(v) = local_verdict(item, now_ms, window_ms, skew_ms) {
                verdicts.push(Some(v));
                continue;
            }
            verdicts.push(None);
            let rate = item
                .rate_limit
                .or(cfg.default_rate_limit)
                .map(|rl| (rate_key(&cfg.key_prefix, item.caller), rl.sanitized()));
            pending.push(Pending {
                idx,
                nonce_key: nonce_key(&cfg.key_prefix, item.caller, item.request_id),
                rate,
            });
        }

        if !pending.is_empty() {
            let mut conn = self.inner.conn.clone();
            let mut pipe = redis::pipe();
            pipe.ignore_errors();
            for p in &pending {
                self.push_command(&mut pipe, p, &nonce_value(&items[p.idx]), ttl_ms);
            }
            let replies: Vec<Value> = self.round_trip(&pipe, &mut conn).await?;
            if replies.len() != pending.len() {
                return Err(self.fail("pipeline reply count differs from command count"));
            }

            let mut no_script: Vec<usize> = Vec::new();
            for (n, (p, reply)) in pending.iter().zip(replies).enumerate() {
                match interpret(reply, &items[p.idx])? {
                    Some(v) => verdicts[p.idx] = Some(v),
                    None => no_script.push(n),
                }
            }

            if !no_script.is_empty() {
                // Redis lost the script (restart, SCRIPT FLUSH, failover). The failed EVALSHAs
                // did nothing, so only they are sent again, after loading the script.
                tracing::debug!(
                    count = no_script.len(),
                    "replay guard: NOSCRIPT, loading the script again"
                );
                let mut retry = redis::pipe();
                retry.ignore_errors();
                retry.cmd("SCRIPT").arg("LOAD").arg(CHECK_SCRIPT);
                for &n in &no_script {
                    let p = &pending[n];
                    self.push_command(&mut retry, p, &nonce_value(&items[p.idx]), ttl_ms);
                }
                let mut replies: Vec<Value> = self.round_trip(&retry, &mut conn).await?;
                if replies.len() != no_script.len() + 1 {
                    return Err(self.fail("pipeline reply count differs from command count"));
                }
                let load = replies.remove(0);
                if !matches!(&load, Value::BulkString(b) if *b == self.inner.script_sha.as_bytes())
                {
                    return Err(self.fail("SCRIPT LOAD failed"));
                }
                for (&n, reply) in no_script.iter().zip(replies) {
                    let p = &pending[n];
                    match interpret(reply, &items[p.idx])? {
                        Some(v) => verdicts[p.idx] = Some(v),
                        None => return Err(self.fail("script missing right after SCRIPT LOAD")),
                    }
                }
            }
        }

        let out: Vec<Verdict> = verdicts
            .into_iter()
            .map(|v| v.unwrap_or(Verdict::Replay))
            .collect();
        record_outcomes(&out);
        Ok(out)
    }

    /// Gives back the nonces of requests whose outcome was retryable (e.g. `EVALUATION_TIMEOUT`):
    /// the caller may send the same request id again and it is then checked as new, not as a
    /// replay. A nonce is deleted only while it still holds the position of the message that
    /// spent it, so a release never frees a nonce another message spent. One round trip.
    ///
    /// Call it before the retryable outcome is committed: if the commit then fails, the message
    /// is redelivered and spends its nonce again. Fail closed: [`ReplayError::Unavailable`]
    /// means nothing may be committed (the nonces may or may not have been released).
    pub async fn release(&self, items: &[CheckItem<'_>]) -> Result<(), ReplayError> {
        if items.is_empty() {
            return Ok(());
        }
        let prefix = &self.inner.cfg.key_prefix;
        let mut pipe = redis::pipe();
        for item in items {
            pipe.cmd("EVAL")
                .arg(RELEASE_SCRIPT)
                .arg(1)
                .arg(nonce_key(prefix, item.caller, item.request_id))
                .arg(nonce_value(item));
        }
        let mut conn = self.inner.conn.clone();
        let released: Vec<i64> = self.round_trip(&pipe, &mut conn).await?;
        if released.len() != items.len() {
            return Err(self.fail("pipeline reply count differs from command count"));
        }
        metrics::counter!("dl_replay_nonces_released_total")
            .increment(released.iter().filter(|&&n| n > 0).count() as u64);
        Ok(())
    }

    /// Stores committed results (one round trip), each for as long as a nonce lives, so that a
    /// [`Verdict::Resubmission`] of its request can be answered with it. Call it only for
    /// requests whose nonce the committed message spent (verdict [`Verdict::Fresh`] or
    /// [`Verdict::Redelivery`], nonce not released) and only after the commit: a stored result
    /// is one the caller may be shown. Losing one (Redis down, a crash before the call) only
    /// makes resubmissions answer `REQUEST_IN_PROGRESS` until the nonce expires.
    pub async fn store_results(&self, results: &[StoredResult<'_>]) -> Result<(), ReplayError> {
        if results.is_empty() {
            return Ok(());
        }
        let prefix = &self.inner.cfg.key_prefix;
        let ttl_ms = self.inner.cfg.nonce_ttl_ms();
        let mut pipe = redis::pipe();
        for r in results {
            pipe.cmd("SET")
                .arg(result_key(prefix, r.caller, r.request_id))
                .arg(r.result)
                .arg("PX")
                .arg(ttl_ms)
                .ignore();
        }
        let mut conn = self.inner.conn.clone();
        self.round_trip::<()>(&pipe, &mut conn).await?;
        metrics::counter!("dl_replay_results_stored_total").increment(results.len() as u64);
        Ok(())
    }

    /// The stored results of the requests of `items` (one round trip), in order; `None` where
    /// none is stored (the original is still being decided, or its result was lost).
    pub async fn stored_results(
        &self,
        items: &[CheckItem<'_>],
    ) -> Result<Vec<Option<Vec<u8>>>, ReplayError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let prefix = &self.inner.cfg.key_prefix;
        let mut pipe = redis::pipe();
        for item in items {
            pipe.cmd("GET")
                .arg(result_key(prefix, item.caller, item.request_id));
        }
        let mut conn = self.inner.conn.clone();
        let found: Vec<Option<Vec<u8>>> = self.round_trip(&pipe, &mut conn).await?;
        if found.len() != items.len() {
            return Err(self.fail("pipeline reply count differs from command count"));
        }
        Ok(found)
    }

    /// Appends the command for one pending item: plain `SET … NX GET PX` without a rate limit,
    /// the check script with one.
    fn push_command(&self, pipe: &mut Pipeline, p: &Pending, value: &str, ttl_ms: i64) {
        match &p.rate {
            None => {
                pipe.cmd("SET")
                    .arg(&p.nonce_key)
                    .arg(value)
                    .arg("NX")
                    .arg("GET")
                    .arg("PX")
                    .arg(ttl_ms);
            }
            Some((rate_key, rl)) => {
                pipe.cmd("EVALSHA")
                    .arg(&self.inner.script_sha)
                    .arg(2)
                    .arg(&p.nonce_key)
                    .arg(rate_key)
                    .arg(value)
                    .arg(ttl_ms)
                    .arg(format!("{:.6}", rl.emission_interval_ms()))
                    .arg(rl.burst);
            }
        }
    }

    /// Sends one pipeline within `op_timeout`, counting and timing it. Every failure is
    /// [`ReplayError::Unavailable`].
    async fn round_trip<T: redis::FromRedisValue>(
        &self,
        pipe: &Pipeline,
        conn: &mut ConnectionManager,
    ) -> Result<T, ReplayError> {
        self.inner.round_trips.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("dl_replay_redis_round_trips_total").increment(1);
        let started = Instant::now();
        let res =
            tokio::time::timeout(self.inner.cfg.op_timeout, pipe.query_async::<T>(conn)).await;
        metrics::histogram!("dl_replay_redis_seconds").record(started.elapsed().as_secs_f64());
        match res {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.fail(&format!("{e}"))),
            Err(_) => Err(self.fail("timed out")),
        }
    }

    fn fail(&self, reason: &str) -> ReplayError {
        metrics::counter!("dl_replay_store_errors_total").increment(1);
        tracing::warn!(reason, "replay store unavailable; failing closed");
        ReplayError::Unavailable(reason.to_owned())
    }
}

/// Verdict reachable without Redis, or `None` when the item must go to Redis.
fn local_verdict(
    item: &CheckItem<'_>,
    now_ms: i64,
    window_ms: i64,
    skew_ms: i64,
) -> Option<Verdict> {
    if !is_valid_request_id(item.request_id) {
        return Some(Verdict::InvalidRequestId);
    }
    let age = i128::from(now_ms) - i128::from(item.issued_at_ms);
    if age > i128::from(window_ms) {
        return Some(Verdict::Stale {
            age_ms: i64::try_from(age).unwrap_or(i64::MAX),
        });
    }
    if -age > i128::from(skew_ms) {
        return Some(Verdict::Future {
            ahead_ms: i64::try_from(-age).unwrap_or(i64::MAX),
        });
    }
    None
}

/// The value a request's nonce holds: `<payload digest>|<position>`.
fn nonce_value(item: &CheckItem<'_>) -> String {
    format!("{}|{}", item.payload_digest, item.position)
}

/// What a nonce spent by another (or the same) message means for `item`. Positions never
/// contain `|` (Kafka topic names cannot), so the digest is what precedes the last one; a value
/// without `|` is a bare position, written before digests were stored.
fn compare(stored: &[u8], item: &CheckItem<'_>) -> Verdict {
    let split = stored.iter().rposition(|&b| b == b'|');
    let (digest, position) = match split {
        Some(i) => (Some(&stored[..i]), &stored[i + 1..]),
        None => (None, stored),
    };
    match digest {
        _ if position == item.position.as_bytes() => Verdict::Redelivery,
        Some(d) if d == item.payload_digest.as_bytes() => Verdict::Resubmission,
        Some(_) => Verdict::RequestIdReused,
        None => Verdict::Replay,
    }
}

/// Turns one reply into a verdict; `Ok(None)` means NOSCRIPT (send again after loading).
fn interpret(reply: Value, item: &CheckItem<'_>) -> Result<Option<Verdict>, ReplayError> {
    let same = |stored: &[u8]| compare(stored, item);
    match reply {
        // SET … NX GET: nil = the key was absent and is now set.
        Value::Nil => Ok(Some(Verdict::Fresh)),
        Value::BulkString(stored) => Ok(Some(same(&stored))),
        Value::Array(parts) => match parts.as_slice() {
            [Value::Int(0)] => Ok(Some(Verdict::Fresh)),
            [Value::Int(1), Value::BulkString(stored)] => Ok(Some(same(stored))),
            [Value::Int(2), Value::Int(ms)] => Ok(Some(Verdict::RateLimited {
                retry_after_ms: u64::try_from(*ms).unwrap_or(0).max(1),
            })),
            _ => Err(unavailable("unexpected reply from the check script")),
        },
        Value::ServerError(e) if e.kind() == Some(ServerErrorKind::NoScript) => Ok(None),
        Value::ServerError(e) => Err(unavailable(&format!("Redis error {}", e.code()))),
        _ => Err(unavailable("unexpected reply type")),
    }
}

fn unavailable(reason: &str) -> ReplayError {
    metrics::counter!("dl_replay_store_errors_total").increment(1);
    tracing::warn!(reason, "replay store unavailable; failing closed");
    ReplayError::Unavailable(reason.to_owned())
}

/// Counts verdicts per outcome (labels bounded: no caller or request ids).
fn record_outcomes(verdicts: &[Verdict]) {
    const LABELS: [&str; 9] = [
        "fresh",
        "redelivery",
        "resubmission",
        "reused",
        "replay",
        "stale",
        "future",
        "invalid",
        "rate_limited",
    ];
    let mut counts = [0u64; LABELS.len()];
    for v in verdicts {
        let label = v.outcome_label();
        if let Some(i) = LABELS.iter().position(|l| *l == label) {
            counts[i] += 1;
        }
    }
    for (label, n) in LABELS.iter().zip(counts) {
        if n > 0 {
            metrics::counter!("dl_replay_checks_total", "outcome" => *label).increment(n);
        }
    }
    let rate_limited = counts[LABELS.len() - 1];
    if rate_limited > 0 {
        metrics::counter!("dl_rate_limited_total").increment(rate_limited);
    }
}

/// Major version from `INFO server` (`redis_version:7.0.15`).
fn redis_major_version(info: &str) -> Option<u64> {
    info.lines()
        .find_map(|l| l.trim().strip_prefix("redis_version:"))
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(request_id: &str, issued_at_ms: i64) -> CheckItem<'_> {
        CheckItem {
            caller: "c",
            request_id,
            issued_at_ms,
            position: "t/0/1",
            payload_digest: "d1",
            rate_limit: None,
        }
    }

    #[test]
    fn local_checks_and_boundaries() {
        let now = 1_000_000_000;
        let (w, s) = (300_000, 30_000);
        assert_eq!(
            local_verdict(&item("", now), now, w, s),
            Some(Verdict::InvalidRequestId)
        );
        // Invalid wins over stale.
        assert_eq!(
            local_verdict(&item("a\n", 0), now, w, s),
            Some(Verdict::InvalidRequestId)
        );
        assert_eq!(local_verdict(&item("r", now - w), now, w, s), None);
        assert_eq!(
            local_verdict(&item("r", now - w - 1), now, w, s),
            Some(Verdict::Stale { age_ms: w + 1 })
        );
        assert_eq!(local_verdict(&item("r", now + s), now, w, s), None);
        assert_eq!(
            local_verdict(&item("r", now + s + 1), now, w, s),
            Some(Verdict::Future { ahead_ms: s + 1 })
        );
        // Extremes never overflow or panic.
        assert_eq!(
            local_verdict(&item("r", i64::MIN), i64::MAX, w, s),
            Some(Verdict::Stale { age_ms: i64::MAX })
        );
        assert_eq!(
            local_verdict(&item("r", i64::MAX), i64::MIN, w, s),
            Some(Verdict::Future { ahead_ms: i64::MAX })
        );
    }

    #[test]
    fn replies_are_interpreted_strictly() {
        let it = item("r", 0);
        let p = &it;
        assert_eq!(nonce_value(p), "d1|t/0/1");
        assert_eq!(interpret(Value::Nil, p), Ok(Some(Verdict::Fresh)));
        let stored = |v: &str| interpret(Value::BulkString(v.as_bytes().to_vec()), p);
        // The same message again, whatever the digest: a redelivery.
        assert_eq!(stored("d1|t/0/1"), Ok(Some(Verdict::Redelivery)));
        assert_eq!(stored("d0|t/0/1"), Ok(Some(Verdict::Redelivery)));
        // Another message asking the same: a resubmission; asking something else: reused.
        assert_eq!(stored("d1|t/0/2"), Ok(Some(Verdict::Resubmission)));
        assert_eq!(stored("d2|t/0/2"), Ok(Some(Verdict::RequestIdReused)));
        assert_eq!(stored("|t/0/2"), Ok(Some(Verdict::RequestIdReused)));
        // A bare position (an older worker's nonce): redelivery or replay, as before.
        assert_eq!(stored("t/0/1"), Ok(Some(Verdict::Redelivery)));
        assert_eq!(stored("t/0/2"), Ok(Some(Verdict::Replay)));
        assert_eq!(
            interpret(
                Value::Array(vec![Value::Int(1), Value::BulkString(b"d1|t/0/9".to_vec())]),
                p
            ),
            Ok(Some(Verdict::Resubmission))
        );
        assert_eq!(
            interpret(Value::Array(vec![Value::Int(2), Value::Int(0)]), p),
            Ok(Some(Verdict::RateLimited { retry_after_ms: 1 }))
        );
        assert!(interpret(Value::Okay, p).is_err());
        assert!(interpret(Value::Array(vec![Value::Int(7)]), p).is_err());
    }

    #[test]
    fn version_parsing() {
        assert_eq!(
            redis_major_version("# Server\r\nredis_version:7.0.15\r\n"),
            Some(7)
        );
        assert_eq!(redis_major_version("redis_version:6.2.1"), Some(6));
        assert_eq!(redis_major_version("nothing"), None);
    }
}
