//! The Kafka adapter of the Decision Layer registry (the rules are in the pure `dl-registry`).
//!
//! * [`RegistryFollower`]: reads `registry.events` from the beginning, keeps following it, and
//!   exposes the current state as an atomically swapped `Arc<Registry>` with a change
//!   notification.
//! * [`RegistryWriter`]: validates commands against the followed state and produces the events.
//! * [`follow_registry`]: what every service does at start (load the approver set, start the
//!   follower, wait for the rebuild, readiness blocker [`READINESS_BLOCKER`]), in one place.

mod bootstrap;
mod follower;
mod writer;

pub use bootstrap::{
    follow_registry, load_approvers, BootstrapError, Readiness, RegistrySource, READINESS_BLOCKER,
};
pub use follower::{EventOutcome, FollowerConfig, FollowerError, RegistryFollower};
pub use writer::{RegistryWriter, WriteError};

/// Registers help text for the follower's metrics (call once per process that runs one).
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
}
