//! The fault harness of `tests/tests/faults.rs` (issue 16), in the Jepsen spirit: a load of N
//! uniquely identified requests at a steady rate ([`Load`]), one fault injected mid-stream by the
//! test, then the checker ([`Check`]): every request id that reached Kafka has exactly one result
//! on the results topic (distinct decision ids: the truth) and exactly one row in PostgreSQL;
//! `dlctl ledger verify` passes from Kafka and from PostgreSQL; every service is ready again.
//! It measures the recovery time and returns one [`Row`] of the table in docs/reliability.md.
//!
//! N and the rate come from `DL_CHAOS_N` and `DL_CHAOS_RATE` (small defaults for CI;
//! `scripts/chaos.sh` runs a large N). With `DL_CHAOS_TABLE` set, each row is also appended to
//! that file (what `scripts/chaos.sh` collects).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers as _, Message as _};

use crate::{http_get, Scenario, Service};

/// The broker kinds whose log survives `kill -9` (`DL_BROKER_KIND` from `.stack/env`, ADR 0002).
pub const DURABLE_BROKERS: &[&str] = &["tansu-s3"];

/// The stack's broker kind (`DL_BROKER_KIND`, else `DL_BROKER`, else `tansu`).
pub fn broker_kind() -> String {
    std::env::var("DL_BROKER_KIND")
        .or_else(|_| std::env::var("DL_BROKER"))
        .unwrap_or_else(|_| "tansu".to_string())
}

/// Whether the stack's broker keeps its log across `kill -9` (only then can a broker restart
/// be checked).
pub fn broker_is_durable() -> bool {
    DURABLE_BROKERS.contains(&broker_kind().as_str())
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A loan request input varying with `i` (approved and declined ones).
pub fn loan_input(i: usize) -> String {
    format!(
        r#"{{"amount": {}, "customer_score": {}, "customer_tier": "standard", "employment_status": "employed"}}"#,
        1000 + (i * 37) % 20_000,
        450 + (i * 13) % 400
    )
}

/// One message of a load.
#[derive(Debug, Clone)]
pub struct Message {
    /// Kafka key (the request id for a valid request; a unique key for poison).
    pub key: String,
    /// Value bytes.
    pub payload: Vec<u8>,
    /// Headers (e.g. `authorization`).
    pub headers: Vec<(String, Vec<u8>)>,
    /// Whether it is a valid request (to be decided) rather than poison (to be dead-lettered).
    pub valid: bool,
}

impl Message {
    /// A valid request, Avro-encoded, keyed by its id.
    pub fn request(r: &dl_schema::DecisionRequest) -> anyhow::Result<Self> {
        Ok(Self {
            key: r.request_id.clone(),
            payload: dl_schema::request_codec().encode(r)?,
            headers: vec![],
            valid: true,
        })
    }
}

/// N requests at a steady rate.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// How many.
    pub n: usize,
    /// Per second.
    pub rate: f64,
}

/// What a load sent.
#[derive(Debug, Default, Clone)]
pub struct Sent {
    /// Messages sent (or, over HTTP, requests attempted).
    pub attempted: usize,
    /// Keys of the valid requests sent (over Kafka: the request ids).
    pub valid: BTreeSet<String>,
    /// Keys of the poison messages sent.
    pub poison: BTreeSet<String>,
    /// Over HTTP: first answers by status (0: no answer, e.g. the connection died).
    pub http_statuses: BTreeMap<u16, usize>,
    /// Over HTTP: the decision id each request was finally answered with (200), by request id;
    /// a request whose call died or was not answered in time is sent again, as a client would.
    pub http_answers: BTreeMap<String, String>,
    /// Over HTTP: requests sent again after their call reached a gateway (died mid-flight,
    /// 202, or `REQUEST_IN_PROGRESS`).
    pub http_retried: usize,
}

/// A load running in the background.
pub struct Running {
    sent: Arc<AtomicUsize>,
    handle: tokio::task::JoinHandle<anyhow::Result<Sent>>,
}

