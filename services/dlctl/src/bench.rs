//! `dlctl bench`: the pipeline load generator and its two baselines, measured the same way.
//!
//! * `engine`: evaluations per second of one function, in process, on N threads (no Kafka).
//! * `broker`: raw produce → consume round trip of the same broker, same message count/rate.
//! * `pipeline`: requests produced to the requests topic, results awaited on the results topic.
//!
//! Latency = time from handing a message to the producer until it is read back by the reader.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::Utc;
use dl_function::{CompiledFunction, FunctionPackage};
use dl_schema::{DecisionRequest, DecisionStatus};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer};

use crate::decide::{producer, ResultReader};

const LOAN_INPUT: &str = r#"{"amount": 3000, "customer_score": 720, "customer_tier": "standard", "employment_status": "employed"}"#;

/// Benchmarks.
#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Ledger verification throughput on a synthetic signed ledger (in memory), parallel and
    /// single-thread, plus signing and hashing cost.
    Verify(crate::bench_verify::VerifyBenchArgs),
    /// A synthetic signed ledger produced into a new topic, one chain per partition (for
    /// measuring `dlctl projection rebuild` and `dlctl ledger verify` at scale).
    LedgerTopic(crate::bench_ledger::LedgerTopicArgs),
    /// Engine-only evaluations per second.
    Engine {
        /// Function package folder.
        #[arg(long, default_value = "examples/loan_approval")]
        package: std::path::PathBuf,
        /// Input document.
        #[arg(long, default_value = LOAN_INPUT)]
        input: String,
        /// Duration in seconds.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Threads (0 = one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// Raw broker produce → consume round trip.
    Broker {
        #[command(flatten)]
        load: Load,
        /// Payload size in bytes.
        #[arg(long, default_value_t = 200)]
        size: usize,
    },
    /// End-to-end decisions through the running worker.
    Pipeline {
        #[command(flatten)]
        load: Load,
        /// Function id.
        #[arg(long, default_value = "loan_approval")]
        function: String,
        /// Input document.
        #[arg(long, default_value = LOAN_INPUT)]
        input: String,
        /// Bearer token sent in the `authorization` header of every request (for a worker
        /// with authentication enabled); also read from DL_TOKEN.
        #[arg(long, env = "DL_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
}

/// Load shape shared by the Kafka benchmarks.
#[derive(clap::Args, Clone)]
pub struct Load {
    /// Messages to send.
    #[arg(long, default_value_t = 20_000)]
    count: usize,
    /// Messages per second (0 = as fast as the producer goes).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Requests topic (pipeline).
    #[arg(long, env = "DL_REQUESTS_TOPIC", default_value = "decision.requests")]
    requests_topic: String,
    /// Results topic (pipeline).
    #[arg(long, env = "DL_RESULTS_TOPIC", default_value = "decision.results")]
    results_topic: String,
}

/// Measured numbers of one run.
#[derive(Debug, serde::Serialize)]
struct Stats {
    what: String,
    sent: usize,
    received: usize,
    rejected: usize,
    seconds: f64,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

/// Runs a benchmark.
pub async fn run(brokers: &str, command: BenchCommand) -> anyhow::Result<bool> {
    match command {
        BenchCommand::Verify(args) => crate::bench_verify::run(args).await,
        BenchCommand::LedgerTopic(args) => crate::bench_ledger::run(brokers, args).await,
        BenchCommand::Engine {
            package,
            input,
            seconds,
            threads,
        } => engine(&package, &input, seconds, threads),
        BenchCommand::Broker { load, size } => {
            let topic = "dl.bench.raw";
            ensure_topic(brokers, topic, 4).await?;
            let payload = vec![b'x'; size];
            let brokers = brokers.to_string();
            let json = load.json;
            let stats = tokio::task::spawn_blocking(move || {
                roundtrip(
                    &brokers,
                    None,
                    topic,
                    topic,
                    &load,
                    "broker round trip",
                    move |_, _| Ok(payload.clone()),
                    |_| Ok(false),
                )
            })
            .await??;
            report(&stats, json)
        }
        BenchCommand::Pipeline {
            load,
            function,
            input,
            token,
        } => {
            let codec = dl_schema::request_codec();
            let result_codec = dl_schema::result_codec();
            let brokers = brokers.to_string();
            let json = load.json;
            let (requests_topic, results_topic) =
                (load.requests_topic.clone(), load.results_topic.clone());
            let authorization = token.map(|t| format!("Bearer {t}"));
            let stats = tokio::task::spawn_blocking(move || {
                roundtrip(
                    &brokers,
                    authorization,
                    &requests_topic,
                    &results_topic,
                    &load,
                    "pipeline",
                    move |key, now_ms| {
                        let request = DecisionRequest {
                            request_id: key.to_string(),
                            function_id: function.clone(),
                            function_version: None,
                            as_of: None,
                            issued_at: now_ms,
                            input: input.clone(),
                            reply_to: None,
                        };
                        Ok(codec.encode(&request)?)
                    },
                    move |payload| {
                        Ok(result_codec.decode(payload)?.status == DecisionStatus::Rejected)
                    },
                )
            })
            .await??;
            report(&stats, json)
        }
    }
}

fn report(stats: &Stats, json: bool) -> anyhow::Result<bool> {
    if json {
        println!("{}", serde_json::to_string(stats)?);
    } else {
        println!(
            "{}: {} sent, {} received ({} rejected) in {:.2} s = {:.0}/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            stats.what, stats.sent, stats.received, stats.rejected, stats.seconds, stats.per_second, stats.p50_ms, stats.p99_ms, stats.max_ms
        );
    }
    Ok(stats.received == stats.sent && stats.rejected == 0)
}

/// Creates `topic` with `partitions` (replication 1) unless it exists.
pub(crate) async fn ensure_topic(
    brokers: &str,
    topic: &str,
    partitions: i32,
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = dl_kafka::client_config(brokers).create()?;
    let t = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for r in admin.create_topics([&t], &AdminOptions::new()).await? {
        match r {
            Ok(_) | Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => bail!("cannot create {topic}: {code}"),
        }
    }
    Ok(())
}

type MakePayload = dyn Fn(&str, i64) -> anyhow::Result<Vec<u8>> + Send;

#[allow(clippy::too_many_arguments)]
fn roundtrip(
    brokers: &str,
    authorization: Option<String>,
    in_topic: &str,
    out_topic: &str,
    load: &Load,
    what: &str,
    make: impl Fn(&str, i64) -> anyhow::Result<Vec<u8>> + Send + 'static,
    is_rejected: impl Fn(&[u8]) -> anyhow::Result<bool>,
) -> anyhow::Result<Stats> {
    let reader = ResultReader::at_end(brokers, out_topic)?;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let run_prefix = format!("bench-{}-", &run_id[..8]);
    let sent_at: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; load.count]));
    let producer = producer(brokers)?;
    let started = Instant::now();
    let sender = {
        let sent_at = sent_at.clone();
        let in_topic = in_topic.to_string();
        let prefix = run_prefix.clone();
        let (count, rate) = (load.count, load.rate);
        let make: Box<MakePayload> = Box::new(make);
        std::thread::spawn(move || -> anyhow::Result<()> {
            for i in 0..count {
                if rate > 0.0 {
                    let due = started + Duration::from_secs_f64(i as f64 / rate);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
                let key = format!("{prefix}{i}");
                let payload = make(&key, Utc::now().timestamp_millis())?;
                let mut record = BaseRecord::to(&in_topic)
                    .key(key.as_bytes())
                    .payload(&payload);
                if let Some(a) = &authorization {
                    record = record.headers(OwnedHeaders::new().insert(Header {
                        key: "authorization",
                        value: Some(a.as_str()),
                    }));
                }
                sent_at.lock().map_err(|_| anyhow::anyhow!("poisoned"))?[i] = Some(Instant::now());
                loop {
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((_, r)) => {
                            record = r;
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                }
            }
            producer
                .flush(Duration::from_secs(60))
                .context("flushing")?;
            Ok(())
        })
    };
    let mut latencies: Vec<f64> = Vec::with_capacity(load.count);
    let mut rejected = 0;
    let mut last = Instant::now();
    let mut last_received = started;
    while latencies.len() < load.count && last.elapsed() < Duration::from_secs(30) {
        let Some((key, payload)) = reader.next(Duration::from_millis(100))? else {
            continue;
        };
        let Some(index) = std::str::from_utf8(&key)
            .ok()
            .and_then(|k| k.strip_prefix(run_prefix.as_str()))
            .and_then(|i| i.parse::<usize>().ok())
        else {
            continue;
        };
        let now = Instant::now();
        last = now;
        last_received = now;
        if let Some(sent) = sent_at
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .get(index)
            .copied()
            .flatten()
        {
            latencies.push(now.duration_since(sent).as_secs_f64() * 1000.0);
        }
        if is_rejected(&payload)? {
            rejected += 1;
        }
    }
    sender
        .join()
        .map_err(|_| anyhow::anyhow!("sender panicked"))??;
    latencies.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        if latencies.is_empty() {
            0.0
        } else {
            latencies[((latencies.len() - 1) as f64 * p).round() as usize]
        }
    };
    let seconds = last_received.duration_since(started).as_secs_f64();
    Ok(Stats {
        what: what.to_string(),
        sent: load.count,
        received: latencies.len(),
        rejected,
        seconds,
        per_second: if seconds > 0.0 {
            latencies.len() as f64 / seconds
        } else {
            0.0
        },
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        max_ms: latencies.last().copied().unwrap_or(0.0),
    })
}

fn engine(
    package: &std::path::Path,
    input: &str,
    seconds: f64,
    threads: usize,
) -> anyhow::Result<bool> {
    let pkg = FunctionPackage::load(package)?;
    let compiled = Arc::new(CompiledFunction::compile(&pkg)?);
    compiled
        .evaluate(input)
        .context("the benchmark input does not evaluate")?;
    let threads = if threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        threads
    };
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let compiled = compiled.clone();
            let input = input.to_string();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    for _ in 0..100 {
                        let _ = compiled.evaluate(&input);
                    }
                    n += 100;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "engine {}: {} evaluations on {} threads in {:.2} s = {:.0}/s ({:.1} µs per evaluation per thread)",
        pkg.manifest().id,
        total,
        threads,
        secs,
        total as f64 / secs,
        secs * threads as f64 * 1e6 / total as f64
    );
    Ok(true)
}
