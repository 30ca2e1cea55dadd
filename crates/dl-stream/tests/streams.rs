//! The mechanism against a real broker and a real PostgreSQL (`scripts/stack.sh up`, then
//! `. .stack/env`): positioning from PostgreSQL, redeliveries never written twice, folding of
//! already-written messages, an aborted Kafka transaction redone exactly once, and a failed
//! commit dropping the batches the stage thread had already built on it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dl_stream::{
    BatchPolicy, DeadLetters, KafkaStage, KafkaTx, PgStage, Recovery, StreamConfig, StreamError,
    TransactionalSink,
};
use dl_telemetry::Health;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::TopicPartitionList;
use sqlx::{PgConnection, PgPool};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: start the stack (scripts/stack.sh up; . .stack/env)")
    })
}

fn unique(prefix: &str) -> String {
    format!("{prefix}.{}", uuid::Uuid::new_v4().simple())
}

fn create_topics(rt: &tokio::runtime::Runtime, brokers: &str, topics: &[(&str, i32)]) {
    let topology = dl_kafka::Topology {
        topics: topics
            .iter()
            .map(|(name, partitions)| dl_kafka::TopicSpec {
                name: name.to_string(),
                partitions: *partitions,
                replication_factor: 1,
                config: Default::default(),
                value_schema: None,
            })
            .collect(),
        consumer_groups: vec![],
    };
    rt.block_on(topology.apply(&dl_kafka::client_config(brokers)))
        .expect("creating topics");
}

