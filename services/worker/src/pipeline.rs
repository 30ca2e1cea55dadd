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
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::Utc;
use dl_kafka::dlq;
use dl_ledger::ChainHead;
use dl_schema::{Codec, DecisionRequest, DecisionResult, LedgerRecord};
use dl_stream::{KafkaStage, KafkaTx};
use dl_telemetry::Health;
use rayon::prelude::*;
use rdkafka::consumer::Consumer;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::BaseRecord;

use crate::config::Config;
use crate::decide::{self, Decider, Incoming, Outcome, Prepared};
use crate::functions::LiveFunctions;
use crate::security::{
    self, CommittedResult, ReplayStoreDown, Security, AUTHORIZATION_HEADER, SIGNATURE_HEADER,
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

/// Maps `items` on the evaluation pool (chunks of at least 8), keeping order. A panic in `f` fails
/// the batch (the attempt ends, nothing of it is produced); it never takes the stream down.
fn par_map<T: Send, R: Send>(
    pool: &rayon::ThreadPool,
    items: Vec<T>,
    f: impl Fn(T) -> R + Sync + Send,
) -> anyhow::Result<Vec<R>> {
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        pool.install(|| items.into_par_iter().with_min_len(8).map(f).collect())
    }))
    .map_err(|_| anyhow::anyhow!("an evaluation thread panicked"))
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
    /// Threads that decode, authenticate, evaluate and sign (`DL_EVAL_THREADS`), started once
    /// per attempt, not per batch.
    pool: rayon::ThreadPool,
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
        let mut cfg = cfg.clone();
        if partitions(&cfg.shadow_topic).is_none() {
            // Producing to a missing topic would fail every batch: shadow evaluation must never
            // affect decisions, so without its topic there is none (ADR 0032).
            tracing::warn!(topic = %cfg.shadow_topic, "the shadow topic does not exist: no shadow evaluation until the worker restarts after `dlctl topology apply`");
            cfg.shadow_topic.clear();
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
            pool: rayon::ThreadPoolBuilder::new()
                .num_threads(cfg.threads())
                .thread_name(|i| format!("dl-eval-{i}"))
                .build()
                .context("starting the evaluation threads")?,
            max_record_bytes: dlq::payload_budget(
                dlq::producer_max_message_bytes(&base),
                usize::MAX,
            ),
        })
    }

    /// Decides a batch: per message (in parallel) decode, authenticate, select the function and
    /// authorise; then one replay check for the batch; then evaluate (in parallel). Besides the
    /// outcomes: whether each message spent its request's nonce (its result is then stored for
    /// resubmissions once committed).
    /// `Err(ReplayStoreDown)`: Redis failed, nothing of the batch may be decided.
    fn evaluate(&self, batch: &[OwnedMessage]) -> anyhow::Result<Evaluated> {
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

        let started = Instant::now();
        let stages = par_map(&self.pool, batch.iter().collect(), |m| {
            prepare(&decider, security, m, now)
        })?;
        metrics::histogram!("dl_worker_stage_seconds", "stage" => "prepare")
            .record(started.elapsed().as_secs_f64());

        let started = Instant::now();
        let (stages, spent) = self.check_replay(batch, stages)?;
        metrics::histogram!("dl_worker_stage_seconds", "stage" => "replay")
            .record(started.elapsed().as_secs_f64());

        let started = Instant::now();
        let outcomes = par_map(&self.pool, stages, |stage| match stage {
            Stage::Done(o) => o,
            Stage::Ready(p, _) => decider.evaluate(p),
        })?;
        metrics::histogram!("dl_worker_stage_seconds", "stage" => "evaluate")
            .record(started.elapsed().as_secs_f64());
        self.release_retryable(batch, &outcomes)?;
        let shadows = self.shadow(&functions, batch, &outcomes)?;
        Ok((outcomes, spent, shadows))
    }

    /// The shadow evaluations of the batch's sampled decisions (ADR 0032), in parallel; `None`
    /// where there is none. Reads the outcomes only: the decisions are already final.
    fn shadow(
        &self,
        functions: &crate::functions::FunctionSet,
        batch: &[OwnedMessage],
        outcomes: &[Outcome],
    ) -> anyhow::Result<Vec<Option<dl_schema::ShadowEvaluation>>> {
        if self.cfg.shadow_topic.is_empty() || !functions.has_shadows() {
            return Ok(batch.iter().map(|_| None).collect());
        }
        let now_ms = Utc::now().timestamp_millis();
        let factor = self.cfg.eval_safety_net_factor;
        let started = Instant::now();
        let shadows = par_map(&self.pool, (0..batch.len()).collect(), |i| {
            let m = &batch[i];
            let id = decide::decision_id(m.topic(), m.partition(), m.offset());
            // A panicking shadow version is an error of the shadow, never of the batch.
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                crate::shadow::evaluate(functions, &outcomes[i], &id, factor, now_ms)
            }))
            .unwrap_or_else(|_| {
                tracing::error!(decision_id = %id, "a shadow evaluation panicked");
                None
            })
        })?;
        metrics::histogram!("dl_worker_stage_seconds", "stage" => "shadow")
            .record(started.elapsed().as_secs_f64());
        Ok(shadows)
    }

    /// Produces the shadow evaluations in the batch's transaction, keyed by decision id. One
    /// that does not encode is logged and left out: it never fails the batch.
    fn send_shadows(
        &self,
        tx: &mut KafkaTx<'_>,
        shadows: Vec<Option<dl_schema::ShadowEvaluation>>,
    ) {
        for evaluation in shadows.into_iter().flatten() {
            let bytes = match crate::shadow::encode(&evaluation) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(decision_id = %evaluation.decision_id, error = %e, "a shadow evaluation does not encode; left out");
                    continue;
                }
            };
            tx.send(
                BaseRecord::to(&self.cfg.shadow_topic)
                    .key(evaluation.decision_id.as_bytes())
                    .payload(&bytes),
            );
        }
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
        let retryable: Vec<(String, &DecisionRequest, String, String)> = batch
            .iter()
            .zip(outcomes)
            .filter_map(|(m, o)| match o {
                Outcome::Rejected {
                    request,
                    code,
                    caller,
                    tenant,
                    ..
                } if *code == dl_function::CODE_EVALUATION_TIMEOUT => Some((
                    position(m),
                    request,
                    security::replay_caller(caller.as_deref(), tenant.as_deref()),
                    decide::request_digest(request),
                )),
                _ => None,
            })
            .collect();
        if retryable.is_empty() {
            return Ok(());
        }
        let items: Vec<dl_replay::CheckItem<'_>> = retryable
            .iter()
            .map(|(position, request, caller, digest)| dl_replay::CheckItem {
                caller,
                request_id: &request.request_id,
                issued_at_ms: request.issued_at,
                position,
                payload_digest: digest,
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
    /// authorisation; the position `topic/partition/offset` tells a redelivery from another
    /// message, the payload digest a resubmission from a reused request id. Resubmissions are
    /// answered with the original's stored result (a second round trip, only when there are
    /// any). Also returns, per message, whether it spent its request's nonce.
    fn check_replay(
        &self,
        batch: &[OwnedMessage],
        stages: Vec<Stage>,
    ) -> anyhow::Result<(Vec<Stage>, Vec<bool>)> {
        let mut spent = vec![false; stages.len()];
        if !self.security.replay_enabled() {
            return Ok((stages, spent));
        }
        let ready: Vec<(usize, &Prepared, Option<dl_replay::RateLimit>)> = stages
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Stage::Ready(p, rate_limit) => Some((i, p, *rate_limit)),
                Stage::Done(_) => None,
            })
            .collect();
        if ready.is_empty() {
            return Ok((stages, spent));
        }
        let keys: Vec<(String, String, String)> = ready
            .iter()
            .map(|(i, p, _)| {
                (
                    position(&batch[*i]),
                    decide::request_digest(&p.request),
                    security::replay_caller(p.caller.as_deref(), p.tenant.as_deref()),
                )
            })
            .collect();
        let items: Vec<dl_replay::CheckItem<'_>> = ready
            .iter()
            .zip(&keys)
            .map(
                |((_, p, rate_limit), (position, digest, caller))| dl_replay::CheckItem {
                    caller,
                    request_id: &p.request.request_id,
                    issued_at_ms: p.request.issued_at,
                    position,
                    payload_digest: digest,
                    rate_limit: *rate_limit,
                },
            )
            .collect();
        let verdicts = match self
            .security
            .check_replay(Utc::now().timestamp_millis(), &items)
        {
            Ok(Some(v)) if v.len() == items.len() => v,
            Ok(Some(_)) => bail!("replay check returned a wrong number of verdicts"),
            Ok(None) => return Ok((stages, spent)),
            Err(e) => {
                security::redis_down(&self.health, &e);
                return Err(ReplayStoreDown(e).into());
            }
        };
        let resubmissions: Vec<usize> = (0..items.len())
            .filter(|&n| verdicts[n] == dl_replay::Verdict::Resubmission)
            .collect();
        let originals = if resubmissions.is_empty() {
            Vec::new()
        } else {
            let asked: Vec<dl_replay::CheckItem<'_>> =
                resubmissions.iter().map(|&n| items[n]).collect();
            match self.security.stored_results(&asked) {
                Ok(found) if found.len() == asked.len() => found,
                Ok(_) => bail!("the result store returned a wrong number of results"),
                Err(e) => {
                    security::redis_down(&self.health, &e);
                    return Err(ReplayStoreDown(e).into());
                }
            }
        };
        let mut answers: HashMap<usize, Option<Vec<u8>>> = resubmissions
            .iter()
            .map(|&n| ready[n].0)
            .zip(originals)
            .collect();
        let mut rejected: HashMap<usize, (&'static str, String)> = HashMap::new();
        for ((i, _, _), verdict) in ready.iter().zip(&verdicts) {
            spent[*i] = verdict.is_accepted();
            if let (Some(code), Some(message)) =
                (verdict.rejection_code(), verdict.rejection_message())
            {
                rejected.insert(*i, (code, message));
            }
        }
        drop(items);
        drop(ready);
        let stages = stages
            .into_iter()
            .enumerate()
            .map(|(i, stage)| match stage {
                Stage::Ready(p, _) if answers.contains_key(&i) => {
                    Stage::Done(Outcome::Resubmitted {
                        original: answers.remove(&i).flatten(),
                        request: p.request,
                        caller: p.caller,
                    })
                }
                Stage::Ready(p, rate_limit) => match rejected.remove(&i) {
                    Some((code, message)) => Stage::Done(p.reject(code, message)),
                    None => Stage::Ready(p, rate_limit),
                },
                stage => stage,
            })
            .collect();
        Ok((stages, spent))
    }

    /// Answers a resubmission, recording nothing: the original's result as it was produced, or
    /// `REQUEST_IN_PROGRESS` while none is stored; on the resubmission's reply topic, with the
    /// [`dl_schema::ANSWERS_HEADER`] naming this message's decision id.
    fn answer_resubmission(
        &self,
        tx: &mut KafkaTx<'_>,
        m: &OwnedMessage,
        request: &DecisionRequest,
        original: Option<&[u8]>,
        caller: &Option<String>,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let (bytes, code) = match original {
            Some(bytes) => (bytes.to_vec(), "none"),
            None => {
                let answer = decide::in_progress(request, caller.clone(), incoming(m), now_ms);
                (
                    self.wire.encode_result(&self.result_codec, &answer)?,
                    dl_replay::CODE_REQUEST_IN_PROGRESS,
                )
            }
        };
        metrics::counter!("dl_worker_messages_total", "outcome" => "resubmitted", "code" => code)
            .increment(1);
        let answers = decide::decision_id(m.topic(), m.partition(), m.offset());
        let topic = decide::reply_topic(request, &self.cfg.reply_to_prefix)
            .unwrap_or(&self.cfg.results_topic)
            .to_string();
        tx.send(
            BaseRecord::to(&topic)
                .key(request.request_id.as_bytes())
                .payload(bytes.as_slice())
                .headers(OwnedHeaders::new().insert(Header {
                    key: dl_schema::ANSWERS_HEADER,
                    value: Some(answers.as_bytes()),
                })),
        );
        Ok(())
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

    /// Produces the batch's ledger records (key certificates and checkpoints included), results,
    /// answers to resubmissions and dead letters, advancing the chain heads in memory (dropped
    /// with the stage if the transaction fails). Once committed, the results of the messages
    /// that spent their nonce are stored for resubmissions.
    #[allow(clippy::too_many_arguments)]
    fn produce_all(
        &mut self,
        tx: &mut KafkaTx<'_>,
        batch: &[OwnedMessage],
        outcomes: &[Outcome],
        spent: &[bool],
        sealed: Vec<Option<(LedgerRecord, DecisionResult)>>,
        key: &dl_signer::WorkerKey,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let mut committed: Vec<CommittedResult> = Vec::new();
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
        for (((m, outcome), sealed), spent) in batch.iter().zip(outcomes).zip(sealed).zip(spent) {
            if let Outcome::Resubmitted {
                request,
                original,
                caller,
            } = outcome
            {
                self.answer_resubmission(tx, m, request, original.as_deref(), caller, now_ms)?;
                continue;
            }
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
            let (label, code, tenant) = match outcome {
                Outcome::Rejected { code, tenant, .. } => ("rejected", *code, tenant),
                Outcome::Decided { tenant, .. } => ("decided", "none", tenant),
                _ => ("decided", "none", &None),
            };
            // Bounded: a tenant is set only from a verified identity, and those are declared.
            let tenant = tenant
                .as_deref()
                .unwrap_or(dl_auth::DEFAULT_TENANT)
                .to_string();
            metrics::counter!("dl_worker_messages_total", "outcome" => label, "code" => code, "tenant" => tenant)
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
            let (request, tenant) = match outcome {
                Outcome::Decided {
                    request, tenant, ..
                }
                | Outcome::Rejected {
                    request, tenant, ..
                } => (Some(request), tenant.as_deref()),
                Outcome::DeadLetter { .. } | Outcome::Resubmitted { .. } => (None, None),
            };
            let topic = request
                .and_then(|r| decide::reply_topic(r, &self.cfg.reply_to_prefix))
                .unwrap_or(&self.cfg.results_topic)
                .to_string();
            tx.send(
                BaseRecord::to(&topic)
                    .key(result.request_id.as_bytes())
                    .payload(&result_bytes),
            );
            // Its nonce was spent by this message and kept (a retryable outcome gives it back).
            if let Some(request) =
                request.filter(|_| *spent && code != dl_function::CODE_EVALUATION_TIMEOUT)
            {
                committed.push(CommittedResult {
                    caller: security::replay_caller(result.caller.as_deref(), tenant),
                    request_id: request.request_id.clone(),
                    result: result_bytes,
                });
            }
        }
        if !committed.is_empty() {
            let security = Arc::clone(&self.security);
            tx.after_commit(move || security.store_results_later(committed));
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
        let (outcomes, spent, shadows) = self.evaluate(batch)?;
        let partitions: BTreeSet<i32> = batch.iter().map(|m| m.partition()).collect();
        for partition in &partitions {
            if !self.heads.contains_key(partition) {
                let head = crate::chain::recover_head(
                    &self.ledger_reader,
                    &self.ledger_codec,
                    &self.cfg.ledger_topic,
                    *partition,
                    KAFKA_TIMEOUT,
                    crate::chain::segment_bound(self.cfg.checkpoint_every_records),
                )?;
                self.heads.insert(*partition, head);
            }
        }
        // Ledger bodies and results, decisions signed: independent per message, so in parallel.
        let started = Instant::now();
        let sealed = par_map(&self.pool, (0..batch.len()).collect(), |i| {
            decide::seal(&outcomes[i], incoming(&batch[i]), now_ms, Some(&key))
        })?;
        metrics::histogram!("dl_worker_stage_seconds", "stage" => "seal")
            .record(started.elapsed().as_secs_f64());
        self.produce_all(tx, batch, &outcomes, &spent, sealed, &key, now_ms)?;
        self.send_shadows(tx, shadows);
        Ok(())
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

/// A decided batch: the outcomes, whether each message spent its nonce, and the shadow
/// evaluations of its sampled decisions.
type Evaluated = (
    Vec<Outcome>,
    Vec<bool>,
    Vec<Option<dl_schema::ShadowEvaluation>>,
);

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
                tenant: None,
            })
        }
    };
    let prepared = match decider.select(request, caller.principal(), caller.tenant(), now) {
        Ok(p) => p,
        Err(o) => return Stage::Done(*o),
    };
    if let Err(e) = security.authorize(&caller, &prepared.entry.manifest.allowed_callers) {
        return Stage::Done(prepared.reject(e.code(), e.to_string()));
    }
    let rate_limit = security.rate_limit(&caller);
    Stage::Ready(prepared, rate_limit)
}
