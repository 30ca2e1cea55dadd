//! From one consumed message to its outcome, and from an outcome to its ledger record and
//! result. Pure: no I/O, so every bad-input path is unit-tested here.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use dl_function::Decision;
use dl_ledger::ChainHead;
use dl_schema::{
    Codec, DecisionRecorded, DecisionRequest, DecisionResult, DecisionStatus, LedgerPosition,
    LedgerRecord, LedgerRecordKind, Reason, Rejection, RequestRejected, SourcePosition,
};

use crate::functions::{Entry, FunctionSet, Selection};

/// Longest request id accepted (the replay nonce).
pub const MAX_REQUEST_ID_LEN: usize = dl_schema::request_id::MAX_LEN;
/// Most characters of the function id, the version and the message a rejection copies: what
/// comes from the request is bounded, so the ledger record and the result always fit the
/// producer's limit (a record too large to produce would stop the partition for good).
const MAX_REJECTION_FIELD_LEN: usize = 512;

// The codes this module gives itself (the others come from `CodecError::code`,
// `EvalError::code`, `AuthError::code` and `Verdict::rejection_code`). Each is in
// docs/rejection-codes.md; tests/tests/drift.rs reads these definitions and checks that.
/// Dead letter: the message has no value.
const CODE_EMPTY_MESSAGE: &str = "EMPTY_MESSAGE";
/// Dead letter: the message is larger than `DL_MAX_MESSAGE_BYTES`.
const CODE_MESSAGE_TOO_LARGE: &str = "MESSAGE_TOO_LARGE";
/// Rejection: the request id is empty, too long or not printable ASCII.
const CODE_REQUEST_ID_INVALID: &str = "REQUEST_ID_INVALID";
/// Rejection: `reply_to` is not an allowed topic, or `as_of` is not a date.
const CODE_INPUT_INVALID: &str = "INPUT_INVALID";
/// Rejection: no such function or version.
const CODE_UNKNOWN_FUNCTION: &str = "UNKNOWN_FUNCTION";
/// Rejection: the version is not ACTIVE or not in force at `as_of`.
const CODE_FUNCTION_NOT_ACTIVE: &str = "FUNCTION_NOT_ACTIVE";
/// Rejection: the decision would not fit one ledger record.
const CODE_DECISION_TOO_LARGE: &str = "DECISION_TOO_LARGE";

/// A consumed message, as far as deciding needs it.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// Topic read.
    pub topic: &'a str,
    /// Partition read.
    pub partition: i32,
    /// Offset read.
    pub offset: i64,
    /// Message value.
    pub payload: Option<&'a [u8]>,
}

/// What happens to one message.
pub enum Outcome {
    /// Not a decodable request: goes to the dead-letter topic, no result.
    DeadLetter {
        /// Stable reason code.
        code: &'static str,
        /// Reason without message content.
        message: String,
    },
    /// Evaluated.
    Decided {
        /// The request.
        request: DecisionRequest,
        /// Function version evaluated.
        entry: Arc<Entry>,
        /// The decision.
        decision: Decision,
        /// Date the law was applied at.
        as_of: NaiveDate,
        /// Authenticated caller principal (`None` with authentication disabled).
        caller: Option<String>,
        /// The caller's tenant (`None`: the default tenant).
        tenant: Option<String>,
    },
    /// A resubmission of a request already decided or being decided (same caller, request id
    /// and payload): answered, never decided or recorded again (docs/authentication.md).
    Resubmitted {
        /// The request.
        request: DecisionRequest,
        /// The original's result as it was produced; `None` while none is stored (answered
        /// `REQUEST_IN_PROGRESS`).
        original: Option<Vec<u8>>,
        /// Authenticated caller principal.
        caller: Option<String>,
    },
    /// Refused with a stable code.
    Rejected {
        /// The request.
        request: DecisionRequest,
        /// Stable code.
        code: &'static str,
        /// Message without personal data.
        message: String,
        /// Version resolved, if any.
        entry: Option<Arc<Entry>>,
        /// Authenticated caller principal, when authentication got that far.
        caller: Option<String>,
        /// The caller's tenant, when authentication got that far (`None`: the default tenant).
        tenant: Option<String>,
    },
}

