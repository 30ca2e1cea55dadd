//! The functions the worker can evaluate: the ACTIVE versions of the event-sourced registry,
//! compiled, followed live.
//!
//! `registry.events` is the source of truth (docs/registry.md). At start the worker rebuilds the
//! registry from the topic ([`dl_registry_kafka::RegistryFollower`]), compiles every ACTIVE version and
//! only then starts consuming. Afterwards every new registry snapshot (an activation, a
//! retirement) is compiled in the background and swapped in atomically: a batch always sees one
//! consistent [`FunctionSet`], and a version is never selectable before it is compiled. Compiled
//! policies are shared between snapshots by package digest ([`dl_function::FunctionCache`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use chrono::NaiveDate;
use dl_function::{CompiledFunction, FunctionCache, Manifest};
use dl_registry::{Registry, SelectError, VersionEntry, VersionState};
use dl_registry_kafka::RegistryFollower;
use dl_telemetry::Health;

/// One compiled function version.
pub struct Entry {
    /// Its manifest.
    pub manifest: Manifest,
    /// Package digest.
    pub digest: String,
    /// Compiled policy.
    pub compiled: Arc<CompiledFunction>,
    /// Legal basis IRIs.
    pub legal_basis: Vec<String>,
}

/// Why no version could be selected.
#[derive(Debug, PartialEq, Eq)]
pub enum Selection {
    /// No function with this id, or no such version.
    Unknown(String),
    /// The version is not ACTIVE or not in force at the date (or failed to compile here).
    NotActive(String),
}

/// One registry snapshot with its ACTIVE versions compiled.
#[derive(Default)]
pub struct FunctionSet {
    registry: Arc<Registry>,
    /// digest → compiled entry, for every ACTIVE version that compiled.
    compiled: HashMap<String, Arc<Entry>>,
    /// function id → its shadow version compiled, with the sample per mille (ADR 0032).
    shadows: HashMap<String, (Arc<Entry>, u16)>,
}

impl FunctionSet {
    /// Compiles the ACTIVE versions of `registry` (reusing `cache`). A version that does not
    /// compile is logged and counted; requests for it are rejected `FUNCTION_NOT_ACTIVE`.
    pub fn build(registry: Arc<Registry>, cache: &FunctionCache) -> Self {
        let mut compiled = HashMap::new();
        for version in registry
            .all_versions()
            .filter(|v| v.state == VersionState::Active)
        {
            match cache.get_or_compile(&version.package) {
                Ok(function) => {
                    compiled.insert(version.digest.clone(), Arc::new(entry(version, function)));
                }
                Err(e) => {
                    metrics::counter!("dl_worker_function_compile_failures_total").increment(1);
                    tracing::error!(function = %version.function_id, version = %version.version, error = %e, "an ACTIVE version does not compile on this worker");
                }
            }
        }
        let mut shadows = HashMap::new();
        for (id, shadow) in registry.shadows() {
            let Some(version) = registry.version(id, &shadow.version) else {
                continue;
            };
            // Shared with the ACTIVE set when the shadow version is ACTIVE too.
            let compiled_entry = match compiled.get(&version.digest) {
                Some(e) => Ok(Arc::clone(e)),
                None => cache
                    .get_or_compile(&version.package)
                    .map(|f| Arc::new(entry(version, f))),
            };
            match compiled_entry {
                Ok(e) => {
                    shadows.insert(id.to_string(), (e, shadow.sample_per_mille));
                }
                Err(e) => {
                    metrics::counter!("dl_worker_function_compile_failures_total").increment(1);
                    tracing::error!(function = %id, version = %shadow.version, error = %e, "a shadow version does not compile on this worker; not evaluated");
                }
            }
        }
        Self {
            registry,
            compiled,
            shadows,
        }
    }

    /// Whether any function has a version in shadow.
    pub fn has_shadows(&self) -> bool {
        !self.shadows.is_empty()
    }

    /// The version `function_id` evaluates in shadow, compiled, and its sample per mille.
    pub fn shadow(&self, function_id: &str) -> Option<(&Arc<Entry>, u16)> {
        self.shadows.get(function_id).map(|(e, s)| (e, *s))
    }

    /// Number of compiled ACTIVE versions.
    pub fn len(&self) -> usize {
        self.compiled.len()
    }

    /// Every compiled version's (function id, allowed callers).
    pub fn allow_lists(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.compiled.values().map(|e| {
            (
                e.manifest.id.as_str(),
                e.manifest.allowed_callers.as_slice(),
            )
        })
    }

    /// Whether the version with this digest is ACTIVE and compiled in this set.
    pub fn has_digest(&self, digest: &str) -> bool {
        self.compiled.contains_key(digest)
    }

    /// Selects the version to evaluate: the registry's rule ([`Registry::select`]).
    pub fn select(
        &self,
        id: &str,
        version: Option<&str>,
        date: NaiveDate,
    ) -> Result<Arc<Entry>, Selection> {
        let chosen = self
            .registry
            .select(id, version, date)
            .map_err(|e| match e {
                SelectError::Unknown(m) => Selection::Unknown(m),
                SelectError::NotActive(m) => Selection::NotActive(m),
            })?;
        self.compiled.get(&chosen.digest).cloned().ok_or_else(|| {
            Selection::NotActive(format!(
                "function {id} {} could not be compiled on this worker",
                chosen.version
            ))
        })
    }
}

fn entry(version: &VersionEntry, compiled: Arc<CompiledFunction>) -> Entry {
    Entry {
        manifest: version.manifest().clone(),
        digest: version.digest.clone(),
        legal_basis: version.legal_basis(),
        compiled,
    }
}

