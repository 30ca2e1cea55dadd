//! Bearer-token verification: a fresh token (full ES256 path) versus a token seen before (served
//! from the verified-token cache, ADR 0021), beside the uncached verifier as baseline. Real
//! ES256 tokens from the local OIDC provider (`scripts/oidc/provider.mjs`), real JWKS over HTTP.
//!
//! `cargo bench -p dl-auth --bench verify`

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use common::{bearer, Provider};
use criterion::{criterion_group, criterion_main, Criterion};
use dl_auth::JwtVerifier;
use serde_json::json;

/// Distinct tokens cycled through by the "fresh token" case: more than the cache holds, so
/// every one is a miss (full verification, then insert with an eviction).
const FRESH_TOKENS: usize = 64;

fn verify(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (provider, token, fresh, uncached, cached, churn) = rt.block_on(async {
        let p = Provider::start().await;
        let token = p.default_token().await;
        let mut fresh = Vec::with_capacity(FRESH_TOKENS);
        for i in 0..FRESH_TOKENS {
            let mut claims = p.claims();
            claims["jti"] = json!(format!("bench-{i}"));
            claims["exp"] = json!(common::now() + 3600);
            fresh.push(bearer(&p.sign(json!({}), claims, false).await));
        }
        let mut off = p.config();
        off.token_cache_capacity = 0;
        let uncached = JwtVerifier::new(off).await.expect("verifier");
        let cached = JwtVerifier::new(p.config()).await.expect("verifier");
        let mut small = p.config();
        small.token_cache_capacity = FRESH_TOKENS / 4;
        let churn = JwtVerifier::new(small).await.expect("verifier");
        (p, bearer(&token), fresh, uncached, cached, churn)
    });

    let mut g = c.benchmark_group("bearer_es256");
    g.bench_function("uncached verifier (signature every time)", |b| {
        b.iter(|| {
            rt.block_on(uncached.verify_bearer(Some(black_box(&token))))
                .expect("valid")
        })
    });
    let mut i = 0usize;
    g.bench_function("cache on, fresh token (miss: verify + insert)", |b| {
        b.iter(|| {
            i = (i + 1) % FRESH_TOKENS;
            rt.block_on(churn.verify_bearer(Some(black_box(&fresh[i]))))
                .expect("valid")
        })
    });
    rt.block_on(cached.verify_bearer(Some(&token)))
        .expect("valid");
    g.bench_function("cache on, token seen before (hit)", |b| {
        b.iter(|| {
            rt.block_on(cached.verify_bearer(Some(black_box(&token))))
                .expect("valid")
        })
    });
    g.finish();
    let s = churn.token_cache_stats();
    assert_eq!(s.hits, 0, "the fresh-token case must never hit: {s:?}");
    let s = cached.token_cache_stats();
    assert_eq!(s.misses, 1, "the cached case must always hit: {s:?}");
    drop(provider);
}

criterion_group!(benches, verify);
criterion_main!(benches);