/// A request that passed the message checks and whose function version is selected: what is
/// left is authorisation, the replay check and the evaluation.
pub struct Prepared {
    /// The request.
    pub request: DecisionRequest,
    /// Function version to evaluate.
    pub entry: Arc<Entry>,
    /// Date the law is applied at.
    pub as_of: NaiveDate,
    /// Authenticated caller principal (`None` with authentication disabled).
    pub caller: Option<String>,
    /// The caller's tenant (`None`: the default tenant); the ledger records it.
    pub tenant: Option<String>,
}

impl Prepared {
    /// Turns the prepared request into a rejection with a stable code.
    pub fn reject(self, code: &'static str, message: String) -> Outcome {
        Outcome::Rejected {
            request: self.request,
            code,
            message,
            entry: Some(self.entry),
            caller: self.caller,
            tenant: self.tenant,
        }
    }
}

/// What deciding needs besides the message.
pub struct Decider<'a> {
    /// Request decoder.
    pub codec: &'a Codec<DecisionRequest>,
    /// Loaded functions.
    pub functions: &'a FunctionSet,
    /// Allowed prefix of reply_to topics.
    pub reply_to_prefix: &'a str,
    /// Largest message accepted; larger ones are dead-lettered.
    pub max_message_bytes: usize,
    /// Wall-clock safety net of an evaluation, in multiples of the function's `max_eval_ms`.
    pub safety_net_factor: u64,
    /// Largest input plus output plus reasons a decision may record: its ledger record and
    /// result must fit the producer's `message.max.bytes`.
    pub max_record_bytes: usize,
}

fn valid_topic(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Digest of what a request asks, for telling a resubmission (same digest) from another request
/// under a spent request id: hex SHA-256 over the length-prefixed function id, requested
/// version, date and input text. `issued_at` and `reply_to` are left out: a client (or the
/// gateway) retrying the same request stamps a new time, and may wait on another reply topic.
pub fn request_digest(request: &DecisionRequest) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    field(request.function_id.as_bytes());
    field(
        request
            .function_version
            .as_deref()
            .unwrap_or("\0none")
            .as_bytes(),
    );
    field(&request.as_of.map_or([0xff; 5], |d| {
        let mut b = [0u8; 5];
        b[1..].copy_from_slice(&d.to_be_bytes());
        b
    }));
    field(request.input.as_bytes());
    hex::encode(h.finalize())
}

/// The result answering a resubmission whose original has no stored result yet: rejected
/// `REQUEST_IN_PROGRESS`, under this message's decision id, and recorded nowhere (no ledger
/// position, no signature).
pub fn in_progress(
    request: &DecisionRequest,
    caller: Option<String>,
    msg: Incoming<'_>,
    now_ms: i64,
) -> DecisionResult {
    DecisionResult {
        request_id: request.request_id.clone(),
        decision_id: decision_id(msg.topic, msg.partition, msg.offset),
        status: DecisionStatus::Rejected,
        function_id: request.function_id.chars().take(MAX_REJECTION_FIELD_LEN).collect(),
        function_version: None,
        function_digest: None,
        output: None,
        reasons: Vec::new(),
        legal_basis: Vec::new(),
        rejection: Some(Rejection {
            code: dl_replay::CODE_REQUEST_IN_PROGRESS.to_string(),
            message: "this request (same caller, request_id and content) was already received and is still being decided; send it again later to receive its decision".to_string(),
        }),
        decided_at: now_ms,
        ledger: None,
        signature: None,
        caller,
    }
}

/// The topic a request's result goes to instead of the default, if it names an allowed one.
pub fn reply_topic<'r>(request: &'r DecisionRequest, prefix: &str) -> Option<&'r str> {
    request
        .reply_to
        .as_deref()
        .filter(|t| valid_topic(t) && t.starts_with(prefix))
}