fn produce(brokers: &str, topic: &str, messages: &[(i32, String)]) {
    let producer: ThreadedProducer<_> = dl_kafka::client_config(brokers)
        .set("enable.idempotence", "true")
        .create()
        .expect("producer");
    for (partition, payload) in messages {
        producer
            .send(
                BaseRecord::<[u8], [u8]>::to(topic)
                    .partition(*partition)
                    .payload(payload.as_bytes()),
            )
            .map_err(|(e, _)| e)
            .expect("send");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

fn stream(brokers: &str, topic: &str, group: &str) -> StreamConfig {
    StreamConfig {
        name: "test-stream",
        metrics: "dl_stream_test",
        brokers: brokers.to_string(),
        group: group.to_string(),
        topics: vec![topic.to_string()],
        batch: BatchPolicy {
            max: 4,
            linger: Duration::from_millis(20),
            idle: Duration::from_millis(100),
        },
        session_timeout_ms: 6_000,
        consumer_settings: vec![],
    }
}

/// Polls `done` every 100 ms until it holds or 60 s pass.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Writes one row per fresh message into `dl_stream_test_rows`, remembering replayed offsets.
struct RowStage {
    run: String,
    reads_from_beginning: bool,
    replayed: Arc<Mutex<Vec<(i32, i64)>>>,
}

impl PgStage for RowStage {
    type Error = sqlx::Error;

    fn reads_from_beginning(&self) -> bool {
        self.reads_from_beginning
    }

    fn replayed(&mut self, m: &OwnedMessage) {
        self.replayed
            .lock()
            .unwrap()
            .push((m.partition(), m.offset()));
    }

    async fn write(
        &mut self,
        tx: &mut PgConnection,
        fresh: &[&OwnedMessage],
    ) -> Result<(), sqlx::Error> {
        for m in fresh {
            sqlx::query("INSERT INTO dl_stream_test_rows (run, part, off) VALUES ($1, $2, $3)")
                .bind(&self.run)
                .bind(m.partition())
                .bind(m.offset())
                .execute(&mut *tx)
                .await?;
        }
        Ok(())
    }
}

struct PgFixture {
    rt: tokio::runtime::Runtime,
    pool: PgPool,
    brokers: String,
}

impl PgFixture {
    fn new() -> Self {
        let rt = tokio::runtime::Runtime::new().unwrap();
        // A database of its own per fixture: the tests run in parallel and share the server.
        let admin = env("DATABASE_URL");
        let name = format!("dl_stream_{}", uuid::Uuid::new_v4().simple());
        let pool = rt
            .block_on(async {
                let server = PgPool::connect(&admin).await?;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&server)
                    .await?;
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                PgPool::connect(&format!("{base}/{name}")).await
            })
            .expect("PostgreSQL");
        rt.block_on(async {
            sqlx::query("CREATE TABLE dl_stream_test_rows (run text NOT NULL, part int NOT NULL, off bigint NOT NULL)")
                .execute(&pool)
                .await?;
            // The sink's offsets table, as in migrations/ (this crate does not run them).
            sqlx::query("CREATE TABLE projector_offsets (consumer_group text NOT NULL, topic text NOT NULL, kafka_partition int NOT NULL, next_offset bigint NOT NULL, PRIMARY KEY (consumer_group, topic, kafka_partition))")
                .execute(&pool)
                .await
        })
        .expect("test tables");
        Self {
            rt,
            pool,
            brokers: env("DL_BROKERS"),
        }
    }

    fn store_offset(&self, group: &str, topic: &str, partition: i32, next: i64) {
        self.rt
            .block_on(
                sqlx::query("INSERT INTO projector_offsets (consumer_group, topic, kafka_partition, next_offset) VALUES ($1, $2, $3, $4)")
                    .bind(group)
                    .bind(topic)
                    .bind(partition)
                    .bind(next)
                    .execute(&self.pool),
            )
            .unwrap();
    }

    fn rows(&self, run: &str) -> BTreeMap<i32, Vec<i64>> {
        let rows: Vec<(i32, i64)> = self
            .rt
            .block_on(
                sqlx::query_as(
                    "SELECT part, off FROM dl_stream_test_rows WHERE run = $1 ORDER BY part, off",
                )
                .bind(run)
                .fetch_all(&self.pool),
            )
            .unwrap();
        let mut by_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
        for (p, o) in rows {
            by_partition.entry(p).or_default().push(o);
        }
        by_partition
    }

    /// Runs one attempt of `stage` on a thread until `until` holds, then stops it.
    fn run_until(&self, cfg: &StreamConfig, stage: RowStage, mut until: impl FnMut() -> bool) {
        let stop = Arc::new(AtomicBool::new(false));
        let health = Arc::new(Health::default());
        let handle = {
            let (cfg, pool, rt, stop, health) = (
                cfg.clone(),
                self.pool.clone(),
                self.rt.handle().clone(),
                stop.clone(),
                health.clone(),
            );
            std::thread::spawn(move || dl_stream::run_pg(&cfg, &pool, &rt, stage, &stop, &health))
        };
        eventually("the stream's rows", &mut until);
        stop.store(true, Ordering::SeqCst);
        handle.join().unwrap().expect("the stream failed");
    }
}

#[test]
fn a_pg_stream_starts_where_postgres_says_and_writes_nothing_twice() {
    let fx = PgFixture::new();
    let (topic, group, run) = (unique("stream.pg"), unique("group"), unique("run"));
    create_topics(&fx.rt, &fx.brokers, &[(&topic, 2)]);
    let first: Vec<(i32, String)> = (0..10)
        .flat_map(|i| [(0, format!("a{i}")), (1, format!("b{i}"))])
        .collect();
    produce(&fx.brokers, &topic, &first);
    // Partition 0 was projected up to offset 3 (a restored database, or Kafka's committed offset
    // behind); partition 1 never.
    fx.store_offset(&group, &topic, 0, 4);
    let cfg = stream(&fx.brokers, &topic, &group);
    let replayed = Arc::new(Mutex::new(Vec::new()));
    let stage = || RowStage {
        run: run.clone(),
        reads_from_beginning: false,
        replayed: replayed.clone(),
    };

    fx.run_until(&cfg, stage(), || {
        fx.rows(&run).values().map(Vec::len).sum::<usize>() >= 16
    });
    let rows = fx.rows(&run);
    assert_eq!(
        rows[&0],
        (4..10).collect::<Vec<i64>>(),
        "partition 0 starts at the stored offset"
    );
    assert_eq!(
        rows[&1],
        (0..10).collect::<Vec<i64>>(),
        "partition 1 starts at the beginning"
    );
    assert!(
        replayed.lock().unwrap().is_empty(),
        "positioned at the stored offset: nothing below it was even delivered"
    );

    // A new attempt (a restart) with more messages: it continues after what is stored.
    produce(
        &fx.brokers,
        &topic,
        &(0..5).map(|i| (0, format!("c{i}"))).collect::<Vec<_>>(),
    );
    fx.run_until(&cfg, stage(), || {
        fx.rows(&run).values().map(Vec::len).sum::<usize>() >= 21
    });
    let rows = fx.rows(&run);
    assert_eq!(
        rows[&0],
        (4..15).collect::<Vec<i64>>(),
        "no row written twice, none skipped"
    );
    assert_eq!(rows[&1], (0..10).collect::<Vec<i64>>());
}

#[test]
fn a_reads_from_beginning_stage_gets_what_is_written_as_replayed() {
    let fx = PgFixture::new();
    let (topic, group, run) = (unique("stream.fold"), unique("group"), unique("run"));
    create_topics(&fx.rt, &fx.brokers, &[(&topic, 1)]);
    produce(
        &fx.brokers,
        &topic,
        &(0..6).map(|i| (0, format!("e{i}"))).collect::<Vec<_>>(),
    );
    fx.store_offset(&group, &topic, 0, 4);
    let replayed = Arc::new(Mutex::new(Vec::new()));
    let stage = RowStage {
        run: run.clone(),
        reads_from_beginning: true,
        replayed: replayed.clone(),
    };
    fx.run_until(&stream(&fx.brokers, &topic, &group), stage, || {
        fx.rows(&run).values().map(Vec::len).sum::<usize>() >= 2
    });
    assert_eq!(
        *replayed.lock().unwrap(),
        vec![(0, 0), (0, 1), (0, 2), (0, 3)]
    );
    assert_eq!(fx.rows(&run)[&0], vec![4, 5]);
}

/// Topics `input`, `out` and `dlq` (one partition each) and a group for a Kafka-sink test;
/// `messages` produced to `input`.
struct KafkaFixture {
    brokers: String,
    input: String,
    out: String,
    group: String,
    sink: TransactionalSink,
}

impl KafkaFixture {
    fn new(messages: &[(i32, String)]) -> Self {
        let brokers = env("DL_BROKERS");
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (input, out, dlq, group) = (
            unique("stream.in"),
            unique("stream.out"),
            unique("stream.dlq"),
            unique("group"),
        );
        create_topics(&rt, &brokers, &[(&input, 1), (&out, 1), (&dlq, 1)]);
        produce(&brokers, &input, messages);
        let sink = TransactionalSink {
            transactional_id: unique("tx"),
            transaction_timeout_ms: Some(10_000),
            dead_letters: DeadLetters {
                topic: dlq,
                service: "dl-stream-test",
                max_message_bytes: 1_000_000,
            },
            producer_settings: vec![],
        };
        Self {
            brokers,
            input,
            out,
            group,
            sink,
        }
    }

    /// Runs `stage(first_attempt)` under `supervise` until `out` holds `expected` records;
    /// every failure must satisfy `failure`. Returns the attempts made.
    fn run<S: KafkaStage + 'static>(
        &self,
        cfg: StreamConfig,
        expected: usize,
        stage: impl Fn(bool) -> S + Send + 'static,
        failure: impl Fn(&StreamError<S::Error>) -> bool + Send + 'static,
    ) -> usize
    where
        S::Error: std::fmt::Debug,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let attempts = Arc::new(AtomicUsize::new(0));
        let handle = {
            let (stop, attempts, sink) = (stop.clone(), attempts.clone(), self.sink.clone());
            std::thread::spawn(move || {
                let health = Health::default();
                dl_stream::supervise(
                    &cfg,
                    &stop,
                    &health,
                    || {
                        let first = attempts.fetch_add(1, Ordering::SeqCst) == 0;
                        dl_stream::run_kafka(&cfg, &sink, stage(first), &stop, &health)
                    },
                    |e| {
                        assert!(failure(e), "unexpected failure: {e}");
                        Recovery::Backoff
                    },
                )
            })
        };
        eventually("all copies", || {
            read_committed(&self.brokers, &self.out).len() >= expected
        });
        stop.store(true, Ordering::SeqCst);
        handle.join().unwrap();
        attempts.load(Ordering::SeqCst)
    }

    /// The payloads on `out`, in order.
    fn copies(&self) -> Vec<String> {
        read_committed(&self.brokers, &self.out)
            .iter()
            .map(|m| String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned())
            .collect()
    }
}

