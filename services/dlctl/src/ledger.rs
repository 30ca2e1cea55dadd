//! `dlctl ledger verify`: every chain of the ledger, from Kafka or from PostgreSQL: sequence,
//! links, hashes, key certificates, decision signatures, checkpoints (`dl-verify`), and with
//! `--from postgres` also every `decisions` row against its ledger record. `--from tenant-view`
//! verifies as a tenant's auditor (docs/tenancy.md): the view `tenant_ledger`, the tenant's own
//! records, certificates and checkpoints in full, every other tenant's record by its position and
//! hashes only (`dl_verify::Item::Opaque`), counted as `foreign`. `--from s3://bucket/prefix`
//! verifies the archive written by `dlctl ledger archive` alone (`crate::archive`).
//!
//! Exit codes: 0 every chain verifies, 1 a break was found, 2 could not verify (I/O, config).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use dl_schema::LedgerRecord;
use dl_store::read;
use dl_verify::{
    Break, ChainReport, ChainVerifier, DecisionRow, Item, OutcomeStatus, Report, TrustAnchors,
    VerifyOptions,
};
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::s3::S3Location;
use crate::topic_reader;

/// Records verified per parallel batch (bounds memory for long ledgers).
const CHUNK: usize = 20_000;

/// Where the ledger is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The ledger topic (read_committed), the source of truth.
    Kafka,
    /// The projection (`ledger_records`, cross-checking `decisions`).
    Postgres,
    /// The projection as a tenant's auditor sees it (`tenant_ledger`): own records, key
    /// certificates and checkpoints in full, other tenants' records by position and hashes only;
    /// no `decisions` cross-check. Connect as the auditor's role (`dl_add_tenant_auditor`).
    TenantView,
    /// The archive written by `dlctl ledger archive` (`s3://bucket/prefix`), alone.
    S3(S3Location),
}

impl Source {
    fn as_str(&self) -> &'static str {
        match self {
            Source::Kafka => "kafka",
            Source::Postgres => "postgres",
            Source::TenantView => "tenant-view",
            Source::S3(_) => "s3",
        }
    }

    /// Parses `kafka`, `postgres`, `tenant-view` or `s3://bucket/prefix`.
    fn parse(s: &str) -> Result<Self, String> {
        match s {
            "kafka" => Ok(Source::Kafka),
            "postgres" => Ok(Source::Postgres),
            "tenant-view" => Ok(Source::TenantView),
            s if s.starts_with("s3://") => S3Location::parse(s)
                .map(Source::S3)
                .map_err(|e| e.to_string()),
            _ => Err("use kafka, postgres, tenant-view or s3://bucket/prefix".into()),
        }
    }
}

/// Arguments of `dlctl ledger verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Ledger topic.
    #[arg(long, default_value = "decision.ledger")]
    topic: String,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Where the ledger is read from: `kafka` (the ledger topic), `postgres` (the projection,
    /// cross-checking `decisions`), `tenant-view` (as a tenant's auditor), or
    /// `s3://bucket/prefix` (the archive of `dlctl ledger archive`, alone; S3 settings as there).
    #[arg(long, value_parser = Source::parse, default_value = "kafka")]
    from: Source,
    /// PostgreSQL URL (with `--from postgres`; with `--from tenant-view`, the tenant auditor's
    /// login).
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Trusted certifier public key `KEY_ID=PATH` (PEM or DER SubjectPublicKeyInfo); repeatable.
    /// With DL_SIGNER=local the key of DL_SIGNER_KEY_FILE is trusted too.
    #[arg(long = "certifier-key")]
    certifier_keys: Vec<String>,
    /// KMS key trusted as certifier (key id, key ARN or alias, resolved to its key ARN now),
    /// with DL_SIGNER=kms and the DL_KMS_* client settings; repeatable or comma-separated.
    /// Certificates and checkpoints by any other key are UNTRUSTED_CERTIFIER.
    #[arg(
        long = "trusted-certifier",
        env = "DL_TRUSTED_CERTIFIERS",
        value_delimiter = ','
    )]
    trusted_certifiers: Vec<String>,
    /// Accept decisions without a signature.
    #[arg(long)]
    allow_unsigned: bool,
    /// Verify every decision signature on its own with the strict Ed25519 check instead of in
    /// batches (ADR 0025): about twice as slow; also refuses signatures the key holder crafted
    /// with a small-order component, which the batch equation accepts.
    #[arg(long)]
    single_signatures: bool,
}

