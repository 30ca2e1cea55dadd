//! The one recovery strategy: crash-only.
//!
//! An attempt connects, builds its stage and runs; any failure ends it, which drops the
//! consumer (leaving the group), the producer (its open transaction aborted) and the stage with
//! everything it held. The next attempt starts from what is durable: the group's committed
//! offsets (Kafka sink) or the offsets stored with the rows (PostgreSQL sink).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dl_telemetry::Health;

use crate::config::StreamConfig;
use crate::metrics;

const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Mark the stream not ready, wait (doubling from 200 ms to 10 s), start again.
    Backoff,
    /// Start again at once: the recovery hook already waited for what failed (Redis, the
    /// signer) to come back.
    Resume,
}

/// Runs `attempt` until it returns `Ok` (stop requested) or `stop` is set, starting it again
/// after every failure as `recover` decides.
pub fn supervise<E: std::fmt::Display>(
    cfg: &StreamConfig,
    stop: &AtomicBool,
    health: &Health,
    mut attempt: impl FnMut() -> Result<(), E>,
    mut recover: impl FnMut(&E) -> Recovery,
) {
    let mut backoff = FIRST_BACKOFF;
    while !stop.load(Ordering::SeqCst) {
        let Err(e) = attempt() else { break };
        metrics::restarted(cfg.metrics);
        match recover(&e) {
            Recovery::Resume => backoff = FIRST_BACKOFF,
            Recovery::Backoff => {
                health.set_blocker(cfg.name, Some(e.to_string()));
                tracing::error!(stream = cfg.name, error = %e, retry_in_ms = backoff.as_millis() as u64, "stream failed; starting again from the durable offsets");
                sleep_unless_stopped(backoff, stop);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let step = Duration::from_millis(50);
    let mut slept = Duration::ZERO;
    while slept < total && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(step);
        slept += step;
    }
}
