-- Projection of the function registry (registry.events) into PostgreSQL. Written only by the
-- projector (dl-registry::projection); the source of truth is the topic. See docs/registry.md.

-- One row per function id.
CREATE TABLE functions (
    function_id        text        PRIMARY KEY,
    first_published_at timestamptz NOT NULL
);

-- One row per published version (immutable content; the lifecycle columns change).
CREATE TABLE function_versions (
    function_id     text        NOT NULL REFERENCES functions (function_id),
    version         text        NOT NULL,
    version_major   bigint      NOT NULL,
    version_minor   bigint      NOT NULL,
    version_patch   bigint      NOT NULL,
    version_pre     text        NOT NULL DEFAULT '',
    digest          text        NOT NULL,
    title           text        NOT NULL,
    owner           jsonb       NOT NULL,
    author          text        NOT NULL,
    published_at    timestamptz NOT NULL,
    state           text        NOT NULL CHECK (state IN ('DRAFT', 'APPROVED', 'ACTIVE', 'RETIRED')),
    effective_from  date        NOT NULL,
    effective_to    date,
    allowed_callers text[]      NOT NULL DEFAULT '{}',
    manifest        jsonb       NOT NULL,
    activated_by    text,
    activated_at    timestamptz,
    retired_by      text,
    retired_at      timestamptz,
    retire_reason   text,
    review_required text[]      NOT NULL DEFAULT '{}',
    PRIMARY KEY (function_id, version)
);
CREATE INDEX function_versions_state ON function_versions (state);

-- Verified approvals (owner and reviewer, two distinct approvers).
CREATE TABLE function_approvals (
    function_id text        NOT NULL,
    version     text        NOT NULL,
    role        text        NOT NULL CHECK (role IN ('OWNER', 'REVIEWER')),
    approver_id text        NOT NULL,
    key_id      text        NOT NULL,
    signature   text        NOT NULL,
    approved_at timestamptz NOT NULL,
    PRIMARY KEY (function_id, version, role),
    UNIQUE (function_id, version, approver_id),
    FOREIGN KEY (function_id, version) REFERENCES function_versions (function_id, version)
);

-- The legal basis of each version, as declared in its manifest.
CREATE TABLE legal_references (
    function_id text NOT NULL,
    version     text NOT NULL,
    ref_id      text NOT NULL,
    iri         text NOT NULL,
    title       text NOT NULL,
    position    integer NOT NULL,
    PRIMARY KEY (function_id, version, ref_id),
    FOREIGN KEY (function_id, version) REFERENCES function_versions (function_id, version)
);
CREATE INDEX legal_references_iri ON legal_references (iri);

-- Last status of each referenced act reported on the topic (LEGAL_REFERENCE_STATUS_CHANGED).
CREATE TABLE legal_reference_status (
    iri                 text        PRIMARY KEY,
    status              text        NOT NULL CHECK (status IN ('IN_FORCE', 'AMENDED', 'REPEALED', 'NOT_FOUND')),
    title               text,
    latest_consolidated date,
    detail              text        NOT NULL,
    checked_at          timestamptz NOT NULL
);

-- Cache of online resolution (Finlex open data, EUR-Lex CELLAR), written by the resolver.
CREATE TABLE legal_reference_cache (
    iri                 text        PRIMARY KEY,
    source              text        NOT NULL CHECK (source IN ('FINLEX', 'EURLEX')),
    status              text        NOT NULL CHECK (status IN ('IN_FORCE', 'AMENDED', 'REPEALED', 'NOT_FOUND')),
    title               text,
    latest_consolidated date,
    fetched_at          timestamptz NOT NULL,
    response_sha256     text        NOT NULL
);

-- Events the registry refused while folding (kept for audit; they changed nothing).
CREATE TABLE registry_refused_events (
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    kind            text,
    function_id     text,
    version         text,
    code            text        NOT NULL,
    message         text        NOT NULL,
    projected_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, kafka_partition, kafka_offset)
);

-- Documented view: every version with its state, approvals, effective dates and legal basis.
CREATE VIEW registry_versions AS
SELECT v.function_id                         AS id,
       v.version,
       v.digest,
       v.state,
       v.title,
       v.author,
       v.published_at,
       v.effective_from,
       v.effective_to,
       coalesce((SELECT jsonb_agg(jsonb_build_object('role', a.role, 'approver', a.approver_id, 'key_id', a.key_id,
                                                      'approved_at', a.approved_at) ORDER BY a.approved_at)
                 FROM function_approvals a
                 WHERE a.function_id = v.function_id AND a.version = v.version), '[]'::jsonb) AS approvals,
       coalesce((SELECT array_agg(l.iri ORDER BY l.position)
                 FROM legal_references l
                 WHERE l.function_id = v.function_id AND l.version = v.version), '{}') AS legal_basis,
       v.allowed_callers,
       v.activated_by,
       v.activated_at,
       v.retired_by,
       v.retired_at,
       v.review_required
FROM function_versions v;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dl_auditor') THEN
        CREATE ROLE dl_auditor NOLOGIN;
    END IF;
END $$;
GRANT SELECT ON registry_versions, functions, function_versions, function_approvals, legal_references,
    legal_reference_status, legal_reference_cache, registry_refused_events TO dl_auditor;
