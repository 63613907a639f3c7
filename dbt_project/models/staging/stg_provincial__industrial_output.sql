-- One row per province, month and product as published, with the loader's base-unit values.
select
    o.province_code,
    o.period_month,
    o.product_code,
    o.unit_code,
    o.value_current_month,
    o.value_cumulative,
    o.value_current_month_base,
    o.value_cumulative_base,
    o.base_unit,
    -- NBS publishes February as January-February: the figure covers two months.
    case when extract(month from o.period_month) = 2 then 2 else 1 end as months_covered,
    -- The month's output derived from the year-to-date figures: a cross-check of the published
    -- current-month value (macros/month_from_cumulative.sql).
    {{ month_from_cumulative('o.value_cumulative', 'o.period_month', 'o.loaded_at') }} as value_month_from_cumulative,
    o.batch_id,
    o.loaded_at
from {{ source('raw', 'industrial_output') }} as o
window w as (partition by o.province_code, o.product_code, extract(year from o.period_month) order by o.period_month)
