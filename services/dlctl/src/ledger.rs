//! `dlctl ledger verify`: every chain of the ledger topic, hash by hash.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::bail;
use dl_ledger::ChainVerifier;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

/// Arguments of `dlctl ledger verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Ledger topic.
    #[arg(long, default_value = "decision.ledger")]
    topic: String,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Reads every partition from its first offset to its end and verifies each chain.
pub async fn verify(brokers: &str, args: VerifyArgs) -> anyhow::Result<bool> {
    let brokers = brokers.to_string();
    tokio::task::spawn_blocking(move || verify_blocking(&brokers, &args)).await?
}

fn verify_blocking(brokers: &str, args: &VerifyArgs) -> anyhow::Result<bool> {
    let consumer: BaseConsumer<dl_kafka::EofAwareContext> = dl_kafka::client_config(brokers)
        .set("group.id", "dlctl-ledger-verify")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .create_with_context(dl_kafka::EofAwareContext)?;
    let metadata = consumer.fetch_metadata(Some(&args.topic), Duration::from_secs(10))?;
    let partitions = metadata
        .topics()
        .first()
        .map(|t| t.partitions().len())
        .unwrap_or(0) as i32;
    if partitions == 0 {
        bail!("topic {} does not exist", args.topic);
    }
    let mut tpl = TopicPartitionList::new();
    let mut open = 0;
    for p in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(&args.topic, p, Duration::from_secs(10))?;
        if high > low {
            tpl.add_partition_offset(&args.topic, p, Offset::Offset(low))?;
            open += 1;
        }
    }
    let codec = dl_schema::ledger_codec();
    let mut verifiers: BTreeMap<i32, ChainVerifier> = (0..partitions)
        .map(|p| {
            (
                p,
                ChainVerifier::from_genesis(format!("{}:{p}", args.topic)),
            )
        })
        .collect();
    let mut counts: BTreeMap<i32, u64> = BTreeMap::new();
    let mut breaks: Vec<String> = Vec::new();
    let started = Instant::now();
    if open > 0 {
        consumer.assign(&tpl)?;
    }
    let mut done = 0;
    while done < open {
        match consumer.poll(Duration::from_secs(10)) {
            None => bail!("no progress for 10 s while reading the ledger"),
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => done += 1,
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(m)) => {
                let p = m.partition();
                *counts.entry(p).or_default() += 1;
                match codec.decode(m.payload().unwrap_or_default()) {
                    Ok(record) => {
                        if let Err(b) = verifiers
                            .entry(p)
                            .or_insert_with(ChainVerifier::anywhere)
                            .verify(&record)
                        {
                            breaks.push(format!("offset {}: {b}", m.offset()));
                        }
                    }
                    Err(e) => breaks.push(format!(
                        "{}:{p} offset {}: undecodable record: {e}",
                        args.topic,
                        m.offset()
                    )),
                }
            }
        }
    }
    let total: u64 = counts.values().sum();
    let secs = started.elapsed().as_secs_f64();
    if args.json {
        let chains: Vec<_> = verifiers
            .iter()
            .map(|(p, v)| serde_json::json!({"partition": p, "records": counts.get(p).copied().unwrap_or(0), "next_sequence": v.head().map(|h| h.next_sequence)}))
            .collect();
        crate::say!(
            "{}",
            serde_json::json!({"ok": breaks.is_empty(), "records": total, "seconds": secs, "chains": chains, "breaks": breaks})
        );
    } else {
        for (p, v) in &verifiers {
            let n = counts.get(p).copied().unwrap_or(0);
            crate::say!(
                "chain {}:{p}  records {n}  next sequence {}",
                args.topic,
                v.head().map(|h| h.next_sequence).unwrap_or(0)
            );
        }
        for b in &breaks {
            crate::say!("BREAK {b}");
        }
        crate::say!(
            "{} records in {:.2} s: {}",
            total,
            secs,
            if breaks.is_empty() {
                "all chains verify"
            } else {
                "chains do NOT verify"
            }
        );
    }
    Ok(breaks.is_empty())
}
