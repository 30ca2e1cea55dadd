//! `dlctl bench ledger-topic`: a synthetic signed ledger produced into a new topic, for measuring
//! what reads a ledger (`dlctl projection rebuild`, `dlctl ledger verify`) at a size no test run
//! reaches.
//!
//! One chain per partition, `<topic>:<partition>` as the worker names it, each laid out as a
//! worker appends it: the certificate of a worker key first, then signed decisions, a rejection
//! every `--rejection-every` records and a checkpoint every `--checkpoint-every` records. The
//! worker key is certified, and the checkpoints are signed, by the local certifier key of
//! `DL_SIGNER=local` / `DL_SIGNER_KEY_FILE` (created when missing, as by the worker), so a
//! projector or verifier configured with the same key finds no break.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use dl_ledger::ChainHead;
use dl_schema::{LedgerRecord, LedgerRecordKind};
use dl_signer::{LocalKeyFile, Signer, SignerConfig, WorkerKey, WorkerKeyPolicy};
use dl_verify::synthetic::{decision_body, local_checkpoint, rejection_body, sign_decision};
use rayon::prelude::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

/// Chain positions built, encoded and handed to the producer per round, per chain.
const ROUND: u64 = 5_000;
/// The records of one chain are spread over at most this span of `recorded_at` (1 ms apart
/// below it), well within a worker key's validity.
const MAX_SPAN_MS: u64 = 3_600_000;

/// Arguments of `dlctl bench ledger-topic`.
#[derive(clap::Args, Debug)]
pub struct LedgerTopicArgs {
    /// Ledger records to produce, over all partitions.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// The topic: created with `--partitions`; refused if it already holds records.
    #[arg(long)]
    topic: String,
    /// Partitions, one chain each.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// A signed checkpoint every this many records of a chain (0: none).
    #[arg(long, default_value_t = 1000)]
    checkpoint_every: u64,
    /// A rejection every this many records of a chain (0: none).
    #[arg(long, default_value_t = 50)]
    rejection_every: u64,
    /// Compression of the produced batches (`none`, `lz4`, `zstd`, ...).
    #[arg(long, default_value = "lz4")]
    compression: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Counts failed deliveries (the producer retries transient errors itself).
struct Deliveries {
    failed: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            if self.failed.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::error!(error = %e, "a ledger record was not delivered");
            }
        }
    }
}

/// What one chain position holds.
enum Body {
    Certificate,
    Checkpoint,
    Decision(Box<dl_schema::DecisionRecorded>),
    Rejection(Box<dl_schema::RequestRejected>),
}

/// Records of chain `p` of `partitions` when `total` are spread over them.
fn chain_len(total: u64, partitions: u64, p: u64) -> u64 {
    total / partitions + u64::from(p < total % partitions)
}

