-- The published current-month value must equal the difference of the year-to-date figures. In a
-- transform run that builds the loaded months only, the months it built (loaded_periods_filter), as
-- the reconciliation tests do: a run is not failed by a month another run loaded.
select province_code, period_month, product_code, value_current_month, value_month_from_cumulative
from (
    select * from {{ ref('stg_provincial__industrial_output') }}
    {{ loaded_periods_filter('period_month', 'industrial_output') }}
) as o
where value_month_from_cumulative is not null
  and value_month_from_cumulative <> value_current_month
