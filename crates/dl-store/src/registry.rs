//! The PostgreSQL projection of the registry (tables of `migrations/*_registry.sql`), an adapter
//! of the pure `dl-registry` core: it lives here because `dl-store` owns PostgreSQL.
//!
//! The projection folds **every** event of the topic through the same [`Registry`] state machine
//! as the workers (so an event the workers refuse is recorded as refused, never projected as a
//! change), and writes the rows of the events at or after the stored offset. Rows and the next
//! offset are written in one transaction (table `projector_offsets`, like the ledger
//! projection), so a redelivered or re-read event is never written twice; every write is an
//! upsert of the version's current state, so replaying is harmless anyway.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dl_schema::{RegistryEvent, RegistryEventKind};
use sqlx::{PgPool, Postgres, Transaction};

use dl_registry::{ApproverSet, Registry, VersionEntry};

/// One consumed registry message.
#[derive(Debug, Clone)]
pub struct SourcedEvent {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// The decoded event, or why it could not be decoded.
    pub event: Result<RegistryEvent, String>,
}

/// What a batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProjectionOutcome {
    /// Events whose change was written.
    pub applied: u64,
    /// Events recorded as refused.
    pub refused: u64,
    /// Events below the stored offset (folded, not written).
    pub already_projected: u64,
}

/// The registry projection of one consumer group and topic.
pub struct RegistryProjection {
    pool: PgPool,
    group: String,
    topic: String,
    registry: Registry,
    stored: HashMap<i32, i64>,
}