/// Progress on stderr, only when stderr is a terminal.
struct Progress {
    on: bool,
    started: Instant,
    last: Instant,
}

impl Progress {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            on: std::io::stderr().is_terminal(),
            started: now,
            last: now,
        }
    }

    fn tick(&mut self, records: u64) {
        if self.on && self.last.elapsed() >= Duration::from_millis(250) {
            self.last = Instant::now();
            let secs = self.started.elapsed().as_secs_f64().max(1e-9);
            let _ = write!(
                std::io::stderr(),
                "\r{records} records verified, {:.0}/s   ",
                records as f64 / secs
            );
        }
    }

    fn done(&self) {
        if self.on {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

/// Verifiers per chain, fed in chunks.
pub(crate) struct Chains {
    anchors: TrustAnchors,
    opts: VerifyOptions,
    single_signatures: bool,
    verifiers: BTreeMap<String, ChainVerifier>,
    pending: BTreeMap<String, Vec<Item>>,
    pending_len: usize,
    verified: u64,
    progress: Progress,
}

impl Chains {
    fn new(anchors: TrustAnchors, opts: VerifyOptions, single_signatures: bool) -> Self {
        Self {
            anchors,
            opts,
            single_signatures,
            verifiers: BTreeMap::new(),
            pending: BTreeMap::new(),
            pending_len: 0,
            verified: 0,
            progress: Progress::new(),
        }
    }

    pub(crate) fn declare(&mut self, chain: &str) {
        if !self.verifiers.contains_key(chain) {
            self.verifiers.insert(
                chain.to_string(),
                ChainVerifier::new(chain, self.opts).single_signatures(self.single_signatures),
            );
        }
    }

    pub(crate) async fn push(
        &mut self,
        chain: &str,
        item: Item,
        extra: &(dyn Fn(&LedgerRecord) -> Option<Break> + Sync),
    ) {
        self.declare(chain);
        self.pending
            .entry(chain.to_string())
            .or_default()
            .push(item);
        self.pending_len += 1;
        if self.pending_len >= CHUNK {
            self.flush(extra).await;
        }
    }

    pub(crate) async fn flush(&mut self, extra: &(dyn Fn(&LedgerRecord) -> Option<Break> + Sync)) {
        let pending = std::mem::take(&mut self.pending);
        self.pending_len = 0;
        for (chain, items) in pending {
            if let Some(v) = self.verifiers.get_mut(&chain) {
                v.push_batch_with(&items, &self.anchors, extra);
                self.verified += items.len() as u64;
            }
        }
        self.progress.tick(self.verified);
    }

    fn report(self) -> Report {
        self.progress.done();
        Report {
            chains: self.verifiers.values().map(ChainVerifier::report).collect(),
        }
    }
}

pub(crate) fn no_extra(_: &LedgerRecord) -> Option<Break> {
    None
}

/// Reads the ledger and verifies each chain. `Ok(false)` when a break was found.
/// With `--from tenant-view`, `tenant_arg` (`--tenant`), when given, must be the tenant the connected
/// role audits.
pub async fn verify(
    brokers: &str,
    tenant_arg: Option<&str>,
    args: VerifyArgs,
) -> anyhow::Result<bool> {
    let anchors = dl_verify::anchors_from_env(&args.certifier_keys, &args.trusted_certifiers)
        .await
        .context("loading trust anchors")?;
    if anchors.is_empty() {
        tracing::warn!("no trusted certifier key: certificates and checkpoints will not verify (use --certifier-key, DL_SIGNER_KEY_FILE, or DL_SIGNER=kms with --trusted-certifier)");
    }
    let opts = VerifyOptions {
        allow_unsigned: args.allow_unsigned,
        report_untrusted: true,
    };
    let mut chains = Chains::new(anchors, opts, args.single_signatures);
    let started = Instant::now();
    let mut tenant = None;
    let mut archive = None;
    match &args.from {
        Source::Kafka => read_kafka(brokers, &args.topic, &mut chains).await?,
        Source::Postgres => {
            let url = args
                .database_url
                .as_deref()
                .context("--from postgres needs --database-url or DATABASE_URL")?;
            read_postgres(url, &mut chains).await?;
        }
        Source::TenantView => {
            let url = args.database_url.as_deref().context(
                "--from tenant-view needs --database-url (or DATABASE_URL) logging in as a tenant's auditor",
            )?;
            tenant = Some(read_tenant_view(url, tenant_arg, &mut chains).await?);
        }
        Source::S3(loc) => {
            archive = Some(crate::archive::read_s3(loc, &mut chains).await?);
        }
    }
    let mut report = chains.report();
    let objects = archive.map(|(own, objects)| {
        add_breaks(&mut report, own);
        objects
    });
    print(
        &args,
        tenant.as_deref(),
        objects,
        &report,
        started.elapsed().as_secs_f64(),
    );
    Ok(report.ok())
}

async fn read_kafka(brokers: &str, topic: &str, chains: &mut Chains) -> anyhow::Result<()> {
    let consumer = topic_reader::end_reader(brokers, "dlctl-ledger-verify")?;
    let (partitions, tpl, open) = tokio::task::block_in_place(|| -> anyhow::Result<_> {
        let watermarks = topic_reader::watermarks(&consumer, topic)?;
        let mut tpl = TopicPartitionList::new();
        let mut open = 0;
        for (p, (low, high)) in &watermarks {
            if high > low {
                tpl.add_partition_offset(topic, *p, Offset::Offset(*low))?;
                open += 1;
            }
        }
        Ok((watermarks.len() as i32, tpl, open))
    })?;
    for p in 0..partitions {
        chains.declare(&format!("{topic}:{p}"));
    }
    if open > 0 {
        consumer.assign(&tpl)?;
    }
    let codec = dl_schema::ledger_codec();
    let mut done = 0;
    while done < open {
        let polled = tokio::task::block_in_place(|| {
            topic_reader::next_to_end(&consumer, "the ledger").map(|m| {
                m.map(|m| {
                    let item = match codec.decode(m.payload().unwrap_or_default()) {
                        Ok(record) => Item::Record(record),
                        Err(e) => Item::Undecodable {
                            sequence: None,
                            error: format!("offset {}: {e}", m.offset()),
                        },
                    };
                    (m.partition(), item)
                })
            })
        })?;
        match polled {
            None => done += 1,
            Some((p, item)) => chains.push(&format!("{topic}:{p}"), item, &no_extra).await,
        }
    }
    chains.flush(&no_extra).await;
    Ok(())
}

/// Projected outcome rows by (chain, sequence), and the records known as duplicate outcomes.
struct Rows {
    rows: HashMap<(String, i64), DecisionRow>,
    duplicates: HashSet<(String, i64)>,
}

impl Rows {
    fn check(&self, r: &LedgerRecord) -> Option<Break> {
        let key = (r.chain_id.clone(), r.sequence);
        match self.rows.get(&key) {
            Some(row) => row.check(r),
            None if (r.decision.is_some() || r.rejection.is_some())
                && !self.duplicates.contains(&key) =>
            {
                Some(dl_verify::Break {
                    chain_id: r.chain_id.clone(),
                    sequence: Some(r.sequence),
                    kind: dl_verify::BreakKind::DecisionRowMismatch,
                    expected: Some("a decisions row".into()),
                    found: Some("none".into()),
                    detail: "the outcome has no decisions row (deleted?)".into(),
                })
            }
            None => None,
        }
    }
}

async fn load_rows(pool: &sqlx::PgPool) -> anyhow::Result<Rows> {
    let ms = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.timestamp_millis());
    let records = read::decisions::all_decision_records(pool)
        .await
        .context("reading decisions (is the database migrated by a current projector?)")?;
    let mut out = HashMap::with_capacity(records.len());
    for r in records {
        let d = r.decision;
        let row = DecisionRow {
            decision_id: d.decision_id,
            request_id: d.request_id,
            caller: d.caller,
            status: match d.status.as_str() {
                "DECIDED" => Some(OutcomeStatus::Decided),
                "REJECTED" => Some(OutcomeStatus::Rejected),
                _ => None,
            },
            function_id: d.function_id,
            function_version: d.function_version,
            function_digest: d.function_digest,
            rejection_code: d.rejection_code,
            rejection_message: d.rejection_message,
            input: r.input,
            output: d.output,
            reasons: d.reasons,
            legal_basis: d.legal_basis,
            as_of: d.as_of.map(|d| i64::from(dl_schema::date::to_avro_days(d))),
            issued_at: ms(r.issued_at),
            decided_at: d.decided_at.timestamp_millis(),
            ledger_hash: d.ledger_hash,
            source_topic: r.source_topic,
            source_partition: r.source_partition,
            source_offset: r.source_offset,
            signature_algorithm: d.signature_algorithm,
            signature_key_id: d.signature_key_id,
            signature_value: d.signature_value,
        };
        out.insert((d.chain_id, d.sequence), row);
    }
    let duplicates = read::ledger::duplicate_outcomes(pool)
        .await?
        .into_iter()
        .map(|d| (d.chain_id, d.sequence))
        .collect();
    Ok(Rows {
        rows: out,
        duplicates,
    })
}

async fn connect(url: &str) -> anyhow::Result<sqlx::PgPool> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
        .context("connecting to PostgreSQL")
}

