//! `dlctl projection rebuild|checksum`: disaster recovery of the PostgreSQL projection
//! (docs/operations.md).
//!
//! A rebuild runs the real projector (`dl-projector`, the one implementation of the projection)
//! with a fresh consumer group against an empty database, waits until every partition of the
//! ledger, explanation-view and registry topics is projected up to its last record as of the
//! start, and stops it. The checksum of each projected table is order-independent and leaves
//! out what only records *when* a row was projected (columns defaulting to `now()`, serial ids),
//! so a rebuilt database and the live one have equal checksums when they hold the same rows.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use sqlx::PgPool;

use crate::topic_reader;

/// The tables the projector writes, compared by `checksum`.
pub const PROJECTED_TABLES: &[&str] = &[
    "ledger_records",
    "decisions",
    "duplicate_outcomes",
    "chain_heads",
    "chain_breaks",
    "signing_keys",
    "checkpoints",
    "explain_views",
    "shadow_evaluations",
    "functions",
    "function_versions",
    "function_approvals",
    "legal_references",
    "legal_reference_status",
    "registry_refused_events",
];

/// `dlctl projection …`.
#[derive(Subcommand)]
pub enum ProjectionCommand {
    /// Project the ledger, explanation views and registry from offset 0 into an empty database.
    Rebuild(RebuildArgs),
    /// Rows and an order-independent checksum of every projected table.
    Checksum {
        /// PostgreSQL URL of the projection.
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Arguments of `dlctl projection rebuild`.
#[derive(Args)]
pub struct RebuildArgs {
    /// The empty database to project into (created beforehand, e.g. `createdb`); migrated here.
    #[arg(long, hide_env_values = true)]
    database_url: String,
    /// Ledger topic.
    #[arg(long, env = "DL_LEDGER_TOPIC", default_value = "decision.ledger")]
    ledger_topic: String,
    /// Explanation views topic (empty: not projected).
    #[arg(long, env = "DL_EXPLAIN_TOPIC", default_value = "explain.views")]
    explain_topic: String,
    /// Registry topic (projected when `DL_APPROVERS_FILE` is set, as by the projector).
    #[arg(long, env = "DL_REGISTRY_TOPIC", default_value = "registry.events")]
    registry_topic: String,
    /// Shadow evaluations topic (ADR 0032; empty: not projected).
    #[arg(long, env = "DL_SHADOW_TOPIC", default_value = "decision.shadow")]
    shadow_topic: String,
    /// The projector binary; default: `dl-projector` next to `dlctl`.
    #[arg(long, env = "DL_PROJECTOR_BIN")]
    projector_bin: Option<PathBuf>,
    /// The consumer group of the projector that will run on the rebuilt database: the rebuild's
    /// positions are stored under it, so that projector goes on where the rebuild stopped.
    #[arg(long, env = "DL_PROJECTOR_GROUP_ID", default_value = "dl-projector")]
    group_id: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 3600)]
    timeout_secs: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs a projection command.
pub async fn run(brokers: &str, command: ProjectionCommand) -> anyhow::Result<bool> {
    match command {
        ProjectionCommand::Checksum { database_url, json } => {
            let pool = connect(&database_url).await?;
            print_checksums(&checksums(&pool).await?, json)?;
            Ok(true)
        }
        ProjectionCommand::Rebuild(args) => rebuild(brokers, args).await,
    }
}

async fn connect(url: &str) -> anyhow::Result<PgPool> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .context("connecting to PostgreSQL")
}

/// One table's rows and checksum.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableChecksum {
    /// Table.
    pub table: String,
    /// Rows.
    pub rows: i64,
    /// Order-independent: MD5 over the sorted MD5s of the rows as JSON (without projection-time
    /// columns), per bucket of the first two hex digits, then over the buckets in order.
    pub checksum: String,
}

