#!/usr/bin/env python3
"""Writes the committed seed corpora of the fuzz targets (fuzz/corpus/<target>/).

The Avro seeds are written by fastavro, not by the code under test, so the seeds do not share
its bugs: each value twice, as a whole single-object message (`<name>.avro`) and as the bare
datum (`<name>.datum`, which the targets also decode behind a valid header). Run with the
stack's Python (`scripts/stack.sh install`): .stack/venv/bin/python fuzz/make_seeds.py
"""

import base64
import io
import json
import os

from fastavro import parse_schema, schemaless_writer
from fastavro.schema import fingerprint, to_parsing_canonical_form

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def avro(target, schema_name, values):
    schema = json.load(open(os.path.join(ROOT, "schemas", schema_name + ".avsc")))
    header = b"\xc3\x01" + bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))
    parsed = parse_schema(schema)
    for name, value in values.items():
        out = io.BytesIO()
        schemaless_writer(out, parsed, value)
        write(target, name + ".avro", header + out.getvalue())
        write(target, name + ".datum", out.getvalue())


def requests():
    full = {"request_id": "r-1", "function_id": "loan_approval", "function_version": "1.0.0",
            "as_of": 19700, "issued_at": 1700000000000,
            "input": '{"amount":3000,"customer_score":720}', "reply_to": "decision.results.x"}
    bare = dict(full, function_version=None, as_of=None, reply_to=None)
    return {"full": full, "bare": bare}


def ledger():
    source = {"topic": "decision.requests", "partition": 2, "offset": 9}
    base = {"chain_id": "decision.ledger:0", "sequence": 7, "prev_hash": "0" * 64, "hash": "a" * 64,
            "recorded_at": 1700000000123, "decision": None, "rejection": None,
            "key_certified": None, "checkpoint": None}
    decided = dict(base, kind="DECISION_RECORDED", decision={
        "decision_id": "d-1", "request_id": "r-1", "source": source, "caller": "bank-a",
        "function_id": "loan_approval", "function_version": "1.0.0", "function_digest": "sha256:00ff",
        "as_of": 19700, "issued_at": 1700000000000, "decided_at": 1700000000100,
        "input": '{"amount":3000}', "output": '{"approved":true}',
        "reasons": [{"code": "OK", "message": "m", "legal_ref": "http://data.finlex.fi/eli/sd/1978/38"}],
        "legal_basis": ["CELEX:32016R0679"],
        "signature": {"algorithm": "Ed25519", "key_id": "w-1", "value": "c2ln"}})
    rejected = dict(base, kind="REQUEST_REJECTED", rejection={
        "decision_id": "d-2", "request_id": "r-2", "source": source, "caller": None,
        "function_id": "f", "function_version": None, "code": "UNKNOWN_FUNCTION",
        "message": "no such function", "decided_at": 3})
    certified = dict(base, kind="SIGNING_KEY_CERTIFIED", key_certified={
        "key_id": "w-2", "algorithm": "Ed25519", "public_key": "cHVi", "worker_id": "worker-1",
        "valid_from": 1, "valid_until": 2, "certifier_key_id": "root", "certificate_signature": "c2ln"})
    checkpoint = dict(base, kind="CHECKPOINT", checkpoint={
        "up_to_sequence": 6, "head_hash": "b" * 64, "merkle_root": "c" * 64,
        "signer_key_id": "w-1", "signature": "c2ln"})
    return {"decided": decided, "rejected": rejected, "certified": certified, "checkpoint": checkpoint}


