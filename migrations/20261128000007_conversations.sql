-- Conversations of the agent (dl-agent, docs/agent.md) about one decision's explanation. Only
-- redacted text is stored: the user's messages after identifier masking (what the LLM saw), the
-- assistant's answers after the same masking, tool calls and their (redacted) results.
CREATE TABLE conversations (
    conversation_id uuid        PRIMARY KEY,
    decision_id     text        NOT NULL,
    audience        text        NOT NULL CHECK (audience IN ('subject', 'case_worker', 'auditor')),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_decision ON conversations (decision_id);

CREATE TABLE conversation_messages (
    conversation_id uuid        NOT NULL REFERENCES conversations (conversation_id),
    seq             integer     NOT NULL,
    role            text        NOT NULL CHECK (role IN ('user', 'assistant', 'tool')),
    content         text        NOT NULL,
    tool_call       jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, seq)
);

GRANT SELECT ON conversations, conversation_messages TO dl_auditor;
