//! The ledger record decoder (`dl_schema::ledger_codec`), and the chain hash of what decodes:
//! the fast canonical-JSON writer must agree with the reference (`schemas/ledger-hash.md`).
#![no_main]

use std::sync::LazyLock;

use dl_fuzz::{framed, round_trip};
use dl_ledger::{record_hash, record_hash_reference, ChainVerifier};
use dl_schema::{ledger_codec, Codec, LedgerRecord};
use libfuzzer_sys::fuzz_target;

static CODEC: LazyLock<Codec<LedgerRecord>> = LazyLock::new(ledger_codec);

fuzz_target!(|data: &[u8]| {
    let codec = &*CODEC;
    for bytes in [data.to_vec(), framed(codec, data)] {
        if let Some(record) = round_trip(codec, &bytes) {
            assert_eq!(
                record_hash(&record),
                record_hash_reference(&record),
                "fast and reference ledger hashes differ"
            );
            let _ = ChainVerifier::anywhere().verify(&record);
        }
    }
});
