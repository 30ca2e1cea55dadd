//! The worker's stage of the stream mechanism (`dl-stream`): decode → decide → append → sink.
//! `dl_stream::run_kafka` collects the batch and commits everything produced here with the
//! consumed offsets in one Kafka transaction.
//!
//! Guarantee (docs/adr/0003-exactly-once-pipeline.md): the results, the ledger records and the
//! consumed offsets of a batch are committed atomically. A crash anywhere before the commit
//! aborts the transaction (at the latest when the replica restarts with the same
//! transactional.id, or when the transaction times out); the batch is then consumed and decided
//! again, with the same decision ids, from the recovered chain heads.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::Utc;
use dl_kafka::dlq;
use dl_ledger::ChainHead;
use dl_schema::{Codec, DecisionRequest, DecisionResult, LedgerRecord};
use dl_stream::{KafkaStage, KafkaTx};
use dl_telemetry::Health;
use rdkafka::consumer::Consumer;
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::producer::BaseRecord;

use crate::config::Config;
use crate::decide::{self, Decider, Incoming, Outcome, Prepared};
use crate::functions::LiveFunctions;
use crate::security::{
    self, ReplayStoreDown, Security, ANONYMOUS, AUTHORIZATION_HEADER, SIGNATURE_HEADER,
};
use crate::signing::{ChainSigning, Signing};
use crate::wire::Wire;

const KAFKA_TIMEOUT: Duration = Duration::from_secs(30);

fn incoming(m: &OwnedMessage) -> Incoming<'_> {
    Incoming {
        topic: m.topic(),
        partition: m.partition(),
        offset: m.offset(),
        payload: m.payload(),
    }
}

/// A message's position `topic/partition/offset`: the value of the nonce it spends.
fn position(m: &OwnedMessage) -> String {
    format!("{}/{}/{}", m.topic(), m.partition(), m.offset())
}

/// The value of a header (case-insensitive name). A header given twice is ambiguous and read as
/// an empty value, which authentication refuses.
fn header<'a>(m: &'a OwnedMessage, name: &str) -> Option<&'a [u8]> {
    let headers = m.headers()?;
    dl_auth::sole_header_value(
        headers
            .iter()
            .filter(|h| h.key.eq_ignore_ascii_case(name))
            .map(|h| h.value.unwrap_or_default()),
    )
}

/// A message after decoding, authentication, function selection and authorisation.
enum Stage {
    /// Its outcome is known.
    Done(Outcome),
    /// To be checked for replay, then evaluated.
    Ready(Prepared, Option<dl_replay::RateLimit>),
}