/// A `ledger_records.record` value (the same JSON in `tenant_ledger.record`) as an item.
fn record_item(sequence: i64, record: serde_json::Value, column: &str) -> Item {
    match serde_json::from_value::<LedgerRecord>(record) {
        Ok(r) => Item::Record(r),
        Err(e) => Item::Undecodable {
            sequence: Some(sequence),
            error: format!("{column} is not a ledger record: {e}"),
        },
    }
}

async fn read_postgres(url: &str, chains: &mut Chains) -> anyhow::Result<()> {
    use futures_util::TryStreamExt as _;
    let pool = connect(url).await?;
    let rows = load_rows(&pool).await?;
    let extra = |r: &LedgerRecord| rows.check(r);
    let mut stream = read::ledger::ledger_records(&pool);
    let mut batch: Vec<(String, Item)> = Vec::new();
    while let Some(row) = stream.try_next().await.context("reading ledger_records")? {
        let item = record_item(row.sequence, row.record, "ledger_records.record");
        batch.push((row.chain_id, item));
        if batch.len() >= CHUNK {
            for (chain, item) in batch.drain(..) {
                chains.push(&chain, item, &extra).await;
            }
        }
    }
    drop(stream);
    for (chain, item) in batch {
        chains.push(&chain, item, &extra).await;
    }
    chains.flush(&extra).await;
    pool.close().await;
    Ok(())
}

