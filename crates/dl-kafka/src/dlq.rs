//! Dead-letter topic conventions: the original key and bytes, plus these headers.
//!
//! A dead letter must always fit the dead-letter topic, or producing it fails and the consumer
//! that dead-letters restarts at the same offset forever (issue 15, High 4). [`fit`] keeps the
//! original whole when it fits the budget ([`payload_budget`]); otherwise it keeps a prefix and
//! says so in [`TRUNCATED`], [`ORIGINAL_SIZE`] and [`ORIGINAL_SHA256`]. The source headers point
//! to the original, which stays on its topic for that topic's retention.

use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::BaseRecord;
use sha2::{Digest, Sha256};

/// Stable reason code (e.g. `NOT_AVRO`, `MESSAGE_TOO_LARGE`).
pub const REASON: &str = "dl-dlq-reason";
/// Human-readable reason; never contains message content.
pub const MESSAGE: &str = "dl-dlq-message";
/// Topic the message was read from.
pub const SOURCE_TOPIC: &str = "dl-dlq-source-topic";
/// Partition it was read from (decimal).
pub const SOURCE_PARTITION: &str = "dl-dlq-source-partition";
/// Offset it was read from (decimal).
pub const SOURCE_OFFSET: &str = "dl-dlq-source-offset";
/// Service that dead-lettered it.
pub const SERVICE: &str = "dl-dlq-service";
/// `true` when the dead letter's payload (or key) is a prefix of the original, absent otherwise.
pub const TRUNCATED: &str = "dl-dlq-truncated";
/// Size in bytes of the original payload (decimal); set when truncated.
pub const ORIGINAL_SIZE: &str = "dl-original-size";
/// SHA-256 of the whole original payload (lowercase hex); set when truncated.
pub const ORIGINAL_SHA256: &str = "dl-original-sha256";
/// Size in bytes of the original key (decimal); set when the key was truncated.
pub const ORIGINAL_KEY_SIZE: &str = "dl-original-key-size";

/// librdkafka's default `message.max.bytes` (what a producer accepts when not configured).
pub const PRODUCER_DEFAULT_MAX_MESSAGE_BYTES: usize = 1_000_000;
/// Room kept below the smaller limit for the key, the headers and the record's own overhead.
pub const HEADROOM_BYTES: usize = 8 * 1024;
/// Longest key kept in a dead letter; longer keys are truncated.
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest reason message kept in [`MESSAGE`]; longer ones are cut at a character boundary.
pub const MAX_REASON_MESSAGE_BYTES: usize = 1024;

/// The largest payload a dead letter may carry: the smaller of the producer's
/// `message.max.bytes` and the dead-letter topic's `max.message.bytes`, less [`HEADROOM_BYTES`].
pub fn payload_budget(producer_max_message_bytes: usize, topic_max_message_bytes: usize) -> usize {
    producer_max_message_bytes
        .min(topic_max_message_bytes)
        .saturating_sub(HEADROOM_BYTES)
}

/// The producer's `message.max.bytes` in `config` (set through `KAFKA_MESSAGE_MAX_BYTES`), or
/// librdkafka's default.
pub fn producer_max_message_bytes(config: &rdkafka::ClientConfig) -> usize {
    config
        .get("message.max.bytes")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(PRODUCER_DEFAULT_MAX_MESSAGE_BYTES)
}

/// What of the original a truncated dead letter records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// Size of the original payload in bytes.
    pub original_size: usize,
    /// SHA-256 of the original payload, lowercase hex.
    pub original_sha256: String,
    /// Size of the original key in bytes, when the key was truncated.
    pub original_key_size: Option<usize>,
}

/// A dead letter's key and payload, cut to fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letter<'a> {
    /// The original key, or its first [`MAX_KEY_BYTES`].
    pub key: Option<&'a [u8]>,
    /// The original payload, or its first `budget` bytes.
    pub payload: &'a [u8],
    /// Set when anything was cut.
    pub truncation: Option<Truncation>,
}

impl Letter<'_> {
    /// The truncation headers (name, value) to add to the dead letter; empty when nothing was cut.
    pub fn truncation_headers(&self) -> Vec<(&'static str, String)> {
        let Some(t) = &self.truncation else {
            return Vec::new();
        };
        let mut headers = vec![
            (TRUNCATED, "true".to_string()),
            (ORIGINAL_SIZE, t.original_size.to_string()),
            (ORIGINAL_SHA256, t.original_sha256.clone()),
        ];
        if let Some(size) = t.original_key_size {
            headers.push((ORIGINAL_KEY_SIZE, size.to_string()));
        }
        headers
    }
}