def registry():
    pkg = os.path.join(ROOT, "examples", "loan_approval")
    files = {}
    for dirpath, _, names in os.walk(pkg):
        for n in names:
            p = os.path.join(dirpath, n)
            files[os.path.relpath(p, pkg).replace(os.sep, "/")] = open(p, "rb").read()
    empty = {"published": None, "approved": None, "activated": None, "retired": None, "legal_status": None}
    env = dict(empty, event_id="e1", function_id="loan_approval", version="1.0.0")
    return {
        "published": dict(env, kind="VERSION_PUBLISHED", published={
            "digest": "sha256:00", "files": files, "author": "ann", "published_at": 7}),
        "approved": dict(env, kind="VERSION_APPROVED", approved={
            "digest": "sha256:00", "role": "REVIEWER", "approver_id": "bob", "key_id": "bob-1",
            "signature": "c2ln", "approved_at": 8}),
        "activated": dict(env, kind="VERSION_ACTIVATED", activated={"digest": "sha256:00", "by": "x", "at": 9}),
        "retired": dict(env, kind="VERSION_RETIRED", retired={"digest": "sha256:00", "by": "x", "at": 10, "reason": "old"}),
        "legal": dict(empty, event_id="e3", kind="LEGAL_REFERENCE_STATUS_CHANGED", function_id=None, version=None,
                      legal_status={"iri": "http://data.finlex.fi/eli/sd/1978/38", "status": "REPEALED",
                                    "previous_status": "IN_FORCE", "title": "t", "latest_consolidated": 19000,
                                    "detail": "d", "checked_at": 9}),
    }


def b64(obj):
    raw = obj if isinstance(obj, bytes) else json.dumps(obj, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def main():
    avro("avro_request", "DecisionRequest", requests())
    avro("avro_ledger_record", "LedgerRecord", ledger())
    avro("avro_registry_event", "RegistryEvent", registry())

    inputs = [
        {"amount": 3000, "customer_score": 720, "customer_tier": "standard", "employment_status": "employed"},
        {"amount": 20000, "customer_score": 720, "customer_tier": "premium", "monthly_income": 8000},
        {"amount": 9000, "customer_score": 610, "customer_tier": "vip", "monthly_income": 5000},
        {"amount": 100, "customer_score": 550},
        {"amount": -1},
    ]
    for i, doc in enumerate(inputs):
        write("eval_json", f"input-{i}.json", json.dumps(doc))

    refs = [
        "http://data.europa.eu/eli/reg/2016/679/oj",
        "https://eur-lex.europa.eu/eli/dir/2015/2366/oj/eng",
        "CELEX:32016R0679",
        "https://eur-lex.europa.eu/legal-content/EN/TXT/?uri=CELEX:32016R0679",
        "http://data.finlex.fi/eli/sd/2014/938/luku/2/pykala/9/ajantasa/fin",
        "http://data.finlex.fi/eli/sd/1999/544/luku/7/pykala/3/alkup/swe",
        "https://finlex.fi/fi/laki/ajantasa/2014/20140938",
        "https://www.finlex.fi/sv/laki/alkup/1999/19990544#L7P3",
    ]
    for i, r in enumerate(refs):
        write("legal_ref", f"ref-{i}.txt", r)

    iss = "https://issuer.fuzz.invalid"
    header = {"alg": "ES256", "kid": "k1", "typ": "JWT"}
    claims = {"iss": iss, "sub": "fuzz-client", "aud": "decision-layer", "exp": 4102444800,
              "iat": 1700000000, "scope": "decide read", "roles": ["caller"], "client_id": "c", "jti": "j"}
    jwt = f"{b64(header)}.{b64(claims)}.{b64(bytes(64))}"
    write("auth_jwt", "0-bearer", b"\x00Bearer " + jwt.encode())
    write("auth_jwt", "1-token", b"\x01" + jwt.encode())
    write("auth_jwt", "2-claims", b"\x02" + json.dumps(claims).encode())
    write("auth_jwt", "2-claims-cnf", b"\x02" + json.dumps(dict(claims, cnf={"x5t#S256": "abc"}, aud=["x", "decision-layer"])).encode())
    write("auth_jwt", "3-jwk-okp", b"\x03" + json.dumps({"kty": "OKP", "crv": "Ed25519", "kid": "k1",
                                                         "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}).encode())
    write("auth_jwt", "3-jwk-ec", b"\x03" + json.dumps({"kty": "EC", "crv": "P-256", "kid": "k2", "use": "sig", "alg": "ES256",
                                                        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                                                        "y": "x_FEzRu9m36HLN_tJTvPDZeHsb3LHqQaCNrTQ6E0Mlk"}).encode())
    jws = f"{b64({'alg': 'EdDSA', 'kid': 'k1'})}..{b64(bytes(64))}"
    write("auth_jwt", "4-detached", b"\x04" + jws.encode() + b"\n" + b'{"request_id":"r-1"}')
    write("auth_jwt", "5-segment", b"\x05" + b64(header).encode())


if __name__ == "__main__":
    main()
