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
///
/// The head also gets the hashes of the records after the chain's last checkpoint (the next
/// checkpoint's Merkle tree, ADR 0032), read back at most `segment_bound` offsets; when they
/// cannot be read within that bound the head's segment is unknown and its next checkpoint has
/// no root.
pub fn recover_head(
    reader: &LedgerReader,
    codec: &Codec<LedgerRecord>,
    topic: &str,
    partition: i32,
    timeout: Duration,
    segment_bound: i64,
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
            let head = ChainHead::after(&record);
            let head = if head.segment().is_some() {
                head
            } else {
                let from = (high - segment_bound.max(1)).max(low);
                let segment =
                    read_segment(reader, codec, topic, partition, from, &record, deadline);
                head.with_segment(segment)
            };
            tracing::info!(chain = %chain_id, next_sequence = record.sequence + 1, segment = head.segment().map(<[_]>::len), "recovered chain head");
            return Ok(head);
        }
        if start == low {
            // Only aborted or control records: the chain has no committed record yet.
            return Ok(ChainHead::genesis(chain_id));
        }
        window *= 4;
    }
}

/// The hashes of the records after the last checkpoint up to `last` (inclusive), reading the
/// partition from offset `from`: `None` when no checkpoint (nor the chain's first record) lies
/// in that range, the records read do not link up to `last`, or the read fails or times out.
fn read_segment(
    reader: &LedgerReader,
    codec: &Codec<LedgerRecord>,
    topic: &str,
    partition: i32,
    from: i64,
    last: &LedgerRecord,
    deadline: Instant,
) -> Option<Vec<dl_ledger::merkle::Hash32>> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(from))
        .ok()?;
    reader.assign(&tpl).ok()?;
    // `known`: the records collected start right after a checkpoint (or at sequence 0).
    let mut known = false;
    let mut segment = Vec::new();
    let mut previous: Option<(i64, String)> = None;
    loop {
        if Instant::now() > deadline {
            return None;
        }
        let record = match reader.poll(Duration::from_millis(200)) {
            None => continue,
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break,
            Some(Err(_)) => return None,
            Some(Ok(m)) => codec.decode(m.payload().unwrap_or_default()).ok()?,
        };
        if record.sequence > last.sequence {
            break;
        }
        if let Some((seq, hash)) = &previous {
            if record.sequence != seq + 1 || &record.prev_hash != hash {
                return None;
            }
        }
        if record.kind == dl_schema::LedgerRecordKind::Checkpoint {
            known = true;
            segment.clear();
        } else {
            if previous.is_none() && record.sequence == 0 {
                known = true;
            }
            segment.push(dl_ledger::merkle::parse_hash(&record.hash).ok()?);
        }
        previous = Some((record.sequence, record.hash));
    }
    let linked = previous.is_some_and(|(seq, hash)| seq == last.sequence && hash == last.hash);
    (known && linked).then_some(segment)
}

/// How many offsets back recovery reads for the segment of a chain checkpointed every
/// `every_records` records: four intervals plus room for batches and transaction markers.
pub fn segment_bound(every_records: u64) -> i64 {
    i64::try_from(every_records)
        .unwrap_or(i64::MAX / 8)
        .min(dl_ledger::MAX_SEGMENT_LEAVES as i64)
        .saturating_mul(4)
        .saturating_add(4096)
}
