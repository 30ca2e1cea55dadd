//! Kafka plumbing shared by the services.
//!
//! * [`client_config`]: librdkafka settings from the broker list plus `KAFKA_*` environment
//!   variables (TLS, SASL, ...), so every service is configured the same way.
//! * [`Topology`]: the declarative topic list of `topology/topics.yaml` and its idempotent
//!   application through the admin API.
//! * [`topic_partitions`], [`send_waiting`]: the partition list of a topic; producing through a
//!   full local queue.
//! * [`dlq`]: header names of dead-lettered messages.

mod config;
pub mod dlq;
mod topology;

pub use config::{
    client_config, passthrough_from_env, send_waiting, topic_partitions, EofAwareContext,
    TopicError,
};
pub use topology::{ApplyReport, GroupSpec, TopicSpec, Topology, TopologyError};
