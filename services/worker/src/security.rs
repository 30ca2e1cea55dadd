//! Caller authentication, authorisation, replay protection and per-caller rate limits.
//!
//! Per message (in the evaluation threads): the `authorization` bearer token is verified
//! (dl-auth), a present `dl-signature` is verified over the message value bytes (and required for
//! callers matched by `require_signature`), and after the function version is selected the
//! caller must match the function's `allowed_callers` (dl-auth allow-list grammar, deny by
//! default). Per batch: one `ReplayGuard::check_batch` (one Redis round trip) for every request
//! that got that far, keyed by the Kafka position so a redelivery is accepted once.
//!
//! dl-auth and dl-replay are async; the pipeline runs on plain threads and drives them with
//! `Handle::block_on` on the worker's tokio runtime.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{bail, Context};
use dl_auth::{AuthError, AuthFile, CallerIdentity, JwtVerifier, SignatureReason};
use dl_replay::{CheckItem, RateLimit, ReplayConfig, ReplayError, ReplayGuard, Verdict};
use dl_telemetry::Health;
use tokio::runtime::Handle;

use crate::config::Config;

/// A committed result of a request whose nonce its message spent, to be stored for
/// resubmissions ([`Security::store_results_later`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedResult {
    /// The caller key of the nonce ([`ANONYMOUS`] without authentication).
    pub caller: String,
    /// The request id.
    pub request_id: String,
    /// The result exactly as produced (wire format).
    pub result: Vec<u8>,
}

/// Caller key of the replay nonces and rate limits when authentication is disabled.
/// Real principals are `<issuer>|<subject>`, so it cannot collide with one.
pub const ANONYMOUS: &str = "anonymous";

/// Kafka header carrying the bearer token.
pub const AUTHORIZATION_HEADER: &str = "authorization";
/// Kafka header carrying the detached request signature.
pub const SIGNATURE_HEADER: &str = "dl-signature";

/// Reads the file named by `DL_AUTH_CONFIG` (dl-auth's one parser, shared with the gateway and
/// the agent) and checks its rate limits against the limiter's rules.
fn load_auth_file(path: &Path) -> anyhow::Result<AuthFile> {
    let file = AuthFile::load(path)?;
    for rl in &file.rate_limits {
        RateLimit {
            per_second: rl.per_second,
            burst: rl.burst,
        }
        .validate()
        .with_context(|| format!("rate limit of {}", rl.caller))?;
    }
    Ok(file)
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Verified token claims; `None` with authentication disabled.
    pub identity: Option<CallerIdentity>,
}

impl Caller {
    /// Principal recorded in results and the ledger (`None` with authentication disabled).
    pub fn principal(&self) -> Option<String> {
        self.identity.as_ref().map(CallerIdentity::principal)
    }

    /// The caller's tenant (`None`: the default tenant: no declared tenants, or authentication
    /// disabled).
    pub fn tenant(&self) -> Option<String> {
        self.identity.as_ref().and_then(|i| i.tenant.clone())
    }
}

/// The caller key of replay nonces, stored results and rate limits: the principal (or
/// [`ANONYMOUS`]), behind `<tenant>/` for a caller of a declared tenant, so two tenants' callers
/// never share a nonce even with the same issuer, subject and request id. Tenant ids hold no
/// `/`, so the first `/` ends the tenant.
pub fn replay_caller(principal: Option<&str>, tenant: Option<&str>) -> String {
    let principal = principal.unwrap_or(ANONYMOUS);
    match tenant {
        Some(t) => format!("{t}/{principal}"),
        None => principal.to_string(),
    }
}

/// Authentication, authorisation, replay protection and rate limits of one worker process.
pub struct Security {
    handle: Handle,
    verifier: Option<JwtVerifier>,
    require_signature: Vec<String>,
    rate_limits: Vec<(String, RateLimit)>,
    guard: Option<ReplayGuard>,
}

