-- Energy intensity by province x manufacturing division x month: the division's industrial
-- electricity (kWh) per unit of its representative product's output (base unit), for the divisions
-- with a product in seed division_products. Either side may be missing (not loaded, or the division
-- not published): the row is kept and the intensity is null, as it is when the output is 0. The
-- output is the month's figure in base units (int_industrial_output_month_figures' value_month_base:
-- the published current month, or February's January-February year to date, which its electricity
-- covers too).
-- Incremental on the month: a transform run rebuilds the months of electricity
-- or output loaded since the last build (all months on a manual run).
with mapping as (
    select division_code, product_code from {{ ref('division_products') }}
),

electricity as (
    select e.province_code, e.period_month, e.division_code, e.consumption_kwh, e.months_covered
    from {{ ref('int_electricity_consumption_month_figures') }} as e
    join mapping as m on m.division_code = e.division_code
),

output as (
    select
        o.province_code, o.period_month, m.division_code, o.product_code,
        o.value_month_base, o.base_unit, o.months_covered
    from {{ ref('int_industrial_output_month_figures') }} as o
    join mapping as m on m.product_code = o.product_code
),

joined as (
    select
        coalesce(e.province_code, o.province_code) as province_code,
        coalesce(e.period_month, o.period_month) as period_month,
        coalesce(e.division_code, o.division_code) as division_code,
        e.consumption_kwh as electricity_kwh,
        o.value_month_base as output_base,
        coalesce(e.months_covered, o.months_covered) as months_covered
    from electricity as e
    full outer join output as o
        on o.province_code = e.province_code
        and o.period_month = e.period_month
        and o.division_code = e.division_code
)

select
    j.province_code,
    pr.name_en as province_name_en,
    j.period_month,
    j.division_code,
    d.name_en as division_name_en,
    d.miit_sector,
    m.product_code,
    p.base_unit as output_base_unit,
    j.electricity_kwh,
    j.output_base,
    case when j.output_base > 0 then round(j.electricity_kwh / j.output_base, 6) end as kwh_per_output_unit,
    j.months_covered
from joined as j
join mapping as m on m.division_code = j.division_code
join {{ ref('provinces') }} as pr on pr.adcode = j.province_code
join {{ ref('gbt4754_2017_manufacturing_divisions') }} as d on d.division_code = j.division_code
join {{ ref('products') }} as p on p.product_code = m.product_code
{% if is_incremental() %}{{ loaded_periods_filter('j.period_month', ['electricity_consumption', 'industrial_output']) }}{% endif %}
