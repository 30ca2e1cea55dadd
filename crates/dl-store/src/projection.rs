//! The ledger projection.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dl_schema::{LedgerRecord, LedgerRecordKind, SigningKeyCertified};
use dl_verify::{BreakKind, ChainVerifier, RecordVerdict, TrustAnchors, VerifyOptions};
use sqlx::{PgConnection, Row};
use thiserror::Error;

/// Database failure (the batch is rolled back and retried by the caller).
#[derive(Debug, Error)]
pub enum StoreError {
    /// SQL error.
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    /// Migration error.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A decoded ledger record (or a decoding failure) with its topic position.
#[derive(Debug, Clone)]
pub struct SourcedRecord {
    /// Topic read.
    pub topic: String,
    /// Partition read.
    pub partition: i32,
    /// Offset read.
    pub offset: i64,
    /// The record, or why it could not be decoded.
    pub record: Result<LedgerRecord, String>,
}

/// What one batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Records written.
    pub projected: u64,
    /// Chain breaks recorded.
    pub breaks: u64,
    /// Outcomes whose decision id was already projected.
    pub duplicates: u64,
}

/// Writes ledger records into PostgreSQL, checking each against its chain.
#[derive(Debug, Clone)]
pub struct Projection {
    anchors: Arc<TrustAnchors>,
    opts: VerifyOptions,
}

/// PostgreSQL text and jsonb cannot hold NUL characters; a ledger record may (it is whatever a
/// producer wrote). For storage they become U+FFFD; the ledger topic keeps the original, and the
/// record's hash is verified before this replacement.
fn pg_safe(record: &LedgerRecord) -> std::borrow::Cow<'_, LedgerRecord> {
    let text = serde_json::to_string(record).unwrap_or_default();
    if !text.contains("\\u0000") {
        return std::borrow::Cow::Borrowed(record);
    }
    match serde_json::from_str(&text.replace("\\u0000", "\\ufffd")) {
        Ok(clean) => std::borrow::Cow::Owned(clean),
        Err(_) => std::borrow::Cow::Borrowed(record),
    }
}

/// A JSON document given as text, as a jsonb-safe value (`\u0000` escapes become U+FFFD).
fn json_text(text: &str) -> serde_json::Value {
    serde_json::from_str(&text.replace("\\u0000", "\\ufffd")).unwrap_or(serde_json::Value::Null)
}

fn pg_text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') {
        std::borrow::Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