impl Security {
    /// Builds the verifier (fetching the issuers' keys) and connects to Redis, waiting while
    /// Redis is unreachable (readiness blocker "redis"). Fails on invalid configuration.
    pub fn start(
        cfg: &Config,
        handle: Handle,
        health: &Health,
        stop: &AtomicBool,
    ) -> anyhow::Result<Self> {
        let (verifier, require_signature, rate_limits) = match &cfg.auth_config {
            None => {
                tracing::warn!(
                    "AUTHENTICATION IS DISABLED (DL_AUTH_CONFIG is not set): requests are accepted without a token, \
                     results carry no caller, function allow lists are NOT enforced and every request is the default tenant's \
                     (plain function ids only). Never run like this in production."
                );
                (None, Vec::new(), Vec::new())
            }
            Some(path) => {
                let file = load_auth_file(path)?;
                if cfg.redis_url.is_none() {
                    bail!("DL_AUTH_CONFIG is set but REDIS_URL is not: authentication requires replay protection");
                }
                let verifier = handle
                    .block_on(JwtVerifier::new(file.auth))
                    .context("starting the token verifier")?;
                tracing::info!(issuers = ?verifier.issuers().collect::<Vec<_>>(), "caller authentication enabled");
                let limits = file
                    .rate_limits
                    .into_iter()
                    .map(|r| {
                        (
                            r.caller,
                            RateLimit {
                                per_second: r.per_second,
                                burst: r.burst,
                            },
                        )
                    })
                    .collect();
                (Some(verifier), file.require_signature, limits)
            }
        };
        let guard = match &cfg.redis_url {
            None => {
                tracing::warn!("REPLAY PROTECTION IS DISABLED (REDIS_URL is not set)");
                None
            }
            Some(url) => {
                let replay_cfg = ReplayConfig {
                    window: Duration::from_secs(cfg.replay_window_secs),
                    max_skew: Duration::from_secs(cfg.replay_max_skew_secs),
                    op_timeout: Duration::from_millis(cfg.redis_timeout_ms),
                    default_rate_limit: (cfg.rate_limit_per_second > 0.0).then_some(RateLimit {
                        per_second: cfg.rate_limit_per_second,
                        burst: cfg.rate_limit_burst,
                    }),
                    ..ReplayConfig::default()
                };
                let mut backoff = Duration::from_millis(200);
                let guard = loop {
                    match handle.block_on(ReplayGuard::connect(url, replay_cfg.clone())) {
                        Ok(g) => break g,
                        Err(e @ ReplayError::Config(_)) => {
                            return Err(e).context("replay protection")
                        }
                        Err(e) => {
                            health.beat();
                            redis_down(health, &e);
                            if stop.load(Ordering::SeqCst) {
                                bail!("stopped while waiting for Redis");
                            }
                            std::thread::sleep(backoff);
                            backoff = (backoff * 2).min(Duration::from_secs(5));
                        }
                    }
                };
                redis_up(health);
                tracing::info!(
                    window_s = cfg.replay_window_secs,
                    max_skew_s = cfg.replay_max_skew_secs,
                    "replay protection enabled"
                );
                Some(guard)
            }
        };
        Ok(Self {
            handle,
            verifier,
            require_signature,
            rate_limits,
            guard,
        })
    }

    /// Whether callers are authenticated.
    pub fn auth_enabled(&self) -> bool {
        self.verifier.is_some()
    }

    /// Verifies the bearer token and, when present or required, the request signature over the
    /// message value. With authentication disabled every message is accepted anonymously.
    pub fn authenticate(
        &self,
        authorization: Option<&[u8]>,
        signature: Option<&[u8]>,
        payload: &[u8],
    ) -> Result<Caller, AuthError> {
        let Some(verifier) = &self.verifier else {
            return Ok(Caller { identity: None });
        };
        let identity = self
            .handle
            .block_on(verifier.verify_bearer(authorization))?;
        match signature.filter(|s| !s.is_empty()) {
            Some(jws) => self
                .handle
                .block_on(verifier.verify_detached_signature(&identity, jws, payload))?,
            None if dl_auth::caller_allowed(&identity, &self.require_signature) => {
                let e = AuthError::BadSignature(SignatureReason::Missing);
                metrics::counter!(dl_auth::metrics::FAILURES_TOTAL, "reason" => e.reason())
                    .increment(1);
                return Err(e);
            }
            None => {}
        }
        Ok(Caller {
            identity: Some(identity),
        })
    }

    /// Deny-by-default check of the function's allow list (dl-auth grammar).
    pub fn authorize(&self, caller: &Caller, allowed_callers: &[String]) -> Result<(), AuthError> {
        match &caller.identity {
            None => Ok(()),
            Some(identity) if dl_auth::caller_allowed(identity, allowed_callers) => Ok(()),
            Some(_) => {
                let e = AuthError::Forbidden("the caller is not on the function's allow list");
                metrics::counter!(dl_auth::metrics::FAILURES_TOTAL, "reason" => e.reason())
                    .increment(1);
                Err(e)
            }
        }
    }

    /// The rate limit of a caller: its first matching `rate_limits` entry, else the default.
    pub fn rate_limit(&self, caller: &Caller) -> Option<RateLimit> {
        let identity = caller.identity.as_ref()?;
        self.rate_limits
            .iter()
            .find(|(entry, _)| dl_auth::caller_allowed(identity, std::slice::from_ref(entry)))
            .map(|(_, l)| *l)
    }

    /// Whether replay protection is on.
    pub fn replay_enabled(&self) -> bool {
        self.guard.is_some()
    }