impl Decider<'_> {
    /// Decides one message at time `now` without authentication and replay check (unit tests).
    #[cfg(test)]
    pub fn decide(&self, msg: Incoming<'_>, now: DateTime<Utc>) -> Outcome {
        let request = match self.decode(msg) {
            Ok(r) => r,
            Err(o) => return *o,
        };
        match self.select(request, None, None, now) {
            Ok(p) => self.evaluate(p),
            Err(o) => *o,
        }
    }

    /// Decodes a message and checks the request's own fields (request id, reply_to).
    /// `Err` is the final outcome: a dead letter or a rejection.
    pub fn decode(&self, msg: Incoming<'_>) -> Result<DecisionRequest, Box<Outcome>> {
        let Some(payload) = msg.payload else {
            return Err(Box::new(Outcome::DeadLetter {
                code: CODE_EMPTY_MESSAGE,
                message: "message has no value".into(),
            }));
        };
        if payload.len() > self.max_message_bytes {
            let message = format!(
                "message of {} bytes exceeds the limit of {} bytes",
                payload.len(),
                self.max_message_bytes
            );
            return Err(Box::new(Outcome::DeadLetter {
                code: CODE_MESSAGE_TOO_LARGE,
                message,
            }));
        }
        let request = match self.codec.decode(payload) {
            Ok(r) => r,
            Err(e) => {
                return Err(Box::new(Outcome::DeadLetter {
                    code: e.code(),
                    message: e.to_string(),
                }))
            }
        };
        if let Err(e) = dl_schema::request_id::validate(&request.request_id) {
            return Err(Box::new(Outcome::Rejected {
                request,
                code: CODE_REQUEST_ID_INVALID,
                message: e.to_string(),
                entry: None,
                caller: None,
                tenant: None,
            }));
        }
        if request.reply_to.is_some() && reply_topic(&request, self.reply_to_prefix).is_none() {
            let message = format!(
                "reply_to must be a topic name starting with {:?}",
                self.reply_to_prefix
            );
            return Err(Box::new(Outcome::Rejected {
                request,
                code: CODE_INPUT_INVALID,
                message,
                entry: None,
                caller: None,
                tenant: None,
            }));
        }
        Ok(request)
    }

    /// Selects the function version in force at the request's `as_of` (default: `now`'s date).
    pub fn select(
        &self,
        request: DecisionRequest,
        caller: Option<String>,
        tenant: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Prepared, Box<Outcome>> {
        let reject = |request: DecisionRequest,
                      code: &'static str,
                      message: String,
                      caller: Option<String>| {
            Err(Box::new(Outcome::Rejected {
                request,
                code,
                message,
                entry: None,
                caller,
                tenant: tenant.clone(),
            }))
        };
        let as_of = match request.as_of {
            Some(days) => match dl_schema::date::from_avro_days(days) {
                Some(d) => d,
                None => {
                    return reject(
                        request,
                        CODE_INPUT_INVALID,
                        "as_of is not a valid date".into(),
                        caller,
                    )
                }
            },
            None => now.date_naive(),
        };
        // The caller names a function of its own tenant; the registry id is `<tenant>/<name>`
        // (docs/tenancy.md). A name holding the separator is unknown, like any other unknown.
        let Some(registry_id) =
            dl_schema::tenant::registry_id(tenant.as_deref(), &request.function_id)
        else {
            let message = format!("no function {:?}", request.function_id);
            return reject(request, CODE_UNKNOWN_FUNCTION, message, caller);
        };
        match self
            .functions
            .select(&registry_id, request.function_version.as_deref(), as_of)
        {
            Ok(entry) => Ok(Prepared {
                request,
                entry,
                as_of,
                caller,
                tenant,
            }),
            Err(Selection::Unknown(m)) => reject(request, CODE_UNKNOWN_FUNCTION, m, caller),
            Err(Selection::NotActive(m)) => reject(request, CODE_FUNCTION_NOT_ACTIVE, m, caller),
        }
    }

    /// Validates the input and evaluates the selected function.
    pub fn evaluate(&self, prepared: Prepared) -> Outcome {
        let Prepared {
            request,
            entry,
            as_of,
            caller,
            tenant,
        } = prepared;
        let started = std::time::Instant::now();
        let result = entry
            .compiled
            .evaluate_with_safety_factor(&request.input, self.safety_net_factor);
        metrics::histogram!("dl_worker_evaluation_seconds", "function_id" => entry.manifest.id.clone())
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(decision) if recorded_size(&request, &decision) > self.max_record_bytes => {
                Outcome::Rejected {
                    message: format!(
                        "input and decision together exceed the {} bytes a ledger record may hold",
                        self.max_record_bytes
                    ),
                    request,
                    code: CODE_DECISION_TOO_LARGE,
                    entry: Some(entry),
                    caller,
                    tenant,
                }
            }
            Ok(decision) => Outcome::Decided {
                request,
                entry,
                decision,
                as_of,
                caller,
                tenant,
            },
            Err(e) => {
                let code = e.code();
                Outcome::Rejected {
                    request,
                    code,
                    message: e.to_string(),
                    entry: Some(entry),
                    caller,
                    tenant,
                }
            }
        }
    }
}