impl Load {
    /// `DL_CHAOS_N` (default 200) at `DL_CHAOS_RATE` per second (default 100).
    pub fn from_env() -> Self {
        Self {
            n: env_or("DL_CHAOS_N", 200usize).max(1),
            rate: env_or("DL_CHAOS_RATE", 100.0f64).max(1.0),
        }
    }

    fn due(&self, i: usize) -> Duration {
        Duration::from_secs_f64(i as f64 / self.rate)
    }

    /// Produces `make(i)` for i in 0..n to the scenario's requests topic at the rate, on a
    /// blocking thread; then waits until the broker acknowledged everything.
    pub fn start_kafka(
        &self,
        s: &Arc<Scenario>,
        make: impl Fn(usize) -> anyhow::Result<Message> + Send + 'static,
    ) -> Running {
        let (load, s, sent) = (*self, s.clone(), Arc::new(AtomicUsize::new(0)));
        let counter = sent.clone();
        let handle = tokio::task::spawn_blocking(move || {
            let start = Instant::now();
            let mut out = Sent::default();
            for i in 0..load.n {
                if let Some(wait) = load.due(i).checked_sub(start.elapsed()) {
                    std::thread::sleep(wait);
                }
                let m = make(i)?;
                let headers: Vec<(&str, &[u8])> = m
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_slice()))
                    .collect();
                s.send_with_headers(&m.key, &m.payload, &headers)?;
                out.attempted += 1;
                if m.valid {
                    out.valid.insert(m.key);
                } else {
                    out.poison.insert(m.key);
                }
                counter.fetch_add(1, Ordering::Relaxed);
            }
            // Long enough for a broker restart or a stall in between.
            s.flush_within(Duration::from_secs(180))?;
            Ok(out)
        });
        Running { sent, handle }
    }

    /// POSTs `/v1/decisions` (waiting for the decision) for i in 0..n at the rate, each request
    /// concurrently, to the gateway whose API port `port` holds at that moment (a restarted
    /// gateway listens on another port). Each request is sent until it is answered with a
    /// decision (a refused connection, a call that died, a 202 or `REQUEST_IN_PROGRESS`: sent
    /// again, as a client would), so the worker needs replay protection (resubmissions answered
    /// with the original, ADR 0028). `body(i)` is the JSON body. What reached Kafka is read from
    /// the requests topic afterwards ([`requests_on_topic`]), not assumed.
    pub fn start_http(
        &self,
        port: Arc<std::sync::atomic::AtomicU16>,
        body: impl Fn(usize) -> serde_json::Value + Send + 'static,
    ) -> Running {
        let (load, sent) = (*self, Arc::new(AtomicUsize::new(0)));
        let counter = sent.clone();
        let handle = tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()?;
            let start = tokio::time::Instant::now();
            let mut calls = Vec::with_capacity(load.n);
            for i in 0..load.n {
                tokio::time::sleep_until(start + load.due(i)).await;
                let (http, port, body) = (http.clone(), port.clone(), body(i));
                calls.push(tokio::spawn(async move {
                    // Sent until answered with a decision, as a client would: again after a
                    // refused connection (the gateway restarting), a call that died mid-flight,
                    // a 202 or REQUEST_IN_PROGRESS. A resubmission is answered with the original
                    // decision (ADR 0028), so none of this may decide a request twice.
                    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
                    let (mut first, mut retried) = (None, false);
                    loop {
                        let url = format!(
                            "http://127.0.0.1:{}/v1/decisions",
                            port.load(Ordering::Relaxed)
                        );
                        let sent = http.post(url).json(&body).send().await;
                        let (status, answer) = match sent {
                            Ok(r) => {
                                let status = r.status().as_u16();
                                (status, r.json::<serde_json::Value>().await.ok())
                            }
                            Err(e) if e.is_connect() => (u16::MAX, None),
                            Err(_) => (0, None),
                        };
                        if status != u16::MAX && first.is_none() {
                            first = Some(status);
                        }
                        let decided = answer.filter(|a| {
                            status == 200 && a["rejection"]["code"] != "REQUEST_IN_PROGRESS"
                        });
                        if let Some(a) = decided {
                            let id = a["decision_id"].as_str().map(str::to_string);
                            return (first.unwrap_or(0), id, retried);
                        }
                        if tokio::time::Instant::now() >= deadline {
                            return (first.unwrap_or(0), None, retried);
                        }
                        retried |= status != u16::MAX;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }));
                counter.fetch_add(1, Ordering::Relaxed);
            }
            let mut out = Sent {
                attempted: load.n,
                ..Sent::default()
            };
            for (i, c) in calls.into_iter().enumerate() {
                let (status, answer, retried) = c.await.unwrap_or((0, None, false));
                *out.http_statuses.entry(status).or_default() += 1;
                out.http_retried += usize::from(retried);
                if let (Some(id), Some(request_id)) = (answer, body(i)["request_id"].as_str()) {
                    out.http_answers.insert(request_id.to_string(), id);
                }
            }
            Ok(out)
        });
        Running { sent, handle }
    }
}

