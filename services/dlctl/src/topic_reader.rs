//! Reading a topic to its end (ledger verification, the archive, the projection rebuild): a
//! read_committed consumer that commits nothing and reports the end of each assigned partition.

use std::time::Duration;

use dl_kafka::EofAwareContext;
use rdkafka::consumer::BaseConsumer;
use rdkafka::message::BorrowedMessage;

/// How long a poll may bring nothing before reading is given up.
const STALL: Duration = Duration::from_secs(10);

/// A consumer of group `group` that reads committed records only and reports partition ends.
pub fn end_reader(brokers: &str, group: &str) -> anyhow::Result<BaseConsumer<EofAwareContext>> {
    Ok(dl_kafka::client_config(brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .create_with_context(EofAwareContext)?)
}

/// The partition ids and (low, high) watermarks of `topic`.
pub fn watermarks(
    consumer: &BaseConsumer<EofAwareContext>,
    topic: &str,
) -> anyhow::Result<Vec<(i32, (i64, i64))>> {
    dl_kafka::topic_partitions(consumer, topic, STALL)?
        .into_iter()
        .map(|p| {
            use rdkafka::consumer::Consumer as _;
            Ok((p, consumer.fetch_watermarks(topic, p, STALL)?))
        })
        .collect()
}

/// The next record, or `None` when an assigned partition reached its end. Blocks (call it in
/// `block_in_place` from async code); an error after 10 s without anything.
pub fn next_to_end<'c>(
    consumer: &'c BaseConsumer<EofAwareContext>,
    what: &str,
) -> anyhow::Result<Option<BorrowedMessage<'c>>> {
    match consumer.poll(STALL) {
        None => anyhow::bail!("no progress for 10 s while reading {what}"),
        Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => Ok(None),
        Some(Err(e)) => Err(e.into()),
        Some(Ok(m)) => Ok(Some(m)),
    }
}
