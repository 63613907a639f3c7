-- One row per province, month and manufacturing division as published, values in kWh.
select
    e.province_code,
    e.period_month,
    e.division_code,
    e.consumption_kwh,
    e.cumulative_kwh,
    e.consumption_10k_kwh,
    e.cumulative_10k_kwh,
    -- NBS-style releases publish January with February: the figure covers two months.
    {{ months_covered('e.period_month') }} as months_covered,
    (e.consumption_kwh is not null) as is_published,
    -- The month's consumption derived from the year-to-date figures (macros/month_from_cumulative.sql).
    {{ month_from_cumulative('e.cumulative_kwh', 'e.period_month', 'e.loaded_at') }} as consumption_kwh_from_cumulative,
    e.batch_id,
    e.loaded_at
from {{ source('raw', 'electricity_consumption') }} as e
{{ year_series_window('e', 'division_code') }}
