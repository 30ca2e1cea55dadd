//! The ledger projection.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dl_schema::{LedgerRecord, LedgerRecordKind, SigningKeyCertified};
use dl_verify::{BreakKind, ChainVerifier, RecordVerdict, TrustAnchors, VerifyOptions};
use rayon::prelude::*;
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
    single_signatures: bool,
}

/// The record as stored, and its JSON text for the `record` column (serialized once).
/// PostgreSQL text and jsonb cannot hold NUL characters; a ledger record may (it is whatever a
/// producer wrote). For storage they become U+FFFD; the ledger topic keeps the original, and the
/// record's hash is verified before this replacement.
fn pg_safe(record: &LedgerRecord) -> (Cow<'_, LedgerRecord>, String) {
    let text = serde_json::to_string(record).unwrap_or_default();
    if !text.contains("\\u0000") {
        return (Cow::Borrowed(record), text);
    }
    let text = text.replace("\\u0000", "\\ufffd");
    match serde_json::from_str(&text) {
        Ok(clean) => (Cow::Owned(clean), text),
        Err(_) => (Cow::Borrowed(record), text),
    }
}

/// A JSON document given as text, as a jsonb-safe value (`\u0000` escapes become U+FFFD).
fn json_text(text: &str) -> serde_json::Value {
    serde_json::from_str(&text.replace("\\u0000", "\\ufffd")).unwrap_or(serde_json::Value::Null)
}

fn pg_text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
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
            single_signatures: false,
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

    /// Verifies every decision signature with the strict check on its own instead of in batches
    /// (ADR 0025: slower; refuses the one kind of signature, craftable only by the key holder,
    /// that batch verification accepts).
    pub fn single_signatures(mut self, on: bool) -> Self {
        self.single_signatures = on;
        self
    }

    /// Projects `batch` (the ledger records not projected yet, in topic order per partition)
    /// with `tx`; the stream's PostgreSQL sink (`dl_stream::run_pg`, [`LedgerStage`]) skips
    /// redeliveries, stores the next offsets and commits. Each chain is verified from its
    /// stored head.
    pub async fn write(
        &self,
        tx: &mut PgConnection,
        batch: &[SourcedRecord],
    ) -> Result<BatchOutcome, StoreError> {
        self.write_with(tx, batch, &mut VerifierCache::default())
            .await
    }

    /// [`write`](Self::write), continuing each chain with the verifier `cache` holds for it
    /// when that verifier ends at the chain's stored head (else it is loaded from the database),
    /// and leaving the verifiers of the batch's chains in `cache`. Give it only verifiers of
    /// committed batches ([`LedgerStage`] does).
    pub async fn write_with(
        &self,
        tx: &mut PgConnection,
        batch: &[SourcedRecord],
        cache: &mut VerifierCache,
    ) -> Result<BatchOutcome, StoreError> {
        let mut outcome = BatchOutcome::default();
        let verdicts = self.verify(tx, batch, cache).await?;
        let verifiers = verdicts.verifiers;

        // Breaks in topic order, as record-by-record projection wrote them; the rows to insert
        // are prepared (NUL-safe copy, the `record` column's JSON) on all cores.
        let mut accepted: Vec<(&SourcedRecord, &LedgerRecord, RecordVerdict)> = Vec::new();
        for (item, verdict) in batch.iter().zip(verdicts.per_item) {
            let (record, verdict) = match (&item.record, verdict) {
                (Ok(r), Some(v)) => (r, v),
                (Ok(_), None) => continue,
                (Err(why), _) => {
                    record_break(tx, "unknown", None, "UNDECODABLE", why, item).await?;
                    outcome.breaks += 1;
                    continue;
                }
            };
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
            accepted.push((item, record, verdict));
        }
        let pending: Vec<Pending<'_>> = accepted
            .into_par_iter()
            .with_min_len(64)
            .map(|(item, record, verdict)| {
                let (stored, json) = pg_safe(record);
                (item, stored, verdict, json)
            })
            .collect();

        // The common case in two statements: every record, then every decision of the records
        // that went in. What does not go in (a fork, a record or decision projected before)
        // takes the record-by-record path, in topic order.
        let inserted = insert_records(tx, &pending).await?;
        let mut decided = Vec::new();
        for ((item, stored, verdict, _), inserted) in pending.iter().zip(&inserted) {
            if !*inserted {
                self.write_one(tx, item, stored, verdict, &mut outcome)
                    .await?;
                continue;
            }
            outcome.projected += 1;
            insert_integrity(tx, stored, verdict).await?;
            match (stored.kind, &stored.decision) {
                (LedgerRecordKind::DecisionRecorded, Some(_)) => {
                    decided.push((stored.as_ref(), verdict))
                }
                _ => {
                    if !insert_outcome(tx, stored, verdict.verified).await? {
                        outcome.duplicates += 1;
                        metrics::counter!("dl_projector_duplicate_outcomes_total").increment(1);
                    }
                }
            }
        }
        for (stored, verdict) in insert_decisions(tx, &decided).await? {
            // Already projected: record the duplicate the row-by-row way.
            if !insert_outcome(tx, stored, verdict.verified).await? {
                outcome.duplicates += 1;
                metrics::counter!("dl_projector_duplicate_outcomes_total").increment(1);
            }
        }

        store_heads(tx, &verifiers).await?;
        cache.0.extend(verifiers);
        Ok(outcome)
    }
}

