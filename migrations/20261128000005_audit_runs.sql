-- Audit runs (docs/audit.md): deterministic replays of past decisions and version drift checks,
-- written by `dlctl audit replay --record`. Read-only role: dl_auditor.

CREATE TABLE audit_runs (
    run_id      uuid        PRIMARY KEY,
    kind        text        NOT NULL CHECK (kind IN ('REPLAY')),
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    parameters  jsonb       NOT NULL,
    summary     jsonb       NOT NULL
);

-- One row per replayed decision: did evaluating the recorded input with the recorded function
-- package give the recorded output and reasons again?
CREATE TABLE audit_replays (
    run_id      uuid        NOT NULL REFERENCES audit_runs (run_id),
    decision_id text        NOT NULL REFERENCES decisions (decision_id),
    verdict     text        NOT NULL CHECK (verdict IN ('MATCH', 'OUTPUT_DIFFERS', 'REASONS_DIFFER',
                                'DIGEST_MISMATCH', 'VERSION_UNKNOWN', 'EVAL_FAILED', 'INPUT_MISSING')),
    detail      text        NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, decision_id)
);
CREATE INDEX audit_replays_decision ON audit_replays (decision_id);

-- The latest replay verdict of each replayed decision.
CREATE VIEW audit_latest_replays AS
SELECT DISTINCT ON (r.decision_id) r.decision_id, r.verdict, r.detail, a.run_id, a.finished_at
FROM audit_replays r JOIN audit_runs a USING (run_id)
ORDER BY r.decision_id, a.finished_at DESC;

GRANT SELECT ON audit_runs, audit_replays, audit_latest_replays TO dl_auditor;
