-- Projection of the decision ledger (decision.ledger topic) into PostgreSQL.
-- Written only by the projector service; auditors read the views in 20261128000002.

-- Every ledger record as received, with its position on the topic.
CREATE TABLE ledger_records (
    chain_id     text        NOT NULL,
    sequence     bigint      NOT NULL CHECK (sequence >= 0),
    kind         text        NOT NULL,
    prev_hash    text        NOT NULL,
    hash         text        NOT NULL,
    recorded_at  timestamptz NOT NULL,
    record       jsonb       NOT NULL,  -- the full record (ledger-hash.md field names) for re-verification
    topic        text        NOT NULL,
    kafka_partition integer  NOT NULL,
    kafka_offset bigint      NOT NULL,
    projected_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain_id, sequence)
);
CREATE INDEX ledger_records_recorded_at ON ledger_records (recorded_at);

-- One row per request outcome (decided or rejected).
CREATE TABLE decisions (
    decision_id       text        PRIMARY KEY,
    request_id        text        NOT NULL,
    caller            text,
    status            text        NOT NULL CHECK (status IN ('DECIDED', 'REJECTED')),
    function_id       text        NOT NULL,
    function_version  text,
    function_digest   text,
    rejection_code    text,
    rejection_message text,
    input             jsonb,
    output            jsonb,
    reasons           jsonb       NOT NULL DEFAULT '[]',
    legal_basis       text[]      NOT NULL DEFAULT '{}',
    as_of             date,
    issued_at         timestamptz,
    decided_at        timestamptz NOT NULL,
    chain_id          text        NOT NULL,
    sequence          bigint      NOT NULL,
    ledger_hash       text        NOT NULL,
    source_topic      text        NOT NULL,
    source_partition  integer     NOT NULL,
    source_offset     bigint      NOT NULL,
    FOREIGN KEY (chain_id, sequence) REFERENCES ledger_records (chain_id, sequence)
);
CREATE INDEX decisions_function ON decisions (function_id, function_version, decided_at);
CREATE INDEX decisions_request ON decisions (request_id);
CREATE INDEX decisions_decided_at ON decisions (decided_at);

-- Verified head of every chain: the projector checks each new record against it.
CREATE TABLE chain_heads (
    chain_id   text        PRIMARY KEY,
    sequence   bigint      NOT NULL,
    hash       text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every place where a chain does not verify. Never deleted by the service.
CREATE TABLE chain_breaks (
    id               bigserial   PRIMARY KEY,
    chain_id         text        NOT NULL,
    sequence         bigint,
    break_kind       text        NOT NULL,  -- HASH_MISMATCH | SEQUENCE_GAP | BROKEN_LINK | MALFORMED_BODY | FORK | UNDECODABLE
    detail           text        NOT NULL,
    kafka_partition  integer     NOT NULL,
    kafka_offset     bigint      NOT NULL,
    detected_at      timestamptz NOT NULL DEFAULT now()
);

-- A second ledger record for an already projected decision id (possible after a crash on a
-- broker that shows aborted transactions). Kept for the auditor, never projected twice.
CREATE TABLE duplicate_outcomes (
    decision_id     text        NOT NULL,
    chain_id        text        NOT NULL,
    sequence        bigint      NOT NULL,
    detected_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain_id, sequence)
);

-- Consumed positions, written in the same transaction as the rows above (exactly-once projection).
CREATE TABLE projector_offsets (
    consumer_group  text    NOT NULL,
    topic           text    NOT NULL,
    kafka_partition integer NOT NULL,
    next_offset     bigint  NOT NULL,
    PRIMARY KEY (consumer_group, topic, kafka_partition)
);
