-- Documented SQL views for auditors (see docs/auditor-views.md). Read-only role: dl_auditor.

-- What was decided, by which function version and legal basis, for which caller, where in the ledger.
CREATE VIEW audit_decisions AS
SELECT d.decision_id, d.request_id, d.caller, d.status, d.function_id, d.function_version,
       d.function_digest, d.output, d.legal_basis, d.reasons, d.rejection_code, d.as_of, d.issued_at,
       d.decided_at, d.chain_id, d.sequence AS ledger_sequence, d.ledger_hash,
       d.source_topic, d.source_partition, d.source_offset
FROM decisions d;

-- Daily counts per function version and outcome (UTC days).
CREATE VIEW audit_daily_outcomes AS
SELECT (d.decided_at AT TIME ZONE 'UTC')::date AS day, d.function_id, d.function_version,
       d.status, count(*) AS decisions,
       count(*) FILTER (WHERE d.output ->> 'approved' = 'true')  AS approved,
       count(*) FILTER (WHERE d.output ->> 'approved' = 'false') AS not_approved
FROM decisions d
GROUP BY 1, 2, 3, 4;

-- Rejections by stable reason code.
CREATE VIEW audit_rejections_by_reason AS
SELECT d.function_id, d.rejection_code, count(*) AS rejections,
       min(d.decided_at) AS first_seen, max(d.decided_at) AS last_seen
FROM decisions d
WHERE d.status = 'REJECTED'
GROUP BY 1, 2;

-- Integrity at a glance: per chain, the verified head and the breaks found.
CREATE VIEW audit_chain_status AS
SELECT h.chain_id, h.sequence AS head_sequence, h.hash AS head_hash, h.updated_at,
       (SELECT count(*) FROM chain_breaks b WHERE b.chain_id = h.chain_id) AS breaks
FROM chain_heads h;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dl_auditor') THEN
        CREATE ROLE dl_auditor NOLOGIN;
    END IF;
END $$;
GRANT SELECT ON audit_decisions, audit_daily_outcomes, audit_rejections_by_reason, audit_chain_status,
    ledger_records, chain_breaks, duplicate_outcomes TO dl_auditor;
