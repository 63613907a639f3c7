-- The published versions of the exchange's data products (ibdc.exchange.publish), and how their rows are
-- read: run by ibdc.exchange.schema.provision as the warehouse's administrator after market.sql.
-- Idempotent.
--
-- Who reads a product's rows: ibdc_exchange_publisher, a NOLOGIN role that is a member of
-- ibdc_analyst_national and of nothing else (ibdc.exchange.schema checks it). Nobody logs in as it and
-- nobody is its member: the market's service role (ibdc_exchange) may only execute the two functions
-- below, SECURITY DEFINER, owned by it. Inside them the national analyst's rights hold: every mart row
-- (its row-level security policy), every column but personal data (column grants; a personal column is
-- refused by the database), the <mart>_disclosed views with their suppressed cells. A function of the
-- transformer's planted in a mart or view runs with those rights and no more: SET ROLE and RESET ROLE
-- are refused inside a SECURITY DEFINER function, so it cannot reach the service role's.
DO $publisher$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'ibdc_exchange_publisher') THEN
    CREATE ROLE ibdc_exchange_publisher NOLOGIN;
  END IF;
END
$publisher$;
ALTER ROLE ibdc_exchange_publisher NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT;
COMMENT ON ROLE ibdc_exchange_publisher IS
    'Reads the exchange''s data products'' rows as a national analyst, only through exchange.publication_rows (ibdc.exchange.publish)';

