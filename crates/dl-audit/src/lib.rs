//! Audit of Decision Layer from its PostgreSQL projection and registry.
//!
//! * [`AuditReport`]: per function version, from the ledger projection (no sampled or mock
//!   data): decided/rejected counts, request-to-decision latency percentiles, reason and
//!   rejection codes, how many outcomes are signed, verified and checkpointed, the latest replay
//!   verdicts, and a [compliance score](VersionMetrics::compliance_score).
//! * [`Replayer`]: deterministic replay: the recorded input evaluated again with the package of
//!   the recorded digest must give the recorded output and reasons ([`Verdict`]).
//! * [`drift`]: recorded inputs of one version evaluated with another, what would change.
//!
//! Used by `dlctl audit report|replay|drift` and the `dl-auditor` service (docs/audit.md).

mod replay;
mod report;

pub use replay::{
    diff_pointers, drift, DriftReport, RecordedDecision, Replayed, Replayer, Verdict,
};
pub use report::{
    record_replay_run, sample_decisions, unreplayed_decisions, AuditReport, Scope, VersionMetrics,
};

/// Audit failures.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// PostgreSQL failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A read or write of the store failed.
    #[error("{0}")]
    Store(#[from] dl_store::StoreError),
}
