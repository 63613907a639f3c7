-- Delta Sharing bearer tokens (ibdc.exchange.sharing): each belongs to one agreement and expires with it.
-- Only a token's SHA-256 is kept, never the token (shown once, in the consumer's profile). Reissuing a
-- profile revokes the agreement's token before: one token in force per agreement. Idempotent; run by
-- ibdc.exchange.schema.provision after market.sql.
CREATE TABLE IF NOT EXISTS exchange.sharing_tokens (
    token_sha256  bytea PRIMARY KEY CHECK (length(token_sha256) = 32),
    agreement_id  uuid NOT NULL REFERENCES exchange.agreements,
    issued_at     timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,  -- the agreement's valid_until when issued (its end is checked at each call too)
    revoked_at    timestamptz,           -- a newer profile was issued
    CHECK (expires_at > issued_at),
    CHECK (revoked_at IS NULL OR revoked_at >= issued_at)
);
CREATE UNIQUE INDEX IF NOT EXISTS sharing_tokens_one_in_force
    ON exchange.sharing_tokens (agreement_id) WHERE revoked_at IS NULL;

-- A token is never changed but for its revocation, once; never deleted.
CREATE OR REPLACE FUNCTION exchange.sharing_token_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'exchange.sharing_tokens: a token is never deleted (revoke it)';
  END IF;
  IF (NEW.token_sha256, NEW.agreement_id, NEW.issued_at, NEW.expires_at)
     IS DISTINCT FROM (OLD.token_sha256, OLD.agreement_id, OLD.issued_at, OLD.expires_at)
     OR (OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at) THEN
    RAISE EXCEPTION 'exchange.sharing_tokens: a token only gets revoked, once';
  END IF;
  RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS sharing_token_immutable ON exchange.sharing_tokens;
CREATE TRIGGER sharing_token_immutable BEFORE UPDATE OR DELETE ON exchange.sharing_tokens
    FOR EACH ROW EXECUTE FUNCTION exchange.sharing_token_immutable();