-- One row per publication: a new version of a product version's Delta table (an overwrite commit).
CREATE TABLE IF NOT EXISTS exchange.publications (
    publication_id     uuid PRIMARY KEY,
    product_id         text NOT NULL,
    version            text NOT NULL,
    table_version      bigint NOT NULL CHECK (table_version >= 0),  -- the Delta table's version this publication committed
    location           text NOT NULL CHECK (location ~ '^s3://'),   -- the Delta table's root: s3://<bucket>/products/<id>/<version>
    contract_location  text NOT NULL CHECK (contract_location ~ '^s3://'),  -- the ODCS contract beside it (contract.json)
    relation           text NOT NULL,   -- what the rows were read from (the product's relation)
    columns            text[] NOT NULL CHECK (cardinality(columns) > 0),
    province_code      text CHECK (province_code ~ '^[0-9]{6}$'),  -- the row scope; null: every province
    rows               bigint NOT NULL CHECK (rows >= 0),
    bytes              bigint NOT NULL CHECK (bytes >= 0),  -- the data files of this table version
    files              integer NOT NULL CHECK (files >= 0),
    content_sha256     text NOT NULL CHECK (content_sha256 ~ '^[0-9a-f]{64}$'),  -- of the rows (Arrow IPC stream): unchanged rows publish nothing
    contract_sha256    text NOT NULL CHECK (contract_sha256 ~ '^[0-9a-f]{64}$'),  -- of contract.json's bytes (RFC 8785 JSON)
    ledger_seq         bigint NOT NULL,   -- its ledger entry (product_published)
    published_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (product_id, version, table_version),
    FOREIGN KEY (product_id, version) REFERENCES exchange.products
);
CREATE INDEX IF NOT EXISTS publications_latest ON exchange.publications (product_id, version, table_version DESC);

-- The relation a product is read from, checked: marts.<mart> or marts.<mart>_disclosed, nothing else.
CREATE OR REPLACE FUNCTION exchange.publication_relation(p_product_id text, p_version text,
    OUT relation regclass, OUT columns text[], OUT province_code text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  product record;
  parts text[];
  unlisted text[];
BEGIN
  SELECT p.mart, p.relation, p.columns, p.province_code, p.withdrawn_at, p.provider_id INTO product
  FROM exchange.products AS p WHERE p.product_id = p_product_id AND p.version = p_version;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no product %@%', p_product_id, p_version USING ERRCODE = 'no_data_found';
  END IF;
  IF product.withdrawn_at IS NOT NULL THEN
    RAISE EXCEPTION 'product %@% was withdrawn: not published', p_product_id, p_version
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  parts := parse_ident(product.relation);
  IF cardinality(parts) <> 2 OR parts[1] <> 'marts' OR parts[2] NOT IN (product.mart, product.mart || '_disclosed') THEN
    RAISE EXCEPTION 'product %@% reads %: a product reads its mart or the mart''s _disclosed view only',
      p_product_id, p_version, product.relation USING ERRCODE = 'insufficient_privilege';
  END IF;
  relation := to_regclass(format('%I.%I', parts[1], parts[2]));
  IF relation IS NULL THEN
    RAISE EXCEPTION 'relation % of product %@% does not exist (build the mart)', product.relation, p_product_id,
      p_version USING ERRCODE = 'undefined_table';
  END IF;
  -- The gate again, from what the database knows, so that a row written past the market's own checks
  -- (the service role's credentials used directly) publishes nothing the market did not decide and
  -- record: the listing is in the ledger; a provincial provider's rows are its province's; each column
  -- is a level-1 column (granted to the exchange partner by the marts' governance) or a level-2 one
  -- the operator approved for this provider and mart, that decision in the ledger too.
  IF NOT EXISTS (SELECT FROM exchange.ledger AS l WHERE l.kind = 'product_listed'
                 AND l.subject = p_product_id || '@' || p_version) THEN
    RAISE EXCEPTION 'product %@% has no listing in the ledger: not published', p_product_id, p_version
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF EXISTS (SELECT FROM exchange.participants AS pp WHERE pp.participant_id = product.provider_id
             AND pp.province_code IS NOT NULL AND pp.province_code IS DISTINCT FROM product.province_code) THEN
    RAISE EXCEPTION 'product %@%: a provincial provider publishes its own province''s rows only', p_product_id,
      p_version USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT array_agg(c) INTO unlisted FROM unnest(product.columns) AS c
  WHERE NOT (
    coalesce(has_column_privilege('ibdc_exchange_partner', to_regclass(format('marts.%I', product.mart)), c, 'SELECT'), false)
    OR EXISTS (
      SELECT FROM exchange.approvals AS a
      JOIN exchange.ledger AS l ON l.kind = 'approval_decided' AND l.subject = a.approval_id::text
        AND (l.payload::jsonb ->> 'decision') = 'approved'
      WHERE a.kind = 'level2_column' AND a.decision = 'approved' AND a.provider_id = product.provider_id
        AND a.mart = product.mart AND a.column_name = c));
  IF unlisted IS NOT NULL THEN
    RAISE EXCEPTION 'product %@%: columns % are neither level 1 nor approved (ledger): not published',
      p_product_id, p_version, unlisted USING ERRCODE = 'insufficient_privilege';
  END IF;
  columns := product.columns;
  province_code := product.province_code;
END
$$;

-- The product's columns, in its order, with their types (format_type): what publication_rows returns.
CREATE OR REPLACE FUNCTION exchange.publication_columns(p_product_id text, p_version text)
RETURNS TABLE (column_name text, data_type text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r record;
BEGIN
  SELECT * INTO r FROM exchange.publication_relation(p_product_id, p_version);
  RETURN QUERY
    SELECT c.name, format_type(a.atttypid, a.atttypmod)
    FROM unnest(r.columns) WITH ORDINALITY AS c (name, n)
    LEFT JOIN pg_attribute AS a ON a.attrelid = r.relation AND a.attname = c.name AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY c.n;
END
$$;

-- The product's rows: exactly its columns, of its province's rows (every row for none), ordered by every
-- column; as the national analyst (the function's owner's rights). Call it with a column definition list
-- of publication_columns' names and types.
CREATE OR REPLACE FUNCTION exchange.publication_rows(p_product_id text, p_version text)
RETURNS SETOF record
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r record;
  selected text;
  ordered text;
BEGIN
  SELECT * INTO r FROM exchange.publication_relation(p_product_id, p_version);
  SELECT string_agg(format('%I', c.name), ', ' ORDER BY c.n), string_agg(c.n::text, ', ' ORDER BY c.n)
    INTO selected, ordered FROM unnest(r.columns) WITH ORDINALITY AS c (name, n);
  IF r.province_code IS NULL THEN
    RETURN QUERY EXECUTE format('SELECT %s FROM %s ORDER BY %s', selected, r.relation, ordered);
  ELSE
    RETURN QUERY EXECUTE format('SELECT %s FROM %s WHERE province_code = $1 ORDER BY %s', selected, r.relation, ordered)
      USING r.province_code;
  END IF;
END
$$;
