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
    -- The month's output derived from the year-to-date figures (needs the previous month loaded):
    -- a cross-check of the published current-month value, and the figure to use after revisions.
    case
        when extract(month from o.period_month) = 2 then o.value_cumulative
        when lag(o.period_month) over w = o.period_month - interval '1 month'
            then o.value_cumulative - lag(o.value_cumulative) over w
    end as value_month_from_cumulative,
    o.batch_id,
    o.loaded_at
from {{ source('raw', 'industrial_output') }} as o
window w as (partition by o.province_code, o.product_code, extract(year from o.period_month) order by o.period_month)
