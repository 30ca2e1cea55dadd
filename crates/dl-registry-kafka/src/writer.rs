//! The producing side: validate a command against the current state, then produce its event.

use std::sync::Arc;
use std::time::Duration;

use dl_function::FunctionPackage;
use dl_registry::events::{self, ApprovalRequest};
use dl_registry::{Registry, RegistryError, SigningKey};
use dl_schema::{ApproverRole, LegalReferenceStatusChanged, RegistryEvent};
use rdkafka::producer::{FutureProducer, FutureRecord};
use thiserror::Error;

use crate::follower::{EventOutcome, FollowerConfig, FollowerError, RegistryFollower};

/// Why a command did not take effect.
#[derive(Debug, Error)]
pub enum WriteError {
    /// Refused by the registry rules (before producing, or by the fold after a lost race).
    #[error("{0}")]
    Refused(#[from] RegistryError),
    /// The package's own test cases fail (publish runs them first).
    #[error("the package's tests fail:\n{0}")]
    TestsFailed(String),
    /// Producing failed.
    #[error("kafka: {0}")]
    Kafka(String),
    /// Encoding failed.
    #[error("encoding: {0}")]
    Codec(String),
    /// Following failed.
    #[error(transparent)]
    Follower(#[from] FollowerError),
}

impl WriteError {
    /// True when the registry (or the package's tests) said no; false for infrastructure errors.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Refused(_) | Self::TestsFailed(_))
    }
}

/// Produces registry events after validating them against the followed state.
pub struct RegistryWriter {
    producer: FutureProducer,
    topic: String,
    follower: RegistryFollower,
    timeout: Duration,
}

impl RegistryWriter {
    /// Connects, rebuilds the state from the topic and returns a writer.
    pub async fn connect(cfg: FollowerConfig, timeout: Duration) -> Result<Self, WriteError> {
        let producer: FutureProducer = dl_kafka::client_config(&cfg.brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.max.bytes", (16 * 1024 * 1024).to_string())
            .set("message.timeout.ms", timeout.as_millis().to_string())
            .create()
            .map_err(|e| WriteError::Kafka(e.to_string()))?;
        let topic = cfg.topic.clone();
        let follower = RegistryFollower::start(cfg).await?;
        follower.wait_caught_up(timeout).await?;
        Ok(Self {
            producer,
            topic,
            follower,
            timeout,
        })
    }

    /// The current state.
    pub fn state(&self) -> Arc<Registry> {
        self.follower.snapshot()
    }

    /// The follower used for validation.
    pub fn follower(&self) -> &RegistryFollower {
        &self.follower
    }

    /// Validates `event`, produces it (key: function id) and waits until the fold accepted it.
    /// Returns the event's partition and offset.
    pub async fn submit(&self, event: &RegistryEvent) -> Result<(i32, i64), WriteError> {
        self.state().check(event)?;
        let bytes = dl_schema::registry_codec()
            .encode(event)
            .map_err(|e| WriteError::Codec(e.to_string()))?;
        let key = events::event_key(event);
        let delivery = self
            .producer
            .send(
                FutureRecord::to(&self.topic).key(&key).payload(&bytes),
                self.timeout,
            )
            .await
            .map_err(|(e, _)| WriteError::Kafka(e.to_string()))?;
        let (partition, offset) = (delivery.partition, delivery.offset);
        match self
            .follower
            .wait_for(partition, offset, self.timeout)
            .await?
        {
            EventOutcome::Applied => Ok((partition, offset)),
            EventOutcome::Refused(e) => Err(WriteError::Refused(e)),
        }
    }

    /// Runs the package's tests, then publishes it as a DRAFT.
    pub async fn publish(
        &self,
        package: &FunctionPackage,
        author: &str,
    ) -> Result<(i32, i64), WriteError> {
        let event = events::published(package, author, events::now_ms());
        // Registry rules first (cheap, and the clearest message for a re-publish).
        self.state().check(&event)?;
        let report = dl_function::run_tests(package);
        if !report.all_passed() {
            return Err(WriteError::TestsFailed(report.to_string()));
        }
        self.submit(&event).await
    }

    /// Signs and submits an approval of `function_id` `version` with `key`.
    pub async fn approve(
        &self,
        function_id: &str,
        version: &str,
        role: ApproverRole,
        approver_id: &str,
        key_id: &str,
        key: &SigningKey,
    ) -> Result<(i32, i64), WriteError> {
        let (version, digest) = self.digest_of(function_id, version)?;
        let req = ApprovalRequest {
            function_id,
            version: &version,
            digest: &digest,
            role,
            approver_id,
            key_id,
        };
        self.submit(&events::approved(req, key, events::now_ms()))
            .await
    }

    /// Activates an APPROVED version.
    pub async fn activate(
        &self,
        function_id: &str,
        version: &str,
        by: &str,
    ) -> Result<(i32, i64), WriteError> {
        let (version, digest) = self.digest_of(function_id, version)?;
        self.submit(&events::activated(
            function_id,
            &version,
            &digest,
            by,
            events::now_ms(),
        ))
        .await
    }

    /// Retires an ACTIVE version.
    pub async fn retire(
        &self,
        function_id: &str,
        version: &str,
        by: &str,
        reason: Option<String>,
    ) -> Result<(i32, i64), WriteError> {
        let (version, digest) = self.digest_of(function_id, version)?;
        self.submit(&events::retired(
            function_id,
            &version,
            &digest,
            by,
            events::now_ms(),
            reason,
        ))
        .await
    }

    /// Puts an APPROVED or ACTIVE version in shadow for `sample_per_mille` of the function's
    /// decisions (ADR 0032).
    pub async fn shadow(
        &self,
        function_id: &str,
        version: &str,
        sample_per_mille: i32,
        by: &str,
    ) -> Result<(i32, i64), WriteError> {
        let (version, digest) = self.digest_of(function_id, version)?;
        self.submit(&events::shadow_set(
            function_id,
            &version,
            &digest,
            sample_per_mille,
            by,
            events::now_ms(),
        ))
        .await
    }

    /// Removes the function's shadow version.
    pub async fn unshadow(&self, function_id: &str, by: &str) -> Result<(i32, i64), WriteError> {
        self.submit(&events::shadow_cleared(function_id, by, events::now_ms()))
            .await
    }

    /// Records a legal status change (the freshness watch).
    pub async fn legal_status_changed(
        &self,
        body: LegalReferenceStatusChanged,
    ) -> Result<(i32, i64), WriteError> {
        self.submit(&events::legal_status_changed(body)).await
    }

    fn digest_of(&self, function_id: &str, version: &str) -> Result<(String, String), WriteError> {
        let parsed = semver::Version::parse(version)
            .map_err(|_| RegistryError::BadVersion(version.to_string()))?;
        let state = self.state();
        if state.versions(function_id).next().is_none() {
            return Err(RegistryError::UnknownFunction(function_id.to_string()).into());
        }
        let entry =
            state
                .version(function_id, &parsed)
                .ok_or_else(|| RegistryError::UnknownVersion {
                    id: function_id.to_string(),
                    version: parsed.to_string(),
                })?;
        Ok((parsed.to_string(), entry.digest.clone()))
    }
}