/// Chain verifiers kept from one committed batch to the next. A verifier resumed from the
/// stored head knows neither the chain's certificates without reading them again nor the
/// records since its last checkpoint, so it cannot check the next checkpoint's Merkle root
/// (ADR 0032); a kept one can. Bounded by the number of chains (one per worker partition and key).
#[derive(Debug, Default)]
pub struct VerifierCache(HashMap<String, ChainVerifier>);

/// A record ready to insert: its source, the NUL-safe record, its verdict and the `record`
/// column's JSON text.
type Pending<'a> = (
    &'a SourcedRecord,
    Cow<'a, LedgerRecord>,
    RecordVerdict,
    String,
);

/// The verdicts on a batch: per item in topic order (`None` for an undecodable one), and the
/// verifier of every chain the batch touched.
struct BatchVerdicts {
    per_item: Vec<Option<RecordVerdict>>,
    verifiers: HashMap<String, ChainVerifier>,
}

impl Projection {
    /// Verifies the batch chain by chain, each chain's records together
    /// ([`ChainVerifier::push_records`]: hashes and checks on all cores, the decision signatures
    /// of one key in batches, ADR 0025), from each chain's stored head. Verdicts and breaks are
    /// those of checking the records one by one.
    async fn verify(
        &self,
        tx: &mut PgConnection,
        batch: &[SourcedRecord],
        cache: &mut VerifierCache,
    ) -> Result<BatchVerdicts, StoreError> {
        let mut positions: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, item) in batch.iter().enumerate() {
            if let Ok(record) = &item.record {
                positions.entry(&record.chain_id).or_default().push(i);
            }
        }
        let heads = lock_heads(tx, positions.keys().copied()).await?;
        let mut verifiers: HashMap<String, ChainVerifier> = HashMap::new();
        for &chain in positions.keys() {
            let kept = cache.0.remove(chain);
            let stored = heads.get(pg_text(chain).as_ref()).cloned();
            let verifier = self.load_verifier(tx, chain, stored, kept).await?;
            verifiers.insert(chain.to_string(), verifier);
        }
        let mut per_item = vec![None; batch.len()];
        for (chain, at) in positions {
            let Some(verifier) = verifiers.get_mut(chain) else {
                continue;
            };
            let records: Vec<&LedgerRecord> = at
                .iter()
                .filter_map(|&i| batch[i].record.as_ref().ok())
                .collect();
            for (i, verdict) in at
                .into_iter()
                .zip(verifier.push_records(&records, &self.anchors))
            {
                per_item[i] = Some(verdict);
            }
        }
        Ok(BatchVerdicts {
            per_item,
            verifiers,
        })
    }
}

impl Projection {
    /// Projects one record the careful way: insert it, or tell the very same record again
    /// from a fork; then its integrity rows and its outcome.
    async fn write_one(
        &self,
        tx: &mut PgConnection,
        item: &SourcedRecord,
        stored: &LedgerRecord,
        verdict: &RecordVerdict,
        outcome: &mut BatchOutcome,
    ) -> Result<(), StoreError> {
        if insert_record(tx, stored, item).await? {
            insert_integrity(tx, stored, verdict).await?;
            if !insert_outcome(tx, stored, verdict.verified).await? {
                outcome.duplicates += 1;
                metrics::counter!("dl_projector_duplicate_outcomes_total").increment(1);
            }
            outcome.projected += 1;
        } else {
            // Same (chain, sequence) already projected with another hash: a fork.
            let detail = format!(
                "a different record with sequence {} is already projected",
                stored.sequence
            );
            record_break(
                tx,
                &stored.chain_id,
                Some(stored.sequence),
                "FORK",
                &detail,
                item,
            )
            .await?;
            metrics::counter!("dl_projector_chain_breaks_total", "kind" => "FORK").increment(1);
            outcome.breaks += 1;
        }
        Ok(())
    }

