-- One row per load attempt of a partition (dataset, province, period), with the month of its period.
-- The latest successful load of each partition is intermediate's: int_load_audit_latest.
select
    a.batch_id,
    a.dataset,
    a.province_code,
    a.period,
    to_date(left(a.period, 7), 'YYYY-MM') as period_month,
    a.rows_in,
    a.rows_loaded,
    a.rows_quarantined,
    a.started_at,
    a.finished_at,
    a.outcome
from {{ source('raw', 'load_audit') }} as a