impl Running {
    /// Waits until `k` messages were sent (the moment to strike).
    pub async fn reached(&self, k: usize) {
        while self.sent.load(Ordering::Relaxed) < k && !self.handle.is_finished() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// How many were sent so far.
    pub fn sent(&self) -> usize {
        self.sent.load(Ordering::Relaxed)
    }

    /// Waits for the end of the load.
    pub async fn finish(self) -> anyhow::Result<Sent> {
        self.handle.await.context("the load task")?
    }
}

/// The sum of the end offsets (high watermarks) of `topic`'s partitions: how much was written to
/// it, committed or not.
pub fn end_offsets(brokers: &str, topic: &str) -> anyhow::Result<i64> {
    let consumer: BaseConsumer = dl_kafka::client_config(brokers).create()?;
    let mut sum = 0;
    for p in dl_kafka::topic_partitions(&consumer, topic, Duration::from_secs(10))? {
        sum += consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))?
            .1;
    }
    Ok(sum)
}

/// Reads `topic` from the beginning (read_committed) and hands each message to `each` until
/// `done()` holds and nothing more arrived for `settle`, or `timeout` passed.
pub fn drain(
    brokers: &str,
    topic: &str,
    timeout: Duration,
    settle: Duration,
    mut each: impl FnMut(&rdkafka::message::BorrowedMessage<'_>) -> anyhow::Result<()>,
    mut done: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let consumer = crate::reader_from_start(brokers, topic)?;
    let deadline = Instant::now() + timeout;
    let mut last = Instant::now();
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(m) => {
                each(&m?)?;
                last = Instant::now();
            }
            None if last.elapsed() >= settle && done() => break,
            None => {}
        }
    }
    Ok(())
}

/// Results per request id: the distinct decision ids seen and the number of records.
#[derive(Debug, Default)]
pub struct Results {
    /// Distinct decision ids per request id.
    pub by_request: HashMap<String, HashSet<String>>,
    /// Result records read (more than the distinct pairs when the broker shows the records of
    /// aborted transactions, ADR 0003).
    pub records: usize,
    /// Answers to resubmissions (results with the `dl-answers` header, ADR 0028): the
    /// original's result again, or `REQUEST_IN_PROGRESS`; not decisions, so not counted above.
    pub answers: usize,
}

impl Results {
    /// Records beyond one per distinct (request id, decision id): the broker's visible doubles.
    pub fn visible_doubles(&self) -> usize {
        let distinct: usize = self.by_request.values().map(HashSet::len).sum();
        self.records.saturating_sub(distinct)
    }
}

