-- The published current-month value must equal the difference of the year-to-date figures.
select province_code, period_month, product_code, value_current_month, value_month_from_cumulative
from {{ ref('stg_provincial__industrial_output') }}
where value_month_from_cumulative is not null
  and value_month_from_cumulative <> value_current_month
