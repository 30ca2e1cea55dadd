//! A client of the Confluent Schema Registry REST API, for the Confluent wire format
//! (`00` + 4-byte schema id + Avro datum).
//!
//! - **Reading**: [`SchemaRegistry::fetch`] makes sure the writer schemas of a batch's schema ids
//!   are in the bounded [`SchemaCache`] (with retries; an id the registry does not know is
//!   remembered as unknown for a while), and the cache is what [`dl_schema::Codec`] looks ids up
//!   in ([`dl_schema::WriterSchemas`]). The fetch is asynchronous, the decode synchronous.
//! - **Writing**: [`SchemaRegistry::register`] registers a schema under a subject
//!   (`<topic>-value`, TopicNameStrategy) after checking locally that it can read data written
//!   with the subject's latest version (BACKWARD); [`SchemaRegistry::lookup`] finds the id of a
//!   schema already registered.
//!
//! Settings come from [`RegistryConfig::from_env`] (`DL_SCHEMA_REGISTRY_*`). The REST subset used
//! is documented in `docs/wire-formats.md`.

mod cache;
mod client;
mod config;

pub use cache::SchemaCache;
pub use client::{check_backward, subject_for_topic, RegisteredSchema, SchemaRegistry};
pub use config::RegistryConfig;

use thiserror::Error;

/// What can go wrong talking to the registry. None of these is the fault of one message,
/// except an unknown id, which the codec reports per message.
#[derive(Debug, Error)]
pub enum RegistryError {
    /// A setting is missing or unreadable (CA file, client certificate, URL).
    #[error("schema registry configuration: {0}")]
    Config(String),
    /// The registry could not be reached or answered 5xx, after every retry.
    #[error("schema registry unavailable after {attempts} attempts: {last}")]
    Unavailable {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The registry refused the request (4xx other than "not found").
    #[error("schema registry refused {what}: HTTP {status}: {message}")]
    Refused {
        /// What was asked.
        what: String,
        /// HTTP status.
        status: u16,
        /// The registry's message.
        message: String,
    },
    /// The new schema cannot read data written with the subject's latest version.
    #[error(
        "schema for subject {subject} is not BACKWARD compatible with version {version}: {reason}"
    )]
    Incompatible {
        /// Subject.
        subject: String,
        /// The latest registered version it was checked against.
        version: i32,
        /// Why (from the Avro compatibility check).
        reason: String,
    },
    /// A schema text (ours or the registry's) does not parse as Avro.
    #[error("invalid Avro schema {what}: {reason}")]
    InvalidSchema {
        /// Which schema.
        what: String,
        /// Why.
        reason: String,
    },
}

/// Registers the metric descriptions of this crate.
pub fn describe_metrics() {
    metrics::describe_counter!(
        "dl_schema_registry_requests_total",
        "Requests to the Schema Registry, by operation and outcome (ok, not_found, error)."
    );
    metrics::describe_gauge!(
        "dl_schema_registry_cached_schemas",
        "Writer schemas (and unknown ids) held in the bounded schema-id cache."
    );
}
