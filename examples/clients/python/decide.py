#!/usr/bin/env python3
"""Ask Decision Layer for one decision over Kafka, and read what it recorded.

Uses only confluent-kafka and fastavro (pip install confluent-kafka fastavro; for the Confluent
wire format also confluent-kafka[avro,schemaregistry]) and the project's schemas/*.avsc.

    decide.py --brokers HOST:PORT --function loan_approval --input '{"amount": 3000, ...}'
              [--token JWT | env DL_TOKEN]           bearer token of the caller
              [--format single-object|confluent]     how the request is framed
              [--registry-url URL]                   Schema Registry (confluent format)
              [--writer-schema FILE]                 a newer compatible DecisionRequest schema
              [--ledger-topic T] [--views-topic T]   also print the ledger record / explain view

Prints one JSON object: {"result": {...}, "ledger": {...}, "view": {...}}.
"""
import argparse
import io
import json
import os
import sys
import time
import uuid

import fastavro
from confluent_kafka import Consumer, Producer, TopicPartition
from fastavro.schema import fingerprint, to_parsing_canonical_form

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMAS = os.path.join(HERE, "..", "..", "..", "schemas")


def load(name, path=None):
    """A parsed schema and its single-object header (C3 01 + CRC-64-AVRO fingerprint, little-endian)."""
    with open(path or os.path.join(SCHEMAS, name + ".avsc")) as f:
        text = f.read()
    schema = fastavro.parse_schema(json.loads(text))
    header = b"\xc3\x01" + bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))
    return text, schema, header


def decode_single_object(data, schema, header):
    if not data.startswith(header):
        raise ValueError(f"not single-object {schema['name']}: header {data[:10].hex()}")
    return fastavro.schemaless_reader(io.BytesIO(data[10:]), schema)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--requests-topic", default="decision.requests")
    ap.add_argument("--results-topic", default="decision.results")
    ap.add_argument("--ledger-topic")
    ap.add_argument("--views-topic")
    ap.add_argument("--function", required=True)
    ap.add_argument("--input", required=True, help="the input document, JSON")
    ap.add_argument("--request-id", default=None)
    ap.add_argument("--token", default=os.environ.get("DL_TOKEN"))
    ap.add_argument("--format", choices=["single-object", "confluent"], default="single-object")
    ap.add_argument("--registry-url")
    ap.add_argument("--writer-schema", help="DecisionRequest schema file to write with")
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()

    request_text, request_schema, request_header = load("DecisionRequest", args.writer_schema)
    _, result_schema, result_header = load("DecisionResult")
    request_id = args.request_id or f"py-{uuid.uuid4()}"
    request = {
        "request_id": request_id,
        "function_id": args.function,
        "function_version": None,
        "as_of": None,
        "issued_at": int(time.time() * 1000),  # timestamp-millis, caller clock
        "input": args.input,
        "reply_to": None,
    }
    # A newer writer schema may add optional fields; fastavro fills their defaults.

    result_deserializer = None
    if args.registry_url:
        from confluent_kafka.schema_registry import SchemaRegistryClient
        from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
        from confluent_kafka.serialization import MessageField, SerializationContext

        registry = SchemaRegistryClient({"url": args.registry_url})
        result_deserializer = AvroDeserializer(registry)  # for Confluent-framed results
    if args.format == "confluent":
        # The platform registers its schemas (dlctl topology apply); producers only look them up.
        serializer = AvroSerializer(registry, request_text, conf={"auto.register.schemas": False})
        payload = serializer(request, SerializationContext(args.requests_topic, MessageField.VALUE))
    else:
        out = io.BytesIO()
        fastavro.schemaless_writer(out, request_schema, request)
        payload = request_header + out.getvalue()

    # Start reading results at the current end of each partition, before producing.
    consumer = Consumer({"bootstrap.servers": args.brokers, "group.id": f"client-{uuid.uuid4()}",
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
    partitions = consumer.list_topics(args.results_topic, timeout=10).topics[args.results_topic].partitions
    starts = []
    for p in partitions:
        _, high = consumer.get_watermark_offsets(TopicPartition(args.results_topic, p), timeout=10)
        starts.append(TopicPartition(args.results_topic, p, high))
    consumer.assign(starts)

    headers = [("authorization", f"Bearer {args.token}".encode())] if args.token else []
    producer = Producer({"bootstrap.servers": args.brokers, "enable.idempotence": True})
    producer.produce(args.requests_topic, key=request_id.encode(), value=payload, headers=headers)
    if producer.flush(30) != 0:
        sys.exit("the request was not acknowledged by the broker")

    result = None
    deadline = time.time() + args.timeout
    while result is None and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or msg.error() or msg.key() != request_id.encode():
            continue
        value = msg.value()
        if value[:1] == b"\x00":  # Confluent-framed results (DL_RESULTS_WIRE_FORMAT=confluent)
            if result_deserializer is None:
                sys.exit("the result is in the Confluent wire format: pass --registry-url")
            from confluent_kafka.serialization import MessageField, SerializationContext
            result = result_deserializer(value, SerializationContext(args.results_topic, MessageField.VALUE))
        else:
            result = decode_single_object(value, result_schema, result_header)
    consumer.close()
    if result is None:
        sys.exit(f"no result for {request_id} within {args.timeout} s")
    report = {"result": result}

    if args.ledger_topic and result.get("ledger"):
        report["ledger"] = find(args, args.ledger_topic, "LedgerRecord", result["ledger"]["partition"],
                                lambda r: r["sequence"] == result["ledger"]["sequence"])
    if args.views_topic:
        report["view"] = find(args, args.views_topic, "ExplainView", None,
                              lambda v: v["decision_id"] == result["decision_id"])
    print(json.dumps(report, default=str))


def find(args, topic, schema_name, partition, match):
    """Reads `topic` (one partition or all) from the beginning until a record matches."""
    _, schema, header = load(schema_name)
    consumer = Consumer({"bootstrap.servers": args.brokers, "group.id": f"client-{uuid.uuid4()}",
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in parts if partition in (None, p)])
    deadline = time.time() + args.timeout
    try:
        while time.time() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            record = decode_single_object(msg.value(), schema, header)
            if match(record):
                return record
    finally:
        consumer.close()
    sys.exit(f"no matching {schema_name} on {topic} within {args.timeout} s")


if __name__ == "__main__":
    main()
