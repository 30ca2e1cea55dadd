//! A bounded, thread-safe cache of compiled functions keyed by package digest.

use crate::compiled::CompiledFunction;
use crate::error::CompileError;
use crate::package::FunctionPackage;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Caches `digest -> Arc<CompiledFunction>` with least-recently-used eviction.
///
/// Compilation happens outside the lock; two threads missing on the same digest at once may both
/// compile, and the first to finish wins (the result is identical).
#[derive(Debug)]
pub struct FunctionCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    tick: u64,
    entries: HashMap<String, (u64, Arc<CompiledFunction>)>,
    hits: u64,
    misses: u64,
}

impl FunctionCache {
    /// A cache holding at most `capacity` compiled functions (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The compiled function for `digest`, if cached.
    pub fn get(&self, digest: &str) -> Option<Arc<CompiledFunction>> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        match inner.entries.get_mut(digest) {
            Some(entry) => {
                entry.0 = tick;
                let f = entry.1.clone();
                inner.hits += 1;
                Some(f)
            }
            None => {
                inner.misses += 1;
                None
            }
        }
    }

    /// Inserts a compiled function under its own digest, evicting the least recently used
    /// entry when full. Returns the cached value (an existing one wins).
    pub fn insert(&self, function: Arc<CompiledFunction>) -> Arc<CompiledFunction> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        if let Some(existing) = inner.entries.get_mut(function.digest()) {
            existing.0 = tick;
            return existing.1.clone();
        }
        if inner.entries.len() >= self.capacity {
            let oldest = inner
                .entries
                .iter()
                .min_by_key(|(_, (t, _))| *t)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                inner.entries.remove(&k);
            }
        }
        inner
            .entries
            .insert(function.digest().to_string(), (tick, function.clone()));
        function
    }

    /// The compiled function for `pkg`, compiling and caching it on a miss.
    pub fn get_or_compile(
        &self,
        pkg: &FunctionPackage,
    ) -> Result<Arc<CompiledFunction>, CompileError> {
        if let Some(f) = self.get(pkg.digest()) {
            return Ok(f);
        }
        let compiled = Arc::new(CompiledFunction::compile(pkg)?);
        Ok(self.insert(compiled))
    }

    /// Number of cached functions.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `(hits, misses)` of [`Self::get`] since creation.
    pub fn stats(&self) -> (u64, u64) {
        let inner = self.lock();
        (inner.hits, inner.misses)
    }

    /// Removes every entry.
    pub fn clear(&self) {
        self.lock().entries.clear();
    }
}