/// Cuts `key` and `payload` so that the dead letter fits a payload `budget`
/// (see [`payload_budget`]).
pub fn fit<'a>(key: Option<&'a [u8]>, payload: &'a [u8], budget: usize) -> Letter<'a> {
    let key_cut = key.filter(|k| k.len() > MAX_KEY_BYTES);
    if payload.len() <= budget && key_cut.is_none() {
        return Letter {
            key,
            payload,
            truncation: None,
        };
    }
    Letter {
        key: key.map(|k| &k[..k.len().min(MAX_KEY_BYTES)]),
        payload: &payload[..payload.len().min(budget)],
        truncation: Some(Truncation {
            original_size: payload.len(),
            original_sha256: hex::encode(Sha256::digest(payload)),
            original_key_size: key_cut.map(<[u8]>::len),
        }),
    }
}

/// `message` cut to at most [`MAX_REASON_MESSAGE_BYTES`] at a character boundary.
pub fn reason_message(message: &str) -> &str {
    if message.len() <= MAX_REASON_MESSAGE_BYTES {
        return message;
    }
    let mut end = MAX_REASON_MESSAGE_BYTES;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fitting_dead_letter_is_kept_whole() {
        let letter = fit(Some(b"k"), b"payload", 7);
        assert_eq!(letter.payload, b"payload");
        assert_eq!(letter.key, Some(b"k".as_slice()));
        assert!(letter.truncation.is_none());
        assert!(letter.truncation_headers().is_empty());
    }

    #[test]
    fn an_oversized_dead_letter_keeps_a_prefix_and_the_digest_of_the_whole() {
        let payload = vec![7u8; 100];
        let key = vec![1u8; MAX_KEY_BYTES + 1];
        let letter = fit(Some(&key), &payload, 10);
        assert_eq!(letter.payload, &payload[..10]);
        assert_eq!(letter.key.map(<[u8]>::len), Some(MAX_KEY_BYTES));
        let headers = letter.truncation_headers();
        assert!(headers.contains(&(TRUNCATED, "true".into())));
        assert!(headers.contains(&(ORIGINAL_SIZE, "100".into())));
        assert!(headers.contains(&(ORIGINAL_KEY_SIZE, (MAX_KEY_BYTES + 1).to_string())));
        assert!(headers.contains(&(ORIGINAL_SHA256, hex::encode(Sha256::digest(&payload)))));
    }

    #[test]
    fn the_budget_is_under_the_smaller_limit() {
        assert_eq!(
            payload_budget(1_000_000, 1_048_576),
            1_000_000 - HEADROOM_BYTES
        );
        assert_eq!(
            payload_budget(10_000_000, 1_048_576),
            1_048_576 - HEADROOM_BYTES
        );
        assert_eq!(payload_budget(100, 100), 0);
        let mut config = rdkafka::ClientConfig::new();
        assert_eq!(
            producer_max_message_bytes(&config),
            PRODUCER_DEFAULT_MAX_MESSAGE_BYTES
        );
        config.set("message.max.bytes", "2000000");
        assert_eq!(producer_max_message_bytes(&config), 2_000_000);
    }

    #[test]
    fn reason_messages_are_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_REASON_MESSAGE_BYTES);
        let cut = reason_message(&long);
        assert!(cut.len() <= MAX_REASON_MESSAGE_BYTES);
        assert!(long.starts_with(cut));
        assert_eq!(reason_message("short"), "short");
    }
}

/// Why a message is dead-lettered, and by whom.
#[derive(Debug, Clone, Copy)]
pub struct Reason<'a> {
    /// Stable reason code ([`REASON`]).
    pub code: &'a str,
    /// Human-readable reason ([`MESSAGE`]; cut to [`MAX_REASON_MESSAGE_BYTES`]).
    pub message: &'a str,
    /// The service dead-lettering ([`SERVICE`]).
    pub service: &'a str,
}

fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}

/// The dead letter of `source` for `topic`: its key and bytes cut to fit `budget` ([`fit`]),
/// the reason and source headers, and the truncation headers when anything was cut.
pub fn record<'a, M: Message>(
    topic: &'a str,
    source: &'a M,
    reason: Reason<'_>,
    budget: usize,
) -> BaseRecord<'a, [u8], [u8]> {
    let letter = fit(source.key(), source.payload().unwrap_or_default(), budget);
    let mut headers = OwnedHeaders::new()
        .insert(header(REASON, reason.code))
        .insert(header(MESSAGE, reason_message(reason.message)))
        .insert(header(SOURCE_TOPIC, source.topic()))
        .insert(header(SOURCE_PARTITION, &source.partition().to_string()))
        .insert(header(SOURCE_OFFSET, &source.offset().to_string()))
        .insert(header(SERVICE, reason.service));
    for (name, value) in letter.truncation_headers() {
        headers = headers.insert(header(name, &value));
    }
    let record = BaseRecord::to(topic)
        .payload(letter.payload)
        .headers(headers);
    match letter.key {
        Some(key) => record.key(key),
        None => record,
    }
}