/// The current [`FunctionSet`], swapped atomically when the registry changes.
pub struct LiveFunctions {
    current: ArcSwap<FunctionSet>,
    cache: FunctionCache,
}

impl LiveFunctions {
    /// The set the next batch uses.
    pub fn load(&self) -> Arc<FunctionSet> {
        self.current.load_full()
    }

    /// Rebuilds the registry from `follower`'s topic (waiting up to `rebuild_timeout`), compiles
    /// it, then follows it in a background task on `runtime` for as long as the follower runs.
    /// A stopped follower marks the worker unready (blocker "registry").
    pub fn start(
        runtime: &tokio::runtime::Handle,
        follower: RegistryFollower,
        rebuild_timeout: Duration,
        health: Arc<Health>,
    ) -> anyhow::Result<Arc<Self>> {
        let registry = runtime
            .block_on(follower.wait_caught_up(rebuild_timeout))
            .context("rebuilding the registry from its topic")?;
        let cache = FunctionCache::new(4_096);
        let set = FunctionSet::build(registry, &cache);
        let live = Arc::new(Self {
            current: ArcSwap::from_pointee(set),
            cache,
        });
        live.publish_metrics();
        let follow = live.clone();
        runtime.spawn(async move { follow.follow(follower, health).await });
        Ok(live)
    }

    async fn follow(self: Arc<Self>, follower: RegistryFollower, health: Arc<Health>) {
        let mut changes = follower.subscribe();
        loop {
            let changed = tokio::time::timeout(Duration::from_secs(5), changes.changed()).await;
            if matches!(changed, Ok(Err(_))) || !follower.is_running() {
                health.set_blocker(
                    "registry",
                    Some("the registry follower stopped; restart the worker".into()),
                );
                tracing::error!("registry follower stopped: no new activations will be seen");
                return;
            }
            if changed.is_err() {
                continue; // periodic liveness check only
            }
            let snapshot = follower.snapshot();
            let this = self.clone();
            let started = std::time::Instant::now();
            let built = tokio::task::spawn_blocking(move || {
                let set = FunctionSet::build(snapshot, &this.cache);
                let previous = this.current.load_full();
                for e in set.compiled.values() {
                    if !previous.has_digest(&e.digest) {
                        tracing::info!(function = %e.manifest.id, version = %e.manifest.version, digest = %e.digest, "version now evaluated");
                    }
                }
                for e in previous.compiled.values() {
                    if !set.has_digest(&e.digest) {
                        tracing::info!(function = %e.manifest.id, version = %e.manifest.version, "version no longer evaluated");
                    }
                }
                this.current.store(Arc::new(set));
            })
            .await;
            if built.is_err() {
                tracing::error!("compiling a registry snapshot panicked; keeping the previous set");
                continue;
            }
            metrics::histogram!("dl_worker_registry_swap_seconds")
                .record(started.elapsed().as_secs_f64());
            self.publish_metrics();
        }
    }

    fn publish_metrics(&self) {
        let set = self.load();
        metrics::gauge!("dl_worker_active_versions").set(set.len() as f64);
        metrics::gauge!("dl_worker_registry_events")
            .set((set.registry.applied() + set.registry.refused()) as f64);
        metrics::counter!("dl_worker_registry_swaps_total").increment(1);
    }
}

#[cfg(test)]
pub mod testing {
    //! Registries built in memory from package folders, for unit tests.

    use std::path::Path;
    use std::sync::Arc;

    use dl_function::FunctionPackage;
    use dl_registry::events::{activated, approved, published, ApprovalRequest};
    use dl_registry::{Approver, ApproverSet, Registry};
    use dl_schema::ApproverRole;

    /// A registry in which every package under `roots` is published, approved by two test
    /// approvers and activated.
    pub fn registry_with(roots: &[&Path]) -> Registry {
        let owner = dl_registry::generate_key();
        let reviewer = dl_registry::generate_key();
        let mut approvers = ApproverSet::default();
        for (id, role, key) in [
            ("owner", ApproverRole::Owner, &owner),
            ("reviewer", ApproverRole::Reviewer, &reviewer),
        ] {
            approvers.insert(Approver {
                id: id.into(),
                roles: vec![role],
                keys: [(format!("{id}-1"), key.verifying_key())].into(),
                tenant: None,
            });
        }
        let mut registry = Registry::new(Arc::new(approvers));
        for root in roots {
            for pkg in dl_function::load_dir_of_packages(root).expect("test packages load") {
                release(&mut registry, &pkg, &owner, &reviewer);
            }
        }
        registry
    }

    fn release(
        registry: &mut Registry,
        pkg: &FunctionPackage,
        owner: &ed25519_dalek::SigningKey,
        reviewer: &ed25519_dalek::SigningKey,
    ) {
        let (id, version, digest) = (
            pkg.manifest().id.as_str(),
            pkg.manifest().version.to_string(),
            pkg.digest().to_string(),
        );
        registry
            .apply(&published(pkg, "author", 1))
            .expect("publish");
        for (approver, role, key) in [
            ("owner", ApproverRole::Owner, owner),
            ("reviewer", ApproverRole::Reviewer, reviewer),
        ] {
            let key_id = format!("{approver}-1");
            let req = ApprovalRequest {
                function_id: id,
                version: &version,
                digest: &digest,
                role,
                approver_id: approver,
                key_id: &key_id,
            };
            registry.apply(&approved(req, key, 2)).expect("approve");
        }
        registry
            .apply(&activated(id, &version, &digest, "owner", 3))
            .expect("activate");
    }
}
