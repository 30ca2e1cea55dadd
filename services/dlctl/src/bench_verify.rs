//! `dlctl bench verify`: ledger verification throughput on a synthetic signed ledger built in
//! memory (no Kafka, no database), parallel against a single-thread baseline in the same run,
//! plus the cost of signing a decision and of hashing a record.

use std::time::Instant;

use dl_schema::{LedgerRecord, LedgerRecordKind};
use dl_signer::{decision_payload, Algorithm, LocalKeyFile, Signer, WorkerKey, WorkerKeyPolicy};
use dl_verify::synthetic::{decision_body, local_checkpoint, sign_decision};
use dl_verify::{ChainVerifier, Item, TrustAnchors, VerifyOptions};
use rayon::prelude::*;

const CHAIN: &str = "bench.ledger:0";
const CHUNK: usize = 20_000;

/// Arguments of `dlctl bench verify`.
#[derive(clap::Args, Debug)]
pub struct VerifyBenchArgs {
    /// Records in the synthetic ledger (one chain).
    #[arg(long, default_value_t = 1_000_000)]
    records: usize,
    /// A checkpoint after every this many records.
    #[arg(long, default_value_t = 1000)]
    checkpoint_every: usize,
    /// Skip the single-thread baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Skip the baseline with every signature verified on its own (all threads; the method
    /// before batch verification, ADR 0025).
    #[arg(long)]
    no_single_signatures: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// CPU time (user + system, all threads) of this process so far, in seconds: `/proc/self/stat`
/// on Linux (clock ticks of 1/100 s), `None` elsewhere. On a shared machine it tells the work
/// done apart from the time spent waiting for a core.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name (in parentheses, may contain spaces): field 3 (state)
    // first, so utime (field 14) and stime (15) are at 11 and 12.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// One verification run: (wall seconds, ok, signatures verified, CPU seconds).
type Run = (f64, bool, u64, Option<f64>);

fn verify_all(
    items: &[Item],
    anchors: &TrustAnchors,
    parallel: bool,
    single_signatures: bool,
) -> Run {
    let cpu = cpu_seconds();
    let started = Instant::now();
    let mut v =
        ChainVerifier::new(CHAIN, VerifyOptions::default()).single_signatures(single_signatures);
    for chunk in items.chunks(CHUNK) {
        if parallel {
            v.push_batch(chunk, anchors);
        } else {
            v.push_batch_sequential(chunk, anchors);
        }
    }
    let r = v.report();
    (
        started.elapsed().as_secs_f64(),
        r.ok,
        r.stats.signatures_verified,
        cpu.zip(cpu_seconds()).map(|(a, b)| b - a),
    )
}

fn run_json(n: f64, (s, _, _, cpu): &Run) -> serde_json::Value {
    serde_json::json!({
        "seconds": s,
        "records_per_second": n / s,
        "seconds_per_million": s * 1e6 / n,
        "cpu_seconds": cpu,
        "cpu_seconds_per_million": cpu.map(|c| c * 1e6 / n),
    })
}

fn cpu_text(n: f64, cpu: Option<f64>) -> String {
    cpu.map(|c| format!(", CPU {c:.1} s = {:.1} CPU-s per million", c * 1e6 / n))
        .unwrap_or_default()
}

/// Runs the benchmark; `Ok(false)` if the synthetic ledger did not verify.
pub async fn run(args: VerifyBenchArgs) -> anyhow::Result<bool> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("certifier.pem");
    // The certifier: P-256 like a KMS ECC_NIST_P256 key.
    let certifier = LocalKeyFile::open_or_create(&path, Algorithm::EcdsaP256Sha256)?;
    let signer = Signer::LocalKeyFile(LocalKeyFile::open(&path)?);
    let info = certifier.key_info();
    let mut anchors = TrustAnchors::new();
    anchors.insert(&info.key_id, info.public_key_spki.clone())?;
    let now = chrono::Utc::now().timestamp_millis();
    let policy = WorkerKeyPolicy::default();
    let key = WorkerKey::certify(&signer, "bench-worker", &policy, now).await?;
    let threads = rayon::current_num_threads();

    // Signing cost per decision (payload + Ed25519 signature), one thread.
    let n_sign = args.records.clamp(1, 20_000);
    let bodies: Vec<_> = (0..n_sign as u64).map(|i| decision_body(i, now)).collect();
    let started = Instant::now();
    let mut sink = 0usize;
    for d in &bodies {
        sink += key.sign(&decision_payload(d)).value.len();
    }
    let sign_us = started.elapsed().as_secs_f64() * 1e6 / n_sign as f64;
    let started = Instant::now();
    for d in &bodies {
        sink += decision_payload(d).len();
    }
    let payload_us = started.elapsed().as_secs_f64() * 1e6 / n_sign as f64;

