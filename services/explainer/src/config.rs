//! Configuration from flags and environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// Decision Layer explainer.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
pub struct Config {
    /// Kafka bootstrap servers. Further librdkafka settings: KAFKA_<PROPERTY>.
    #[arg(long, env = "DL_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// Ledger topic (read, read_committed).
    #[arg(long, env = "DL_LEDGER_TOPIC", default_value = "decision.ledger")]
    pub ledger_topic: String,
    /// Views topic (written; compacted, key = decision id).
    #[arg(long, env = "DL_EXPLAIN_TOPIC", default_value = "explain.views")]
    pub views_topic: String,
    /// Dead-letter topic for ledger records that cannot be explained.
    #[arg(long, env = "DL_DLQ_TOPIC", default_value = "decision.dlq")]
    pub dlq_topic: String,
    /// `max.message.bytes` of the dead-letter topic (as in `topology/topics.yaml`). A dead letter
    /// larger than this or than the producer's `message.max.bytes` (`KAFKA_MESSAGE_MAX_BYTES`,
    /// default 1000000), less room for headers, keeps a prefix of the original plus its size and
    /// SHA-256 (headers `dl-dlq-truncated`, `dl-original-size`, `dl-original-sha256`).
    #[arg(long, env = "DL_DLQ_MAX_MESSAGE_BYTES", default_value_t = 1_048_576)]
    pub dlq_max_message_bytes: usize,
    /// Registry topic: each function version's explanation policy comes from its manifest.
    #[arg(long, env = "DL_REGISTRY_TOPIC", default_value = "registry.events")]
    pub registry_topic: String,
    /// Approver public keys (YAML), to fold the registry under its release rules.
    #[arg(long, env = "DL_APPROVERS_FILE")]
    pub approvers: PathBuf,
    /// Consumer group.
    #[arg(long, env = "DL_EXPLAINER_GROUP_ID", default_value = "dl-explainer")]
    pub group_id: String,
    /// Stable id of this replica (its transactional id is `dl-explainer-<id>`).
    #[arg(long, env = "DL_EXPLAINER_ID", default_value = "1")]
    pub explainer_id: String,
    /// File holding the pseudonym key as hex (at least 64 hex digits = 32 bytes), e.g. made with
    /// `openssl rand -hex 32`. Case worker and auditor views need it.
    #[arg(long, env = "DL_PSEUDONYM_KEY_FILE")]
    pub pseudonym_key_file: PathBuf,
    /// Id of the pseudonym key (in every pseudonym `psn:<id>:...`); default: derived from the
    /// key (`k` + 8 hex digits of its SHA-256), so a new key gets a new id.
    #[arg(long, env = "DL_PSEUDONYM_KEY_ID")]
    pub pseudonym_key_id: Option<String>,
    /// Address of /metrics, /healthz, /readyz.
    #[arg(long, env = "DL_METRICS_ADDR", default_value = "127.0.0.1:9103")]
    pub metrics_addr: SocketAddr,
    /// Most ledger records per transaction.
    #[arg(long, env = "DL_BATCH_MAX", default_value_t = 500)]
    pub batch_max: usize,
    /// Longest wait to fill a batch, in milliseconds.
    #[arg(long, env = "DL_BATCH_WAIT_MS", default_value_t = 50)]
    pub batch_wait_ms: u64,
    /// Consumer group session timeout in milliseconds: how long a dead replica holds its
    /// partitions.
    #[arg(long, env = "DL_SESSION_TIMEOUT_MS", default_value_t = 6_000)]
    pub session_timeout_ms: u64,
    /// How long a decision of a version not (yet) in the registry waits for it, in seconds.
    #[arg(long, env = "DL_REGISTRY_WAIT_SECS", default_value_t = 10)]
    pub registry_wait_secs: u64,
}
