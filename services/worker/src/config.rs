//! Worker configuration: command-line flags, each with an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Decision Layer worker.
#[derive(Debug, Clone, clap::Parser)]
#[command(version, about)]
pub struct Config {
    /// Kafka bootstrap servers (host:port,...). Further librdkafka settings: KAFKA_<PROPERTY>.
    #[arg(long, env = "DL_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// Topic of decision requests.
    #[arg(long, env = "DL_REQUESTS_TOPIC", default_value = "decision.requests")]
    pub requests_topic: String,
    /// Topic of decision results.
    #[arg(long, env = "DL_RESULTS_TOPIC", default_value = "decision.results")]
    pub results_topic: String,
    /// Ledger topic (one hash chain per partition).
    #[arg(long, env = "DL_LEDGER_TOPIC", default_value = "decision.ledger")]
    pub ledger_topic: String,
    /// Topic of shadow evaluations (ADR 0032): one record per sampled decision of a function
    /// with a version in shadow, produced in the decision's transaction.
    #[arg(long, env = "DL_SHADOW_TOPIC", default_value = "decision.shadow")]
    pub shadow_topic: String,
    /// Dead-letter topic.
    #[arg(long, env = "DL_DLQ_TOPIC", default_value = "decision.dlq")]
    pub dlq_topic: String,
    /// `max.message.bytes` of the dead-letter topic (as in `topology/topics.yaml`). A dead letter
    /// larger than this or than the producer's `message.max.bytes` (`KAFKA_MESSAGE_MAX_BYTES`,
    /// default 1000000), less room for headers, keeps a prefix of the original plus its size and
    /// SHA-256 (headers `dl-dlq-truncated`, `dl-original-size`, `dl-original-sha256`).
    #[arg(long, env = "DL_DLQ_MAX_MESSAGE_BYTES", default_value_t = 1_048_576)]
    pub dlq_max_message_bytes: usize,
    /// Wire format of results: `single-object` (Avro single-object encoding, the default) or
    /// `confluent` (`00` + schema id; needs `DL_SCHEMA_REGISTRY_URL` and the schema registered
    /// under `<results topic>-value` by `dlctl topology apply`). Requests are read in both.
    #[arg(
        long,
        env = "DL_RESULTS_WIRE_FORMAT",
        value_enum,
        default_value = "single-object"
    )]
    pub results_wire_format: ResultsWireFormat,
    /// Prefix a request's reply_to topic must have (anything else is refused).
    #[arg(long, env = "DL_REPLY_TO_PREFIX", default_value = "decision.results")]
    pub reply_to_prefix: String,
    /// Largest request message in bytes; larger ones go to the dead-letter topic.
    #[arg(long, env = "DL_MAX_MESSAGE_BYTES", default_value_t = dl_schema::MAX_MESSAGE_BYTES)]
    pub max_message_bytes: usize,
    /// Consumer group of the workers.
    #[arg(long, env = "DL_GROUP_ID", default_value = "dl-worker")]
    pub group_id: String,
    /// Stable id of this replica: its transactional.id is `dl-worker-<id>`. A restarted replica
    /// must keep its id so that its unfinished transaction is aborted at once.
    #[arg(long, env = "DL_WORKER_ID", default_value = "0")]
    pub worker_id: String,
    /// The registry topic: the source of truth of the function versions. The worker rebuilds
    /// the registry from it at start and follows it live (activations take effect without a
    /// restart).
    #[arg(long, env = "DL_REGISTRY_TOPIC", default_value = "registry.events")]
    pub registry_topic: String,
    /// Approvers file (`approvers.yaml`: ids, roles, Ed25519 public keys). Approvals in the
    /// registry are verified against it while folding; a version whose approvals do not verify
    /// is never ACTIVE here.
    #[arg(long, env = "DL_APPROVERS_FILE")]
    pub approvers_file: PathBuf,
    /// Longest wait, in seconds, for the registry rebuild at start.
    #[arg(long, env = "DL_REGISTRY_REBUILD_TIMEOUT_SECS", default_value_t = 120)]
    pub registry_rebuild_timeout_secs: u64,
    /// Validity of each worker signing key, in seconds (written into its certificate).
    #[arg(long, env = "DL_KEY_VALIDITY_SECS", default_value_t = 6 * 3600)]
    pub key_validity_secs: u64,
    /// Age in seconds at which a worker key is rotated. Validity minus this is the signer
    /// (KMS) outage the worker rides out before it stops deciding.
    #[arg(long, env = "DL_KEY_ROTATE_AFTER_SECS", default_value_t = 3600)]
    pub key_rotate_after_secs: u64,
    /// Uncovered records that make a chain checkpoint due.
    #[arg(long, env = "DL_CHECKPOINT_EVERY_RECORDS", default_value_t = 1_000)]
    pub checkpoint_every_records: u64,
    /// Longest time in milliseconds a record waits for a checkpoint, and the shortest time
    /// between two checkpoints of a chain (the bound on signer calls: chains × 1000 / this).
    #[arg(long, env = "DL_CHECKPOINT_EVERY_MS", default_value_t = 1_000)]
    pub checkpoint_every_ms: u64,
    /// Address of /metrics, /healthz, /readyz.
    #[arg(long, env = "DL_METRICS_ADDR", default_value = "127.0.0.1:9101")]
    pub metrics_addr: SocketAddr,
    /// Most messages per transaction.
    #[arg(long, env = "DL_BATCH_MAX", default_value_t = 500)]
    pub batch_max: usize,
    /// Longest wait to fill a batch, in milliseconds.
    #[arg(long, env = "DL_BATCH_WAIT_MS", default_value_t = 20)]
    pub batch_wait_ms: u64,
    /// The wall-clock safety net of an evaluation is the function's `limits.max_eval_ms` times
    /// this. Passing it rejects the request with the retryable `EVALUATION_TIMEOUT` (its nonce
    /// is given back); the deterministic step budget (`limits.max_eval_steps`) is unaffected.
    #[arg(long, env = "DL_EVAL_SAFETY_NET_FACTOR", default_value_t = dl_function::WALL_CLOCK_SAFETY_FACTOR)]
    pub eval_safety_net_factor: u64,
    /// Evaluation threads (0 = one per core).
    #[arg(long, env = "DL_EVAL_THREADS", default_value_t = 0)]
    pub eval_threads: usize,
    /// Consumer group session timeout in milliseconds: how long a dead replica holds its
    /// partitions when it does not come back under the same id.
    #[arg(long, env = "DL_SESSION_TIMEOUT_MS", default_value_t = 6_000)]
    pub session_timeout_ms: u64,
    /// Kafka transaction timeout in milliseconds (how long a crashed replica's open
    /// transaction can block readers if the replica does not come back).
    #[arg(long, env = "DL_TRANSACTION_TIMEOUT_MS", default_value_t = 10_000)]
    pub transaction_timeout_ms: u64,
    /// Caller authentication config file (YAML or JSON): an `auth:` section in dl-auth's format
    /// (issuers, audiences, pinned algorithms, leeway, ...), plus optional `require_signature:`
    /// (allow-list entries whose callers must sign requests with `dl-signature`) and
    /// `rate_limits:` (`{caller: <allow-list entry>, per_second, burst}`, first match wins).
    /// A bare dl-auth config (without the `auth:` key) is accepted too.
    /// UNSET MEANS AUTHENTICATION IS DISABLED: every request is accepted without a token, its
    /// result has `caller: null`, and function allow lists are not enforced. Only for local
    /// development and tests; the worker logs a warning at start. When set, REDIS_URL is required.
    #[arg(long, env = "DL_AUTH_CONFIG")]
    pub auth_config: Option<PathBuf>,
    /// Redis 7+ for replay protection and per-caller rate limits (`redis://host:port[/db]`).
    /// When set, every request's `request_id` is a single-use nonce per caller and its
    /// `issued_at` must lie within the window; when unset (only allowed with authentication
    /// disabled) there is no replay protection. Redis unavailable = fail closed: the worker
    /// stops consuming (readiness 503, blocker "redis") until Redis answers again.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// Replay window in seconds: how old (`now - issued_at`) a request may be.
    #[arg(long, env = "DL_REPLAY_WINDOW_SECS", default_value_t = 300)]
    pub replay_window_secs: u64,
    /// Clock-skew tolerance in seconds: how far `issued_at` may lie in the future.
    #[arg(long, env = "DL_REPLAY_MAX_SKEW_SECS", default_value_t = 30)]
    pub replay_max_skew_secs: u64,
    /// Upper bound of every Redis call, in milliseconds (one call per batch).
    #[arg(long, env = "DL_REDIS_TIMEOUT_MS", default_value_t = 2_000)]
    pub redis_timeout_ms: u64,
    /// Default rate limit per caller, requests per second, shared by all replicas through
    /// Redis (0 = unlimited). Callers matched by a `rate_limits` entry of the auth config use
    /// that entry instead.
    #[arg(long, env = "DL_RATE_LIMIT_PER_SECOND", default_value_t = 0.0)]
    pub rate_limit_per_second: f64,
    /// Burst of the default rate limit: requests an idle caller may send back to back.
    #[arg(long, env = "DL_RATE_LIMIT_BURST", default_value_t = 100)]
    pub rate_limit_burst: u32,
}

impl Config {
    /// Evaluation threads to use.
    pub fn threads(&self) -> usize {
        if self.eval_threads > 0 {
            self.eval_threads
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }
    }
}

/// How results are framed on the results topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ResultsWireFormat {
    /// Avro single-object encoding (`C3 01` + fingerprint).
    SingleObject,
    /// Confluent wire format (`00` + schema id).
    Confluent,
}
