//! Client configuration.

use rdkafka::ClientConfig;

/// librdkafka properties taken from the environment: `KAFKA_SECURITY_PROTOCOL=ssl` becomes
/// `security.protocol=ssl`, `KAFKA_SSL_CA_LOCATION=/x` becomes `ssl.ca.location=/x`.
/// Values are never logged (they may be secrets).
pub fn passthrough_from_env() -> Vec<(String, String)> {
    std::env::vars()
        .filter_map(|(k, v)| {
            let rest = k.strip_prefix("KAFKA_")?;
            (!rest.is_empty()).then(|| (rest.to_ascii_lowercase().replace('_', "."), v))
        })
        .collect()
}

/// Base configuration for any client of `brokers` (comma-separated `host:port`).
pub fn client_config(brokers: &str) -> ClientConfig {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", brokers)
        .set("client.dns.lookup", "use_all_dns_ips")
        .set("socket.keepalive.enable", "true");
    for (k, v) in passthrough_from_env() {
        cfg.set(k, v);
    }
    cfg
}

/// Client context for readers that use `enable.partition.eof`: reaching the end of a partition
/// is expected, not an error worth logging. Other errors are logged as warnings.
#[derive(Debug, Default, Clone, Copy)]
pub struct EofAwareContext;

impl rdkafka::ClientContext for EofAwareContext {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        use rdkafka::error::KafkaError;
        use rdkafka::types::RDKafkaErrorCode;
        if !matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        ) {
            tracing::warn!(%error, reason, "kafka client error");
        }
    }
}

impl rdkafka::consumer::ConsumerContext for EofAwareContext {}

/// Why a topic's partitions could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    /// The broker could not be asked.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The broker does not know the topic (or it has no partitions).
    #[error("topic {0} does not exist: run `dlctl topology apply`")]
    Missing(String),
}

/// The partition ids of `topic`, from the broker's metadata.
pub fn topic_partitions<X, C>(
    consumer: &C,
    topic: &str,
    timeout: std::time::Duration,
) -> Result<Vec<i32>, TopicError>
where
    X: rdkafka::consumer::ConsumerContext,
    C: rdkafka::consumer::Consumer<X>,
{
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let ids: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if ids.is_empty() {
        return Err(TopicError::Missing(topic.to_string()));
    }
    Ok(ids)
}

/// Produces `record`, waiting (in 5 ms steps, up to `timeout`) while the producer's local
/// queue is full instead of failing the batch; other errors are returned at once.
pub fn send_waiting(
    producer: &rdkafka::producer::ThreadedProducer<rdkafka::producer::DefaultProducerContext>,
    mut record: rdkafka::producer::BaseRecord<'_, [u8], [u8]>,
    timeout: std::time::Duration,
) -> Result<(), rdkafka::error::KafkaError> {
    use rdkafka::error::KafkaError;
    use rdkafka::types::RDKafkaErrorCode;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r))
                if std::time::Instant::now() < deadline =>
            {
                record = r;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err((e, _)) => return Err(e),
        }
    }
}
