{{ config(severity='warn') }}
-- NBS consistency check, where a source publishes both: the current-month value should equal the
-- difference of the year-to-date figures (February: its January-February year to date). Every figure
-- is rounded to its published precision (its scale as published), so each compared figure may be off
-- by half a unit in its last place: the difference of two rounded year-to-date figures may differ from
-- the rounded current month by one unit in the last place. Beyond that sum of half units it is a
-- disagreement, which warns: the published value is kept (the marts use it), and an analyst looks.
-- Not compared: a month without a published current month (its figure is the difference itself), or
-- whose previous month is missing or was loaded after it (macros/month_from_cumulative.sql). In a
-- transform run that builds the loaded months only, the months it built (loaded_periods_filter), as
-- the reconciliation tests do.
with compared as (
    select
        o.province_code,
        o.period_month,
        o.product_code,
        o.value_current_month,
        o.value_month_from_cumulative,
        -- Half a unit in the last place of each figure taken: the current month, this year to date
        -- and, after February, the previous month's year to date.
        0.5 * (
            power(10::numeric, -scale(o.value_current_month))
            + power(10::numeric, -scale(o.value_cumulative))
            + case when extract(month from o.period_month) = 2 then 0
                else power(10::numeric, -scale(lag(o.value_cumulative) over w)) end
        ) as rounding_tolerance
    from {{ ref('int_industrial_output_month_figures') }} as o
    {{ year_series_window('o', 'product_code') }}
)

select province_code, period_month, product_code, value_current_month, value_month_from_cumulative, rounding_tolerance
from (
    select * from compared
    {{ loaded_periods_filter('period_month', 'industrial_output') }}
) as c
where value_current_month is not null
  and value_month_from_cumulative is not null
  and abs(value_month_from_cumulative - value_current_month) > rounding_tolerance
