-- Redacted explanation views (topic explain.views, written by dl-explainer), projected by the
-- projector so the gateway can serve them. One row per decision; `views` maps the audience
-- (SUBJECT, CASE_WORKER, AUDITOR) to {input, output, reasons, manifest}. Never personal values
-- beyond what the function's allow list shows (docs/explanations.md).
CREATE TABLE explain_views (
    decision_id      text        PRIMARY KEY,
    request_id       text        NOT NULL,
    function_id      text        NOT NULL,
    function_version text        NOT NULL,
    function_digest  text        NOT NULL,
    decided_at       timestamptz NOT NULL,
    chain_id         text        NOT NULL,
    ledger_sequence  bigint      NOT NULL,
    ledger_hash      text        NOT NULL,
    legal_basis      text[]      NOT NULL DEFAULT '{}',
    policy           text        NOT NULL CHECK (policy IN ('MANIFEST', 'UNKNOWN_FUNCTION')),
    pseudonym_key_id text,
    views            jsonb       NOT NULL
);
CREATE INDEX explain_views_request ON explain_views (request_id);

GRANT SELECT ON explain_views TO dl_auditor;