/// Reads `tenant_ledger` as the connected tenant's auditor; returns the tenant. Readable rows are
/// verified in full, the others as [`Item::Opaque`]; `decisions` is not cross-checked (the
/// auditor's rows are its own, the records linking them are not readable).
async fn read_tenant_view(
    url: &str,
    expected: Option<&str>,
    chains: &mut Chains,
) -> anyhow::Result<String> {
    use futures_util::TryStreamExt as _;
    let pool = connect(url).await?;
    let tenant = read::ledger::audited_tenant(&pool)
        .await
        .context("reading tenant_auditors (a tenant auditor's login, on a database migrated by a current projector?)")?
        .context("the connected role is no tenant's auditor (dl_add_tenant_auditor, docs/tenancy.md); the operator verifies with --from postgres")?;
    if let Some(expected) = expected.filter(|e| *e != tenant) {
        bail!("--tenant {expected}, but the connected role audits tenant {tenant}");
    }
    let mut stream = read::ledger::tenant_ledger(&pool);
    let mut batch: Vec<(String, Item)> = Vec::new();
    while let Some(row) = stream.try_next().await.context("reading tenant_ledger")? {
        let item = match (row.readable, row.record) {
            (false, _) => Item::Opaque {
                sequence: row.sequence,
                prev_hash: row.prev_hash,
                hash: row.hash,
            },
            (true, Some(record)) => record_item(row.sequence, record, "tenant_ledger.record"),
            (true, None) => Item::Undecodable {
                sequence: Some(row.sequence),
                error: "tenant_ledger.record is missing for a readable record".into(),
            },
        };
        batch.push((row.chain_id, item));
        if batch.len() >= CHUNK {
            for (chain, item) in batch.drain(..) {
                chains.push(&chain, item, &no_extra).await;
            }
        }
    }
    drop(stream);
    for (chain, item) in batch {
        chains.push(&chain, item, &no_extra).await;
    }
    chains.flush(&no_extra).await;
    pool.close().await;
    Ok(tenant)
}

