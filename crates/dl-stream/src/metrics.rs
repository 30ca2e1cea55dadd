//! The metrics every stream has, named `<prefix>_…` after the stream's service.

use std::collections::BTreeMap;
use std::time::Duration;

/// Describes the stream metrics of `prefix` (call once per stream at start).
pub fn describe_metrics(prefix: &str) {
    use ::metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_histogram!(
        format!("{prefix}_batch_seconds"),
        Unit::Seconds,
        "Time from a batch's collection to its commit (processing, waiting for the previous transaction, producing, committing)."
    );
    describe_histogram!(
        format!("{prefix}_commit_seconds"),
        Unit::Seconds,
        "Time to produce one transaction's records and commit it (the committer thread; Kafka sink only)."
    );
    describe_histogram!(
        format!("{prefix}_batch_messages"),
        "Messages per committed batch."
    );
    describe_counter!(
        format!("{prefix}_batch_failures_total"),
        "Batches whose transaction was aborted or rolled back (the stream restarts from its committed or stored offsets)."
    );
    describe_counter!(
        format!("{prefix}_restarts_total"),
        "Stream restarts after a failure (crash-only recovery)."
    );
    describe_gauge!(
        format!("{prefix}_lag_messages"),
        "Messages behind the partition's high watermark after the last batch, by partition."
    );
    describe_counter!(
        format!("{prefix}_dead_letters_total"),
        "Messages dead-lettered, by reason code."
    );
    describe_counter!(
        format!("{prefix}_redelivered_records_total"),
        "Messages skipped because their offset was already written (redelivery)."
    );
}

pub(crate) fn batch_done(prefix: &str, messages: usize, took: Duration) {
    ::metrics::histogram!(format!("{prefix}_batch_seconds")).record(took.as_secs_f64());
    ::metrics::histogram!(format!("{prefix}_batch_messages")).record(messages as f64);
}

pub(crate) fn commit_done(prefix: &str, took: Duration) {
    ::metrics::histogram!(format!("{prefix}_commit_seconds")).record(took.as_secs_f64());
}

pub(crate) fn batch_failed(prefix: &str) {
    ::metrics::counter!(format!("{prefix}_batch_failures_total")).increment(1);
}

pub(crate) fn restarted(prefix: &str) {
    ::metrics::counter!(format!("{prefix}_restarts_total")).increment(1);
}

pub(crate) fn dead_letters(prefix: &str, per_reason: &BTreeMap<String, u64>) {
    for (reason, n) in per_reason {
        ::metrics::counter!(format!("{prefix}_dead_letters_total"), "reason" => reason.clone())
            .increment(*n);
    }
}

pub(crate) fn redelivered(prefix: &str, n: u64) {
    if n > 0 {
        ::metrics::counter!(format!("{prefix}_redelivered_records_total")).increment(n);
    }
}