fn ts(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl RegistryProjection {
    /// Loads the stored offsets of `group` for `topic`. The caller must then feed every event
    /// from the beginning of the topic (the state is rebuilt in memory).
    pub async fn new(
        pool: PgPool,
        group: &str,
        topic: &str,
        approvers: Arc<ApproverSet>,
    ) -> Result<Self, sqlx::Error> {
        let rows: Vec<(i32, i64)> = sqlx::query_as("SELECT kafka_partition, next_offset FROM projector_offsets WHERE consumer_group = $1 AND topic = $2")
            .bind(group)
            .bind(topic)
            .fetch_all(&pool)
            .await?;
        Ok(Self {
            pool,
            group: group.to_string(),
            topic: topic.to_string(),
            registry: Registry::new(approvers),
            stored: rows.into_iter().collect(),
        })
    }

    /// The folded state.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Folds and writes a batch (in topic order) in one transaction. On error nothing changes,
    /// in memory or in the database, and the same batch can be retried.
    pub async fn apply_batch(
        &mut self,
        batch: &[SourcedEvent],
    ) -> Result<ProjectionOutcome, sqlx::Error> {
        let mut next = self.registry.clone();
        let mut stored = self.stored.clone();
        let mut outcome = ProjectionOutcome::default();
        let mut tx = self.pool.begin().await?;
        for item in batch {
            let write = item.offset >= stored.get(&item.partition).copied().unwrap_or(0);
            let result = match &item.event {
                Ok(e) => next
                    .apply(e)
                    .map_err(|err| (err.code().to_string(), err.to_string())),
                Err(why) => Err(("MALFORMED_EVENT".to_string(), why.clone())),
            };
            if !write {
                outcome.already_projected += 1;
                continue;
            }
            match result {
                Ok(()) => {
                    write_change(
                        &mut tx,
                        &next,
                        item.event.as_ref().expect("applied events decoded"),
                    )
                    .await?;
                    outcome.applied += 1;
                }
                Err((code, message)) => {
                    let e = item.event.as_ref().ok();
                    sqlx::query(
                        "INSERT INTO registry_refused_events (topic, kafka_partition, kafka_offset, kind, function_id, version, code, message)
                         VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT DO NOTHING",
                    )
                    .bind(&self.topic)
                    .bind(item.partition)
                    .bind(item.offset)
                    .bind(e.map(|e| e.kind.as_str()))
                    .bind(e.and_then(|e| e.function_id.clone()))
                    .bind(e.and_then(|e| e.version.clone()))
                    .bind(code)
                    .bind(message)
                    .execute(&mut *tx)
                    .await?;
                    outcome.refused += 1;
                }
            }
            stored.insert(item.partition, item.offset + 1);
        }
        for (partition, offset) in &stored {
            if self.stored.get(partition) == Some(offset) {
                continue;
            }
            sqlx::query(
                "INSERT INTO projector_offsets (consumer_group, topic, kafka_partition, next_offset) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (consumer_group, topic, kafka_partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
            )
            .bind(&self.group)
            .bind(&self.topic)
            .bind(partition)
            .bind(offset)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.registry = next;
        self.stored = stored;
        Ok(outcome)
    }
}

async fn write_change(
    tx: &mut Transaction<'_, Postgres>,
    registry: &Registry,
    event: &RegistryEvent,
) -> Result<(), sqlx::Error> {
    match event.kind {
        RegistryEventKind::LegalReferenceStatusChanged => {
            let Some(body) = &event.legal_status else {
                return Ok(());
            };
            let iri = dl_legal::LegalRef::parse(&body.iri)
                .map(|r| r.act_iri())
                .unwrap_or_else(|_| body.iri.clone());
            let status = registry.legal_statuses().find(|s| s.iri == iri);
            if let Some(s) = status {
                sqlx::query(
                    "INSERT INTO legal_reference_status (iri, status, title, latest_consolidated, detail, checked_at) VALUES ($1,$2,$3,$4,$5,$6)
                     ON CONFLICT (iri) DO UPDATE SET status = EXCLUDED.status, title = EXCLUDED.title,
                       latest_consolidated = EXCLUDED.latest_consolidated, detail = EXCLUDED.detail, checked_at = EXCLUDED.checked_at",
                )
                .bind(&s.iri)
                .bind(s.status.as_str())
                .bind(&s.title)
                .bind(s.latest_consolidated)
                .bind(&s.detail)
                .bind(ts(s.checked_at))
                .execute(&mut **tx)
                .await?;
            }
            // Review flags may have changed on any version.
            for entry in registry
                .all_versions()
                .filter(|e| !e.review_required.is_empty())
            {
                upsert_version(tx, entry).await?;
            }
            Ok(())
        }
        _ => {
            let (Some(id), Some(v)) = (&event.function_id, &event.version) else {
                return Ok(());
            };
            let Ok(version) = semver::Version::parse(v) else {
                return Ok(());
            };
            if let Some(entry) = registry.version(id, &version) {
                upsert_version(tx, entry).await?;
            }
            Ok(())
        }
    }
}

async fn upsert_version(
    tx: &mut Transaction<'_, Postgres>,
    e: &VersionEntry,
) -> Result<(), sqlx::Error> {
    let m = e.manifest();
    let version = e.version.to_string();
    sqlx::query("INSERT INTO functions (function_id, first_published_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(&e.function_id)
        .bind(ts(e.published_at))
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO function_versions (function_id, version, version_major, version_minor, version_patch, version_pre, digest, title, owner,
            author, published_at, state, effective_from, effective_to, allowed_callers, manifest, activated_by, activated_at,
            retired_by, retired_at, retire_reason, review_required)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22)
         ON CONFLICT (function_id, version) DO UPDATE SET state = EXCLUDED.state, activated_by = EXCLUDED.activated_by,
            activated_at = EXCLUDED.activated_at, retired_by = EXCLUDED.retired_by, retired_at = EXCLUDED.retired_at,
            retire_reason = EXCLUDED.retire_reason, review_required = EXCLUDED.review_required",
    )
    .bind(&e.function_id)
    .bind(&version)
    .bind(e.version.major as i64)
    .bind(e.version.minor as i64)
    .bind(e.version.patch as i64)
    .bind(e.version.pre.as_str())
    .bind(&e.digest)
    .bind(&m.title)
    .bind(serde_json::to_value(&m.owner).unwrap_or_default())
    .bind(&e.author)
    .bind(ts(e.published_at))
    .bind(e.state.as_str())
    .bind(m.effective_from)
    .bind(m.effective_to)
    .bind(&m.allowed_callers)
    .bind(serde_json::to_value(m).unwrap_or_default())
    .bind(e.activated.as_ref().map(|t| t.by.clone()))
    .bind(e.activated.as_ref().map(|t| ts(t.at)))
    .bind(e.retired.as_ref().map(|t| t.by.clone()))
    .bind(e.retired.as_ref().map(|t| ts(t.at)))
    .bind(e.retired.as_ref().and_then(|t| t.reason.clone()))
    .bind(&e.review_required)
    .execute(&mut **tx)
    .await?;
    for a in &e.approvals {
        sqlx::query(
            "INSERT INTO function_approvals (function_id, version, role, approver_id, key_id, signature, approved_at)
             VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING",
        )
        .bind(&e.function_id)
        .bind(&version)
        .bind(if a.role == dl_schema::ApproverRole::Owner { "OWNER" } else { "REVIEWER" })
        .bind(&a.approver_id)
        .bind(&a.key_id)
        .bind(&a.signature)
        .bind(ts(a.approved_at))
        .execute(&mut **tx)
        .await?;
    }
    for (i, b) in m.legal_basis.iter().enumerate() {
        sqlx::query("INSERT INTO legal_references (function_id, version, ref_id, iri, title, position) VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING")
            .bind(&e.function_id)
            .bind(&version)
            .bind(&b.id)
            .bind(&b.iri)
            .bind(&b.title)
            .bind(i as i32)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Consumes `topic` from the beginning (read_committed) forever and projects it into `pool`,
/// retrying a failed batch until PostgreSQL takes it. Returns only on a setup error.
pub async fn run(
    brokers: &str,
    topic: &str,
    pool: PgPool,
    group: &str,
    approvers: Arc<ApproverSet>,
) -> Result<(), crate::StoreError> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::message::Message;
    use std::time::Duration;

    let mut projection = loop {
        match RegistryProjection::new(pool.clone(), group, topic, approvers.clone()).await {
            Ok(p) => break p,
            Err(e) => {
                tracing::warn!(error = %e, "registry projection: reading stored offsets failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let consumer: StreamConsumer<dl_kafka::EofAwareContext> = dl_kafka::client_config(brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("fetch.message.max.bytes", (16 * 1024 * 1024).to_string())
        .set("receive.message.max.bytes", (64 * 1024 * 1024).to_string())
        .create_with_context(dl_kafka::EofAwareContext)?;
    let partitions = loop {
        match dl_kafka::topic_partitions(&consumer, topic, Duration::from_secs(10)) {
            Ok(ps) => break ps,
            Err(dl_kafka::TopicError::Kafka(e)) => return Err(e.into()),
            Err(e) => tracing::warn!(error = %e, "registry projection: waiting for the topic"),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in partitions {
        tpl.add_partition_offset(topic, p, rdkafka::Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let codec = dl_schema::registry_codec();
    loop {
        let mut batch = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(100);
        while batch.len() < 500 {
            let wait = if batch.is_empty() {
                tokio::time::Instant::now() + Duration::from_millis(500)
            } else {
                deadline
            };
            match tokio::time::timeout_at(wait, consumer.recv()).await {
                Err(_) => break,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "registry projection: consumer error");
                    break;
                }
                Ok(Ok(m)) => batch.push(SourcedEvent {
                    partition: m.partition(),
                    offset: m.offset(),
                    event: codec
                        .decode(m.payload().unwrap_or_default())
                        .map_err(|e| e.to_string()),
                }),
            }
        }
        if batch.is_empty() {
            continue;
        }
        let mut backoff = Duration::from_millis(100);
        loop {
            match projection.apply_batch(&batch).await {
                Ok(o) => {
                    metrics::counter!("dl_projector_registry_events_total", "outcome" => "applied")
                        .increment(o.applied);
                    metrics::counter!("dl_projector_registry_events_total", "outcome" => "refused")
                        .increment(o.refused);
                    tracing::debug!(?o, "registry batch projected");
                    break;
                }
                Err(e) => {
                    metrics::counter!("dl_projector_batch_failures_total").increment(1);
                    tracing::warn!(error = %e, "registry projection batch failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}
