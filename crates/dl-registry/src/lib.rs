//! The event-sourced function registry of Decision Layer: the pure core.
//!
//! `registry.events` is the source of truth (see `docs/registry.md`). This crate holds the rules
//! and nothing that talks to the outside world:
//!
//! * [`Registry`]: the state machine. Events are folded in with [`Registry::apply`], which
//!   enforces immutable versions, semver order, the lifecycle draft → approved → active → retired,
//!   two distinct signed approvals and the legal checks; [`Registry::select`] is the worker's
//!   version rule.
//! * [`ApproverSet`] and the approval signatures ([`sign_approval`], [`verify_approval`]).
//! * [`events`]: builders of the registry events.
//!
//! **Invariant: this crate does no I/O.** It knows nothing of Kafka, PostgreSQL or HTTP and has
//! no async runtime (a unit test below reads this crate's `Cargo.toml` and fails if one of
//! those dependencies appears). The adapters live where their I/O lives:
//!
//! * `dl-registry-kafka`: the follower (rebuild + live snapshots), the writer (producer) and the
//!   services' bootstrap (approvers + follower + readiness).
//! * `dl_store::registry`: the PostgreSQL projection.
//! * `dl-legal-resolver`: online resolution of legal references, its cache and the freshness
//!   watch.
//!
//! Compiling policies is not this crate's job: the worker compiles the packages of a snapshot
//! with `dl_function::FunctionCache`.

mod approvers;
pub mod events;
mod state;

pub use approvers::{
    approval_payload, generate_key, load_signing_key, parse_role, private_key_pem, public_key_pem,
    sign_approval, verify_approval, Approver, ApproverSet, KeyError, APPROVAL_DOMAIN,
};
pub use ed25519_dalek::SigningKey;
pub use state::{
    Approval, LegalStatusEntry, Registry, RegistryError, SelectError, Shadow, Transition,
    VersionEntry, VersionState, MAX_SAMPLE_PER_MILLE,
};

#[cfg(test)]
mod tests {
    /// Crates that do I/O (or bring an async runtime) and so must never be dependencies of the
    /// core, directly or through one of its workspace dependencies.
    const FORBIDDEN: &[&str] = &[
        "rdkafka",
        "sqlx",
        "reqwest",
        "tokio",
        "hyper",
        "axum",
        "redis",
        "dl-kafka",
        "dl-store",
        "dl-telemetry",
        "dl-registry-kafka",
        "dl-legal-resolver",
    ];

    /// The manifests of the workspace crates the core depends on (they are compiled into it).
    const WORKSPACE_DEPENDENCIES: &[(&str, &str)] = &[
        ("dl-schema", include_str!("../../dl-schema/Cargo.toml")),
        ("dl-function", include_str!("../../dl-function/Cargo.toml")),
        ("dl-legal", include_str!("../../dl-legal/Cargo.toml")),
    ];

    /// Names of the dependencies declared in every `[*dependencies*]` table of a manifest.
    fn dependencies(manifest: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut in_dependencies = false;
        for line in manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                in_dependencies = line.trim_matches(['[', ']']).ends_with("dependencies");
                continue;
            }
            if !in_dependencies || line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some((name, _)) = line.split_once('=') {
                names.push(name.trim().trim_end_matches(".workspace").to_string());
            }
        }
        names
    }

    fn offending(manifest: &str) -> Vec<String> {
        dependencies(manifest)
            .into_iter()
            .filter(|d| FORBIDDEN.contains(&d.as_str()))
            .collect()
    }

    #[test]
    fn core_has_no_io_dependencies() {
        let own = include_str!("../Cargo.toml");
        let deps = dependencies(own);
        assert!(
            deps.iter().any(|d| d == "dl-schema"),
            "parser sanity: {deps:?}"
        );
        assert_eq!(
            offending(own),
            Vec::<String>::new(),
            "dl-registry is the pure core: move I/O to an adapter crate (ARCHITECTURE.md)"
        );
        for d in deps.iter().filter(|d| d.starts_with("dl-")) {
            assert!(
                WORKSPACE_DEPENDENCIES.iter().any(|(n, _)| n == d),
                "new workspace dependency {d}: add its manifest to WORKSPACE_DEPENDENCIES"
            );
        }
        for (name, manifest) in WORKSPACE_DEPENDENCIES {
            assert_eq!(
                offending(manifest),
                Vec::<String>::new(),
                "{name} would bring I/O into the registry core"
            );
        }
    }

    #[test]
    fn the_check_catches_an_io_dependency() {
        let manifest = "[package]\nname = \"x\"\n\n[dependencies]\ndl-schema.workspace = true\nrdkafka = { workspace = true }\n\n[dev-dependencies]\nsqlx = \"0.8\"\n\n[target.'cfg(unix)'.dependencies]\nreqwest = \"0.12\"\n";
        assert_eq!(offending(manifest), ["rdkafka", "sqlx", "reqwest"]);
    }
}
