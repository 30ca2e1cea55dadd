//! The PostgreSQL projection of the registry (tables of `migrations/*_registry.sql`), an adapter
//! of the pure `dl-registry` core: it lives here because `dl-store` owns PostgreSQL.
//!
//! The projection is a stage of the stream mechanism ([`RegistryStage`], `dl_stream::run_pg`).
//! It reads the topic from the beginning and folds **every** event through the same
//! [`Registry`] state machine as the workers (so an event the workers refuse is recorded as
//! refused, never projected as a change); only events at or after the stored offset are written.
//! Rows and the next offset commit in one transaction (table `projector_offsets`, like the
//! ledger projection), so a redelivered or re-read event is never written twice; every write is
//! an upsert of the version's current state, so replaying is harmless anyway.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use dl_schema::{Codec, RegistryEvent, RegistryEventKind};
use rdkafka::message::{Message, OwnedMessage};
use sqlx::PgConnection;

use dl_registry::{ApproverSet, Registry, VersionEntry};

use crate::StoreError;

/// Refusal code of a message that is not a registry event.
const MALFORMED_EVENT: &str = "MALFORMED_EVENT";

/// The registry projection of one topic: the folded state and how to write it.
pub struct RegistryStage {
    topic: String,
    registry: Registry,
    codec: Codec<RegistryEvent>,
}

fn ts(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl RegistryStage {
    /// A stage for `topic`, starting from the empty registry (the mechanism feeds every event
    /// from the beginning of the topic).
    pub fn new(topic: &str, approvers: Arc<ApproverSet>) -> Self {
        Self {
            topic: topic.to_string(),
            registry: Registry::new(approvers),
            codec: dl_schema::registry_codec(),
        }
    }

    /// The folded state.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Folds one message: the decoded event (if it decodes) and why it is refused, if it is
    /// (`code`, `message`).
    fn fold(&mut self, m: &OwnedMessage) -> (Option<RegistryEvent>, Option<(String, String)>) {
        let event = match self.codec.decode(m.payload().unwrap_or_default()) {
            Ok(e) => e,
            Err(e) => return (None, Some((MALFORMED_EVENT.to_string(), e.to_string()))),
        };
        let refusal = self
            .registry
            .apply(&event)
            .err()
            .map(|err| (err.code().to_string(), err.to_string()));
        (Some(event), refusal)
    }
}

impl dl_stream::PgStage for RegistryStage {
    type Error = StoreError;

    fn reads_from_beginning(&self) -> bool {
        true
    }

    fn replayed(&mut self, message: &OwnedMessage) {
        // Written by an earlier batch: folded only (a refusal was recorded then).
        let _ = self.fold(message);
    }

    async fn write(
        &mut self,
        tx: &mut PgConnection,
        fresh: &[&OwnedMessage],
    ) -> Result<(), StoreError> {
        let (mut applied, mut refused) = (0u64, 0u64);
        for m in fresh {
            match self.fold(m) {
                (Some(event), None) => {
                    write_change(tx, &self.registry, &event).await?;
                    applied += 1;
                }
                (event, refusal) => {
                    let (code, message) = refusal.unwrap_or_default();
                    let e = event.as_ref();
                    sqlx::query(
                        "INSERT INTO registry_refused_events (topic, kafka_partition, kafka_offset, kind, function_id, version, code, message)
                         VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT DO NOTHING",
                    )
                    .bind(&self.topic)
                    .bind(m.partition())
                    .bind(m.offset())
                    .bind(e.map(|e| e.kind.as_str()))
                    .bind(e.and_then(|e| e.function_id.clone()))
                    .bind(e.and_then(|e| e.version.clone()))
                    .bind(code)
                    .bind(message)
                    .execute(&mut *tx)
                    .await?;
                    refused += 1;
                }
            }
        }
        metrics::counter!("dl_projector_registry_events_total", "outcome" => "applied")
            .increment(applied);
        metrics::counter!("dl_projector_registry_events_total", "outcome" => "refused")
            .increment(refused);
        Ok(())
    }
}

async fn write_change(
    tx: &mut PgConnection,
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
                .execute(&mut *tx)
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

async fn upsert_version(tx: &mut PgConnection, e: &VersionEntry) -> Result<(), sqlx::Error> {
    let m = e.manifest();
    let version = e.version.to_string();
    sqlx::query("INSERT INTO functions (function_id, first_published_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(&e.function_id)
        .bind(ts(e.published_at))
        .execute(&mut *tx)
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
    .execute(&mut *tx)
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
        .execute(&mut *tx)
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
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}