/// Copies each message to `out`, dead-letters `poison`, and fails its first batch after
/// buffering its output: nothing of that batch may be produced, and it is redone once.
struct CopyStage {
    out: String,
    fail_first_batch: bool,
}

impl KafkaStage for CopyStage {
    type Error = KafkaError;

    fn process(&mut self, batch: &[OwnedMessage], tx: &mut KafkaTx<'_>) -> Result<(), KafkaError> {
        for m in batch {
            let payload = m.payload().unwrap_or_default();
            if payload == b"poison" {
                tx.dead_letter(m, "POISON", "a poisoned message");
            } else {
                tx.send(BaseRecord::to(&self.out).payload(payload));
            }
        }
        if std::mem::take(&mut self.fail_first_batch) {
            return Err(KafkaError::Canceled);
        }
        Ok(())
    }
}

fn read_committed(brokers: &str, topic: &str) -> Vec<OwnedMessage> {
    let consumer: BaseConsumer = dl_kafka::client_config(brokers)
        .set("group.id", unique("reader"))
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => out.push(m.detach()),
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            _ => {}
        }
    }
    out
}

#[test]
fn an_aborted_kafka_transaction_is_redone_exactly_once() {
    let mut messages: Vec<(i32, String)> = (0..12).map(|i| (0, format!("m{i}"))).collect();
    messages.insert(5, (0, "poison".into()));
    let fx = KafkaFixture::new(&messages);
    let cfg = stream(&fx.brokers, &fx.input, &fx.group);
    let out = fx.out.clone();
    let attempts = fx.run(
        cfg,
        12,
        move |first| CopyStage {
            out: out.clone(),
            fail_first_batch: first,
        },
        |e| matches!(e, StreamError::Stage(KafkaError::Canceled)),
    );

    assert_eq!(attempts, 2, "one failed attempt, one that ran on");
    assert_eq!(
        fx.copies(),
        (0..12).map(|i| format!("m{i}")).collect::<Vec<_>>(),
        "each message once, in order"
    );
    let letters = read_committed(&fx.brokers, &fx.sink.dead_letters.topic);
    assert_eq!(letters.len(), 1, "the poisoned message dead-lettered once");
    let headers = letters[0].headers().expect("dead-letter headers");
    let reason = headers
        .iter()
        .find(|h| h.key == dl_kafka::dlq::REASON)
        .and_then(|h| h.value)
        .expect("reason header");
    assert_eq!(reason, b"POISON");
    assert_eq!(letters[0].payload(), Some(&b"poison"[..]));
}

