-- A conversation of the agent belongs to the caller who created it (issue 15): the issuer and
-- subject of the verified token. Another caller gets 404. NULL/NULL is the anonymous caller of
-- an agent running without authentication (development only), and the owner of conversations
-- created before this migration.
ALTER TABLE conversations
    ADD COLUMN owner_issuer  text,
    ADD COLUMN owner_subject text,
    ADD CONSTRAINT conversations_owner_both
        CHECK ((owner_issuer IS NULL) = (owner_subject IS NULL));
CREATE INDEX conversations_owner ON conversations (owner_issuer, owner_subject);
