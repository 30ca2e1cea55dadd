//! The worker's metrics, described once so /metrics carries help text and units.

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

/// Registers help text for every metric the worker emits.
pub fn describe() {
    describe_counter!(
        "dl_worker_messages_total",
        "Consumed request messages by outcome (decided, rejected, dead_lettered, resubmitted), code and, for decided and rejected, tenant (a declared tenant, or default: no declared tenants, or none verified)."
    );
    describe_histogram!(
        "dl_worker_evaluation_seconds",
        Unit::Seconds,
        "Time to validate and evaluate one request, per function."
    );
    describe_counter!(
        "dl_shadow_evaluations_total",
        "Shadow evaluations (ADR 0032) per function, by outcome: agree, disagree or error (the shadow version failed; the decision is unaffected)."
    );
    describe_histogram!(
        "dl_shadow_seconds",
        Unit::Seconds,
        "Time to evaluate one sampled request with the function's shadow version."
    );
    describe_counter!(
        "dl_worker_chain_recoveries_total",
        "Chain heads recovered from the ledger topic."
    );
    describe_histogram!(
        "dl_worker_stage_seconds",
        Unit::Seconds,
        "Wall time of one batch stage: prepare (decode, authenticate, authorise), replay (one Redis round trip), evaluate, shadow (ADR 0032)."
    );
    describe_gauge!(
        "dl_worker_replay_store_up",
        "1 when the replay store (Redis) answers, 0 while the worker fails closed."
    );
    describe_gauge!(
        "dl_worker_active_versions",
        "ACTIVE function versions compiled in the set the worker evaluates."
    );
    describe_gauge!(
        "dl_worker_registry_events",
        "Registry events folded into the function set in use (compare with the topic's end offset for lag)."
    );
    describe_counter!(
        "dl_worker_registry_swaps_total",
        "Function sets swapped in (one at start, one per registry change)."
    );
    describe_histogram!(
        "dl_worker_registry_swap_seconds",
        Unit::Seconds,
        "Time from a registry change to the new function set being in use (compilation included)."
    );
    describe_counter!(
        "dl_worker_function_compile_failures_total",
        "ACTIVE versions that failed to compile on this worker (requests for them are rejected)."
    );
    describe_counter!(
        "dl_worker_key_rotations_total",
        "Worker signing keys certified (at start and on rotation)."
    );
    describe_counter!(
        "dl_worker_key_rotation_failures_total",
        "Key rotations deferred because the signer failed (the current key stayed in use)."
    );
    describe_gauge!(
        "dl_worker_key_valid_seconds",
        "Seconds the current worker key stays valid; 0 means the worker does not decide (fail closed)."
    );
    describe_counter!(
        "dl_worker_checkpoints_total",
        "Signed checkpoints appended to the chains."
    );
    describe_counter!(
        "dl_worker_checkpoint_failures_total",
        "Checkpoints deferred because the signer failed or timed out."
    );
    describe_histogram!(
        "dl_worker_checkpoint_sign_seconds",
        Unit::Seconds,
        "Time to have one checkpoint signed (one signer call)."
    );
    describe_gauge!(
        "dl_worker_last_checkpoint_timestamp_seconds",
        Unit::Seconds,
        "Unix time of the last checkpoint this worker appended to a chain (the checkpoint age is now minus this)."
    );
}
