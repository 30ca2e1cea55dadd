-- Ledger integrity: decision signatures, worker key certificates, signed checkpoints
-- (docs/ledger-integrity.md, docs/auditor-views.md). Written by the projector, which verifies each
-- record with dl-verify; failures are also rows of chain_breaks.

-- The worker's signature of each decision (NULL for rejections and unsigned decisions) and the
-- projector's verdict on it (key certified earlier in the chain, within validity, verifies).
ALTER TABLE decisions
    ADD COLUMN signature_algorithm text,
    ADD COLUMN signature_key_id    text,
    ADD COLUMN signature_value     text,
    ADD COLUMN signature_verified  boolean;
CREATE INDEX decisions_signature_key ON decisions (signature_key_id);

-- SIGNING_KEY_CERTIFIED records: worker keys certified by the certifier (KMS or local key).
-- verified: the certificate verifies with a trusted certifier key (false: not verified, or no
-- trust anchor was configured; see verify_error).
CREATE TABLE signing_keys (
    chain_id              text        NOT NULL,
    sequence              bigint      NOT NULL,
    key_id                text        NOT NULL,
    algorithm             text        NOT NULL,
    public_key            text        NOT NULL,
    worker_id             text        NOT NULL,
    valid_from            timestamptz NOT NULL,
    valid_until           timestamptz NOT NULL,
    certifier_key_id      text        NOT NULL,
    certificate_signature text        NOT NULL,
    certificate           jsonb       NOT NULL,  -- the body as recorded, for re-verification
    verified              boolean     NOT NULL,
    verify_error          text,
    PRIMARY KEY (chain_id, sequence),
    FOREIGN KEY (chain_id, sequence) REFERENCES ledger_records (chain_id, sequence)
);
CREATE INDEX signing_keys_key ON signing_keys (key_id);

-- CHECKPOINT records: the certifier's signature over (chain, up_to_sequence, head_hash).
-- verified: the signature verifies with a trusted key and up_to_sequence/head_hash name the
-- record just before the checkpoint.
CREATE TABLE checkpoints (
    chain_id       text        NOT NULL,
    sequence       bigint      NOT NULL,
    up_to_sequence bigint      NOT NULL,
    head_hash      text        NOT NULL,
    merkle_root    text,
    signer_key_id  text        NOT NULL,
    signature      text        NOT NULL,
    verified       boolean     NOT NULL,
    verify_error   text,
    PRIMARY KEY (chain_id, sequence),
    FOREIGN KEY (chain_id, sequence) REFERENCES ledger_records (chain_id, sequence)
);
CREATE INDEX checkpoints_cover ON checkpoints (chain_id, up_to_sequence) WHERE verified;

COMMENT ON COLUMN chain_breaks.break_kind IS
    'HASH_MISMATCH | SEQUENCE_GAP | BROKEN_LINK | MALFORMED_BODY | FORK | UNDECODABLE | CHAIN_MISMATCH | '
    'UNSIGNED_DECISION | UNKNOWN_SIGNING_KEY | BAD_DECISION_SIGNATURE | KEY_NOT_VALID | BAD_KEY_CERTIFICATE | '
    'UNTRUSTED_CERTIFIER | BAD_CHECKPOINT | CHECKPOINT_MISMATCH (docs/ledger-integrity.md)';

-- Per outcome: signed? by a certified and verified key? covered by a verified checkpoint of its
-- chain (the first one with up_to_sequence >= its sequence)?
CREATE VIEW audit_decision_integrity AS
SELECT d.decision_id, d.status, d.chain_id, d.sequence AS ledger_sequence, d.ledger_hash, d.decided_at,
       d.signature_value IS NOT NULL                  AS signed,
       d.signature_key_id                             AS signing_key_id,
       d.signature_verified                           AS signature_verified,
       k.sequence                                     AS key_certificate_sequence,
       k.sequence IS NOT NULL                         AS key_certified,
       COALESCE(k.verified, false)                    AS key_verified,
       c.sequence                                     AS checkpoint_sequence,
       c.up_to_sequence                               AS checkpoint_up_to_sequence,
       c.sequence IS NOT NULL                         AS covered_by_checkpoint,
       (d.status = 'REJECTED' OR (d.signature_verified AND COALESCE(k.verified, false)))
           AND c.sequence IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM chain_breaks b
                           WHERE b.chain_id = d.chain_id AND b.sequence = d.sequence) AS integrity_ok
FROM decisions d
LEFT JOIN LATERAL (
    SELECT s.sequence, s.verified FROM signing_keys s
    WHERE s.chain_id = d.chain_id AND s.key_id = d.signature_key_id AND s.sequence < d.sequence
    ORDER BY s.sequence DESC LIMIT 1
) k ON true
LEFT JOIN LATERAL (
    SELECT p.sequence, p.up_to_sequence FROM checkpoints p
    WHERE p.chain_id = d.chain_id AND p.verified AND p.up_to_sequence >= d.sequence
    ORDER BY p.up_to_sequence, p.sequence LIMIT 1
) c ON true;

GRANT SELECT ON audit_decision_integrity, signing_keys, checkpoints TO dl_auditor;
