-- The raw tables the loads write. Idempotent: applied by the warehouse's provisioning (ibdc.governance),
-- as its administrator; the loader only reads, inserts and deletes rows.
-- Lineage that is constant over a partition or a page (province, period, batch, source object and
-- version or page number, load time) has column defaults reading transaction-local settings (ibdc.*), for
-- an INSERT that gives only the data; the loader sends it as columns (a default reading a setting is
-- evaluated for every row). Outside a load those settings are unset, so an INSERT that gives neither
-- fails instead of writing rows without their lineage.
CREATE SCHEMA IF NOT EXISTS raw;

-- A partition's period as the loader sets it (ibdc.period), strictly: ASCII digits, the whole text, and
-- the one spelling of the value (to_date and ::date would read '2022-06' followed by a newline, other
-- digits or other spellings of a date as the real partition). Anything else fails the statement.
CREATE OR REPLACE FUNCTION raw.period_month(period text) RETURNS date
    LANGUAGE plpgsql STABLE STRICT AS $$
BEGIN
    IF period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$' AND to_char(to_date(period, 'YYYY-MM'), 'YYYY-MM') = period THEN
        RETURN to_date(period, 'YYYY-MM');
    END IF;
    RAISE EXCEPTION 'period must be YYYY-MM, got %', quote_literal(period) USING ERRCODE = 'invalid_datetime_format';
END
$$;
CREATE OR REPLACE FUNCTION raw.period_day(period text) RETURNS date
    LANGUAGE plpgsql STABLE STRICT AS $$
BEGIN
    IF period ~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$'
       AND to_char(to_date(period, 'YYYY-MM-DD'), 'YYYY-MM-DD') = period THEN
        RETURN to_date(period, 'YYYY-MM-DD');
    END IF;
    RAISE EXCEPTION 'daily period must be YYYY-MM-DD, got %', quote_literal(period)
        USING ERRCODE = 'invalid_datetime_format';
END
$$;

CREATE TABLE IF NOT EXISTS raw.industrial_output (
    province_code        text        NOT NULL DEFAULT current_setting('ibdc.province_code')
                                     CHECK (province_code ~ '^\d{6}$'),
    period_month         date        NOT NULL DEFAULT raw.period_month(current_setting('ibdc.period')),
    product_code         text        NOT NULL,
    unit_code            text        NOT NULL,
    value_current_month  numeric     CHECK (value_current_month >= 0),
    value_cumulative     numeric     NOT NULL CHECK (value_cumulative >= 0),
    base_unit            text        NOT NULL,
    value_current_month_base numeric,
    value_cumulative_base    numeric NOT NULL,
    batch_id             uuid        NOT NULL DEFAULT current_setting('ibdc.batch_id')::uuid,
    source_object        text        NOT NULL DEFAULT current_setting('ibdc.source_object'),
    source_version_id    text        DEFAULT nullif(current_setting('ibdc.source_version_id'), ''),
    record_position      integer     NOT NULL,
    loaded_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (province_code, period_month, product_code),
    CONSTRAINT industrial_output_current_month_base_with_value
        CHECK ((value_current_month IS NULL) = (value_current_month_base IS NULL))
);
-- Upgrade of a warehouse created when the current month could not be missing: the columns made
-- nullable, the check above added. Only what is still to do is altered (no table lock otherwise).
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'raw.industrial_output'::regclass AND attnotnull
               AND attname IN ('value_current_month', 'value_current_month_base')) THEN
        ALTER TABLE raw.industrial_output
            ALTER COLUMN value_current_month DROP NOT NULL,
            ALTER COLUMN value_current_month_base DROP NOT NULL;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_constraint WHERE conrelid = 'raw.industrial_output'::regclass
                   AND conname = 'industrial_output_current_month_base_with_value') THEN
        ALTER TABLE raw.industrial_output ADD CONSTRAINT industrial_output_current_month_base_with_value
            CHECK ((value_current_month IS NULL) = (value_current_month_base IS NULL));
    END IF;
END
$$;
COMMENT ON TABLE raw.industrial_output IS
    'Monthly output of major industrial products as published (current month and year-to-date), NBS units. '
    'NBS calendar: January and February are released together, so there is no January row and February '
    'carries the January-February year-to-date figure, usually without a current-month value.';
