-- One row per province, month and product with the month's figure. NBS calendar (since 2013): January
-- and February are released together, so there is no January row and February carries the
-- January-February year to date, usually without a current-month value. The month's figure
-- (value_month) is the published current-month value where there is one, else the difference of the
-- year-to-date figures (macros/month_from_cumulative.sql: February's is its January-February year to
-- date, months_covered 2).
with derived as (
    select
        o.*,
        {{ month_from_cumulative('o.value_cumulative', 'o.period_month', 'o.loaded_at') }}
            as value_month_from_cumulative,
        {{ month_from_cumulative('o.value_cumulative_base', 'o.period_month', 'o.loaded_at') }}
            as value_month_from_cumulative_base
    from {{ ref('stg_provincial__industrial_output') }} as o
    {{ year_series_window('o', 'product_code') }}
)

select
    d.province_code,
    d.period_month,
    d.product_code,
    d.unit_code,
    coalesce(d.value_current_month, d.value_month_from_cumulative) as value_month,
    coalesce(d.value_current_month_base, d.value_month_from_cumulative_base) as value_month_base,
    d.value_current_month,
    d.value_cumulative,
    d.value_current_month_base,
    d.value_cumulative_base,
    d.base_unit,
    -- NBS publishes February as January-February: the figure covers two months.
    {{ months_covered('d.period_month') }} as months_covered,
    (d.value_current_month is not null) as is_current_month_published,
    -- A cross-check of the published current-month value where there is one
    -- (tests/singular/assert_current_month_equals_cumulative_difference.sql).
    d.value_month_from_cumulative,
    d.batch_id,
    d.loaded_at
from derived as d