fn ts(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl Default for Projection {
    fn default() -> Self {
        Self::new()
    }
}

impl Projection {
    /// A projection.
    ///
    /// Without [`with_integrity`](Self::with_integrity) no trust anchors are known: certificates
    /// and checkpoints are projected as unverified (no `UNTRUSTED_CERTIFIER` breaks), unsigned
    /// decisions are breaks.
    pub fn new() -> Self {
        Self {
            anchors: Arc::new(TrustAnchors::new()),
            opts: VerifyOptions {
                allow_unsigned: false,
                report_untrusted: false,
            },
        }
    }

    /// Sets the trust anchors (certifier keys, from configuration only:
    /// [`dl_verify::anchors_from_env`]) and verification options used for every record. A certificate or
    /// checkpoint by any other key is an `UNTRUSTED_CERTIFIER` break (with
    /// `opts.report_untrusted`) and is projected as unverified, as is everything it certifies.
    pub fn with_integrity(mut self, anchors: TrustAnchors, opts: VerifyOptions) -> Self {
        self.anchors = Arc::new(anchors);
        self.opts = opts;
        self
    }

    /// Projects `batch` (the ledger records not projected yet, in topic order per partition)
    /// with `tx`; the stream's PostgreSQL sink (`dl_stream::run_pg`, [`LedgerStage`]) skips
    /// redeliveries, stores the next offsets and commits.
    pub async fn write(
        &self,
        tx: &mut PgConnection,
        batch: &[SourcedRecord],
    ) -> Result<BatchOutcome, StoreError> {
        let anchors = self.anchors.clone();
        let mut outcome = BatchOutcome::default();
        let mut verifiers: HashMap<String, ChainVerifier> = HashMap::new();

        for item in batch {
            let record = match &item.record {
                Ok(r) => r,
                Err(why) => {
                    record_break(tx, "unknown", None, "UNDECODABLE", why, item).await?;
                    outcome.breaks += 1;
                    continue;
                }
            };
            if !verifiers.contains_key(&record.chain_id) {
                let verifier = self.load_verifier(tx, &record.chain_id).await?;
                verifiers.insert(record.chain_id.clone(), verifier);
            }
            let Some(verifier) = verifiers.get_mut(&record.chain_id) else {
                continue;
            };
            let verdict = verifier.push_record(record, &anchors);
            for b in &verdict.breaks {
                tracing::warn!(chain = %record.chain_id, sequence = record.sequence, kind = b.kind.as_str(), error = %b, "ledger chain break");
                metrics::counter!("dl_projector_chain_breaks_total", "kind" => b.kind.as_str())
                    .increment(1);
                record_break(
                    tx,
                    &record.chain_id,
                    b.sequence.or(Some(record.sequence)),
                    b.kind.as_str(),
                    &b.to_string(),
                    item,
                )
                .await?;
                outcome.breaks += 1;
            }
            let stored = pg_safe(record);
            if insert_record(tx, &stored, item).await? {
                insert_integrity(tx, &stored, &verdict).await?;
                if !insert_outcome(tx, &stored, verdict.verified).await? {
                    outcome.duplicates += 1;
                    metrics::counter!("dl_projector_duplicate_outcomes_total").increment(1);
                }
                outcome.projected += 1;
            } else {
                // Same (chain, sequence) already projected with another hash: a fork.
                let detail = format!(
                    "a different record with sequence {} is already projected",
                    record.sequence
                );
                record_break(
                    tx,
                    &record.chain_id,
                    Some(record.sequence),
                    "FORK",
                    &detail,
                    item,
                )
                .await?;
                metrics::counter!("dl_projector_chain_breaks_total", "kind" => "FORK").increment(1);
                outcome.breaks += 1;
            }
        }

        for (chain, verifier) in &verifiers {
            if let Some((next_sequence, head_hash)) = verifier.head() {
                if next_sequence == 0 {
                    continue;
                }
                let chain = pg_text(chain);
                let head_hash = pg_text(head_hash);
                sqlx::query(
                    "INSERT INTO chain_heads (chain_id, sequence, hash) VALUES ($1, $2, $3)
                     ON CONFLICT (chain_id) DO UPDATE SET sequence = EXCLUDED.sequence, hash = EXCLUDED.hash, updated_at = now()",
                )
                .bind(chain.as_ref())
                .bind(next_sequence - 1)
                .bind(head_hash.as_ref())
                .execute(&mut *tx)
                .await?;
            }
        }
        Ok(outcome)
    }
}

impl Projection {
    /// The verifier of `chain` positioned after its stored head, knowing the chain's
    /// certificates projected so far.
    async fn load_verifier(
        &self,
        tx: &mut PgConnection,
        chain: &str,
    ) -> Result<ChainVerifier, StoreError> {
        let row =
            sqlx::query("SELECT sequence, hash FROM chain_heads WHERE chain_id = $1 FOR UPDATE")
                .bind(pg_text(chain).as_ref())
                .fetch_optional(&mut *tx)
                .await?;
        let Some(row) = row else {
            return Ok(ChainVerifier::new(chain, self.opts));
        };
        let certs = sqlx::query(
            "SELECT sequence, certificate FROM signing_keys WHERE chain_id = $1 ORDER BY sequence",
        )
        .bind(pg_text(chain).as_ref())
        .fetch_all(&mut *tx)
        .await?;
        let certs: Vec<(i64, SigningKeyCertified)> = certs
            .into_iter()
            .filter_map(|r| {
                let cert: Option<SigningKeyCertified> =
                    serde_json::from_value(r.get::<serde_json::Value, _>(1)).ok();
                cert.map(|c| (r.get::<i64, _>(0), c))
            })
            .collect();
        Ok(ChainVerifier::resume(
            chain,
            self.opts,
            row.get::<i64, _>(0),
            row.get::<String, _>(1),
            certs,
            &self.anchors,
        ))
    }
}

/// The details of the first break of `kinds` in `verdict`, for `verify_error`.
fn verify_error(verdict: &RecordVerdict, kinds: &[BreakKind]) -> Option<String> {
    verdict
        .breaks
        .iter()
        .find(|b| kinds.contains(&b.kind))
        .map(|b| b.to_string())
        .or_else(|| {
            (verdict.verified != Some(true))
                .then(|| "not verified: no trust anchor for its signer".into())
        })
}

/// Rows of `signing_keys` and `checkpoints`.
async fn insert_integrity(
    tx: &mut PgConnection,
    r: &LedgerRecord,
    verdict: &RecordVerdict,
) -> Result<(), StoreError> {
    let verified = verdict.verified == Some(true);
    match (r.kind, &r.key_certified, &r.checkpoint) {
        (LedgerRecordKind::SigningKeyCertified, Some(c), _) => {
            let error = verify_error(
                verdict,
                &[BreakKind::BadKeyCertificate, BreakKind::UntrustedCertifier],
            );
            sqlx::query(
                "INSERT INTO signing_keys (chain_id, sequence, key_id, algorithm, public_key, worker_id, valid_from, valid_until,
                    certifier_key_id, certificate_signature, certificate, verified, verify_error)
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) ON CONFLICT DO NOTHING",
            )
            .bind(&r.chain_id)
            .bind(r.sequence)
            .bind(&c.key_id)
            .bind(&c.algorithm)
            .bind(&c.public_key)
            .bind(&c.worker_id)
            .bind(ts(c.valid_from))
            .bind(ts(c.valid_until))
            .bind(&c.certifier_key_id)
            .bind(&c.certificate_signature)
            .bind(serde_json::to_value(c).unwrap_or_default())
            .bind(verified)
            .bind(error.filter(|_| !verified))
            .execute(&mut *tx)
            .await?;
        }
        (LedgerRecordKind::Checkpoint, _, Some(c)) => {
            let error = verify_error(
                verdict,
                &[
                    BreakKind::BadCheckpoint,
                    BreakKind::CheckpointMismatch,
                    BreakKind::UntrustedCertifier,
                ],
            );
            sqlx::query(
                "INSERT INTO checkpoints (chain_id, sequence, up_to_sequence, head_hash, merkle_root, signer_key_id, signature, verified, verify_error)
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT DO NOTHING",
            )
            .bind(&r.chain_id)
            .bind(r.sequence)
            .bind(c.up_to_sequence)
            .bind(&c.head_hash)
            .bind(&c.merkle_root)
            .bind(&c.signer_key_id)
            .bind(&c.signature)
            .bind(verified)
            .bind(error.filter(|_| !verified))
            .execute(&mut *tx)
            .await?;
        }
        _ => {}
    }
    Ok(())
}

