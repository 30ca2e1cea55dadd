//! The registry event decoder (`dl_schema::registry_codec`), and the registry's validation of
//! what decodes: applied to an empty registry and to one holding a published `loan_approval`.
#![no_main]

use std::sync::{Arc, LazyLock};

use dl_function::FunctionPackage;
use dl_fuzz::{framed, round_trip};
use dl_registry::{ApproverSet, Registry};
use dl_schema::{registry_codec, Codec, RegistryEvent};
use libfuzzer_sys::fuzz_target;

static CODEC: LazyLock<Codec<RegistryEvent>> = LazyLock::new(registry_codec);

static REGISTRIES: LazyLock<[Registry; 2]> = LazyLock::new(|| {
    let empty = Registry::new(Arc::new(ApproverSet::default()));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/loan_approval");
    let package = FunctionPackage::load(&dir).expect("examples/loan_approval loads");
    let mut with_loan = empty.clone();
    with_loan
        .apply(&dl_registry::events::published(&package, "fuzz", 1))
        .expect("publishing loan_approval");
    [empty, with_loan]
});

fuzz_target!(|data: &[u8]| {
    let codec = &*CODEC;
    for bytes in [data.to_vec(), framed(codec, data)] {
        if let Some(event) = round_trip(codec, &bytes) {
            for registry in REGISTRIES.iter() {
                let mut registry = registry.clone();
                let _ = registry.apply(&event);
            }
        }
    }
});
