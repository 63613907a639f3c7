-- Industrial output by province x product x month: the figure analysts browse.
select
    s.province_code,
    pr.name_zh as province_name_zh,
    pr.name_en as province_name_en,
    s.period_month,
    s.product_code,
    p.name_zh as product_name_zh,
    p.name_en as product_name_en,
    s.unit_code,
    s.value_current_month as output_value,
    s.value_cumulative as output_ytd,
    s.value_current_month_base as output_value_base,
    s.base_unit,
    s.months_covered,
    s.loaded_at
from {{ ref('stg_provincial__industrial_output') }} as s
join {{ ref('provinces') }} as pr on pr.adcode = s.province_code
join {{ ref('products') }} as p on p.product_code = s.product_code
