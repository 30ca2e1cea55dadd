"""Durability probe of a Kafka-protocol broker (ADR 0002, 2026-12-05 section).

  python probe.py HOST:PORT create TAG          create probe-plain and probe-tx (2 partitions each)
  python probe.py HOST:PORT write TAG [N]       N idempotent records; a transaction that commits N
                                                records plus the group's offsets
                                                (send_offsets_to_transaction, as the worker does);
                                                a transaction of N records that aborts; then a report
  python probe.py HOST:PORT check TAG           the report only: ListOffsets(latest) per partition,
                                                committed offsets, records readable read_committed
                                                and read_uncommitted

Run `write` before a kill -9 of the broker and `check` after its restart. Python: .stack/venv.
"""
import sys, time, json
from confluent_kafka import Producer, Consumer, TopicPartition, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

bs, phase, tag = sys.argv[1], sys.argv[2], sys.argv[3]
T_PLAIN, T_TX, GROUP = "probe-plain", "probe-tx", "probe-group"

def wm(topic, parts=2):
    c = Consumer({"bootstrap.servers": bs, "group.id": "wm-" + tag, "isolation.level": "read_committed"})
    out = [c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False) for p in range(parts)]
    c.close(); return out

def read_all(topic, iso):
    c = Consumer({"bootstrap.servers": bs, "group.id": f"read-{tag}-{time.time()}", "auto.offset.reset": "earliest",
                  "isolation.level": iso, "enable.auto.commit": False, "enable.partition.eof": True})
    c.subscribe([topic]); vals, eof, t0 = [], set(), time.time()
    while len(eof) < 2 and time.time() - t0 < 30:
        m = c.poll(1.0)
        if m is None: continue
        if m.error():
            if m.error().code() == -191: eof.add(m.partition())  # _PARTITION_EOF
            continue
        vals.append(m.value().decode())
    c.close(); return sorted(vals)

def committed():
    c = Consumer({"bootstrap.servers": bs, "group.id": GROUP})
    r = c.committed([TopicPartition(T_PLAIN, p) for p in range(2)], timeout=10)
    c.close(); return [(t.partition, t.offset) for t in r]

def produce(prefix, n):
    p = Producer({"bootstrap.servers": bs, "enable.idempotence": True, "acks": "all"})
    for i in range(n): p.produce(T_PLAIN, key=str(i).encode(), value=f"{prefix}-{i}".encode(), partition=i % 2)
    p.flush(30)
    # transactional: commit one, abort one, with send_offsets_to_transaction like the worker
    tp = Producer({"bootstrap.servers": bs, "transactional.id": "probe-tx-" + prefix})
    tp.init_transactions(30)
    tp.begin_transaction()
    for i in range(n): tp.produce(T_TX, value=f"{prefix}-committed-{i}".encode(), partition=i % 2)
    c = Consumer({"bootstrap.servers": bs, "group.id": GROUP, "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "isolation.level": "read_committed"})
    c.assign([TopicPartition(T_PLAIN, 0), TopicPartition(T_PLAIN, 1)])
    got = 0; t0 = time.time()
    while time.time() - t0 < 20:
        m = c.poll(1.0)
        if m is not None and not m.error(): got += 1
        if m is None and got: break
    pos = c.position([TopicPartition(T_PLAIN, 0), TopicPartition(T_PLAIN, 1)])
    tp.send_offsets_to_transaction(pos, c.consumer_group_metadata(), 30)
    tp.commit_transaction(30)
    tp.begin_transaction()
    for i in range(n): tp.produce(T_TX, value=f"{prefix}-aborted-{i}".encode(), partition=i % 2)
    tp.flush(30); tp.abort_transaction(30)
    c.close()
    return got

def report(label):
    r = {"label": label, "plain_wm": wm(T_PLAIN), "tx_wm": wm(T_TX), "committed": committed(),
         "plain_read": len(read_all(T_PLAIN, "read_committed")),
         "tx_read_committed": read_all(T_TX, "read_committed"),
         "tx_read_uncommitted_n": len(read_all(T_TX, "read_uncommitted"))}
    r["tx_rc_n"] = len(r["tx_read_committed"]); r["tx_read_committed"] = sorted({v.rsplit("-", 1)[0] for v in r["tx_read_committed"]})
    print(json.dumps(r), flush=True)

if phase == "create":
    a = AdminClient({"bootstrap.servers": bs})
    for f in a.create_topics([NewTopic(T_PLAIN, 2, 1), NewTopic(T_TX, 2, 1)]).values(): f.result()
    print("created")
elif phase == "write":
    print("consumed", produce(tag, int(sys.argv[4]) if len(sys.argv) > 4 else 10)); report("after-write-" + tag)
elif phase == "check":
    report("check-" + tag)