/// Runs the command; `Ok(false)` if a record was not delivered.
pub async fn run(brokers: &str, args: LedgerTopicArgs) -> anyhow::Result<bool> {
    anyhow::ensure!(args.partitions > 0, "--partitions must be positive");
    let partitions = u64::try_from(args.partitions)?;
    let key_file = match SignerConfig::from_env()? {
        SignerConfig::Local {
            key_file,
            algorithm,
        } => {
            LocalKeyFile::open_or_create(&key_file, algorithm)
                .with_context(|| format!("the certifier key {}", key_file.display()))?;
            key_file
        }
        SignerConfig::Kms(_) => {
            bail!("the synthetic ledger is certified by a local key: set DL_SIGNER=local and DL_SIGNER_KEY_FILE")
        }
    };
    let certifier = LocalKeyFile::open(&key_file)?;
    let signer = Signer::LocalKeyFile(LocalKeyFile::open(&key_file)?);
    let certifier_key_id = certifier.key_info().key_id.clone();

    crate::bench::ensure_topic(brokers, &args.topic, args.partitions).await?;
    tokio::task::block_in_place(|| check_empty(brokers, &args.topic, args.partitions))?;

    let base = chrono::Utc::now().timestamp_millis();
    let key = WorkerKey::certify(
        &signer,
        "bench-ledger",
        &WorkerKeyPolicy::default(),
        base - 1_000,
    )
    .await?;
    let context = Deliveries {
        failed: AtomicU64::new(0),
    };
    let producer: ThreadedProducer<Deliveries> = dl_kafka::client_config(brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "50")
        .set("batch.size", "1000000")
        .set("batch.num.messages", "100000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("compression.type", &args.compression)
        .create_with_context(context)
        .context("creating the producer")?;

    let started = Instant::now();
    let (produced, kinds) = tokio::task::block_in_place(|| {
        produce(&producer, &args, partitions, base, &key, &certifier)
    })?;
    producer
        .flush(Duration::from_secs(600))
        .context("flushing the producer")?;
    let seconds = started.elapsed().as_secs_f64();
    let failed = producer.context().failed.load(Ordering::Relaxed);
    let result = serde_json::json!({
        "topic": args.topic,
        "partitions": args.partitions,
        "records": produced,
        "certificates": kinds[0],
        "decisions": kinds[1],
        "rejections": kinds[2],
        "checkpoints": kinds[3],
        "failed_deliveries": failed,
        "certifier_key_id": certifier_key_id,
        "seconds": seconds,
        "records_per_second": produced as f64 / seconds.max(1e-9),
    });
    if args.json {
        crate::say!("{result}");
    } else {
        crate::say!(
            "{produced} ledger records into {} ({} chains: {} certificates, {} signed decisions, {} rejections, {} checkpoints by {certifier_key_id}) in {seconds:.1} s = {:.0} records/s{}",
            args.topic,
            args.partitions,
            kinds[0],
            kinds[1],
            kinds[2],
            kinds[3],
            produced as f64 / seconds.max(1e-9),
            if failed > 0 { format!("; {failed} NOT DELIVERED") } else { String::new() }
        );
    }
    Ok(failed == 0)
}

/// Refuses a topic that already holds records: its chains would be appended to from genesis.
fn check_empty(brokers: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    let consumer: BaseConsumer = dl_kafka::client_config(brokers)
        .set("group.id", "dlctl-bench-ledger")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let found = metadata
        .topics()
        .first()
        .map(|t| t.partitions().len())
        .unwrap_or(0);
    anyhow::ensure!(
        found == partitions as usize,
        "topic {topic} has {found} partitions, not {partitions}"
    );
    for p in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        anyhow::ensure!(
            high <= low,
            "topic {topic} already holds records (partition {p}): use a new topic"
        );
    }
    Ok(())
}