COMMENT ON COLUMN raw.industrial_output.unit_code IS 'NBS publication unit of value_current_month and value_cumulative';
COMMENT ON COLUMN raw.industrial_output.value_current_month IS
    'Current-month output (本月) as published, NBS unit; NULL when not published, which validation accepts in '
    'February only (the January-February release gives the year-to-date figure alone); dbt (intermediate) then '
    'derives the month from the year-to-date figures';
COMMENT ON COLUMN raw.industrial_output.value_cumulative IS
    'Year-to-date output (1-本月累计) as published, NBS unit; in February, January-February';
COMMENT ON COLUMN raw.industrial_output.value_current_month_base IS
    'value_current_month in the base unit; NULL exactly when value_current_month is';
COMMENT ON COLUMN raw.industrial_output.value_cumulative_base IS 'value_cumulative in the base unit';
COMMENT ON COLUMN raw.industrial_output.base_unit IS 'Base unit of the *_base columns (tonne, kwh, unit, set, kw, weight_case)';

CREATE TABLE IF NOT EXISTS raw.electricity_consumption (
    province_code        text        NOT NULL DEFAULT current_setting('ibdc.province_code')
                                     CHECK (province_code ~ '^\d{6}$'),
    period_month         date        NOT NULL DEFAULT raw.period_month(current_setting('ibdc.period')),
    division_code        text        NOT NULL CHECK (division_code ~ '^(1[3-9]|[23][0-9]|4[0-3])$'),
    consumption_10k_kwh  numeric     CHECK (consumption_10k_kwh >= 0),
    cumulative_10k_kwh   numeric     CHECK (cumulative_10k_kwh >= 0),
    consumption_kwh      numeric     CHECK (consumption_kwh >= 0),
    cumulative_kwh       numeric     CHECK (cumulative_kwh >= 0),
    batch_id             uuid        NOT NULL DEFAULT current_setting('ibdc.batch_id')::uuid,
    source_object        text        NOT NULL DEFAULT current_setting('ibdc.source_object'),
    source_version_id    text        DEFAULT nullif(current_setting('ibdc.source_version_id'), ''),
    record_position      integer     NOT NULL,
    loaded_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (province_code, period_month, division_code),
    CHECK (consumption_10k_kwh <= cumulative_10k_kwh),
    CHECK ((consumption_10k_kwh IS NULL) = (consumption_kwh IS NULL)
           AND (cumulative_10k_kwh IS NULL) = (cumulative_kwh IS NULL))
);
COMMENT ON TABLE raw.electricity_consumption IS
    'Monthly manufacturing electricity consumption by GB/T 4754-2017 division as published (current month and '
    'year-to-date; January is published with February). NULL values: the division is not published '
    '(confidential or below the threshold).';
COMMENT ON COLUMN raw.electricity_consumption.consumption_10k_kwh IS
    'Current-month consumption, 10k kWh (万千瓦时) as published; in February, January-February';
COMMENT ON COLUMN raw.electricity_consumption.cumulative_10k_kwh IS 'Year-to-date consumption, 10k kWh (万千瓦时)';
COMMENT ON COLUMN raw.electricity_consumption.consumption_kwh IS 'consumption_10k_kwh in kWh (base unit)';
COMMENT ON COLUMN raw.electricity_consumption.cumulative_kwh IS 'cumulative_10k_kwh in kWh (base unit)';