/// The checksum of every table of [`PROJECTED_TABLES`].
pub async fn checksums(pool: &PgPool) -> anyhow::Result<Vec<TableChecksum>> {
    let mut out = Vec::new();
    for table in PROJECTED_TABLES {
        // Columns that record when (or in which order) a row was projected, not what.
        let skip: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1
               AND (column_default LIKE 'now()%' OR column_default LIKE 'nextval(%')",
        )
        .bind(table)
        .fetch_all(pool)
        .await?;
        // `table` is one of the constants above, never input. The rows' MD5s, sorted, in 256
        // buckets by their first two hex digits: no aggregated value comes near PostgreSQL's
        // 1 GB limit (one `string_agg` of the rows themselves ran out of memory at 1M records).
        let sql = format!(
            "SELECT coalesce(sum(n), 0)::bigint, md5(coalesce(string_agg(b, '' ORDER BY k), ''))
             FROM (SELECT left(h, 2) AS k, count(*) AS n, md5(string_agg(h, '' ORDER BY h)) AS b
                   FROM (SELECT md5((to_jsonb(t) - $1::text[])::text) AS h FROM {table} t) rows
                   GROUP BY 1) buckets"
        );
        let (rows, checksum): (i64, String) = sqlx::query_as(&sql)
            .bind(&skip)
            .fetch_one(pool)
            .await
            .with_context(|| format!("checksum of {table} (is the database migrated?)"))?;
        out.push(TableChecksum {
            table: table.to_string(),
            rows,
            checksum,
        });
    }
    Ok(out)
}

fn print_checksums(sums: &[TableChecksum], json: bool) -> anyhow::Result<()> {
    if json {
        crate::say!("{}", serde_json::to_string_pretty(sums)?);
    } else {
        for s in sums {
            crate::say!("{:<26} {:>10}  {}", s.table, s.rows, s.checksum);
        }
    }
    Ok(())
}

/// Per partition of `topic`, the offset after its last committed record (0 when it has none):
/// where a projection that has read everything stands. Transaction markers and aborted
/// records occupy offsets after the last record, so the high watermark is not that offset.
fn projected_ends(brokers: &str, topic: &str) -> anyhow::Result<Vec<(i32, i64)>> {
    let group = format!("dlctl-rebuild-{}", uuid::Uuid::new_v4());
    let consumer = topic_reader::end_reader(brokers, &group)?;
    let mut ends = Vec::new();
    for (p, (low, high)) in topic_reader::watermarks(&consumer, topic)? {
        // Read a window before the end; widen it until a record is found or the log's start.
        let mut window = 1024;
        let end = loop {
            let from = (high - window).max(low);
            if let Some(last) = last_record(&consumer, topic, p, from)? {
                break last + 1;
            }
            if from == low {
                break 0;
            }
            window *= 8;
        };
        ends.push((p, end));
    }
    Ok(ends)
}

/// The offset of the last committed record of one partition at or after `from`.
fn last_record(
    consumer: &BaseConsumer<dl_kafka::EofAwareContext>,
    topic: &str,
    partition: i32,
    from: i64,
) -> anyhow::Result<Option<i64>> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(from))?;
    consumer.assign(&tpl)?;
    let mut last = None;
    while let Some(m) = topic_reader::next_to_end(consumer, topic)? {
        last = Some(m.offset());
    }
    Ok(last)
}

