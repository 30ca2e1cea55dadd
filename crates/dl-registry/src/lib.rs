//! The event-sourced function registry of Decision Layer.
//!
//! `registry.events` is the source of truth (see `docs/registry.md`). This crate holds:
//!
//! * [`Registry`]: the pure state machine. Events are folded in with [`Registry::apply`], which
//!   enforces immutable versions, semver order, the lifecycle draft → approved → active → retired,
//!   two distinct signed approvals and the legal checks; [`Registry::select`] is the worker's
//!   version rule.
//! * [`RegistryFollower`]: reads the topic from the beginning, keeps following it, and exposes
//!   the current state as an atomically swapped `Arc<Registry>` with a change notification.
//! * [`RegistryWriter`]: validates commands against the current state and produces the events.
//! * [`projection`]: the PostgreSQL projection (tables and the `registry_versions` view).
//! * [`legal`]: online resolution of legal references (Finlex open data, EUR-Lex CELLAR) with a
//!   PostgreSQL cache and the freshness watch.
//!
//! Compiling policies is not this crate's job: the worker compiles the packages of a snapshot
//! with `dl_function::FunctionCache`.

mod approvers;
pub mod events;
mod follower;
pub mod legal;
pub mod projection;
mod state;
mod writer;

pub use approvers::{
    approval_payload, generate_key, load_signing_key, parse_role, private_key_pem, public_key_pem,
    sign_approval, verify_approval, Approver, ApproverSet, KeyError, APPROVAL_DOMAIN,
};
pub use follower::{EventOutcome, FollowerConfig, FollowerError, RegistryFollower};
pub use state::{
    Approval, LegalStatusEntry, Registry, RegistryError, SelectError, Transition, VersionEntry,
    VersionState,
};
pub use writer::{RegistryWriter, WriteError};

/// Registers help text for the metrics of the follower and the legal watch (call once per
/// process that runs them).
pub fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge};
    describe_counter!(
        "dl_registry_events_total",
        "Registry events folded by the follower, by outcome (applied, refused)."
    );
    describe_gauge!(
        "dl_registry_versions",
        "Function versions (any state) in the follower's current snapshot."
    );
    describe_counter!(
        "dl_registry_legal_resolution_failures_total",
        "Legal references the freshness watch could not resolve."
    );
}