CREATE TABLE IF NOT EXISTS raw.enterprises (
    province_code        text        NOT NULL DEFAULT current_setting('ibdc.province_code')
                                     CHECK (province_code ~ '^\d{6}$'),
    period_month         date        NOT NULL DEFAULT raw.period_month(current_setting('ibdc.period')),
    uscc                 text        NOT NULL CHECK (uscc ~ '^[0-9A-HJ-NPQRTUWXY]{18}$'),
    name                 text        NOT NULL CHECK (name <> ''),
    city                 text        NOT NULL,
    division_code        text        NOT NULL CHECK (division_code ~ '^(1[3-9]|[23][0-9]|4[0-3])$'),
    size_class           text        NOT NULL CHECK (size_class IN ('large', 'medium', 'small', 'micro')),
    legal_representative text        NOT NULL,
    phone                text        NOT NULL CHECK (phone ~ '^(1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8})$'),
    iot_adopted          boolean     NOT NULL,
    fiveg_adopted        boolean     NOT NULL,
    registered_on        date        NOT NULL,
    updated_on           date        NOT NULL,
    status               text        NOT NULL CHECK (status IN ('active', 'deregistered')),
    batch_id             uuid        NOT NULL DEFAULT current_setting('ibdc.batch_id')::uuid,
    source_object        text        NOT NULL DEFAULT current_setting('ibdc.source_object'),
    source_version_id    text        DEFAULT nullif(current_setting('ibdc.source_version_id'), ''),
    record_position      integer     NOT NULL,
    loaded_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (province_code, period_month, uscc),
    CHECK (updated_on >= registered_on),
    CHECK (updated_on < period_month + interval '1 month')
);
COMMENT ON TABLE raw.enterprises IS
    'Registry of industrial enterprises per province, a snapshot as at the end of each month. Contains '
    'personal data (legal_representative, phone), loaded as published: restrict access to raw and mask '
    'in the marts.';
COMMENT ON COLUMN raw.enterprises.uscc IS 'Unified social credit code (统一社会信用代码, GB 32100-2015), check digit verified';
COMMENT ON COLUMN raw.enterprises.city IS 'Prefecture-level city of registration (所在城市) as published';
COMMENT ON COLUMN raw.enterprises.size_class IS 'Enterprise size class (企业规模): large, medium, small or micro';
COMMENT ON COLUMN raw.enterprises.legal_representative IS
    'PERSONAL DATA: name of the legal representative (法定代表人), as published; masked in the marts';
COMMENT ON COLUMN raw.enterprises.phone IS
    'PERSONAL DATA: contact phone number (联系电话), as published; masked in the marts';
COMMENT ON COLUMN raw.enterprises.iot_adopted IS 'Connected to the industrial internet (是否接入工业互联网)';
COMMENT ON COLUMN raw.enterprises.fiveg_adopted IS 'Uses 5G (是否应用5G)';
COMMENT ON COLUMN raw.enterprises.updated_on IS 'Date of the last change of the record (变更日期)';
COMMENT ON COLUMN raw.enterprises.status IS 'Registration status (登记状态): active, or deregistered (注销)';

-- Telemetry is partitioned by day (RANGE, one partition [day, day + 1) each): a province-day's replacement
-- deletes and copies within its day's partition only, and retention drops whole days (ibdc.loading.retention)
-- instead of deleting rows. RANGE rather than LIST: the bounds say "this day" the way retention compares days
-- ("before the cutoff"), and older days could later be merged into coarser ranges (a month) beside daily ones.
-- There is no default partition: a row of a day without its partition fails instead of landing in a catch-all
-- (which every new partition would then have to scan); the loader makes the day's partition first
-- (raw.equipment_telemetry_day_partition, below).
-- The partitions live in their own schema, raw_partitions, which no pipeline role may use: rows are read and
-- written only through raw.equipment_telemetry, under its grants (PostgreSQL checks a partitioned table's
-- privileges on the table named, not on the partitions it reaches), and the grants the provisioning makes on
-- every table of raw never reach a partition.
CREATE SCHEMA IF NOT EXISTS raw_partitions;
REVOKE ALL ON SCHEMA raw_partitions FROM PUBLIC;
-- Upgrade of a warehouse whose telemetry table is not partitioned, step 1: the table set aside as
-- raw_partitions.equipment_telemetry_unpartitioned, out of raw so that the partitioned table made below gets
-- the names of its key, index and constraints (unique in a schema); its day index dropped. Step 2 moves the
-- rows, in this one transaction.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_class WHERE oid = to_regclass('raw.equipment_telemetry') AND relkind = 'r') THEN
        DROP INDEX IF EXISTS raw.equipment_telemetry_day;
        ALTER TABLE raw.equipment_telemetry SET SCHEMA raw_partitions;
        ALTER TABLE raw_partitions.equipment_telemetry RENAME TO equipment_telemetry_unpartitioned;
    END IF;
