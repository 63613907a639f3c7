-- The exchange market's tables (schema exchange), owned by the warehouse's administrator; the market's
-- service role (ibdc_exchange) reads and writes their rows (grants in ibdc.exchange.schema). The ledger
-- is ledger.sql's. Idempotent.
CREATE SCHEMA IF NOT EXISTS exchange;

-- An organisation of the market: a provincial or the national centre, an enterprise, another user.
CREATE TABLE IF NOT EXISTS exchange.participants (
    participant_id  text PRIMARY KEY CHECK (participant_id ~ '^[0-9A-HJ-NP-RTUW-Y]{18}$'),  -- unified social credit code
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    province_code   text CHECK (province_code ~ '^[0-9]{6}$'),  -- null: national (the national centre, a national buyer)
    roles           text[] NOT NULL CHECK (cardinality(roles) > 0 AND roles <@ ARRAY['provider', 'consumer', 'operator']),
    api_key_sha256  bytea NOT NULL UNIQUE CHECK (length(api_key_sha256) = 32),  -- the credential's digest, never the key
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- A published version of a dataset built from a mart: its columns, rows and ODCS contract.
CREATE TABLE IF NOT EXISTS exchange.products (
    product_id       text NOT NULL CHECK (product_id ~ '^[a-z0-9][a-z0-9_-]{2,99}$'),
    version          text NOT NULL CHECK (version ~ '^[0-9]+\.[0-9]+\.[0-9]+$'),
    provider_id      text NOT NULL REFERENCES exchange.participants,
    mart             text NOT NULL,   -- the dbt model
    relation         text NOT NULL,   -- what is read: marts.<mart>, or its _disclosed view for suppressed aggregates
    columns          text[] NOT NULL CHECK (cardinality(columns) > 0),
    province_code    text CHECK (province_code ~ '^[0-9]{6}$'),  -- row scope: one province's rows; null: every province
    contract         jsonb NOT NULL,  -- ODCS v3 (ibdc.exchange.contracts)
    asset_uri        text NOT NULL,   -- the mart's Airflow asset: its new versions are published on it (part 2)
    listed_at        timestamptz NOT NULL DEFAULT now(),
    withdrawn_at     timestamptz,
    PRIMARY KEY (product_id, version)
);

-- The operator's decisions: a level-2 column of a provider's mart; a negotiation under an offer that
-- requires approval.
CREATE TABLE IF NOT EXISTS exchange.approvals (
    approval_id     uuid PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('level2_column', 'negotiation')),
    provider_id     text NOT NULL REFERENCES exchange.participants,
    mart            text,
    column_name     text,
    negotiation_id  uuid,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    decision        text NOT NULL DEFAULT 'pending' CHECK (decision IN ('pending', 'approved', 'refused')),
    decided_by      text REFERENCES exchange.participants,
    decided_at      timestamptz,
    reason          text,
    CHECK ((kind = 'level2_column') = (mart IS NOT NULL AND column_name IS NOT NULL AND negotiation_id IS NULL)),
    CHECK ((decision = 'pending') = (decided_by IS NULL AND decided_at IS NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS approvals_one_per_column
    ON exchange.approvals (provider_id, mart, column_name) WHERE kind = 'level2_column';
CREATE UNIQUE INDEX IF NOT EXISTS approvals_one_per_negotiation
    ON exchange.approvals (negotiation_id) WHERE kind = 'negotiation';

-- A product version's usage policy (an ODRL Offer) and price model.
CREATE TABLE IF NOT EXISTS exchange.offers (
    offer_id           uuid PRIMARY KEY,
    product_id         text NOT NULL,
    version            text NOT NULL,
    provider_id        text NOT NULL REFERENCES exchange.participants,
    purposes           text[] NOT NULL CHECK (cardinality(purposes) > 0),
    use_days           integer NOT NULL CHECK (use_days BETWEEN 1 AND 3660),
    max_reads          integer CHECK (max_reads > 0),  -- null: no limit
    recipient_id       text REFERENCES exchange.participants,  -- null: any consumer
    delete_after_use   boolean NOT NULL,
    price_model        text NOT NULL CHECK (price_model IN ('free', 'trial', 'paid')),
    price_cny          numeric(14, 2) CHECK (price_cny >= 0),
    approval_required  boolean NOT NULL,
    policy             jsonb NOT NULL,  -- the ODRL Offer (ibdc.exchange.policy)
    created_at         timestamptz NOT NULL DEFAULT now(),
    withdrawn_at       timestamptz,
    CHECK ((price_model = 'paid') = (price_cny IS NOT NULL)),
    FOREIGN KEY (product_id, version) REFERENCES exchange.products
);

-- A contract negotiation (Dataspace Protocol): its state now; each move is a ledger entry.
CREATE TABLE IF NOT EXISTS exchange.negotiations (
    negotiation_id  uuid PRIMARY KEY,   -- the provider's pid
    offer_id        uuid NOT NULL REFERENCES exchange.offers,
    consumer_id     text NOT NULL REFERENCES exchange.participants,
    provider_id     text NOT NULL REFERENCES exchange.participants,
    purpose         text NOT NULL CHECK (length(purpose) BETWEEN 1 AND 500),
    state           text NOT NULL CHECK (state IN ('REQUESTED', 'OFFERED', 'ACCEPTED', 'AGREED', 'VERIFIED', 'FINALIZED', 'TERMINATED')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- An agreement (an ODRL Agreement), made when its negotiation is AGREED; immutable but for its end.
CREATE TABLE IF NOT EXISTS exchange.agreements (
    agreement_id        uuid PRIMARY KEY,
    negotiation_id      uuid NOT NULL UNIQUE REFERENCES exchange.negotiations,
    offer_id            uuid NOT NULL REFERENCES exchange.offers,
    provider_id         text NOT NULL REFERENCES exchange.participants,
    consumer_id         text NOT NULL REFERENCES exchange.participants,
    product_id          text NOT NULL,
    version             text NOT NULL,
    policy              jsonb NOT NULL,  -- the ODRL Agreement
    policy_sha256       text NOT NULL CHECK (policy_sha256 ~ '^[0-9a-f]{64}$'),  -- of its RFC 8785 canonical JSON
    signed_at           timestamptz NOT NULL,
    valid_until         timestamptz NOT NULL,
    reads               integer NOT NULL DEFAULT 0 CHECK (reads >= 0),  -- answered queries (part 2's delivery)
    terminated_at       timestamptz,
    terminated_by       text REFERENCES exchange.participants,
    termination_reason  text,
    FOREIGN KEY (product_id, version) REFERENCES exchange.products
);

-- An agreement's terms never change; only its end is recorded, once, and its read count goes up.
CREATE OR REPLACE FUNCTION exchange.agreement_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'exchange.agreements: an agreement is never deleted (terminate it)';
  END IF;
  IF (NEW.agreement_id, NEW.negotiation_id, NEW.offer_id, NEW.provider_id, NEW.consumer_id, NEW.product_id,
      NEW.version, NEW.policy, NEW.policy_sha256, NEW.signed_at, NEW.valid_until)
     IS DISTINCT FROM
     (OLD.agreement_id, OLD.negotiation_id, OLD.offer_id, OLD.provider_id, OLD.consumer_id, OLD.product_id,
      OLD.version, OLD.policy, OLD.policy_sha256, OLD.signed_at, OLD.valid_until) THEN
    RAISE EXCEPTION 'exchange.agreements: agreement % is immutable', OLD.agreement_id;
  END IF;
  IF OLD.terminated_at IS NOT NULL AND (NEW.terminated_at, NEW.terminated_by, NEW.termination_reason)
       IS DISTINCT FROM (OLD.terminated_at, OLD.terminated_by, OLD.termination_reason) THEN
    RAISE EXCEPTION 'exchange.agreements: agreement % is already terminated', OLD.agreement_id;
  END IF;
  IF NEW.reads < OLD.reads THEN
    RAISE EXCEPTION 'exchange.agreements: the reads of agreement % never go down', OLD.agreement_id;
  END IF;
  IF NEW.reads > OLD.reads AND (OLD.terminated_at IS NOT NULL OR now() >= OLD.valid_until) THEN
    RAISE EXCEPTION 'exchange.agreements: agreement % is no longer in force: no read is counted', OLD.agreement_id;
  END IF;
  RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS agreement_immutable ON exchange.agreements;
CREATE TRIGGER agreement_immutable BEFORE UPDATE OR DELETE ON exchange.agreements
    FOR EACH ROW EXECUTE FUNCTION exchange.agreement_immutable();