    /// The verifier of `chain` positioned after its `stored` head (locked for the transaction by
    /// [`lock_heads`]): `kept` when it ends there, else one knowing the chain's certificates
    /// projected so far.
    async fn load_verifier(
        &self,
        tx: &mut PgConnection,
        chain: &str,
        stored: Option<(i64, String)>,
        kept: Option<ChainVerifier>,
    ) -> Result<ChainVerifier, StoreError> {
        if let (Some(v), Some((sequence, hash))) = (kept, &stored) {
            if v.head()
                .is_some_and(|(next, h)| next == sequence + 1 && pg_text(h) == hash.as_str())
            {
                return Ok(v);
            }
        }
        let Some((sequence, hash)) = stored else {
            return Ok(
                ChainVerifier::new(chain, self.opts).single_signatures(self.single_signatures)
            );
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
        Ok(
            ChainVerifier::resume(chain, self.opts, sequence, hash, certs, &self.anchors)
                .single_signatures(self.single_signatures),
        )
    }
}

/// Locks the stored heads of `chains` for the transaction, in one statement and in chain order
/// (so two replicas lock in the same order); keyed by the NUL-safe chain id.
async fn lock_heads<'a>(
    tx: &mut PgConnection,
    chains: impl Iterator<Item = &'a str>,
) -> Result<HashMap<String, (i64, String)>, StoreError> {
    let chains: Vec<String> = chains.map(|c| pg_text(c).into_owned()).collect();
    if chains.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT chain_id, sequence, hash FROM chain_heads WHERE chain_id = ANY($1)
         ORDER BY chain_id FOR UPDATE",
    )
    .bind(&chains)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(chain, sequence, hash)| (chain, (sequence, hash)))
        .collect())
}

/// Stores the head of every chain `verifiers` advanced, in one statement. Keyed by the
/// NUL-safe chain id: two chain ids of a tampered ledger that differ only by a NUL share one
/// row (one statement may not update a row twice).
async fn store_heads(
    tx: &mut PgConnection,
    verifiers: &HashMap<String, ChainVerifier>,
) -> Result<(), StoreError> {
    let heads: BTreeMap<Cow<'_, str>, (i64, Cow<'_, str>)> = verifiers
        .iter()
        .filter_map(|(chain, verifier)| {
            let (next_sequence, head_hash) = verifier.head()?;
            (next_sequence > 0).then(|| (pg_text(chain), (next_sequence - 1, pg_text(head_hash))))
        })
        .collect();
    if heads.is_empty() {
        return Ok(());
    }
    let chains: Vec<&str> = heads.keys().map(AsRef::as_ref).collect();
    let sequences: Vec<i64> = heads.values().map(|(sequence, _)| *sequence).collect();
    let hashes: Vec<&str> = heads.values().map(|(_, hash)| hash.as_ref()).collect();
    sqlx::query(
        "INSERT INTO chain_heads (chain_id, sequence, hash)
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])
         ON CONFLICT (chain_id) DO UPDATE SET sequence = EXCLUDED.sequence, hash = EXCLUDED.hash, updated_at = now()",
    )
    .bind(&chains)
    .bind(&sequences)
    .bind(&hashes)
    .execute(&mut *tx)
    .await?;
    Ok(())
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