END
$$;
CREATE TABLE IF NOT EXISTS raw.equipment_telemetry (
    province_code   text        NOT NULL DEFAULT current_setting('ibdc.province_code')
                                CHECK (province_code ~ '^\d{6}$'),
    period_day      date        NOT NULL DEFAULT raw.period_day(current_setting('ibdc.period')),
    device_id       text        NOT NULL,
    enterprise_code text        NOT NULL,
    ts              timestamptz NOT NULL,
    runtime_min     smallint    NOT NULL CHECK (runtime_min BETWEEN 0 AND 60),
    output_units    integer     NOT NULL CHECK (output_units >= 0),
    energy_kwh      numeric     NOT NULL CHECK (energy_kwh >= 0),
    fault_code      text,
    batch_id        uuid        NOT NULL DEFAULT current_setting('ibdc.batch_id')::uuid,
    source_page     integer     NOT NULL DEFAULT current_setting('ibdc.source_page')::integer CHECK (source_page >= 1),
    loaded_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (province_code, period_day, device_id, ts)
) PARTITION BY RANGE (period_day);
-- Upgrade of tables created with the lax period defaults (to_date, ::date): only what is still to do.
DO $$
DECLARE
    col record;
BEGIN
    FOR col IN
        SELECT a.attrelid::regclass AS tbl, a.attname AS name
        FROM pg_attribute a JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid IN ('raw.industrial_output'::regclass, 'raw.electricity_consumption'::regclass,
                             'raw.enterprises'::regclass, 'raw.equipment_telemetry'::regclass)
          AND a.attname IN ('period_month', 'period_day')
          AND position('raw.period_' IN pg_get_expr(d.adbin, d.adrelid)) = 0
    LOOP
        EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET DEFAULT raw.%I(current_setting(%L))',
                       col.tbl, col.name, col.name, 'ibdc.period');
    END LOOP;
END
$$;
-- Upgrade of tables whose lineage column was named source_version (what it holds is the S3 version id
-- of the source object): renamed, and a default that read the old setting reads the renamed one. Only
-- what is still to do.
DO $$
DECLARE
    col record;
BEGIN
    FOR col IN
        SELECT a.attrelid::regclass AS tbl, d.adbin IS NOT NULL AS defaulted
        FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid IN ('raw.industrial_output'::regclass, 'raw.electricity_consumption'::regclass,
                             'raw.enterprises'::regclass, 'raw.equipment_telemetry'::regclass,
                             to_regclass('raw_partitions.equipment_telemetry_unpartitioned'))
          AND a.attname = 'source_version' AND NOT a.attisdropped
    LOOP
        EXECUTE format('ALTER TABLE %s RENAME COLUMN source_version TO source_version_id', col.tbl);
        IF col.defaulted THEN
            EXECUTE format('ALTER TABLE %s ALTER COLUMN source_version_id SET DEFAULT nullif(current_setting(%L), %L)',
                           col.tbl, 'ibdc.source_version_id', '');
        END IF;
    END LOOP;
END
$$;
COMMENT ON TABLE raw.equipment_telemetry IS
    'Hourly equipment telemetry from enterprises'' IoT devices: runtime (minutes), output (units), energy (kWh).';
COMMENT ON COLUMN raw.equipment_telemetry.energy_kwh IS 'Energy used in the hour, kWh (base unit)';
-- The transform rebuilds the days that were loaded, across provinces (WHERE period_day IN (date '...')):
-- partition pruning reads those days' partitions only, so no index on period_day (the key leads with the
-- province).

-- A day's partition, made when missing (the loader calls it before a province-day's load, in a transaction
-- of its own); returns it. SECURITY DEFINER, owned by the raw schema's owner (the administrator who applies
-- this file): the loader may EXECUTE it (ibdc.governance grants it) but owns nothing and runs no DDL itself.
-- The partition is made as a plain table then ATTACHed, which locks the parent SHARE UPDATE EXCLUSIVE
-- (readers and other loads go on; CREATE TABLE ... PARTITION OF would lock it ACCESS EXCLUSIVE, queueing
-- behind a long dbt read and every session behind it). Days are those a period can name (years 1 to 9999).
CREATE OR REPLACE FUNCTION raw.equipment_telemetry_day_partition(day date) RETURNS regclass
    LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    name text := 'equipment_telemetry_' || to_char(day, 'YYYYMMDD');
    part regclass;