pub use dl_ledger::decision_id;

/// Bytes of the request and decision that a decision's ledger record carries (input, output,
/// reasons), without the fixed-size fields.
fn recorded_size(request: &DecisionRequest, decision: &dl_function::Decision) -> usize {
    let reasons: usize = decision
        .reasons
        .iter()
        .map(|r| r.code.len() + r.message.len() + r.legal_ref.len())
        .sum();
    request.input.len() + decision.output.to_string().len() + reasons
}

/// Appends the outcome to the chain and builds the result that points at it: [`seal`], then
/// [`link`]. Returns `None` for dead letters (they have neither).
#[cfg(test)]
pub fn record(
    outcome: &Outcome,
    msg: Incoming<'_>,
    head: &mut ChainHead,
    partition: i32,
    now_ms: i64,
    key: Option<&dl_signer::WorkerKey>,
) -> Option<(LedgerRecord, DecisionResult)> {
    let (record, result) = seal(outcome, msg, now_ms, key)?;
    Some(link(record, result, head, partition))
}

/// Appends a sealed record to its chain and points the result at it (cheap: one hash).
pub fn link(
    record: LedgerRecord,
    mut result: DecisionResult,
    head: &mut ChainHead,
    partition: i32,
) -> (LedgerRecord, DecisionResult) {
    let record = head.append(record);
    result.ledger = Some(LedgerPosition {
        partition,
        sequence: record.sequence,
        hash: record.hash.clone(),
    });
    (record, result)
}

