-- Tables the loader owns in schema raw. Idempotent: applied before every load.
CREATE SCHEMA IF NOT EXISTS raw;

CREATE TABLE IF NOT EXISTS raw.industrial_output (
    province_code        text        NOT NULL CHECK (province_code ~ '^\d{6}$'),
    period_month         date        NOT NULL,
    product_code         text        NOT NULL,
    unit_code            text        NOT NULL,
    value_current_month  numeric     NOT NULL CHECK (value_current_month >= 0),
    value_cumulative     numeric     NOT NULL CHECK (value_cumulative >= 0),
    batch_id             uuid        NOT NULL,
    source_object        text        NOT NULL,
    source_version       text,
    record_position      integer     NOT NULL,
    loaded_at            timestamptz NOT NULL,
    PRIMARY KEY (province_code, period_month, product_code)
);
COMMENT ON TABLE raw.industrial_output IS
    'Monthly output of major industrial products as published (current month and year-to-date), NBS units.';

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
    quarantined_at   timestamptz NOT NULL
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
