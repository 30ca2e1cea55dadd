//! Readiness that tells the truth (issue 16): a stream is ready when it has **joined** its
//! consumer group and is **making progress**.
//!
//! - **Joined**: the first assignment since the attempt started has arrived. An empty
//!   assignment counts (a replica beyond the partition count is a legitimate idle member). A
//!   revocation makes the stream not ready again until the next assignment: between the two it
//!   holds nothing and reads nothing. A restarted replica whose predecessor was killed with
//!   `kill -9` therefore reports not-ready until the broker has expired the dead member (its
//!   session timeout) and rebalanced, which is exactly the time it projects nothing.
//! - **Making progress**: a member holding partitions is *stalled*, and not ready, when it is
//!   behind (lag > 0 in librdkafka's statistics, every 5 s) and no batch has completed for
//!   [`STALL_AFTER`] since the last sign of progress: its assignment, a completed batch, or a
//!   lag of 0 (caught up). An unknown lag (nothing fetched yet) is not a stall.
//!
//! The state ([`Readiness`]) is pure and unit-tested; [`Progress`] shares it between the
//! consumer's callbacks, the committing code and the `/readyz` check, which evaluates it at the
//! time of the request (a stage blocked inside a batch cannot report its own stall).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a member holding partitions with lag may go without a completed batch before it
/// counts as stalled. It equals the timeout of one broker call of a batch (`KAFKA_TIMEOUT`):
/// a produce, a commit, a seek that takes longer fails and ends the attempt (which sets the
/// stream's blocker anyway), so a stream with lag and no completed batch for this long is stuck
/// in a way that did not fail. A healthy batch takes milliseconds (BENCHMARKS.md).
pub const STALL_AFTER: Duration = Duration::from_secs(30);

/// Where the stream stands in its consumer group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// No assignment since the attempt started.
    Joining,
    /// The latest rebalance assigned these many partitions (0: an idle member).
    Assigned {
        /// Partitions held.
        partitions: usize,
    },
    /// The partitions were revoked; the next assignment has not arrived.
    Rebalancing,
}

/// A stream's readiness state at one moment (pure: every transition takes the time).
#[derive(Debug, Clone)]
pub struct Readiness {
    membership: Membership,
    lag: Option<i64>,
    progress_at: Instant,
    stall_after: Duration,
}

impl Readiness {
    /// A stream that has just started an attempt: joining, lag unknown.
    pub fn new(now: Instant, stall_after: Duration) -> Self {
        Self {
            membership: Membership::Joining,
            lag: None,
            progress_at: now,
            stall_after,
        }
    }

    /// An assignment arrived (eager protocols: it replaces the previous one). The lag of the
    /// new partitions is not known yet, and the stall clock starts now.
    pub fn assigned(&mut self, partitions: usize, now: Instant) {
        self.membership = Membership::Assigned { partitions };
        self.lag = None;
        self.progress_at = now;
    }

    /// The partitions were revoked (a rebalance began, or the member was expelled).
    pub fn revoked(&mut self) {
        self.membership = Membership::Rebalancing;
        self.lag = None;
    }

    /// A batch completed (committed).
    pub fn batch_done(&mut self, now: Instant) {
        self.progress_at = now;
    }

    /// The lag of the held partitions as last measured (`None`: unknown). A lag of 0 is
    /// progress: the member is caught up.
    pub fn lag(&mut self, lag: Option<i64>, now: Instant) {
        self.lag = lag;
        if lag == Some(0) {
            self.progress_at = now;
        }
    }

    /// Where the stream stands in its group.
    pub fn membership(&self) -> Membership {
        self.membership
    }

    /// Why the stream is not ready at `now`, or `None` when it is.
    pub fn blocker(&self, now: Instant) -> Option<String> {
        match self.membership {
            Membership::Joining => Some("joining the consumer group (no assignment yet)".into()),
            Membership::Rebalancing => {
                Some("rebalancing (partitions revoked, no new assignment yet)".into())
            }
            Membership::Assigned { partitions: 0 } => None,
            Membership::Assigned { partitions } => match self.lag {
                Some(lag) if lag > 0 => {
                    let idle = now.saturating_duration_since(self.progress_at);
                    (idle >= self.stall_after).then(|| {
                        format!(
                            "stalled: {lag} messages behind on {partitions} partitions and no batch completed for {} s",
                            idle.as_secs()
                        )
                    })
                }
                _ => None,
            },
        }
    }
}

