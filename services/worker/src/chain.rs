//! Recovering a chain's head from the ledger topic when the worker gets a partition.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use dl_ledger::{record_hash, ChainHead};
use dl_schema::{Codec, LedgerRecord};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// The consumer that reads ledger tails (read_committed, no group membership, end-of-partition
/// events on). One per pipeline, shared by every recovery.
pub type LedgerReader = BaseConsumer<dl_kafka::EofAwareContext>;

/// Creates the ledger reader of a pipeline.
pub fn ledger_reader(base: &ClientConfig) -> anyhow::Result<LedgerReader> {
    base.clone()
        .set("group.id", "dl-worker-chain-recovery")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .create_with_context(dl_kafka::EofAwareContext)
        .context("creating the ledger reader")
}

/// Reads the newest committed record of a ledger partition (read_committed) and returns the head
/// after it, or the genesis head of an empty partition. The record's own hash is checked: the
/// worker refuses to extend a chain whose last link does not verify.
pub fn recover_head(
    reader: &LedgerReader,
    codec: &Codec<LedgerRecord>,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> anyhow::Result<ChainHead> {
    let chain_id = format!("{topic}:{partition}");
    let (low, high) = reader
        .fetch_watermarks(topic, partition, timeout)
        .context("reading ledger watermarks")?;
    if high <= low {
        return Ok(ChainHead::genesis(chain_id));
    }
    // Look back through a growing window: the tail may hold transaction markers only.
    let mut window = 16_i64;
    let deadline = Instant::now() + timeout;
    loop {
        let start = (high - window).max(low);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Offset(start))?;
        reader.assign(&tpl)?;
        let mut last: Option<LedgerRecord> = None;
        loop {
            if Instant::now() > deadline {
                bail!("timed out reading the tail of {chain_id}");
            }
            match reader.poll(Duration::from_millis(200)) {
                None => continue,
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break,
                Some(Err(e)) => return Err(e).context("reading the ledger tail"),
                Some(Ok(m)) => {
                    let bytes = m.payload().unwrap_or_default();
                    let record = codec.decode(bytes).with_context(|| {
                        format!(
                            "undecodable ledger record at {chain_id} offset {}",
                            m.offset()
                        )
                    })?;
                    if record.chain_id != chain_id {
                        bail!(
                            "ledger record at {chain_id} offset {} belongs to chain {}",
                            m.offset(),
                            record.chain_id
                        );
                    }
                    last = Some(record);
                }
            }
        }
        if let Some(record) = last {
            if record_hash(&record) != record.hash {
                bail!("the last record of {chain_id} (sequence {}) does not verify; refusing to extend it", record.sequence);
            }
            metrics::counter!("dl_worker_chain_recoveries_total").increment(1);
            tracing::info!(chain = %chain_id, next_sequence = record.sequence + 1, "recovered chain head");
            return Ok(ChainHead::after(&record));
        }
        if start == low {
            // Only aborted or control records: the chain has no committed record yet.
            return Ok(ChainHead::genesis(chain_id));
        }
        window *= 4;
    }
}
