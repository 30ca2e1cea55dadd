-- Multi-tenancy (docs/tenancy.md, ADR 0029). Every projected row carries its tenant (from the
-- ledger record; 'default' for records without one). A tenant's auditors are login roles in
-- dl_tenant_auditor, mapped to their tenant in tenant_auditors; row-level security shows them
-- only their tenant's rows. The operator's dl_auditor keeps reading every row. The services
-- connect as the tables' owner, which row-level security does not restrict.

ALTER TABLE ledger_records ADD COLUMN tenant text NOT NULL DEFAULT 'default';
ALTER TABLE decisions ADD COLUMN tenant text NOT NULL DEFAULT 'default';
ALTER TABLE explain_views ADD COLUMN tenant text NOT NULL DEFAULT 'default';
ALTER TABLE conversations ADD COLUMN tenant text NOT NULL DEFAULT 'default';
CREATE INDEX decisions_tenant ON decisions (tenant, decided_at);

-- Roles are per cluster: another database's migration may create it at the same moment.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dl_tenant_auditor') THEN
        CREATE ROLE dl_tenant_auditor NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END $$;

-- Which role audits which tenant (one tenant per role). Written by dl_add_tenant_auditor.
CREATE TABLE tenant_auditors (
    role_name name PRIMARY KEY,
    tenant    text NOT NULL CHECK (tenant ~ '^[a-z0-9][a-z0-9-]{0,31}$')
);
ALTER TABLE tenant_auditors ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_mapping ON tenant_auditors FOR SELECT TO dl_tenant_auditor
    USING (role_name = current_user);
GRANT SELECT ON tenant_auditors TO dl_tenant_auditor;

-- Creates (if missing) the login role `role` in dl_tenant_auditor and maps it to `tenant`.
-- Run by the operator (needs CREATEROLE); set the role's password or certificate separately.
CREATE FUNCTION dl_add_tenant_auditor(role name, tenant text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role) THEN
        EXECUTE format('CREATE ROLE %I LOGIN', role);
    END IF;
    EXECUTE format('GRANT dl_tenant_auditor TO %I', role);
    INSERT INTO tenant_auditors (role_name, tenant) VALUES (role, tenant)
        ON CONFLICT (role_name) DO UPDATE SET tenant = EXCLUDED.tenant;
END $$;
REVOKE ALL ON FUNCTION dl_add_tenant_auditor(name, text) FROM PUBLIC;

-- Row-level security: the operator's auditors see every row, a tenant's auditors their own.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['decisions', 'explain_views', 'conversations', 'ledger_records'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY operator_reads_all ON %I FOR SELECT TO dl_auditor USING (true)', t);
        EXECUTE format(
            'CREATE POLICY tenant_reads_own ON %I FOR SELECT TO dl_tenant_auditor
                 USING (tenant IN (SELECT a.tenant FROM tenant_auditors a WHERE a.role_name = current_user))', t);
    END LOOP;
END $$;
ALTER TABLE conversation_messages ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_reads_all ON conversation_messages FOR SELECT TO dl_auditor USING (true);
CREATE POLICY tenant_reads_own ON conversation_messages FOR SELECT TO dl_tenant_auditor
    USING (conversation_id IN (SELECT c.conversation_id FROM conversations c));

-- The auditor views read the tables with the querying role's rights, so row-level security
-- applies to them: dl_auditor sees everything as before, a tenant's auditor its own rows.
ALTER VIEW audit_decisions SET (security_invoker = true);
ALTER VIEW audit_daily_outcomes SET (security_invoker = true);
ALTER VIEW audit_rejections_by_reason SET (security_invoker = true);
GRANT SELECT ON decisions TO dl_auditor;
GRANT SELECT ON audit_decisions, audit_daily_outcomes, audit_rejections_by_reason, decisions,
    explain_views, conversations, conversation_messages TO dl_tenant_auditor;

-- The ledger as a tenant's auditor may see it: every record's chain position and hashes (so the
-- chain can be followed end to end), and the body only of the tenant's own records, key
-- certificates and checkpoints (which hold no one's data). A foreign decision shows neither its
-- kind nor its body: only that a record with this hash sits there. Not security_invoker: it reads
-- every row of ledger_records, which a tenant's auditor cannot read directly.
CREATE VIEW tenant_ledger AS
SELECT l.chain_id, l.sequence, l.prev_hash, l.hash, l.recorded_at, v.readable,
       CASE WHEN v.readable THEN l.kind END AS kind,
       CASE WHEN v.readable THEN l.record END AS record
FROM ledger_records l
CROSS JOIN LATERAL (
    SELECT l.tenant IN (SELECT a.tenant FROM tenant_auditors a WHERE a.role_name = current_user)
           OR (l.kind IN ('CHECKPOINT', 'SIGNING_KEY_CERTIFIED')
               AND EXISTS (SELECT 1 FROM tenant_auditors a WHERE a.role_name = current_user))
           AS readable
) v
WHERE EXISTS (SELECT 1 FROM tenant_auditors a WHERE a.role_name = current_user);
GRANT SELECT ON tenant_ledger, checkpoints, signing_keys TO dl_tenant_auditor;
