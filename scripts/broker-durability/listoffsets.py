"""ListOffsets(latest) against the records produced (ADR 0002): four single-record batches 1.2 s
apart, then one batch of three; prints what the broker answers after each.

  python listoffsets.py HOST:PORT NEW_TOPIC
"""
import sys, time
from confluent_kafka import Producer, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
bs, topic = sys.argv[1], sys.argv[2]
a = AdminClient({"bootstrap.servers": bs})
for f in a.create_topics([NewTopic(topic, 1, 1)]).values(): f.result()
def lo():
    c = Consumer({"bootstrap.servers": bs, "group.id": "wm", "isolation.level": "read_uncommitted"})
    r = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False); c.close(); return r[1]
p = Producer({"bootstrap.servers": bs, "acks": "all", "linger.ms": 0})
n = 0
for i in range(4):
    p.produce(topic, value=b"x"); p.flush(10); n += 1
    print(f"single record, total {n}: ListOffsets latest = {lo()}"); time.sleep(1.2)
for i in range(3): p.produce(topic, value=b"b")
p.flush(10); n += 3; time.sleep(1.2)
print(f"batch of 3, total {n}: ListOffsets latest = {lo()}")