/// Maps `items` on up to `threads` scoped threads (in chunks of at least 8), keeping order.
/// A panicking thread loses its chunk: callers check the length.
fn par_map<T: Send, R: Send>(threads: usize, items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = threads.min(items.len().div_ceil(8)).max(1);
    if threads == 1 {
        return items.into_iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let mut parts: Vec<Vec<T>> = Vec::with_capacity(threads);
    let mut it = items.into_iter();
    loop {
        let part: Vec<T> = it.by_ref().take(chunk).collect();
        if part.is_empty() {
            break;
        }
        parts.push(part);
    }
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| s.spawn(move || part.into_iter().map(f).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// The worker's stage: built afresh for every attempt of the stream (crash-only recovery), so
/// chain heads never outlive a failed transaction.
pub struct Pipeline {
    cfg: Config,
    ledger_reader: crate::chain::LedgerReader,
    functions: Arc<LiveFunctions>,
    request_codec: Codec<DecisionRequest>,
    result_codec: Codec<DecisionResult>,
    ledger_codec: Codec<LedgerRecord>,
    heads: HashMap<i32, ChainHead>,
    health: Arc<Health>,
    security: Arc<Security>,
    signing: ChainSigning,
    wire: Arc<Wire>,
    /// Largest input + output + reasons a decision may record (the producer's limit, less room
    /// for the record's other fields).
    max_record_bytes: usize,
}

impl Pipeline {
    /// The stream the worker runs: its group, topic and batching.
    pub fn stream(cfg: &Config) -> dl_stream::StreamConfig {
        dl_stream::StreamConfig {
            name: "kafka",
            metrics: "dl_worker",
            brokers: cfg.brokers.clone(),
            group: cfg.group_id.clone(),
            topics: vec![cfg.requests_topic.clone()],
            batch: dl_stream::BatchPolicy {
                max: cfg.batch_max,
                linger: Duration::from_millis(cfg.batch_wait_ms),
                idle: Duration::from_millis(100),
            },
            session_timeout_ms: cfg.session_timeout_ms,
            consumer_settings: vec![("fetch.message.max.bytes", "2097152".into())],
        }
    }

    /// Its sink: results, ledger records and dead letters in one transaction per batch.
    pub fn sink(cfg: &Config) -> dl_stream::TransactionalSink {
        dl_stream::TransactionalSink {
            transactional_id: format!("dl-worker-{}", cfg.worker_id),
            transaction_timeout_ms: Some(cfg.transaction_timeout_ms),
            dead_letters: dl_stream::DeadLetters {
                topic: cfg.dlq_topic.clone(),
                service: "dl-worker",
                max_message_bytes: cfg.dlq_max_message_bytes,
            },
            producer_settings: vec![("queue.buffering.max.messages", "200000".into())],
        }
    }

    /// Builds the stage; fails unless the ledger topic has at least the request topic's
    /// partitions (partition i of the requests feeds chain i).
    pub fn new(
        cfg: &Config,
        functions: Arc<LiveFunctions>,
        health: Arc<Health>,
        security: Arc<Security>,
        signing: Arc<Signing>,
        wire: Arc<Wire>,
    ) -> anyhow::Result<Self> {
        let base = dl_kafka::client_config(&cfg.brokers);
        let ledger_reader = crate::chain::ledger_reader(&base)?;
        let metadata = ledger_reader
            .fetch_metadata(None, KAFKA_TIMEOUT)
            .context("reading metadata")?;
        let partitions = |name: &str| {
            metadata
                .topics()
                .iter()
                .find(|t| t.name() == name)
                .map(|t| t.partitions().len())
        };
        match (
            partitions(&cfg.requests_topic),
            partitions(&cfg.ledger_topic),
        ) {
            (Some(r), Some(l)) if l >= r => {}
            (Some(r), Some(l)) => bail!(
                "{} has {l} partitions, fewer than the {r} of {}: run `dlctl topology apply`",
                cfg.ledger_topic,
                cfg.requests_topic
            ),
            _ => bail!(
                "topics {} and {} must exist: run `dlctl topology apply`",
                cfg.requests_topic,
                cfg.ledger_topic
            ),
        }
        Ok(Self {
            cfg: cfg.clone(),
            ledger_reader,
            functions,
            request_codec: wire.request_codec(),
            result_codec: dl_schema::result_codec(),
            ledger_codec: dl_schema::ledger_codec(),
            heads: HashMap::new(),
            health,
            security,
            signing: ChainSigning::new(signing),
            wire,
            max_record_bytes: dlq::payload_budget(
                dlq::producer_max_message_bytes(&base),
                usize::MAX,
            ),
        })
    }

    /// Decides a batch: per message (in parallel) decode, authenticate, select the function and
    /// authorise; then one replay check for the batch; then evaluate (in parallel).
    /// `Err(ReplayStoreDown)`: Redis failed, nothing of the batch may be decided.
    fn evaluate(&self, batch: &[OwnedMessage]) -> anyhow::Result<Vec<Outcome>> {
        // One registry snapshot per batch: an activation takes effect between batches.
        let functions = self.functions.load();
        let decider = Decider {
            codec: &self.request_codec,
            functions: &functions,
            reply_to_prefix: &self.cfg.reply_to_prefix,
            max_message_bytes: self.cfg.max_message_bytes,
            safety_net_factor: self.cfg.eval_safety_net_factor,
            max_record_bytes: self.max_record_bytes,
        };
        let security = &*self.security;
        let now = Utc::now();
        let threads = self.cfg.threads();

        let started = Instant::now();
        let stages = par_map(threads, batch.iter().collect(), |m| {
            prepare(&decider, security, m, now)
        });
        if stages.len() != batch.len() {
            bail!("an evaluation thread panicked");
        }
        metrics::histogram!("dl_worker_stage_seconds", "stage" => "prepare")
            .record(started.elapsed().as_secs_f64());

        let started = Instant::now();
        let stages = self.check_replay(batch, stages)?;
        metrics::histogram!("dl_worker_stage_seconds", "stage" => "replay")
            .record(started.elapsed().as_secs_f64());

        let started = Instant::now();
        let outcomes = par_map(threads, stages, |stage| match stage {
            Stage::Done(o) => o,
            Stage::Ready(p, _) => decider.evaluate(p),
        });
        if outcomes.len() != batch.len() {
            bail!("an evaluation thread panicked");
        }
        metrics::histogram!("dl_worker_stage_seconds", "stage" => "evaluate")
            .record(started.elapsed().as_secs_f64());
        self.release_retryable(batch, &outcomes)?;
        Ok(outcomes)
    }

    /// Gives back the nonces of requests rejected with the retryable `EVALUATION_TIMEOUT`, before
    /// the batch is committed: the caller's retry with the same request id is then checked as
    /// new, not as a `REPLAY` (docs/authentication.md). Redis down: fail closed, as the check.
    fn release_retryable(
        &self,
        batch: &[OwnedMessage],
        outcomes: &[Outcome],
    ) -> anyhow::Result<()> {
        if !self.security.replay_enabled() {
            return Ok(());
        }
        let retryable: Vec<(String, &DecisionRequest, Option<&str>)> = batch
            .iter()
            .zip(outcomes)
            .filter_map(|(m, o)| match o {
                Outcome::Rejected {
                    request,
                    code,
                    caller,
                    ..
                } if *code == dl_function::CODE_EVALUATION_TIMEOUT => {
                    Some((position(m), request, caller.as_deref()))
                }
                _ => None,
            })
            .collect();
        if retryable.is_empty() {
            return Ok(());
        }
        let items: Vec<dl_replay::CheckItem<'_>> = retryable
            .iter()
            .map(|(position, request, caller)| dl_replay::CheckItem {
                caller: caller.unwrap_or(ANONYMOUS),
                request_id: &request.request_id,
                issued_at_ms: request.issued_at,
                position,
                rate_limit: None,
            })
            .collect();
        if let Err(e) = self.security.release_replay(&items) {
            security::redis_down(&self.health, &e);
            return Err(ReplayStoreDown(e).into());
        }
        Ok(())
    }

    /// One replay check (one Redis round trip) for every request that passed authentication and
    /// authorisation; the position `topic/partition/offset` tells a redelivery from a replay.
    fn check_replay(
        &self,
        batch: &[OwnedMessage],
        stages: Vec<Stage>,
    ) -> anyhow::Result<Vec<Stage>> {
        if !self.security.replay_enabled() {
            return Ok(stages);
        }
        let ready: Vec<usize> = stages
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s, Stage::Ready(..)))
            .map(|(i, _)| i)
            .collect();
        if ready.is_empty() {
            return Ok(stages);
        }
        let positions: Vec<String> = ready.iter().map(|&i| position(&batch[i])).collect();
        let items: Vec<dl_replay::CheckItem<'_>> = ready
            .iter()
            .zip(&positions)
            .filter_map(|(&i, position)| match &stages[i] {
                Stage::Ready(p, rate_limit) => Some(dl_replay::CheckItem {
                    caller: p.caller.as_deref().unwrap_or(ANONYMOUS),
                    request_id: &p.request.request_id,
                    issued_at_ms: p.request.issued_at,
                    position,
                    rate_limit: *rate_limit,
                }),
                Stage::Done(_) => None,
            })
            .collect();
        let verdicts = match self
            .security
            .check_replay(Utc::now().timestamp_millis(), &items)
        {
            Ok(Some(v)) if v.len() == items.len() => v,
            Ok(Some(_)) => bail!("replay check returned a wrong number of verdicts"),
            Ok(None) => return Ok(stages),
            Err(e) => {
                security::redis_down(&self.health, &e);
                return Err(ReplayStoreDown(e).into());
            }
        };
        let mut rejected: HashMap<usize, (&'static str, String)> = HashMap::new();
        for (&i, verdict) in ready.iter().zip(&verdicts) {
            if let (Some(code), Some(message)) =
                (verdict.rejection_code(), verdict.rejection_message())
            {
                rejected.insert(i, (code, message));
            }
        }
        drop(items);
        Ok(stages
            .into_iter()
            .enumerate()
            .map(|(i, stage)| match (stage, rejected.remove(&i)) {
                (Stage::Ready(p, _), Some((code, message))) => Stage::Done(p.reject(code, message)),
                (stage, _) => stage,
            })
            .collect())
    }

    /// Appends a due checkpoint to every chain this stage writes that had no batch for a while.
    fn checkpoint_idle_chains(&mut self, tx: &mut KafkaTx<'_>) -> anyhow::Result<()> {
        let now_ms = Utc::now().timestamp_millis();
        let mut records = Vec::new();
        for (partition, head) in &mut self.heads {
            if let Some(r) = self.signing.checkpoint_record(*partition, head, now_ms) {
                records.push((*partition, r));
            }
        }
        records
            .iter()
            .try_for_each(|(p, r)| self.send_ledger(tx, *p, r))
    }

    fn send_ledger(
        &self,
        tx: &mut KafkaTx<'_>,
        partition: i32,
        record: &LedgerRecord,
    ) -> anyhow::Result<()> {
        let bytes = self.ledger_codec.encode(record)?;
        tx.send(
            BaseRecord::to(&self.cfg.ledger_topic)
                .partition(partition)
                .key(record.chain_id.as_bytes())
                .payload(&bytes),
        );
        Ok(())
    }

    /// Produces the batch's ledger records (key certificates and checkpoints included), results
    /// and dead letters, advancing the chain heads in memory (dropped with the stage if the
    /// transaction fails).
    fn produce_all(
        &mut self,
        tx: &mut KafkaTx<'_>,
        batch: &[OwnedMessage],
        outcomes: &[Outcome],
        sealed: Vec<Option<(LedgerRecord, DecisionResult)>>,
        key: &dl_signer::WorkerKey,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let partitions: BTreeSet<i32> = batch.iter().map(|m| m.partition()).collect();
        // The key's certificate goes on each chain before the first decision it signs there.
        for partition in &partitions {
            let head = self
                .heads
                .get_mut(partition)
                .context("chain head missing")?;
            if let Some(cert) = self
                .signing
                .certificate_record(*partition, key, head, now_ms)
            {
                self.send_ledger(tx, *partition, &cert)?;
            }
        }
        for ((m, outcome), sealed) in batch.iter().zip(outcomes).zip(sealed) {
            if let Outcome::DeadLetter { code, message } = outcome {
                metrics::counter!("dl_worker_messages_total", "outcome" => "dead_lettered", "code" => *code).increment(1);
                tracing::warn!(code, reason = %message, topic = m.topic(), partition = m.partition(), offset = m.offset(), "dead-lettering");
                tx.dead_letter(m, code, message);
                continue;
            }
            let head = self
                .heads
                .get_mut(&m.partition())
                .context("chain head missing")?;
            let Some((record, result)) = sealed else {
                continue;
            };
            let (record, result) = decide::link(record, result, head, m.partition());
            let (label, code) = match outcome {
                Outcome::Rejected { code, .. } => ("rejected", *code),
                _ => ("decided", "none"),
            };
            metrics::counter!("dl_worker_messages_total", "outcome" => label, "code" => code)
                .increment(1);
            tracing::debug!(
                request_id = %result.request_id,
                decision_id = %result.decision_id,
                outcome = label,
                code,
                chain = %record.chain_id,
                sequence = record.sequence,
                "recorded"
            );
            self.send_ledger(tx, m.partition(), &record)?;
            let result_bytes = self.wire.encode_result(&self.result_codec, &result)?;
            let topic = match outcome {
                Outcome::Decided { request, .. } | Outcome::Rejected { request, .. } => {
                    decide::reply_topic(request, &self.cfg.reply_to_prefix)
                }
                Outcome::DeadLetter { .. } => None,
            }
            .unwrap_or(&self.cfg.results_topic)
            .to_string();
            tx.send(
                BaseRecord::to(&topic)
                    .key(result.request_id.as_bytes())
                    .payload(&result_bytes),
            );
        }
        for partition in &partitions {
            let head = self
                .heads
                .get_mut(partition)
                .context("chain head missing")?;
            if let Some(cp) = self.signing.checkpoint_record(*partition, head, now_ms) {
                self.send_ledger(tx, *partition, &cp)?;
            }
        }
        Ok(())
    }
}

impl KafkaStage for Pipeline {
    type Error = anyhow::Error;

    /// Decides a batch and produces its records; the mechanism adds the offsets and commits.
    fn process(&mut self, batch: &[OwnedMessage], tx: &mut KafkaTx<'_>) -> anyhow::Result<()> {
        let first = batch.first().map(|m| (m.partition(), m.offset()));
        let _span = tracing::info_span!("batch", messages = batch.len(), first = ?first).entered();
        // Fail closed before deciding anything: no valid key, no decisions.
        let now_ms = Utc::now().timestamp_millis();
        let key = self.signing.signing().key_for(now_ms)?;
        self.wire.fetch_schemas(batch)?;
        let outcomes = self.evaluate(batch)?;
        let partitions: BTreeSet<i32> = batch.iter().map(|m| m.partition()).collect();
        for partition in &partitions {
            if !self.heads.contains_key(partition) {
                let head = crate::chain::recover_head(
                    &self.ledger_reader,
                    &self.ledger_codec,
                    &self.cfg.ledger_topic,
                    *partition,
                    KAFKA_TIMEOUT,
                )?;
                self.heads.insert(*partition, head);
            }
        }
        // Ledger bodies and results, decisions signed: independent per message, so in parallel.
        let started = Instant::now();
        let sealed = par_map(self.cfg.threads(), (0..batch.len()).collect(), |i| {
            decide::seal(&outcomes[i], incoming(&batch[i]), now_ms, Some(&key))
        });
        if sealed.len() != batch.len() {
            bail!("a sealing thread panicked");
        }
        metrics::histogram!("dl_worker_stage_seconds", "stage" => "seal")
            .record(started.elapsed().as_secs_f64());
        self.produce_all(tx, batch, &outcomes, sealed, &key, now_ms)
    }

    /// Chains without traffic still get their due checkpoints.
    fn idle(&mut self, tx: &mut KafkaTx<'_>) -> anyhow::Result<()> {
        self.checkpoint_idle_chains(tx)
    }

    /// Positions went back to the committed offsets: whatever was polled comes again, and the
    /// chains of the new assignment are recovered from the ledger.
    fn rebalanced(&mut self) {
        self.heads.clear();
        self.signing.clear();
    }
}

/// Decode, authenticate, select the function version, authorise.
fn prepare(
    decider: &Decider<'_>,
    security: &Security,
    m: &OwnedMessage,
    now: chrono::DateTime<Utc>,
) -> Stage {
    let request = match decider.decode(incoming(m)) {
        Ok(r) => r,
        Err(o) => return Stage::Done(*o),
    };
    let payload = m.payload().unwrap_or_default();
    let caller = match security.authenticate(
        header(m, AUTHORIZATION_HEADER),
        header(m, SIGNATURE_HEADER),
        payload,
    ) {
        Ok(c) => c,
        Err(e) => {
            return Stage::Done(Outcome::Rejected {
                request,
                code: e.code(),
                message: e.to_string(),
                entry: None,
                caller: None,
            })
        }
    };
    let prepared = match decider.select(request, caller.principal(), now) {
        Ok(p) => p,
        Err(o) => return Stage::Done(*o),
    };
    if let Err(e) = security.authorize(&caller, &prepared.entry.manifest.allowed_callers) {
        return Stage::Done(prepared.reject(e.code(), e.to_string()));
    }
    let rate_limit = security.rate_limit(&caller);
    Stage::Ready(prepared, rate_limit)
}