BEGIN
    IF day < date '0001-01-01' OR day > date '9999-12-31' THEN
        RAISE EXCEPTION 'no telemetry partition for day %', day USING ERRCODE = 'invalid_datetime_format';
    END IF;
    part := to_regclass(format('raw_partitions.%I', name));
    IF part IS NOT NULL THEN
        RETURN part;
    END IF;
    -- The lock ATTACH takes, taken first: two sessions making the same day wait for each other here, and
    -- taking a table lock reads the catalog changes committed meanwhile (an advisory lock would not: the
    -- second would still not see the first's partition).
    LOCK TABLE raw.equipment_telemetry IN SHARE UPDATE EXCLUSIVE MODE;
    part := to_regclass(format('raw_partitions.%I', name));
    IF part IS NULL THEN
        EXECUTE format('CREATE TABLE raw_partitions.%I (LIKE raw.equipment_telemetry INCLUDING CONSTRAINTS)', name);
        EXECUTE format('ALTER TABLE raw.equipment_telemetry ATTACH PARTITION raw_partitions.%I FOR VALUES FROM (%L) TO (%L)',
                       name, to_char(day, 'YYYY-MM-DD'), to_char(day + 1, 'YYYY-MM-DD'));
        part := to_regclass(format('raw_partitions.%I', name));
    END IF;
    RETURN part;
END
$$;
REVOKE ALL ON FUNCTION raw.equipment_telemetry_day_partition(date) FROM PUBLIC;

-- A page's lineage, once per page instead of on each of its rows: a telemetry row names its load batch and
-- the page's number in that load (source_page); this table gives the page's raw-zone object and S3 version
-- (raw.equipment_telemetry JOIN raw.source_pages USING (batch_id) WHERE page = source_page). A province-day
-- holds 240,000 readings from a few hundred pages: the object's key (about 100 characters) and version on
-- each row made the rows twice as wide, and PostgreSQL wrote about 60% more WAL to load them (issue 20).
-- Rows are kept as the load audit's are (a batch's pages stay when a later load replaces its rows).
CREATE TABLE IF NOT EXISTS raw.source_pages (
    batch_id          uuid    NOT NULL,
    page              integer NOT NULL CHECK (page >= 1),
    source_object     text    NOT NULL,
    source_version_id text,
    PRIMARY KEY (batch_id, page),
    UNIQUE (batch_id, source_object)  -- a manifest lists each object once
);
COMMENT ON TABLE raw.source_pages IS
    'The raw-zone objects a load batch read rows from, one row per page (the datasets whose rows name their page, '
    'raw.equipment_telemetry: source_page): join on batch_id and page = source_page';
COMMENT ON COLUMN raw.source_pages.page IS
    'The page''s number in its load batch: 1, 2, ... in the order the load read them (in key order for a batch upgraded from rows that carried their key)';
COMMENT ON COLUMN raw.source_pages.source_object IS 'Raw-zone object key the page''s rows were parsed from';
COMMENT ON COLUMN raw.source_pages.source_version_id IS
    'S3 version id of source_object (the exact bytes it was read from); null for an unversioned store';
-- Upgrade of telemetry rows that carried their object's key and version (source_object, source_version_id):
-- each batch's distinct objects become its pages (numbered in key order: the pages' keys are numbered in the
-- order served), then one ALTER TABLE drops the two columns and rewrites every row once with its page's
-- number (looked up by batch and key), so the rows are narrow at once (an UPDATE would have left them as wide
-- as before, beside their dead copies, until a VACUUM FULL). A row whose page is not found fails the upgrade
-- (source_page NOT NULL), all rolled back. The table is locked first: no load adds rows meanwhile. For the
-- partitioned table and for one set aside unpartitioned (step 1 above: step 2 then copies its rows again).
CREATE OR REPLACE FUNCTION pg_temp.ibdc_source_page(batch uuid, object text, version text) RETURNS integer
    LANGUAGE sql STABLE
