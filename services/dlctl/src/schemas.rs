//! `dlctl schema fingerprints` and the Schema Registry part of `dlctl topology apply`.

use anyhow::{bail, Context};
use dl_schema_registry::{subject_for_topic, RegistryConfig, SchemaRegistry};

/// Registers each topic's `value_schema` under `<topic>-value` when `DL_SCHEMA_REGISTRY_URL` is
/// set. A schema that cannot read the subject's latest version (BACKWARD) is refused before
/// anything is registered for it.
pub async fn register(topology: &dl_kafka::Topology) -> anyhow::Result<()> {
    let Some(cfg) = RegistryConfig::from_env()? else {
        return Ok(());
    };
    let registry = SchemaRegistry::new(cfg)?;
    for topic in &topology.topics {
        let Some(name) = &topic.value_schema else {
            continue;
        };
        let Some((_, avsc)) = dl_schema::SCHEMAS.iter().find(|(n, _)| n == name) else {
            bail!(
                "topic {}: value_schema {name} is none of {:?}",
                topic.name,
                dl_schema::SCHEMAS.map(|(n, _)| n)
            );
        };
        let subject = subject_for_topic(&topic.name);
        let id = registry
            .register(&subject, avsc)
            .await
            .with_context(|| format!("registering {name} under {subject}"))?;
        crate::say!("schema    {subject}: {name} has id {id}");
    }
    Ok(())
}

/// Prints, per shipped schema, the fingerprint in both byte orders and the legacy one.
pub fn print_fingerprints() -> anyhow::Result<()> {
    crate::say!("schema\tfingerprint (u64 hex)\tbytes after C3 01 (little-endian)\tlegacy fingerprint (still read)");
    for (name, avsc) in dl_schema::SCHEMAS {
        let codec = dl_schema::Codec::<serde_json::Value>::new(avsc)?;
        let (spec, legacy) = (codec.fingerprint(), codec.legacy_fingerprint());
        let le: String = spec
            .to_le_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        crate::say!("{name}\t{spec:016x}\t{le}\t{legacy:016x}");
    }
    Ok(())
}
