//! The registry part of every service's start: approvers + follower + rebuild + readiness.
//!
//! The worker, the explainer, the gateway (what-if), the auditor and dlctl all need the same
//! thing before they can use the registry: read the approver set (approvals are verified while
//! folding, so a follower without it would refuse every approval), start following
//! `registry.events` from the beginning, and wait until the log has been read to its end once.
//! While that runs the service is not ready: the readiness blocker [`READINESS_BLOCKER`] says why.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dl_registry::{ApproverSet, KeyError};
use dl_telemetry::Health;
use thiserror::Error;

use crate::follower::{FollowerConfig, FollowerError, RegistryFollower};

/// The readiness component set while the registry is being rebuilt (and by a service whose
/// follower stopped).
pub const READINESS_BLOCKER: &str = "registry";

/// Where a service reads its registry from.
#[derive(Debug, Clone)]
pub struct RegistrySource {
    /// Kafka bootstrap servers (`KAFKA_*` passthrough applies).
    pub brokers: String,
    /// The registry topic (`DL_REGISTRY_TOPIC`).
    pub topic: String,
    /// The approver set (`DL_APPROVERS_FILE`).
    pub approvers_file: PathBuf,
    /// How long the rebuild may take before the start fails.
    pub rebuild_timeout: Duration,
}

/// What [`follow_registry`] does with the readiness blocker [`READINESS_BLOCKER`].
#[derive(Clone, Copy)]
pub enum Readiness<'a> {
    /// No readiness to report (a command-line tool).
    Untracked,
    /// Blocked from the start until the rebuild is done.
    ClearWhenRebuilt(&'a Health),
    /// Blocked from the start and left blocked: the caller clears it once it has used the
    /// rebuilt state (the worker compiles the ACTIVE versions first).
    Hold(&'a Health),
}

impl Readiness<'_> {
    fn set(&self, reason: Option<String>) {
        match self {
            Readiness::Untracked => {}
            Readiness::ClearWhenRebuilt(h) | Readiness::Hold(h) => {
                h.set_blocker(READINESS_BLOCKER, reason)
            }
        }
    }
}

/// Why the registry could not be started.
#[derive(Debug, Error)]
pub enum BootstrapError {
    /// The approver set could not be read or parsed.
    #[error("reading the approvers file {path}")]
    Approvers {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: KeyError,
    },
    /// The follower could not start or did not finish the rebuild in time.
    #[error("rebuilding the registry from {topic}")]
    Follower {
        /// The registry topic.
        topic: String,
        /// Why.
        #[source]
        source: FollowerError,
    },
}

/// Reads the approver set (`approvers.yaml`).
pub fn load_approvers(path: &Path) -> Result<Arc<ApproverSet>, BootstrapError> {
    ApproverSet::load(path)
        .map(Arc::new)
        .map_err(|source| BootstrapError::Approvers {
            path: path.display().to_string(),
            source,
        })
}

/// Loads the approver set, starts a follower of `source.topic` and waits for the rebuild
/// (at most `source.rebuild_timeout`). With a [`Health`], readiness is blocked
/// ([`READINESS_BLOCKER`]) from the start; [`Readiness::ClearWhenRebuilt`] clears it when the
/// rebuild is done, [`Readiness::Hold`] leaves that to the caller. On error the blocker stays.
pub async fn follow_registry(
    source: &RegistrySource,
    readiness: Readiness<'_>,
) -> Result<RegistryFollower, BootstrapError> {
    readiness.set(Some("rebuilding the registry".into()));
    let approvers = load_approvers(&source.approvers_file)?;
    let follower_error = |source_error: FollowerError| BootstrapError::Follower {
        topic: source.topic.clone(),
        source: source_error,
    };
    let follower = RegistryFollower::start(FollowerConfig {
        brokers: source.brokers.clone(),
        topic: source.topic.clone(),
        approvers,
    })
    .await
    .map_err(follower_error)?;
    let registry = follower
        .wait_caught_up(source.rebuild_timeout)
        .await
        .map_err(follower_error)?;
    tracing::info!(topic = %source.topic, versions = registry.len(), "registry rebuilt");
    if let Readiness::ClearWhenRebuilt(_) = readiness {
        readiness.set(None);
    }
    Ok(follower)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(approvers_file: PathBuf) -> RegistrySource {
        RegistrySource {
            // Never contacted: the approver set is read (and fails) first.
            brokers: "127.0.0.1:1".into(),
            topic: "registry.events".into(),
            approvers_file,
            rebuild_timeout: Duration::from_secs(1),
        }
    }

    #[tokio::test]
    async fn a_bad_approvers_file_fails_before_kafka_and_keeps_the_service_unready() {
        let dir = tempfile::tempdir().unwrap();
        let health = Health::default();
        health.beat();
        assert!(health.is_ready());
        let missing = follow_registry(
            &source(dir.path().join("absent.yaml")),
            Readiness::ClearWhenRebuilt(&health),
        )
        .await;
        assert!(matches!(missing, Err(BootstrapError::Approvers { .. })));
        assert!(!health.is_ready(), "the registry blocker stays on error");

        let bad = dir.path().join("approvers.yaml");
        std::fs::write(&bad, "approvers: [{id: '', keys: []}]").unwrap();
        let err = follow_registry(&source(bad.clone()), Readiness::Untracked)
            .await
            .err()
            .unwrap();
        assert!(
            err.to_string().contains(&bad.display().to_string()),
            "{err}"
        );
    }
}
