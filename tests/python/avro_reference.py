#!/usr/bin/env python3
"""fastavro as the reference decoder of Avro single-object messages (tests/tests/avro_differential.rs).

Reads one JSON document from stdin:

    {"schemas": {"<name>": <schema as JSON>, ...},
     "inputs":  [["<name>", "<message as lowercase hex>"], ...]}

and writes one JSON document to stdout: {"fastavro": "<version>", "results": [[ok, why], ...]},
one entry per input, in order: ok is true when fastavro decodes the message, why is the class of
the exception otherwise.

A message is accepted when it starts with `C3 01` and the schema's CRC-64-AVRO fingerprint
(little-endian, as fastavro computes it), fastavro's `schemaless_reader` reads the rest with the
schema, and the datum ends exactly at the end of the message: `schemaless_reader` itself ignores
what follows the datum, while a message is exactly one datum (Avro specification, "Single-object
encoding"), so bytes left over are a refusal here.
"""

import io
import json
import sys

import fastavro
from fastavro import parse_schema, schemaless_reader
from fastavro.schema import fingerprint, to_parsing_canonical_form


def main() -> None:
    request = json.load(sys.stdin)
    schemas = {}
    for name, schema in request["schemas"].items():
        header = b"\xc3\x01" + bytes.fromhex(
            fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO")
        )
        schemas[name] = (header, parse_schema(schema))
    results = []
    for name, hexed in request["inputs"]:
        header, schema = schemas[name]
        data = bytes.fromhex(hexed)
        if data[: len(header)] != header:
            results.append([False, "header"])
            continue
        body = io.BytesIO(data[len(header):])
        try:
            schemaless_reader(body, schema)
        except Exception as e:  # every failure is a refusal; its class is the reason
            results.append([False, type(e).__name__])
            continue
        rest = len(data) - len(header) - body.tell()
        results.append([True, None] if rest == 0 else [False, "trailing bytes"])
    json.dump({"fastavro": fastavro.__version__, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