async fn record_break(
    tx: &mut PgConnection,
    chain: &str,
    sequence: Option<i64>,
    kind: &str,
    detail: &str,
    item: &SourcedRecord,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO chain_breaks (chain_id, sequence, break_kind, detail, kafka_partition, kafka_offset) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(pg_text(chain).as_ref())
        .bind(sequence)
        .bind(kind)
        .bind(pg_text(detail).as_ref())
        .bind(item.partition)
        .bind(item.offset)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Inserts the raw record; false when another record holds its (chain, sequence).
async fn insert_record(
    tx: &mut PgConnection,
    r: &LedgerRecord,
    item: &SourcedRecord,
) -> Result<bool, StoreError> {
    let json = serde_json::to_value(r).unwrap_or_default();
    let inserted = sqlx::query(
        "INSERT INTO ledger_records (chain_id, sequence, kind, prev_hash, hash, recorded_at, record, topic, kafka_partition, kafka_offset)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (chain_id, sequence) DO NOTHING",
    )
    .bind(&r.chain_id)
    .bind(r.sequence)
    .bind(r.kind.as_str())
    .bind(&r.prev_hash)
    .bind(&r.hash)
    .bind(ts(r.recorded_at))
    .bind(json)
    .bind(&item.topic)
    .bind(item.partition)
    .bind(item.offset)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        return Ok(true);
    }
    let existing: Option<String> =
        sqlx::query_scalar("SELECT hash FROM ledger_records WHERE chain_id = $1 AND sequence = $2")
            .bind(&r.chain_id)
            .bind(r.sequence)
            .fetch_optional(&mut *tx)
            .await?;
    // The very same record again (e.g. re-read after an offset reset) is not a fork.
    Ok(existing.as_deref() == Some(r.hash.as_str()))
}

