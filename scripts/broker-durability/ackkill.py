"""Acknowledged-write durability (ADR 0002): produce N records with acks=all, wait for every
acknowledgement, then kill -9 the broker (its pid file) at once; after a restart, count.

  python ackkill.py HOST:PORT TOPIC N PIDFILE write
  python ackkill.py HOST:PORT TOPIC 0 - read
"""
import sys, os, signal, time
from confluent_kafka import Producer, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
bs, topic, n, pidfile, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
if mode == "write":
    a = AdminClient({"bootstrap.servers": bs})
    if topic not in a.list_topics(timeout=10).topics:
        for f in a.create_topics([NewTopic(topic, 1, 1)]).values(): f.result()
    p = Producer({"bootstrap.servers": bs, "acks": "all", "enable.idempotence": True})
    acked = []
    for i in range(n): p.produce(topic, value=b"%d" % i, on_delivery=lambda e, m: acked.append(e is None))
    p.flush(30)
    os.kill(int(open(pidfile).read()), signal.SIGKILL)
    print("acked", sum(acked), "then kill -9 at once")
else:
    c = Consumer({"bootstrap.servers": bs, "group.id": f"r{time.time()}", "enable.partition.eof": True})
    c.assign([TopicPartition(topic, 0, 0)]); k = 0
    while True:
        m = c.poll(10)
        if m is None or m.error(): break
        k += 1
    print("records readable after restart:", k)