AS $$
    SELECT page FROM raw.source_pages
    WHERE batch_id = batch AND source_object = object AND source_version_id IS NOT DISTINCT FROM version
$$;
DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN
        SELECT a.attrelid::regclass FROM pg_attribute a
        WHERE a.attrelid IN ('raw.equipment_telemetry'::regclass,
                             to_regclass('raw_partitions.equipment_telemetry_unpartitioned'))
          AND a.attname = 'source_object' AND NOT a.attisdropped
    LOOP
        EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', t);
        EXECUTE format('INSERT INTO raw.source_pages (batch_id, page, source_object, source_version_id)'
                       ' SELECT batch_id, row_number() OVER (PARTITION BY batch_id ORDER BY source_object, source_version_id),'
                       ' source_object, source_version_id'
                       ' FROM (SELECT DISTINCT batch_id, source_object, source_version_id FROM %s) o'
                       ' ON CONFLICT DO NOTHING', t);
        EXECUTE format('ALTER TABLE %s ADD COLUMN IF NOT EXISTS source_page integer', t);
        EXECUTE format('ALTER TABLE %s DROP COLUMN source_object, DROP COLUMN source_version_id,'
                       ' ALTER COLUMN source_page TYPE integer'
                       '   USING pg_temp.ibdc_source_page(batch_id, source_object, source_version_id),'
                       ' ALTER COLUMN source_page SET NOT NULL,'
                       ' ALTER COLUMN source_page SET DEFAULT current_setting(%L)::integer,'
                       ' ADD CHECK (source_page >= 1)', t, 'ibdc.source_page');
        RAISE NOTICE '%: lineage by page', t;
    END LOOP;
END
$$;
DROP FUNCTION pg_temp.ibdc_source_page(uuid, text, text);
COMMENT ON COLUMN raw.equipment_telemetry.source_page IS
    'The row''s page in its load batch: raw.source_pages (batch_id, page) names its raw-zone object and version';