/// Reads the results topic from the beginning (read_committed) until every one of `expected`
/// request ids has a result and nothing more arrives for a second, or `timeout` passes.
pub fn results_by_request(
    s: &Scenario,
    expected: &BTreeSet<String>,
    timeout: Duration,
) -> anyhow::Result<Results> {
    let codec = dl_schema::result_codec();
    let mut out = Results::default();
    let by_request = std::cell::RefCell::new(HashMap::<String, HashSet<String>>::new());
    drain(
        &s.brokers,
        &s.results,
        timeout,
        Duration::from_secs(1),
        |m| {
            let d = codec.decode(m.payload().unwrap_or_default())?;
            let answer = m
                .headers()
                .is_some_and(|h| h.iter().any(|h| h.key == dl_schema::ANSWERS_HEADER));
            if answer {
                out.answers += 1;
                return Ok(());
            }
            out.records += 1;
            by_request
                .borrow_mut()
                .entry(d.request_id)
                .or_default()
                .insert(d.decision_id);
            Ok(())
        },
        || {
            let b = by_request.borrow();
            expected.iter().all(|id| b.contains_key(id))
        },
    )?;
    out.by_request = by_request.into_inner();
    Ok(out)
}

/// The request ids of the valid requests on the scenario's requests topic (what reached Kafka,
/// e.g. through a gateway that died with requests in flight).
pub fn requests_on_topic(s: &Scenario) -> anyhow::Result<BTreeSet<String>> {
    let codec = dl_schema::request_codec();
    let ids = std::cell::RefCell::new(BTreeSet::new());
    // Until something was read and then nothing more for 3 s.
    drain(
        &s.brokers,
        &s.requests,
        Duration::from_secs(120),
        Duration::from_secs(3),
        |m| {
            if let Ok(r) = codec.decode(m.payload().unwrap_or_default()) {
                ids.borrow_mut().insert(r.request_id);
            }
            Ok(())
        },
        || !ids.borrow().is_empty(),
    )?;
    Ok(ids.into_inner())
}

/// Dead letters per key on the scenario's dead-letter topic: (records, distinct source offsets).
pub fn dead_letters(
    s: &Scenario,
    expected: &BTreeSet<String>,
    timeout: Duration,
) -> anyhow::Result<HashMap<String, (usize, HashSet<String>)>> {
    let by_key = std::cell::RefCell::new(HashMap::<String, (usize, HashSet<String>)>::new());
    drain(
        &s.brokers,
        &s.dlq,
        timeout,
        Duration::from_secs(1),
        |m| {
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            let source = m
                .headers()
                .and_then(|h| {
                    h.iter()
                        .find(|h| h.key == "dl-dlq-source-offset")
                        .map(|h| String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned())
                })
                .unwrap_or_default();
            let mut b = by_key.borrow_mut();
            let e = b.entry(key).or_default();
            e.0 += 1;
            e.1.insert(source);
            Ok(())
        },
        || {
            let b = by_key.borrow();
            expected.iter().all(|k| b.contains_key(k))
        },
    )?;
    Ok(by_key.into_inner())
}

/// Whether a service answers `/readyz` with 200.
pub fn ready(service: &Service) -> bool {
    http_get(service.metrics_port, "/readyz").is_ok_and(|(code, _)| code == 200)
}

/// Measures how long a (re)started service takes to report ready: polls its `/readyz` every
/// 100 ms from the moment it is made until the first 200, keeping the last blocker it gave.
pub struct ReadyWatch {
    handle: tokio::task::JoinHandle<(Option<f64>, String)>,
}