/// Inserts every record of `pending` in one statement, in order; per record, whether it went
/// in (false: its (chain, sequence) was taken, by an earlier batch or an earlier record of this
/// one).
async fn insert_records(
    tx: &mut PgConnection,
    pending: &[Pending<'_>],
) -> Result<Vec<bool>, StoreError> {
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    let n = pending.len();
    let (mut chain, mut sequence, mut kind, mut prev, mut hash) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut recorded, mut json, mut topic, mut partition, mut offset) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut tenant = Vec::with_capacity(n);
    for (item, r, _, record_json) in pending {
        tenant.push(r.tenant());
        chain.push(r.chain_id.as_str());
        sequence.push(r.sequence);
        kind.push(r.kind.as_str());
        prev.push(r.prev_hash.as_str());
        hash.push(r.hash.as_str());
        recorded.push(ts(r.recorded_at));
        json.push(record_json.as_str());
        topic.push(item.topic.as_str());
        partition.push(item.partition);
        offset.push(item.offset);
    }
    let rows = sqlx::query(
        "INSERT INTO ledger_records (chain_id, sequence, kind, prev_hash, hash, recorded_at, record, topic, kafka_partition, kafka_offset, tenant)
         SELECT c, s, k, p, h, t, j::jsonb, tp, kp, ko, te
         FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[],
                     $8::text[], $9::int[], $10::bigint[], $11::text[]) WITH ORDINALITY AS r(c, s, k, p, h, t, j, tp, kp, ko, te, ord)
         ORDER BY ord
         ON CONFLICT (chain_id, sequence) DO NOTHING
         RETURNING chain_id, sequence, hash",
    )
    .bind(&chain)
    .bind(&sequence)
    .bind(&kind)
    .bind(&prev)
    .bind(&hash)
    .bind(&recorded)
    .bind(&json)
    .bind(&topic)
    .bind(&partition)
    .bind(&offset)
    .bind(&tenant)
    .fetch_all(&mut *tx)
    .await?;
    let mut went_in: HashMap<(String, i64), String> = rows
        .iter()
        .map(|row| {
            Ok((
                (row.try_get("chain_id")?, row.try_get("sequence")?),
                row.try_get("hash")?,
            ))
        })
        .collect::<Result<_, sqlx::Error>>()?;
    // The first record of a (chain, sequence) in topic order is the one that went in.
    Ok(pending
        .iter()
        .map(|(_, r, _, _)| {
            let key = (r.chain_id.clone(), r.sequence);
            match went_in.get(&key) {
                Some(h) if *h == r.hash => {
                    went_in.remove(&key);
                    true
                }
                _ => false,
            }
        })
        .collect())
}

/// Inserts the `DECIDED` rows of `decided` in one statement, in order; returns those whose
/// decision id was already taken (projected before, or twice in this batch).
async fn insert_decisions<'a>(
    tx: &mut PgConnection,
    decided: &[(&'a LedgerRecord, &'a RecordVerdict)],
) -> Result<Vec<(&'a LedgerRecord, &'a RecordVerdict)>, StoreError> {
    let rows: Vec<(&LedgerRecord, &dl_schema::DecisionRecorded, Option<bool>)> = decided
        .iter()
        .filter_map(|(r, v)| r.decision.as_ref().map(|d| (*r, d, v.verified)))
        .collect();
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    macro_rules! column {
        ($f:expr) => {
            rows.iter().map($f).collect::<Vec<_>>()
        };
    }
    let returned = sqlx::query(
        "INSERT INTO decisions (decision_id, request_id, caller, status, function_id, function_version, function_digest,
            input, output, reasons, legal_basis, as_of, issued_at, decided_at, chain_id, sequence, ledger_hash,
            source_topic, source_partition, source_offset,
            signature_algorithm, signature_key_id, signature_value, signature_verified, tenant)
         SELECT a1, a2, a3, 'DECIDED', a4, a5, a6, a7, a8, a9, ARRAY(SELECT jsonb_array_elements_text(a10)), a11, a12, a13,
                a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::jsonb[],
                     $9::jsonb[], $10::jsonb[], $11::date[], $12::timestamptz[], $13::timestamptz[], $14::text[],
                     $15::bigint[], $16::text[], $17::text[], $18::int[], $19::bigint[], $20::text[], $21::text[],
                     $22::text[], $23::bool[], $24::text[])
              WITH ORDINALITY AS d(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18,
                                   a19, a20, a21, a22, a23, a24, ord)
         ORDER BY ord
         ON CONFLICT (decision_id) DO NOTHING
         RETURNING decision_id",
    )
    .bind(column!(|(_, d, _)| d.decision_id.as_str()))
    .bind(column!(|(_, d, _)| d.request_id.as_str()))
    .bind(column!(|(_, d, _)| d.caller.as_deref()))
    .bind(column!(|(_, d, _)| d.function_id.as_str()))
    .bind(column!(|(_, d, _)| d.function_version.as_str()))
    .bind(column!(|(_, d, _)| d.function_digest.as_str()))
    .bind(column!(|(_, d, _)| json_text(&d.input)))
    .bind(column!(|(_, d, _)| json_text(&d.output)))
    .bind(column!(|(_, d, _)| serde_json::to_value(&d.reasons)
        .unwrap_or_default()))
    .bind(column!(|(_, d, _)| serde_json::to_value(&d.legal_basis)
        .unwrap_or_default()))
    .bind(column!(|(_, d, _)| d
        .as_of
        .and_then(dl_schema::date::from_avro_days)))
    .bind(column!(|(_, d, _)| ts(d.issued_at)))
    .bind(column!(|(_, d, _)| ts(d.decided_at)))
    .bind(column!(|(r, _, _)| r.chain_id.as_str()))
    .bind(column!(|(r, _, _)| r.sequence))
    .bind(column!(|(r, _, _)| r.hash.as_str()))
    .bind(column!(|(_, d, _)| d.source.topic.as_str()))
    .bind(column!(|(_, d, _)| d.source.partition))
    .bind(column!(|(_, d, _)| d.source.offset))
    .bind(column!(|(_, d, _)| d
        .signature
        .as_ref()
        .map(|s| s.algorithm.as_str())))
    .bind(column!(|(_, d, _)| d
        .signature
        .as_ref()
        .map(|s| s.key_id.as_str())))
    .bind(column!(|(_, d, _)| d
        .signature
        .as_ref()
        .map(|s| s.value.as_str())))
    .bind(column!(|(_, _, v)| *v))
    .bind(column!(|(r, _, _)| r.tenant()))
    .fetch_all(&mut *tx)
    .await?;
    let mut went_in: HashMap<String, usize> = HashMap::new();
    for row in &returned {
        *went_in.entry(row.try_get("decision_id")?).or_default() += 1;
    }
    // The first row of a decision id in order went in; every other one is a duplicate.
    Ok(decided
        .iter()
        .filter(|(r, _)| {
            let Some(d) = &r.decision else { return false };
            match went_in.get_mut(&d.decision_id) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    false
                }
                _ => true,
            }
        })
        .copied()
        .collect())
}