-- Upgrade of a warehouse whose telemetry table is not partitioned, step 2: the table set aside in step 1 gives
-- the partitioned one its grants (table and column; the provisioning makes them again anyway) and every row
-- (each day's partition made first), then is dropped. In the same transaction as step 1: all or nothing.
DO $$
DECLARE
    old regclass := to_regclass('raw_partitions.equipment_telemetry_unpartitioned');
    g record;
    d date;
    cols text;
    had bigint;
    moved bigint;
BEGIN
    IF old IS NULL THEN
        RETURN;
    END IF;
    FOR g IN
        SELECT NULL::name AS col, a.grantee, a.privilege_type, a.is_grantable
        FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = old AND a.grantee <> c.relowner
        UNION ALL
        SELECT att.attname, a.grantee, a.privilege_type, a.is_grantable
        FROM pg_attribute att, aclexplode(att.attacl) a
        WHERE att.attrelid = old AND att.attnum > 0 AND NOT att.attisdropped
    LOOP
        EXECUTE format('GRANT %s %s ON raw.equipment_telemetry TO %s %s', g.privilege_type,
                       CASE WHEN g.col IS NOT NULL THEN format('(%I)', g.col) ELSE '' END,
                       CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(g.grantee)) END,
                       CASE WHEN g.is_grantable THEN 'WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    FOR d IN EXECUTE format('SELECT DISTINCT period_day FROM %s', old) LOOP
        PERFORM raw.equipment_telemetry_day_partition(d);
    END LOOP;
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
    FROM pg_attribute WHERE attrelid = 'raw.equipment_telemetry'::regclass AND attnum > 0 AND NOT attisdropped;
    EXECUTE format('SELECT count(*) FROM %s', old) INTO had;
    EXECUTE format('INSERT INTO raw.equipment_telemetry (%s) SELECT %s FROM %s', cols, cols, old);
    GET DIAGNOSTICS moved = ROW_COUNT;
    IF moved <> had THEN
        RAISE EXCEPTION 'telemetry upgrade moved % of % rows', moved, had;
    END IF;
    EXECUTE format('DROP TABLE %s', old);
    RAISE NOTICE 'raw.equipment_telemetry partitioned by day: % rows moved', moved;
END
$$;

CREATE TABLE IF NOT EXISTS raw.quarantine (
    quarantine_id    bigserial   PRIMARY KEY,
    dataset          text        NOT NULL,
    province_code    text        NOT NULL,
    period           text        NOT NULL,
    batch_id         uuid        NOT NULL,
    source_object    text        NOT NULL,
    record_position  integer     NOT NULL,
    raw_text         text        NOT NULL,
    reason           text        NOT NULL,
    quarantined_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS quarantine_partition ON raw.quarantine (dataset, province_code, period);
COMMENT ON COLUMN raw.quarantine.raw_text IS
    'The record as served (a CSV line, a JSON object written out again), with two exceptions PostgreSQL text '
    'cannot hold: a NUL character is stored as the six characters \u0000 and a lone surrogate as \udXXX (as JSON '
    'escapes them), so a served \u0000 and an escaped NUL read alike here; the exact bytes are the source object''s, '
    'in the raw zone';
COMMENT ON COLUMN raw.quarantine.reason IS
    'Why the record was rejected; a character the platform refuses is named by its code point (U+0000 NUL)';

CREATE TABLE IF NOT EXISTS raw.load_audit (
    batch_id            uuid        PRIMARY KEY,
    dataset             text        NOT NULL,
    province_code       text        NOT NULL,
    period              text        NOT NULL,
    manifest_key        text        NOT NULL,
    extract_id          text,
    checksum_verified   boolean     NOT NULL,
    rows_in             integer,
    rows_loaded         integer,
    rows_quarantined    integer,
    started_at          timestamptz NOT NULL,
    finished_at         timestamptz,
    outcome             text        NOT NULL,
    error               text
);
-- Upgrades in place: partitions a source has not released or never publishes are recorded too
-- (no load: nothing replaced), and a load refused for holding far fewer records than the last
-- successful one records that load's count beside its own.
ALTER TABLE raw.load_audit ADD COLUMN IF NOT EXISTS rows_previous integer;
-- ... and retention's drops of whole days (ibdc.loading.retention): a row per province-day dropped.
ALTER TABLE raw.load_audit ADD COLUMN IF NOT EXISTS rows_dropped integer;
-- Upgrade of an audit whose extraction id column was named manifest_version: renamed (its grants follow).
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'raw.load_audit'::regclass
               AND attname = 'manifest_version' AND NOT attisdropped) THEN
        ALTER TABLE raw.load_audit RENAME COLUMN manifest_version TO extract_id;
    END IF;
END
$$;
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_constraint WHERE conrelid = 'raw.load_audit'::regclass
                   AND conname = 'load_audit_outcome_check'
                   AND pg_get_constraintdef(oid) LIKE '%dropped%') THEN
        ALTER TABLE raw.load_audit DROP CONSTRAINT IF EXISTS load_audit_outcome_check;
        ALTER TABLE raw.load_audit ADD CONSTRAINT load_audit_outcome_check
            CHECK (outcome IN ('running', 'succeeded', 'failed', 'abandoned', 'not_released', 'not_published',
                               'dropped'));
    END IF;
END
$$;
COMMENT ON COLUMN raw.load_audit.outcome IS
    'running (an attempt under way), succeeded, failed, abandoned (the attempt''s session ended before it finished, '
    'a killed worker or a session cut off by a timeout; closed so by the partition''s next attempt, the partition '
    'unchanged), not_released (the source has nothing for the period yet; nothing loaded, the partition '
    'unchanged), not_published (the statistical calendar never publishes the period on its own, as January; '
    'nothing loaded), dropped (retention dropped the partition''s rows, the whole day, from the raw table: '
    'rows_dropped; the marts keep what was built from them, and the raw zone the extraction to load again)';
COMMENT ON COLUMN raw.load_audit.extract_id IS
    'extraction id of the manifest the load read under the partition''s lock (NULL when it read none)';
COMMENT ON COLUMN raw.load_audit.rows_previous IS
    'records in of the last successful load of the partition, when this load was checked against it';
COMMENT ON COLUMN raw.load_audit.rows_dropped IS
    'rows of the partition retention dropped (outcome dropped): the raw table no longer holds them';
