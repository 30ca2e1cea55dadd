//! The decision id of a request message, derived from where the message sits in Kafka.

use sha2::{Digest, Sha256};

/// Deterministic decision id of the request message at `topic`/`partition`/`offset`: the same
/// message decided twice (after a crash) gets the same id, so the projection can never hold it
/// twice; and only the producer of that message learns its position (from its delivery report),
/// so the id names one submission, whoever chose the request id (the gateway matches results to
/// waiting requests by it). A UUID-shaped hex rendering of the first 16 bytes of
/// `SHA-256("dl.decision\0" || topic || "\0" || partition (i32 BE) || offset (i64 BE))`.
pub fn decision_id(topic: &str, partition: i32, offset: i64) -> String {
    let mut h = Sha256::new();
    h.update(b"dl.decision\0");
    h.update(topic.as_bytes());
    h.update(b"\0");
    h.update(partition.to_be_bytes());
    h.update(offset.to_be_bytes());
    let x = hex::encode(&h.finalize()[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_ids_are_deterministic_per_position() {
        // Computed independently (Python hashlib) from the formula above.
        assert_eq!(
            decision_id("decision.requests", 3, 42),
            "fe89a5ac-c0a5-336c-c07a-39fb3aa3fb7b"
        );
        assert_ne!(decision_id("t", 1, 2), decision_id("t", 1, 3));
        assert_ne!(decision_id("t", 1, 2), decision_id("t", 2, 2));
        assert_ne!(decision_id("t", 1, 2), decision_id("u", 1, 2));
    }
}
