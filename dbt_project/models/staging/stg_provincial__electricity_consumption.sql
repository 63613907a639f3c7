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
    case when extract(month from e.period_month) = 2 then 2 else 1 end as months_covered,
    (e.consumption_kwh is not null) as is_published,
    -- The month's consumption derived from the year-to-date figures (February is January-February);
    -- null when the previous month is not loaded.
    case
        when extract(month from e.period_month) = 2 then e.cumulative_kwh
        when lag(e.period_month) over w = e.period_month - interval '1 month'
            then e.cumulative_kwh - lag(e.cumulative_kwh) over w
    end as consumption_kwh_from_cumulative,
    e.batch_id,
    e.loaded_at
from {{ source('raw', 'electricity_consumption') }} as e
window w as (partition by e.province_code, e.division_code, extract(year from e.period_month) order by e.period_month)