impl ReadyWatch {
    /// Starts watching `service` (call right after starting it). Gives up after `within`.
    pub fn start(service: &Service, within: Duration) -> Self {
        let port = service.metrics_port;
        let handle = tokio::task::spawn_blocking(move || {
            let start = Instant::now();
            let mut last = String::new();
            while start.elapsed() < within {
                match http_get(port, "/readyz") {
                    Ok((200, _)) => return (Some(start.elapsed().as_secs_f64()), last),
                    Ok((_, body)) => {
                        last = serde_json::from_str::<serde_json::Value>(&body)
                            .map(|v| match v["blockers"].as_object() {
                                Some(b) if b.is_empty() => "starting".to_string(),
                                _ => v["blockers"].to_string(),
                            })
                            .unwrap_or(body)
                    }
                    Err(_) => {}
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            (None, last)
        });
        Self { handle }
    }

    /// Seconds until the first `/readyz` 200 (`None`: not within the bound) and the last
    /// blocker seen before it, e.g. `{"ledger-projection":"joining the consumer group …"}`.
    pub async fn finish(self) -> (Option<f64>, String) {
        self.handle.await.unwrap_or((None, String::new()))
    }

    /// A note for the fault table: `<what> ready after 11.2 s (before: <blocker>)`.
    pub async fn note(self, what: &str) -> String {
        match self.finish().await {
            (Some(s), last) if last.is_empty() => format!("{what} ready after {s:.1} s"),
            (Some(s), last) => format!("{what} ready after {s:.1} s (until then {last})"),
            (None, last) => format!("{what} not ready (last {last})"),
        }
    }
}

/// One row of the fault table.
#[derive(Debug, Clone)]
pub struct Row {
    /// The fault.
    pub fault: String,
    /// Requests that reached Kafka (the checker's N).
    pub n: usize,
    /// Of those, with at least one result.
    pub answered: usize,
    /// Of those, without a result.
    pub missing: usize,
    /// Of those, with more than one distinct decision id (results) or more than one row
    /// (PostgreSQL).
    pub doubled: usize,
    /// Result records beyond one per distinct decision (the broker showing aborted
    /// transactions; not a double decision).
    pub broker_doubles: usize,
    /// Rows in `decisions` for those request ids.
    pub pg_rows: usize,
    /// `dlctl ledger verify` ok from Kafka and from PostgreSQL, every ledger record projected
    /// once, no chain break recorded.
    pub verify_ok: bool,
    /// Every service answers `/readyz` 200 at the end.
    pub ready: bool,
    /// Seconds from the heal to every service ready and every request projected (None: not
    /// within the bound).
    pub recovery_secs: Option<f64>,
    /// What else was seen (dead letters, HTTP answers, what failed).
    pub notes: Vec<String>,
}

impl Row {
    /// The table's header (Markdown).
    pub const HEADER: &'static str = "| fault | N | answered | missing | doubled | broker-visible doubles | PG rows | verify | ready | recovery s | notes |\n|---|---|---|---|---|---|---|---|---|---|---|";

    /// Nothing lost, nothing doubled, the ledger verifies, every service ready.
    pub fn clean(&self) -> bool {
        self.missing == 0
            && self.doubled == 0
            && self.pg_rows == self.n
            && self.verify_ok
            && self.ready
            && self.answered == self.n
    }

    /// The row (Markdown).
    pub fn markdown(&self) -> String {
        format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            self.fault,
            self.n,
            self.answered,
            self.missing,
            self.doubled,
            self.broker_doubles,
            self.pg_rows,
            if self.verify_ok { "ok" } else { "FAILED" },
            if self.ready { "yes" } else { "NO" },
            self.recovery_secs
                .map(|s| format!("{s:.1}"))
                .unwrap_or_else(|| "—".into()),
            self.notes.join("; ")
        )
    }

    /// Prints the row, appends it to `DL_CHAOS_TABLE` if set, and fails unless it is clean.
    pub fn report(&self) -> anyhow::Result<()> {
        eprintln!("{}\n{}", Row::HEADER, self.markdown());
        if let Ok(path) = std::env::var("DL_CHAOS_TABLE") {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("DL_CHAOS_TABLE={path}"))?;
            writeln!(f, "{}", self.markdown())?;
        }
        anyhow::ensure!(self.clean(), "fault {:?}: {}", self.fault, self.markdown());
        Ok(())
    }
}

