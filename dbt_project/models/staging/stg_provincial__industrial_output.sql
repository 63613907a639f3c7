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
    o.batch_id,
    o.loaded_at
from {{ source('raw', 'industrial_output') }} as o
