//! Integration tests against a real `redis-server` (one private server per test).

mod common;

use std::time::Duration;

use common::RedisServer;
use dl_replay::{CheckItem, RateLimit, ReplayConfig, ReplayError, ReplayGuard, Verdict};

const NOW: i64 = 1_750_000_000_000;
/// The payload digest of every request built by [`item`]: they all ask the same.
const DIGEST: &str = "digest-of-the-same-request";

fn item<'a>(caller: &'a str, request_id: &'a str, position: &'a str) -> CheckItem<'a> {
    CheckItem {
        caller,
        request_id,
        issued_at_ms: NOW,
        position,
        payload_digest: DIGEST,
        rate_limit: None,
    }
}

async fn guard(server: &RedisServer) -> ReplayGuard {
    ReplayGuard::connect(&server.url(), ReplayConfig::default())
        .await
        .expect("connect")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[tokio::test]
async fn fresh_then_resubmission_from_another_position() {
    let server = RedisServer::start();
    let g = guard(&server).await;
    let v = g
        .check_batch(NOW, &[item("caller-a", "req-1", "decision.requests/0/10")])
        .await
        .unwrap();
    assert_eq!(v, vec![Verdict::Fresh]);
    let v = g
        .check_batch(
            NOW + 1000,
            &[item("caller-a", "req-1", "decision.requests/3/99")],
        )
        .await
        .unwrap();
    assert_eq!(v, vec![Verdict::Resubmission]);
    assert_eq!(v[0].rejection_code(), None);
    // Still a resubmission the second time, and the stored position is the first one.
    let v = g
        .check_batch(
            NOW + 2000,
            &[item("caller-a", "req-1", "decision.requests/3/100")],
        )
        .await
        .unwrap();
    assert_eq!(v, vec![Verdict::Resubmission]);
    let stored: String = redis::cmd("GET")
        .arg(g.nonce_key("caller-a", "req-1"))
        .query(&mut server.conn())
        .unwrap();
    assert_eq!(stored, format!("{DIGEST}|decision.requests/0/10"));
}

#[tokio::test]
async fn another_payload_under_a_spent_id_is_reused_and_old_nonces_are_replays() {
    let server = RedisServer::start();
    let g = guard(&server).await;
    let first = item("caller-a", "req-1", "decision.requests/0/10");
    assert_eq!(
        g.check_batch(NOW, &[first]).await.unwrap(),
        [Verdict::Fresh]
    );
    let other = CheckItem {
        payload_digest: "another-request",
        ..item("caller-a", "req-1", "decision.requests/0/11")
    };
    let v = g.check_batch(NOW, &[other]).await.unwrap();
    assert_eq!(v, [Verdict::RequestIdReused]);
    assert_eq!(v[0].rejection_code(), Some("REQUEST_ID_REUSED"));
    // The original's redelivery is still a redelivery, whatever it asks.
    assert_eq!(
        g.check_batch(NOW, &[first]).await.unwrap(),
        [Verdict::Redelivery]
    );
    // A nonce written by an older worker holds only the position: a replay, as it was then.
    let _: () = redis::cmd("SET")
        .arg(g.nonce_key("caller-a", "old"))
        .arg("decision.requests/0/1")
        .query(&mut server.conn())
        .unwrap();
    let v = g
        .check_batch(NOW, &[item("caller-a", "old", "decision.requests/0/2")])
        .await
        .unwrap();
    assert_eq!(v, [Verdict::Replay]);
    assert_eq!(v[0].rejection_code(), Some("REPLAY"));
}

#[tokio::test]
async fn stored_results_answer_resubmissions_and_expire_with_the_nonce() {
    let server = RedisServer::start();
    let cfg = ReplayConfig {
        window: Duration::from_millis(300),
        max_skew: Duration::from_millis(100),
        ..ReplayConfig::default()
    };
    let g = ReplayGuard::connect(&server.url(), cfg).await.unwrap();
    let now = now_ms();
    let original = CheckItem {
        issued_at_ms: now,
        ..item("caller-a", "req-1", "t/0/1")
    };
    let again = CheckItem {
        position: "t/0/2",
        ..original
    };
    let other_caller = CheckItem {
        caller: "caller-b",
        ..again
    };
    assert_eq!(
        g.check_batch(now, &[original]).await.unwrap(),
        [Verdict::Fresh]
    );
    // Nothing stored yet: the original is still being decided.
    assert_eq!(g.stored_results(&[again]).await.unwrap(), [None::<Vec<u8>>]);
    g.store_results(&[dl_replay::StoredResult {
        caller: "caller-a",
        request_id: "req-1",
        result: b"\xC3\x01original result",
    }])
    .await
    .unwrap();
    assert_eq!(
        g.check_batch(now, &[again]).await.unwrap(),
        [Verdict::Resubmission]
    );
    assert_eq!(
        g.stored_results(&[again, other_caller]).await.unwrap(),
        [Some(b"\xC3\x01original result".to_vec()), None],
        "a result is found only under its own caller and request id"
    );
    let ttl: i64 = redis::cmd("PTTL")
        .arg(dl_replay::result_key("dl:", "caller-a", "req-1"))
        .query(&mut server.conn())
        .unwrap();
    assert!(
        ttl > 0 && ttl <= g.config().nonce_ttl().as_millis() as i64,
        "the result lives as long as a nonce: {ttl} ms"
    );
    tokio::time::sleep(g.config().nonce_ttl() + Duration::from_millis(50)).await;
    assert_eq!(g.stored_results(&[again]).await.unwrap(), [None::<Vec<u8>>]);
    assert_eq!(
        g.stored_results(&[]).await.unwrap(),
        Vec::<Option<Vec<u8>>>::new()
    );
    g.store_results(&[]).await.unwrap();
}

#[tokio::test]
async fn same_position_is_a_redelivery() {
    let server = RedisServer::start();
    let g = guard(&server).await;
    let it = item("caller-a", "req-1", "decision.requests/1/42");
    assert_eq!(
        g.check_batch(NOW, &[it]).await.unwrap(),
        vec![Verdict::Fresh]
    );
    for _ in 0..3 {
        let v = g.check_batch(NOW + 5, &[it]).await.unwrap();
        assert_eq!(v, vec![Verdict::Redelivery]);
        assert!(v[0].is_accepted());
    }
}

#[tokio::test]
async fn duplicates_within_one_batch_are_applied_in_order() {
    let server = RedisServer::start();
    let g = guard(&server).await;
    let v = g
        .check_batch(
            NOW,
            &[
                item("c", "r", "t/0/1"),
                item("c", "r", "t/0/2"),
                item("c", "r", "t/0/1"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        v,
        vec![Verdict::Fresh, Verdict::Resubmission, Verdict::Redelivery]
    );
}

#[tokio::test]
async fn callers_are_independent() {
    let server = RedisServer::start();
    let g = guard(&server).await;
    let v = g
        .check_batch(
            NOW,
            &[
                item("caller-a", "same-id", "t/0/1"),
                item("caller-b", "same-id", "t/0/2"),
                // Concatenation ambiguity must not collide.
                item("caller-a|x", "y", "t/0/3"),
                item("caller-a", "x|y", "t/0/4"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(v, vec![Verdict::Fresh; 4]);
    let v = g
        .check_batch(NOW, &[item("caller-b", "same-id", "t/0/9")])
        .await
        .unwrap();
    assert_eq!(v, vec![Verdict::Resubmission]);
}

#[tokio::test]
async fn stale_and_future_with_skew_boundaries_do_not_consume_nonces() {
    let server = RedisServer::start();
    let g = guard(&server).await;
    let window = 300_000;
    let skew = 30_000;
    let mk = |rid: &'static str, issued_at_ms: i64| CheckItem {
        caller: "c",
        request_id: rid,
        issued_at_ms,
        position: "t/0/1",
        payload_digest: DIGEST,
        rate_limit: None,
    };
    let v = g
        .check_batch(
            NOW,
            &[
                mk("oldest-ok", NOW - window),
                mk("too-old", NOW - window - 1),
                mk("ahead-ok", NOW + skew),
                mk("too-far-ahead", NOW + skew + 1),
                mk("ancient", i64::MIN),
                mk("far-future", i64::MAX),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        v,
        vec![
            Verdict::Fresh,
            Verdict::Stale { age_ms: window + 1 },
            Verdict::Fresh,
            Verdict::Future { ahead_ms: skew + 1 },
            Verdict::Stale { age_ms: i64::MAX },
            Verdict::Future {
                ahead_ms: i64::MAX - NOW
            },
        ]
    );
    for bad in &v[1..] {
        if !bad.is_accepted() {
            assert_eq!(bad.rejection_code(), Some("STALE_REQUEST"));
        }
    }
    assert_ne!(v[1].rejection_message(), v[3].rejection_message());
    // Nothing was stored for the rejected ones: sent again in time, they are fresh.
    let mut conn = server.conn();
    for rid in ["too-old", "too-far-ahead", "ancient", "far-future"] {
        let exists: bool = redis::cmd("EXISTS")
            .arg(g.nonce_key("c", rid))
            .query(&mut conn)
            .unwrap();
        assert!(!exists, "{rid}");
    }
    let v = g
        .check_batch(NOW, &[mk("too-old", NOW), mk("too-far-ahead", NOW)])
        .await
        .unwrap();
    assert_eq!(v, vec![Verdict::Fresh, Verdict::Fresh]);
}

#[tokio::test]
async fn invalid_request_ids_are_rejected_without_touching_redis() {
    let server = RedisServer::start();
    let g = guard(&server).await;
    let long = "x".repeat(129);
    let max = "y".repeat(128);
    let euro_129 = "€".repeat(43);
    let ids: Vec<&str> = vec![
        "",
        &long,
        "a\nb",
        "nul\0",
        "del\u{7f}",
        "c1\u{85}",
        &euro_129,
    ];
    let items: Vec<CheckItem> = ids.iter().map(|id| item("c", id, "t/0/1")).collect();
    let trips = g.round_trips();
    let mut m = server.conn();
    let before = common::InfoSnapshot::take(&mut m);
    let v = g.check_batch(NOW, &items).await.unwrap();
    assert!(v.iter().all(|v| *v == Verdict::InvalidRequestId));
    assert!(v
        .iter()
        .all(|v| v.rejection_code() == Some("REQUEST_ID_INVALID")));
    assert_eq!(
        g.round_trips(),
        trips,
        "no Redis round trip for local rejections"
    );
    let after = common::InfoSnapshot::take(&mut m);
    assert_eq!(
        after.field("total_commands_processed") - before.field("total_commands_processed"),
        1,
        "only the INFO itself"
    );
    // 128 bytes is fine; an invalid id never shadows a valid one.
    let v = g
        .check_batch(NOW, &[item("c", &max, "t/0/1")])
        .await
        .unwrap();
    assert_eq!(v, vec![Verdict::Fresh]);
}

#[tokio::test]
async fn nonce_keys_are_hashed_and_expire() {
    let server = RedisServer::start();
    let cfg = ReplayConfig {
        window: Duration::from_secs(60),
        max_skew: Duration::from_secs(5),
        key_prefix: "test:".into(),
        ..ReplayConfig::default()
    };
    assert_eq!(cfg.nonce_ttl(), Duration::from_secs(70));
    let g = ReplayGuard::connect(&server.url(), cfg).await.unwrap();
    let rl = Some(RateLimit {
        per_second: 10.0,
        burst: 5,
    });
    let v = g
        .check_batch(
            NOW,
            &[
                item("person-like-caller", "secret-request-id", "t/0/1"),
                CheckItem {
                    rate_limit: rl,
                    ..item("limited-caller", "another-id", "t/0/2")
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(v, vec![Verdict::Fresh, Verdict::Fresh]);
    let mut conn = server.conn();
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
    keys.sort();
    assert_eq!(keys.len(), 3, "{keys:?}");
    for k in &keys {
        assert!(
            k.starts_with("test:nonce:") || k.starts_with("test:rl:"),
            "{k}"
        );
        assert!(!k.contains("caller") && !k.contains("id"), "{k}");
    }
    for (caller, rid) in [
        ("person-like-caller", "secret-request-id"),
        ("limited-caller", "another-id"),
    ] {
        let pttl: i64 = redis::cmd("PTTL")
            .arg(g.nonce_key(caller, rid))
            .query(&mut conn)
            .unwrap();
        assert!(pttl > 0 && pttl <= 70_000, "pttl {pttl}");
    }
    let pttl: i64 = redis::cmd("PTTL")
        .arg(g.rate_key("limited-caller"))
        .query(&mut conn)
        .unwrap();
    assert!(pttl > 0, "rate key must expire, pttl {pttl}");
}

#[tokio::test]
async fn rate_limit_burst_then_limited_then_recovers() {
    let server = RedisServer::start();
    // Default limit for callers without their own: 0.5/s (one every 2 s), burst 3.
    let cfg = ReplayConfig {
        default_rate_limit: Some(RateLimit {
            per_second: 0.5,
            burst: 3,
        }),
        ..ReplayConfig::default()
    };
    let g = ReplayGuard::connect(&server.url(), cfg).await.unwrap();
    let now = now_ms();
    let ids: Vec<String> = (0..6).map(|i| format!("req-{i}")).collect();
    let positions: Vec<String> = (0..6).map(|i| format!("t/0/{i}")).collect();
    let items: Vec<CheckItem> = ids
        .iter()
        .zip(&positions)
        .map(|(id, p)| CheckItem {
            issued_at_ms: now,
            ..item("busy", id, p)
        })
        .collect();
    let v = g.check_batch(now, &items).await.unwrap();
    assert_eq!(&v[..3], &[Verdict::Fresh; 3]);
    let mut longest_wait = 0;
    for x in &v[3..] {
        match x {
            Verdict::RateLimited { retry_after_ms } => {
                assert!(*retry_after_ms >= 1 && *retry_after_ms <= 2000);
                longest_wait = longest_wait.max(*retry_after_ms);
            }
            other => panic!("expected RateLimited, got {other:?}"),
        }
        assert_eq!(x.rejection_code(), Some("RATE_LIMITED"));
    }
    // The rate-limited requests did not consume their nonces.
    let mut conn = server.conn();
    for id in &ids[3..] {
        let exists: bool = redis::cmd("EXISTS")
            .arg(g.nonce_key("busy", id))
            .query(&mut conn)
            .unwrap();
        assert!(!exists);
    }
    // A redelivery or a replay while limited is answered from the nonce and spends no token.
    let v = g
        .check_batch(
            now,
            &[
                CheckItem {
                    issued_at_ms: now,
                    ..item("busy", &ids[0], &positions[0])
                },
                CheckItem {
                    issued_at_ms: now,
                    ..item("busy", &ids[1], "t/9/9")
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(v, vec![Verdict::Redelivery, Verdict::Resubmission]);
    // Another caller has its own bucket; a per-item limit overrides the default.
    let v = g
        .check_batch(
            now,
            &[
                CheckItem {
                    issued_at_ms: now,
                    ..item("quiet", "q-1", "t/1/1")
                },
                CheckItem {
                    issued_at_ms: now,
                    rate_limit: Some(RateLimit {
                        per_second: 0.5,
                        burst: 1,
                    }),
                    ..item("strict", "s-1", "t/1/2")
                },
                CheckItem {
                    issued_at_ms: now,
                    rate_limit: Some(RateLimit {
                        per_second: 0.5,
                        burst: 1,
                    }),
                    ..item("strict", "s-2", "t/1/3")
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(v[0], Verdict::Fresh);
    assert_eq!(v[1], Verdict::Fresh);
    assert!(matches!(v[2], Verdict::RateLimited { .. }));

    // After the advertised wait, the same request id (same message) is accepted: exactly one
    // more request, since one emission interval has passed.
    tokio::time::sleep(Duration::from_millis(longest_wait.min(2000) + 50)).await;
    let now2 = now_ms();
    let retry: Vec<CheckItem> = items[3..]
        .iter()
        .map(|it| CheckItem {
            issued_at_ms: now2,
            ..*it
        })
        .collect();
    let v = g.check_batch(now2, &retry).await.unwrap();
    let fresh = v.iter().filter(|v| **v == Verdict::Fresh).count();
    let limited = v
        .iter()
        .filter(|v| matches!(v, Verdict::RateLimited { .. }))
        .count();
    assert!(fresh >= 1, "{v:?}");
    assert_eq!(fresh + limited, 3, "{v:?}");
    assert_eq!(v[0], Verdict::Fresh);
}

#[tokio::test]
async fn redis_killed_fails_closed_and_recovers_after_restart() {
    let mut server = RedisServer::start();
    let cfg = ReplayConfig {
        op_timeout: Duration::from_millis(500),
        default_rate_limit: Some(RateLimit {
            per_second: 1000.0,
            burst: 1000,
        }),
        ..ReplayConfig::default()
    };
    let g = ReplayGuard::connect(&server.url(), cfg).await.unwrap();
    let before = g
        .check_batch(NOW, &[item("c", "before", "t/0/1")])
        .await
        .unwrap();
    assert_eq!(before, vec![Verdict::Fresh]);
    g.ping().await.unwrap();

    server.kill();
    for rid in ["during-1", "during-2"] {
        let err = g
            .check_batch(NOW, &[item("c", rid, "t/0/2")])
            .await
            .unwrap_err();
        assert!(matches!(err, ReplayError::Unavailable(_)), "{err:?}");
        assert_eq!(err.code(), "REPLAY_STORE_UNAVAILABLE");
        let ping = g.ping().await.unwrap_err();
        assert_eq!(ping.code(), "REPLAY_STORE_UNAVAILABLE");
    }
    // Local rejections still work without Redis (they need no store).
    let v = g.check_batch(NOW, &[item("c", "", "t/0/3")]).await.unwrap();
    assert_eq!(v, vec![Verdict::InvalidRequestId]);

    server.restart();
    // The connection manager reconnects in the background; poll until it answers (bounded).
    let mut recovered = None;
    for _ in 0..100 {
        match g.check_batch(NOW, &[item("c", "after", "t/0/4")]).await {
            Ok(v) => {
                recovered = Some(v);
                break;
            }
            Err(e) => {
                assert_eq!(e.code(), "REPLAY_STORE_UNAVAILABLE");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    // The restarted server has lost its script cache: this went through the NOSCRIPT reload.
    assert_eq!(recovered, Some(vec![Verdict::Fresh]));
    g.ping().await.unwrap();
    let v = g
        .check_batch(NOW, &[item("c", "after", "t/0/5")])
        .await
        .unwrap();
    assert_eq!(v, vec![Verdict::Resubmission]);
}

#[tokio::test]
async fn noscript_is_recovered_with_one_extra_round_trip() {
    let server = RedisServer::start();
    let cfg = ReplayConfig {
        default_rate_limit: Some(RateLimit {
            per_second: 1000.0,
            burst: 1000,
        }),
        ..ReplayConfig::default()
    };
    let g = ReplayGuard::connect(&server.url(), cfg).await.unwrap();
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query(&mut server.conn())
        .unwrap();
    let trips = g.round_trips();
    let v = g
        .check_batch(
            NOW,
            &[
                item("c", "a", "t/0/1"),
                item("c", "b", "t/0/2"),
                item("c", "a", "t/0/3"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        v,
        vec![Verdict::Fresh, Verdict::Fresh, Verdict::Resubmission]
    );
    assert_eq!(g.round_trips() - trips, 2);
    let trips = g.round_trips();
    let v = g
        .check_batch(NOW, &[item("c", "a", "t/0/1")])
        .await
        .unwrap();
    assert_eq!(v, vec![Verdict::Redelivery]);
    assert_eq!(g.round_trips() - trips, 1);
}

/// `commands_per_item`: Redis counts commands run inside a script too (EVALSHA + GET, TIME, GET,
/// SET, SET for a fresh rate-limited item).
async fn assert_batch_is_one_round_trip(
    rate_limit: Option<RateLimit>,
    command: &str,
    commands_per_item: u64,
) {
    let server = RedisServer::start();
    let g = guard(&server).await;
    let ids: Vec<String> = (0..1000).map(|i| format!("req-{i}")).collect();
    let positions: Vec<String> = (0..1000)
        .map(|i| format!("decision.requests/0/{i}"))
        .collect();
    let items: Vec<CheckItem> = ids
        .iter()
        .zip(&positions)
        .map(|(id, p)| CheckItem {
            rate_limit,
            ..item("bulk", id, p)
        })
        .collect();

    let mut m = server.conn();
    let trips = g.round_trips();
    let before = common::InfoSnapshot::take(&mut m);

    let v = g.check_batch(NOW, &items).await.unwrap();
    assert!(v.iter().all(|v| *v == Verdict::Fresh));

    let after = common::InfoSnapshot::take(&mut m);
    assert_eq!(g.round_trips() - trips, 1, "one pipeline for the batch");
    assert_eq!(
        after.command_calls(command) - before.command_calls(command),
        1000
    );
    // The batch's commands plus the first INFO (counted once it has run): nothing else.
    assert_eq!(
        after.field("total_commands_processed") - before.field("total_commands_processed"),
        1000 * commands_per_item + 1
    );
    // One round trip means the replies leave in a few socket writes, not one per command.
    let writes = after.field("total_writes_processed") - before.field("total_writes_processed");
    assert!(writes < 100, "{writes} writes for a 1000-item batch");
}

#[tokio::test]
async fn batch_of_1000_is_one_round_trip() {
    assert_batch_is_one_round_trip(None, "set", 1).await;
}

#[tokio::test]
async fn rate_limited_batch_of_1000_is_one_round_trip() {
    assert_batch_is_one_round_trip(
        Some(RateLimit {
            per_second: 1.0e6,
            burst: 100_000,
        }),
        "evalsha",
        6,
    )
    .await;
}

#[tokio::test]
async fn empty_batch_needs_no_redis() {
    let server = RedisServer::start();
    let g = guard(&server).await;
    let trips = g.round_trips();
    assert_eq!(g.check_batch(NOW, &[]).await.unwrap(), vec![]);
    assert_eq!(g.round_trips(), trips);
}

#[tokio::test]
async fn connect_errors_are_classified() {
    let err = ReplayGuard::connect("not a url", ReplayConfig::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "REPLAY_CONFIG_INVALID");
    let err = ReplayGuard::connect(
        "redis://127.0.0.1:6379/",
        ReplayConfig {
            window: Duration::ZERO,
            ..ReplayConfig::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "REPLAY_CONFIG_INVALID");
    // A port nobody listens on (a stopped server's).
    let mut server = RedisServer::start();
    let url = server.url();
    server.kill();
    let err = ReplayGuard::connect(
        &url,
        ReplayConfig {
            op_timeout: Duration::from_millis(300),
            ..ReplayConfig::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "REPLAY_STORE_UNAVAILABLE");
    // The lazy constructor succeeds and reports through ping.
    let g = ReplayGuard::connect_lazy(
        &url,
        ReplayConfig {
            op_timeout: Duration::from_millis(300),
            ..ReplayConfig::default()
        },
    )
    .unwrap();
    assert_eq!(
        g.ping().await.unwrap_err().code(),
        "REPLAY_STORE_UNAVAILABLE"
    );
}

#[test]
fn guard_is_clone_send_sync() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    assert_traits::<ReplayGuard>();
}

/// Security review (issue 15, Medium 8): a request rejected with a retryable code had spent its
/// nonce, so the caller's retry with the same id was a REPLAY. Its nonce is given back; a nonce
/// spent by another message is never freed by a release.
#[tokio::test]
async fn a_released_nonce_can_be_spent_again_but_only_by_its_owner() {
    let server = RedisServer::start();
    let g = guard(&server).await;
    let first = item("caller-a", "req-1", "decision.requests/0/10");
    assert_eq!(
        g.check_batch(NOW, &[first]).await.unwrap(),
        vec![Verdict::Fresh]
    );
    // A release from another position leaves the nonce spent.
    g.release(&[item("caller-a", "req-1", "decision.requests/0/11")])
        .await
        .unwrap();
    let retry = item("caller-a", "req-1", "decision.requests/0/12");
    assert_eq!(
        g.check_batch(NOW, &[retry]).await.unwrap(),
        vec![Verdict::Resubmission]
    );
    // Released by the message that spent it: the retry is fresh.
    g.release(&[first]).await.unwrap();
    assert_eq!(
        g.check_batch(NOW, &[retry]).await.unwrap(),
        vec![Verdict::Fresh]
    );
}
