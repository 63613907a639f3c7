-- The provinces' shares of the national total add up to 1 for every product and month with output
-- (up to the rounding of each share to 6 decimals), and ranks start at 1.
select product_code, period_month, sum(national_share) as total_share, min(province_rank) as top_rank
from {{ ref('mart_industrial_output_monthly') }}
group by product_code, period_month
having (max(national_output_value) > 0 and abs(sum(national_share) - 1) > 0.000001 * count(*))
    or min(province_rank) <> 1
