-- The exchange market's ledger (ibdc.exchange.ledger): append-only, hash-chained. Owned by the
-- warehouse's administrator who provisions; rows are added only by exchange.ledger_append (SECURITY
-- DEFINER), whose EXECUTE the market's service role alone holds (grants in ibdc.exchange.ledger). No
-- role may UPDATE, DELETE or TRUNCATE it: no platform role has the privilege, and a trigger refuses
-- them to everyone, the owner included. Idempotent; a trigger an administrator disabled is enabled again.
--
-- An entry's hash (entry_hash, lowercase hex SHA-256) is taken over these eight fields, each its UTF-8
-- bytes as a netstring (<length in bytes, decimal ASCII>:<bytes>,), concatenated in this order:
--   'ibdc.exchange.ledger/v1', seq (decimal), recorded_at (UTC, 'YYYY-MM-DDTHH:MM:SS.ffffffZ'), kind,
--   actor, subject, payload (the stored text, byte for byte), prev_hash (the previous entry's
--   entry_hash; 64 zeros for entry 1).
-- e.g. entry 1: sha256('23:ibdc.exchange.ledger/v1,1:1,27:2026-12-01T13:00:00.123456Z,14:product_listed,...,64:000...0,')
CREATE SCHEMA IF NOT EXISTS exchange;

CREATE TABLE IF NOT EXISTS exchange.ledger (
    seq          bigint PRIMARY KEY CHECK (seq > 0),  -- 1, 2, ... without gaps
    recorded_at  timestamptz NOT NULL,
    kind         text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,62}$'),
    actor        text NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),    -- a participant id, or 'operator:...'
    subject      text NOT NULL CHECK (length(subject) BETWEEN 1 AND 500),  -- product_id@version, a negotiation or agreement id
    payload      text NOT NULL CHECK (jsonb_typeof(payload::jsonb) = 'object'),  -- RFC 8785 canonical JSON: the bytes hashed
    prev_hash    text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    entry_hash   text NOT NULL UNIQUE CHECK (entry_hash ~ '^[0-9a-f]{64}$')
);
CREATE INDEX IF NOT EXISTS ledger_subject ON exchange.ledger (subject, seq);
COMMENT ON TABLE exchange.ledger IS
    'The exchange market''s append-only, hash-chained ledger: appended by exchange.ledger_append only; '
    'entry_hash = sha256 of the netstrings of ''ibdc.exchange.ledger/v1'', seq, recorded_at (UTC, '
    'YYYY-MM-DDTHH:MM:SS.ffffffZ), kind, actor, subject, payload, prev_hash (ibdc.exchange.ledger.hashed_bytes)';

-- One field as a netstring of its UTF-8 bytes.
CREATE OR REPLACE FUNCTION exchange.ledger_netstring(field text) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
RETURN convert_to(octet_length(convert_to(field, 'UTF8'))::text || ':', 'UTF8')
       || convert_to(field, 'UTF8') || '\x2c'::bytea;

-- An entry's hash from its fields (the layout above).
CREATE OR REPLACE FUNCTION exchange.ledger_entry_hash(
    seq bigint, recorded_at timestamptz, kind text, actor text, subject text, payload text, prev_hash text
) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
RETURN encode(sha256(
    exchange.ledger_netstring('ibdc.exchange.ledger/v1')
    || exchange.ledger_netstring(seq::text)
    || exchange.ledger_netstring(to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
    || exchange.ledger_netstring(kind)
    || exchange.ledger_netstring(actor)
    || exchange.ledger_netstring(subject)
    || exchange.ledger_netstring(payload)
    || exchange.ledger_netstring(prev_hash)
), 'hex');

-- Every inserted row is chained here, whoever inserts it and whatever it says: seq, recorded_at,
-- prev_hash and entry_hash are the database's, under a lock that serialises appends until commit.
CREATE OR REPLACE FUNCTION exchange.ledger_chain() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  head exchange.ledger;
BEGIN
  LOCK TABLE exchange.ledger IN EXCLUSIVE MODE;  -- held by ledger_append already: a no-op then
  SELECT * INTO head FROM exchange.ledger ORDER BY seq DESC LIMIT 1;
  NEW.seq := coalesce(head.seq, 0) + 1;
  NEW.prev_hash := coalesce(head.entry_hash, repeat('0', 64));
  -- Microseconds, as stored; never before the head's (a clock stepping back keeps the order).
  NEW.recorded_at := greatest(date_trunc('microseconds', clock_timestamp()), head.recorded_at);
  NEW.entry_hash := exchange.ledger_entry_hash(
    NEW.seq, NEW.recorded_at, NEW.kind, NEW.actor, NEW.subject, NEW.payload, NEW.prev_hash);
  RETURN NEW;
END
$$;

-- Append-only: no UPDATE, DELETE or TRUNCATE, for anyone.
CREATE OR REPLACE FUNCTION exchange.ledger_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'exchange.ledger is append-only: % refused (entries are added by exchange.ledger_append, never changed or removed)', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE OR REPLACE TRIGGER ledger_chain BEFORE INSERT ON exchange.ledger
    FOR EACH ROW EXECUTE FUNCTION exchange.ledger_chain();
CREATE OR REPLACE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON exchange.ledger
    FOR EACH ROW EXECUTE FUNCTION exchange.ledger_append_only();
CREATE OR REPLACE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON exchange.ledger
    FOR EACH STATEMENT EXECUTE FUNCTION exchange.ledger_append_only();
ALTER TABLE exchange.ledger ENABLE TRIGGER ledger_chain;
ALTER TABLE exchange.ledger ENABLE TRIGGER ledger_append_only;
ALTER TABLE exchange.ledger ENABLE TRIGGER ledger_no_truncate;

-- The one way in: an entry of kind, actor, subject and payload (a JSON object's text, canonical by
-- the caller: ibdc.exchange.ledger.append), chained by ledger_chain; returns the entry. Runs in the
-- caller's transaction: the entry commits or rolls back with it, and appends wait for it until then.
CREATE OR REPLACE FUNCTION exchange.ledger_append(kind text, actor text, subject text, payload text)
RETURNS exchange.ledger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  entry exchange.ledger;
BEGIN
  IF kind IS NULL OR actor IS NULL OR subject IS NULL OR payload IS NULL THEN
    RAISE EXCEPTION 'exchange.ledger_append: kind, actor, subject and payload are required'
      USING ERRCODE = 'null_value_not_allowed';
  END IF;
  LOCK TABLE exchange.ledger IN EXCLUSIVE MODE;  -- before the insert's own lock: no upgrade, no deadlock
  INSERT INTO exchange.ledger AS l (seq, recorded_at, kind, actor, subject, payload, prev_hash, entry_hash)
    VALUES (0, '-infinity', ledger_append.kind, ledger_append.actor, ledger_append.subject,
            ledger_append.payload, '', '')  -- seq, recorded_at and the hashes: ledger_chain's
    RETURNING l.* INTO entry;
  RETURN entry;
END
$$;
