#!/usr/bin/env python3
"""Recomputes the Decision Layer ledger hash chain, independently of the Rust code.

Implements schemas/ledger-hash.md with the Python standard library only. Input: ledger records
as JSON, one per line, as stored in the `record` column of `ledger_records`, e.g.

    psql "$DATABASE_URL" -tAc \
      "SELECT record FROM ledger_records ORDER BY chain_id, sequence" | python3 ledger_hash.py

Records of several chains may be interleaved; within a chain they must come in sequence order.
Each chain must start at sequence 0 (prev_hash = 64 zeros) unless `--partial` is given, in which
case the first record seen of each chain is accepted at its position (its hash is still checked).

Output: `N records OK` and exit code 0, or the first failure
(`line L: <chain_id>#<sequence>: <what>`) and exit code 1. Unreadable input: exit code 2.
"""

import hashlib
import json
import sys

DOMAIN = b"dl.ledger.v1\n"
GENESIS = "0" * 64
BODY_OF_KIND = {
    "DECISION_RECORDED": "decision",
    "REQUEST_REJECTED": "rejection",
    "SIGNING_KEY_CERTIFIED": "key_certified",
    "CHECKPOINT": "checkpoint",
}
ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


class Failure(Exception):
    """A record that does not verify."""


def canonical_string(s):
    out = ['"']
    for ch in s:
        if ch in ESCAPES:
            out.append(ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def utf16_key(key):
    # Big-endian UTF-16 bytes compare like the sequence of UTF-16 code units.
    return key.encode("utf-16-be", "surrogatepass")


def canonical(value):
    """Canonical JSON text of `value` (schemas/ledger-hash.md, section "Canonical JSON")."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return canonical_string(value)
    if isinstance(value, list):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=utf16_key)
        return "{" + ",".join(canonical_string(k) + ":" + canonical(value[k]) for k in keys) + "}"
    raise Failure("value of type %s has no canonical form" % type(value).__name__)


def record_hash(record):
    content = {k: v for k, v in record.items() if k != "hash"}
    # A null tenant is left out of the decision or rejection body (records written before
    # tenants keep their hashes; schemas/ledger-hash.md, section 2).
    for body in ("decision", "rejection"):
        if isinstance(content.get(body), dict) and content[body].get("tenant", 0) is None:
            content[body] = {k: v for k, v in content[body].items() if k != "tenant"}
    try:
        text = canonical(content).encode("utf-8")
    except UnicodeEncodeError:
        raise Failure("a string is not valid Unicode (lone surrogate)")
    return hashlib.sha256(DOMAIN + text).hexdigest()


def reject_float(text):
    raise ValueError("non-integer number %s (ledger records hold integers only)" % text)


def reject_constant(text):
    raise ValueError("%s is not JSON" % text)


def unique_keys(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise ValueError("duplicate key %r" % k)
        obj[k] = v
    return obj


def parse(line):
    return json.loads(
        line,
        parse_float=reject_float,
        parse_constant=reject_constant,
        object_pairs_hook=unique_keys,
    )


def check(record, heads, partial):
    """Checks one record against the chain heads seen so far, then advances its chain."""
    for field, kind in (("chain_id", str), ("sequence", int), ("prev_hash", str), ("hash", str), ("kind", str)):
        if not isinstance(record.get(field), kind) or isinstance(record.get(field), bool):
            raise Failure("field %s is missing or not a %s" % (field, kind.__name__))
    recomputed = record_hash(record)
    if recomputed != record["hash"]:
        raise Failure("hash mismatch: recorded %s, recomputed %s" % (record["hash"], recomputed))
    body = BODY_OF_KIND.get(record["kind"])
    if body is None:
        raise Failure("unknown kind %s" % record["kind"])
    for field in BODY_OF_KIND.values():
        if (record.get(field) is not None) != (field == body):
            raise Failure("body does not match kind %s" % record["kind"])
    chain = record["chain_id"]
    head = heads.get(chain)
    if head is None and not partial:
        head = (0, GENESIS)
    if head is not None:
        expected_sequence, expected_prev = head
        if record["sequence"] != expected_sequence:
            raise Failure("expected sequence %d, found %d" % (expected_sequence, record["sequence"]))
        if record["prev_hash"] != expected_prev:
            raise Failure("prev_hash %s does not link to %s" % (record["prev_hash"], expected_prev))
    heads[chain] = (record["sequence"] + 1, record["hash"])


def main(argv):
    partial = False
    for arg in argv[1:]:
        if arg == "--partial":
            partial = True
        else:
            print("usage: ledger_hash.py [--partial] < records.jsonl", file=sys.stderr)
            return 2
    stdin = open(sys.stdin.fileno(), "r", encoding="utf-8", closefd=False)
    heads = {}
    count = 0
    for number, line in enumerate(stdin, start=1):
        if not line.strip():
            continue
        try:
            record = parse(line)
        except ValueError as e:
            print("line %d: not a JSON ledger record: %s" % (number, e))
            return 2
        if not isinstance(record, dict):
            print("line %d: not a JSON object" % number)
            return 2
        try:
            check(record, heads, partial)
        except Failure as e:
            print("line %d: %s#%s: %s" % (number, record.get("chain_id"), record.get("sequence"), e))
            return 1
        count += 1
    print("%d records OK" % count)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