fn partition_of(chain_id: &str) -> Option<i64> {
    chain_id.rsplit_once(':').and_then(|(_, p)| p.parse().ok())
}

fn chain_json(c: &ChainReport) -> serde_json::Value {
    let mut v = serde_json::to_value(c).unwrap_or_default();
    if let Some(map) = v.as_object_mut() {
        map.insert(
            "partition".into(),
            serde_json::json!(partition_of(&c.chain_id)),
        );
    }
    v
}

/// Adds breaks found outside the chain verifier (an archive object's own) to their chains.
fn add_breaks(report: &mut Report, breaks: Vec<Break>) {
    for b in breaks {
        let Some(c) = report.chains.iter_mut().find(|c| c.chain_id == b.chain_id) else {
            continue;
        };
        c.ok = false;
        c.stats.breaks += 1;
        let earlier = match (&c.first_break, b.sequence) {
            (None, _) => true,
            (Some(f), Some(s)) => f.sequence.is_some_and(|fs| s < fs),
            (Some(_), None) => false,
        };
        if earlier {
            c.first_break = Some(b.clone());
        }
        if c.breaks.len() < dl_verify::MAX_KEPT_BREAKS {
            let at = c
                .breaks
                .iter()
                .position(|x| matches!((x.sequence, b.sequence), (Some(x), Some(s)) if x > s))
                .unwrap_or(c.breaks.len());
            c.breaks.insert(at, b);
        }
    }
}

fn print(
    args: &VerifyArgs,
    tenant: Option<&str>,
    objects: Option<usize>,
    report: &Report,
    secs: f64,
) {
    let breaks: Vec<String> = report.breaks().map(|b| b.to_string()).collect();
    if args.json {
        let first_breaks: Vec<&Break> = report
            .chains
            .iter()
            .filter_map(|c| c.first_break.as_ref())
            .collect();
        let details: Vec<&Break> = report.breaks().collect();
        crate::say!(
            "{}",
            serde_json::json!({
                "ok": report.ok(),
                "source": args.from.as_str(),
                "tenant": tenant,
                "objects": objects,
                "records": report.records(),
                "seconds": secs,
                "chains": report.chains.iter().map(chain_json).collect::<Vec<_>>(),
                "breaks": breaks,
                "first_breaks": first_breaks,
                "break_details": details,
            })
        );
        return;
    }
    if let (Source::S3(loc), Some(n)) = (&args.from, objects) {
        crate::say!("archive {loc}: {n} segment objects, verified alone");
    }
    if let Some(t) = tenant {
        crate::say!(
            "tenant {t}: its records, key certificates and checkpoints verified in full; other tenants' records (foreign) by sequence and link only, their content not read"
        );
    }
    for c in &report.chains {
        let s = &c.stats;
        crate::say!(
            "chain {}  records {}  next sequence {}  decisions {} (signed {}, verified {})  certificates {}/{}  checkpoints {}/{} (last verified up to {})",
            c.chain_id,
            s.records,
            c.next_sequence.map(|n| n.to_string()).unwrap_or_else(|| "?".into()),
            s.decisions,
            s.signed,
            s.signatures_verified,
            s.certificates_verified,
            s.certificates,
            s.checkpoints_verified,
            s.checkpoints,
            s.last_verified_checkpoint.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
        );
        if s.foreign > 0 || tenant.is_some() {
            crate::say!(
                "  foreign {} (another tenant's: sequence and link checked, hash taken as stated)",
                s.foreign
            );
        }
        if let Some(b) = &c.first_break {
            crate::say!("  FIRST BREAK {b}");
        }
    }
    for b in &breaks {
        crate::say!("BREAK {b}");
    }
    crate::say!(
        "{} records in {:.2} s: {}",
        report.records(),
        secs,
        if report.ok() {
            "all chains verify"
        } else {
            "chains do NOT verify"
        }
    );
}
