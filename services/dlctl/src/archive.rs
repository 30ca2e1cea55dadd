//! `dlctl ledger archive --to s3://bucket/prefix` (docs/ledger-integrity.md "Archive", ADR 0031):
//! reads the ledger topic (read_committed), cuts each chain into segments ending with a
//! `CHECKPOINT` record and writes every complete segment not archived yet as one object
//! `<prefix>/<chain_id>/<first>-<last>.avro-seq` (`dl_verify::archive`). Records after a chain's
//! last checkpoint wait for the next run. Idempotent: an object that exists is never written
//! again, and a chain is read again only after the Kafka offset its last object records
//! (metadata `dl-last-offset`).

use std::collections::{BTreeMap, HashSet};

use anyhow::{bail, Context};
use dl_schema::LedgerRecordKind;
use dl_verify::archive::{encode_segment, parse_segment_name, segment_name};
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::s3::{self, S3Location};
use crate::topic_reader;

/// Object metadata: the Kafka offset of the segment's checkpoint.
const LAST_OFFSET: &str = "dl-last-offset";

/// Arguments of `dlctl ledger archive`.
#[derive(clap::Args)]
pub struct ArchiveArgs {
    /// Ledger topic.
    #[arg(long, default_value = "decision.ledger")]
    topic: String,
    /// Where the segments go: `s3://bucket/prefix` (S3 settings: DL_S3_ENDPOINT or
    /// AWS_ENDPOINT_URL, AWS_REGION, AWS credentials, DL_S3_PATH_STYLE).
    #[arg(long, value_parser = S3Location::parse)]
    to: S3Location,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// One chain's segment being collected.
#[derive(Default)]
struct Open {
    values: Vec<Vec<u8>>,
    first: Option<i64>,
    /// Last sequence of the chain's archived segments, until a later record is read.
    archived_up_to: Option<i64>,
    /// Reading records that are archived already.
    skipping: bool,
    written: u64,
    skipped: u64,
    missing: Vec<(i64, i64)>,
}

/// An object written.
#[derive(serde::Serialize)]
struct Written {
    chain_id: String,
    key: String,
    first: i64,
    last: i64,
    records: usize,
    bytes: usize,
}

/// Archives the complete segments of every chain. `Ok(true)` unless records were found missing
/// from both the topic and the archive.
pub async fn archive(brokers: &str, args: ArchiveArgs) -> anyhow::Result<bool> {
    let client = s3::client().await?;
    let loc = &args.to;
    let topic = &args.topic;
    let existing: HashSet<String> = s3::list(&client, loc).await?.into_iter().collect();
    // Per chain: the archived segment that ends last.
    let mut last_archived: BTreeMap<String, (i64, i64, String)> = BTreeMap::new();
    for key in &existing {
        let Some((chain, name)) = loc.relative(key).and_then(|r| r.rsplit_once('/')) else {
            continue;
        };
        let Some((first, last)) = parse_segment_name(name) else {
            continue;
        };
        let e = last_archived
            .entry(chain.to_string())
            .or_insert((first, last, key.clone()));
        if (last, first) > (e.1, e.0) {
            *e = (first, last, key.clone());
        }
    }

    let consumer = topic_reader::end_reader(brokers, "dlctl-ledger-archive")?;
    let watermarks = tokio::task::block_in_place(|| topic_reader::watermarks(&consumer, topic))?;
    let mut chains: BTreeMap<i32, Open> = BTreeMap::new();
    let mut tpl = TopicPartitionList::new();
    let mut open = 0;
    for (p, (low, high)) in watermarks {
        let chain = format!("{topic}:{p}");
        let state = chains.entry(p).or_default();
        let mut start = low;
        if let Some((_, last, key)) = last_archived.get(&chain) {
            state.archived_up_to = Some(*last);
            let resume = s3::metadata(&client, &loc.bucket, key, LAST_OFFSET)
                .await?
                .and_then(|o| o.parse::<i64>().ok())
                .map(|o| o.saturating_add(1));
            if let Some(r) = resume.filter(|r| (low..=high).contains(r)) {
                start = r;
            }
        }
        if high > start {
            tpl.add_partition_offset(topic, p, Offset::Offset(start))?;
            open += 1;
        }
    }
    if open > 0 {
        consumer.assign(&tpl)?;
    }
    let codec = dl_schema::ledger_codec();
    let mut written: Vec<Written> = Vec::new();
    let mut done = 0;
    while done < open {
        let polled = tokio::task::block_in_place(|| {
            topic_reader::next_to_end(&consumer, "the ledger").map(|m| {
                m.map(|m| {
                    (
                        m.partition(),
                        m.offset(),
                        m.payload().unwrap_or_default().to_vec(),
                    )
                })
            })
        })?;
        let Some((p, offset, value)) = polled else {
            done += 1;
            continue;
        };
        let chain = format!("{topic}:{p}");
        let state = chains.entry(p).or_default();
        // Undecodable values are archived as they are (the verifier reports them); only a
        // decoded checkpoint ends a segment.
        let record = codec.decode(&value).ok();
        match (&record, state.archived_up_to) {
            // Already archived (read again from the low watermark when no object recorded its
            // offset): skipped, so that no partial segment overlapping an archived one is cut.
            (Some(r), Some(up_to)) if r.sequence <= up_to => {
                state.skipping = true;
                if r.kind == LedgerRecordKind::Checkpoint {
                    state.skipped += 1;
                }
                continue;
            }
            (None, _) if state.skipping => continue,
            (Some(r), Some(up_to)) => {
                state.skipping = false;
                if state.values.is_empty()
                    && state.first.is_none()
                    && r.sequence > up_to.saturating_add(1)
                {
                    state
                        .missing
                        .push((up_to.saturating_add(1), r.sequence - 1));
                }
                state.archived_up_to = None;
            }
            _ => {}
        }
        if let Some(r) = &record {
            state.first.get_or_insert(r.sequence);
        }
        state.values.push(value);
        let Some(r) = record.filter(|r| r.kind == LedgerRecordKind::Checkpoint) else {
            continue;
        };
        let first = state.first.take().unwrap_or(r.sequence);
        let values = std::mem::take(&mut state.values);
        let key = loc.key(&format!("{chain}/{}", segment_name(first, r.sequence)));
        if existing.contains(&key) {
            state.skipped += 1;
            continue;
        }
        let bytes = encode_segment(&values);
        let size = bytes.len();
        s3::put(
            &client,
            &loc.bucket,
            &key,
            bytes,
            &[(LAST_OFFSET, offset.to_string())],
        )
        .await?;
        state.written += 1;
        if !args.json {
            crate::say!(
                "wrote s3://{}/{key} ({} records, {size} bytes)",
                loc.bucket,
                values.len()
            );
        }
        written.push(Written {
            chain_id: chain,
            key,
            first,
            last: r.sequence,
            records: values.len(),
            bytes: size,
        });
    }
    print(&args, &chains, &written);
    Ok(chains.values().all(|c| c.missing.is_empty()))
}

fn print(args: &ArchiveArgs, chains: &BTreeMap<i32, Open>, written: &[Written]) {
    let topic = &args.topic;
    if args.json {
        let per_chain: Vec<serde_json::Value> = chains
            .iter()
            .map(|(p, c)| {
                serde_json::json!({
                    "chain_id": format!("{topic}:{p}"),
                    "written": c.written,
                    "skipped": c.skipped,
                    "pending": c.values.len(),
                    "missing": c.missing,
                })
            })
            .collect();
        crate::say!(
            "{}",
            serde_json::json!({
                "ok": chains.values().all(|c| c.missing.is_empty()),
                "to": args.to.to_string(),
                "written": written,
                "chains": per_chain,
            })
        );
        return;
    }
    for (p, c) in chains {
        crate::say!(
            "chain {topic}:{p}  segments written {}  already archived {}  records after the last checkpoint (not archived yet) {}",
            c.written,
            c.skipped,
            c.values.len()
        );
        for (from, to) in &c.missing {
            crate::say!(
                "  MISSING records {from}..={to}: neither archived nor in the topic any more"
            );
        }
    }
    crate::say!("{} segment objects written to {}", written.len(), args.to);
}

/// Reads the segment objects under `loc` per chain, in chain order, into `chains`; returns the
/// segments' own breaks (`dl_verify::archive::read_segment`) and the number of objects read.
pub(crate) async fn read_s3(
    loc: &S3Location,
    chains: &mut crate::ledger::Chains,
) -> anyhow::Result<(Vec<dl_verify::Break>, usize)> {
    let client = s3::client().await?;
    let mut objects: BTreeMap<String, Vec<(i64, i64, String, String)>> = BTreeMap::new();
    for key in s3::list(&client, loc).await? {
        let parsed = loc
            .relative(&key)
            .and_then(|r| r.rsplit_once('/'))
            .and_then(|(chain, name)| {
                parse_segment_name(name).map(|(f, l)| (chain.to_string(), f, l, name.to_string()))
            });
        match parsed {
            Some((chain, f, l, name)) => objects.entry(chain).or_default().push((f, l, name, key)),
            None => tracing::warn!(%key, "not a ledger segment object: ignored"),
        }
    }
    if objects.is_empty() {
        bail!("no ledger segment objects under {loc}");
    }
    let codec = dl_schema::ledger_codec();
    let mut own = Vec::new();
    let mut count = 0;
    for (chain, mut segments) in objects {
        segments.sort();
        chains.declare(&chain);
        for (_, _, name, key) in segments {
            let bytes = s3::get(&client, &loc.bucket, &key)
                .await
                .context("reading the archive")?;
            let read = dl_verify::archive::read_segment_with(&codec, &chain, &name, &bytes);
            for item in read.items {
                chains.push(&chain, item, &crate::ledger::no_extra).await;
            }
            own.extend(read.breaks);
            count += 1;
        }
        // Keep segment breaks in chain order with the verifier's: verify this chain now.
        chains.flush(&crate::ledger::no_extra).await;
    }
    Ok((own, count))
}