/// A chain over the output: each copy carries the next sequence number, continued from what the
/// output topic holds when the attempt starts (as the worker recovers its chain heads). The
/// record for `oversized` is too large to produce in the first attempt, so that transaction
/// fails on the committer while later batches may already have been built on it.
struct ChainStage {
    out: String,
    next: u64,
    oversized_fails: bool,
}

impl KafkaStage for ChainStage {
    type Error = KafkaError;

    fn process(&mut self, batch: &[OwnedMessage], tx: &mut KafkaTx<'_>) -> Result<(), KafkaError> {
        for m in batch {
            let payload = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
            let mut copy = format!("{}:{payload}", self.next).into_bytes();
            if payload == "oversized" && self.oversized_fails {
                copy.resize(2_000_000, b' ');
            }
            tx.send(BaseRecord::to(&self.out).payload(&copy[..]));
            self.next += 1;
        }
        Ok(())
    }
}

#[test]
fn a_failed_commit_drops_every_batch_built_on_it() {
    let mut messages: Vec<(i32, String)> = (0..40).map(|i| (0, format!("m{i}"))).collect();
    messages.insert(9, (0, "oversized".into()));
    let fx = KafkaFixture::new(&messages);
    let mut cfg = stream(&fx.brokers, &fx.input, &fx.group);
    cfg.batch.max = 3;
    let (out, brokers) = (fx.out.clone(), fx.brokers.clone());
    let attempts = fx.run(
        cfg,
        41,
        move |first| ChainStage {
            next: read_committed(&brokers, &out).len() as u64,
            out: out.clone(),
            oversized_fails: first,
        },
        |e| matches!(e, StreamError::Kafka(_)),
    );

    assert_eq!(attempts, 2, "one failed commit");
    let expected: Vec<String> = messages
        .iter()
        .enumerate()
        .map(|(seq, (_, payload))| format!("{seq}:{payload}"))
        .collect();
    assert_eq!(
        fx.copies(),
        expected,
        "each message once, numbered without a gap or a repeat"
    );
}
