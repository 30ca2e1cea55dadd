//! Projection of `explain.views` into the `explain_views` table: each batch's rows (upserts by
//! decision id: the topic is compacted and a view made twice is identical) and its next offsets
//! commit in one PostgreSQL transaction.

use std::collections::BTreeMap;
use std::time::Duration;

use dl_schema::{ExplainAudience, ExplainPolicySource, ExplainView};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use serde_json::{json, Map, Value};
use sqlx::PgPool;

use crate::StoreError;

fn audience(a: ExplainAudience) -> &'static str {
    match a {
        ExplainAudience::Subject => "SUBJECT",
        ExplainAudience::CaseWorker => "CASE_WORKER",
        ExplainAudience::Auditor => "AUDITOR",
    }
}

/// The `views` column: audience → {input, output, reasons, manifest}, JSON texts parsed.
pub fn views_json(view: &ExplainView) -> Value {
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
    let mut out = Map::new();
    for v in &view.views {
        out.insert(
            audience(v.audience).to_string(),
            json!({
                "input": parse(&v.input),
                "output": parse(&v.output),
                "reasons": v.reasons,
                "manifest": parse(&v.manifest),
            }),
        );
    }
    Value::Object(out)
}

/// Writes one batch (`(partition, offset, decoded view or None when undecodable)`) and the
/// next offsets in one transaction. Undecodable messages are skipped (counted by the caller):
/// the explainer writes only what it encoded.
pub async fn apply_batch(
    pool: &PgPool,
    group: &str,
    topic: &str,
    batch: &[(i32, i64, Option<ExplainView>)],
) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    let mut written = 0;
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for (partition, offset, view) in batch {
        next.insert(*partition, offset + 1);
        let Some(v) = view else { continue };
        sqlx::query(
            "INSERT INTO explain_views (decision_id, request_id, function_id, function_version,
                 function_digest, decided_at, chain_id, ledger_sequence, ledger_hash, legal_basis,
                 policy, pseudonym_key_id, views)
             VALUES ($1, $2, $3, $4, $5, to_timestamp($6::double precision / 1000), $7, $8, $9,
                     $10, $11, $12, $13)
             ON CONFLICT (decision_id) DO UPDATE SET views = EXCLUDED.views,
                 pseudonym_key_id = EXCLUDED.pseudonym_key_id, policy = EXCLUDED.policy",
        )
        .bind(&v.decision_id)
        .bind(&v.request_id)
        .bind(&v.function_id)
        .bind(&v.function_version)
        .bind(&v.function_digest)
        .bind(v.decided_at as f64)
        .bind(&v.ledger.chain_id)
        .bind(v.ledger.sequence)
        .bind(&v.ledger.hash)
        .bind(&v.legal_basis)
        .bind(match v.policy {
            ExplainPolicySource::Manifest => "MANIFEST",
            ExplainPolicySource::UnknownFunction => "UNKNOWN_FUNCTION",
        })
        .bind(&v.pseudonym_key_id)
        .bind(views_json(v))
        .execute(&mut *tx)
        .await?;
        written += 1;
    }
    for (partition, offset) in next {
        sqlx::query(
            "INSERT INTO projector_offsets (consumer_group, topic, kafka_partition, next_offset)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (consumer_group, topic, kafka_partition)
             DO UPDATE SET next_offset = GREATEST(projector_offsets.next_offset, EXCLUDED.next_offset)",
        )
        .bind(group)
        .bind(topic)
        .bind(partition)
        .bind(offset)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(written)
}

/// Consumes `topic` from the offsets stored in PostgreSQL (read_committed) forever and projects
/// it, retrying a failed batch until PostgreSQL takes it. Returns only on a setup error.
pub async fn run(brokers: &str, topic: &str, pool: PgPool, group: &str) -> Result<(), StoreError> {
    let consumer: StreamConsumer = dl_kafka::client_config(brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()?;
    let partitions = loop {
        match dl_kafka::topic_partitions(&consumer, topic, Duration::from_secs(10)) {
            Ok(ps) => break ps,
            Err(dl_kafka::TopicError::Kafka(e)) => return Err(e.into()),
            Err(e) => tracing::warn!(error = %e, "explanation views: waiting for the topic"),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let stored: BTreeMap<i32, i64> = loop {
        match sqlx::query_as::<_, (i32, i64)>(
            "SELECT kafka_partition, next_offset FROM projector_offsets WHERE consumer_group = $1 AND topic = $2",
        )
        .bind(group)
        .bind(topic)
        .fetch_all(&pool)
        .await
        {
            Ok(rows) => break rows.into_iter().collect(),
            Err(e) => {
                tracing::warn!(error = %e, "explanation views: reading stored offsets failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in partitions {
        let offset = stored
            .get(&p)
            .map_or(rdkafka::Offset::Beginning, |o| rdkafka::Offset::Offset(*o));
        tpl.add_partition_offset(topic, p, offset)?;
    }
    consumer.assign(&tpl)?;
    let codec = dl_schema::explain_view_codec();
    loop {
        let mut batch = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(50);
        while batch.len() < 500 {
            let wait = if batch.is_empty() {
                tokio::time::Instant::now() + Duration::from_millis(500)
            } else {
                deadline
            };
            match tokio::time::timeout_at(wait, consumer.recv()).await {
                Err(_) => break,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "explanation views: consumer error");
                    break;
                }
                Ok(Ok(m)) => {
                    let view = codec.decode(m.payload().unwrap_or_default()).ok();
                    if view.is_none() {
                        metrics::counter!("dl_projector_undecodable_views_total").increment(1);
                    }
                    batch.push((m.partition(), m.offset(), view));
                }
            }
        }
        if batch.is_empty() {
            continue;
        }
        let mut backoff = Duration::from_millis(100);
        loop {
            match apply_batch(&pool, group, topic, &batch).await {
                Ok(n) => {
                    metrics::counter!("dl_projector_explain_views_total").increment(n);
                    break;
                }
                Err(e) => {
                    metrics::counter!("dl_projector_batch_failures_total").increment(1);
                    tracing::warn!(error = %e, "explanation views batch failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}