/// Builds, chains, encodes and produces every record, a round of chain positions at a time.
/// Returns the records handed to the producer and their count per kind (certificates,
/// decisions, rejections, checkpoints).
fn produce(
    producer: &ThreadedProducer<Deliveries>,
    args: &LedgerTopicArgs,
    partitions: u64,
    base: i64,
    key: &WorkerKey,
    certifier: &LocalKeyFile,
) -> anyhow::Result<(u64, [u64; 4])> {
    let codec = dl_schema::ledger_codec();
    let lens: Vec<u64> = (0..partitions)
        .map(|p| chain_len(args.records, partitions, p))
        .collect();
    let longest = lens.first().copied().unwrap_or(0);
    let mut heads: Vec<ChainHead> = (0..partitions)
        .map(|p| ChainHead::genesis(format!("{}:{p}", args.topic)))
        .collect();
    let every = |n: u64, k: u64| n > 0 && k % n == n - 1;
    let mut kinds = [0u64; 4];
    let mut produced = 0u64;
    let mut from = 0u64;
    while from < longest {
        let to = (from + ROUND).min(longest);
        // The bodies, decisions signed in parallel; (chain, position, body).
        let slots: Vec<(u64, u64)> = (0..partitions)
            .flat_map(|p| (from..to.min(lens[p as usize])).map(move |k| (p, k)))
            .collect();
        let bodies: Vec<(u64, u64, Body)> = slots
            .into_par_iter()
            .map(|(p, k)| {
                let at = recorded_at(base, k, lens[p as usize]);
                // Unique over all chains.
                let id = k * partitions + p;
                let body = if k == 0 {
                    Body::Certificate
                } else if every(args.checkpoint_every, k) {
                    Body::Checkpoint
                } else if every(args.rejection_every, k) {
                    Body::Rejection(Box::new(rejection_body(id, at)))
                } else {
                    let mut d = decision_body(id, at);
                    sign_decision(key, &mut d);
                    Body::Decision(Box::new(d))
                };
                (p, k, body)
            })
            .collect();
        // Chained in order, chain by chain (checkpoints sign the head before them).
        let mut records = Vec::with_capacity(bodies.len());
        for (p, k, body) in bodies {
            let at = recorded_at(base, k, lens[p as usize]);
            let (kind, slot) = match &body {
                Body::Certificate => (LedgerRecordKind::SigningKeyCertified, 0),
                Body::Decision(_) => (LedgerRecordKind::DecisionRecorded, 1),
                Body::Rejection(_) => (LedgerRecordKind::RequestRejected, 2),
                Body::Checkpoint => (LedgerRecordKind::Checkpoint, 3),
            };
            let head = &mut heads[p as usize];
            let mut r = LedgerRecord::unchained(kind, at);
            match body {
                Body::Certificate => r.key_certified = Some(key.certificate().clone()),
                Body::Decision(d) => r.decision = Some(*d),
                Body::Rejection(j) => r.rejection = Some(*j),
                Body::Checkpoint => {
                    r.checkpoint = local_checkpoint(certifier, head);
                    anyhow::ensure!(r.checkpoint.is_some(), "checkpoint of an empty chain");
                }
            }
            kinds[slot] += 1;
            records.push((p, head.append(r)));
        }
        let encoded: Vec<(i32, Vec<u8>)> = records
            .par_iter()
            .map(|(p, r)| Ok((i32::try_from(*p)?, codec.encode(r)?)))
            .collect::<anyhow::Result<_>>()?;
        for ((partition, payload), (_, record)) in encoded.iter().zip(&records) {
            let mut message = BaseRecord::to(&args.topic)
                .partition(*partition)
                .key(record.chain_id.as_bytes())
                .payload(payload);
            loop {
                match producer.send(message) {
                    Ok(()) => break,
                    Err((
                        rdkafka::error::KafkaError::MessageProduction(
                            rdkafka::types::RDKafkaErrorCode::QueueFull,
                        ),
                        m,
                    )) => {
                        message = m;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err((e, _)) => return Err(e).context("producing a ledger record"),
                }
            }
            produced += 1;
        }
        from = to;
    }
    Ok((produced, kinds))
}

/// `recorded_at` of position `k` of a chain of `len` records: 1 ms apart, squeezed into
/// [`MAX_SPAN_MS`] for longer chains.
fn recorded_at(base: i64, k: u64, len: u64) -> i64 {
    let offset = u128::from(k) * u128::from(MAX_SPAN_MS) / u128::from(len.max(MAX_SPAN_MS));
    base + i64::try_from(offset).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_share_the_records_and_times_stay_within_the_span() {
        assert_eq!(
            (0..4).map(|p| chain_len(10, 4, p)).collect::<Vec<_>>(),
            [3, 3, 2, 2]
        );
        assert_eq!((0..3).map(|p| chain_len(2, 3, p)).sum::<u64>(), 2);
        assert_eq!(recorded_at(100, 7, 1_000), 107);
        let long = 10 * MAX_SPAN_MS;
        assert!(recorded_at(0, long - 1, long) < MAX_SPAN_MS as i64);
    }
}
