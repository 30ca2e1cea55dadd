//! The Avro request decoder (`dl_schema::request_codec`): single-object messages, and
//! Confluent-framed ones through schema resolution from a newer writer schema.
#![no_main]

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use dl_fuzz::{framed, round_trip};
use dl_schema::{request_codec, Codec, DecisionRequest, WriterSchema, WriterSchemas};
use libfuzzer_sys::fuzz_target;

/// DecisionRequest as a newer producer might write it: one more optional field, first.
const NEWER_REQUEST: &str = r#"{"type":"record","name":"DecisionRequest","namespace":"eu.decisionlayer.v1","fields":[
    {"name":"channel","type":["null","string"],"default":null},
    {"name":"request_id","type":"string"},{"name":"function_id","type":"string"},
    {"name":"function_version","type":["null","string"],"default":null},
    {"name":"as_of","type":["null",{"type":"int","logicalType":"date"}],"default":null},
    {"name":"issued_at","type":{"type":"long","logicalType":"timestamp-millis"}},
    {"name":"input","type":"string"},{"name":"reply_to","type":["null","string"],"default":null}]}"#;

#[derive(Debug)]
struct Ids(HashMap<u32, Arc<WriterSchema>>);
impl WriterSchemas for Ids {
    fn writer_schema(&self, id: u32) -> Option<Arc<WriterSchema>> {
        self.0.get(&id).cloned()
    }
}

static CODEC: LazyLock<Codec<DecisionRequest>> = LazyLock::new(|| {
    let ids = Ids(HashMap::from([
        (
            1,
            Arc::new(WriterSchema::parse(dl_schema::DECISION_REQUEST_AVSC).expect("schema")),
        ),
        (
            2,
            Arc::new(WriterSchema::parse(NEWER_REQUEST).expect("schema")),
        ),
    ]));
    request_codec().with_writer_schemas(Arc::new(ids))
});

fuzz_target!(|data: &[u8]| {
    let codec = &*CODEC;
    round_trip(codec, data);
    round_trip(codec, &framed(codec, data));
    // The datum as written by the newer schema (id 2): decoded through schema resolution.
    let mut confluent = vec![0, 0, 0, 0, 2];
    confluent.extend_from_slice(data);
    let _ = codec.decode(&confluent);
});
