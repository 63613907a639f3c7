-- Reconciliation: for every province and month, the industrial output mart holds the same rows and
-- the same total output (publication units summed per product code, as a checksum) as raw: the month's
-- figure taken from raw as published, or where the current month is missing (February) from raw's
-- year-to-date figures (macros/month_from_cumulative.sql). In a transform run that builds the loaded
-- months only, the months it built (loaded_periods_filter).
with raw_months as ({{ raw_output_month_figures() }}),
raw_totals as (
    select province_code, period_month, count(*) as n, sum(value_month) as total, sum(value_cumulative) as ytd
    from raw_months
    {{ loaded_periods_filter('period_month', 'industrial_output', years_after=1) }}
    group by 1, 2
),
mart_totals as (
    select province_code, period_month, count(*) as n, sum(output_value) as total, sum(output_ytd) as ytd
    from {{ ref('mart_industrial_output_monthly') }}
    {{ loaded_periods_filter('period_month', 'industrial_output', years_after=1) }}
    group by 1, 2
)
select
    coalesce(r.province_code, m.province_code) as province_code,
    coalesce(r.period_month, m.period_month) as period_month,
    r.n as raw_rows, m.n as mart_rows, r.total as raw_total, m.total as mart_total
from raw_totals as r
full outer join mart_totals as m on m.province_code = r.province_code and m.period_month = r.period_month
where r.n is distinct from m.n or r.total is distinct from m.total or r.ytd is distinct from m.ytd
