-- One row per province, month and product as published: NBS units and the loader's base units.
-- The month's figure (the year-to-date derivations) is intermediate's: int_industrial_output_month_figures.
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
    o.batch_id,
    o.loaded_at
from {{ source('raw', 'industrial_output') }} as o