    // Build the ledger: one certificate, signed decisions (signed in parallel), a checkpoint
    // every `checkpoint_every` records.
    let started = Instant::now();
    let n_decisions = args.records.saturating_sub(1);
    let decisions: Vec<_> = (0..n_decisions as u64)
        .into_par_iter()
        .map(|i| {
            let mut d = decision_body(i, now + 1);
            sign_decision(&key, &mut d);
            d
        })
        .collect();
    let mut head = dl_ledger::ChainHead::genesis(CHAIN);
    let mut items: Vec<Item> = Vec::with_capacity(args.records);
    let mut cert = LedgerRecord::unchained(LedgerRecordKind::SigningKeyCertified, now);
    cert.key_certified = Some(key.certificate().clone());
    items.push(Item::Record(head.append(cert)));
    let every = args.checkpoint_every.max(2);
    for d in decisions {
        if items.len() >= args.records {
            break;
        }
        let record = if items.len() % every == every - 1 {
            let mut r = LedgerRecord::unchained(LedgerRecordKind::Checkpoint, now + 1);
            r.checkpoint = local_checkpoint(&certifier, &head);
            r
        } else {
            let mut r = LedgerRecord::unchained(LedgerRecordKind::DecisionRecorded, now + 1);
            r.decision = Some(d);
            r
        };
        items.push(Item::Record(head.append(record)));
    }
    let build_s = started.elapsed().as_secs_f64();

    // Hashing one record: direct canonical writer vs the serde_json tree reference.
    let sample: Vec<_> = items
        .iter()
        .take(20_000)
        .filter_map(|i| match i {
            Item::Record(r) => Some(r),
            Item::Undecodable { .. } | Item::Opaque { .. } => None,
        })
        .collect();
    let started = Instant::now();
    for r in &sample {
        sink += dl_ledger::record_hash(r).len();
    }
    let hash_us = started.elapsed().as_secs_f64() * 1e6 / sample.len().max(1) as f64;
    let started = Instant::now();
    for r in &sample {
        sink += dl_ledger::record_hash_reference(r).len();
    }
    let hash_ref_us = started.elapsed().as_secs_f64() * 1e6 / sample.len().max(1) as f64;

    let (par_s, par_ok, verified, par_cpu) = verify_all(&items, &anchors, true, false);
    let single = (!args.no_single_signatures).then(|| verify_all(&items, &anchors, true, true));
    let baseline = (!args.no_baseline).then(|| verify_all(&items, &anchors, false, false));
    let n = items.len() as f64;
    let result = serde_json::json!({
        "records": items.len(),
        "signed_decisions_verified": verified,
        "checkpoint_every": every,
        "threads": threads,
        "build_seconds": build_s,
        "sign_us_per_decision": sign_us,
        "decision_payload_us": payload_us,
        "record_hash_us": hash_us,
        "record_hash_reference_us": hash_ref_us,
        "parallel": run_json(n, &(par_s, par_ok, verified, par_cpu)),
        "single_thread": baseline.as_ref().map(|b| run_json(n, b)),
        "speedup": baseline.map(|(s, _, _, _)| s / par_s),
        "parallel_single_signatures": single.as_ref().map(|b| run_json(n, b)),
        "batch_speedup": single.map(|(s, _, _, _)| s / par_s),
        "ok": par_ok && baseline.is_none_or(|b| b.1) && single.is_none_or(|b| b.1),
        "_sink": sink % 2,
    });
    if args.json {
        crate::say!("{result}");
    } else {
        crate::say!("synthetic ledger: {} records ({verified} signed decisions verified, a checkpoint every {every}), built in {build_s:.1} s", items.len());
        crate::say!("sign one decision (payload + Ed25519): {sign_us:.1} µs (payload alone {payload_us:.1} µs)");
        crate::say!("record hash: {hash_us:.2} µs (serde_json tree reference {hash_ref_us:.2} µs)");
        crate::say!(
            "verify, {threads} threads: {par_s:.2} s = {:.0} records/s ({:.1} s per million){}",
            n / par_s,
            par_s * 1e6 / n,
            cpu_text(n, par_cpu)
        );
        if let Some((s, _, _, cpu)) = single {
            crate::say!("verify, {threads} threads, signatures one by one (strict): {s:.2} s = {:.0} records/s ({:.1} s per million){}; batch speedup {:.2}x", n / s, s * 1e6 / n, cpu_text(n, cpu), s / par_s);
        }
        if let Some((s, _, _, cpu)) = baseline {
            crate::say!("verify, 1 thread:  {s:.2} s = {:.0} records/s ({:.1} s per million){}; speedup {:.2}x", n / s, s * 1e6 / n, cpu_text(n, cpu), s / par_s);
        }
    }
    Ok(result["ok"].as_bool().unwrap_or(false))
}