/// The lag of one partition from librdkafka's statistics: the readable end (`ls_offset`, the
/// last stable offset under `read_committed`, else `hi_offset`) minus the position (the offset
/// after the last message handed to the application, `app_offset`; before any, the fetch
/// position `next_offset`). `None` when either is not known yet (negative: librdkafka's
/// "invalid").
pub fn partition_lag(
    ls_offset: i64,
    hi_offset: i64,
    app_offset: i64,
    next_offset: i64,
) -> Option<i64> {
    let end = if ls_offset >= 0 { ls_offset } else { hi_offset };
    let position = if app_offset >= 0 {
        app_offset
    } else {
        next_offset
    };
    (end >= 0 && position >= 0).then(|| (end - position).max(0))
}

/// The lag of the held partitions: the sum of the known per-partition lags, `None` when none
/// is known.
pub fn total_lag(lags: impl IntoIterator<Item = Option<i64>>) -> Option<i64> {
    lags.into_iter()
        .flatten()
        .fold(None, |sum, lag| Some(sum.unwrap_or(0) + lag))
}

/// A stream's [`Readiness`], shared by the consumer context (assignments, statistics), the
/// code that commits batches and the service's `/readyz`.
#[derive(Debug)]
pub struct Progress {
    state: Mutex<Readiness>,
    held: Mutex<HashSet<(String, i32)>>,
}

