//! The bounded cache of writer schemas by id.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use dl_schema::{WriterSchema, WriterSchemas};

/// How long an id the registry answered "not found" for is remembered as unknown (a producer may
/// register it a moment later).
const UNKNOWN_ID_TTL: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
enum Entry {
    Known(Arc<WriterSchema>),
    Unknown(Instant),
}

/// Writer schemas by Confluent schema id, at most `capacity` of them. Ids are immutable in a
/// Schema Registry, so a known entry never goes stale; when full, an arbitrary entry is evicted
/// (a later message with its id fetches it again).
#[derive(Debug)]
pub struct SchemaCache {
    capacity: usize,
    entries: RwLock<HashMap<u32, Entry>>,
}

impl SchemaCache {
    /// An empty cache holding at most `capacity` ids (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// Whether `id` needs asking the registry: not cached, or unknown for longer than the TTL.
    pub fn needs_fetch(&self, id: u32) -> bool {
        match self.read().get(&id) {
            None => true,
            Some(Entry::Known(_)) => false,
            Some(Entry::Unknown(since)) => since.elapsed() >= UNKNOWN_ID_TTL,
        }
    }

    /// Records the writer schema of `id`.
    pub fn insert(&self, id: u32, schema: WriterSchema) {
        self.put(id, Entry::Known(Arc::new(schema)));
    }

    /// Records that the registry does not know `id`.
    pub fn insert_unknown(&self, id: u32) {
        self.put(id, Entry::Unknown(Instant::now()));
    }

    /// Number of ids held.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn put(&self, id: u32, entry: Entry) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&id) {
            // Unknown ids go first; otherwise any entry.
            let victim = entries
                .iter()
                .find(|(_, e)| matches!(e, Entry::Unknown(_)))
                .or_else(|| entries.iter().next())
                .map(|(k, _)| *k);
            if let Some(victim) = victim {
                entries.remove(&victim);
            }
        }
        entries.insert(id, entry);
        metrics::gauge!("dl_schema_registry_cached_schemas").set(entries.len() as f64);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<u32, Entry>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }
}

impl WriterSchemas for SchemaCache {
    fn writer_schema(&self, id: u32) -> Option<Arc<WriterSchema>> {
        match self.read().get(&id) {
            Some(Entry::Known(schema)) => Some(schema.clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_is_bounded_and_evicts_unknown_ids_first() {
        let schema = |avsc: &str| WriterSchema::parse(avsc).unwrap();
        let cache = SchemaCache::new(2);
        cache.insert(1, schema(r#""string""#));
        cache.insert_unknown(2);
        assert!(!cache.needs_fetch(1));
        assert!(
            !cache.needs_fetch(2),
            "an unknown id is not asked again at once"
        );
        assert!(cache.writer_schema(2).is_none());
        cache.insert(3, schema(r#""long""#));
        assert_eq!(cache.len(), 2);
        assert!(cache.needs_fetch(2), "the unknown id was evicted first");
        assert!(cache.writer_schema(1).is_some() && cache.writer_schema(3).is_some());
        cache.insert(4, schema(r#""int""#));
        assert_eq!(cache.len(), 2);
    }
}
