//! Where a stream reads from: pure functions over offsets, unit-tested without a broker.
//!
//! A Kafka-sink stream starts from its group's committed offsets (Kafka holds the truth). A
//! PostgreSQL-sink stream starts exactly where PostgreSQL says: the next offsets stored with
//! the rows ([`start_offset`]); Kafka's committed offsets are written only for lag monitoring and
//! may be behind or, for a new or restored database, ahead. Whatever is delivered below the
//! stored offset is a redelivery ([`is_replayed`]) and is never written again.

use std::collections::{BTreeMap, HashMap};

use rdkafka::message::Message;
use rdkafka::Offset;

/// Next offset to read per `(topic, partition)`.
pub type Positions = HashMap<(String, i32), i64>;

/// The offset a partition is read from when assigned: the stored next offset, or the beginning
/// of the partition when nothing is stored for it.
pub fn start_offset(positions: &Positions, topic: &str, partition: i32) -> Offset {
    match positions.get(&(topic.to_string(), partition)) {
        Some(next) => Offset::Offset(*next),
        None => Offset::Beginning,
    }
}

/// Whether the message at `offset` was already written: it is below the stored next offset.
pub fn is_replayed(stored: &Positions, topic: &str, partition: i32, offset: i64) -> bool {
    stored
        .get(&(topic.to_string(), partition))
        .is_some_and(|next| offset < *next)
}

/// The next offset to read per `(topic, partition)` after `batch`: one past the last message of
/// each partition (transaction markers take offsets too, so only the last one matters).
pub fn next_offsets<M: Message>(batch: &[M]) -> BTreeMap<(String, i32), i64> {
    let mut next = BTreeMap::new();
    for m in batch {
        let slot = next
            .entry((m.topic().to_string(), m.partition()))
            .or_insert(0);
        *slot = (*slot).max(m.offset() + 1);
    }
    next
}

/// Moves `positions` forward to `next` (never backwards: a stale value from another consumer
/// of the group must not undo progress).
pub fn advance(positions: &mut Positions, next: &BTreeMap<(String, i32), i64>) {
    for (key, offset) in next {
        let slot = positions.entry(key.clone()).or_insert(*offset);
        *slot = (*slot).max(*offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::{OwnedMessage, Timestamp};

    fn msg(topic: &str, partition: i32, offset: i64) -> OwnedMessage {
        OwnedMessage::new(
            None,
            None,
            topic.into(),
            Timestamp::NotAvailable,
            partition,
            offset,
            None,
        )
    }

    fn positions(entries: &[(&str, i32, i64)]) -> Positions {
        entries
            .iter()
            .map(|(t, p, o)| ((t.to_string(), *p), *o))
            .collect()
    }

    #[test]
    fn an_assigned_partition_starts_at_the_stored_offset_or_the_beginning() {
        let stored = positions(&[("ledger", 0, 42), ("ledger", 2, 0)]);
        assert_eq!(start_offset(&stored, "ledger", 0), Offset::Offset(42));
        assert_eq!(start_offset(&stored, "ledger", 2), Offset::Offset(0));
        // Nothing stored (a new database, a new partition): from the beginning, never from
        // Kafka's committed offset, which may be ahead of a restored database.
        assert_eq!(start_offset(&stored, "ledger", 1), Offset::Beginning);
        assert_eq!(start_offset(&stored, "other", 0), Offset::Beginning);
    }

    #[test]
    fn messages_below_the_stored_offset_are_redeliveries() {
        let stored = positions(&[("ledger", 0, 10)]);
        assert!(is_replayed(&stored, "ledger", 0, 0));
        assert!(is_replayed(&stored, "ledger", 0, 9));
        assert!(!is_replayed(&stored, "ledger", 0, 10));
        // Offsets are not contiguous (transaction markers): a gap after the stored offset is
        // not a redelivery and not an error.
        assert!(!is_replayed(&stored, "ledger", 0, 12));
        assert!(!is_replayed(&stored, "ledger", 1, 0));
    }

    #[test]
    fn next_offsets_are_one_past_the_last_message_of_each_partition() {
        let batch = [
            msg("ledger", 0, 3),
            msg("ledger", 1, 7),
            msg("ledger", 0, 5),
            msg("views", 0, 1),
        ];
        let next = next_offsets(&batch);
        assert_eq!(next.len(), 3);
        assert_eq!(next[&("ledger".into(), 0)], 6);
        assert_eq!(next[&("ledger".into(), 1)], 8);
        assert_eq!(next[&("views".into(), 0)], 2);
        assert!(next_offsets::<OwnedMessage>(&[]).is_empty());
    }

    #[test]
    fn positions_only_move_forward() {
        let mut at = positions(&[("ledger", 0, 10), ("ledger", 1, 5)]);
        let next = BTreeMap::from([
            (("ledger".to_string(), 0), 8),
            (("ledger".to_string(), 1), 9),
            (("ledger".to_string(), 2), 1),
        ]);
        advance(&mut at, &next);
        assert_eq!(
            at,
            positions(&[("ledger", 0, 10), ("ledger", 1, 9), ("ledger", 2, 1)])
        );
    }
}