/// Whether the rebuild group's stored offsets reached `ends` for `topic`.
async fn caught_up(
    pool: &PgPool,
    group: &str,
    topic: &str,
    ends: &[(i32, i64)],
) -> anyhow::Result<bool> {
    for (partition, end) in ends.iter().filter(|(_, end)| *end > 0) {
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT next_offset FROM projector_offsets
             WHERE consumer_group = $1 AND topic = $2 AND kafka_partition = $3",
        )
        .bind(group)
        .bind(topic)
        .bind(partition)
        .fetch_optional(pool)
        .await?;
        if next.unwrap_or(0) < *end {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn rebuild(brokers: &str, args: RebuildArgs) -> anyhow::Result<bool> {
    let pool = dl_store::connect_and_migrate(&args.database_url, 2)
        .await
        .context("connecting to and migrating the target database")?;
    let existing: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM ledger_records) + (SELECT count(*) FROM explain_views)
              + (SELECT count(*) FROM function_versions) + (SELECT count(*) FROM shadow_evaluations)",
    )
    .fetch_one(&pool)
    .await?;
    anyhow::ensure!(
        existing == 0,
        "the target database already holds a projection ({existing} rows): rebuild into an empty database"
    );
    let group = format!("dl-rebuild-{}", uuid::Uuid::new_v4().simple());
    let with_registry = std::env::var_os("DL_APPROVERS_FILE").is_some();
    // (topic, the group the projector stores its offsets under)
    let mut streams = vec![(args.ledger_topic.clone(), group.clone())];
    if !args.explain_topic.is_empty() {
        streams.push((args.explain_topic.clone(), format!("{group}.explain")));
    }
    if with_registry && !args.registry_topic.is_empty() {
        streams.push((args.registry_topic.clone(), format!("{group}.registry")));
    }
    if !args.shadow_topic.is_empty() {
        streams.push((args.shadow_topic.clone(), format!("{group}.shadow")));
    }
    let mut targets = Vec::new();
    for (topic, stream_group) in &streams {
        let ends = tokio::task::block_in_place(|| projected_ends(brokers, topic))?;
        targets.push((topic.clone(), stream_group.clone(), ends));
    }
    let records: i64 = targets
        .iter()
        .filter(|(t, _, _)| *t == args.ledger_topic)
        .flat_map(|(_, _, ends)| ends.iter().map(|(_, e)| *e))
        .sum();

    let bin = match &args.projector_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("dlctl's folder")?
            .join("dl-projector"),
    };
    let started = Instant::now();
    let mut child = Command::new(&bin)
        .env("DL_BROKERS", brokers)
        .env("DATABASE_URL", &args.database_url)
        .env("DL_PROJECTOR_GROUP_ID", &group)
        .env("DL_LEDGER_TOPIC", &args.ledger_topic)
        .env("DL_EXPLAIN_TOPIC", &args.explain_topic)
        .env("DL_REGISTRY_TOPIC", &args.registry_topic)
        .env("DL_SHADOW_TOPIC", &args.shadow_topic)
        .env("DL_METRICS_ADDR", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {} (set --projector-bin)", bin.display()))?;
    let deadline = started + Duration::from_secs(args.timeout_secs);
    let outcome = loop {
        if let Some(status) = child.try_wait()? {
            break Err(anyhow::anyhow!("the projector exited early: {status}"));
        }
        let mut done = true;
        for (topic, stream_group, ends) in &targets {
            done &= caught_up(&pool, stream_group, topic, ends).await?;
        }
        if done {
            break Ok(());
        }
        if Instant::now() > deadline {
            break Err(anyhow::anyhow!(
                "not caught up after {} s",
                args.timeout_secs
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let elapsed = started.elapsed().as_secs_f64();
    stop(&mut child);
    outcome?;
    // Hand the positions to the projector that will run on this database, so it goes on
    // after the last rebuilt record instead of projecting everything again.
    sqlx::query(
        "UPDATE projector_offsets SET consumer_group = $2 || substr(consumer_group, length($1) + 1)
         WHERE consumer_group = $1 OR consumer_group LIKE $1 || '.%'",
    )
    .bind(&group)
    .bind(&args.group_id)
    .execute(&pool)
    .await?;
    let sums = checksums(&pool).await?;
    if args.json {
        crate::say!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "ledger_records": records, "seconds": elapsed, "tables": sums,
            }))?
        );
    } else {
        crate::say!(
            "rebuilt {records} ledger records in {elapsed:.1} s ({:.0} records/s)",
            records as f64 / elapsed.max(1e-9)
        );
        print_checksums(&sums, false)?;
    }
    Ok(true)
}

/// Stops the projector: SIGTERM (it finishes its batch and leaves the group), then waits.
fn stop(child: &mut std::process::Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) with a child's pid and a valid signal has no memory effects.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    let waited = Instant::now();
    while waited.elapsed() < Duration::from_secs(30) {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}
