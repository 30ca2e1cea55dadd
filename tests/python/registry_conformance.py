"""Proves the test Schema Registry (scripts/schema-registry/registry.py) against Confluent's own
Python client: SchemaRegistryClient, AvroSerializer and AvroDeserializer must register, serialize
and read through it unchanged. Usage: registry_conformance.py URL USER:PASSWORD SCHEMA.avsc"""
import sys

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

url, user_info, avsc_path = sys.argv[1:4]
schema_text = open(avsc_path).read()
client = SchemaRegistryClient({"url": url, "basic.auth.user.info": user_info})
ctx = SerializationContext("conformance.topic", MessageField.VALUE)

serializer = AvroSerializer(client, schema_text)  # auto.register.schemas defaults to true
record = {"request_id": "c-1", "function_id": "loan_approval", "function_version": None,
          "as_of": None, "issued_at": 1700000000000, "input": "{}", "reply_to": None}
payload = serializer(record, ctx)
assert payload[0] == 0, "Confluent framing starts with magic byte 0"
schema_id = int.from_bytes(payload[1:5], "big")

latest = client.get_latest_version("conformance.topic-value")
assert latest.schema_id == schema_id and latest.version == 1, latest
assert client.lookup_schema("conformance.topic-value", Schema(schema_text, "AVRO")).schema_id == schema_id
assert "conformance.topic-value" in client.get_subjects(), client.get_subjects()
# Registering the same schema again under another subject keeps its global id.
assert client.register_schema("other-value", Schema(schema_text, "AVRO")) == schema_id

fresh = SchemaRegistryClient({"url": url, "basic.auth.user.info": user_info})  # no cache
decoded = AvroDeserializer(fresh)(payload, ctx)
assert decoded["request_id"] == "c-1" and decoded["issued_at"].timestamp() == 1700000000, decoded

try:
    fresh.get_schema(987654)
    raise AssertionError("an unknown id must be an error")
except SchemaRegistryError as e:
    assert e.http_status_code == 404 and e.error_code == 40403, (e.http_status_code, e.error_code)

try:
    SchemaRegistryClient({"url": url, "basic.auth.user.info": "nobody:wrong"}).get_subjects()
    raise AssertionError("wrong credentials must be refused")
except SchemaRegistryError as e:
    assert e.http_status_code == 401, e.http_status_code
print(f"ok schema_id={schema_id}")
