-- Tables the loader owns in schema raw. Idempotent: applied before every load.
-- Lineage that is constant over a partition or a page (province, period, batch, source object and
-- version, load time) is not sent with every row: the loader sets it once in transaction-local
-- settings (ibdc.*) and the column defaults read it. Outside a load those settings are unset, so an
-- INSERT that does not give the lineage fails instead of writing rows without it.
CREATE SCHEMA IF NOT EXISTS raw;

CREATE TABLE IF NOT EXISTS raw.industrial_output (
    province_code        text        NOT NULL DEFAULT current_setting('ibdc.province_code')
                                     CHECK (province_code ~ '^\d{6}$'),
    period_month         date        NOT NULL DEFAULT to_date(current_setting('ibdc.period'), 'YYYY-MM'),
    product_code         text        NOT NULL,
    unit_code            text        NOT NULL,
    value_current_month  numeric     NOT NULL CHECK (value_current_month >= 0),
    value_cumulative     numeric     NOT NULL CHECK (value_cumulative >= 0),
    base_unit            text        NOT NULL,
    value_current_month_base numeric NOT NULL,
    value_cumulative_base    numeric NOT NULL,
    batch_id             uuid        NOT NULL DEFAULT current_setting('ibdc.batch_id')::uuid,
    source_object        text        NOT NULL DEFAULT current_setting('ibdc.source_object'),
    source_version       text        DEFAULT nullif(current_setting('ibdc.source_version'), ''),
    record_position      integer     NOT NULL,
    loaded_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (province_code, period_month, product_code)
);
COMMENT ON TABLE raw.industrial_output IS
    'Monthly output of major industrial products as published (current month and year-to-date), NBS units.';
COMMENT ON COLUMN raw.industrial_output.unit_code IS 'NBS publication unit of value_current_month and value_cumulative';
COMMENT ON COLUMN raw.industrial_output.base_unit IS 'Base unit of the *_base columns (tonne, kwh, unit, set, kw, weight_case)';

CREATE TABLE IF NOT EXISTS raw.equipment_telemetry (
    province_code   text        NOT NULL DEFAULT current_setting('ibdc.province_code')
                                CHECK (province_code ~ '^\d{6}$'),
    period_day      date        NOT NULL DEFAULT current_setting('ibdc.period')::date,
    device_id       text        NOT NULL,
    enterprise_code text        NOT NULL,
    ts              timestamptz NOT NULL,
    runtime_min     smallint    NOT NULL CHECK (runtime_min BETWEEN 0 AND 60),
    output_units    integer     NOT NULL CHECK (output_units >= 0),
    energy_kwh      numeric     NOT NULL CHECK (energy_kwh >= 0),
    fault_code      text,
    batch_id        uuid        NOT NULL DEFAULT current_setting('ibdc.batch_id')::uuid,
    source_object   text        NOT NULL DEFAULT current_setting('ibdc.source_object'),
    source_version  text        DEFAULT nullif(current_setting('ibdc.source_version'), ''),
    loaded_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (province_code, period_day, device_id, ts)
);
COMMENT ON TABLE raw.equipment_telemetry IS
    'Hourly equipment telemetry from enterprises'' IoT devices: runtime (minutes), output (units), energy (kWh).';
COMMENT ON COLUMN raw.equipment_telemetry.energy_kwh IS 'Energy used in the hour, kWh (base unit)';

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

CREATE TABLE IF NOT EXISTS raw.load_audit (
    batch_id            uuid        PRIMARY KEY,
    dataset             text        NOT NULL,
    province_code       text        NOT NULL,
    period              text        NOT NULL,
    manifest_key        text        NOT NULL,
    manifest_version    text,
    checksum_verified   boolean     NOT NULL,
    rows_in             integer,
    rows_loaded         integer,
    rows_quarantined    integer,
    started_at          timestamptz NOT NULL,
    finished_at         timestamptz,
    outcome             text        NOT NULL CHECK (outcome IN ('running', 'succeeded', 'failed')),
    error               text
);