/// Inserts the decision/rejection row; false when its decision id was already projected.
async fn insert_outcome(
    tx: &mut PgConnection,
    r: &LedgerRecord,
    signature_verified: Option<bool>,
) -> Result<bool, StoreError> {
    let result = match (r.kind, &r.decision, &r.rejection) {
        (LedgerRecordKind::DecisionRecorded, Some(d), _) => {
            let (input, output) = (json_text(&d.input), json_text(&d.output));
            sqlx::query(
                "INSERT INTO decisions (decision_id, request_id, caller, status, function_id, function_version, function_digest,
                    input, output, reasons, legal_basis, as_of, issued_at, decided_at, chain_id, sequence, ledger_hash,
                    source_topic, source_partition, source_offset,
                    signature_algorithm, signature_key_id, signature_value, signature_verified)
                 VALUES ($1,$2,$3,'DECIDED',$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23)
                 ON CONFLICT (decision_id) DO NOTHING",
            )
            .bind(&d.decision_id)
            .bind(&d.request_id)
            .bind(&d.caller)
            .bind(&d.function_id)
            .bind(&d.function_version)
            .bind(&d.function_digest)
            .bind(input)
            .bind(output)
            .bind(serde_json::to_value(&d.reasons).unwrap_or_default())
            .bind(&d.legal_basis)
            .bind(d.as_of.and_then(dl_schema::date::from_avro_days))
            .bind(ts(d.issued_at))
            .bind(ts(d.decided_at))
            .bind(&r.chain_id)
            .bind(r.sequence)
            .bind(&r.hash)
            .bind(&d.source.topic)
            .bind(d.source.partition)
            .bind(d.source.offset)
            .bind(d.signature.as_ref().map(|s| &s.algorithm))
            .bind(d.signature.as_ref().map(|s| &s.key_id))
            .bind(d.signature.as_ref().map(|s| &s.value))
            .bind(signature_verified)
            .execute(&mut *tx)
            .await?
        }
        (LedgerRecordKind::RequestRejected, _, Some(j)) => {
            sqlx::query(
                "INSERT INTO decisions (decision_id, request_id, caller, status, function_id, function_version, rejection_code,
                    rejection_message, decided_at, chain_id, sequence, ledger_hash, source_topic, source_partition, source_offset)
                 VALUES ($1,$2,$3,'REJECTED',$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)
                 ON CONFLICT (decision_id) DO NOTHING",
            )
            .bind(&j.decision_id)
            .bind(&j.request_id)
            .bind(&j.caller)
            .bind(&j.function_id)
            .bind(&j.function_version)
            .bind(&j.code)
            .bind(&j.message)
            .bind(ts(j.decided_at))
            .bind(&r.chain_id)
            .bind(r.sequence)
            .bind(&r.hash)
            .bind(&j.source.topic)
            .bind(j.source.partition)
            .bind(j.source.offset)
            .execute(&mut *tx)
            .await?
        }
        // Key certificates and checkpoints: `insert_integrity`.
        _ => return Ok(true),
    };
    if result.rows_affected() == 1 {
        return Ok(true);
    }
    let decision_id = r
        .decision
        .as_ref()
        .map(|d| &d.decision_id)
        .or(r.rejection.as_ref().map(|j| &j.decision_id));
    sqlx::query("INSERT INTO duplicate_outcomes (decision_id, chain_id, sequence) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(decision_id)
        .bind(&r.chain_id)
        .bind(r.sequence)
        .execute(&mut *tx)
        .await?;
    Ok(false)
}

/// The ledger projection as a stage of the stream mechanism (feature `stream`): decodes each record (an
/// undecodable one is recorded as an `UNDECODABLE` break, never skipped) and projects it.
#[cfg(feature = "stream")]
pub struct LedgerStage {
    projection: Projection,
    codec: dl_schema::Codec<LedgerRecord>,
}

#[cfg(feature = "stream")]
impl LedgerStage {
    /// The stage of `projection`.
    pub fn new(projection: Projection) -> Self {
        Self {
            projection,
            codec: dl_schema::ledger_codec(),
        }
    }
}

#[cfg(feature = "stream")]
impl dl_stream::PgStage for LedgerStage {
    type Error = StoreError;

    async fn write(
        &mut self,
        tx: &mut PgConnection,
        fresh: &[&rdkafka::message::OwnedMessage],
    ) -> Result<(), StoreError> {
        use rdkafka::message::Message;
        let batch: Vec<SourcedRecord> = fresh
            .iter()
            .map(|m| SourcedRecord {
                topic: m.topic().to_string(),
                partition: m.partition(),
                offset: m.offset(),
                record: self
                    .codec
                    .decode(m.payload().unwrap_or_default())
                    .map_err(|e| e.to_string()),
            })
            .collect();
        let outcome = self.projection.write(tx, &batch).await?;
        metrics::counter!("dl_projector_records_total").increment(outcome.projected);
        tracing::debug!(?outcome, "batch projected");
        Ok(())
    }
}