/// Inserts the raw record; false when another record holds its (chain, sequence).
async fn insert_record(
    tx: &mut PgConnection,
    r: &LedgerRecord,
    item: &SourcedRecord,
) -> Result<bool, StoreError> {
    let json = serde_json::to_value(r).unwrap_or_default();
    let inserted = sqlx::query(
        "INSERT INTO ledger_records (chain_id, sequence, kind, prev_hash, hash, recorded_at, record, topic, kafka_partition, kafka_offset, tenant)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (chain_id, sequence) DO NOTHING",
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
    .bind(r.tenant())
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
                    signature_algorithm, signature_key_id, signature_value, signature_verified, tenant)
                 VALUES ($1,$2,$3,'DECIDED',$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24)
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
            .bind(r.tenant())
            .execute(&mut *tx)
            .await?
        }
        (LedgerRecordKind::RequestRejected, _, Some(j)) => {
            sqlx::query(
                "INSERT INTO decisions (decision_id, request_id, caller, status, function_id, function_version, rejection_code,
                    rejection_message, decided_at, chain_id, sequence, ledger_hash, source_topic, source_partition, source_offset,
                    tenant)
                 VALUES ($1,$2,$3,'REJECTED',$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)
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
            .bind(r.tenant())
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
    /// Verifiers as of the last committed batch.
    verifiers: VerifierCache,
    /// Verifiers after the batch being committed (promoted by `committed`).
    staged: Option<VerifierCache>,
}

#[cfg(feature = "stream")]
impl LedgerStage {
    /// The stage of `projection`.
    pub fn new(projection: Projection) -> Self {
        Self {
            projection,
            codec: dl_schema::ledger_codec(),
            verifiers: VerifierCache::default(),
            staged: None,
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
        // Decoding is independent per message: on all cores.
        let batch: Vec<SourcedRecord> = fresh
            .par_iter()
            .with_min_len(64)
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
        // A failed batch drops the stage (dl_stream starts a fresh one), so the verifiers taken
        // here never outlive an uncommitted batch.
        let mut verifiers = std::mem::take(&mut self.verifiers);
        let outcome = self
            .projection
            .write_with(tx, &batch, &mut verifiers)
            .await?;
        self.staged = Some(verifiers);
        metrics::counter!("dl_projector_records_total").increment(outcome.projected);
        tracing::debug!(?outcome, "batch projected");
        Ok(())
    }

    fn committed(&mut self) {
        if let Some(verifiers) = self.staged.take() {
            self.verifiers = verifiers;
        }
    }
}
