//! Cost of the per-decision work around the engine: hashing a ledger record and the Avro
//! encoding/decoding of the three contracts. `cargo bench -p dl-ledger`.

use criterion::{criterion_group, criterion_main, Criterion};
use dl_ledger::ChainHead;
use dl_schema::*;

fn decision_record() -> LedgerRecord {
    let input = r#"{"amount": 3000, "customer_score": 720, "customer_tier": "standard", "employment_status": "employed"}"#;
    LedgerRecord {
        chain_id: String::new(),
        sequence: 0,
        prev_hash: String::new(),
        hash: String::new(),
        recorded_at: 1_764_000_000_000,
        kind: LedgerRecordKind::DecisionRecorded,
        decision: Some(DecisionRecorded {
            decision_id: "eefc4175-8f58-40bd-e8ec-85d5368ed55c".into(),
            request_id: "53ce2e62-cd38-4a00-8cc6-9cf4865ae78c".into(),
            source: SourcePosition { topic: "decision.requests".into(), partition: 1, offset: 123_456 },
            caller: Some("https://idp.example|loan-platform".into()),
            function_id: "loan_approval".into(),
            function_version: "1.0.0".into(),
            function_digest: "sha256:9bf58d8a08cd13410a18ec4333bee6c044207f9c50ec7acf76cef8f1304bec61".into(),
            as_of: Some(20_420),
            issued_at: 1_764_000_000_000,
            decided_at: 1_764_000_000_010,
            input: input.into(),
            output: r#"{"approved":true,"limit":5000,"reason":"Small personal loan approved","risk_level":"low"}"#.into(),
            reasons: vec![Reason {
                code: "SMALL_PERSONAL_LOAN".into(),
                message: "Small personal loan approved".into(),
                legal_ref: "http://data.finlex.fi/eli/sd/1978/38/luku/7/pykala/14/ajantasa".into(),
            }],
            legal_basis: vec!["http://data.finlex.fi/eli/sd/1978/38/luku/7/ajantasa".into()],
            signature: None,
            tenant: None,
        }),
        rejection: None,
        key_certified: None,
        checkpoint: None,
    }
}

fn bench(c: &mut Criterion) {
    let record = decision_record();
    let mut head = ChainHead::genesis("decision.ledger:1");
    c.bench_function("ledger append (canonical JSON + SHA-256)", |b| {
        b.iter(|| head.append(record.clone()))
    });
    let appended = ChainHead::genesis("decision.ledger:1").append(record.clone());
    let ledger = ledger_codec();
    c.bench_function("ledger record Avro encode", |b| {
        b.iter(|| ledger.encode(&appended).unwrap())
    });
    let bytes = ledger.encode(&appended).unwrap();
    c.bench_function("ledger record Avro decode", |b| {
        b.iter(|| ledger.decode(&bytes).unwrap())
    });
    let request = DecisionRequest {
        request_id: "53ce2e62-cd38-4a00-8cc6-9cf4865ae78c".into(),
        function_id: "loan_approval".into(),
        function_version: None,
        as_of: None,
        issued_at: 1_764_000_000_000,
        input: appended.decision.as_ref().unwrap().input.clone(),
        reply_to: None,
    };
    let requests = request_codec();
    let req_bytes = requests.encode(&request).unwrap();
    c.bench_function("request Avro decode", |b| {
        b.iter(|| requests.decode(&req_bytes).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
