-- Industrial output by province x product x month: the figure analysts browse, with year-on-year
-- growth (same month of the previous year), the province's share of the national total (over the
-- provinces loaded for that product and month) and its rank among them. The month's figure is
-- int_industrial_output_month_figures' value_month: the published current-month value, or where the
-- source leaves it missing (February, released with January: its January-February year to date) the
-- year-to-date difference.
-- Incremental on the month: a transform run rebuilds the months loaded since the last build and the
-- same months a year later (their year-on-year growth compares with them); shares and ranks are
-- within a month, so whole months rebuilt stay exact. Without loaded periods (a manual run): all.
-- depends_on: {{ ref('int_load_audit_latest') }} (disclosure control: a national figure is shown once every
-- province has loaded the month, macros/governance/disclosure.sql)
with output as (
    select * from {{ ref('int_industrial_output_month_figures') }}
),

with_comparisons as (
    select
        o.*,
        prev.value_month as output_value_prev_year,
        prev.value_cumulative as output_ytd_prev_year,
        sum(o.value_month) over (partition by o.product_code, o.period_month) as national_output_value,
        count(*) over (partition by o.product_code, o.period_month) as provinces_reporting,
        rank() over (partition by o.product_code, o.period_month order by o.value_month desc nulls last)
            as province_rank
    from output as o
    left join output as prev
        on prev.province_code = o.province_code
        and prev.product_code = o.product_code
        and prev.period_month = (o.period_month - interval '1 year')::date
    {% if is_incremental() %}{{ loaded_periods_filter('o.period_month', 'industrial_output', years_after=1) }}{% endif %}
)

select
    s.province_code,
    pr.name_zh as province_name_zh,
    pr.name_en as province_name_en,
    s.period_month,
    s.product_code,
    p.name_zh as product_name_zh,
    p.name_en as product_name_en,
    s.unit_code,
    s.value_month as output_value,
    s.value_cumulative as output_ytd,
    s.value_month_base as output_value_base,
    s.base_unit,
    s.months_covered,
    s.loaded_at,
    s.output_value_prev_year,
    case when s.output_value_prev_year > 0
        then round(s.value_month / s.output_value_prev_year - 1, 6) end as output_yoy_growth,
    case when s.output_ytd_prev_year > 0
        then round(s.value_cumulative / s.output_ytd_prev_year - 1, 6) end as output_ytd_yoy_growth,
    s.national_output_value,
    case when s.national_output_value > 0
        then round(s.value_month / s.national_output_value, 6) end as national_share,
    s.province_rank::integer as province_rank,
    s.provinces_reporting::integer as provinces_reporting,
    s.value_current_month as output_value_published
from with_comparisons as s
join {{ ref('provinces') }} as pr on pr.adcode = s.province_code
join {{ ref('products') }} as p on p.product_code = s.product_code
