//! Dead-letter topic conventions: the original key and bytes, plus these headers.

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
