//! Reads of the ledger projection: `ledger_records`, `duplicate_outcomes`, `chain_breaks`.

use futures_util::stream::{BoxStream, StreamExt as _};
use serde_json::Value;
use sqlx::PgPool;

use crate::StoreError;

/// A projected ledger record as received.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LedgerRecordRow {
    /// Chain.
    pub chain_id: String,
    /// Sequence in the chain.
    pub sequence: i64,
    /// The full record (docs/ledger-hash.md field names), for re-verification.
    pub record: Value,
}

/// Every projected ledger record, by chain and sequence, streamed (the ledger may not fit in
/// memory).
pub fn ledger_records(pool: &PgPool) -> BoxStream<'_, Result<LedgerRecordRow, StoreError>> {
    sqlx::query_as(
        "SELECT chain_id, sequence, record FROM ledger_records ORDER BY chain_id, sequence",
    )
    .fetch(pool)
    .map(|row| row.map_err(StoreError::from))
    .boxed()
}

/// A ledger record of an outcome whose decision id was already projected (never projected twice).
#[derive(Debug, Clone, PartialEq, Eq, Hash, sqlx::FromRow)]
pub struct DuplicateOutcome {
    /// Chain of the second record.
    pub chain_id: String,
    /// Its sequence.
    pub sequence: i64,
}

/// Every duplicate outcome.
pub async fn duplicate_outcomes(pool: &PgPool) -> Result<Vec<DuplicateOutcome>, StoreError> {
    Ok(
        sqlx::query_as("SELECT chain_id, sequence FROM duplicate_outcomes")
            .fetch_all(pool)
            .await?,
    )
}

/// How many chain breaks of one kind the projector found.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BreakCount {
    /// Break kind (docs/ledger-integrity.md).
    pub break_kind: String,
    /// Breaks of that kind.
    pub breaks: i64,
}

/// Chain breaks by kind (whole ledger), in no particular order.
pub async fn chain_break_counts(pool: &PgPool) -> Result<Vec<BreakCount>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT break_kind, count(*) AS breaks FROM chain_breaks GROUP BY break_kind",
    )
    .fetch_all(pool)
    .await?)
}

/// A row of `tenant_ledger` (migration `20261205000016`): every record's position and hashes, the
/// body only where the connected tenant's auditor may read it (docs/tenancy.md).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TenantLedgerRow {
    /// Chain.
    pub chain_id: String,
    /// Sequence in the chain.
    pub sequence: i64,
    /// `prev_hash` as projected.
    pub prev_hash: String,
    /// `hash` as projected.
    pub hash: String,
    /// Whether the body is shown: the tenant's own record, a key certificate or a checkpoint.
    pub readable: bool,
    /// The full record when readable, as in [`LedgerRecordRow::record`].
    pub record: Option<Value>,
}

/// The tenant the connected role audits (`tenant_auditors`, `dl_add_tenant_auditor`); `None`
/// for a role that is no tenant's auditor (the operator's roles included).
pub async fn audited_tenant(pool: &PgPool) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT tenant FROM tenant_auditors WHERE role_name = current_user")
            .fetch_optional(pool)
            .await?,
    )
}

/// The ledger as the connected tenant's auditor sees it, by chain and sequence, streamed.
pub fn tenant_ledger(pool: &PgPool) -> BoxStream<'_, Result<TenantLedgerRow, StoreError>> {
    sqlx::query_as(
        "SELECT chain_id, sequence, prev_hash, hash, coalesce(readable, false) AS readable, record \
         FROM tenant_ledger \
         ORDER BY chain_id, sequence",
    )
    .fetch(pool)
    .map(|row| row.map_err(StoreError::from))
    .boxed()
}

/// A projected checkpoint (`checkpoints`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CheckpointRow {
    /// Chain.
    pub chain_id: String,
    /// Sequence of the `CHECKPOINT` record.
    pub sequence: i64,
    /// Last sequence it covers.
    pub up_to_sequence: i64,
    /// Hash of that record.
    pub head_hash: String,
    /// RFC 6962 root over the records it covers (ADR 0032), if any.
    pub merkle_root: Option<String>,
    /// Certifier key.
    pub signer_key_id: String,
    /// Signature (base64url).
    pub signature: String,
    /// The projector's verdict on its signature and position.
    pub verified: bool,
}

/// What an inclusion proof of one record is built from (ADR 0032).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofMaterial {
    /// The first checkpoint after the record (the one whose tree holds it).
    pub checkpoint: CheckpointRow,
    /// Sequence of the first record that checkpoint covers.
    pub first_sequence: i64,
    /// Hashes of the records it covers, in sequence order.
    pub segment: Vec<String>,
}

impl ProofMaterial {
    /// The inclusion proof of record `sequence` of `chain_id` under this checkpoint (not yet
    /// verified: the gateway and `dlctl ledger prove` verify it before answering).
    pub fn inclusion_proof(
        &self,
        chain_id: &str,
        sequence: i64,
    ) -> Result<dl_verify::proof::InclusionProof, dl_verify::proof::ProofError> {
        let cp = &self.checkpoint;
        let checkpoint = dl_schema::Checkpoint {
            up_to_sequence: cp.up_to_sequence,
            head_hash: cp.head_hash.clone(),
            merkle_root: cp.merkle_root.clone(),
            signer_key_id: cp.signer_key_id.clone(),
            signature: cp.signature.clone(),
        };
        dl_verify::proof::InclusionProof::build(
            chain_id,
            sequence,
            self.first_sequence,
            &self.segment,
            cp.sequence,
            &checkpoint,
        )
    }
}

/// The checkpoint covering record `sequence` of `chain_id`, and the hashes of the records it
/// covers (at most `max_segment`; a longer segment is an error). `None` while no checkpoint
/// covers the record yet.
pub async fn proof_material(
    pool: &PgPool,
    chain_id: &str,
    sequence: i64,
    max_segment: i64,
) -> Result<Option<ProofMaterial>, StoreError> {
    let checkpoint: Option<CheckpointRow> = sqlx::query_as(
        "SELECT chain_id, sequence, up_to_sequence, head_hash, merkle_root, signer_key_id,
                signature, verified
           FROM checkpoints WHERE chain_id = $1 AND sequence > $2
          ORDER BY sequence LIMIT 1",
    )
    .bind(chain_id)
    .bind(sequence)
    .fetch_optional(pool)
    .await?;
    let Some(checkpoint) = checkpoint else {
        return Ok(None);
    };
    let previous: Option<(i64,)> = sqlx::query_as(
        "SELECT sequence FROM checkpoints WHERE chain_id = $1 AND sequence < $2
          ORDER BY sequence DESC LIMIT 1",
    )
    .bind(chain_id)
    .bind(checkpoint.sequence)
    .fetch_optional(pool)
    .await?;
    let first_sequence = previous.map_or(0, |(s,)| s + 1);
    if checkpoint.merkle_root.is_none()
        || checkpoint.up_to_sequence - first_sequence + 1 > max_segment
    {
        return Ok(Some(ProofMaterial {
            checkpoint,
            first_sequence,
            segment: Vec::new(),
        }));
    }
    let segment: Vec<(String,)> = sqlx::query_as(
        "SELECT hash FROM ledger_records WHERE chain_id = $1 AND sequence BETWEEN $2 AND $3
          ORDER BY sequence",
    )
    .bind(chain_id)
    .bind(first_sequence)
    .bind(checkpoint.up_to_sequence)
    .fetch_all(pool)
    .await?;
    Ok(Some(ProofMaterial {
        checkpoint,
        first_sequence,
        segment: segment.into_iter().map(|(h,)| h).collect(),
    }))
}