impl Progress {
    /// A new attempt's state.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(Readiness::new(Instant::now(), STALL_AFTER)),
            held: Mutex::new(HashSet::new()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Readiness> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashSet<(String, i32)>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An assignment of `partitions` arrived.
    pub fn assigned(&self, partitions: impl IntoIterator<Item = (String, i32)>) {
        let mut held = self.held();
        *held = partitions.into_iter().collect();
        self.state().assigned(held.len(), Instant::now());
    }

    /// The partitions were revoked.
    pub fn revoked(&self) {
        self.held().clear();
        self.state().revoked();
    }

    /// A batch committed.
    pub fn batch_done(&self) {
        self.state().batch_done(Instant::now());
    }

    /// Whether `(topic, partition)` is held now.
    pub fn holds(&self, topic: &str, partition: i32) -> bool {
        self.held().contains(&(topic.to_string(), partition))
    }

    /// The held partitions' lag as last measured.
    pub fn lag(&self, lag: Option<i64>) {
        self.state().lag(lag, Instant::now());
    }

    /// Why the stream is not ready now, or `None`.
    pub fn blocker(&self) -> Option<String> {
        self.state().blocker(Instant::now())
    }

    /// Where the stream stands in its group.
    pub fn membership(&self) -> Membership {
        self.state().membership()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(30);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn not_ready_until_the_first_assignment_however_long_the_polls_succeed() {
        let t0 = Instant::now();
        let r = Readiness::new(t0, T);
        // The restarted projector of issue 16: polling fine, nothing assigned for 82 s.
        for s in [0, 1, 10, 82, 600] {
            assert!(r.blocker(t0 + secs(s)).unwrap().contains("joining"), "{s}");
        }
    }

    #[test]
    fn an_empty_assignment_is_a_legitimate_idle_member() {
        let t0 = Instant::now();
        let mut r = Readiness::new(t0, T);
        r.assigned(0, t0 + secs(5));
        assert_eq!(r.blocker(t0 + secs(5)), None);
        // It stays ready: it holds nothing that could stall.
        r.lag(Some(100), t0 + secs(6));
        assert_eq!(r.blocker(t0 + secs(3600)), None);
    }

    #[test]
    fn assigned_partitions_make_it_ready_at_once() {
        let t0 = Instant::now();
        let mut r = Readiness::new(t0, T);
        r.assigned(4, t0 + secs(11));
        assert_eq!(r.blocker(t0 + secs(11)), None);
        assert_eq!(r.membership(), Membership::Assigned { partitions: 4 });
    }

    #[test]
    fn a_member_behind_without_a_completed_batch_for_the_bound_is_stalled() {
        let t0 = Instant::now();
        let mut r = Readiness::new(t0, T);
        r.assigned(4, t0);
        r.lag(Some(250), t0 + secs(5));
        // Within the bound: ready (a batch may be under way).
        assert_eq!(r.blocker(t0 + secs(29)), None);
        // At the bound: stalled.
        let why = r.blocker(t0 + T).unwrap();
        assert!(why.contains("stalled") && why.contains("250"), "{why}");
        // A completed batch is progress: ready again, and the clock restarts.
        r.batch_done(t0 + secs(40));
        assert_eq!(r.blocker(t0 + secs(40)), None);
        assert_eq!(r.blocker(t0 + secs(69)), None);
        assert!(r.blocker(t0 + secs(70)).is_some());
    }

    #[test]
    fn a_caught_up_member_is_ready_however_long_nothing_arrives() {
        let t0 = Instant::now();
        let mut r = Readiness::new(t0, T);
        r.assigned(4, t0);
        r.lag(Some(0), t0 + secs(5));
        assert_eq!(r.blocker(t0 + secs(3600)), None);
        // Caught up at 100 s, then behind: the bound counts from the last time it was caught up.
        r.lag(Some(0), t0 + secs(100));
        r.lag(Some(3), t0 + secs(105));
        assert_eq!(r.blocker(t0 + secs(129)), None);
        assert!(r.blocker(t0 + secs(130)).is_some());
    }

    #[test]
    fn an_unknown_lag_is_not_a_stall() {
        let t0 = Instant::now();
        let mut r = Readiness::new(t0, T);
        r.assigned(2, t0);
        assert_eq!(r.blocker(t0 + secs(3600)), None);
        r.lag(Some(7), t0 + secs(1));
        r.lag(None, t0 + secs(2));
        assert_eq!(r.blocker(t0 + secs(3600)), None);
    }

    #[test]
    fn a_revocation_is_not_ready_until_the_next_assignment_which_restarts_the_clock() {
        let t0 = Instant::now();
        let mut r = Readiness::new(t0, T);
        r.assigned(4, t0);
        r.lag(Some(10), t0 + secs(1));
        r.revoked();
        assert!(r.blocker(t0 + secs(2)).unwrap().contains("rebalancing"));
        r.assigned(2, t0 + secs(100));
        // The old lag belonged to the old partitions; the new ones start unknown and fresh.
        assert_eq!(r.blocker(t0 + secs(100)), None);
        r.lag(Some(10), t0 + secs(105));
        assert_eq!(r.blocker(t0 + secs(129)), None);
        assert!(r.blocker(t0 + secs(130)).is_some());
    }

    #[test]
    fn lag_from_statistics() {
        // read_committed: the last stable offset is the end.
        assert_eq!(partition_lag(90, 100, 80, 95), Some(10));
        // No LSO reported: the high watermark.
        assert_eq!(partition_lag(-1001, 100, 80, 95), Some(20));
        // Nothing handed to the application yet: the fetch position.
        assert_eq!(partition_lag(100, 100, -1001, 60), Some(40));
        // Caught up (transaction markers skipped: app_offset is past them).
        assert_eq!(partition_lag(100, 100, 100, 100), Some(0));
        // A position past the end (a stale end) is no lag, never negative.
        assert_eq!(partition_lag(100, 100, 103, 103), Some(0));
        // Nothing known yet.
        assert_eq!(partition_lag(-1001, -1001, -1001, -1001), None);
        assert_eq!(partition_lag(100, 100, -1001, -1001), None);
        assert_eq!(total_lag([Some(3), None, Some(4)]), Some(7));
        assert_eq!(total_lag([None, None]), None);
        assert_eq!(total_lag([]), None);
        assert_eq!(total_lag([Some(0)]), Some(0));
    }

    #[test]
    fn progress_tracks_what_it_holds() {
        let p = Progress::new();
        assert!(p.blocker().is_some());
        p.assigned([("ledger".to_string(), 0), ("ledger".to_string(), 2)]);
        assert!(p.holds("ledger", 2) && !p.holds("ledger", 1));
        assert_eq!(p.membership(), Membership::Assigned { partitions: 2 });
        assert_eq!(p.blocker(), None);
        p.revoked();
        assert!(!p.holds("ledger", 0));
        assert!(p.blocker().is_some());
    }
}
