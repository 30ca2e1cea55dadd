//! Synthetic signed chains, for tests and benchmarks: what a worker appends, without Kafka.

use dl_ledger::ChainHead;
use dl_schema::{
    Checkpoint, DecisionRecorded, LedgerRecord, LedgerRecordKind, Reason, RequestRejected,
    SourcePosition,
};
use dl_signer::{checkpoint_payload, decision_payload, LocalKeyFile, WorkerKey};

/// A plausible unsigned decision body number `i`, decided at `decided_at`.
pub fn decision_body(i: u64, decided_at: i64) -> DecisionRecorded {
    DecisionRecorded {
        decision_id: format!("dec-{i:08}"),
        request_id: format!("req-{i:08}"),
        source: SourcePosition {
            topic: "decision.requests".into(),
            partition: 0,
            offset: i64::try_from(i).unwrap_or(i64::MAX),
        },
        caller: Some("kela-benefits".into()),
        function_id: "asumistuki".into(),
        function_version: "1.2.0".into(),
        function_digest: "sha256:5f0c8a0e4c8bb7e9e1a3a06b1f6d1b8bd1f0a1b2c3d4e5f60718293a4b5c6d7e"
            .into(),
        as_of: Some(20_420),
        issued_at: decided_at - 40,
        decided_at,
        input: format!(
            r#"{{"household_size":{},"monthly_income_eur":{}}}"#,
            i % 7 + 1,
            1000 + i % 2500
        ),
        output: format!(
            r#"{{"eligible":{},"amount_eur":{}}}"#,
            !i.is_multiple_of(3),
            i % 600
        ),
        reasons: vec![Reason {
            code: "INCOME_BELOW_LIMIT".into(),
            message: "Tulot alittavat rajan (päätös)".into(),
            legal_ref: "https://finlex.fi/eli/laki/2014/938/2#p8".into(),
        }],
        legal_basis: vec!["https://finlex.fi/eli/laki/2014/938".into()],
        signature: None,
        tenant: None,
    }
}

/// A rejection body number `i`.
pub fn rejection_body(i: u64, decided_at: i64) -> RequestRejected {
    RequestRejected {
        decision_id: format!("rej-{i:08}"),
        request_id: format!("req-{i:08}"),
        source: SourcePosition {
            topic: "decision.requests".into(),
            partition: 0,
            offset: i64::try_from(i).unwrap_or(i64::MAX),
        },
        caller: None,
        function_id: "asumistuki".into(),
        function_version: None,
        code: "INPUT_INVALID".into(),
        message: "input does not match the schema at /household_size".into(),
        decided_at,
        tenant: None,
    }
}

/// Signs `d` with `key` (sets `d.signature`).
pub fn sign_decision(key: &WorkerKey, d: &mut DecisionRecorded) {
    d.signature = None;
    d.signature = Some(key.sign(&decision_payload(d)));
}

/// A checkpoint of `head` signed by the local `certifier` (synchronous; what
/// `dl_signer::sign_checkpoint_for_head` produces with a local key file), without a Merkle root.
/// `None` for an empty chain.
pub fn local_checkpoint(certifier: &LocalKeyFile, head: &ChainHead) -> Option<Checkpoint> {
    local_checkpoint_with(certifier, head, None)
}

/// [`local_checkpoint`] with `merkle_root` (the worker's checkpoints carry
/// [`ChainHead::segment_root`]).
pub fn local_checkpoint_with(
    certifier: &LocalKeyFile,
    head: &ChainHead,
    root: Option<String>,
) -> Option<Checkpoint> {
    let info = certifier.key_info();
    let up_to = head.next_sequence.checked_sub(1).filter(|s| *s >= 0)?;
    let payload = checkpoint_payload(
        &head.chain_id,
        up_to,
        &head.head_hash,
        root.as_deref(),
        &info.key_id,
    )
    .ok()?;
    Some(Checkpoint {
        up_to_sequence: up_to,
        head_hash: head.head_hash.clone(),
        merkle_root: root,
        signer_key_id: info.key_id.clone(),
        signature: certifier.sign(&payload).value,
    })
}

/// Builds one chain the way a worker appends it.
#[derive(Debug, Clone)]
pub struct ChainBuilder {
    head: ChainHead,
    /// The records appended so far.
    pub records: Vec<LedgerRecord>,
    /// `recorded_at`/`decided_at` of the next record (advanced by 1 ms per record).
    pub clock_ms: i64,
    /// Whether checkpoints carry the Merkle root of their segment, as the worker's do (off by
    /// default: checkpoints as written before ADR 0032).
    pub merkle_roots: bool,
}

impl ChainBuilder {
    /// An empty chain `chain_id` whose first record is recorded at `start_ms`.
    pub fn new(chain_id: impl Into<String>, start_ms: i64) -> Self {
        Self {
            head: ChainHead::genesis(chain_id),
            records: Vec::new(),
            clock_ms: start_ms,
            merkle_roots: false,
        }
    }

    /// The head (next sequence, last hash).
    pub fn head(&self) -> &ChainHead {
        &self.head
    }

    /// Appends `record` (its chain id, sequence and hashes are filled).
    pub fn append(&mut self, record: LedgerRecord) -> &LedgerRecord {
        let r = self.head.append(record);
        self.clock_ms += 1;
        self.records.push(r);
        let last = self.records.len() - 1;
        &self.records[last]
    }

    /// Appends the certificate of `key` (`SIGNING_KEY_CERTIFIED`).
    pub fn certificate(&mut self, key: &WorkerKey) -> &LedgerRecord {
        let mut r = LedgerRecord::unchained(LedgerRecordKind::SigningKeyCertified, self.clock_ms);
        r.key_certified = Some(key.certificate().clone());
        self.append(r)
    }

    /// Appends decision `i`, signed by `key` when given.
    pub fn decision(&mut self, key: Option<&WorkerKey>, i: u64) -> &LedgerRecord {
        let mut d = decision_body(i, self.clock_ms);
        if let Some(key) = key {
            sign_decision(key, &mut d);
        }
        self.signed_decision(d)
    }

    /// Appends a prepared decision body as it is.
    pub fn signed_decision(&mut self, d: DecisionRecorded) -> &LedgerRecord {
        let mut r = LedgerRecord::unchained(LedgerRecordKind::DecisionRecorded, self.clock_ms);
        r.decision = Some(d);
        self.append(r)
    }

    /// Appends rejection `i`.
    pub fn rejection(&mut self, i: u64) -> &LedgerRecord {
        let mut r = LedgerRecord::unchained(LedgerRecordKind::RequestRejected, self.clock_ms);
        r.rejection = Some(rejection_body(i, self.clock_ms));
        self.append(r)
    }

    /// Appends a checkpoint of the current head signed by `certifier` (nothing on an empty
    /// chain).
    pub fn checkpoint(&mut self, certifier: &LocalKeyFile) -> Option<&LedgerRecord> {
        let root = self
            .merkle_roots
            .then(|| self.head.segment_root())
            .flatten();
        let cp = local_checkpoint_with(certifier, &self.head, root)?;
        let mut r = LedgerRecord::unchained(LedgerRecordKind::Checkpoint, self.clock_ms);
        r.checkpoint = Some(cp);
        Some(self.append(r))
    }
}