/// Builds the ledger body and the result of an outcome, without chain fields. A decision is
/// signed with `key` (its certificate must be on the chain before the record is linked); the
/// signature goes into both the ledger body and the result. Independent of the chain, so a batch
/// is sealed in parallel. `None` for dead letters.
pub fn seal(
    outcome: &Outcome,
    msg: Incoming<'_>,
    now_ms: i64,
    key: Option<&dl_signer::WorkerKey>,
) -> Option<(LedgerRecord, DecisionResult)> {
    let source = SourcePosition {
        topic: msg.topic.to_string(),
        partition: msg.partition,
        offset: msg.offset,
    };
    let decision_id = decision_id(msg.topic, msg.partition, msg.offset);
    let empty = LedgerRecord::unchained(LedgerRecordKind::DecisionRecorded, now_ms);
    let sealed = match outcome {
        Outcome::DeadLetter { .. } | Outcome::Resubmitted { .. } => return None,
        Outcome::Decided {
            request,
            entry,
            decision,
            as_of,
            caller,
            tenant,
        } => {
            let output = decision.output.to_string();
            let reasons: Vec<Reason> = decision
                .reasons
                .iter()
                .map(|r| Reason {
                    code: r.code.clone(),
                    message: r.message.clone(),
                    legal_ref: r.legal_ref.clone(),
                })
                .collect();
            let mut body = DecisionRecorded {
                decision_id: decision_id.clone(),
                request_id: request.request_id.clone(),
                source,
                caller: caller.clone(),
                function_id: entry.manifest.id.clone(),
                function_version: entry.manifest.version.to_string(),
                function_digest: entry.digest.clone(),
                as_of: Some(dl_schema::date::to_avro_days(*as_of)),
                issued_at: request.issued_at,
                decided_at: now_ms,
                input: request.input.clone(),
                output: output.clone(),
                reasons: reasons.clone(),
                legal_basis: entry.legal_basis.clone(),
                signature: None,
                tenant: tenant.clone(),
            };
            body.signature = key.map(|k| k.sign(&dl_signer::decision_payload(&body)));
            let signature = body.signature.clone();
            let record = LedgerRecord {
                kind: LedgerRecordKind::DecisionRecorded,
                decision: Some(body),
                ..empty
            };
            let result = DecisionResult {
                request_id: request.request_id.clone(),
                decision_id,
                status: DecisionStatus::Decided,
                function_id: entry.manifest.id.clone(),
                function_version: Some(entry.manifest.version.to_string()),
                function_digest: Some(entry.digest.clone()),
                output: Some(output),
                reasons,
                legal_basis: entry.legal_basis.clone(),
                rejection: None,
                decided_at: now_ms,
                ledger: None,
                signature,
                caller: caller.clone(),
            };
            (record, result)
        }
        Outcome::Rejected {
            request,
            code,
            message,
            entry,
            caller,
            tenant,
        } => {
            let request_id: String = request
                .request_id
                .chars()
                .take(MAX_REQUEST_ID_LEN)
                .collect();
            let bounded = |s: &str| s.chars().take(MAX_REJECTION_FIELD_LEN).collect::<String>();
            let version = entry
                .as_ref()
                .map(|e| e.manifest.version.to_string())
                .or_else(|| request.function_version.as_deref().map(bounded));
            let function_id = bounded(&request.function_id);
            let message = bounded(message);
            let body = RequestRejected {
                decision_id: decision_id.clone(),
                request_id: request_id.clone(),
                source,
                caller: caller.clone(),
                function_id: function_id.clone(),
                function_version: version.clone(),
                code: code.to_string(),
                message: message.clone(),
                decided_at: now_ms,
                tenant: tenant.clone(),
            };
            let record = LedgerRecord {
                kind: LedgerRecordKind::RequestRejected,
                rejection: Some(body),
                ..empty
            };
            let result = DecisionResult {
                request_id,
                decision_id,
                status: DecisionStatus::Rejected,
                function_id,
                function_version: version,
                function_digest: entry.as_ref().map(|e| e.digest.clone()),
                output: None,
                reasons: Vec::new(),
                legal_basis: entry
                    .as_ref()
                    .map(|e| e.legal_basis.clone())
                    .unwrap_or_default(),
                rejection: Some(Rejection {
                    code: code.to_string(),
                    message,
                }),
                decided_at: now_ms,
                ledger: None,
                signature: None,
                caller: caller.clone(),
            };
            (record, result)
        }
    };
    Some(sealed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn functions() -> FunctionSet {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let registry = crate::functions::testing::registry_with(&[&examples]);
        FunctionSet::build(
            std::sync::Arc::new(registry),
            &dl_function::FunctionCache::new(64),
        )
    }

    fn request(function: &str, input: &str) -> DecisionRequest {
        DecisionRequest {
            request_id: "req-1".into(),
            function_id: function.into(),
            function_version: None,
            as_of: None,
            issued_at: 1_764_000_000_000,
            input: input.into(),
            reply_to: None,
        }
    }

    fn run(set: &FunctionSet, payload: &[u8]) -> Outcome {
        let codec = dl_schema::request_codec();
        let d = Decider {
            codec: &codec,
            functions: set,
            reply_to_prefix: "decision.results",
            max_message_bytes: 256 * 1024,
            safety_net_factor: dl_function::WALL_CLOCK_SAFETY_FACTOR,
            max_record_bytes: 1_000_000,
        };
        let msg = Incoming {
            topic: "decision.requests",
            partition: 0,
            offset: 7,
            payload: Some(payload),
        };
        d.decide(msg, Utc::now())
    }

    /// Security review (issue 15, High 4): a request under the message limit with a huge
    /// function id (or version) was rejected with both copied into its ledger record and result,
    /// larger than the producer accepts: producing failed at the same offset forever, like an
    /// oversized dead letter. What a rejection copies from the request is bounded.
    #[test]
    fn a_rejection_is_bounded_whatever_the_request_carries() {
        let set = functions();
        let codec = dl_schema::request_codec();
        let mut r = request(&"f".repeat(900_000), "{}");
        r.function_version = Some("9".repeat(100_000));
        let payload = codec.encode(&r).unwrap();
        let d = Decider {
            codec: &codec,
            functions: &set,
            reply_to_prefix: "decision.results",
            max_message_bytes: dl_schema::MAX_MESSAGE_BYTES,
            safety_net_factor: dl_function::WALL_CLOCK_SAFETY_FACTOR,
            max_record_bytes: 1_000_000,
        };
        // A decision too large to record is rejected, not produced.
        let loan = r#"{"amount": 3000, "customer_score": 720, "customer_tier": "standard", "employment_status": "employed"}"#;
        let small = Decider {
            max_record_bytes: loan.len(),
            ..d
        };
        let loan_payload = codec.encode(&request("loan_approval", loan)).unwrap();
        let too_large = small.decide(
            Incoming {
                topic: "decision.requests",
                partition: 0,
                offset: 8,
                payload: Some(&loan_payload),
            },
            Utc::now(),
        );
        assert_eq!(code_of(&too_large), "DECISION_TOO_LARGE");
        let msg = Incoming {
            topic: "decision.requests",
            partition: 0,
            offset: 7,
            payload: Some(&payload),
        };
        let outcome = d.decide(msg, Utc::now());
        assert_eq!(code_of(&outcome), "UNKNOWN_FUNCTION");
        let (record, result) = seal(&outcome, msg, 0, None).unwrap();
        let record = dl_schema::ledger_codec().encode(&record).unwrap().len();
        let result = dl_schema::result_codec().encode(&result).unwrap().len();
        assert!(
            record < 8 * 1024 && result < 8 * 1024,
            "ledger record {record} bytes, result {result} bytes"
        );
    }

    fn code_of(o: &Outcome) -> &'static str {
        match o {
            Outcome::DeadLetter { code, .. } | Outcome::Rejected { code, .. } => code,
            Outcome::Decided { .. } => "DECIDED",
            Outcome::Resubmitted { .. } => "RESUBMITTED",
        }
    }

    #[test]
    fn every_bad_input_class_has_its_code() {
        let set = functions();
        let codec = dl_schema::request_codec();
        let enc = |r: &DecisionRequest| codec.encode(r).unwrap();
        let loan = r#"{"amount": 3000, "customer_score": 720, "customer_tier": "standard", "employment_status": "employed"}"#;
        assert_eq!(
            code_of(&run(&set, &enc(&request("loan_approval", loan)))),
            "DECIDED"
        );
        assert_eq!(code_of(&run(&set, b"not avro at all")), "NOT_AVRO");
        assert_eq!(
            code_of(&run(&set, &vec![0xC3; 300 * 1024])),
            "MESSAGE_TOO_LARGE"
        );
        let result_bytes = dl_schema::result_codec()
            .encode(&DecisionResult {
                request_id: "x".into(),
                decision_id: "y".into(),
                status: DecisionStatus::Decided,
                function_id: "f".into(),
                function_version: None,
                function_digest: None,
                output: None,
                reasons: vec![],
                legal_basis: vec![],
                rejection: None,
                decided_at: 0,
                ledger: None,
                signature: None,
                caller: None,
            })
            .unwrap();
        assert_eq!(code_of(&run(&set, &result_bytes)), "UNKNOWN_SCHEMA");
        assert_eq!(
            code_of(&run(&set, &enc(&request("no_such_function", "{}")))),
            "UNKNOWN_FUNCTION"
        );
        let mut r = request("loan_approval", loan);
        r.function_version = Some("99.0.0".into());
        assert_eq!(code_of(&run(&set, &enc(&r))), "UNKNOWN_FUNCTION");
        let mut r = request("loan_approval", loan);
        r.as_of = Some(0); // 1970: before the function's effective date
        assert_eq!(code_of(&run(&set, &enc(&r))), "FUNCTION_NOT_ACTIVE");
        assert_eq!(
            code_of(&run(
                &set,
                &enc(&request("loan_approval", r#"{"amount": "lots"}"#))
            )),
            "INPUT_INVALID"
        );
        assert_eq!(
            code_of(&run(&set, &enc(&request("loan_approval", "{not json")))),
            "INPUT_INVALID"
        );
        let big = format!(r#"{{"amount": 1, "pad": "{}"}}"#, "x".repeat(200_000));
        assert_eq!(
            code_of(&run(&set, &enc(&request("loan_approval", &big)))),
            "INPUT_INVALID"
        );
        let mut r = request("loan_approval", loan);
        r.request_id = "bad id with spaces".into();
        assert_eq!(code_of(&run(&set, &enc(&r))), "REQUEST_ID_INVALID");
        let mut r = request("loan_approval", loan);
        r.reply_to = Some("someone.elses.topic".into());
        assert_eq!(code_of(&run(&set, &enc(&r))), "INPUT_INVALID");
    }

    #[test]
    fn outcomes_chain_and_point_at_their_record() {
        let set = functions();
        let codec = dl_schema::request_codec();
        let loan = r#"{"amount": 3000, "customer_score": 720, "customer_tier": "standard", "employment_status": "employed"}"#;
        let mut head = ChainHead::genesis("decision.ledger:0");
        let msg = Incoming {
            topic: "decision.requests",
            partition: 0,
            offset: 7,
            payload: None,
        };
        let first = run(
            &set,
            &codec.encode(&request("loan_approval", loan)).unwrap(),
        );
        let (rec, res) = record(&first, msg, &mut head, 0, 5, None).unwrap();
        assert_eq!(rec.sequence, 0);
        assert_eq!(res.ledger.as_ref().unwrap().hash, rec.hash);
        assert_eq!(res.status, DecisionStatus::Decided);
        let output: serde_json::Value =
            serde_json::from_str(res.output.as_deref().unwrap()).unwrap();
        assert_eq!(output["reason"], "Small personal loan approved");
        let second = run(&set, &codec.encode(&request("nope", "{}")).unwrap());
        let (rec2, res2) = record(&second, msg, &mut head, 0, 6, None).unwrap();
        assert_eq!(
            (rec2.sequence, rec2.prev_hash.as_str()),
            (1, rec.hash.as_str())
        );
        assert_eq!(res2.rejection.unwrap().code, "UNKNOWN_FUNCTION");
        assert!(record(
            &Outcome::DeadLetter {
                code: "NOT_AVRO",
                message: String::new()
            },
            msg,
            &mut head,
            0,
            7,
            None
        )
        .is_none());
        assert_eq!(head.next_sequence, 2);
    }

    #[test]
    fn decision_ids_are_deterministic_per_position() {
        assert_eq!(decision_id("t", 1, 2), decision_id("t", 1, 2));
        assert_ne!(decision_id("t", 1, 2), decision_id("t", 1, 3));
        assert_eq!(decision_id("t", 1, 2).len(), 36);
    }
}