    /// One Redis round trip for the whole batch. `Ok(None)`: replay protection is off.
    /// `Err`: fail closed, accept nothing of the batch.
    pub fn check_replay(
        &self,
        now_ms: i64,
        items: &[CheckItem<'_>],
    ) -> Result<Option<Vec<Verdict>>, ReplayError> {
        match &self.guard {
            None => Ok(None),
            Some(guard) => self
                .handle
                .block_on(guard.check_batch(now_ms, items))
                .map(Some),
        }
    }

    /// Gives back the nonces of `items` (requests with a retryable outcome), one round trip.
    /// `Err`: fail closed, commit nothing of the batch.
    pub fn release_replay(&self, items: &[CheckItem<'_>]) -> Result<(), ReplayError> {
        match &self.guard {
            None => Ok(()),
            Some(guard) => self.handle.block_on(guard.release(items)),
        }
    }

    /// The stored results of resubmitted requests (one round trip), in order. `Err`: fail
    /// closed, as the check.
    pub fn stored_results(
        &self,
        items: &[CheckItem<'_>],
    ) -> Result<Vec<Option<Vec<u8>>>, ReplayError> {
        match &self.guard {
            None => Ok(vec![None; items.len()]),
            Some(guard) => self.handle.block_on(guard.stored_results(items)),
        }
    }

    /// Stores committed results for resubmissions, in the background (after the commit, off the
    /// committer's path): a failure is counted and logged, never fatal; resubmissions then
    /// answer `REQUEST_IN_PROGRESS` until the nonce expires (docs/authentication.md).
    pub fn store_results_later(&self, results: Vec<CommittedResult>) {
        let Some(guard) = self.guard.clone() else {
            return;
        };
        if results.is_empty() {
            return;
        }
        self.handle.spawn(async move {
            let stored: Vec<dl_replay::StoredResult<'_>> = results
                .iter()
                .map(|r| dl_replay::StoredResult {
                    caller: &r.caller,
                    request_id: &r.request_id,
                    result: &r.result,
                })
                .collect();
            if let Err(e) = guard.store_results(&stored).await {
                metrics::counter!("dl_worker_results_not_stored_total")
                    .increment(stored.len() as u64);
                tracing::warn!(error = %e, results = stored.len(),
                    "results not stored: their resubmissions answer REQUEST_IN_PROGRESS until the nonces expire");
            }
        });
    }

    /// After a failed Redis round trip: blocks (readiness blocker "redis") until Redis answers
    /// a PING again or `stop` is set.
    pub fn wait_for_redis(&self, health: &Health, stop: &AtomicBool) {
        let Some(guard) = &self.guard else { return };
        let mut backoff = Duration::from_millis(100);
        while !stop.load(Ordering::SeqCst) {
            health.beat();
            match self.handle.block_on(guard.ping()) {
                Ok(()) => {
                    tracing::info!("Redis is reachable again; resuming");
                    redis_up(health);
                    return;
                }
                Err(e) => redis_down(health, &e),
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
}

/// The replay store failed: nothing of the batch may be decided.
#[derive(Debug, thiserror::Error)]
#[error("{0} (fail closed: the batch is not decided and will be consumed again)")]
pub struct ReplayStoreDown(pub ReplayError);

/// Marks Redis as unavailable: metric, readiness blocker "redis", log.
pub fn redis_down(health: &Health, e: &ReplayError) {
    metrics::gauge!("dl_worker_replay_store_up").set(0.0);
    health.set_blocker("redis", Some(e.to_string()));
    tracing::warn!(error = %e, "replay store unavailable: not consuming (fail closed)");
}

/// Marks Redis as available again.
pub fn redis_up(health: &Health) {
    metrics::gauge!("dl_worker_replay_store_up").set(1.0);
    health.set_blocker("redis", None);
}

/// Warns about allow-list entries that do not follow dl-auth's grammar (they match nobody).
pub fn check_allow_lists<'a>(lists: impl Iterator<Item = (&'a str, &'a [String])>) {
    for (function, list) in lists {
        if let Err(e) = dl_auth::validate_allow_list(list) {
            tracing::warn!(function, error = %e, "allow-list entry matches nobody (expected iss:/sub:/scope:/role:/client: terms or *)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_callers_of_two_tenants_never_collide() {
        let p = Some("https://idp|client");
        assert_eq!(replay_caller(p, None), "https://idp|client");
        assert_eq!(replay_caller(None, None), ANONYMOUS);
        assert_ne!(
            replay_caller(p, Some("kela")),
            replay_caller(p, Some("bank"))
        );
        assert_ne!(replay_caller(p, Some("kela")), replay_caller(p, None));
        assert_eq!(replay_caller(p, Some("kela")), "kela/https://idp|client");
    }
}
