//! Wire formats: which Avro framings the worker reads, and which one it writes results in.
//!
//! Requests may arrive in single-object encoding (always accepted) or, when a Schema Registry
//! is configured (`DL_SCHEMA_REGISTRY_URL`), in the Confluent wire format: before a batch is
//! decoded, the writer schemas of its schema ids are fetched into a bounded cache; an id the
//! registry does not know dead-letters its message (`UNKNOWN_SCHEMA_ID`), an unreachable registry
//! holds the batch (nothing is decided; the pipeline restarts from the committed offsets).
//! Results are written in the format `DL_RESULTS_WIRE_FORMAT` names (docs/wire-formats.md).

use anyhow::{bail, Context};
use dl_schema::{Codec, DecisionRequest, DecisionResult};
use dl_schema_registry::{subject_for_topic, RegistryConfig, SchemaRegistry};
use rdkafka::message::{Message, OwnedMessage};

use crate::config::{Config, ResultsWireFormat};

/// The registry (if configured) and the schema id results are written under.
pub struct Wire {
    registry: Option<SchemaRegistry>,
    runtime: tokio::runtime::Handle,
    result_schema_id: Option<u32>,
}

impl Wire {
    /// Reads the registry settings and, for Confluent-framed results, the id of the
    /// `DecisionResult` schema under `<results topic>-value` (registered by
    /// `dlctl topology apply`; the worker never registers schemas itself).
    pub fn start(cfg: &Config, runtime: tokio::runtime::Handle) -> anyhow::Result<Self> {
        let registry = RegistryConfig::from_env()?
            .map(SchemaRegistry::new)
            .transpose()?;
        let result_schema_id = match (cfg.results_wire_format, &registry) {
            (ResultsWireFormat::SingleObject, _) => None,
            (ResultsWireFormat::Confluent, None) => {
                bail!("DL_RESULTS_WIRE_FORMAT=confluent needs DL_SCHEMA_REGISTRY_URL")
            }
            (ResultsWireFormat::Confluent, Some(registry)) => {
                let subject = subject_for_topic(&cfg.results_topic);
                let id = runtime
                    .block_on(registry.lookup(&subject, dl_schema::DECISION_RESULT_AVSC))
                    .with_context(|| format!("looking up the result schema under {subject}"))?
                    .with_context(|| {
                        format!(
                            "the DecisionResult schema is not registered under {subject}: run \
                             `dlctl topology apply` with DL_SCHEMA_REGISTRY_URL set"
                        )
                    })?;
                tracing::info!(%subject, schema_id = id, "results are written in the Confluent wire format");
                Some(id)
            }
        };
        if let Some(registry) = &registry {
            tracing::info!(
                ?registry,
                "Confluent-framed requests are decoded through the Schema Registry"
            );
        }
        Ok(Self {
            registry,
            runtime,
            result_schema_id,
        })
    }

    /// The request codec: single-object always, Confluent framing through the registry's cache.
    pub fn request_codec(&self) -> Codec<DecisionRequest> {
        let codec = dl_schema::request_codec();
        match &self.registry {
            Some(registry) => codec.with_writer_schemas(registry.cache()),
            None => codec,
        }
    }

    /// Fetches the writer schemas of the batch's Confluent schema ids that are not cached yet.
    /// `Err`: the registry is unreachable; nothing of the batch may be decided.
    pub fn fetch_schemas(&self, batch: &[OwnedMessage]) -> anyhow::Result<()> {
        let Some(registry) = &self.registry else {
            return Ok(());
        };
        let ids = batch
            .iter()
            .filter_map(|m| m.payload().and_then(dl_schema::confluent_schema_id));
        self.runtime
            .block_on(registry.fetch(ids))
            .context("fetching writer schemas from the Schema Registry")
    }

    /// Encodes a result in the configured wire format.
    pub fn encode_result(
        &self,
        codec: &Codec<DecisionResult>,
        result: &DecisionResult,
    ) -> Result<Vec<u8>, dl_schema::CodecError> {
        match self.result_schema_id {
            Some(id) => codec.encode_confluent(id, result),
            None => codec.encode(result),
        }
    }
}
