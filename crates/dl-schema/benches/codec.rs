//! Decoding one `DecisionRequest`: single-object versus the Confluent wire format with the
//! writer schema from a registry cache (the same schema: no resolution), and a newer writer with
//! one more field (schema resolution). `cargo bench -p dl-schema --bench codec`.

use std::collections::HashMap;
use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use dl_schema::{request_codec, DecisionRequest, WriterSchema, WriterSchemas};

#[derive(Debug)]
struct Ids(HashMap<u32, Arc<WriterSchema>>);

impl WriterSchemas for Ids {
    fn writer_schema(&self, id: u32) -> Option<Arc<WriterSchema>> {
        self.0.get(&id).cloned()
    }
}

fn bench(c: &mut Criterion) {
    let request = DecisionRequest {
        request_id: "bench-000001".into(),
        function_id: "loan_approval".into(),
        function_version: None,
        as_of: None,
        issued_at: 1_796_450_000_000,
        input: r#"{"amount": 3000, "customer_score": 720, "customer_tier": "standard", "employment_status": "employed"}"#.into(),
        reply_to: None,
    };
    let mut newer: serde_json::Value =
        serde_json::from_str(dl_schema::DECISION_REQUEST_AVSC).expect("schema");
    newer["fields"]
        .as_array_mut()
        .expect("fields")
        .push(serde_json::json!({"name": "channel", "type": ["null", "string"], "default": null}));
    let ids = Ids(HashMap::from([
        (
            1,
            Arc::new(WriterSchema::parse(dl_schema::DECISION_REQUEST_AVSC).expect("ours")),
        ),
        (
            2,
            Arc::new(WriterSchema::parse(&newer.to_string()).expect("newer")),
        ),
    ]));
    let codec = request_codec().with_writer_schemas(Arc::new(ids));
    let single = codec.encode(&request).expect("encode");
    let confluent = codec.encode_confluent(1, &request).expect("encode");
    let mut evolved = confluent.clone();
    evolved[4] = 2;
    evolved.push(0); // channel = null, the extra field's union branch 0
    let mut group = c.benchmark_group("decode_request");
    group.bench_function("single_object", |b| {
        b.iter(|| codec.decode(black_box(&single)).expect("decode"))
    });
    group.bench_function("confluent_same_schema", |b| {
        b.iter(|| codec.decode(black_box(&confluent)).expect("decode"))
    });
    group.bench_function("confluent_newer_writer", |b| {
        b.iter(|| codec.decode(black_box(&evolved)).expect("decode"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
