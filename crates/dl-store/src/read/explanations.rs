//! Reads of `explain_views`: the redacted explanation views of decisions.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

use crate::StoreError;

/// One audience's view of a decision, with the caller the decision was made for.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Explanation {
    /// `decision_id`.
    pub decision_id: String,
    /// `request_id`.
    pub request_id: String,
    /// `function_id`.
    pub function_id: String,
    /// Version that decided.
    pub function_version: String,
    /// Digest of the package that decided.
    pub function_digest: String,
    /// When it was decided.
    pub decided_at: DateTime<Utc>,
    /// Ledger chain of the decision's record.
    pub chain_id: String,
    /// Sequence of the decision's record.
    pub ledger_sequence: i64,
    /// Hash of the decision's record.
    pub ledger_hash: String,
    /// Legal basis (IRIs).
    pub legal_basis: Vec<String>,
    /// Where the redaction policy came from (`MANIFEST` or `UNKNOWN_FUNCTION`).
    pub policy: String,
    /// Key of the pseudonyms in the view.
    pub pseudonym_key_id: Option<String>,
    /// The audience's view: `{input, output, reasons, manifest}` (a view without this audience
    /// is an error, as it is for the gateway).
    pub view: Value,
    /// The caller the decision was made for (`None`: anonymous, or no `decisions` row yet).
    pub caller: Option<String>,
    /// The decision's tenant (`explain_views.tenant`; `default` for the default tenant). A
    /// reader of another tenant must be answered as if the decision did not exist, and a
    /// subject's `caller` binding holds only within the same tenant (docs/tenancy.md).
    pub tenant: String,
}

/// The view of `audience` (`SUBJECT`, `CASE_WORKER` or `AUDITOR`, the keys of
/// `explain_views.views`) of a decision of `tenant` (another tenant's is `None`).
pub async fn explanation(
    pool: &PgPool,
    tenant: &str,
    decision_id: &str,
    audience: &str,
) -> Result<Option<Explanation>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT e.decision_id, e.request_id, e.function_id, e.function_version, e.function_digest,
                e.decided_at, e.chain_id, e.ledger_sequence, e.ledger_hash, e.legal_basis, e.policy,
                e.pseudonym_key_id, e.views -> $2 AS view, d.caller, e.tenant
         FROM explain_views e LEFT JOIN decisions d USING (decision_id)
         WHERE e.decision_id = $1 AND e.tenant = $3",
    )
    .bind(decision_id)
    .bind(audience)
    .bind(tenant)
    .fetch_optional(pool)
    .await?)
}

/// Whether the explanation of `decision_id` exists in `tenant` (`default` for the default
/// tenant). A decision of another tenant is `false`, exactly like one that does not exist or
/// is not explained yet: callers answer all three alike, so no tenant learns another's ids.
pub async fn explained_in_tenant(
    pool: &PgPool,
    decision_id: &str,
    tenant: &str,
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM explain_views WHERE decision_id = $1 AND tenant = $2)",
    )
    .bind(decision_id)
    .bind(tenant)
    .fetch_one(pool)
    .await?)
}
