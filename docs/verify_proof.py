"""Check a decision's inclusion proof: python3 verify_proof.py proof.json [--record record.json] [--key certifier.pem]
proof.json: GET /v1/decisions/{id}/proof. record.json: the ledger record (recomputes its hash). See docs/ledger-integrity.md."""
import argparse, base64, hashlib, json, sys
H = lambda b: hashlib.sha256(b).digest()
a = argparse.ArgumentParser(); a.add_argument("proof"); a.add_argument("--record"); a.add_argument("--key")
args = a.parse_args(); p = json.load(open(args.proof)); cp = p["checkpoint"]
def fail(why): sys.exit("NOT VERIFIED: " + why)
if args.record:  # the record's hash, as schemas/ledger-hash.md defines it
    rec = json.load(open(args.record)); rec.pop("hash", None)
    for body in ("decision", "rejection"):
        if rec.get(body) and "tenant" in rec[body] and rec[body]["tenant"] is None: del rec[body]["tenant"]
    text = json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if H(b"dl.ledger.v1\n" + text.encode()).hex() != p["record_hash"]: fail("the record does not hash to record_hash")
f, s, r = p["leaf_index"], p["tree_size"] - 1, H(b"\0" + bytes.fromhex(p["record_hash"]))  # RFC 9162 2.1.3.2
if f > s: fail("leaf index out of range")
for sib in map(bytes.fromhex, p["audit_path"]):
    if s == 0: fail("audit path too long")
    if f % 2 or f == s:
        r = H(b"\1" + sib + r)
        while f and f % 2 == 0: f, s = f >> 1, s >> 1
    else: r = H(b"\1" + r + sib)
    f, s = f >> 1, s >> 1
if s != 0 or r.hex() != cp["merkle_root"]: fail("the path does not lead to the checkpoint's merkle_root")
if base64.b64decode(p["note"].split("\n")[2]) != r: fail("the note's root is another")
fields = {k: cp[k] for k in ("chain_id", "head_hash", "merkle_root", "signer_key_id", "up_to_sequence")}
payload = b"dl.signer.checkpoint.v1\n" + json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
if args.key:  # the certifier's public key (a trust anchor): needs the `cryptography` package
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key, sig = serialization.load_pem_public_key(open(args.key, "rb").read()), base64.urlsafe_b64decode(cp["signature"] + "==")
    try: key.verify(sig, payload, ec.ECDSA(hashes.SHA256())) if isinstance(key, ec.EllipticCurvePublicKey) else key.verify(sig, payload)
    except Exception: fail("the checkpoint signature does not verify")
print(f"VERIFIED: record {p['record_hash']} is leaf {p['leaf_index']} of {p['tree_size']} under checkpoint {cp['chain_id']}#{cp['sequence']}"
      + (" (signature checked)" if args.key else " (signature not checked: give --key)"))
