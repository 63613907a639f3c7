-- The latest successful load of every partition (dataset, province, period): the load whose rows the
-- raw tables, and so the marts, hold.
select
    a.batch_id,
    a.dataset,
    a.province_code,
    a.period,
    a.period_month,
    a.rows_in,
    a.rows_loaded,
    a.rows_quarantined,
    a.started_at,
    a.finished_at
from (
    select
        l.*,
        row_number() over (
            partition by l.dataset, l.province_code, l.period order by l.finished_at desc, l.started_at desc
        ) as recency
    from {{ ref('stg_provincial__load_audit') }} as l
    where l.outcome = 'succeeded'
) as a
where a.recency = 1