/// The checker of one fault run.
pub struct Check<'a> {
    /// The fault's name in the table.
    pub fault: &'a str,
    /// The scenario.
    pub scenario: &'a Scenario,
    /// The valid request ids that reached Kafka.
    pub expected: BTreeSet<String>,
    /// Poison keys, each to be dead-lettered once.
    pub poison: BTreeSet<String>,
    /// When the fault was healed (the service restarted, the peer back).
    pub healed: Instant,
    /// The services that must be ready again.
    pub services: Vec<&'a Service>,
    /// Whether the explainer runs (its views are awaited too).
    pub views: bool,
    /// Environment for `dlctl ledger verify` (e.g. a KMS signer and trusted certifiers).
    pub verify_env: Vec<(&'static str, String)>,
    /// Bound on the wait for recovery (not a measurement).
    pub within: Duration,
}

impl<'a> Check<'a> {
    /// A checker with no poison, no views, the scenario's own signer and a 300 s bound.
    pub fn new(
        fault: &'a str,
        scenario: &'a Scenario,
        expected: BTreeSet<String>,
        healed: Instant,
        services: Vec<&'a Service>,
    ) -> Self {
        Self {
            fault,
            scenario,
            expected,
            poison: BTreeSet::new(),
            healed,
            services,
            views: false,
            verify_env: vec![],
            within: Duration::from_secs(env_or("DL_CHAOS_WITHIN_SECS", 300u64)),
        }
    }

