//! Reads of `decisions`: one row per request outcome (decided or rejected).

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::PgPool;

use crate::StoreError;

/// A projected outcome as the API shows it: everything but the input and the topic position.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Decision {
    /// `decision_id`.
    pub decision_id: String,
    /// `request_id`.
    pub request_id: String,
    /// The caller the decision was made for (`None`: anonymous).
    pub caller: Option<String>,
    /// `DECIDED` or `REJECTED`.
    pub status: String,
    /// `function_id`.
    pub function_id: String,
    /// Version that decided (`None` for a rejection before a version was selected).
    pub function_version: Option<String>,
    /// Digest of the package that decided.
    pub function_digest: Option<String>,
    /// Stable rejection code (rejections only).
    pub rejection_code: Option<String>,
    /// Rejection message.
    pub rejection_message: Option<String>,
    /// The decision document.
    pub output: Option<Value>,
    /// Reasons (`[{code, message, legal_ref}]`).
    pub reasons: Value,
    /// Legal basis (IRIs).
    pub legal_basis: Vec<String>,
    /// The day the decision was made as of.
    pub as_of: Option<NaiveDate>,
    /// When it was decided.
    pub decided_at: DateTime<Utc>,
    /// Ledger chain of its record.
    pub chain_id: String,
    /// Sequence of its record in the chain.
    pub sequence: i64,
    /// Hash of its ledger record.
    pub ledger_hash: String,
    /// Signature algorithm (signed decisions only).
    pub signature_algorithm: Option<String>,
    /// Signing key id.
    pub signature_key_id: Option<String>,
    /// Signature value.
    pub signature_value: Option<String>,
}

const DECISION_COLUMNS: &str = "decision_id, request_id, caller, status, function_id, function_version,
    function_digest, rejection_code, rejection_message, output, reasons, legal_basis, as_of,
    decided_at, chain_id, sequence, ledger_hash, signature_algorithm, signature_key_id, signature_value";

/// The outcome with this decision id, if it is `tenant`'s (another tenant's is `None`, as an
/// unknown id).
pub async fn decision(
    pool: &PgPool,
    tenant: &str,
    decision_id: &str,
) -> Result<Option<Decision>, StoreError> {
    let sql =
        format!("SELECT {DECISION_COLUMNS} FROM decisions WHERE decision_id = $1 AND tenant = $2");
    Ok(sqlx::query_as(&sql)
        .bind(decision_id)
        .bind(tenant)
        .fetch_optional(pool)
        .await?)
}

/// `tenant`'s outcomes of a request id, newest first, at most `limit` of them.
pub async fn decisions_for_request(
    pool: &PgPool,
    tenant: &str,
    request_id: &str,
    limit: i64,
) -> Result<Vec<Decision>, StoreError> {
    let sql = format!(
        "SELECT {DECISION_COLUMNS} FROM decisions WHERE request_id = $1 AND tenant = $3
         ORDER BY decided_at DESC LIMIT $2"
    );
    Ok(sqlx::query_as(&sql)
        .bind(request_id)
        .bind(limit)
        .bind(tenant)
        .fetch_all(pool)
        .await?)
}

/// What evaluating a recorded decision again needs: the version and package that decided, the
/// recorded input, output and reasons, and whom it was decided for.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RecordedEvaluation {
    /// `decision_id`.
    pub decision_id: String,
    /// The caller the decision was made for (`None`: anonymous).
    pub caller: Option<String>,
    /// `DECIDED` or `REJECTED`.
    pub status: String,
    /// `function_id`.
    pub function_id: String,
    /// Version that decided (`None` for a rejection before a version was selected).
    pub function_version: Option<String>,
    /// Digest of the package that decided.
    pub function_digest: Option<String>,
    /// The recorded input.
    pub input: Option<Value>,
    /// The recorded decision document.
    pub output: Option<Value>,
    /// The recorded reasons.
    pub reasons: Value,
}

/// Columns of [`RecordedEvaluation`], qualified by the alias `d` of `decisions`.
pub(crate) const EVALUATION_COLUMNS: &str = "d.decision_id, d.caller, d.status, d.function_id,
    d.function_version, d.function_digest, d.input, d.output, d.reasons";

/// `tenant`'s outcome with this decision id, with its input (for a what-if on it).
pub async fn recorded_evaluation(
    pool: &PgPool,
    tenant: &str,
    decision_id: &str,
) -> Result<Option<RecordedEvaluation>, StoreError> {
    let sql = format!(
        "SELECT {EVALUATION_COLUMNS} FROM decisions d WHERE d.decision_id = $1 AND d.tenant = $2"
    );
    Ok(sqlx::query_as(&sql)
        .bind(decision_id)
        .bind(tenant)
        .fetch_optional(pool)
        .await?)
}

/// Every column of a `decisions` row (for cross-checking rows against their ledger records):
/// the [`Decision`] and what the API does not show.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DecisionRecord {
    /// The columns the API shows.
    #[sqlx(flatten)]
    pub decision: Decision,
    /// `input`.
    pub input: Option<Value>,
    /// `issued_at`.
    pub issued_at: Option<DateTime<Utc>>,
    /// `source_topic`.
    pub source_topic: String,
    /// `source_partition`.
    pub source_partition: i32,
    /// `source_offset`.
    pub source_offset: i64,
}

/// Every `decisions` row, in no particular order.
pub async fn all_decision_records(pool: &PgPool) -> Result<Vec<DecisionRecord>, StoreError> {
    let sql = format!(
        "SELECT {DECISION_COLUMNS}, input, issued_at, source_topic, source_partition, source_offset
         FROM decisions"
    );
    Ok(sqlx::query_as(&sql).fetch_all(pool).await?)
}
