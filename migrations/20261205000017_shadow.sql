-- Live shadow evaluation (ADR 0032): one row per shadow evaluation the workers produced to
-- decision.shadow (agreements included: they are the denominator of the agreement rate). No
-- input and no personal data: differing output fields by JSON pointer, their values only where
-- the deciding version's explanation policy shows them. Tenant and row-level security as the
-- other projected tables (20261205000016_tenancy.sql).

CREATE TABLE shadow_evaluations (
    decision_id    text PRIMARY KEY,
    tenant         text NOT NULL DEFAULT 'default',
    function_id    text NOT NULL,
    version        text NOT NULL,
    digest         text NOT NULL,
    shadow_version text NOT NULL,
    shadow_digest  text NOT NULL,
    outcome        text NOT NULL CHECK (outcome IN ('AGREE', 'DISAGREE', 'ERROR')),
    -- [{pointer, deciding_value, shadow_value}], values as JSON text or null.
    differences    jsonb NOT NULL DEFAULT '[]',
    pointers       text[] NOT NULL DEFAULT '{}',
    error_code     text,
    evaluated_at   timestamptz NOT NULL
);
CREATE INDEX shadow_evaluations_function
    ON shadow_evaluations (function_id, version, shadow_version, evaluated_at);

-- The disagreements only.
CREATE VIEW shadow_disagreements WITH (security_invoker = true) AS
SELECT decision_id, tenant, function_id, version, digest, shadow_version, shadow_digest,
       differences, pointers, evaluated_at
FROM shadow_evaluations
WHERE outcome = 'DISAGREE';

ALTER TABLE shadow_evaluations ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_reads_all ON shadow_evaluations FOR SELECT TO dl_auditor USING (true);
CREATE POLICY tenant_reads_own ON shadow_evaluations FOR SELECT TO dl_tenant_auditor
    USING (tenant IN (SELECT a.tenant FROM tenant_auditors a WHERE a.role_name = current_user));
GRANT SELECT ON shadow_evaluations, shadow_disagreements TO dl_auditor, dl_tenant_auditor;