    /// Waits for recovery, then checks everything; returns the row.
    pub async fn run(self) -> anyhow::Result<Row> {
        let s = self.scenario;
        let pool = s.pg().await?;
        let ids: Vec<String> = self.expected.iter().cloned().collect();
        let n = ids.len() as i64;
        let projected = |pool: sqlx::PgPool, ids: Vec<String>| async move {
            let decisions: i64 = sqlx::query_scalar(
                "SELECT count(DISTINCT request_id) FROM decisions WHERE request_id = ANY($1)",
            )
            .bind(&ids)
            .fetch_one(&pool)
            .await?;
            let views: i64 = sqlx::query_scalar(
                "SELECT count(DISTINCT request_id) FROM explain_views WHERE request_id = ANY($1)",
            )
            .bind(&ids)
            .fetch_one(&pool)
            .await
            .unwrap_or(0);
            anyhow::Ok((decisions, views))
        };
        // Recovery: every service ready and every request projected (with its views).
        let mut recovery = None;
        let deadline = self.healed + self.within;
        let mut last = (0, 0);
        while Instant::now() < deadline {
            if let Ok(p) = projected(pool.clone(), ids.clone()).await {
                last = p;
            }
            let complete = last.0 == n && (!self.views || last.1 == n);
            if complete && self.services.iter().all(|sv| ready(sv)) {
                recovery = Some(self.healed.elapsed().as_secs_f64());
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut notes = vec![];
        if recovery.is_none() {
            notes.push(format!(
                "not recovered within {:?}: {} of {n} projected, {} views",
                self.within, last.0, last.1
            ));
        }
        let ready_now = self.services.iter().all(|sv| ready(sv));
        let phase = Instant::now();

        // Results on Kafka.
        let expected = self.expected.clone();
        let results = results_by_request(s, &expected, Duration::from_secs(120))?;
        let answered = expected
            .iter()
            .filter(|id| results.by_request.contains_key(*id))
            .count();
        let doubled_results: BTreeSet<&String> = expected
            .iter()
            .filter(|id| results.by_request.get(*id).is_some_and(|d| d.len() > 1))
            .collect();

        eprintln!(
            "{}: recovered in {recovery:?} s, results read in {:.1} s",
            self.fault,
            phase.elapsed().as_secs_f64()
        );
        let phase = Instant::now();

        // Rows in PostgreSQL.
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT request_id, count(*) FROM decisions WHERE request_id = ANY($1) GROUP BY request_id",
        )
        .bind(&ids)
        .fetch_all(&pool)
        .await?;
        let pg_rows: i64 = rows.iter().map(|(_, c)| c).sum();
        let doubled_pg: BTreeSet<&String> = rows
            .iter()
            .filter(|(_, c)| *c > 1)
            .map(|(id, _)| id)
            .collect();
        if !doubled_pg.is_empty() {
            notes.push(format!(
                "{} request ids with several rows in PostgreSQL, e.g. {:?}",
                doubled_pg.len(),
                doubled_pg.iter().take(3).collect::<Vec<_>>()
            ));
        }
        if !doubled_results.is_empty() {
            notes.push(format!(
                "{} request ids with several decision ids, e.g. {:?}",
                doubled_results.len(),
                doubled_results.iter().take(3).collect::<Vec<_>>()
            ));
        }
        let missing: Vec<&String> = expected
            .iter()
            .filter(|id| !results.by_request.contains_key(*id))
            .collect();
        if !missing.is_empty() {
            notes.push(format!(
                "missing e.g. {:?}",
                missing.iter().take(3).collect::<Vec<_>>()
            ));
        }
        let doubled = doubled_results
            .union(&doubled_pg)
            .collect::<BTreeSet<_>>()
            .len();

        // Dead letters.
        let mut dlq_ok = true;
        if !self.poison.is_empty() {
            let letters = dead_letters(s, &self.poison, Duration::from_secs(60))?;
            let once = self
                .poison
                .iter()
                .filter(|k| letters.get(*k).is_some_and(|(_, src)| src.len() == 1))
                .count();
            let records: usize = self
                .poison
                .iter()
                .filter_map(|k| letters.get(k).map(|(r, _)| r))
                .sum();
            dlq_ok = once == self.poison.len();
            notes.push(format!(
                "poison: {} sent, {once} dead-lettered once ({records} DLQ records)",
                self.poison.len()
            ));
        }

        // The ledger: verifies from Kafka and from PostgreSQL, projected once, no break.
        let mut verify_ok = dlq_ok;
        let mut kafka_records = None;
        // Both at once (each is a dlctl process).
        let env = &self.verify_env;
        let reports: Vec<(&str, anyhow::Result<serde_json::Value>)> =
            tokio::task::block_in_place(|| {
                std::thread::scope(|scope| {
                    let runs: Vec<_> = ["kafka", "postgres"]
                        .map(|from| scope.spawn(move || (from, s.verify_ledger_from(from, env))))
                        .into_iter()
                        .collect();
                    runs.into_iter()
                        .map(|r| {
                            r.join()
                                .unwrap_or(("?", Err(anyhow::anyhow!("verify thread panicked"))))
                        })
                        .collect()
                })
            });
        for (from, report) in reports {
            match report {
                Ok(report) if report["ok"] == true => {
                    if from == "kafka" {
                        kafka_records = report["records"].as_i64();
                    }
                }
                Ok(report) => {
                    verify_ok = false;
                    notes.push(format!("verify --from {from}: {}", report["first_breaks"]));
                }
                Err(e) => {
                    verify_ok = false;
                    notes.push(format!("verify --from {from}: {e:#}"));
                }
            }
        }
        let ledger_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM ledger_records")
            .fetch_one(&pool)
            .await?;
        if kafka_records != Some(ledger_rows) {
            verify_ok = false;
            notes.push(format!(
                "ledger: {kafka_records:?} records on Kafka, {ledger_rows} projected"
            ));
        }
        let breaks: i64 = sqlx::query_scalar("SELECT count(*) FROM chain_breaks")
            .fetch_one(&pool)
            .await?;
        if breaks > 0 {
            verify_ok = false;
            notes.push(format!("{breaks} chain breaks recorded"));
        }
        pool.close().await;
        eprintln!(
            "{}: dead letters, verify and rows checked in {:.1} s",
            self.fault,
            phase.elapsed().as_secs_f64()
        );
        Ok(Row {
            fault: self.fault.to_string(),
            n: expected.len(),
            answered,
            missing: missing.len(),
            doubled,
            broker_doubles: results.visible_doubles(),
            pg_rows: pg_rows as usize,
            verify_ok,
            ready: ready_now,
            recovery_secs: recovery,
            notes,
        })
    }
}
