//! Micro benchmark (no criterion): µs per check and round trips per batch, against a private
//! `redis-server`. Ignored by default; run with
//! `cargo test --release -p dl-replay --test bench -- --ignored --nocapture`.

mod common;

use std::time::Instant;

use common::RedisServer;
use dl_replay::{CheckItem, RateLimit, ReplayConfig, ReplayGuard, Verdict};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run explicitly with --ignored --nocapture"]
async fn bench_check_batch() {
    let server = RedisServer::start();
    let g = ReplayGuard::connect(&server.url(), ReplayConfig::default())
        .await
        .expect("connect");
    let now = 1_750_000_000_000i64;
    let total = 20_000usize;
    println!("| batch | rate limit | µs per check | µs per batch | round trips per batch |");
    println!("|---:|---|---:|---:|---:|");
    for limited in [false, true] {
        for batch in [1usize, 100, 1000] {
            let rate_limit = limited.then_some(RateLimit {
                per_second: 1.0e9,
                burst: 1_000_000,
            });
            let ids: Vec<String> = (0..total)
                .map(|i| format!("bench-{limited}-{batch}-{i}"))
                .collect();
            let positions: Vec<String> = (0..total)
                .map(|i| format!("decision.requests/0/{i}"))
                .collect();
            let items: Vec<CheckItem> = ids
                .iter()
                .zip(&positions)
                .map(|(id, p)| CheckItem {
                    caller: "bench-caller",
                    request_id: id,
                    issued_at_ms: now,
                    position: p,
                    payload_digest: "d",
                    rate_limit,
                })
                .collect();
            // Warm up (connection, script cache).
            g.check_batch(now, &items[..batch.min(10)])
                .await
                .expect("warm up");
            let trips = g.round_trips();
            let started = Instant::now();
            let mut batches = 0u64;
            for chunk in items[batch.min(10)..].chunks(batch) {
                let v = g.check_batch(now, chunk).await.expect("check");
                assert!(v.iter().all(|v| *v == Verdict::Fresh));
                batches += 1;
            }
            let checks = (total - batch.min(10)) as f64;
            let elapsed = started.elapsed().as_secs_f64();
            println!(
                "| {batch} | {} | {:.2} | {:.1} | {:.2} |",
                if limited {
                    "GCRA script"
                } else {
                    "none (SET NX GET PX)"
                },
                elapsed * 1e6 / checks,
                elapsed * 1e6 / batches as f64,
                (g.round_trips() - trips) as f64 / batches as f64
            );
        }
    }
}
